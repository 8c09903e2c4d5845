//! JSON responses smcp builds itself, shared by smcp-server and smcp-client.
//!
//! Every such response has `Content-Type: application/json` and `Cache-Control: no-store`;
//! error bodies are JSON-RPC (MCP clients parse error bodies as JSON-RPC).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use smcp_transport::body::{self, Body};
use smcp_transport::jsonrpc::{self, RequestId};

/// `status` with `bytes` as a JSON body.
pub(crate) fn json_bytes(status: StatusCode, bytes: impl Into<Bytes>) -> Response<Body> {
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
pub(crate) fn jsonrpc_error(
    status: StatusCode,
    id: Option<&RequestId>,
    code: i64,
    message: &str,
) -> Response<Body> {
    json_bytes(status, jsonrpc::error_response(id, code, message))
}
