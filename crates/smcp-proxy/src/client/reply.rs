//! smcp-client's own answers: errors (decided by [`ProxyError::respond`], with the request's
//! id when it is known) and the small ops responses.

use http::{HeaderValue, Response, header};
use smcp_transport::body::{self, Body};
use smcp_transport::jsonrpc::{self, RequestId};

use smcp_transport::reply::ProxyError;

/// The answer to `error` for request `id` (or `null`).
pub(crate) fn error(id: Option<&RequestId>, error: &ProxyError) -> Response<Body> {
    error.respond(id)
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
