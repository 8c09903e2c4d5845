//! The backends smcp-server routes to, behind one call interface.
//!
//! A [`BackendEntry`] is what the route table stores per configured backend: its identity (for
//! listings and metric labels), its routing options, and the transport that serves it. The
//! transports themselves live in `smcp-transport`; this module only chooses between them and
//! turns their failures into responses. For a protected HTTP backend it also keeps the upstream
//! sessions bound to the principals that created them, Streamable HTTP and legacy SSE alike
//! (see `auth::session_binding`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode};
use smcp_transport::body::Body;
use smcp_transport::http::{
    ClientAddr, EndpointObserver, ForwardContext, ForwardError, HttpBackend,
};
use smcp_transport::stdio::backend::{SessionOwner, StdioBackend, StdioRequestContext};

use super::auth::BackendAuth;
use super::auth::session_binding::{self, Admission, LegacyStream};
use super::dispatch::reject;
use super::observe::RouteMetrics;
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

/// The transport serving one backend.
pub(crate) enum Transport {
    Http(HttpBackend),
    Stdio(StdioBackend),
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
    pub(crate) transport: Transport,
    /// Identity headers smcp owns for this backend: always removed from client requests.
    pub(crate) identity_strip: Arc<[HeaderName]>,
    /// The auth policy when the backend is protected (effective mode oidc).
    pub(crate) auth: Option<BackendAuth>,
    /// Whether the backend can serve right now (see `readiness`).
    pub(crate) ready: Arc<AtomicBool>,
    /// Its request metrics, resolved once.
    pub(crate) metrics: RouteMetrics,
}

/// Everything about the client side of a request that a backend may need.
pub(crate) struct CallContext {
    pub(crate) client: ClientAddr,
    pub(crate) scheme: &'static str,
    pub(crate) host: Option<http::HeaderValue>,
    pub(crate) owner: SessionOwner,
    /// Identity headers smcp sets from a validated token.
    pub(crate) set_headers: HeaderMap,
    /// `server.max_request_body`, named in the 413 a streamed body over it gets.
    pub(crate) max_request_body: u64,
}

impl BackendEntry {
    pub(crate) fn kind(&self) -> TransportKind {
        match self.transport {
            Transport::Http(_) => TransportKind::Http,
            Transport::Stdio(_) => TransportKind::Stdio,
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Passes the request to the backend. `forward_path` is the routed path and query as the
    /// backend should see it; `sub_path` is the part after the prefix (for stdio endpoints).
    pub(crate) async fn call(
        &self,
        request: Request<Body>,
        forward_path: String,
        sub_path: String,
        query: Option<String>,
        context: CallContext,
    ) -> Response<Body> {
        match &self.transport {
            Transport::Http(backend) => {
                let bindings = self.auth.as_ref().and_then(BackendAuth::sessions);
                let method = request.method().clone();
                // Only protected backends bind sessions, so only they need the id.
                let session = bindings
                    .and_then(|_| session_binding::session_id(request.headers()))
                    .map(str::to_owned);
                if let Some(bindings) = bindings
                    && (bindings.admit(session.as_deref(), &context.owner) == Admission::Foreign
                        || bindings.admit_legacy(query.as_deref(), &context.owner)
                            != Admission::Pass)
                {
                    return session_binding::unknown_session();
                }
                // A GET may open a legacy SSE stream: its session is bound to this caller
                // while the stream lasts.
                let endpoint_observer =
                    bindings.filter(|_| method == Method::GET).map(|bindings| {
                        Arc::new(LegacyStream::new(
                            Arc::clone(bindings),
                            context.owner.clone(),
                        )) as Arc<dyn EndpointObserver>
                    });
                let forward = ForwardContext {
                    upstream_path_and_query: forward_path,
                    public_prefix: self.strip_path.then(|| Arc::clone(&self.path)),
                    client_addr: context.client,
                    client_scheme: context.scheme,
                    client_host: context.host,
                    strip_headers: Arc::clone(&self.identity_strip),
                    set_headers: context.set_headers,
                    endpoint_observer,
                };
                match backend.forward(request, forward).await {
                    Ok(response) => {
                        if let Some(bindings) = bindings {
                            bindings.observe(
                                &method,
                                session.as_deref(),
                                &response,
                                &context.owner,
                            );
                        }
                        response
                    }
                    Err(error) => forward_error(&error, context.max_request_body),
                }
            }
            Transport::Stdio(backend) => {
                let stdio = StdioRequestContext {
                    sub_path,
                    query,
                    public_prefix: self.path.to_string(),
                    owner: context.owner,
                    client: context.client.ip(),
                };
                backend.handle(request, stdio).await
            }
        }
    }
}

/// The answer to a failed forward. A failure of the client's own body is the client's: a body
/// cut off at `max_request_body` (a chunked one declares no length) is a 413 saying so and
/// counted as a rejection, never reported as an unreachable backend.
fn forward_error(error: &ForwardError, max_request_body: u64) -> Response<Body> {
    let status = error.status();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            reject("body_too_large");
            reply::payload_too_large(max_request_body)
        }
        StatusCode::BAD_REQUEST => {
            reject("body_unreadable");
            reply::jsonrpc_error(
                status,
                reply::INVALID_REQUEST,
                "the request body could not be read",
            )
        }
        StatusCode::GATEWAY_TIMEOUT => reply::jsonrpc_error(
            status,
            reply::SERVER_ERROR,
            "the MCP backend did not answer in time",
        ),
        _ => reply::jsonrpc_error(
            status,
            reply::SERVER_ERROR,
            "the MCP backend is unreachable",
        ),
    }
}
