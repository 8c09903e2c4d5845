//! The request path of smcp-server, from a parsed request to a response head.
//!
//! Stages, in order (drawn in `docs/architecture.md`):
//! 1. observe: request id, in-flight gauge, one access-log line and the request metrics;
//! 2. protected-resource metadata (`/.well-known/*`, only with `auth.mode: oidc`) and the
//!    operations endpoints (`/health`, `/ready`, `/metrics`, `/api/models`), answered locally;
//!    with oidc, `/api/models` needs a bearer token first;
//! 3. route: the longest whole-segment prefix picks a backend, or 404;
//! 4. admission: draining (503), `Origin` (403);
//! 5. auth (protected backends only): bearer token validated for the backend's resource URL
//!    and rules, or 401/403/503 (`auth`); the caller becomes the session owner and, for HTTP
//!    backends, the identity headers;
//! 6. declared body size (413), then the backend call, with the body wrapped in a size limit.
//!
//! Every answer smcp gives itself comes from `reply`, so errors look the same everywhere.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use smcp_transport::body::{self, Body};

use super::app::App;
use super::backend::{CallContext, TransportKind};
use super::observe::{NO_BACKEND, RequestObservation};
use super::{auth, ops, reply, wellknown};

/// What the listener knows about the connection a request came in on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection {
    pub(crate) remote: SocketAddr,
    pub(crate) scheme: &'static str,
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
        request_id.clone(),
        request.method().clone(),
        request.uri().path(),
        connection.remote,
    );
    let (backend, mut response) = route_and_call(&app, connection, request).await;
    observation.finish(&backend, response.status());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Returns the backend label (empty when none matched) and the response.
async fn route_and_call(
    app: &App,
    connection: Connection,
    request: Request<Incoming>,
) -> (String, Response<Body>) {
    if let Some(response) = wellknown::answer(app, &request, connection.scheme) {
        return (NO_BACKEND.to_owned(), response);
    }
    if request.uri().path() == MODELS_PATH
        && let Err(response) =
            auth::authorize_listing(app.auth(), &request, connection.scheme).await
    {
        reject("auth");
        return (NO_BACKEND.to_owned(), response);
    }
    if let Some(response) = ops::answer(app, &request) {
        return (NO_BACKEND.to_owned(), response);
    }
    let path_and_query = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    if has_dot_segment(request.uri().path()) {
        // Routing matches raw paths; a backend that normalises `..` would serve a different
        // backend's path than the one routing and auth chose. Refuse instead of guessing.
        reject("dot_segment");
        let response = reply::jsonrpc_error(
            StatusCode::BAD_REQUEST,
            reply::INVALID_REQUEST,
            "paths with '.' or '..' segments are not accepted",
        );
        return (NO_BACKEND.to_owned(), response);
    }
    let Some(route) = app.routes().lookup(&path_and_query) else {
        reject("no_route");
        return (NO_BACKEND.to_owned(), reply::no_route());
    };
    let entry = Arc::clone(route.value());
    let label = entry.id.to_string();
    let forward_path = route.forward_path(entry.strip_path).into_owned();
    let sub_path = route.stripped_path().to_owned();
    let query = route.query().map(str::to_owned);

    if app.is_draining() {
        reject("draining");
        return (label, reply::unavailable("smcp-server is shutting down", 1));
    }
    if !app.origin_policy().permits(request.headers()) {
        reject("origin");
        tracing::warn!(backend = %entry.id, origin = ?request.headers().get(header::ORIGIN), "refused a request from a disallowed Origin");
        let response = reply::jsonrpc_error(
            StatusCode::FORBIDDEN,
            reply::INVALID_REQUEST,
            "Origin is not allowed",
        );
        return (label, response);
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
            return (label, response);
        }
    };
    let limit = app.max_request_body();
    if declared_length(&request).is_some_and(|length| length > limit) {
        reject("body_too_large");
        return (label, reply::payload_too_large(limit));
    }

    let host = request.headers().get(header::HOST).cloned().or_else(|| {
        request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let context = CallContext {
        remote: connection.remote,
        scheme: connection.scheme,
        host,
        owner: caller.owner,
        set_headers: caller.set_headers,
    };
    let (parts, incoming) = request.into_parts();
    let request_body = match entry.kind() {
        // A stdio message is one JSON-RPC object: read it whole (bounded) so an oversize body
        // gets a clean 413 instead of a half-written line on the child's stdin.
        TransportKind::Stdio => match Limited::new(incoming, limit_usize(limit)).collect().await {
            Ok(collected) => body::full(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                reject("body_too_large");
                return (label, reply::payload_too_large(limit));
            }
            Err(error) => {
                tracing::debug!(%error, "client body failed while reading");
                let response = reply::jsonrpc_error(
                    StatusCode::BAD_REQUEST,
                    reply::INVALID_REQUEST,
                    "the request body could not be read",
                );
                return (label, response);
            }
        },
        // HTTP backends get the body streamed, still bounded.
        TransportKind::Http => body::boxed(Limited::new(incoming, limit_usize(limit))),
    };
    let request = Request::from_parts(parts, request_body);
    let response = entry
        .call(request, forward_path, sub_path, query, context)
        .await;
    (label, response)
}

/// Whether `path` has a `.` or `..` segment, also percent-encoded (`%2e`, `.%2E`, ...).
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let lower = segment.to_ascii_lowercase();
        let decoded = lower.replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

fn reject(reason: &'static str) {
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

fn limit_usize(limit: u64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
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
        .map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments() {
        for path in [
            "/v1/a/../b",
            "/v1/./a",
            "/..",
            "/v1/%2e%2e/x",
            "/v1/.%2E/x",
            "/v1/%2E",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/",
            "/v1/memory",
            "/v1/a.b/c",
            "/v1/...",
            "/v1/.well",
            "/v1/%2e%2e%2e",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }
}
