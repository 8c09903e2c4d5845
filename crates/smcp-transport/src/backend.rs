//! One backend, HTTP or stdio, behind one call.
//!
//! A [`Backend`] is what a route leads to: a remote MCP server ([`HttpBackend`], with this
//! route's view of the server's HTTP session bindings) or local children ([`StdioBackend`]).
//! [`Backend::call`] takes the request with its body already read ([`RequestBody`]: the
//! caller read it once, within its size limit, and may have looked at its JSON-RPC envelope)
//! and a [`CallContext`] holding everything about the caller and the route that any backend
//! needs, so the proxy's request path is the same line for both kinds and the differences live
//! here:
//!
//! - an HTTP backend is sent the body's bytes unchanged (whatever they are: the upstream
//!   server judges them); a stdio backend takes its parsed message (and refuses a batch or
//!   anything that is not one message with 400);
//! - a session is bound to (route, principal) for both kinds: a stdio route's sessions live in
//!   its own [`StdioBackend`] and carry their owner; an HTTP route checks the
//!   [`RouteSessions`] before forwarding (another route's or principal's id: 404);
//! - what a backend answers passes unchanged. A failure smcp must answer for itself is
//!   returned as a [`CallError`], which the caller maps to its one error reply.
//!
//! What this module does not do: authenticate, route, or decide the error reply to a
//! forwarding failure.

use std::sync::Arc;

use ::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};

use crate::body::{self, Body};
use crate::http::sessions::{self, Admission, RouteSessions};
use crate::http::{ClientAddr, ForwardContext, ForwardError, HttpBackend};
use crate::owner::SessionOwner;
use crate::request_body::RequestBody;
use crate::stdio_backend::{StdioBackend, StdioRequestContext};

/// The backend a route leads to.
#[derive(Debug)]
pub enum Backend {
    /// A remote MCP server reached over HTTP.
    Http {
        /// The forwarder and its connection pools.
        forwarder: HttpBackend,
        /// This route's view of the server's HTTP session bindings.
        sessions: RouteSessions,
        /// The largest request body forwarded, in bytes: the caller reads the body within it
        /// ([`Backend::max_request_body`]; 413 over it).
        max_body: u64,
    },
    /// Local MCP servers spawned per session and spoken to over stdio (bounds its bodies
    /// itself: `StdioBackendOptions::max_message_bytes`).
    Stdio(StdioBackend),
}

/// Everything about one routed request that a backend needs besides the request itself.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The routed path and `?query` as the backend should see it (the prefix removed when
    /// the route strips it); what an HTTP backend is sent.
    pub forward_path: String,
    /// The part of the path after the route's prefix, without the query (`/`, `/mcp`,
    /// `/sse`, `/message`, ...): what a stdio backend dispatches on.
    pub sub_path: String,
    /// The query, without `?`, if any.
    pub query: Option<String>,
    /// The route's public prefix as clients use it (for example `/v1/memory`).
    pub public_prefix: Arc<str>,
    /// Whether routing removed `public_prefix` from `forward_path` (legacy SSE `endpoint`
    /// events of an HTTP backend are then rewritten to carry it).
    pub prefix_stripped: bool,
    /// The authenticated principal, or [`SessionOwner::anonymous`] on an unprotected route.
    pub owner: SessionOwner,
    /// The client's IP address (`X-Forwarded-For`; per-address session quotas).
    pub client: ClientAddr,
    /// The scheme the client used, `"http"` or `"https"`.
    pub scheme: &'static str,
    /// The `Host` (or `:authority`) the client used.
    pub host: Option<HeaderValue>,
    /// Identity header names the proxy owns, always removed from what the client sent.
    pub strip_headers: Arc<[HeaderName]>,
    /// Identity headers set from a validated token (HTTP backends only; nothing enters a
    /// stdio child's JSON-RPC).
    pub set_headers: HeaderMap,
}

/// A call that smcp answers itself instead of the backend.
#[derive(Debug)]
pub enum CallError {
    /// Forwarding to an HTTP backend failed (unreachable, too slow, or the client's own body
    /// failed or was over the limit): see [`ForwardError::status`].
    Forward(ForwardError),
}

impl Backend {
    /// Passes the request to the backend and returns its answer (whatever its status), or the
    /// failure the caller must answer for. A session id of another route or principal gets
    /// the 404 an unknown session gets, as the backend's answer.
    pub async fn call(
        &self,
        request: Request<RequestBody>,
        context: CallContext,
    ) -> Result<Response<Body>, CallError> {
        // Each kind's call is boxed where it is made: its state is kilobytes (the request, the
        // context, the forward or the stdio exchange), and a future that awaited it inline
        // would grow by that much, and be copied again by each caller that creates it.
        match self {
            Backend::Http {
                forwarder,
                sessions,
                ..
            } => Box::pin(call_http(forwarder, sessions, request, context)).await,
            Backend::Stdio(backend) => {
                let stdio = StdioRequestContext {
                    sub_path: context.sub_path,
                    query: context.query,
                    public_prefix: context.public_prefix.to_string(),
                    owner: context.owner,
                    client: context.client.ip(),
                };
                Ok(Box::pin(backend.serve(request, stdio)).await)
            }
        }
    }

    /// The largest request body this backend takes, in bytes: read the body for
    /// [`Backend::call`] within it ([`RequestBody::read`]), and answer 413 over it.
    pub fn max_request_body(&self) -> u64 {
        match self {
            Backend::Http { max_body, .. } => *max_body,
            Backend::Stdio(backend) => backend.max_message_bytes(),
        }
    }

    /// The stdio backend, if this is one (for shutdown).
    pub fn as_stdio(&self) -> Option<&StdioBackend> {
        match self {
            Backend::Stdio(backend) => Some(backend),
            Backend::Http { .. } => None,
        }
    }
}

async fn call_http(
    forwarder: &HttpBackend,
    sessions: &RouteSessions,
    request: Request<RequestBody>,
    context: CallContext,
) -> Result<Response<Body>, CallError> {
    // Read once: checked now, and needed again to learn from the response.
    let session = sessions::session_id(request.headers()).map(str::to_owned);
    if sessions.admit_request(session.as_deref(), context.query.as_deref(), &context.owner)
        != Admission::Pass
    {
        return Ok(sessions::unknown_session());
    }
    let method = request.method().clone();
    // A GET may open a legacy SSE stream: on a protected route its session is bound to this
    // caller while the stream lasts.
    let endpoint_observer = if method == Method::GET {
        sessions.stream_observer(&context.owner)
    } else {
        None
    };
    // Already bounded by the caller's read; sent with its exact length.
    let request = request.map(|body| body::full(body.into_bytes()));
    let forward = ForwardContext {
        upstream_path_and_query: context.forward_path,
        public_prefix: context.prefix_stripped.then_some(context.public_prefix),
        client_addr: context.client,
        client_scheme: context.scheme,
        client_host: context.host,
        strip_headers: context.strip_headers,
        set_headers: context.set_headers,
        endpoint_observer,
    };
    let response = forwarder
        .forward(request, forward)
        .await
        .map_err(CallError::Forward)?;
    sessions.observe(&method, session.as_deref(), &response, &context.owner);
    Ok(response)
}
