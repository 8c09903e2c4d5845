//! Per-request observation: the access-log line and the request metrics.
//!
//! One [`RequestObservation`] is opened when a request arrives and finished when its response
//! head is ready. It keeps the in-flight gauge honest even when a request future is dropped
//! (client gone), and writes exactly one access-log line per request. Durations are measured to
//! the response head: an SSE stream may legitimately run for hours, so timing it to its end
//! would make the histogram useless. Nothing here ever sees the `Authorization` header.
//!
//! The access-log line takes the logging module's fast path when the binaries installed it
//! (`logging::access`), and is an ordinary `tracing` event otherwise.
//!
//! The metric handles are resolved once per backend ([`RouteMetrics`]) instead of per request:
//! looking a labelled metric up by name costs a key allocation and a hash-map probe, which at
//! tens of thousands of requests per second was a measurable share of the proxy's own CPU.
//!
//! Every label value comes from a bounded set: `backend` from the configuration, `method` from
//! the nine methods of RFC 9110 and RFC 5789 or `other`, `status_class` from five classes. A
//! client that invents methods (hyper accepts any token, kilobytes long) lands in `other`
//! instead of minting a series per request; the access log keeps the method, cut to
//! [`LOGGED_METHOD_MAX`] bytes.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use metrics::{Counter, Gauge, Histogram};
use smcp_transport::http::ClientAddr;
use thread_local::ThreadLocal;

use crate::logging::access::{self, AccessRecord};

/// Label used for requests that matched no backend (operations endpoints, 404s).
pub(crate) const NO_BACKEND: &str = "";

/// The `method` label values: the standard methods, most used first; anything else is
/// counted as [`OTHER_METHOD`].
const METHODS: [Method; 9] = [
    Method::POST,
    Method::GET,
    Method::DELETE,
    Method::OPTIONS,
    Method::HEAD,
    Method::PUT,
    Method::PATCH,
    Method::CONNECT,
    Method::TRACE,
];
/// The `method` label of every method outside [`METHODS`].
const OTHER_METHOD: &str = "other";
/// The longest method written to the access log; the rest is cut (a method is a client's
/// free-form token, and a log line is no place for kilobytes of it).
const LOGGED_METHOD_MAX: usize = 32;
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The requests in flight, counted per thread and published as the
/// `smcp_requests_in_flight` gauge when `/metrics` is rendered.
///
/// A gauge updated by every request would be a cache line bounced between the event loops
/// twice per request; a count per thread is touched only by its own loop.
pub(crate) struct InFlight {
    per_thread: ThreadLocal<AtomicI64>,
    gauge: Gauge,
}

impl InFlight {
    /// Resolves the gauge; call after the metrics recorder is installed.
    pub(crate) fn new() -> Self {
        Self {
            per_thread: ThreadLocal::new(),
            gauge: metrics::gauge!("smcp_requests_in_flight"),
        }
    }

    /// Counts a request in on the calling thread; the returned counter counts it out.
    fn enter(&self) -> &AtomicI64 {
        let count = self.per_thread.get_or_default();
        count.fetch_add(1, Ordering::Relaxed);
        count
    }

    /// The requests in flight on every thread.
    fn total(&self) -> i64 {
        self.per_thread
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// Sets the gauge to the current total; call before rendering the metrics.
    pub(crate) fn publish(&self) {
        #[allow(clippy::cast_precision_loss)] // never near 2^53 requests at once
        self.gauge.set(self.total() as f64);
    }
}

/// The request metrics of one `backend` label: the duration histogram and the request
/// counters by method and status class, resolved on first use.
pub(crate) struct RouteMetrics {
    backend: Arc<str>,
    duration: Histogram,
    /// One row per entry of [`METHODS`], then one for [`OTHER_METHOD`].
    requests: [[OnceLock<Counter>; STATUS_CLASSES.len()]; METHODS.len() + 1],
}

impl RouteMetrics {
    /// The metrics of `backend` (`NO_BACKEND` for unrouted requests); call after the metrics
    /// recorder is installed.
    pub(crate) fn new(backend: Arc<str>) -> Self {
        let duration = metrics::histogram!(
            "smcp_request_duration_seconds",
            "backend" => Arc::clone(&backend)
        );
        Self {
            backend,
            duration,
            requests: Default::default(),
        }
    }

    /// The backend label.
    pub(crate) fn backend(&self) -> &str {
        &self.backend
    }

    fn count(&self, method: &Method, status: StatusCode) {
        let class = status_class_index(status);
        let row = METHODS
            .iter()
            .position(|m| m == method)
            .unwrap_or(METHODS.len());
        self.requests[row][class]
            .get_or_init(|| self.counter(method_label(row), class))
            .increment(1);
    }

    fn counter(&self, method: &'static str, class: usize) -> Counter {
        metrics::counter!(
            "smcp_requests_total",
            "backend" => Arc::clone(&self.backend),
            "method" => method,
            "status_class" => STATUS_CLASSES[class],
        )
    }
}

/// An open observation of one request; finish it with [`RequestObservation::finish`].
pub(crate) struct RequestObservation<'a> {
    started: Instant,
    request_id: String,
    method: Method,
    path: String,
    client: ClientAddr,
    // The counter this request was counted in on; `None` once counted out.
    in_flight: Option<&'a AtomicI64>,
}

impl<'a> RequestObservation<'a> {
    /// Starts observing a request. `path` must be the path only: query strings can carry
    /// session ids and are never logged.
    pub(crate) fn start(
        in_flight: &'a InFlight,
        request_id: String,
        method: Method,
        path: &str,
        client: ClientAddr,
    ) -> Self {
        let counted_in = in_flight.enter();
        Self {
            started: Instant::now(),
            request_id,
            method,
            path: truncate(path, 256).to_owned(),
            client,
            in_flight: Some(counted_in),
        }
    }

    /// This request's access-log line, or `None` when the installed filter drops them.
    fn access_record<'r>(
        &'r self,
        message: &'r str,
        backend: Option<&'r str>,
        status: Option<StatusCode>,
        duration: Duration,
    ) -> Option<AccessRecord<'r>> {
        access_log_enabled().then(|| AccessRecord {
            message,
            request_id: &self.request_id,
            remote: self.client.as_str(),
            method: truncate(self.method.as_str(), LOGGED_METHOD_MAX),
            path: &self.path,
            backend,
            status: status.map(|status| status.as_u16()),
            duration,
        })
    }

    /// Records the response head: one access-log line, the request counter and the duration.
    pub(crate) fn finish(mut self, route: &RouteMetrics, status: StatusCode) {
        if let Some(in_flight) = self.in_flight.take() {
            in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        let elapsed = self.started.elapsed();
        route.count(&self.method, status);
        route.duration.record(elapsed.as_secs_f64());
        let backend = Some(route.backend());
        let Some(record) = self.access_record("request", backend, Some(status), elapsed) else {
            return;
        };
        if access::write(&record) {
            return;
        }
        tracing::info!(
            target: "smcp::access",
            request_id = %self.request_id,
            remote = %self.client.as_str(),
            method = truncate(self.method.as_str(), LOGGED_METHOD_MAX),
            path = %self.path,
            backend = route.backend(),
            status = status.as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
}

impl Drop for RequestObservation<'_> {
    fn drop(&mut self) {
        if let Some(in_flight) = self.in_flight.take() {
            // The client went away before we answered: count it, and keep the gauge exact.
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let message = "request abandoned by the client before a response";
            let elapsed = self.started.elapsed();
            let Some(record) = self.access_record(message, None, None, elapsed) else {
                return;
            };
            if access::write(&record) {
                return;
            }
            tracing::info!(
                target: "smcp::access",
                request_id = %self.request_id,
                remote = %self.client.as_str(),
                method = truncate(self.method.as_str(), LOGGED_METHOD_MAX),
                path = %self.path,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request abandoned by the client before a response"
            );
        }
    }
}

/// Whether the installed log filter lets access-log lines through.
fn access_log_enabled() -> bool {
    tracing::enabled!(target: "smcp::access", tracing::Level::INFO)
}

/// The `method` label of row `row` of [`RouteMetrics::requests`].
fn method_label(row: usize) -> &'static str {
    METHODS.get(row).map_or(OTHER_METHOD, Method::as_str)
}

/// The index of `status`'s class in [`STATUS_CLASSES`].
fn status_class_index(status: StatusCode) -> usize {
    match status.as_u16() {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// `text` cut to at most `max` bytes on a character boundary (for log fields a client sets).
pub(super) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_class(status: StatusCode) -> &'static str {
        STATUS_CLASSES[status_class_index(status)]
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::ACCEPTED), "2xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::BAD_GATEWAY), "5xx");
        assert_eq!(status_class(StatusCode::SWITCHING_PROTOCOLS), "1xx");
    }

    #[test]
    fn in_flight_counts_every_thread_and_every_way_out() {
        let in_flight = InFlight::new();
        let client = ClientAddr::new(std::net::IpAddr::from([127, 0, 0, 1]));
        let route = RouteMetrics::new(Arc::from("test"));
        let open = |in_flight| {
            RequestObservation::start(in_flight, "id".into(), Method::POST, "/v1", client.clone())
        };
        let answered = open(&in_flight);
        let abandoned = open(&in_flight);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                // Counted in on another thread, counted out here.
                let elsewhere = open(&in_flight);
                assert_eq!(in_flight.total(), 3);
                elsewhere.finish(&route, StatusCode::OK);
            });
        });
        assert_eq!(in_flight.total(), 2);
        answered.finish(&route, StatusCode::OK);
        drop(abandoned);
        assert_eq!(in_flight.total(), 0);
    }

    #[test]
    fn method_labels_are_the_standard_methods_or_other() {
        let label = |method: &Method| {
            method_label(
                METHODS
                    .iter()
                    .position(|m| m == method)
                    .unwrap_or(METHODS.len()),
            )
        };
        assert_eq!(label(&Method::POST), "POST");
        assert_eq!(label(&Method::TRACE), "TRACE");
        let invented = Method::from_bytes(&[b'X'; 4000]).unwrap();
        assert_eq!(label(&invented), "other");
        assert_eq!(label(&Method::from_bytes(b"get").unwrap()), "other");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ééé", 3), "é");
    }
}
