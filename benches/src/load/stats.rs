//! Per-worker counters and latency histograms, and the merged [`Report`] printed as one JSON
//! line per run.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Why a call failed, as counted in the report.
#[derive(Debug, Clone)]
pub struct CallError {
    /// A short, stable kind (`status_503`, `timeout`, `transport`, `rpc_error`, ...).
    pub kind: String,
    /// Details of one occurrence, for the report's sample.
    pub detail: String,
}

impl CallError {
    /// An error of `kind` with `detail`.
    pub fn new(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        CallError {
            kind: kind.into(),
            detail: detail.into(),
        }
    }
}

/// What one worker saw in the measured window.
pub struct WorkerStats {
    /// Latencies of successful calls, in nanoseconds.
    pub histogram: Histogram<u64>,
    /// Failed calls by kind.
    pub errors: BTreeMap<String, u64>,
    /// The first failure seen.
    pub error_sample: Option<String>,
}

impl WorkerStats {
    /// Empty counters (latencies from 1 ns to 100 s, 3 significant digits).
    pub fn new() -> Self {
        let histogram = match Histogram::new_with_bounds(1, 100_000_000_000, 3) {
            Ok(h) => h,
            Err(err) => unreachable!("constant histogram bounds are valid: {err}"),
        };
        WorkerStats {
            histogram,
            errors: BTreeMap::new(),
            error_sample: None,
        }
    }

    /// Records a successful call of `nanos`.
    pub fn ok(&mut self, nanos: u64) {
        self.histogram.saturating_record(nanos.max(1));
    }

    /// Records a failed call.
    pub fn error(&mut self, error: &CallError) {
        *self.errors.entry(error.kind.clone()).or_default() += 1;
        if self.error_sample.is_none() {
            self.error_sample = Some(format!("{}: {}", error.kind, error.detail));
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: WorkerStats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        if self.error_sample.is_none() {
            self.error_sample = other.error_sample;
        }
    }
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats::new()
    }
}

/// One run's result: one JSON line of `smcp-load`'s output, read back by `bench-report`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// The run's name.
    pub label: String,
    /// `http` or `raw-stdio`.
    pub mode: String,
    /// The URL, or the command of raw-stdio.
    pub target: String,
    /// Sessions opened.
    pub sessions: usize,
    /// Calls in flight per session.
    pub concurrency: usize,
    /// The fixed offered load in calls/s, when the run was paced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Measured window, seconds.
    pub duration_s: f64,
    /// Time to open every session (connect, initialize, initialized), seconds.
    pub setup_s: f64,
    /// Successful calls sent in the window.
    pub calls: u64,
    /// Failed calls sent in the window.
    pub errors: u64,
    /// Failed calls by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// One failure's details.
    pub error_sample: Option<String>,
    /// Successful calls per second of the window.
    pub calls_per_s: f64,
    /// Latency percentiles of successful calls, microseconds.
    pub p50_us: f64,
    /// 90th percentile, microseconds.
    pub p90_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// Largest latency, microseconds.
    pub max_us: f64,
    /// Mean latency, microseconds.
    pub mean_us: f64,
    /// CPU time of the load generator itself in the window, seconds.
    pub client_cpu_s: f64,
    /// The measured processes (figures below are summed over them).
    #[serde(default)]
    pub pids: Vec<u32>,
    /// Its resident set before the sessions were opened, KiB.
    pub rss_before_kb: Option<u64>,
    /// Its resident set with every connection open (each used once) and no session yet, KiB.
    #[serde(default)]
    pub rss_conns_kb: Option<u64>,
    /// (`rss_conns_kb` - `rss_before_kb`) / connections: what one keep-alive client connection
    /// costs, KiB.
    #[serde(default)]
    pub per_connection_kb: Option<f64>,
    /// Its resident set with every session open and no call yet, KiB.
    pub rss_open_kb: Option<u64>,
    /// Its resident set at the end of the window, KiB.
    pub rss_end_kb: Option<u64>,
    /// Its peak resident set over its life (`VmHWM`), KiB.
    pub rss_peak_kb: Option<u64>,
    /// The anonymous part of its resident set at the end of the window (`RssAnon`), KiB.
    #[serde(default)]
    pub rss_anon_end_kb: Option<u64>,
    /// The peak of the anonymous part (its private memory: heap, stacks) from the start of the
    /// warm-up to the end of the window, sampled every 20 ms, KiB. The rest of the resident set
    /// is the executable's and libraries' file pages, shared and evictable.
    #[serde(default)]
    pub rss_anon_peak_kb: Option<u64>,
    /// (`rss_open_kb` - `rss_conns_kb`) / sessions: what one more idle session costs beyond its
    /// connections, KiB.
    pub per_session_kb: Option<f64>,
    /// Its own CPU time in the window (children excluded), seconds.
    pub cpu_s: Option<f64>,
    /// Its CPU time per successful call, microseconds.
    pub cpu_us_per_call: Option<f64>,
    /// Its live descendants at the end of the window.
    pub children: Option<usize>,
    /// Their summed resident sets, KiB.
    pub children_rss_kb: Option<u64>,
}

impl Report {
    /// Fills the call counts and latency figures from the merged worker stats.
    pub fn set_calls(&mut self, stats: &WorkerStats) {
        let h = &stats.histogram;
        let us = |nanos: u64| nanos as f64 / 1000.0;
        self.calls = h.len();
        self.errors = stats.errors.values().sum();
        self.errors_by_kind = stats.errors.clone();
        self.error_sample = stats.error_sample.clone();
        self.calls_per_s = if self.duration_s > 0.0 {
            self.calls as f64 / self.duration_s
        } else {
            0.0
        };
        if !h.is_empty() {
            self.p50_us = us(h.value_at_quantile(0.50));
            self.p90_us = us(h.value_at_quantile(0.90));
            self.p99_us = us(h.value_at_quantile(0.99));
            self.max_us = us(h.max());
            self.mean_us = h.mean() / 1000.0;
        }
    }
}
