//! The request path of smcp-server, from a parsed request to a response head.
//!
//! Stages, in order (drawn in `docs/architecture.md`):
//! 1. observe: request id, in-flight gauge, one access-log line and the request metrics;
//!    then the request's shape (`admission`): a path in normal form and at most one copy of
//!    each header smcp decides on, else 400; then the `Host` (`host`): one this server
//!    answers for, else 421 (DNS rebinding);
//! 2. protected-resource metadata (`/.well-known/*`, only with `auth.mode: oidc`) and the
//!    operations endpoints (`/health`, `/ready`, `/metrics`, `/api/models`), answered locally;
//!    with oidc, `/api/models` needs a bearer token first;
//! 3. route: the longest whole-segment prefix picks a backend, or 404;
//! 4. CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) answered
//!    locally, before auth (204, or 403 for a disallowed `Origin`); admission: draining (503
//!    for a request that names no session it continues), `Origin` (403);
//! 5. auth (protected backends only): bearer token validated for the backend's resource URL
//!    and rules, or 401/403/503 (`auth`); the caller becomes the session owner and, for HTTP
//!    backends, the identity headers;
//! 6. the body, read whole within the backend's limit (413 over it, 400 when it breaks off):
//!    the seam where MCP-aware stages see its JSON-RPC envelope: the 2026-07-28 header rule
//!    (`Mcp-Method` / `Mcp-Name` agree with the body, else 400), the backend's per-tool policy
//!    (`policy`: allowed, step-up 403, claims 403, hidden) and its rate limits (429), with the
//!    audit trail recording each JSON-RPC request's decision (`audit`); then the backend call,
//!    whose response the audit watches for each request's outcome.
//!
//! Responses on backend routes and the `/.well-known/` documents to an allowed `Origin` carry
//! CORS headers (`cors`). Every answer smcp gives itself comes from `reply`, so errors look the
//! same everywhere.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, header};
use hyper::body::Incoming;
use smcp_transport::body::{self, Body, ReadError};
use smcp_transport::http::ClientAddr;
use smcp_transport::mcp_headers;
use smcp_transport::reply::ProxyError;
use smcp_transport::request_body::{Envelope, RequestBody};

use super::app::App;
use super::audit::Exchange;
use super::backend::{BackendEntry, Routed};
use super::observe::{NO_BACKEND, RequestObservation};
use super::origin::OriginVerdict;
use super::seam::AtSeam;
use super::{admission, auth, cors, ops, policy, reply, wellknown};

/// What the listener knows about the connection a request came in on.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) remote: SocketAddr,
    /// The remote IP address, printed once for the access log and `X-Forwarded-For`.
    pub(crate) client: ClientAddr,
    pub(crate) scheme: &'static str,
}

impl Connection {
    /// A connection from `remote`, over `https` when `tls` is set.
    pub(crate) fn new(remote: SocketAddr, tls: bool) -> Self {
        Self {
            remote,
            client: ClientAddr::new(remote.ip()),
            scheme: if tls { "https" } else { "http" },
        }
    }
}

const REQUEST_ID: &str = "x-request-id";
/// The one operations endpoint that needs a token when oidc is on (it lists the backends).
const MODELS_PATH: &str = "/api/models";

/// Answers one request. Never fails: every error becomes a response.
pub(crate) async fn handle(
    app: Arc<App>,
    connection: Connection,
    request: Request<Incoming>,
) -> Response<Body> {
    let request_id = request_id(&request);
    let observation = RequestObservation::start(
        &app.in_flight,
        request_id.clone(),
        request.method().clone(),
        request.uri().path(),
        connection.client.clone(),
    );
    let (backend, mut response) = route_and_call(&app, &connection, request, &request_id).await;
    let metrics = backend
        .as_deref()
        .map_or(&app.unrouted_metrics, |entry| &entry.metrics);
    observation.finish(metrics, response.status());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Returns the backend that was routed to, if any, and the response.
async fn route_and_call(
    app: &App,
    connection: &Connection,
    request: Request<Incoming>,
    request_id: &str,
) -> (Option<Arc<BackendEntry>>, Response<Body>) {
    // Before anything reads the path or a header: one rule for every path, one value for
    // every header that decides something.
    if let Err(refused) = admission::check(&request) {
        reject(refused.reason());
        return (None, refused.response());
    }
    // Then the host the client named must be one this server answers for (DNS rebinding).
    if let Some(response) = app.host_policy().refusal(&request, connection.scheme) {
        return (None, response);
    }
    // The origin policy, evaluated once: what CORS answers may name, and whether admission
    // refuses the request.
    let origin = app.origin_policy().judge(request.headers());
    if wellknown::serves(app, request.uri().path()) {
        if cors::is_preflight(&request) {
            return (None, preflight(&origin, &request, NO_BACKEND));
        }
        if let Some(mut response) = wellknown::answer(app, &request, connection.scheme) {
            if let Some(origin) = origin.allowed() {
                cors::decorate(&mut response, origin);
            }
            return (None, response);
        }
    }
    if request.uri().path() == MODELS_PATH
        && let Err(response) =
            auth::authorize_listing(app.auth(), &request, connection.scheme).await
    {
        reject("auth");
        return (None, response);
    }
    if let Some(response) = ops::answer(app, &request) {
        return (None, response);
    }
    let path_and_query = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    let Some(route) = app.routes().lookup(&path_and_query) else {
        reject("no_route");
        return (None, reply::error(&ProxyError::NoRoute));
    };
    let entry = Arc::clone(route.value());
    if cors::is_preflight(&request) {
        // Answered here, before auth: browsers send preflights without credentials.
        let response = preflight(&origin, &request, &entry.id);
        return (Some(entry), response);
    }
    let target = Routed {
        forward_path: route.forward_path(entry.strip_path).into_owned(),
        sub_path: route.stripped_path().to_owned(),
        query: route.query().map(str::to_owned),
    };
    if origin == OriginVerdict::Refused {
        return (
            Some(Arc::clone(&entry)),
            origin_refused(&request, &entry.id),
        );
    }
    let mut response = admit_and_call(app, connection, request, &entry, target, request_id).await;
    if let Some(origin) = origin.allowed() {
        cors::decorate(&mut response, origin);
    }
    (Some(entry), response)
}

/// The answer to a CORS preflight: 204 for an allowed `Origin`, else 403.
fn preflight<B>(origin: &OriginVerdict, request: &Request<B>, backend: &str) -> Response<Body> {
    match origin.allowed() {
        Some(origin) => cors::preflight(origin),
        None => origin_refused(request, backend),
    }
}

/// 403 for a request whose `Origin` the policy refuses.
fn origin_refused<B>(request: &Request<B>, backend: &str) -> Response<Body> {
    reject("origin");
    tracing::warn!(backend = %backend, origin = ?request.headers().get(header::ORIGIN), "refused a request from a disallowed Origin");
    reply::error(&ProxyError::OriginRefused)
}

/// Stages 4 to 6 for a routed request: admission, auth, the body, then the backend call.
async fn admit_and_call(
    app: &App,
    connection: &Connection,
    request: Request<Incoming>,
    entry: &BackendEntry,
    target: Routed,
    request_id: &str,
) -> Response<Body> {
    // While draining, work already under way (a request within a session) is served; what
    // would start new work goes to another replica.
    if app.is_draining() && !continues_a_session(&request, target.query.as_deref()) {
        reject("draining");
        return reply::error(&ProxyError::Draining);
    }
    let caller = match auth::authorize(
        entry.auth.as_ref(),
        &request,
        connection.scheme,
        &entry.path,
        &entry.id,
    )
    .await
    {
        Ok(caller) => caller,
        Err(response) => {
            reject("auth");
            if let Some(trail) = app.audit() {
                let headers = request.headers();
                let status = response.status();
                trail.auth_refused(request_id, &entry.id, headers, &connection.client, status);
            }
            return response;
        }
    };
    // The body, read once and within the backend's limit, for every backend kind: a declared
    // length over it is refused before anything is read, a chunked body as soon as it crosses.
    let limit = entry.backend.max_request_body();
    if declared_length(&request).is_some_and(|length| length > limit) {
        reject("body_too_large");
        return reply::error(&ProxyError::PayloadTooLarge { limit: Some(limit) });
    }
    let (head, body) = request.into_parts();
    let body = match RequestBody::read(body::boxed(body), limit).await {
        Ok(body) => body,
        Err(error) => {
            reject(match error {
                ReadError::TooLarge => "body_too_large",
                ReadError::Failed => "body_unreadable",
            });
            return reply::error(&ProxyError::body_read(error, limit));
        }
    };

    // The seam for MCP-aware stages: the caller is known, nothing has reached a backend yet,
    // and `body.envelope()` is the parsed JSON-RPC message (or batch) whichever kind of
    // backend the route leads to. The audit opens the request's record; the per-tool policy
    // and the rate limits decide (and fill in the record's decisions).
    // Scoped: what borrows the body is gone before the call awaits (a body is not `Sync`).
    let stages = {
        let at_seam = AtSeam {
            request_id,
            entry,
            head: &head,
            query: target.query.as_deref(),
            scheme: connection.scheme,
            body: &body,
            caller: &caller,
            client: &connection.client,
        };
        mcp_stages(app, &at_seam)
    };
    let (audit, list_filter) = match stages {
        Stages::Forward { audit, list_filter } => (audit, list_filter),
        Stages::Refused(refusal) => return refusal,
    };

    let response = entry
        .call(Request::from_parts(head, body), target, connection, caller)
        .await;
    let response = match list_filter {
        Some(filter) => filter.apply(response).await,
        None => response,
    };
    // Watched after the filter: the record says what the caller was given.
    match audit {
        Some(audit) => audit.watch(response),
        None => response,
    }
}

/// What the MCP-aware stages made of a request.
enum Stages {
    /// Answer with this (already recorded) instead of calling the backend.
    Refused(Response<Body>),
    /// Call the backend; pass its reply through the list filter, then the audit's watcher.
    Forward {
        audit: Option<Exchange>,
        list_filter: Option<policy::ListFilter>,
    },
}

/// The MCP-aware stages at the seam: the audit opens the request's record, the backend's
/// policy and rate limits decide (filling in the record's decisions).
fn mcp_stages(app: &App, request: &AtSeam<'_>) -> Stages {
    let mut audit = app.audit().map(|trail| trail.exchange(request));
    // 2026-07-28's Mcp-Method / Mcp-Name must say what the body says: whatever decides by the
    // header (this policy is by the body; a balancer or WAF may not be) sees the same call.
    if let Err(mismatch) = mcp_headers::check(&request.head.headers, request.body) {
        reject("header_mismatch");
        tracing::info!(backend = %request.entry.id, %mismatch, "refused a request whose Mcp-Method or Mcp-Name does not match its body");
        let error = ProxyError::InvalidMessage {
            code: smcp_transport::jsonrpc::INVALID_REQUEST,
            message: mismatch.to_string(),
        };
        let id = match request.body.envelope() {
            Envelope::One(message) => message.id(),
            Envelope::Batch(_) | Envelope::Invalid(_) => None,
        };
        if let Some(mut audit) = audit {
            audit.decide(0, "header_mismatch", None);
            audit.refused(&error);
        }
        return Stages::Refused(error.respond(id));
    }
    // A list request's reply is filtered to what the caller may use or step up to.
    let list_filter = match &request.entry.policy {
        None => None,
        // A stream: legacy SSE replies (to lists POSTed elsewhere) arrive on it.
        Some(policy) if request.head.method == http::Method::GET => {
            Some(policy::ListFilter::for_stream(policy, request.caller))
        }
        Some(policy) => match policy::admit(policy, request, audit.as_mut()) {
            policy::Verdict::Refuse(error, id) => {
                reject("policy");
                if let Some(audit) = audit {
                    audit.refused(&error);
                }
                return Stages::Refused(error.respond(id.as_ref()));
            }
            policy::Verdict::Forward(filter) => filter,
        },
    };
    Stages::Forward { audit, list_filter }
}

/// Whether a request names the MCP session it belongs to: an `Mcp-Session-Id` (Streamable
/// HTTP) or a legacy `sessionId`/`session_id` in the query (HTTP+SSE).
fn continues_a_session<B>(request: &Request<B>, query: Option<&str>) -> bool {
    request.headers().contains_key("mcp-session-id")
        || query.is_some_and(|query| {
            smcp_transport::http::legacy_session(query) != smcp_transport::http::LegacySession::None
        })
}

/// Counts a request refused before reaching a backend, by `reason`.
pub(super) fn reject(reason: &'static str) {
    metrics::counter!("smcp_rejected_requests_total", "reason" => reason).increment(1);
}

fn declared_length<B>(request: &Request<B>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The client's `X-Request-Id` when it is a sane token, else a fresh random one.
fn request_id<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map_or_else(random_request_id, str::to_owned)
}

/// 16 lowercase hex digits from a random `u64`.
fn random_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = rand::random::<u64>();
    let mut id = String::with_capacity(16);
    for _ in 0..16 {
        id.push(char::from(HEX[(bits >> 60) as usize]));
        bits <<= 4;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::random_request_id;

    #[test]
    fn random_request_ids_are_16_hex_digits() {
        let a = random_request_id();
        assert_eq!(a.len(), 16);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, random_request_id());
    }
}
