//! The validated description of one backend (`mcp.backends[]`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use url::Url;

use super::oidc::ClaimRules;

/// One backend: where requests under `path` go, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Unique id (`[A-Za-z0-9_.-]+`); used in logs, metric labels and `/api/models`.
    pub id: String,
    /// Display name for `/api/models`; defaults to `id`.
    pub name: String,
    /// Route prefix, normalised: starts with `/`, no trailing slash (except the root `/`),
    /// no empty or dot segments, unique among backends.
    pub path: String,
    /// Whether `path` is removed before forwarding (`/v1/memory/x` -> `/x`). Default false.
    pub strip_path: bool,
    /// Timeout for a call to this backend; defaults to `mcp.timeout`.
    pub timeout: Duration,
    /// Vestigial Go key, only shown in `/api/models`.
    pub model: Option<String>,
    /// Vestigial Go key, only shown in `/api/models`.
    pub max_tokens: Option<u64>,
    /// How the backend is reached.
    pub transport: Transport,
    /// Per-backend authorization on top of the global `auth.mode`.
    pub auth: BackendAuth,
    /// Identity headers smcp sets on forwarded requests (and strips from incoming ones).
    pub identity_headers: IdentityHeaders,
    /// Per-tool, prompt and resource rules (`policy:`); `None` when the backend has none.
    pub policy: Option<smcp_policy::Policy>,
    /// Rate limits (`policy.rate_limit`, `policy.tool_rate_limits`, rules' `rate_limit`);
    /// empty when there are none.
    pub rate_limits: smcp_policy::LimitSpec,
}

impl BackendConfig {
    /// `"http"` or `"stdio"`.
    pub fn transport_name(&self) -> &'static str {
        match self.transport {
            Transport::Http(_) => "http",
            Transport::Stdio(_) => "stdio",
        }
    }
}

/// The transport of a backend, with its transport-specific settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// An MCP server reached over HTTP (`transport: http`).
    Http(HttpTransport),
    /// A child process speaking MCP over stdin/stdout (`transport: stdio`).
    Stdio(StdioTransport),
}

/// Settings of an HTTP backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTransport {
    /// Absolute http/https URL without query or fragment. May carry userinfo; never print
    /// it as is (see [`Config::describe_routes`](super::Config::describe_routes)).
    pub url: Url,
    /// Extra CA certificates (PEM) to trust for this backend (the configured path).
    pub ca_file: Option<PathBuf>,
    /// The certificates of `ca_file`, read and checked once by validation (by the rule of
    /// the crate that uses them, `smcp_transport::http::TrustedCas::load`); startup does not
    /// read the file again.
    pub trusted_cas: Option<smcp_transport::http::TrustedCas>,
}

/// Settings of a stdio backend (one child process per session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioTransport {
    /// Program to run (non-empty; looked up in `PATH` when it has no slash).
    pub command: String,
    /// Arguments, expanded.
    pub args: Vec<String>,
    /// Environment for the child, expanded. Keys keep their case (the Go project
    /// lower-cased them).
    pub env: BTreeMap<String, String>,
    /// Working directory of the child; checked to exist.
    pub working_dir: Option<PathBuf>,
    /// Timeout for one exchange with the child; defaults to the backend's `timeout`.
    pub stdio_timeout: Duration,
    /// Whether the child inherits smcp's whole environment (default false: only a
    /// minimal safe set plus `env`).
    pub inherit_env: bool,
    /// Longest line (one JSON-RPC message) accepted from the child. Default 16 MiB.
    pub max_line_bytes: u64,
    /// Most concurrent sessions (children). Default 100.
    pub max_sessions: u64,
    /// Most concurrent sessions of one principal (one client address, IPv6 by /64, when the
    /// backend has no authentication). Default 10, or `max_sessions` when that is smaller;
    /// never above `max_sessions`.
    pub max_sessions_per_principal: u64,
}

/// `mcp.backends[].auth` — per-backend authorization.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BackendAuth {
    /// `inherit` (default) follows `auth.mode`; `none` makes this backend public on purpose.
    pub mode: BackendAuthMode,
    /// Claims the token must carry for this backend, on top of `oidc.required_claims`.
    pub required_claims: ClaimRules,
    /// Scopes the token must carry for this backend.
    pub required_scopes: Vec<String>,
    /// `auth.dpop`: this backend's DPoP mode; `None` (`inherit`, the default) is `oidc.dpop`.
    pub dpop: Option<smcp_auth::dpop::DpopMode>,
}

/// Whether a backend follows the global authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendAuthMode {
    /// Use the global `auth.mode` (the default).
    #[default]
    Inherit,
    /// No authentication for this backend, even when `auth.mode` is `oidc`.
    None,
}

/// `mcp.backends[].identity_headers` — headers carrying the caller's identity upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// Whether smcp sets them (from the validated token). Default true. Incoming copies of
    /// these headers are always removed, so clients cannot spoof them.
    pub enabled: bool,
    /// Header for the token's `sub`. Default `x-subject`.
    pub subject_header: HeaderName,
    /// Header for the token's `email`. Default `x-email`.
    pub email_header: HeaderName,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            enabled: true,
            subject_header: HeaderName::from_static("x-subject"),
            email_header: HeaderName::from_static("x-email"),
        }
    }
}
