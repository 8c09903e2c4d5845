//! Canned responses: the one place where smcp-server's own answers are built.
//!
//! Everything smcp-server says itself (as opposed to passing on a backend's answer) goes
//! through here, so that every error has the same shape: the right status, a JSON-RPC error
//! body with `id: null` (MCP clients parse error bodies as JSON-RPC), `Cache-Control: no-store`,
//! and nothing internal (no paths, no addresses, no upstream error text).

use http::{HeaderValue, Response, StatusCode, header};
use smcp_transport::body::{self, Body};

use smcp_transport::reply as json_reply;

/// JSON-RPC "invalid request", used for requests smcp refuses to pass on.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// Implementation-defined server error, used for unreachable or slow backends.
pub(crate) const SERVER_ERROR: i64 = -32000;

/// A response with `status` and a JSON-RPC error body (`id: null`) carrying `message`.
pub(crate) fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response<Body> {
    json_reply::jsonrpc_error(status, None, code, message)
}

/// A response with `status` and `value` serialised as its JSON body.
pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    json_reply::json_bytes(status, bytes)
}

/// A plain-text response (used for `/metrics` and `/health`).
pub(crate) fn text_response(
    status: StatusCode,
    content_type: &'static str,
    text: String,
) -> Response<Body> {
    let mut response = Response::new(body::full(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// 404 for a path no backend or operations endpoint serves.
pub(crate) fn no_route() -> Response<Body> {
    jsonrpc_error(
        StatusCode::NOT_FOUND,
        INVALID_REQUEST,
        "no MCP backend is configured at this path",
    )
}

/// 405 with an `Allow` header.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = jsonrpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        INVALID_REQUEST,
        "method not allowed",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// 413 for a request body over the configured limit.
pub(crate) fn payload_too_large(limit: u64) -> Response<Body> {
    jsonrpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        INVALID_REQUEST,
        &format!("request body exceeds server.max_request_body ({limit} bytes)"),
    )
}

/// 503 with `Retry-After`, for a server that is shutting down or not ready.
pub(crate) fn unavailable(message: &str, retry_after_secs: u32) -> Response<Body> {
    let mut response = jsonrpc_error(StatusCode::SERVICE_UNAVAILABLE, SERVER_ERROR, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}
