//! The server side of MCP Streamable HTTP (2025-03-26, 2025-06-18, 2025-11-25) over the
//! sessions of a stdio backend.
//!
//! - `POST` carries one JSON-RPC message. `initialize` without a session starts a child and a
//!   session (`Mcp-Session-Id` on the answer); a request is answered as `application/json`
//!   when the child's first message for it is the response, and as `text/event-stream`
//!   (related messages, then the response) otherwise; notifications and responses get 202.
//! - `GET` opens a stream for messages not tied to a request, or resumes one with
//!   `Last-Event-ID`. A session may have several (the spec lets a client hold more than one);
//!   each message still goes to exactly one of them. See the `session` module for the rules.
//! - `DELETE` ends the session.
//!
//! Batches (JSON arrays, 2025-03-26 only) are refused with 400 and a JSON-RPC error.
//! `MCP-Protocol-Version` is checked on every request but `initialize` (there the child
//! negotiates the version in the body).

mod get;
mod headers;
pub(crate) mod post;
pub(crate) mod reply;
pub(crate) mod sse_body;

use std::sync::Arc;

use ::http::{HeaderMap, Response, StatusCode};

use crate::body::Body;
use crate::jsonrpc::RequestId;
use crate::reply::ProxyError;
use crate::stdio_backend::session::{
    EndReason, Lookup, Session, SessionOwner, Sessions, Transport,
};

pub(crate) use self::get::get;
pub(crate) use self::headers::{Media, accepts};
pub(crate) use self::post::post;

/// The session header.
pub(crate) const SESSION_ID: &str = "mcp-session-id";

/// The methods the endpoint serves, for `Allow`.
pub(crate) const ALLOW: &str = "GET, POST, DELETE";

/// `DELETE`: ends the session; 204, and the id answers 404 from now on.
pub(crate) fn delete(
    sessions: &Sessions,
    headers: &HeaderMap,
    owner: &SessionOwner,
) -> Response<Body> {
    match session_for(sessions, headers, owner) {
        Ok(session) => {
            sessions.end(&session, EndReason::Delete);
            reply::status(StatusCode::NO_CONTENT)
        }
        Err(refusal) => refusal.response(None),
    }
}

/// Why a request naming a session cannot use it.
pub(crate) enum Refusal {
    /// No `Mcp-Session-Id` header: 400.
    NoSession,
    /// An `MCP-Protocol-Version` this transport does not serve: 400.
    BadVersion(String),
    /// Unknown, ended, or someone else's session (never told apart): 404.
    Unknown,
}

impl Refusal {
    /// The answer, with a JSON-RPC error body for request `id` (or `null`).
    pub(crate) fn response(self, id: Option<&RequestId>) -> Response<Body> {
        match self {
            Refusal::NoSession => reply::error(id, &ProxyError::SessionRequired),
            Refusal::BadVersion(version) => reply::error(
                id,
                &ProxyError::UnsupportedVersion {
                    version: version.clone(),
                    supported: &headers::SUPPORTED_VERSIONS,
                },
            ),
            Refusal::Unknown => reply::error(id, &ProxyError::UnknownSession),
        }
    }
}

/// The session a request names in `Mcp-Session-Id`, after the protocol version check.
pub(crate) fn session_for(
    sessions: &Sessions,
    headers: &HeaderMap,
    owner: &SessionOwner,
) -> Result<Arc<Session>, Refusal> {
    let Some(session_id) = headers.get(SESSION_ID) else {
        return Err(Refusal::NoSession);
    };
    headers::protocol_version(headers).map_err(Refusal::BadVersion)?;
    let session_id = session_id.to_str().unwrap_or_default();
    match sessions.lookup(session_id, owner) {
        Lookup::Found(session) if session.transport == Transport::Streamable => {
            session.activity.touch();
            Ok(session)
        }
        Lookup::Found(_) | Lookup::Unknown | Lookup::Foreign => Err(Refusal::Unknown),
    }
}
