//! A metrics recorder for unit tests: counts every counter and keeps every gauge's last
//! value, keyed `name{label=value,...}` with the labels sorted, so a test can assert exactly
//! what a code path recorded (install it with `metrics::with_local_recorder`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Counters and gauges by `name{label=value,...}` (labels sorted).
#[derive(Default, Clone)]
pub(crate) struct Capture {
    counters: Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>,
    gauges: Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>,
}

impl Capture {
    /// The counter's total (0 when never recorded).
    pub(crate) fn get(&self, key: &str) -> u64 {
        Self::cell(&self.counters, key).map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// The gauge's last value (`None` when never set).
    pub(crate) fn gauge(&self, key: &str) -> Option<f64> {
        Self::cell(&self.gauges, key).map(|g| f64::from_bits(g.load(Ordering::SeqCst)))
    }

    fn cell(map: &Mutex<HashMap<String, Arc<AtomicU64>>>, key: &str) -> Option<Arc<AtomicU64>> {
        map.lock().ok()?.get(key).cloned()
    }

    fn register(map: &Mutex<HashMap<String, Arc<AtomicU64>>>, key: &Key) -> Arc<AtomicU64> {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match map.lock() {
            Ok(mut map) => Arc::clone(map.entry(name).or_default()),
            Err(_) => Arc::default(),
        }
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Self::register(&self.counters, key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Self::register(&self.gauges, key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}
