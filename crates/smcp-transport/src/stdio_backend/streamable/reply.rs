//! The HTTP responses both stdio transports answer with: a backend's messages as JSON or as
//! an event stream, and errors through the one error mapping ([`ProxyError::respond`]).

use std::time::Duration;

use ::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use ::http::{HeaderValue, Response, StatusCode};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::sse_body::SseBody;
use crate::body::{self, Body};
use crate::jsonrpc::RequestId;
use crate::reply::ProxyError;
use crate::stdio_backend::session::Sessions;
use crate::stdio_backend::session::activity::ActivityGuard;
use crate::stdio_backend::session::stream::SinkRx;

/// The answer to `error` for request `id` (or `null`): decided by [`ProxyError::respond`],
/// the one place for every error smcp answers.
pub(crate) fn error(id: Option<&RequestId>, error: &ProxyError) -> Response<Body> {
    error.respond(id)
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

/// 503 with `Retry-After` for a message the backend's input queue has no room for (the
/// child is not reading); logged and counted in `smcp_stdio_stdin_rejected_total`.
pub(crate) fn backend_busy(sessions: &Sessions, id: Option<&RequestId>) -> Response<Body> {
    let backend = &sessions.settings.backend;
    crate::stdio_backend::session::stdin_full(backend);
    tracing::warn!(
        backend = %backend,
        "the backend process is not reading its input and its queue is full: refused a message"
    );
    error(id, &ProxyError::BackendBusy)
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
