//! Rewriting the `endpoint` event of legacy (2024-11-05) HTTP+SSE streams.
//!
//! A legacy MCP server opens its SSE stream with `event: endpoint` whose data is the URI the
//! client must POST its messages to, e.g. `/message?sessionId=abc`. That URI is in the
//! backend's path space. When the proxy strips a public prefix before forwarding, the client
//! must be sent the public form instead (`/v1/everything/message?sessionId=abc`), or its POSTs
//! would miss the route.
//!
//! The endpoint is also where a hostile backend could send the client, with its bearer token
//! for smcp, anywhere it likes. So every endpoint event of every SSE response is checked (see
//! [`EndpointPolicy`]): its URI is resolved the way a WHATWG URL parser (browsers, Node, Deno)
//! would, against the backend URL of the request, and must stay on the backend's own origin.
//! Relative references and same-origin absolute URLs are accepted and always sent on in one
//! normalised form, a path-absolute `/path?query` (dot segments resolved, the public prefix
//! put in front when routing stripped it), so no client, whatever its URL parser, can read it
//! as another host. Anything else, an absolute URL of another scheme, host or port, a
//! scheme-relative `//host`, backslash and whitespace tricks (`/\host`, ` //host`), an
//! unparsable or non-UTF-8 URI, an endpoint event whose data is too long, comes before its
//! `event:` line or spans several `data:` lines, ends the stream with an error before the
//! event can be dispatched (the head has long been sent: the client sees a broken stream), and
//! is logged and counted as `smcp_upstream_errors_total{kind="endpoint"}`.
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

/// Why an endpoint event was refused (the stream ends with this error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum EndpointRefused {
    /// The URI resolves to another scheme, host or port than the backend's.
    #[error("the backend's SSE endpoint event names another origin")]
    ForeignOrigin,
    /// Not UTF-8, not a URL a client could resolve, or a path starting with `//`.
    #[error("the backend's SSE endpoint event is not a valid URI reference")]
    Invalid,
    /// Data before the `event: endpoint` line, or more than one data line.
    #[error(
        "the backend's SSE endpoint event is malformed (data before its event line, or several data lines)"
    )]
    Malformed,
    /// A data line longer than the scanner holds.
    #[error("the backend's SSE endpoint event is longer than {0} bytes")]
    TooLong(usize),
}

/// What an endpoint URI may be and how it is sent on: resolved against the request's backend
/// URL, kept only on the backend's origin, and emitted path-absolute in the public path space.
#[derive(Debug, Clone)]
pub(super) struct EndpointPolicy {
    /// The backend URL of the request that opened the stream.
    base: url::Url,
    rewrite: Option<EndpointRewrite>,
}

impl EndpointPolicy {
    /// Endpoint URIs are resolved against `base` (the URL the stream was requested from) and
    /// put into the public path space by `rewrite` when routing stripped a prefix.
    pub(super) fn new(base: url::Url, rewrite: Option<EndpointRewrite>) -> Self {
        Self { base, rewrite }
    }

    /// The form of endpoint URI `value` to send to the client, or why it is refused.
    pub(super) fn public_form(&self, value: &[u8]) -> Result<Vec<u8>, EndpointRefused> {
        let text = std::str::from_utf8(value).map_err(|_| EndpointRefused::Invalid)?;
        // `join` follows the WHATWG rules: leading and trailing C0 controls and spaces and
        // inner tabs and newlines are dropped, `\` is a `/` for http(s): what the clients do.
        let resolved = self.base.join(text).map_err(|_| EndpointRefused::Invalid)?;
        if resolved.origin() != self.base.origin() {
            return Err(EndpointRefused::ForeignOrigin);
        }
        let path = resolved.path();
        if !path.starts_with('/') || path.starts_with("//") {
            // `//x` would be scheme-relative once the scheme and host are gone.
            return Err(EndpointRefused::Invalid);
        }
        let mut target =
            String::with_capacity(path.len() + 1 + resolved.query().map_or(0, str::len));
        target.push_str(path);
        if let Some(query) = resolved.query() {
            target.push('?');
            target.push_str(query);
        }
        let public = self
            .rewrite
            .as_ref()
            .and_then(|rewrite| rewrite.apply(target.as_bytes()));
        Ok(public.unwrap_or_else(|| target.into_bytes()))
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
        backend: Arc<str>,
        scanner: EndpointScanner,
        // Trailers that arrived while bytes were still held: sent after those bytes.
        trailers: Option<Frame<Bytes>>,
        done: bool,
    }
}

impl<B> EndpointBody<B> {
    /// Wraps the SSE body `inner` of `backend`, checking and rewriting its endpoint events by
    /// `policy` and reporting them to `observer`. The observer hears of the stream's end when
    /// this body is dropped.
    pub(super) fn new(
        inner: B,
        backend: Arc<str>,
        policy: EndpointPolicy,
        observer: Option<Arc<dyn EndpointObserver>>,
    ) -> Self {
        Self {
            inner,
            backend,
            scanner: EndpointScanner::new(policy, observer.map(ObserverSlot::new)),
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
            let refused = |done: &mut bool, backend: &Arc<str>, e: EndpointRefused| {
                *done = true;
                super::record_error(backend, "endpoint", &e);
                Poll::Ready(Some(Err(BoxError::from(e))))
            };
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => match this.scanner.feed(&data) {
                        Ok(out) if !out.is_empty() => {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                        // Everything in this chunk is held: read on.
                        Ok(_) => {}
                        Err(e) => return refused(this.done, this.backend, e),
                    },
                    Err(trailers) => {
                        *this.done = true;
                        let rest = match this.scanner.finish() {
                            Ok(rest) => rest,
                            Err(e) => return refused(this.done, this.backend, e),
                        };
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
                    match this.scanner.finish() {
                        Ok(rest) if !rest.is_empty() => {
                            return Poll::Ready(Some(Ok(Frame::data(rest))));
                        }
                        Ok(_) => {}
                        Err(e) => return refused(this.done, this.backend, e),
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
