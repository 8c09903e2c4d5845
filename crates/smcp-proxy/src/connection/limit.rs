//! How many connections a listener keeps open at once (smcp-server's
//! `server.max_connections`, smcp-client's `--max-connections`), and what happens beyond.
//!
//! A connection accepted over the limit is closed at once and counted
//! (`smcp_connections_refused_total`), never queued: a blocked accept loop would leave the
//! backlog to the attacker. The limit is lowered at startup to three quarters of the process's
//! open-file limit, so that a flood of idle connections cannot use up the descriptors that
//! upstream connections, stdio children's pipes and `/health` itself need.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge};
use tokio::net::TcpStream;

/// At most one refusal warning per this long: a flood must not become a log flood.
const REFUSAL_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The connection metrics of a listener, resolved once.
pub(crate) struct ConnectionMetrics {
    /// `smcp_connections_open`.
    pub(crate) open: Gauge,
    /// `smcp_connections_refused_total`: closed at accept, over the limit.
    pub(crate) refused: Counter,
    /// `smcp_connections_timed_out_total`: closed for asking nothing within the read timeout.
    pub(crate) timed_out: Counter,
}

impl ConnectionMetrics {
    fn new() -> Self {
        Self {
            open: metrics::gauge!("smcp_connections_open"),
            refused: metrics::counter!("smcp_connections_refused_total"),
            timed_out: metrics::counter!("smcp_connections_timed_out_total"),
        }
    }
}

/// How many connections are open, and what to do beyond the limit. Owned by the accept loop.
pub(crate) struct ConnectionLimit {
    max: usize,
    /// The setting the limit comes from, for the refusal log line.
    setting: &'static str,
    open: Arc<AtomicUsize>,
    pub(crate) metrics: ConnectionMetrics,
    /// When the last refusal was logged, and how many were refused since without a line.
    last_warning: Option<tokio::time::Instant>,
    unlogged: u64,
}

impl ConnectionLimit {
    /// At most `max` connections (from `setting`, named in the log).
    pub(crate) fn new(max: usize, setting: &'static str) -> Self {
        Self {
            max,
            setting,
            open: Arc::new(AtomicUsize::new(0)),
            metrics: ConnectionMetrics::new(),
            last_warning: None,
            unlogged: 0,
        }
    }

    /// Whether one more connection may open.
    pub(crate) fn admits(&self) -> bool {
        self.open.load(Ordering::Acquire) < self.max
    }

    /// Counts one more connection open until the returned guard is dropped.
    pub(crate) fn open_one(&self) -> OpenConnection {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.metrics.open.increment(1.0);
        OpenConnection {
            open: Arc::clone(&self.open),
            gauge: self.metrics.open.clone(),
        }
    }

    /// Closes a connection accepted over the limit at once (never waits for a slot), counts
    /// it and logs it, at most once per [`REFUSAL_WARNING_INTERVAL`].
    pub(crate) fn refuse(&mut self, stream: TcpStream, remote: std::net::SocketAddr) {
        drop(stream);
        self.metrics.refused.increment(1);
        self.unlogged += 1;
        let now = tokio::time::Instant::now();
        if self
            .last_warning
            .is_some_and(|last| now.duration_since(last) < REFUSAL_WARNING_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            %remote,
            max_connections = self.max,
            refused = self.unlogged,
            "connection refused: {} connections are open (count since the last such line)",
            self.setting
        );
        self.last_warning = Some(now);
        self.unlogged = 0;
    }
}

/// Counts a connection as open (for the limit and the gauge) until dropped.
pub(crate) struct OpenConnection {
    open: Arc<AtomicUsize>,
    gauge: Gauge,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.gauge.decrement(1.0);
    }
}

/// `configured` (the value of `setting`), lowered to three quarters of this process's
/// open-file limit when that is smaller, with a warning: the rest stays for upstream
/// connections, stdio children's pipes, the listener and log files.
pub(crate) fn limit_to_open_files(configured: usize, setting: &str) -> usize {
    lowered_for(configured, open_file_limit(), setting)
}

/// The soft open-file limit of this process, if it can be read.
fn open_file_limit() -> Option<u64> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _hard)| soft)
}

fn lowered_for(configured: usize, open_files: Option<u64>, setting: &str) -> usize {
    let Some(open_files) = open_files else {
        return configured;
    };
    let room = usize::try_from(open_files / 4 * 3)
        .unwrap_or(usize::MAX)
        .max(1);
    if configured <= room {
        return configured;
    }
    tracing::warn!(
        max_connections = configured,
        open_file_limit = open_files,
        using = room,
        "{setting} is above what the open-file limit leaves; lowered (raise `ulimit -n` to allow more)"
    );
    room
}

#[cfg(test)]
mod tests {
    use super::lowered_for;

    #[test]
    fn the_connection_limit_leaves_a_quarter_of_the_open_files() {
        let lowered = |configured, open_files| lowered_for(configured, open_files, "max");
        assert_eq!(lowered(10_000, Some(1_048_576)), 10_000);
        assert_eq!(lowered(10_000, Some(1024)), 768);
        assert_eq!(lowered(10_000, Some(200)), 150);
        assert_eq!(lowered(100, Some(200)), 100);
        assert_eq!(lowered(10_000, None), 10_000);
        assert_eq!(lowered(10_000, Some(1)), 1);
    }
}
