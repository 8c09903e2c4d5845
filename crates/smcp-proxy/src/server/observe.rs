//! Per-request observation: the access-log line and the request metrics.
//!
//! One [`RequestObservation`] is opened when a request arrives and finished when its response
//! head is ready. It keeps the in-flight gauge honest even when a request future is dropped
//! (client gone), and writes exactly one access-log line per request. Durations are measured to
//! the response head: an SSE stream may legitimately run for hours, so timing it to its end
//! would make the histogram useless. Nothing here ever sees the `Authorization` header.

use std::net::SocketAddr;
use std::time::Instant;

use http::{Method, StatusCode};

/// Label used for requests that matched no backend (operations endpoints, 404s).
pub(crate) const NO_BACKEND: &str = "";

/// An open observation of one request; finish it with [`RequestObservation::finish`].
pub(crate) struct RequestObservation {
    started: Instant,
    request_id: String,
    method: Method,
    path: String,
    remote: SocketAddr,
    finished: bool,
}

impl RequestObservation {
    /// Starts observing a request. `path` must be the path only: query strings can carry
    /// session ids and are never logged.
    pub(crate) fn start(
        request_id: String,
        method: Method,
        path: &str,
        remote: SocketAddr,
    ) -> Self {
        metrics::gauge!("smcp_requests_in_flight").increment(1.0);
        Self {
            started: Instant::now(),
            request_id,
            method,
            path: truncate(path, 256).to_owned(),
            remote,
            finished: false,
        }
    }

    /// Records the response head: one access-log line, the request counter and the duration.
    pub(crate) fn finish(mut self, backend: &str, status: StatusCode) {
        self.finished = true;
        metrics::gauge!("smcp_requests_in_flight").decrement(1.0);
        let elapsed = self.started.elapsed();
        let class = status_class(status);
        metrics::counter!(
            "smcp_requests_total",
            "backend" => backend.to_owned(),
            "method" => self.method.as_str().to_owned(),
            "status_class" => class,
        )
        .increment(1);
        metrics::histogram!("smcp_request_duration_seconds", "backend" => backend.to_owned())
            .record(elapsed.as_secs_f64());
        tracing::info!(
            target: "smcp::access",
            request_id = %self.request_id,
            remote = %self.remote.ip(),
            method = %self.method,
            path = %self.path,
            backend,
            status = status.as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
}

impl Drop for RequestObservation {
    fn drop(&mut self) {
        if !self.finished {
            // The client went away before we answered: count it, and keep the gauge exact.
            metrics::gauge!("smcp_requests_in_flight").decrement(1.0);
            tracing::info!(
                target: "smcp::access",
                request_id = %self.request_id,
                remote = %self.remote.ip(),
                method = %self.method,
                path = %self.path,
                duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
                "request abandoned by the client before a response"
            );
        }
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
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
