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

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use metrics::{Counter, Gauge, Histogram};
use smcp_transport::http::ClientAddr;

use crate::logging::access::{self, AccessRecord};

/// Label used for requests that matched no backend (operations endpoints, 404s).
pub(crate) const NO_BACKEND: &str = "";

/// The methods whose request counters are kept resolved; others are looked up when used.
const COMMON_METHODS: [Method; 4] = [Method::POST, Method::GET, Method::DELETE, Method::OPTIONS];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The in-flight gauge, shared by every request of a server.
#[derive(Clone)]
pub(crate) struct InFlight(Gauge);

impl InFlight {
    /// Resolves the gauge; call after the metrics recorder is installed.
    pub(crate) fn new() -> Self {
        Self(metrics::gauge!("smcp_requests_in_flight"))
    }
}

/// The request metrics of one `backend` label: the duration histogram and the request
/// counters by method and status class, resolved on first use.
pub(crate) struct RouteMetrics {
    backend: Arc<str>,
    duration: Histogram,
    requests: [[OnceLock<Counter>; STATUS_CLASSES.len()]; COMMON_METHODS.len()],
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
        let Some(row) = COMMON_METHODS.iter().position(|m| m == method) else {
            self.counter(method.as_str().to_owned(), class).increment(1);
            return;
        };
        self.requests[row][class]
            .get_or_init(|| self.counter(method.as_str().to_owned(), class))
            .increment(1);
    }

    fn counter(&self, method: String, class: usize) -> Counter {
        metrics::counter!(
            "smcp_requests_total",
            "backend" => Arc::clone(&self.backend),
            "method" => method,
            "status_class" => STATUS_CLASSES[class],
        )
    }
}

/// An open observation of one request; finish it with [`RequestObservation::finish`].
pub(crate) struct RequestObservation {
    started: Instant,
    request_id: String,
    method: Method,
    path: String,
    client: ClientAddr,
    in_flight: Option<InFlight>,
}

impl RequestObservation {
    /// Starts observing a request. `path` must be the path only: query strings can carry
    /// session ids and are never logged.
    pub(crate) fn start(
        in_flight: &InFlight,
        request_id: String,
        method: Method,
        path: &str,
        client: ClientAddr,
    ) -> Self {
        in_flight.0.increment(1.0);
        Self {
            started: Instant::now(),
            request_id,
            method,
            path: truncate(path, 256).to_owned(),
            client,
            in_flight: Some(in_flight.clone()),
        }
    }

    /// This request's access-log line, or `None` when the installed filter drops them.
    fn access_record<'a>(
        &'a self,
        message: &'a str,
        backend: Option<&'a str>,
        status: Option<StatusCode>,
        duration: Duration,
    ) -> Option<AccessRecord<'a>> {
        access_log_enabled().then(|| AccessRecord {
            message,
            request_id: &self.request_id,
            remote: self.client.as_str(),
            method: self.method.as_str(),
            path: &self.path,
            backend,
            status: status.map(|status| status.as_u16()),
            duration,
        })
    }

    /// Records the response head: one access-log line, the request counter and the duration.
    pub(crate) fn finish(mut self, route: &RouteMetrics, status: StatusCode) {
        if let Some(in_flight) = self.in_flight.take() {
            in_flight.0.decrement(1.0);
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
            method = %self.method,
            path = %self.path,
            backend = route.backend(),
            status = status.as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
}

impl Drop for RequestObservation {
    fn drop(&mut self) {
        if let Some(in_flight) = self.in_flight.take() {
            // The client went away before we answered: count it, and keep the gauge exact.
            in_flight.0.decrement(1.0);
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
                method = %self.method,
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

fn truncate(text: &str, max: usize) -> &str {
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
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ééé", 3), "é");
    }
}
