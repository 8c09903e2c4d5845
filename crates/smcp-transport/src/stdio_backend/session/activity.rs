//! What keeps a session from being idle: running requests, open streams, recent traffic.
//!
//! Guards count requests and open SSE bodies; dropping one (a request finishing, a client
//! closing its stream) refreshes the last-activity time, so the idle clock starts when the
//! session actually fell quiet.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

/// Activity counters of one session.
pub(crate) struct Activity {
    last: Mutex<Instant>,
    requests: AtomicUsize,
    streams: AtomicUsize,
}

impl Activity {
    /// Fresh counters, active as of now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            last: Mutex::new(Instant::now()),
            requests: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
        })
    }

    /// Records traffic now.
    pub(crate) fn touch(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// When the session went quiet, or `None` while a request runs or a stream is open.
    pub(crate) fn quiet_since(&self) -> Option<Instant> {
        if self.requests.load(Ordering::Acquire) > 0 || self.streams.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(*self.last.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Counts a running request until the guard drops.
    pub(crate) fn request(self: &Arc<Self>) -> ActivityGuard {
        ActivityGuard::new(self, Counter::Requests)
    }

    /// Counts an open SSE body until the guard drops.
    pub(crate) fn stream(self: &Arc<Self>) -> ActivityGuard {
        ActivityGuard::new(self, Counter::Streams)
    }

    fn counter(&self, which: Counter) -> &AtomicUsize {
        match which {
            Counter::Requests => &self.requests,
            Counter::Streams => &self.streams,
        }
    }
}

#[derive(Clone, Copy)]
enum Counter {
    Requests,
    Streams,
}

/// Holds one count of a request or stream; releasing it refreshes the activity time.
pub(crate) struct ActivityGuard {
    activity: Arc<Activity>,
    which: Counter,
}

impl ActivityGuard {
    fn new(activity: &Arc<Activity>, which: Counter) -> Self {
        activity.counter(which).fetch_add(1, Ordering::AcqRel);
        activity.touch();
        ActivityGuard {
            activity: activity.clone(),
            which,
        }
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        self.activity.touch();
        self.activity
            .counter(self.which)
            .fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn guards_hold_off_idleness_and_refresh_the_clock() {
        let activity = Activity::new();
        let start = activity.quiet_since().unwrap();
        let request = activity.request();
        let stream = activity.stream();
        assert_eq!(activity.quiet_since(), None);
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        drop(request);
        assert_eq!(activity.quiet_since(), None);
        drop(stream);
        assert_eq!(
            activity.quiet_since(),
            Some(start + std::time::Duration::from_secs(5))
        );
    }
}
