//! The stdio backend as the proxy sees it: one [`StdioBackend`] per configured
//! `transport: stdio` backend, serving MCP over HTTP from child processes.
//!
//! Every MCP session gets its own child, started on `initialize` (Streamable HTTP) or on
//! `GET /sse` (legacy HTTP+SSE) and stopped when the session ends. Under the backend's public
//! path the endpoints are:
//!
//! | path | methods | transport |
//! |---|---|---|
//! | `/`, `/mcp` (trailing `/` allowed) | `POST`, `GET`, `DELETE` | Streamable HTTP (2025-03-26, 2025-06-18, 2025-11-25) |
//! | `/sse` | `GET` | legacy HTTP+SSE (2024-11-05): the stream |
//! | `/message?sessionId=..` | `POST` | legacy HTTP+SSE: client messages |
//!
//! Other paths get 404, other methods 405 with `Allow`. The proxy has already routed the
//! request, checked `Origin`, authenticated the caller and limited the body size; this module
//! does the rest (see the [`session`], `streamable` and `legacy_sse` modules for the rules).
//!
//! # Module tree
//!
//! The stdio backend has its own tree, apart from the child-process layer ([`crate::stdio`]),
//! which it uses and which knows nothing of it:
//!
//! - this module: [`StdioBackend`], its options and the dispatch of a request by path and
//!   method;
//! - [`session`]: the session store (sessions, their streams and replay buffers, quotas,
//!   supervision, metrics);
//! - `streamable`: Streamable HTTP over those sessions;
//! - `legacy_sse`: legacy HTTP+SSE over those sessions;
//! - `connect`: a child ([`crate::stdio::StdioConnection`]) as a session's connection.
//!
//! This tree used to be `stdio::backend`, with `session`, `streamable` and `legacy_sse` at the
//! crate root; `smcp_transport::stdio::backend::*` and `smcp_transport::session::*` are still
//! re-exported from here.

mod connect;
mod legacy_sse;
pub mod session;
mod streamable;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ::http::{Method, Request, Response};

use self::session::conn::Connector;
use self::session::{Sessions, Settings};
use self::streamable::reply;
use crate::body::Body;
use crate::reply::ProxyError;
use crate::request_body::RequestBody;
use crate::stdio::ChildSpec;

pub use crate::owner::SessionOwner;

/// How one stdio backend is run, from its configuration.
#[derive(Debug, Clone)]
pub struct StdioBackendOptions {
    /// The backend's configured id: the `backend` label of logs and metrics.
    pub backend_id: Arc<str>,
    /// What to run for each session.
    pub spec: Arc<ChildSpec>,
    /// How long one request may wait for the child. Every progress notification for the
    /// request (and every request the child sends the client about it) restarts the clock.
    /// On expiry the client gets JSON-RPC error -32001 and the child `notifications/cancelled`.
    pub stdio_timeout: Duration,
    /// At most this many sessions (so children) at once. When they are all open, a new
    /// session ends the one idle longest (no request running, no stream open) first; when
    /// every session is busy, the new one gets 503 with `Retry-After`.
    pub max_sessions: usize,
    /// At most this many sessions per principal (per client address on a backend without
    /// authentication, IPv6 addresses grouped by /64). Over it, the principal's own session
    /// idle longest is ended first; when all of its sessions are busy, 429 with `Retry-After`.
    pub max_sessions_per_principal: usize,
    /// A session with no running request and no open stream for this long is ended and its
    /// child stopped.
    pub session_idle_timeout: Duration,
    /// Quiet SSE streams get a `: keepalive` comment this often (zero: never).
    pub sse_keepalive: Duration,
    /// How many SSE events each session keeps for `Last-Event-ID` replay (e.g. 256). Also the
    /// size of the queue of unsolicited messages waiting for a stream (at least 16).
    pub replay_buffer_events: usize,
    /// How long a writer waits for a client that reads nothing of its SSE stream (while the
    /// child's stdout is not read) before that response is ended; the stream's events then go
    /// to the replay buffer only. [`DEFAULT_STALL_TIMEOUT`] unless a test needs less.
    pub stall_timeout: Duration,
    /// The largest request body (one JSON-RPC message) read from a client, in bytes; a body
    /// over it is answered 413 and never reaches the child. [`StdioBackend::handle`] reads
    /// within it; a caller of [`StdioBackend::serve`] reads the body itself, with the same
    /// limit (smcp-server: `server.max_request_body`).
    pub max_message_bytes: u64,
}

/// The default [`StdioBackendOptions::stall_timeout`]: 30 s. A reader that takes nothing of
/// 1 MiB of events for that long is stuck, not slow.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the proxy knows about one request routed to a stdio backend.
#[derive(Debug, Clone)]
pub struct StdioRequestContext {
    /// The path after the backend's prefix, without the query: `/`, `/mcp`, `/sse`,
    /// `/message`, ...
    pub sub_path: String,
    /// The query string, without `?`, if any.
    pub query: Option<String>,
    /// The backend's public path prefix as the client used it (for example `/v1/memory`),
    /// which the legacy `endpoint` event must carry even when routing strips it.
    pub public_prefix: String,
    /// The authenticated principal; a session only works for the owner that created it.
    pub owner: SessionOwner,
    /// The client's IP address: what `max_sessions_per_principal` counts by when `owner` is
    /// [`SessionOwner::anonymous`] (a backend without authentication).
    pub client: IpAddr,
}

/// One stdio backend: its sessions and their children. Cheap to clone (shared state).
#[derive(Clone)]
pub struct StdioBackend {
    sessions: Arc<Sessions>,
}

impl std::fmt::Debug for StdioBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioBackend")
            .field("backend", &self.sessions.settings.backend)
            .field("active_sessions", &self.sessions.active())
            .finish()
    }
}

impl StdioBackend {
    /// A backend with no sessions yet. Starts nothing: children are spawned per session, and
    /// each session has its own supervising task (idle reaping included) while it lives.
    pub fn new(opts: StdioBackendOptions) -> Self {
        let connector = connect::StdioConnector::new(opts.spec.clone());
        Self::with_connector(&opts, Arc::new(connector))
    }

    /// A backend whose sessions connect through `connector` (tests use an in-memory one).
    pub(crate) fn with_connector(
        opts: &StdioBackendOptions,
        connector: Arc<dyn Connector>,
    ) -> Self {
        let settings = Settings {
            backend: opts.backend_id.clone(),
            stdio_timeout: opts.stdio_timeout,
            max_sessions: opts.max_sessions,
            max_sessions_per_principal: opts.max_sessions_per_principal,
            idle_timeout: opts.session_idle_timeout,
            keepalive: opts.sse_keepalive,
            stall_timeout: opts.stall_timeout,
            replay_events: opts.replay_buffer_events,
            max_message_bytes: opts.max_message_bytes,
        };
        StdioBackend {
            sessions: Sessions::new(settings, connector),
        }
    }

    /// Serves one HTTP request addressed to this backend, reading its body first (at most
    /// `max_message_bytes`: over it 413, a body that broke off 400). A caller that has read
    /// the body already (the proxy does, for its MCP stages) uses [`StdioBackend::serve`].
    pub async fn handle(&self, req: Request<Body>, ctx: StdioRequestContext) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let limit = self.sessions.settings.max_message_bytes;
        match RequestBody::read(body, limit).await {
            Ok(body) => self.serve(Request::from_parts(parts, body), ctx).await,
            Err(error) => reply::error(None, &ProxyError::body_read(error, limit)),
        }
    }

    /// Serves one HTTP request addressed to this backend whose body has been read. The caller
    /// bounds the body (smcp-server reads it within `server.max_request_body`, which is this
    /// backend's `max_message_bytes`).
    pub async fn serve(
        &self,
        req: Request<RequestBody>,
        ctx: StdioRequestContext,
    ) -> Response<Body> {
        let sessions = &self.sessions;
        let method = req.method().clone();
        match normalize(&ctx.sub_path) {
            "/" | "/mcp" => match method {
                Method::POST => streamable::post(sessions, req, &ctx.owner, ctx.client).await,
                Method::GET => streamable::get(sessions, req.headers(), &ctx.owner).await,
                Method::DELETE => streamable::delete(sessions, req.headers(), &ctx.owner),
                _ => reply::error(
                    None,
                    &ProxyError::MethodNotAllowed {
                        allow: streamable::ALLOW,
                    },
                ),
            },
            "/sse" => match method {
                Method::GET => {
                    legacy_sse::open(
                        sessions,
                        req.headers(),
                        &ctx.public_prefix,
                        &ctx.owner,
                        ctx.client,
                    )
                    .await
                }
                _ => reply::error(None, &ProxyError::MethodNotAllowed { allow: "GET" }),
            },
            "/message" => match method {
                Method::POST => {
                    legacy_sse::message(sessions, req, ctx.query.as_deref(), &ctx.owner).await
                }
                _ => reply::error(None, &ProxyError::MethodNotAllowed { allow: "POST" }),
            },
            _ => reply::error(None, &ProxyError::NoEndpoint),
        }
    }

    /// Begins a graceful shutdown: new sessions and GET streams are refused (503), open GET
    /// streams end, legacy sessions end (their stream is the session), and running POST
    /// requests are left to finish.
    pub fn begin_shutdown(&self) {
        self.sessions.begin_shutdown();
    }

    /// Ends every session (reason `shutdown`) and returns once every child has been stopped
    /// and reaped and every task of the backend has finished.
    pub async fn shutdown(&self) {
        self.sessions.shutdown().await;
    }

    /// The largest request body it takes, in bytes (`max_message_bytes`).
    pub fn max_message_bytes(&self) -> u64 {
        self.sessions.settings.max_message_bytes
    }

    /// How many sessions are open.
    pub fn active_sessions(&self) -> usize {
        self.sessions.active()
    }
}

/// `""` is `/`, and one trailing slash is ignored (`/mcp/` is `/mcp`).
fn normalize(path: &str) -> &str {
    match path {
        "" => "/",
        "/" => "/",
        p => p.strip_suffix('/').unwrap_or(p),
    }
}

#[cfg(test)]
mod tests;
