//! JSON-RPC 2.0 envelopes that keep their original bytes.
//!
//! smcp forwards MCP messages; it never rewrites them. A [`Message`] is the raw JSON text as
//! received (a [`Bytes`], forwarded byte for byte) plus the few envelope facts the proxy routes
//! on: the [`Kind`], the `id`, the `method`, the progress token and, for
//! `notifications/cancelled`, the id being cancelled. Only that envelope is parsed (see
//! `envelope`); `params` and `result` are skipped, never turned into a value tree and never
//! re-serialised.
//!
//! Batches (JSON arrays, allowed only by MCP 2025-03-26) are not a [`Message`]: [`parse`]
//! rejects them with [`ParseError::Batch`], and [`parse_batch`] splits one into its elements,
//! each keeping its own exact bytes, so a caller that supports batches forwards the elements one
//! by one.

mod envelope;
mod id;

use std::io::Write as _;

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

pub use id::{JsonStr, ProgressToken, RequestId};

/// Invalid JSON was received (JSON-RPC standard code).
pub const PARSE_ERROR: i64 = -32700;
/// The JSON is not a valid JSON-RPC request object (JSON-RPC standard code).
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not available (JSON-RPC standard code).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters (JSON-RPC standard code).
pub const INVALID_PARAMS: i64 = -32602;
/// Internal JSON-RPC error (JSON-RPC standard code); smcp uses it when a backend process exits
/// with requests in flight.
pub const INTERNAL_ERROR: i64 = -32603;
/// Generic implementation-defined server error, the smcp convention for proxy-side failures.
pub const SERVER_ERROR: i64 = -32000;
/// A request ended because it was cancelled. MCP defines no code for this; smcp uses the one
/// the Language Server Protocol uses (`RequestCancelled`).
pub const REQUEST_CANCELLED: i64 = -32800;

/// What a message is, from its envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Has `method` and a non-null `id`: expects a response.
    Request,
    /// Has `method` and no `id`: expects nothing back.
    Notification,
    /// Has `id` (possibly null) and exactly one of `result` / `error`.
    Response,
}

/// One JSON-RPC message: the exact bytes received plus its parsed envelope.
///
/// Invariant: the envelope was read from `bytes` (or, for messages smcp synthesizes, describes
/// them exactly); the two never disagree, which is why the fields are private.
#[derive(Clone)]
pub struct Message {
    bytes: Bytes,
    kind: Kind,
    id: Option<RequestId>,
    method: Option<JsonStr>,
    progress_token: Option<ProgressToken>,
    cancelled_id: Option<RequestId>,
    is_error: bool,
}

impl Message {
    /// The exact bytes of the message, as received.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Consumes the message, returning its bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Request, notification or response.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The `id`: always present on a request, absent on a notification, and absent on a
    /// response whose id is `null` (an error about a message whose id was unknown).
    pub fn id(&self) -> Option<&RequestId> {
        self.id.as_ref()
    }

    /// The `method` of a request or notification.
    pub fn method(&self) -> Option<&str> {
        self.method.as_ref().map(JsonStr::as_str)
    }

    /// The progress token: `params._meta.progressToken` of a request, or
    /// `params.progressToken` of a `notifications/progress`. Tokens that are neither a string
    /// nor a number are treated as absent.
    pub fn progress_token(&self) -> Option<&ProgressToken> {
        self.progress_token.as_ref()
    }

    /// For `notifications/cancelled`, the `params.requestId` being cancelled.
    pub fn cancelled_request_id(&self) -> Option<&RequestId> {
        self.cancelled_id.as_ref()
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        self.kind == Kind::Request
    }

    /// True for a notification.
    pub fn is_notification(&self) -> bool {
        self.kind == Kind::Notification
    }

    /// True for a response (success or error).
    pub fn is_response(&self) -> bool {
        self.kind == Kind::Response
    }

    /// True for an error response.
    pub fn is_error_response(&self) -> bool {
        self.kind == Kind::Response && self.is_error
    }

    /// An error response synthesized by smcp (see [`error_response`]).
    pub fn error(id: Option<&RequestId>, code: i64, message: &str) -> Message {
        Message {
            bytes: error_response(id, code, message),
            kind: Kind::Response,
            id: id.cloned(),
            method: None,
            progress_token: None,
            cancelled_id: None,
            is_error: true,
        }
    }

    /// The bytes as one line for a newline-delimited transport (stdio): trailing whitespace is
    /// dropped and any CR or LF left inside is replaced by a space.
    ///
    /// Raw CR/LF can only occur in JSON as insignificant whitespace (inside strings they must be
    /// escaped), so this changes no value. It costs a copy only when such whitespace is inside
    /// the message (pretty-printed input); otherwise it returns a slice of the same buffer.
    pub fn single_line(&self) -> Bytes {
        let trimmed_len = self
            .bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |p| p + 1);
        let trimmed = self.bytes.slice(..trimmed_len);
        if memchr::memchr2(b'\n', b'\r', &trimmed).is_none() {
            return trimmed;
        }
        trimmed
            .iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
            .collect::<Vec<u8>>()
            .into()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("method", &self.method)
            .field("progress_token", &self.progress_token)
            .field("cancelled_id", &self.cancelled_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Why bytes are not a JSON-RPC message.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not well-formed JSON (answer with [`PARSE_ERROR`]).
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    /// Well-formed JSON, but not an object or an array.
    #[error("a JSON-RPC message must be a JSON object")]
    NotObject,
    /// A JSON array: a batch. Use [`parse_batch`] where batches are allowed.
    #[error("JSON-RPC batches are not supported here")]
    Batch,
    /// An empty array, which JSON-RPC calls an invalid request.
    #[error("empty JSON-RPC batch")]
    EmptyBatch,
    /// A JSON object that is not a valid JSON-RPC 2.0 message.
    #[error("invalid JSON-RPC message: {0}")]
    Invalid(&'static str),
    /// A member has the wrong type (for example a numeric `method`) or is duplicated.
    #[error("invalid JSON-RPC message: {0}")]
    InvalidMember(serde_json::Error),
}

impl ParseError {
    /// The JSON-RPC error code to answer with.
    pub fn code(&self) -> i64 {
        match self {
            ParseError::Json(_) => PARSE_ERROR,
            _ => INVALID_REQUEST,
        }
    }
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        if e.is_data() {
            ParseError::InvalidMember(e)
        } else {
            ParseError::Json(e)
        }
    }
}

/// Parses one JSON-RPC message, keeping `bytes` as its forwarded form.
///
/// Surrounding whitespace is allowed. A JSON array is refused with [`ParseError::Batch`].
/// Bytes that are not UTF-8 are not JSON text (RFC 8259 section 8.1) and are a
/// [`ParseError::Json`], wherever the bad byte is.
pub fn parse(bytes: Bytes) -> Result<Message, ParseError> {
    // serde_json checks UTF-8 only in the strings it reads: the values the envelope skips
    // (`params`, `result`, unknown members) would otherwise be forwarded as "valid" JSON with
    // any bytes in them. One pass over the whole message closes that.
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(ParseError::Json(
            <serde_json::Error as serde::de::Error>::custom(format_args!(
                "invalid UTF-8 at byte {}",
                e.valid_up_to()
            )),
        ));
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => envelope::parse_object(bytes),
        Some(b'[') => {
            serde_json::from_slice::<IgnoredAny>(&bytes)?;
            Err(ParseError::Batch)
        }
        _ => {
            serde_json::from_slice::<IgnoredAny>(&bytes)?;
            Err(ParseError::NotObject)
        }
    }
}

/// Splits a JSON-RPC batch (a JSON array) into its elements, each parsed on its own and keeping
/// its own exact bytes (a slice of `bytes`).
///
/// The outer error is for input that is not a non-empty JSON array; an element that is not a
/// valid message (including a nested array) gets its own error, as JSON-RPC answers each
/// invalid element separately.
pub fn parse_batch(bytes: Bytes) -> Result<Vec<Result<Message, ParseError>>, ParseError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return match parse(bytes) {
            Ok(_) | Err(ParseError::Batch) => Err(ParseError::Invalid("not a JSON-RPC batch")),
            Err(e) => Err(e),
        };
    }
    let elements: Vec<&RawValue> = serde_json::from_slice(&bytes)?;
    if elements.is_empty() {
        return Err(ParseError::EmptyBatch);
    }
    Ok(elements
        .into_iter()
        .map(|raw| match parse(bytes.slice_ref(raw.get().as_bytes())) {
            Err(ParseError::Batch) => Err(ParseError::Invalid("nested batch")),
            other => other,
        })
        .collect())
}

/// A JSON-RPC error response: `{"jsonrpc":"2.0","id":<id or null>,"error":{"code":..,"message":..}}`.
pub fn error_response(id: Option<&RequestId>, code: i64, message: &str) -> Bytes {
    let mut out = Vec::with_capacity(64 + message.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    match id {
        Some(id) => id.write_json(&mut out),
        None => out.extend_from_slice(b"null"),
    }
    // Writing into a Vec cannot fail.
    let _ = write!(out, ",\"error\":{{\"code\":{code},\"message\":");
    write_json_string(&mut out, message);
    out.extend_from_slice(b"}}");
    out.into()
}

/// A `notifications/cancelled` notification for `id` with a human-readable `reason`.
pub fn cancelled_notification(id: &RequestId, reason: &str) -> Bytes {
    let mut out = Vec::with_capacity(96 + reason.len());
    out.extend_from_slice(
        b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":",
    );
    id.write_json(&mut out);
    out.extend_from_slice(b",\"reason\":");
    write_json_string(&mut out, reason);
    out.extend_from_slice(b"}}");
    out.into()
}

/// Appends `s` to `out` as a JSON string literal.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests;
