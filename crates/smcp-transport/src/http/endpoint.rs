//! Rewriting the `endpoint` event of legacy (2024-11-05) HTTP+SSE streams.
//!
//! A legacy MCP server opens its SSE stream with `event: endpoint` whose data is the URI the
//! client must POST its messages to, e.g. `/message?sessionId=abc`. That URI is in the
//! backend's path space. When the proxy strips a public prefix before forwarding, the client
//! must be sent the public form instead (`/v1/everything/message?sessionId=abc`), or its POSTs
//! would miss the route. Only relative URIs starting with `/` are rewritten: absolute URIs
//! (`http://host/...`) and protocol-relative ones (`//host/...`) name a place the backend
//! chose deliberately and are left alone.
//!
//! The same scan reports the session the endpoint URI names to an [`EndpointObserver`], so
//! the proxy can bind legacy sessions to their principal (see `observer`).

mod observer;
mod scanner;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use http_body::{Body as HttpBody, Frame};
use pin_project_lite::pin_project;

use self::observer::ObserverSlot;
pub use self::observer::{EndpointObserver, LegacySession, legacy_session};
use self::scanner::EndpointScanner;
use crate::body::BoxError;

/// How an endpoint URI maps from the backend's path space to the public one.
#[derive(Debug, Clone)]
pub(super) struct EndpointRewrite {
    /// The backend URL's base path, without a trailing `/` (so `/` becomes empty).
    base: String,
    /// The public prefix, without a trailing `/`.
    prefix: String,
}

impl EndpointRewrite {
    /// The mapping for a backend URL path `base_path` published under `public_prefix`.
    pub(super) fn new(base_path: &str, public_prefix: &str) -> Self {
        Self {
            base: base_path.trim_end_matches('/').to_owned(),
            prefix: public_prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// The public form of the endpoint URI `value`, or `None` to leave it as it is.
    ///
    /// The backend's base path is removed first when the URI lies under it (on a segment
    /// boundary), since the proxy adds it back when the client's POST is forwarded.
    pub(super) fn apply(&self, value: &[u8]) -> Option<Vec<u8>> {
        if value.first() != Some(&b'/') || value.get(1) == Some(&b'/') {
            return None;
        }
        let rest = match value.strip_prefix(self.base.as_bytes()) {
            Some(rest)
                if !self.base.is_empty()
                    && matches!(rest.first(), None | Some(b'/' | b'?' | b'#')) =>
            {
                rest
            }
            _ => value,
        };
        let mut out = Vec::with_capacity(self.prefix.len() + rest.len() + 1);
        out.extend_from_slice(self.prefix.as_bytes());
        if out.is_empty() && rest.first() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(rest);
        Some(out)
    }
}

/// True when `headers` say the body is an SSE stream.
pub(super) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("text/event-stream"))
}

pin_project! {
    /// An SSE response body whose endpoint events are rewritten on the fly (and reported to
    /// an observer).
    ///
    /// Frames come out as they go in: a chunk is held back only while it ends inside a line
    /// the scanner must see whole (see the `scanner` module).
    pub(super) struct EndpointBody<B> {
        #[pin]
        inner: B,
        scanner: EndpointScanner,
        // Trailers that arrived while bytes were still held: sent after those bytes.
        trailers: Option<Frame<Bytes>>,
        done: bool,
    }
}

impl<B> EndpointBody<B> {
    /// Wraps the SSE body `inner`, applying `rewrite` to its endpoint events and reporting
    /// them to `observer`. The observer hears of the stream's end when this body is dropped.
    pub(super) fn new(
        inner: B,
        rewrite: Option<EndpointRewrite>,
        observer: Option<Arc<dyn EndpointObserver>>,
    ) -> Self {
        Self {
            inner,
            scanner: EndpointScanner::new(rewrite, observer.map(ObserverSlot::new)),
            trailers: None,
            done: false,
        }
    }
}

impl<B> HttpBody for EndpointBody<B>
where
    B: HttpBody<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            if let Some(trailers) = this.trailers.take() {
                return Poll::Ready(Some(Ok(trailers)));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let out = this.scanner.feed(&data);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                        // Everything in this chunk is held: read on.
                    }
                    Err(trailers) => {
                        *this.done = true;
                        let rest = this.scanner.finish();
                        if rest.is_empty() {
                            return Poll::Ready(Some(Ok(trailers)));
                        }
                        *this.trailers = Some(trailers);
                        return Poll::Ready(Some(Ok(Frame::data(rest))));
                    }
                },
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    *this.done = true;
                    let rest = this.scanner.finish();
                    if !rest.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(rest))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::{EndpointRewrite, is_event_stream};

    #[test]
    fn rewrite_table() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            // (backend base path, public prefix, endpoint data, rewritten)
            (
                "/",
                "/v1/everything",
                "/message?sessionId=abc",
                Some("/v1/everything/message?sessionId=abc"),
            ),
            ("", "/v1/x/", "/message", Some("/v1/x/message")),
            (
                "/mcp",
                "/v1/x",
                "/mcp/message?s=1",
                Some("/v1/x/message?s=1"),
            ),
            ("/mcp/", "/v1/x", "/mcp/message", Some("/v1/x/message")),
            ("/mcp", "/v1/x", "/mcp?s=1", Some("/v1/x?s=1")),
            ("/mcp", "/v1/x", "/mcp", Some("/v1/x")),
            // Not under the base path on a segment boundary: only the prefix is added.
            ("/mcp", "/v1/x", "/mcpx/message", Some("/v1/x/mcpx/message")),
            ("/mcp", "/v1/x", "/message", Some("/v1/x/message")),
            // Public prefix "/" (strip_path on a root route).
            ("/api", "/", "/api/message", Some("/message")),
            ("/api", "/", "/api?s=1", Some("/?s=1")),
            // Absolute and protocol-relative URIs, and anything else, are left alone.
            ("/", "/v1/x", "http://h:1/message", None),
            ("/", "/v1/x", "//h/message", None),
            ("/", "/v1/x", "message", None),
            ("/", "/v1/x", "", None),
        ];
        for &(base, prefix, value, expected) in cases {
            let got = EndpointRewrite::new(base, prefix).apply(value.as_bytes());
            let got = got.map(|v| String::from_utf8(v).unwrap());
            assert_eq!(
                got.as_deref(),
                expected,
                "base {base:?} prefix {prefix:?} value {value:?}"
            );
        }
    }

    #[test]
    fn event_stream_detection() {
        let mut headers = http::HeaderMap::new();
        assert!(!is_event_stream(&headers));
        for (value, expected) in [
            ("text/event-stream", true),
            ("Text/Event-Stream; charset=utf-8", true),
            ("application/json", false),
            ("text/event-streamx", false),
        ] {
            headers.insert(http::header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_event_stream(&headers), expected, "{value}");
        }
    }
}
