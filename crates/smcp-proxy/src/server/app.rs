//! The shared state of a running smcp-server.
//!
//! An [`App`] is built once from a validated configuration (see `build`) and shared by every
//! connection behind an `Arc`. It holds only what the request path reads: the route table,
//! the admission policies, the auth state (validator and metadata settings, when `auth.mode`
//! is `oidc`), the metrics handle and the draining flag. Nothing here is parsed or loaded per
//! request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use metrics_exporter_prometheus::PrometheusHandle;
use smcp_router::RouteTable;

use super::audit::AuditTrail;
use super::auth::ServerAuth;
use super::backend::BackendEntry;
use super::host::HostPolicy;
use super::observe::{InFlight, RouteMetrics};
use super::origin::OriginPolicy;
use super::readiness::ReadinessProbes;

/// How long shutdown waits for queued audit records to reach the sink.
pub(crate) const AUDIT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Listener-level settings of a running server.
#[derive(Debug, Clone)]
pub(crate) struct ListenerSettings {
    /// Bound on every wait for a request: HTTP/1.1 headers, an HTTP/2 preface, a connection
    /// with no open request.
    pub(crate) read_timeout: Duration,
    /// How long in-flight requests may run on after a shutdown signal.
    pub(crate) shutdown_timeout: Duration,
    /// The most connections open at once (`server.max_connections`, lowered to what the
    /// open-file limit leaves).
    pub(crate) max_connections: usize,
}

/// Everything the request path of one smcp-server shares.
pub(crate) struct App {
    pub(crate) routes: RouteTable<Arc<BackendEntry>>,
    /// The same entries in configuration order, for listings.
    pub(crate) backends: Vec<Arc<BackendEntry>>,
    pub(crate) origin_policy: OriginPolicy,
    /// Which host names requests may be addressed to.
    pub(crate) host_policy: HostPolicy,
    /// The auth state when `auth.mode` is `oidc`.
    pub(crate) auth: Option<Arc<ServerAuth>>,
    pub(crate) metrics_path: Option<String>,
    pub(crate) prometheus: Option<PrometheusHandle>,
    /// The gauge of requests without a response head yet.
    pub(crate) in_flight: InFlight,
    /// The request metrics of requests that reach no backend.
    pub(crate) unrouted_metrics: RouteMetrics,
    pub(crate) listener: ListenerSettings,
    pub(crate) started_at: SystemTime,
    pub(crate) draining: AtomicBool,
    /// The audit trail, when `audit.enabled` (and the build is for serving).
    pub(crate) audit: Option<AuditTrail>,
    /// Background readiness checks; stopped when the app is dropped.
    pub(crate) _probes: ReadinessProbes,
}

impl App {
    pub(crate) fn routes(&self) -> &RouteTable<Arc<BackendEntry>> {
        &self.routes
    }

    pub(crate) fn backends(&self) -> &[Arc<BackendEntry>] {
        &self.backends
    }

    pub(crate) fn origin_policy(&self) -> &OriginPolicy {
        &self.origin_policy
    }

    pub(crate) fn host_policy(&self) -> &HostPolicy {
        &self.host_policy
    }

    pub(crate) fn auth(&self) -> Option<&ServerAuth> {
        self.auth.as_deref()
    }

    pub(crate) fn metrics_path(&self) -> Option<&str> {
        self.metrics_path.as_deref()
    }

    pub(crate) fn prometheus(&self) -> Option<&PrometheusHandle> {
        self.prometheus.as_ref()
    }

    pub(crate) fn started_at(&self) -> SystemTime {
        self.started_at
    }

    pub(crate) fn audit(&self) -> Option<&AuditTrail> {
        self.audit.as_ref()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Enters draining: `/ready` turns 503, backend requests that name no session get 503,
    /// stdio backends end their long-lived streams and refuse new sessions so that
    /// connections can close, while requests within sessions and calls in flight run on.
    pub(crate) fn begin_drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
        for entry in &self.backends {
            if let Some(backend) = entry.backend.as_stdio() {
                backend.begin_shutdown();
            }
        }
    }

    /// Waits, at most [`AUDIT_FLUSH_TIMEOUT`], for the audit records still queued to be
    /// written, so that a clean shutdown loses none (a stalled sink is given up on and said so).
    pub(crate) async fn flush_audit(&self) {
        let Some(trail) = self.audit() else {
            return;
        };
        let sink = trail.sink().clone();
        let flushed = tokio::task::spawn_blocking(move || sink.flush(AUDIT_FLUSH_TIMEOUT)).await;
        if !matches!(flushed, Ok(true)) {
            tracing::warn!(timeout = ?AUDIT_FLUSH_TIMEOUT, "the audit sink did not take every record before shutdown");
        }
    }

    /// Stops every backend resource: every stdio child is stopped and reaped.
    pub(crate) async fn stop_backends(&self) {
        for entry in &self.backends {
            if let Some(backend) = entry.backend.as_stdio() {
                backend.shutdown().await;
            }
        }
    }
}
