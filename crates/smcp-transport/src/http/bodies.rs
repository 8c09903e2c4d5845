//! Thin wrappers around the bodies that cross the backend, in both directions.
//!
//! They add no buffering: each frame goes through as it comes. The request wrapper remembers
//! why the client's body failed, so a failed forward can be blamed on the client (400/413)
//! rather than on the backend; the response wrapper logs and counts a backend stream that
//! breaks after its headers were already passed on, which `forward` can no longer report, and
//! gives a pooled connection back as soon as its response has been read to the end.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::error::BodyFailure;
use super::pool::Lease;
use crate::body::{Body, BoxError};

pin_project! {
    /// The client's request body on its way upstream.
    pub(super) struct RequestBody {
        #[pin]
        inner: Body,
        failure: Arc<OnceLock<BodyFailure>>,
    }
}

impl RequestBody {
    /// Wraps `inner`; the returned cell is filled if it fails.
    pub(super) fn new(inner: Body) -> (Self, Arc<OnceLock<BodyFailure>>) {
        let failure = Arc::new(OnceLock::new());
        let body = Self {
            inner,
            failure: Arc::clone(&failure),
        };
        (body, failure)
    }
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = ready!(this.inner.poll_frame(cx));
        if let Some(Err(e)) = &polled {
            let _ = this.failure.set(BodyFailure {
                detail: e.to_string(),
                too_large: e.is::<http_body_util::LengthLimitError>(),
            });
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The backend's response body on its way to the client.
    pub(super) struct ResponseBody<B> {
        #[pin]
        inner: B,
        backend: Arc<str>,
        // The connection the body comes from, released when the body has been read to its end.
        lease: Option<Lease>,
    }
}

impl<B: HttpBody> ResponseBody<B> {
    /// Wraps `inner`, a response body from `backend` read from the connection of `lease`.
    pub(super) fn new(inner: B, backend: Arc<str>, mut lease: Option<Lease>) -> Self {
        // A body that is empty from the start (204, HEAD, `Content-Length: 0`) may never be
        // polled: the connection is free now.
        if inner.is_end_stream()
            && let Some(lease) = &mut lease
        {
            lease.release();
        }
        Self {
            inner,
            backend,
            lease,
        }
    }
}

impl<B> HttpBody for ResponseBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        match polled {
            Some(Err(e)) => {
                let e: BoxError = e.into();
                super::record_error(this.backend, "body", &e);
                Poll::Ready(Some(Err(e)))
            }
            other => {
                // The last frame, or the end: the connection can take the next request. The
                // caller may stop polling after a frame that ends the body, so check here.
                if (other.is_none() || this.inner.is_end_stream())
                    && let Some(lease) = this.lease
                {
                    lease.release();
                }
                Poll::Ready(other.map(|r| r.map_err(Into::into)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
