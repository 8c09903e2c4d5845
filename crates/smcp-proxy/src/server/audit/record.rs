//! One audit record as a JSON line. Fields (absent when unknown, never `null` padding):
//!
//! `time` (RFC 3339 UTC, when the request reached the seam), `request_id` (the `X-Request-Id`
//! smcp answers with), `jsonrpc_id`, `principal` (`iss`, `sub`, `client_id` from `client_id`,
//! `azp` or `cid`), `client` (address), `backend`, `session` (hashed), `protocol_version`,
//! `method`, `tool` / `prompt` / `resource`, `arguments` (`sha256`, `bytes`; opt-in),
//! `decision` and `rule` (the index in the backend's `policy.rules`), `outcome`, `status`,
//! `error_code`, `is_error` (a tool result's), `duration_ms` (from the seam to the outcome).

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use smcp_transport::jsonrpc::RequestId;

use super::{Call, Common};
use crate::logging::timestamp;

/// Who called, as a record names them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Principal {
    iss: String,
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize)]
struct Record<'a> {
    time: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Value::is_null")]
    jsonrpc_id: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<&'a Principal>,
    client: &'a str,
    backend: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_version: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<Arguments<'a>>,
    decision: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<usize>,
    outcome: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_error: Option<bool>,
    duration_ms: f64,
}

#[derive(Serialize)]
struct Arguments<'a> {
    sha256: &'a str,
    bytes: usize,
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
pub(crate) fn line(common: &Common, call: &Call, outcome: &Outcome) -> Vec<u8> {
    let mut time = String::with_capacity(32);
    timestamp::push(&mut time, common.time);
    let named = call.named();
    let name = |kind: &str| {
        named
            .as_ref()
            .filter(|(k, _)| *k == kind)
            .map(|(_, name)| name.as_ref())
    };
    let duration = common.started.elapsed();
    let record = Record {
        time: &time,
        request_id: &common.request_id,
        jsonrpc_id: call.request_id.as_ref().map_or(Value::Null, jsonrpc_id),
        principal: common.principal.as_ref(),
        client: common.client.as_str(),
        backend: &common.backend,
        session: common.session.as_deref(),
        protocol_version: common.protocol_version.as_deref(),
        method: &call.method,
        tool: name("tool"),
        prompt: name("prompt"),
        resource: name("resource"),
        arguments: call.arguments.as_ref().map(|(sha256, bytes)| Arguments {
            sha256,
            bytes: *bytes,
        }),
        decision: call.decision,
        rule: call.rule,
        outcome: outcome.kind,
        status: outcome.status,
        error_code: outcome.error_code,
        is_error: outcome.is_error,
        // Microseconds as a fraction of a millisecond: readable, and exact enough.
        duration_ms: (duration.as_micros() as f64) / 1000.0,
    };
    // Serialising plain strings, numbers and a JSON value cannot fail.
    serde_json::to_vec(&record).unwrap_or_default()
}
