//! smcp-client's own answers: JSON-RPC error bodies (MCP clients parse error bodies as
//! JSON-RPC) with the request's id when it is known, and the small ops responses.

use http::{HeaderValue, Response, StatusCode, header};
use smcp_transport::body::{self, Body};
use smcp_transport::jsonrpc::{self, RequestId};

use smcp_transport::reply as json_reply;

/// The JSON-RPC error code smcp uses for proxy-side failures.
pub(crate) const SERVER_ERROR: i64 = jsonrpc::SERVER_ERROR;

/// `status` with a JSON-RPC error body for request `id` (or `null`).
pub(crate) fn jsonrpc_error(
    status: StatusCode,
    id: Option<&RequestId>,
    message: &str,
) -> Response<Body> {
    json_reply::jsonrpc_error(status, id, SERVER_ERROR, message)
}

/// A 200 with a small body of `content_type`.
pub(crate) fn ok(content_type: &'static str, text: String) -> Response<Body> {
    let mut response = Response::new(body::full(text));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The id of a JSON-RPC request body, when the body is one (for error replies).
pub(crate) fn request_id(body: &[u8]) -> Option<RequestId> {
    let message = jsonrpc::parse(bytes::Bytes::copy_from_slice(body)).ok()?;
    message.id().cloned()
}
