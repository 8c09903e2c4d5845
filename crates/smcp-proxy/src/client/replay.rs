//! Keeping small request bodies so a request can be sent again after a token refresh.
//!
//! When the server answers `401`, smcp-client gets a new token and sends the same request
//! again. That needs the body twice, so bodies up to `--replay-body-limit` are read into memory
//! first (MCP messages are small: a JSON-RPC request is usually well under a kilobyte). A larger
//! body is streamed through as it comes, with whatever was already read put back in front, and
//! such a request is not replayed: its `401` goes back to the application.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body::{Body as _, Frame};
use http_body_util::{BodyExt, StreamBody};
use smcp_transport::body::{self, Body, BoxError};

/// A request body, kept whole when it was small enough.
pub(crate) enum RequestBody {
    /// The whole body; can be sent any number of times.
    Kept(Bytes),
    /// A body larger than the limit: sent once.
    Streaming(Body),
}

impl RequestBody {
    /// Reads `body` up to `limit` bytes. A read error is returned as is (the client's body
    /// failed before anything was sent).
    pub(crate) async fn read(mut body: Body, limit: usize) -> Result<RequestBody, BoxError> {
        if body.size_hint().lower() > limit as u64 {
            return Ok(RequestBody::Streaming(body));
        }
        let mut kept = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame?;
            let Ok(data) = frame.into_data() else {
                // Trailers: MCP never sends them; nothing to keep.
                continue;
            };
            if kept.len() + data.len() > limit {
                kept.extend_from_slice(&data);
                return Ok(RequestBody::Streaming(prepend(kept.freeze(), body)));
            }
            kept.extend_from_slice(&data);
        }
        Ok(RequestBody::Kept(kept.freeze()))
    }

    /// The kept bytes, when the body can be replayed.
    pub(crate) fn kept(&self) -> Option<&Bytes> {
        match self {
            RequestBody::Kept(bytes) => Some(bytes),
            RequestBody::Streaming(_) => None,
        }
    }

    /// A body to send: a copy of the kept bytes, or the stream itself (only once).
    pub(crate) fn take(&mut self) -> Body {
        match self {
            RequestBody::Kept(bytes) => body::full(bytes.clone()),
            RequestBody::Streaming(stream) => std::mem::replace(stream, body::empty()),
        }
    }
}

/// `first`, then the rest of `rest`.
fn prepend(first: Bytes, rest: Body) -> Body {
    let head = futures_util::stream::once(async move { Ok::<_, BoxError>(Frame::data(first)) });
    let tail = rest.into_data_stream().map(|chunk| chunk.map(Frame::data));
    body::boxed(StreamBody::new(head.chain(tail)))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use smcp_transport::body::{self, Body};

    use super::RequestBody;

    fn chunked(parts: &'static [&'static str]) -> Body {
        let stream = futures_util::stream::iter(parts.iter().map(|p| {
            Ok::<_, smcp_transport::body::BoxError>(http_body::Frame::data(Bytes::from_static(
                p.as_bytes(),
            )))
        }));
        body::boxed(http_body_util::StreamBody::new(stream))
    }

    #[tokio::test]
    async fn small_bodies_are_kept_and_large_ones_stream_whole() {
        let mut small = RequestBody::read(chunked(&["ab", "cd"]), 8).await.unwrap();
        assert_eq!(small.kept().map(|b| &b[..]), Some(&b"abcd"[..]));
        for _ in 0..2 {
            let sent = small.take().collect().await.unwrap().to_bytes();
            assert_eq!(&sent[..], b"abcd");
        }

        let mut large = RequestBody::read(chunked(&["abc", "def", "ghi"]), 4)
            .await
            .unwrap();
        assert!(large.kept().is_none());
        let sent = large.take().collect().await.unwrap().to_bytes();
        assert_eq!(&sent[..], b"abcdefghi");

        let mut known = RequestBody::read(body::full("0123456789"), 4)
            .await
            .unwrap();
        assert!(known.kept().is_none());
        assert_eq!(
            &known.take().collect().await.unwrap().to_bytes()[..],
            b"0123456789"
        );

        let empty = RequestBody::read(body::empty(), 0).await.unwrap();
        assert_eq!(empty.kept().map(Bytes::len), Some(0));
    }
}
