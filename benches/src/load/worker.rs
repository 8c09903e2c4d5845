//! The measuring loop every mode shares: call, time, record, until the window closes; and the
//! sampling of the target process around the window.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;

use tokio::time::Instant;

use super::stats::{CallError, Report, WorkerStats};
use crate::procfs;

/// The clock of one run: calls start at `start`, recording at `measure_from`, and no call is
/// sent at or after `end`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// When workers begin calling.
    pub start: Instant,
    /// When recording begins (after the warm-up).
    pub measure_from: Instant,
    /// When the window closes.
    pub end: Instant,
}

impl Schedule {
    /// A schedule starting now.
    pub fn starting_now(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now();
        Schedule {
            start,
            measure_from: start + warmup,
            end: start + warmup + duration,
        }
    }
}

/// Something that performs one call with a given JSON-RPC id.
pub(crate) trait Caller: Send + 'static {
    /// Sends one `tools/call` with `id` and waits for its reply.
    fn call(&mut self, id: u64) -> impl Future<Output = Result<(), CallError>> + Send;
}

/// When a paced worker sends: every `interval`, starting `offset` after the schedule's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) interval: Duration,
    pub(crate) offset: Duration,
}

impl Pace {
    /// The pace of worker `index` of `workers` sharing `rate` calls per second, spread evenly
    /// over one interval so that they do not all send at once; `None` without a rate.
    pub(crate) fn of_worker(rate: Option<f64>, index: usize, workers: usize) -> Option<Self> {
        let rate = rate.filter(|r| *r > 0.0)?;
        #[allow(clippy::cast_precision_loss)] // worker counts are small
        let interval = Duration::from_secs_f64(workers as f64 / rate);
        #[allow(clippy::cast_precision_loss)]
        let offset = interval.mul_f64(index as f64 / workers as f64);
        Some(Pace { interval, offset })
    }
}

/// Calls in a loop until the window closes; ids are `id_base + n`. Unpaced, each call is sent
/// as soon as the previous one is answered; paced, at the worker's next send time (at once when
/// behind it), so that the offered load stays fixed whatever the target's speed.
pub(crate) async fn run<C: Caller>(
    mut caller: C,
    schedule: Schedule,
    id_base: u64,
    pace: Option<Pace>,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut n = 0u64;
    loop {
        if let Some(pace) = pace {
            let due = schedule.start + pace.offset + pace.interval.mul_f64(n as f64);
            if due >= schedule.end {
                break;
            }
            tokio::time::sleep_until(due).await;
        }
        let sent = Instant::now();
        if sent >= schedule.end {
            break;
        }
        n += 1;
        let result = caller.call(id_base + n).await;
        if sent < schedule.measure_from {
            continue;
        }
        match result {
            Ok(()) => stats.ok(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX)),
            Err(error) => stats.error(&error),
        }
    }
    stats
}

/// Waits for every worker and merges their figures.
pub(crate) async fn merge(
    workers: Vec<tokio::task::JoinHandle<WorkerStats>>,
) -> anyhow::Result<WorkerStats> {
    let mut stats = WorkerStats::new();
    for worker in workers {
        stats.merge(worker.await.context("a worker task failed")?);
    }
    Ok(stats)
}

/// CPU times of the target and of the harness at the edges of the measured window.
pub(crate) async fn sample_cpu(pids: Vec<u32>, schedule: Schedule) -> (Option<f64>, f64) {
    let read = |pids: &[u32]| {
        if pids.is_empty() {
            None
        } else {
            procfs::cpu_seconds_sum(pids).ok()
        }
    };
    tokio::time::sleep_until(schedule.measure_from).await;
    let target0 = read(&pids);
    let own0 = procfs::own_cpu_seconds().unwrap_or(0.0);
    tokio::time::sleep_until(schedule.end).await;
    let target1 = read(&pids);
    let own1 = procfs::own_cpu_seconds().unwrap_or(0.0);
    let target = match (target0, target1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    (target, own1 - own0)
}

/// The peak of the summed `RssAnon` of `pids`, sampled every 20 ms until the window closes.
pub(crate) async fn sample_anon_peak(pids: Vec<u32>, schedule: Schedule) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    let mut peak = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if let Ok(memory) = procfs::memory_sum(&pids) {
            peak = peak.max(Some(memory.anon_kb));
        }
        if Instant::now() >= schedule.end {
            return peak;
        }
    }
}

/// Fills the target's end-of-run readings: memory, children, CPU per call.
pub(crate) fn finish_target(report: &mut Report, pids: &[u32], target_cpu: Option<f64>) {
    if pids.is_empty() {
        return;
    }
    report.pids = pids.to_vec();
    if let Ok(memory) = procfs::memory_sum(pids) {
        report.rss_end_kb = Some(memory.rss_kb);
        report.rss_peak_kb = Some(memory.peak_kb);
        report.rss_anon_end_kb = Some(memory.anon_kb);
    }
    let (children, children_rss) = procfs::descendants_rss_kb(pids);
    report.children = Some(children);
    report.children_rss_kb = Some(children_rss);
    report.cpu_s = target_cpu;
    if let Some(cpu) = target_cpu
        && report.calls > 0
    {
        report.cpu_us_per_call = Some(cpu * 1e6 / report.calls as f64);
    }
    let sessions = report.sessions as f64;
    let connections = sessions * report.concurrency as f64;
    if let (Some(before), Some(conns)) = (report.rss_before_kb, report.rss_conns_kb)
        && connections > 0.0
    {
        report.per_connection_kb = Some((conns as f64 - before as f64) / connections);
    }
    if let (Some(conns), Some(open)) = (report.rss_conns_kb, report.rss_open_kb)
        && sessions > 0.0
    {
        report.per_session_kb = Some((open as f64 - conns as f64) / sessions);
    }
}

/// The summed resident set of `pids` now, if they can be read.
pub(crate) fn rss_now(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    procfs::memory_sum(pids).ok().map(|m| m.rss_kb)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Pace;

    #[test]
    fn paced_workers_share_the_rate_and_spread_over_one_interval() {
        assert!(Pace::of_worker(None, 0, 128).is_none());
        assert!(Pace::of_worker(Some(0.0), 0, 128).is_none());
        // 128 workers sharing 20,000 calls/s: each sends every 6.4 ms ...
        let first = Pace::of_worker(Some(20_000.0), 0, 128).unwrap();
        assert_eq!(first.interval, Duration::from_micros(6_400));
        assert_eq!(first.offset, Duration::ZERO);
        // ... and worker k starts k/128 of an interval later, so sends are evenly spread.
        let mid = Pace::of_worker(Some(20_000.0), 64, 128).unwrap();
        assert_eq!(mid.offset, Duration::from_micros(3_200));
        let last = Pace::of_worker(Some(20_000.0), 127, 128).unwrap();
        assert!(last.offset < last.interval);
    }
}
