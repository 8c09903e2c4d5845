//! The one body type that flows through smcp.
//!
//! Every request and response body, whatever its source (a client connection, a backend
//! connection, a child's stdout, a canned error), is boxed into [`Body`] so that the layers of
//! the proxy can pass it along without knowing where it came from. Bodies are streamed: nothing
//! here buffers.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

/// A boxed, thread-safe error, as carried by streaming bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed HTTP body of [`Bytes`] chunks.
///
/// `Send` but not `Sync`: hyper's incoming bodies and most streams are not `Sync`, and nothing
/// in smcp shares a body between threads.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body with nothing in it.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body holding exactly `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Box any body whose errors convert into [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}
