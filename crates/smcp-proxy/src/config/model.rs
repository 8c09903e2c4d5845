//! The validated configuration handed to the server: typed values only, defaults applied.
//!
//! Nothing here needs parsing at run time: durations are [`Duration`], URLs are [`Url`],
//! files are [`PathBuf`] already checked to be readable, choices are enums. A [`Config`] is
//! only ever built by [`load`](super::load) and friends, which check every rule first.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::backend::BackendConfig;
use super::oidc::OidcConfig;
pub use crate::shared::{AuthMode, LogFormat};

/// Everything smcp-server needs to run.
///
/// `Debug` shows every value, including stdio `env` values and credentials in backend URLs:
/// never log a whole `Config`. [`Config::describe_routes`] is the safe summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The listener and HTTP limits (`server:`).
    pub server: ServerConfig,
    /// Global authentication (`auth:`).
    pub auth: AuthConfig,
    /// The backends and their default timeout (`mcp:`).
    pub mcp: McpConfig,
    /// Token validation settings (`oidc:`), used when `auth.mode` is `oidc`.
    pub oidc: OidcConfig,
    /// TLS on the listener (`tls:`): `Some` when `tls.enabled` is true.
    pub tls: Option<TlsConfig>,
    /// The Prometheus endpoint (`metrics:`).
    pub metrics: MetricsConfig,
    /// The audit trail (`audit:`): `Some` when `audit.enabled` is true.
    pub audit: Option<AuditConfig>,
    /// Logging, from flags and `SMCP_PROXY_LOG_*` only (not a file key).
    pub log: LogConfig,
}

/// `server:` — the listener and the limits of the HTTP layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to bind: an IP address (no brackets) or a host name. Default `127.0.0.1`
    /// (the Go project defaulted to `0.0.0.0`).
    pub host: String,
    /// Port to bind; 0 asks the OS for a free port. Default 8080.
    pub port: u16,
    /// Deadline for reading a request's headers. Default 30 s.
    pub read_timeout: Duration,
    /// Accepted for compatibility with the Go schema (default 30 s) but **not applied to
    /// streams**: the Go project's 30 s write timeout killed SSE streams and long tool calls.
    pub write_timeout: Duration,
    /// How long in-flight requests may finish after a shutdown signal. Default 10 s.
    pub shutdown_timeout: Duration,
    /// The externally visible base URL (absolute http(s), no query or fragment), used for
    /// protected-resource metadata. Default: none (derived from the request).
    pub public_url: Option<Url>,
    /// Browser origins allowed to call the proxy (http/https only). Empty (the default)
    /// means only localhost origins (`localhost`, `127.0.0.1`, `[::1]`, any port).
    pub allowed_origins: Vec<url::Origin>,
    /// Largest request body accepted, in bytes (413 beyond). Default 4 MiB.
    pub max_request_body: u64,
    /// The most client connections open at once; more are closed as soon as they are
    /// accepted. Default 10000, lowered at startup to three quarters of the open-file limit.
    pub max_connections: usize,
    /// Host names (and `Host` headers) requests may name besides loopback hosts, IP
    /// addresses and the public URLs' hosts. Set, the check always applies; empty (the
    /// default), it applies only with `auth.mode: none`. Other hosts get 421.
    pub allowed_hosts: Vec<AllowedHost>,
    /// A stdio session with no activity for this long is ended. Default 30 min.
    pub session_idle_timeout: Duration,
    /// Interval of SSE keepalive comments on idle streams. Default 15 s.
    pub sse_keepalive: Duration,
    /// Accept loops (each a thread with its own event loop). Default 0: one per CPU core.
    pub workers: usize,
}

/// One entry of `server.allowed_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHost {
    /// `*`: any host; turns the check off deliberately.
    Any,
    /// A host name, IP address or `*.`-wildcard, with an optional port.
    Host {
        /// Lower case, IPv6 without brackets; for a wildcard, the part after `*.`.
        name: String,
        /// Written `*.name`: any subdomain of `name` (one or more labels), not `name` itself.
        subdomains: bool,
        /// When given, only this port; else any.
        port: Option<u16>,
    },
}

impl ServerConfig {
    /// Whether `host` only accepts connections from this machine (a loopback address or
    /// `localhost`).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

/// Whether `host` is a loopback IP address or `localhost`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `auth:` — whether requests need a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    /// `none` (default) or `oidc`.
    pub mode: AuthMode,
}

/// `mcp:` — the backends.
#[derive(Debug, Clone, PartialEq)]
pub struct McpConfig {
    /// Default timeout of every backend. Default 60 s.
    pub timeout: Duration,
    /// The backends, in file order. Ids and normalised paths are unique.
    pub backends: Vec<BackendConfig>,
}

/// `tls:` — present only when TLS is enabled; both files were read and parsed at load time,
/// and what they hold is kept here, so that startup builds the listener from it without
/// reading them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file with the certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM file with the private key.
    pub key_file: PathBuf,
    /// The certificate chain read from `cert_file` (at least one certificate).
    pub certificates: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// The private key read from `key_file`.
    pub key: TlsKey,
}

/// A private key loaded from a PEM file: cheap to clone, compared by its bytes, and never
/// printed (`Debug` shows only its kind).
#[derive(Clone)]
pub struct TlsKey(std::sync::Arc<rustls_pki_types::PrivateKeyDer<'static>>);

impl TlsKey {
    /// Wraps a loaded key.
    pub fn new(key: rustls_pki_types::PrivateKeyDer<'static>) -> Self {
        TlsKey(std::sync::Arc::new(key))
    }

    /// A copy of the key, as rustls takes it.
    pub fn to_der(&self) -> rustls_pki_types::PrivateKeyDer<'static> {
        self.0.clone_key()
    }
}

impl PartialEq for TlsKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.secret_der() == other.0.secret_der()
    }
}

impl Eq for TlsKey {}

impl std::fmt::Debug for TlsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &*self.0 {
            rustls_pki_types::PrivateKeyDer::Pkcs1(_) => "PKCS#1",
            rustls_pki_types::PrivateKeyDer::Sec1(_) => "SEC1",
            rustls_pki_types::PrivateKeyDer::Pkcs8(_) => "PKCS#8",
            _ => "other",
        };
        write!(f, "TlsKey({kind}, redacted)")
    }
}

/// `metrics:` — the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Whether to serve metrics. Default true.
    pub enabled: bool,
    /// Where to serve them. Default `/metrics`.
    pub path: String,
}

/// `audit:` — one JSON record per MCP request and per denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Where records go.
    pub sink: AuditSinkConfig,
    /// Add a SHA-256 digest and the size of `tools/call` arguments (never the arguments).
    /// Default false.
    pub arguments_digest: bool,
    /// Records waiting for the sink at most; past it, records are dropped and counted.
    /// Default 10,000.
    pub queue: usize,
}

/// `audit.sink`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSinkConfig {
    /// `stderr` (the default): the process's standard error, beside the logs.
    Stderr,
    /// A file path: appended to, reopened on SIGHUP (log rotation).
    File(std::path::PathBuf),
}

/// Logging settings (from `--log-level`/`--log-format` or `SMCP_PROXY_LOG_LEVEL`/`_FORMAT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A level (`trace`, `debug`, `info`, `warn`, `error`; default `info`) or a
    /// `tracing_subscriber::EnvFilter` directive such as `smcp_proxy=debug,info`.
    pub level: String,
    /// Output format. Default text.
    pub format: LogFormat,
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "example.com",
            "localhost.example.com",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
