//! The HTTP responses both stdio transports answer with.

use std::time::Duration;

use ::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use ::http::{HeaderValue, Response, StatusCode};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::sse_body::SseBody;
use crate::body::{self, Body};
use crate::jsonrpc::{self, RequestId};
use crate::stdio_backend::session::Sessions;
use crate::stdio_backend::session::activity::ActivityGuard;
use crate::stdio_backend::session::stream::SinkRx;

/// How long a client is told to wait when the session limit is reached.
const RETRY_AFTER_SECS: &str = "5";

/// How long a client is told to wait when the backend is not reading its input.
const BUSY_RETRY_AFTER_SECS: &str = "1";

/// `status` with a JSON-RPC error body for `id` (or `null`), built by the crate's one
/// reply builder (`Cache-Control: no-store` included).
pub(crate) fn rpc_error(
    status: StatusCode,
    id: Option<&RequestId>,
    code: i64,
    message: &str,
) -> Response<Body> {
    crate::reply::jsonrpc_error(status, id, code, message)
}

/// `status` with a JSON body from the backend (passed on as it is).
pub(crate) fn json(status: StatusCode, bytes: Bytes) -> Response<Body> {
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `202 Accepted`, empty.
pub(crate) fn accepted() -> Response<Body> {
    status(StatusCode::ACCEPTED)
}

/// A bodiless response.
pub(crate) fn status(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    response
}

/// 413 for a request body over the backend's limit: says what it is (never a backend
/// failure).
pub(crate) fn payload_too_large(limit: u64) -> Response<Body> {
    rpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        jsonrpc::INVALID_REQUEST,
        &format!("Payload Too Large: the request body exceeds the limit of {limit} bytes"),
    )
}

/// 404 for a path that is not an endpoint.
pub(crate) fn not_found() -> Response<Body> {
    rpc_error(
        StatusCode::NOT_FOUND,
        None,
        jsonrpc::SERVER_ERROR,
        "Not Found: no MCP endpoint at this path",
    )
}

/// 404 for a session id that is unknown, ended, or someone else's (never told apart).
pub(crate) fn unknown_session(id: Option<&RequestId>) -> Response<Body> {
    rpc_error(
        StatusCode::NOT_FOUND,
        id,
        jsonrpc::SERVER_ERROR,
        "Session not found: it ended or never existed; start a new one with initialize",
    )
}

/// 405 listing the allowed methods.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = rpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        jsonrpc::SERVER_ERROR,
        "Method Not Allowed",
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// 406 when the client accepts none of the types the endpoint can answer with.
pub(crate) fn not_acceptable(needed: &str) -> Response<Body> {
    rpc_error(
        StatusCode::NOT_ACCEPTABLE,
        None,
        jsonrpc::SERVER_ERROR,
        &format!("Not Acceptable: the client must accept {needed}"),
    )
}

/// 503 when no session can be created: `Retry-After` when the limit is the reason.
pub(crate) fn unavailable(id: Option<&RequestId>, full: bool) -> Response<Body> {
    let message = if full {
        "Service Unavailable: too many sessions on this backend, retry later"
    } else {
        "Service Unavailable: the server is shutting down"
    };
    let mut response = rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        id,
        jsonrpc::SERVER_ERROR,
        message,
    );
    if full {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

/// 429 when the caller has `max_sessions_per_principal` sessions open and all of them are
/// busy: the limit is the caller's own, so the status says so (503 is for the backend being
/// full), with `Retry-After` since one of its requests will finish.
pub(crate) fn too_many_sessions(id: Option<&RequestId>) -> Response<Body> {
    let mut response = rpc_error(
        StatusCode::TOO_MANY_REQUESTS,
        id,
        jsonrpc::SERVER_ERROR,
        "Too Many Requests: this caller has too many busy sessions on this backend; end one (DELETE) or retry later",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    response
}

/// 503 with `Retry-After` for a message the backend's input queue has no room for (the
/// child is not reading); logged and counted in `smcp_stdio_stdin_rejected_total`.
pub(crate) fn backend_busy(sessions: &Sessions, id: Option<&RequestId>) -> Response<Body> {
    let backend = &sessions.settings.backend;
    crate::stdio_backend::session::stdin_full(backend);
    tracing::warn!(
        backend = %backend,
        "the backend process is not reading its input and its queue is full: refused a message"
    );
    let mut response = rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        id,
        jsonrpc::SERVER_ERROR,
        "Service Unavailable: the backend is not reading its input, retry later",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(BUSY_RETRY_AFTER_SECS));
    response
}

/// 200 `text/event-stream` streaming what `rx` receives (see [`SseBody`]).
pub(crate) fn event_stream(
    rx: SinkRx,
    keepalive: Duration,
    stop: Option<CancellationToken>,
    activity: Option<ActivityGuard>,
) -> Response<Body> {
    let mut response = Response::new(body::boxed(SseBody::new(rx, keepalive, stop, activity)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Ask buffering reverse proxies (nginx) in front of smcp to pass events through at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
