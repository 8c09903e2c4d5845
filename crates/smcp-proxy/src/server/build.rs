//! From a validated [`Config`] to a ready [`App`]: backends, route table, policies, TLS.
//!
//! Everything that can fail at startup fails here, before a port is bound: an HTTP backend's
//! CA file, the TLS key pair, the route table, the token validator's settings. Runtime work
//! (probing backends, fetching the issuers' signing keys, spawning children) starts later, on
//! demand or in the background: an IdP that is down at startup only keeps `/ready` at 503.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use std::time::SystemTime;

use smcp_policy::ScopeHierarchy;
use smcp_router::{RouteTable, RouteTableError};
use smcp_transport::backend::Backend;
use smcp_transport::http::sessions::{
    RouteSessions, SESSION_BINDINGS, SESSION_BINDINGS_PER_PRINCIPAL, SessionBindings,
};
use smcp_transport::http::{HttpBackend, HttpBackendError, HttpBackendOptions};
use smcp_transport::stdio::ChildSpec;
use smcp_transport::stdio_backend::{DEFAULT_STALL_TIMEOUT, StdioBackend, StdioBackendOptions};
use tokio_rustls::TlsAcceptor;

use super::app::{App, ListenerSettings};
use super::audit::AuditTrail;
use super::auth::{self, ServerAuth, SetupError};
use super::backend::BackendEntry;
use super::host::HostPolicy;
use super::observe::{InFlight, NO_BACKEND, RouteMetrics};
use super::origin::OriginPolicy;
use super::policy::{BackendPolicy, DecisionCounters, RateLimits};
use super::readiness::{Probe, ReadinessProbes};

use crate::config::{self, BackendConfig, Config};
use crate::connection;
use crate::telemetry;
use crate::tls::{self, TlsSetupError};

/// Events kept per stdio session for `Last-Event-ID` resumption.
const REPLAY_BUFFER_EVENTS: usize = 256;

/// Why a configuration that passed validation still could not be turned into a server.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The backend paths do not form a route table.
    #[error("mcp.backends: {0}")]
    Routes(#[from] RouteTableError),
    /// An HTTP backend's client could not be built (for example, its CA file).
    #[error("mcp.backends[{index}] ({id}): {source}")]
    HttpBackend {
        /// Position in `mcp.backends`.
        index: usize,
        /// The backend's id.
        id: String,
        /// What failed.
        source: HttpBackendError,
    },
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The OIDC settings cannot be turned into a token validator (a claim rule the validator
    /// cannot express, an unusable issuer URL, no TLS backend for key fetches).
    #[error("{key}: {message}")]
    Auth {
        /// The key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The audit sink cannot be opened (a file that cannot be created or appended to).
    #[error("audit.sink: {0}")]
    Audit(#[source] std::io::Error),
}

impl From<SetupError> for BuildError {
    fn from(error: SetupError) -> Self {
        BuildError::Auth {
            key: error.key,
            message: error.message,
        }
    }
}

/// Whether a build is for serving (background work starts: key fetches, readiness probes) or
/// only for `smcp-server check` (every step that can fail, nothing started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Serve,
    Check,
}

/// Builds the app and, when `tls` is configured, the TLS acceptor.
pub(super) fn build(
    config: &Config,
    purpose: Purpose,
) -> Result<(App, Option<TlsAcceptor>), BuildError> {
    let tls = match &config.tls {
        Some(tls) => Some(tls::acceptor(tls)?),
        None => None,
    };

    // The recorder first: the backends resolve their metric handles against it.
    let (metrics_path, prometheus) = if config.metrics.enabled {
        (
            Some(config.metrics.path.clone()),
            telemetry::prometheus_handle(),
        )
    } else {
        (None, None)
    };
    // Serving starts fetching the issuers' keys in the background (never waits for the IdP).
    let server_auth = auth::server_auth(config, purpose == Purpose::Serve)?;
    let mut probes = ReadinessProbes::default();
    // One table for every HTTP route, so that a session id is recognised on all of them.
    let sessions = Arc::new(SessionBindings::new(
        SESSION_BINDINGS,
        SESSION_BINDINGS_PER_PRINCIPAL,
    ));
    let context = BuildContext {
        config,
        server_auth: server_auth.as_ref(),
        sessions: &sessions,
        scope_hierarchy: Arc::new(config.oidc.scope_hierarchy.clone()),
        purpose,
    };
    let mut backends = Vec::with_capacity(config.mcp.backends.len());
    for (index, backend) in config.mcp.backends.iter().enumerate() {
        let entry = build_backend(index, backend, &context, &mut probes)?;
        let entry = Arc::new(entry);
        backends.push(entry);
    }
    let routes = RouteTable::new(
        backends
            .iter()
            .map(|entry| (entry.path.to_string(), Arc::clone(entry))),
    )?;

    let allowed_origins: Vec<String> = config
        .server
        .allowed_origins
        .iter()
        .map(url::Origin::ascii_serialization)
        .collect();
    let host_policy = HostPolicy::new(&config.server, config.auth.mode);
    if !host_policy.is_enforced() {
        tracing::info!(
            "Host names are not checked (auth.mode oidc without server.allowed_hosts, or allowed_hosts [\"*\"])"
        );
    }
    // `check` opens nothing: the sink's directory was validated; creating the file is serving.
    let audit = match (&config.audit, purpose) {
        (Some(audit), Purpose::Serve) => Some(AuditTrail::start(audit).map_err(BuildError::Audit)?),
        _ => None,
    };
    let app = App {
        routes,
        backends,
        origin_policy: OriginPolicy::new(&allowed_origins),
        host_policy,
        auth: server_auth,
        metrics_path,
        prometheus,
        in_flight: InFlight::new(),
        unrouted_metrics: RouteMetrics::new(Arc::from(NO_BACKEND)),
        listener: ListenerSettings {
            read_timeout: config.server.read_timeout,
            shutdown_timeout: config.server.shutdown_timeout,
            max_connections: connection::limit_to_open_files(
                config.server.max_connections,
                "server.max_connections",
            ),
        },
        started_at: SystemTime::now(),
        draining: AtomicBool::new(false),
        audit,
        _probes: probes,
    };
    Ok((app, tls))
}

/// What every backend is built from besides its own configuration.
struct BuildContext<'a> {
    config: &'a Config,
    server_auth: Option<&'a Arc<ServerAuth>>,
    sessions: &'a Arc<SessionBindings>,
    /// `oidc.scope_hierarchy`, shared by every backend's policy.
    scope_hierarchy: Arc<ScopeHierarchy>,
    purpose: Purpose,
}

fn build_backend(
    index: usize,
    backend: &BackendConfig,
    context: &BuildContext<'_>,
    probes: &mut ReadinessProbes,
) -> Result<BackendEntry, BuildError> {
    let config = context.config;
    let id: Arc<str> = Arc::from(backend.id.as_str());
    let auth = auth::backend_auth(context.server_auth, backend);
    let ready = Arc::new(AtomicBool::new(false));
    let (served_by, probe) = match &backend.transport {
        config::Transport::Http(http) => {
            let options = HttpBackendOptions {
                backend_id: Arc::clone(&id),
                url: http.url.clone(),
                timeout: backend.timeout,
                ca_file: None,
                trusted_cas: http.trusted_cas.clone(),
            };
            let client = HttpBackend::new(options).map_err(|source| BuildError::HttpBackend {
                index,
                id: backend.id.clone(),
                source,
            })?;
            let probe = Probe::Tcp {
                host: http
                    .url
                    .host_str()
                    .unwrap_or("localhost")
                    .trim_matches(['[', ']'])
                    .to_owned(),
                port: http.url.port_or_known_default().unwrap_or(80),
            };
            let sessions = RouteSessions::new(
                Arc::clone(context.sessions),
                Arc::clone(&id),
                auth.is_some(),
            );
            let backend = Backend::Http {
                forwarder: client,
                sessions,
                max_body: config.server.max_request_body,
            };
            (backend, probe)
        }
        config::Transport::Stdio(stdio) => {
            let mut spec = ChildSpec::new(Arc::clone(&id), stdio.command.clone());
            spec.args = stdio.args.clone();
            spec.env = stdio.env.clone();
            spec.working_dir = stdio.working_dir.clone();
            spec.inherit_env = stdio.inherit_env;
            spec.max_line_bytes = usize::try_from(stdio.max_line_bytes).unwrap_or(usize::MAX);
            // Do not hold every new session for the spawn's "exited at once" watch: the stdio
            // backend answers 502 when the child dies before answering initialize instead.
            spec.startup_check = Duration::ZERO;
            let options = StdioBackendOptions {
                backend_id: Arc::clone(&id),
                spec: Arc::new(spec),
                stdio_timeout: stdio.stdio_timeout,
                max_sessions: usize::try_from(stdio.max_sessions).unwrap_or(usize::MAX),
                max_sessions_per_principal: usize::try_from(stdio.max_sessions_per_principal)
                    .unwrap_or(usize::MAX),
                session_idle_timeout: config.server.session_idle_timeout,
                sse_keepalive: config.server.sse_keepalive,
                replay_buffer_events: REPLAY_BUFFER_EVENTS,
                stall_timeout: DEFAULT_STALL_TIMEOUT,
                max_message_bytes: config.server.max_request_body,
            };
            // The child's PATH is the configured one, else smcp's own (see the minimal env).
            let path = stdio
                .env
                .get("PATH")
                .cloned()
                .or_else(|| std::env::var("PATH").ok());
            let probe = Probe::Command {
                command: stdio.command.clone(),
                path,
                working_dir: stdio.working_dir.clone(),
            };
            (Backend::Stdio(StdioBackend::new(options)), probe)
        }
    };
    if context.purpose == Purpose::Serve {
        probes.start(Arc::clone(&id), probe, Arc::clone(&ready));
    }
    let mut identity_strip = vec![
        backend.identity_headers.subject_header.clone(),
        backend.identity_headers.email_header.clone(),
    ];
    identity_strip.dedup();
    let policy = backend.policy.clone().map(|policy| {
        Arc::new(BackendPolicy {
            policy,
            hierarchy: Arc::clone(&context.scope_hierarchy),
            limits: RateLimits::new(&id, &backend.rate_limits),
            decisions: DecisionCounters::new(&id),
        })
    });
    Ok(BackendEntry {
        metrics: RouteMetrics::new(Arc::clone(&id)),
        id,
        name: backend.name.clone(),
        path: Arc::from(backend.path.as_str()),
        strip_path: backend.strip_path,
        model: backend.model.clone(),
        max_tokens: backend.max_tokens,
        backend: served_by,
        identity_strip: identity_strip.into(),
        auth,
        policy,
        ready,
    })
}
