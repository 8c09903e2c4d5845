//! The validated configuration handed to the server: typed values only, defaults applied.
//!
//! Nothing here needs parsing at run time: durations are [`Duration`], URLs are [`Url`],
//! files are [`PathBuf`] already checked to be readable, choices are enums. A [`Config`] is
//! only ever built by [`load`](super::load) and friends, which check every rule first.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use super::backend::BackendConfig;
use super::oidc::OidcConfig;

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

/// The global authentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// No authentication: every request is let through (the default; warned about when
    /// the listener is not loopback-only).
    #[default]
    None,
    /// Bearer tokens validated against the `oidc:` section.
    Oidc,
}

impl AuthMode {
    /// The spelling used in files, flags and the environment.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Oidc => "oidc",
        }
    }
}

impl FromStr for AuthMode {
    type Err = String;

    /// Parses `none` or `oidc` (case-insensitive), so clap can use it as a value parser.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(AuthMode::None),
            "oidc" => Ok(AuthMode::Oidc),
            _ => Err(format!("must be \"none\" or \"oidc\" (got {text:?})")),
        }
    }
}

/// `mcp:` — the backends.
#[derive(Debug, Clone, PartialEq)]
pub struct McpConfig {
    /// Default timeout of every backend. Default 60 s.
    pub timeout: Duration,
    /// The backends, in file order. Ids and normalised paths are unique.
    pub backends: Vec<BackendConfig>,
}

/// `tls:` — present only when TLS is enabled; both files were read and parsed at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file with the certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM file with the private key.
    pub key_file: PathBuf,
}

/// `metrics:` — the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Whether to serve metrics. Default true.
    pub enabled: bool,
    /// Where to serve them. Default `/metrics`.
    pub path: String,
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

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    /// Parses `text` or `json` (case-insensitive).
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("must be \"text\" or \"json\" (got {text:?})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AuthMode, LogFormat, is_loopback_host};

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

    #[test]
    fn enums_parse() {
        assert_eq!("OIDC".parse(), Ok(AuthMode::Oidc));
        assert_eq!("none".parse(), Ok(AuthMode::None));
        assert!("basic".parse::<AuthMode>().is_err());
        assert_eq!(AuthMode::Oidc.as_str(), "oidc");
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!(" Text".parse(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
    }
}
