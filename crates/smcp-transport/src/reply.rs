//! The one builder of the JSON answers smcp gives itself: smcp-server's and smcp-client's
//! (through their `reply` modules) and this crate's stdio backends alike.
//!
//! Every such response has `Content-Type: application/json` and `Cache-Control: no-store` (an
//! error is about one request and must never be served from a cache); error bodies are
//! JSON-RPC (MCP clients parse error bodies as JSON-RPC), with the request's id when it is
//! known and `null` otherwise. Messages a backend sends are passed on as they are, never
//! through here.

use ::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;

use crate::body::{self, Body};
use crate::jsonrpc::{self, RequestId};

/// `status` with `bytes` as a JSON body.
pub fn json_bytes(status: StatusCode, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `status` with a JSON-RPC error body for request `id` (`null` when unknown).
pub fn jsonrpc_error(
    status: StatusCode,
    id: Option<&RequestId>,
    code: i64,
    message: &str,
) -> Response<Body> {
    json_bytes(status, jsonrpc::error_response(id, code, message))
}
