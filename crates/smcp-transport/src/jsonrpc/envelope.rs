//! Reads only the JSON-RPC envelope of a message.
//!
//! The object is walked once by hand-written serde visitors: `jsonrpc`, `id`, `method` and the
//! presence of `result`/`error` are taken; inside `params` only `progressToken`, `requestId` and
//! `_meta.progressToken` are looked at; every other value is skipped with [`IgnoredAny`]. No
//! `serde_json::Value` tree is built and nothing borrowed is copied unless it had escapes.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserialize, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::id::{JsonStr, RequestId};
use super::{Kind, Message, ParseError};

/// Deserializes a string, borrowing it from the input when it has no escapes.
pub(crate) struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A string value that must be a string (a type error otherwise).
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor).map(Str)
    }
}

/// The member names the envelope cares about; everything else is `Other`.
enum Key {
    Jsonrpc,
    Id,
    Method,
    Params,
    Result,
    Error,
    Meta,
    ProgressToken,
    RequestId,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "jsonrpc" => Key::Jsonrpc,
                    "id" => Key::Id,
                    "method" => Key::Method,
                    "params" => Key::Params,
                    "result" => Key::Result,
                    "error" => Key::Error,
                    "_meta" => Key::Meta,
                    "progressToken" => Key::ProgressToken,
                    "requestId" => Key::RequestId,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// The top-level members, borrowed from the input.
#[derive(Default)]
struct RawEnvelope<'a> {
    jsonrpc: Option<Cow<'a, str>>,
    id: Option<&'a RawValue>,
    method: Option<Cow<'a, str>>,
    params: Params<'a>,
    has_result: bool,
    has_error: bool,
}

fn duplicate<E: de::Error>(name: &'static str) -> E {
    E::custom(format_args!("duplicate member `{name}`"))
}

impl<'de> Deserialize<'de> for RawEnvelope<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EnvelopeVisitor;
        impl<'de> Visitor<'de> for EnvelopeVisitor {
            type Value = RawEnvelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // Duplicate members are refused: two `id`s or `method`s could make smcp and the
                // backend disagree about what a message is.
                let mut env = RawEnvelope::default();
                let mut seen_params = false;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Jsonrpc => {
                            if env.jsonrpc.is_some() {
                                return Err(duplicate("jsonrpc"));
                            }
                            env.jsonrpc = Some(map.next_value::<Str<'de>>()?.0);
                        }
                        Key::Id => {
                            if env.id.is_some() {
                                return Err(duplicate("id"));
                            }
                            env.id = Some(map.next_value::<&'de RawValue>()?);
                        }
                        Key::Method => {
                            if env.method.is_some() {
                                return Err(duplicate("method"));
                            }
                            env.method = Some(map.next_value::<Str<'de>>()?.0);
                        }
                        Key::Params => {
                            if seen_params {
                                return Err(duplicate("params"));
                            }
                            seen_params = true;
                            env.params = map.next_value::<Params<'de>>()?;
                        }
                        Key::Result => {
                            if env.has_result {
                                return Err(duplicate("result"));
                            }
                            env.has_result = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        Key::Error => {
                            if env.has_error {
                                return Err(duplicate("error"));
                            }
                            env.has_error = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        Key::Meta | Key::ProgressToken | Key::RequestId | Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(EnvelopeVisitor)
    }
}

/// What `params` holds that routing needs. Params that are not an object (positional params)
/// hold nothing of interest and are skipped.
#[derive(Default)]
struct Params<'a> {
    /// `params._meta.progressToken` (requests).
    meta_progress_token: Option<&'a RawValue>,
    /// `params.progressToken` (`notifications/progress`).
    progress_token: Option<&'a RawValue>,
    /// `params.requestId` (`notifications/cancelled`).
    request_id: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Params<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ParamsVisitor { meta: false })
    }
}

/// Visits `params`, or `params._meta` when `meta` is set.
struct ParamsVisitor {
    meta: bool,
}

/// `_meta` uses the same visitor, reading only `progressToken`.
struct Meta<'a>(Params<'a>);

impl<'de> Deserialize<'de> for Meta<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ParamsVisitor { meta: true }).map(Meta)
    }
}

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut params = Params::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Meta if !self.meta => {
                    params.meta_progress_token = map.next_value::<Meta<'de>>()?.0.progress_token;
                }
                Key::ProgressToken => params.progress_token = Some(map.next_value()?),
                Key::RequestId if !self.meta => params.request_id = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(params)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Params::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Params::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Params::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Params::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Params::default())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Params::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Params::default())
    }
}

/// Parses one JSON object (the caller checked it starts with `{`) into a [`Message`].
pub(super) fn parse_object(line: Bytes) -> Result<Message, ParseError> {
    let env: RawEnvelope<'_> = serde_json::from_slice(&line)?;

    match env.jsonrpc.as_deref() {
        Some("2.0") => {}
        Some(_) => return Err(ParseError::Invalid("\"jsonrpc\" must be \"2.0\"")),
        None => return Err(ParseError::Invalid("missing \"jsonrpc\": \"2.0\"")),
    }

    let id = match env.id {
        Some(raw) => RequestId::from_raw_json(&line, raw.get())
            .map_err(|()| ParseError::Invalid("\"id\" must be a string, a number or null"))?,
        None => None,
    };

    let share = |s: Cow<'_, str>| match s {
        Cow::Borrowed(b) => JsonStr::share(&line, b),
        Cow::Owned(o) => JsonStr::from(o),
    };
    // Tokens of the wrong type are not ours to reject: they are treated as absent.
    let token = |raw: Option<&RawValue>| {
        raw.and_then(|r| RequestId::from_raw_json(&line, r.get()).ok().flatten())
    };

    let (kind, method, progress_token, cancelled_id) = match env.method {
        Some(method) => {
            if env.has_result || env.has_error {
                return Err(ParseError::Invalid(
                    "a message with \"method\" cannot carry \"result\" or \"error\"",
                ));
            }
            let kind = match (&env.id, &id) {
                (None, _) => Kind::Notification,
                (Some(_), Some(_)) => Kind::Request,
                (Some(_), None) => {
                    return Err(ParseError::Invalid("a request id must not be null"));
                }
            };
            let (progress, cancelled) = match (kind, &*method) {
                (Kind::Request, _) => (token(env.params.meta_progress_token), None),
                (_, "notifications/progress") => (token(env.params.progress_token), None),
                (_, "notifications/cancelled") => (None, token(env.params.request_id)),
                _ => (None, None),
            };
            (kind, Some(share(method)), progress, cancelled)
        }
        None => {
            if env.id.is_none() {
                return Err(ParseError::Invalid(
                    "neither a request (\"method\") nor a response (\"id\")",
                ));
            }
            if env.has_result == env.has_error {
                return Err(ParseError::Invalid(
                    "a response needs exactly one of \"result\" and \"error\"",
                ));
            }
            (Kind::Response, None, None, None)
        }
    };

    let is_error = env.has_error;
    Ok(Message {
        bytes: line,
        kind,
        id,
        method,
        progress_token,
        cancelled_id,
        is_error,
    })
}
