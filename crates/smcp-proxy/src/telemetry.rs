//! Process-wide telemetry: the Prometheus recorder behind `/metrics`.
//!
//! Every crate records through the `metrics` facade; this module installs the one global
//! recorder that renders them as Prometheus text. A process has exactly one recorder, so the
//! first caller installs it and every later caller (several servers in one test process, the
//! client and the server side by side) shares the same handle.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bucket bounds for every `*_seconds` histogram: from 100 µs (a cached-token hit, a route
/// lookup) up to 5 minutes (a long tool call).
const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0, 300.0,
];

/// How often raw histogram samples are folded into buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the global Prometheus recorder once and returns a handle that renders it.
///
/// Returns `None` only when another recorder was installed in this process by someone else
/// (an embedding application); `/metrics` then says so instead of lying with an empty page.
pub fn prometheus_handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            spawn_upkeep(handle.clone());
            Some(handle)
        })
        .clone()
}

/// Histograms in this exporter keep raw samples until upkeep folds them into buckets;
/// without it memory grows with traffic. `install()` would spawn this for us, but we build
/// the recorder ourselves so that it can be shared, so we run upkeep ourselves. Every second:
/// at 50,000 requests/s with two histogram samples each, five seconds of raw samples were
/// about 4 MB of the server's memory at its peak; one second keeps it under one.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawn = std::thread::Builder::new()
        .name("smcp-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawn {
        tracing::warn!(%error, "could not start the metrics upkeep thread");
    }
}

/// Help texts for the metrics smcp-server itself records.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "smcp_requests_total",
        "HTTP requests answered, by backend, HTTP method (the standard nine or other) and status class"
    );
    describe_gauge!(
        "smcp_connections_open",
        "Client connections open (at most server.max_connections)"
    );
    describe_counter!(
        "smcp_connections_refused_total",
        "Client connections closed right after accept because server.max_connections were open"
    );
    describe_counter!(
        "smcp_connections_timed_out_total",
        "Client connections closed for sending no request within server.read_timeout (silent, a stalled HTTP/2 preface or headers, idle between requests)"
    );
    describe_histogram!(
        "smcp_request_duration_seconds",
        Unit::Seconds,
        "Time from request to response headers, by backend (streams are not timed to their end)"
    );
    describe_gauge!(
        "smcp_backend_up",
        "1 while a backend can serve (HTTP: TCP connect succeeds; stdio: command found), else 0"
    );
    describe_gauge!(
        "smcp_requests_in_flight",
        "Requests whose response headers have not been sent yet"
    );
    describe_counter!(
        "smcp_dpop_proofs_total",
        "DPoP proofs checked, by outcome (accepted, or why refused: replayed, url, method, time, signature, ...)"
    );
    describe_gauge!(
        "smcp_dpop_replay_entries",
        "DPoP proofs remembered against replay (bounded by oidc.dpop_replay_cache_size)"
    );
    describe_counter!(
        "smcp_policy_decisions_total",
        "Requests decided by a backend's policy, by backend and decision (allow, step_up, claims, deny, default_deny, invalid, rate_limited)"
    );
    describe_counter!(
        "smcp_rate_limited_total",
        "Requests refused with 429 by a backend's rate limits, by backend and limit (principal, tool, rule)"
    );
    describe_counter!(
        "smcp_rate_limit_overflow_total",
        "Rate-limit checks of callers that did not fit in a limit's bucket map (policy.rate_limit.max_principals) and shared its overflow bucket, by backend"
    );
    describe_gauge!(
        "smcp_rate_limit_buckets",
        "Rate-limit buckets held (callers tracked, over every limit), by backend"
    );
    describe_counter!(
        "smcp_audit_records_total",
        "Audit records offered to the sink, by outcome (queued; dropped: the queue, audit.queue, was full)"
    );
    describe_counter!(
        "smcp_policy_list_replies_refused_total",
        "List replies a policy could not filter and did not pass on, by reason (too_large: over 16 MiB, unreadable, stream_broken)"
    );
    describe_counter!(
        "smcp_upstream_errors_total",
        "Failed calls to HTTP backends, by backend and kind (connect, tls, timeout, protocol, body)"
    );
    describe_counter!(
        "smcp_rejected_requests_total",
        "Requests refused before reaching a backend, by reason"
    );
    describe_counter!(
        "smcp_auth_outcomes_total",
        "Bearer-token checks of protected requests, by backend, outcome and reason"
    );
    describe_counter!(
        "smcp_session_binding_refusals_total",
        "Requests answered 404 because their MCP session belongs to another principal (reason foreign), or their legacy SSE session was not announced to the caller exactly (unknown) or is named ambiguously (ambiguous), by backend and reason"
    );
    describe_counter!(
        "smcp_session_binding_evictions_total",
        "HTTP session bindings dropped to make room for a new one, by backend and reason (per_principal: the principal held its maximum; capacity: the table was full)"
    );
    describe_gauge!(
        "smcp_session_bindings",
        "HTTP session bindings held (every HTTP route's sessions, bound to route and principal)"
    );
}
