//! Graceful shutdown of served connections, with the same shape as hyper-util's
//! `GracefulShutdown` (`new`, `watcher`, `shutdown`).
//!
//! hyper-util's watcher drives a connection itself, so nothing else can ask that connection to
//! close; ours only carries the signal, and `connection::serve` drives the connection, closing
//! it on shutdown *or* when it has been idle past the read timeout (HTTP/2 has no header
//! timeout of its own). Waiting for the connections is a `TaskTracker`: every watcher holds a
//! token, and `shutdown` returns once every token is dropped.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// The shutdown signal of a listener and the count of the connections it still serves.
#[derive(Default)]
pub(crate) struct GracefulShutdown {
    signal: CancellationToken,
    tracker: TaskTracker,
}

/// One connection's view of the shutdown signal; the connection counts as open until dropped.
pub(crate) struct Watcher {
    signal: CancellationToken,
    _open: TaskTrackerToken,
}

impl GracefulShutdown {
    /// No connection yet, no signal.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A watcher for one more connection.
    pub(crate) fn watcher(&self) -> Watcher {
        Watcher {
            signal: self.signal.clone(),
            _open: self.tracker.token(),
        }
    }

    /// Asks every connection to finish its in-flight requests and close, and waits until all
    /// have (bound it with a timeout: a stream may run for hours).
    pub(crate) async fn shutdown(self) {
        self.signal.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Watcher {
    /// Resolves once shutdown has begun.
    pub(crate) async fn signalled(&self) {
        self.signal.cancelled().await;
    }
}
