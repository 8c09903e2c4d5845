//! The backends smcp-server routes to, behind one call interface.
//!
//! A [`BackendEntry`] is what the route table stores per configured backend: its identity (for
//! listings and metric labels), its routing options, its auth policy, and the
//! [`smcp_transport::backend::Backend`] that serves it (HTTP or stdio, one `call` for both; it
//! also enforces that sessions belong to their route and principal). This module builds the
//! backend's [`CallContext`] from the routed request and the caller, and is the "map error"
//! stage: what a call could not do becomes one of smcp's own replies (`reply`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderName, Request, Response};
use smcp_transport::backend::{Backend, CallContext, CallError};
use smcp_transport::body::Body;
use smcp_transport::http::ForwardError;
use smcp_transport::reply::ProxyError;
use smcp_transport::request_body::RequestBody;

use super::auth::{BackendAuth, Caller};
use super::dispatch::{Connection, reject};
use super::observe::RouteMetrics;
use super::policy::BackendPolicy;
use super::reply;

/// How a backend is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// A remote MCP server reached over HTTP.
    Http,
    /// A local MCP server spawned per session and spoken to over stdio.
    Stdio,
}

impl TransportKind {
    /// The config spelling: `http` or `stdio`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Stdio => "stdio",
        }
    }
}

/// One configured backend, as stored in the route table.
pub(crate) struct BackendEntry {
    pub(crate) id: Arc<str>,
    pub(crate) name: String,
    /// The public path prefix; shared with every forwarded request that needs it.
    pub(crate) path: Arc<str>,
    pub(crate) strip_path: bool,
    pub(crate) model: Option<String>,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) backend: Backend,
    /// Identity headers smcp owns for this backend: always removed from client requests.
    pub(crate) identity_strip: Arc<[HeaderName]>,
    /// The auth policy when the backend is protected (effective mode oidc).
    pub(crate) auth: Option<BackendAuth>,
    /// Its per-tool policy (`policy:`), decided at the seam before the call.
    pub(crate) policy: Option<Arc<BackendPolicy>>,
    /// Whether the backend can serve right now (see `readiness`).
    pub(crate) ready: Arc<AtomicBool>,
    /// Its request metrics, resolved once.
    pub(crate) metrics: RouteMetrics,
}

/// The routed request, as the route table resolved it.
pub(crate) struct Routed {
    /// The path and `?query` the backend should see.
    pub(crate) forward_path: String,
    /// The path after the prefix, without the query.
    pub(crate) sub_path: String,
    /// The query, without `?`.
    pub(crate) query: Option<String>,
}

impl BackendEntry {
    pub(crate) fn kind(&self) -> TransportKind {
        match self.backend {
            Backend::Http { .. } => TransportKind::Http,
            Backend::Stdio(_) => TransportKind::Stdio,
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The call stage: passes the request (its body read) to the backend with what it needs to
    /// know about the route, the connection and the caller, and maps what the call could not do
    /// to smcp's own reply.
    pub(crate) async fn call(
        &self,
        request: Request<RequestBody>,
        routed: Routed,
        connection: &Connection,
        caller: Caller,
    ) -> Response<Body> {
        let host = request
            .headers()
            .get(http::header::HOST)
            .cloned()
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
            });
        let context = CallContext {
            forward_path: routed.forward_path,
            sub_path: routed.sub_path,
            query: routed.query,
            public_prefix: Arc::clone(&self.path),
            prefix_stripped: self.strip_path,
            owner: caller.owner,
            client: connection.client.clone(),
            scheme: connection.scheme,
            host,
            strip_headers: Arc::clone(&self.identity_strip),
            set_headers: caller.set_headers,
        };
        match self.backend.call(request, context).await {
            Ok(response) => response,
            Err(CallError::Forward(error)) => {
                forward_error(&error, self.backend.max_request_body())
            }
        }
    }
}

/// The answer to a failed forward. A failure of the client's own body is the client's: a body
/// cut off at `max_request_body` is a 413 saying so and counted as a rejection, never reported
/// as an unreachable backend. (smcp-server reads the body before the call, so this is for
/// bodies a forward streams; kept so that no body failure is ever mapped to a backend one.)
fn forward_error(error: &ForwardError, max_request_body: u64) -> Response<Body> {
    let error = match error {
        ForwardError::Body {
            too_large: true, ..
        } => {
            reject("body_too_large");
            ProxyError::PayloadTooLarge {
                limit: Some(max_request_body),
            }
        }
        ForwardError::Body { .. } => {
            reject("body_unreadable");
            ProxyError::BodyUnreadable
        }
        ForwardError::Timeout { .. } => ProxyError::BackendTimeout,
        // Connect, TLS, protocol (and any kind added later): the backend side failed.
        _ => ProxyError::BackendUnreachable,
    };
    reply::error(&error)
}
