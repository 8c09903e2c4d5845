//! smcp-server's own answers: errors through [`error`] (decided by
//! [`smcp_transport::reply::ProxyError::respond`], with `id: null`), JSON documents and the
//! plain-text operations responses. Nothing internal is ever said (no paths, no addresses, no
//! upstream error text).

use http::{HeaderValue, Response, StatusCode, header};
use smcp_transport::body::{self, Body};

use smcp_transport::reply::{self as json_reply, ProxyError};

/// The answer to an error smcp-server raises itself: decided by
/// [`ProxyError::respond`], the one place for every error smcp answers.
pub(crate) fn error(error: &ProxyError) -> Response<Body> {
    error.respond(None)
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
