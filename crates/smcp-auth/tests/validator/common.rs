//! Shared setup: an issuer, a validator trusting it, and a metrics recorder to read counters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use smcp_auth::{ClaimRules, IssuerConfig, Validator, ValidatorConfig};
use smcp_test_support::issuer::{SigningKey, TestIssuer};

/// The audience every test validator accepts.
pub(crate) const AUD: &str = "smcp-api";

/// An HTTP client that never goes through an environment proxy (loopback only).
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A configuration trusting `issuer` (via discovery) with audience [`AUD`].
pub(crate) fn config(issuer: &TestIssuer) -> ValidatorConfig {
    ValidatorConfig {
        issuers: vec![IssuerConfig::new(issuer.issuer())],
        audiences: vec![AUD.to_owned()],
        ..ValidatorConfig::default()
    }
}

/// A started validator whose keys are loaded.
pub(crate) async fn ready(cfg: ValidatorConfig) -> Validator {
    let validator = Validator::new(cfg, http());
    validator.start();
    tokio::time::timeout(Duration::from_secs(60), validator.wait_ready())
        .await
        .unwrap();
    assert!(validator.is_ready());
    validator
}

/// An issuer publishing `keys` and a ready validator trusting it.
pub(crate) async fn setup(keys: &[SigningKey]) -> (TestIssuer, Validator) {
    let issuer = TestIssuer::start(keys.to_vec()).await.unwrap();
    let validator = ready(config(&issuer)).await;
    (issuer, validator)
}

/// No per-call rules.
pub(crate) fn no_rules() -> ClaimRules {
    ClaimRules::new()
}

/// A recorder keeping counter totals by `name{label=value,...}` (labels sorted) and histogram
/// sample counts by name. Install it per test with `metrics::set_default_local_recorder`
/// (tests run on a current-thread runtime, so every task records into it).
#[derive(Default)]
pub(crate) struct TestRecorder {
    counters: Arc<Mutex<HashMap<String, u64>>>,
    histograms: Arc<Mutex<HashMap<String, u64>>>,
}

impl TestRecorder {
    /// The total of counter `name` with exactly these labels.
    pub(crate) fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let key = format!("{name}{{{}}}", labels.join(","));
        self.counters
            .lock()
            .unwrap()
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// How many samples histogram `name` received (over all label sets).
    pub(crate) fn histogram_samples(&self, name: &str) -> u64 {
        self.histograms
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

struct Cell {
    key: String,
    totals: Arc<Mutex<HashMap<String, u64>>>,
}

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        *self
            .totals
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }

    fn absolute(&self, value: u64) {
        self.totals.lock().unwrap().insert(self.key.clone(), value);
    }
}

impl metrics::HistogramFn for Cell {
    fn record(&self, _value: f64) {
        *self
            .totals
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += 1;
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let key = format!("{}{{{}}}", key.name(), labels.join(","));
        Counter::from_arc(Arc::new(Cell {
            key,
            totals: Arc::clone(&self.counters),
        }))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let key = key.name().to_owned();
        Histogram::from_arc(Arc::new(Cell {
            key,
            totals: Arc::clone(&self.histograms),
        }))
    }
}
