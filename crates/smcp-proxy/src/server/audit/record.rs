//! One audit record as a JSON line. Fields (absent when unknown, never `null` padding):
//!
//! `time` (RFC 3339 UTC, when the request reached the seam), `request_id` (the `X-Request-Id`
//! smcp answers with), `jsonrpc_id`, `principal` (`iss`, `sub`, `client_id` from `client_id`,
//! `azp` or `cid`), `client` (address), `backend`, `session` (hashed), `protocol_version`,
//! `method`, `tool` / `prompt` / `resource`, `arguments` (`sha256`, `bytes`; opt-in),
//! `decision` and `rule` (the index in the backend's `policy.rules`), `outcome`, `status`,
//! `error_code`, `is_error` (a tool result's), `duration_ms` (from the seam to the outcome).

use http::StatusCode;
use serde_json::Value;
use smcp_transport::jsonrpc::RequestId;

use super::{Call, Common};
use crate::logging::timestamp;

/// Who called, as a record names them.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    iss: String,
    sub: String,
    client_id: Option<String>,
}

impl Principal {
    /// From a validated token. The client id is the first string of `client_id` (RFC 9068),
    /// `azp` (OpenID, Keycloak) or `cid` (Okta).
    pub(crate) fn of(principal: &smcp_auth::Principal) -> Self {
        let client_id = ["client_id", "azp", "cid"].iter().find_map(|claim| {
            principal
                .claims
                .get(*claim)
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        Self {
            iss: principal.issuer.clone(),
            sub: principal.subject.clone(),
            client_id,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// `result`, `error`, `denied`, `accepted`, `no_response`, `cancelled` or `unknown`.
    pub(crate) kind: &'static str,
    pub(crate) status: u16,
    pub(crate) error_code: Option<i64>,
    pub(crate) is_error: Option<bool>,
}

impl Outcome {
    /// Refused by smcp with `status` and JSON-RPC `code`.
    pub(crate) fn denied(status: StatusCode, code: Option<i64>) -> Self {
        Self {
            kind: "denied",
            status: status.as_u16(),
            error_code: code,
            is_error: None,
        }
    }

    /// Ended without a JSON-RPC response to read: `kind` says how.
    pub(crate) fn ended(kind: &'static str, status: StatusCode) -> Self {
        Self {
            kind,
            status: status.as_u16(),
            error_code: None,
            is_error: None,
        }
    }
}

/// The most bytes of a JSON-RPC id a record keeps (as sent, it is a stranger's choice).
const MAX_ID_BYTES: usize = 256;

/// A request's id as JSON: a number, or a string (cut to [`MAX_ID_BYTES`] with `…`).
fn jsonrpc_id(id: &RequestId) -> Value {
    let json = id.to_json();
    let value: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    match value {
        Value::String(text) if text.len() > MAX_ID_BYTES => {
            let mut end = MAX_ID_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            Value::String(format!("{}…", &text[..end]))
        }
        other => other,
    }
}

/// The record of `call` of `common` with `outcome`, as one line of JSON (no newline).
///
/// Written by hand in the documented field order: this runs once per audited request on the
/// request path, and a derived serialiser cost several times as much (callgrind).
pub(crate) fn line(common: &Common, call: &Call, outcome: &Outcome) -> Vec<u8> {
    let mut time = String::with_capacity(32);
    timestamp::push(&mut time, common.time);
    let named = call.named();
    let mut out = Object::new(Vec::with_capacity(384));
    out.str("time", &time);
    out.str("request_id", &common.request_id);
    if let Some(id) = &call.request_id {
        out.key("jsonrpc_id");
        let _ = serde_json::to_writer(&mut out.bytes, &jsonrpc_id(id));
    }
    if let Some(principal) = &common.principal {
        out.key("principal");
        let mut inner = Object::new(std::mem::take(&mut out.bytes));
        inner.str("iss", &principal.iss);
        inner.str("sub", &principal.sub);
        if let Some(client_id) = &principal.client_id {
            inner.str("client_id", client_id);
        }
        out.bytes = inner.close();
    }
    out.str("client", common.client.as_str());
    out.str("backend", &common.backend);
    if let Some(session) = &common.session {
        out.str("session", session);
    }
    if let Some(version) = &common.protocol_version {
        out.str("protocol_version", version);
    }
    if !call.method.is_empty() {
        out.str("method", &call.method);
    }
    if let Some((kind, name)) = &named {
        out.str(kind, name);
    }
    if let Some((sha256, bytes)) = &call.arguments {
        out.key("arguments");
        let mut inner = Object::new(std::mem::take(&mut out.bytes));
        inner.str("sha256", sha256);
        inner.number("bytes", *bytes as f64);
        out.bytes = inner.close();
    }
    out.str("decision", call.decision);
    if let Some(rule) = call.rule {
        out.number("rule", rule as f64);
    }
    out.str("outcome", outcome.kind);
    out.number("status", f64::from(outcome.status));
    if let Some(code) = outcome.error_code {
        out.key("error_code");
        let _ = serde_json::to_writer(&mut out.bytes, &code);
    }
    if let Some(is_error) = outcome.is_error {
        out.key("is_error");
        out.bytes
            .extend_from_slice(if is_error { b"true" } else { b"false" });
    }
    // Microseconds as a fraction of a millisecond: readable, and exact enough.
    let duration = common.started.elapsed();
    out.number("duration_ms", (duration.as_micros() as f64) / 1000.0);
    out.close()
}

/// A JSON object written member by member.
struct Object {
    bytes: Vec<u8>,
    first: bool,
}

impl Object {
    fn new(mut bytes: Vec<u8>) -> Self {
        bytes.push(b'{');
        Self { bytes, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.bytes.push(b',');
        }
        self.first = false;
        push_str(&mut self.bytes, key);
        self.bytes.push(b':');
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_str(&mut self.bytes, value);
    }

    /// A whole number (status, rule, sizes) without a fraction, else as serde_json writes it.
    fn number(&mut self, key: &str, value: f64) {
        self.key(key);
        let _ = serde_json::to_writer(&mut self.bytes, &value);
        if self.bytes.ends_with(b".0") {
            self.bytes.truncate(self.bytes.len() - 2);
        }
    }

    fn close(mut self) -> Vec<u8> {
        self.bytes.push(b'}');
        self.bytes
    }
}

/// `text` as a JSON string: copied when it needs no escape (nearly always), else escaped by
/// serde_json.
fn push_str(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, text);
    }
}
