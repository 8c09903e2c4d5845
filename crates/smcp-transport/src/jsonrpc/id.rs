//! JSON-RPC ids and the small shared string type behind them.
//!
//! Ids are compared exactly as JSON values: the number `1` and the string `"1"` are different
//! ids, as JSON-RPC requires. A string id is stored unescaped, so `"a"` and `"\u0061"` are the
//! same id. Strings are [`Bytes`] slices of the message they came from whenever the JSON text
//! needed no unescaping, so reading an id costs no allocation on the hot path.

use std::fmt;
use std::io::Write as _;

use bytes::Bytes;

/// An immutable UTF-8 string backed by [`Bytes`], usually a slice of a received message.
///
/// Cloning is a reference-count increment. Equality and hashing are by content.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JsonStr(Bytes);

impl JsonStr {
    /// The string itself.
    pub fn as_str(&self) -> &str {
        // Every constructor takes a `&str` or a `String`, so the bytes are always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// A string that shares `line`'s buffer when `s` lies inside it, and copies otherwise.
    pub(crate) fn share(line: &Bytes, s: &str) -> Self {
        let base = line.as_ptr() as usize;
        let start = s.as_ptr() as usize;
        if start >= base && start + s.len() <= base + line.len() {
            JsonStr(line.slice_ref(s.as_bytes()))
        } else {
            JsonStr(Bytes::copy_from_slice(s.as_bytes()))
        }
    }
}

impl From<&str> for JsonStr {
    fn from(s: &str) -> Self {
        JsonStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for JsonStr {
    fn from(s: String) -> Self {
        JsonStr(Bytes::from(s))
    }
}

impl fmt::Debug for JsonStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for JsonStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JSON-RPC request id (also the shape of an MCP progress token): a string or a number.
///
/// `null` is not a `RequestId`: a response with `"id": null` has no id
/// ([`super::Message::id`] returns `None`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum RequestId {
    /// An integer that fits in an `i64` (the common case).
    Number(i64),
    /// A string id, unescaped.
    String(JsonStr),
    /// Any other JSON number (a fraction, an exponent, or an integer beyond `i64`), kept as its
    /// exact JSON text. JSON-RPC discourages these; they are still matched exactly.
    OtherNumber(JsonStr),
}

impl RequestId {
    /// Parses the JSON text of an id value. `Ok(None)` for `null`; `Err` for anything that is
    /// neither a string nor a number.
    pub(crate) fn from_raw_json(line: &Bytes, raw: &str) -> Result<Option<Self>, ()> {
        match raw.as_bytes().first() {
            Some(b'"') => {
                let mut de = serde_json::Deserializer::from_str(raw);
                let s = serde::Deserializer::deserialize_str(&mut de, super::envelope::StrVisitor)
                    .map_err(|_| ())?;
                Ok(Some(RequestId::String(match s {
                    std::borrow::Cow::Borrowed(b) => JsonStr::share(line, b),
                    std::borrow::Cow::Owned(o) => JsonStr::from(o),
                })))
            }
            Some(b'-' | b'0'..=b'9') => Ok(Some(match raw.parse::<i64>() {
                Ok(n) => RequestId::Number(n),
                Err(_) => RequestId::OtherNumber(JsonStr::share(line, raw)),
            })),
            Some(b'n') if raw == "null" => Ok(None),
            _ => Err(()),
        }
    }

    /// Appends this id as JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            // Writing into a Vec cannot fail.
            RequestId::Number(n) => {
                let _ = write!(out, "{n}");
            }
            RequestId::String(s) => super::write_json_string(out, s.as_str()),
            RequestId::OtherNumber(raw) => out.extend_from_slice(raw.as_str().as_bytes()),
        }
    }

    /// This id as JSON text.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(16);
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        RequestId::Number(n)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        RequestId::String(JsonStr::from(s))
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Displays the id as JSON: `7`, `"abc"`.
impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// An MCP progress token. It has the same shape and equality as a request id.
pub type ProgressToken = RequestId;
