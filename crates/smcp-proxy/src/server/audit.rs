//! The audit trail (`audit:`): one JSON record per MCP request and per denial, written off the
//! request path (`sink`).
//!
//! At the seam (after authentication, with the body's JSON-RPC envelope parsed) dispatch opens
//! an [`Exchange`] for the HTTP request: who (issuer, subject, client id, client address),
//! where (backend, session id hashed, protocol version), and one [`Call`] per JSON-RPC request
//! in the body (method, tool / prompt / resource, optionally a digest of the arguments). The
//! policy stage fills in each call's decision and the rule that made it. Then either:
//!
//! - the request is refused (policy, rate limit): every call is written at once, outcome
//!   `denied` with the answer's status and JSON-RPC code ([`Exchange::refused`]);
//! - or it is forwarded, and the backend's response passes through a watcher (`tap`) that
//!   writes each call's record when its JSON-RPC response goes by (outcome `result` or
//!   `error`, the error code, a tool result's `isError`), and the rest when the response ends
//!   (`no_response`), is dropped by the client (`cancelled`), is too large to read
//!   (`unknown`), or is a `202` (`accepted`: a legacy SSE reply comes on the stream).
//!
//! Requests refused by authentication are recorded too ([`AuditTrail::auth_refused`]), with
//! what is known then (no principal, no message). Never in a record: a token, the arguments,
//! a session id in clear.

mod record;
mod sink;
mod tap;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use sha2::{Digest, Sha256};
use smcp_policy::Target;
use smcp_transport::body::Body;
use smcp_transport::http::ClientAddr;
use smcp_transport::jsonrpc::{Message, RequestId};
use smcp_transport::reply::ProxyError;
use smcp_transport::request_body::Envelope;

use super::seam::AtSeam;
use crate::config::AuditConfig;
pub(crate) use record::{Outcome, Principal};
pub(crate) use sink::AuditSink;

/// The running audit trail: the sink and what records carry.
pub(crate) struct AuditTrail {
    sink: AuditSink,
    arguments_digest: bool,
    /// Whether the sink is a file (which SIGHUP reopens).
    is_file: bool,
}

impl AuditTrail {
    /// Opens the sink of `config` and starts its writer.
    pub(crate) fn start(config: &AuditConfig) -> std::io::Result<Self> {
        Ok(Self {
            sink: AuditSink::open(&config.sink, config.queue)?,
            arguments_digest: config.arguments_digest,
            is_file: matches!(config.sink, crate::config::AuditSinkConfig::File(_)),
        })
    }

    /// The sink, for SIGHUP reopens and the final flush.
    pub(crate) fn sink(&self) -> &AuditSink {
        &self.sink
    }

    /// Whether the sink is a file.
    pub(crate) fn is_file(&self) -> bool {
        self.is_file
    }

    /// Opens the record of one HTTP request at the seam.
    pub(crate) fn exchange(&self, request: &AtSeam<'_>) -> Exchange {
        let head = request.head;
        let common = Common {
            time: SystemTime::now(),
            started: Instant::now(),
            request_id: request.request_id.to_owned(),
            principal: request.caller.principal.as_ref().map(Principal::of),
            client: request.client.clone(),
            backend: Arc::clone(&request.entry.id),
            session: session_hash(&head.headers, request.query),
            protocol_version: header(&head.headers, "mcp-protocol-version"),
        };
        let mut calls = Vec::new();
        let mut note = |message: &Message| {
            if let (Some(method), Some(id), true) =
                (message.method(), message.id(), message.is_request())
            {
                calls.push(Call::of(method, id, message, self.arguments_digest));
            }
        };
        match request.body.envelope() {
            Envelope::One(message) => note(message),
            Envelope::Batch(elements) => elements.iter().flatten().for_each(&mut note),
            Envelope::Invalid(_) => {}
        }
        Exchange {
            common: Arc::new(common),
            calls,
            sink: self.sink.clone(),
        }
    }

    /// Records a request refused by authentication (401, 403, 503), before its body was read.
    pub(crate) fn auth_refused(
        &self,
        request_id: &str,
        backend: &Arc<str>,
        headers: &HeaderMap,
        client: &ClientAddr,
        status: StatusCode,
    ) {
        let common = Common {
            time: SystemTime::now(),
            started: Instant::now(),
            request_id: request_id.to_owned(),
            principal: None,
            client: client.clone(),
            backend: Arc::clone(backend),
            session: None,
            protocol_version: header(headers, "mcp-protocol-version"),
        };
        let call = Call {
            decision: "unauthenticated",
            ..Call::default()
        };
        let line = record::line(&common, &call, &Outcome::denied(status, None));
        self.sink.send(line);
    }
}

/// What every record of one HTTP request shares.
pub(crate) struct Common {
    time: SystemTime,
    started: Instant,
    request_id: String,
    principal: Option<Principal>,
    client: ClientAddr,
    backend: Arc<str>,
    /// The first 16 hex digits of the session id's SHA-256: enough to follow a session through
    /// the trail, useless to take it over.
    session: Option<String>,
    protocol_version: Option<String>,
}

/// One JSON-RPC request of an exchange.
#[derive(Debug, Default, Clone)]
pub(crate) struct Call {
    request_id: Option<RequestId>,
    method: String,
    /// The request's bytes (shared with the body), to read what it names when a record needs
    /// it and the policy did not say.
    bytes: Bytes,
    /// `("tool" | "prompt" | "resource", name)`, once read (`target_read`).
    target: Option<(&'static str, String)>,
    target_read: bool,
    /// SHA-256 (hex) and size of `params.arguments` as sent, when `audit.arguments_digest`.
    arguments: Option<(String, usize)>,
    decision: &'static str,
    rule: Option<usize>,
}

impl Call {
    fn of(method: &str, id: &RequestId, message: &Message, digest: bool) -> Self {
        Self {
            request_id: Some(id.clone()),
            method: bounded(method),
            bytes: message.bytes().clone(),
            target: None,
            target_read: false,
            arguments: digest.then(|| arguments_digest(message.bytes())).flatten(),
            decision: "allow",
            rule: None,
        }
    }

    /// What the request names: as the policy read it, or read now.
    fn named(&self) -> Option<(&'static str, Cow<'_, str>)> {
        if self.target_read {
            return self
                .target
                .as_ref()
                .map(|(kind, name)| (*kind, Cow::Borrowed(name.as_str())));
        }
        let target = Target::of(&self.method, &self.bytes).ok()?;
        named(&target).map(|(kind, name)| (kind, Cow::Owned(name)))
    }
}

/// The kind and (bounded) name of a target that names something.
fn named(target: &Target<'_>) -> Option<(&'static str, String)> {
    match target {
        Target::Tool(name) => Some(("tool", bounded(name))),
        Target::Prompt(name) => Some(("prompt", bounded(name))),
        Target::Resource(uri) => Some(("resource", bounded(uri))),
        Target::Method(_) => None,
    }
}

/// The audit of one HTTP request's calls, between the seam and their outcome.
pub(crate) struct Exchange {
    common: Arc<Common>,
    calls: Vec<Call>,
    sink: AuditSink,
}

impl Exchange {
    /// Sets the decision of the `index`th request of the body (in body order).
    pub(crate) fn decide(&mut self, index: usize, decision: &'static str, rule: Option<usize>) {
        if let Some(call) = self.calls.get_mut(index) {
            call.decision = decision;
            call.rule = rule;
        }
    }

    /// Like [`Exchange::decide`], with what the policy read the request to name (so that the
    /// record need not read it again).
    pub(crate) fn decided(
        &mut self,
        index: usize,
        decision: &'static str,
        rule: Option<usize>,
        target: &Target<'_>,
    ) {
        if let Some(call) = self.calls.get_mut(index) {
            call.decision = decision;
            call.rule = rule;
            call.target = named(target);
            call.target_read = true;
        }
    }

    /// Writes every call as denied by `refusal` (a batch is refused whole).
    pub(crate) fn refused(self, refusal: &ProxyError) {
        let outcome = Outcome::denied(refusal.status(), Some(refusal.code()));
        for call in &self.calls {
            self.sink.send(record::line(&self.common, call, &outcome));
        }
    }

    /// The backend's `response`, watched so that each call's record is written with its
    /// outcome.
    pub(crate) fn watch(self, response: Response<Body>) -> Response<Body> {
        if self.calls.is_empty() {
            return response;
        }
        tap::watch(self, response)
    }

    /// Writes `call` with `outcome`.
    fn write(&self, call: &Call, outcome: &Outcome) {
        self.sink.send(record::line(&self.common, call, outcome));
    }
}

/// The most characters of a name (method, tool, prompt, resource) a record keeps: a stranger
/// chooses these, and a record must stay a line, not a megabyte.
const MAX_NAME_CHARS: usize = 256;

/// `name`, cut at [`MAX_NAME_CHARS`] characters with `…` to show the cut.
fn bounded(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME_CHARS) {
        None => name.to_owned(),
        Some((end, _)) => format!("{}…", &name[..end]),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(64).collect())
}

/// The hashed session of a request: `Mcp-Session-Id`, or a legacy SSE `sessionId` in the query.
fn session_hash(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let session = headers
        .get("mcp-session-id")
        .map(http::HeaderValue::as_bytes)
        .or_else(|| match smcp_transport::http::legacy_session(query?) {
            smcp_transport::http::LegacySession::One(id) => Some(id.as_bytes()),
            _ => None,
        })?;
    Some(hex(&Sha256::digest(session)[..8]))
}

/// SHA-256 and length of the raw `params.arguments` of a request, if it has them.
fn arguments_digest(bytes: &[u8]) -> Option<(String, usize)> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        arguments: Option<&'a serde_json::value::RawValue>,
    }
    let envelope: Envelope<'_> = serde_json::from_slice(bytes).ok()?;
    let raw = envelope.params?.arguments?.get();
    Some((hex(&Sha256::digest(raw.as_bytes())), raw.len()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests;
