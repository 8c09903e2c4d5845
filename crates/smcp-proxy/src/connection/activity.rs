//! What an HTTP/2 (or auto-detected) connection is doing, for its idle timeout.
//!
//! hyper bounds an HTTP/1.1 connection's wait for request headers, also between keep-alive
//! requests, but nothing bounds an HTTP/2 connection: one that sends half the preface, or
//! the preface and then nothing, or that stays open with no stream, would be held forever.
//! [`Activity`] counts the requests of one connection that are not finished yet (from the
//! service call until the response body is dropped, which hyper does when the stream ends or
//! is reset) and remembers when the count last fell to zero; [`Activity::idle_expired`]
//! resolves once the connection has had no open request for the whole timeout.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use smcp_transport::body::{Body, BoxError};
use tokio::time::Instant;

/// The open requests of one connection and when it last became idle.
pub(crate) struct Activity {
    /// Requests whose response body has not been dropped yet.
    open: AtomicUsize,
    /// Whether any request arrived at all.
    served: AtomicBool,
    /// When `open` last fell to zero (or the connection was accepted), in nanoseconds after
    /// `base`.
    idle_since: AtomicU64,
    base: Instant,
}

impl Activity {
    /// A connection accepted now: idle, nothing served.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            base: Instant::now(),
        })
    }

    /// Counts a request in; it counts out when the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> RequestGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Relaxed);
        RequestGuard(Arc::clone(self))
    }

    /// Whether any request arrived on this connection.
    pub(crate) fn served_any(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Resolves once no request has been open for `timeout`. While requests are open it only
    /// wakes once per `timeout` to look again: streams may legitimately run for hours.
    pub(crate) async fn idle_expired(&self, timeout: Duration) {
        loop {
            if self.open.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(timeout).await;
                continue;
            }
            let since = Duration::from_nanos(self.idle_since.load(Ordering::Acquire));
            let deadline = self.base + since + timeout;
            if Instant::now() >= deadline {
                // Looked at again: a request may have arrived and ended while we slept.
                if self.open.load(Ordering::Acquire) == 0 {
                    return;
                }
                continue;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// One open request of a connection; dropped with the response body (or the request future).
pub(crate) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        // Stamp before counting out, so that a watchdog seeing zero never reads an old stamp.
        activity
            .idle_since
            .store(activity.now_nanos(), Ordering::Release);
        activity.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as open until the body is dropped.
pub(crate) struct TrackedBody {
    inner: Body,
    _guard: RequestGuard,
}

impl TrackedBody {
    /// `inner`, counted as open under `guard`.
    pub(crate) fn new(inner: Body, guard: RequestGuard) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // `Body` is `Unpin` (a box), and so is the guard.
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_expires_a_timeout_after_the_last_request_ends() {
        let timeout = Duration::from_secs(10);
        let activity = Activity::new();
        let started = Instant::now();
        activity.idle_expired(timeout).await;
        assert_eq!(started.elapsed(), timeout);
        assert!(!activity.served_any());

        let guard = activity.enter();
        assert!(activity.served_any());
        let watchdog = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move { activity.idle_expired(timeout).await })
        };
        // A request open for three timeouts keeps the connection.
        tokio::time::sleep(timeout * 3).await;
        assert!(!watchdog.is_finished());
        let ended = Instant::now();
        drop(guard);
        watchdog.await.unwrap();
        // Expired a full timeout after the request ended, give or take the wake-up period.
        assert!(ended.elapsed() >= timeout, "{:?}", ended.elapsed());
        assert!(ended.elapsed() <= timeout * 2, "{:?}", ended.elapsed());
    }
}
