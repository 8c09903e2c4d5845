//! The one body type that flows through smcp.
//!
//! Every request and response body, whatever its source (a client connection, a backend
//! connection, a child's stdout, a canned error), is boxed into [`Body`] so that the layers of
//! the proxy can pass it along without knowing where it came from. Bodies are streamed; the one
//! place that buffers is [`read_bounded`], which reads a request body whole, up to a limit,
//! for the proxy's MCP stages and the backends that need the message at once.

use bytes::Bytes;
use bytes::BytesMut;
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

/// Why a body could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// More than the limit arrived (what came is dropped): answer 413.
    #[error("the body is larger than the limit")]
    TooLarge,
    /// The body failed before its end (the client went away, or sent a broken chunk).
    #[error("the body could not be read")]
    Failed,
}

/// The whole body, at most `limit` bytes of it, read frame by frame so that an oversize body is
/// refused as soon as it crosses the limit (a size-limit error of an inner
/// `http_body_util::Limited` counts as too large too). Trailers are ignored.
///
/// Most bodies arrive in one frame: that frame is returned as it is, without a copy; only a
/// second frame makes a buffer to join them in.
pub async fn read_bounded(mut body: Body, limit: u64) -> Result<Bytes, ReadError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) if is_over_limit(&*error) => return Err(ReadError::TooLarge),
            Err(_) => return Err(ReadError::Failed),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.len() > limit - len {
            return Err(ReadError::TooLarge);
        }
        len += data.len();
        match (&mut joined, first.take()) {
            (Some(joined), _) => joined.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(earlier)) => {
                let mut buffer = BytesMut::with_capacity(len);
                buffer.extend_from_slice(&earlier);
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
        }
    }
    Ok(match (joined, first) {
        (Some(joined), _) => joined.freeze(),
        (None, Some(first)) => first,
        (None, None) => Bytes::new(),
    })
}

/// Whether a body error is (or wraps) a body over a size limit.
fn is_over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{Full, Limited, StreamBody};

    use super::{Body, ReadError, boxed, read_bounded};

    fn chunked(chunks: &[&'static str]) -> Body {
        let frames: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(*chunk)))
            })
            .collect();
        boxed(StreamBody::new(futures_util::stream::iter(frames)))
    }

    #[tokio::test]
    async fn one_frame_is_kept_and_several_are_joined_in_order() {
        let one = read_bounded(chunked(&["{\"a\":1}"]), 100).await.unwrap();
        assert_eq!(one, Bytes::from_static(b"{\"a\":1}"));
        let three = read_bounded(chunked(&["{\"a\"", ":", "1}"]), 100)
            .await
            .unwrap();
        assert_eq!(three, Bytes::from_static(b"{\"a\":1}"));
        let none = read_bounded(chunked(&[]), 100).await.unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn frames_adding_up_past_the_limit_are_too_large() {
        let exact = read_bounded(chunked(&["12345", "67890"]), 10).await;
        assert!(exact.is_ok(), "exactly the limit passes");
        let over = read_bounded(chunked(&["12345", "67890", "x"]), 10).await;
        assert_eq!(over, Err(ReadError::TooLarge));
    }

    #[tokio::test]
    async fn an_inner_size_limit_is_too_large_and_a_broken_body_failed() {
        let limited = boxed(Limited::new(Full::new(Bytes::from(vec![b'x'; 64])), 16));
        assert_eq!(read_bounded(limited, 1000).await, Err(ReadError::TooLarge));
        let broken = boxed(StreamBody::new(futures_util::stream::iter(vec![Err::<
            http_body::Frame<Bytes>,
            std::io::Error,
        >(
            std::io::Error::other("client went away"),
        )])));
        assert_eq!(read_bounded(broken, 1000).await, Err(ReadError::Failed));
    }
}
