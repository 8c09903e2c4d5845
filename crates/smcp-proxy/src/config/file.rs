//! The file as written: serde structs mirroring the YAML/TOML schema, every key optional.
//!
//! These structs only say what may appear where (every struct rejects unknown keys); defaults,
//! `${VAR}` expansion, overrides and checks happen later, on the way to
//! [`Config`](super::Config). Field names are the file's keys, so they double as key paths
//! in messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::scalar::{FileClaim, FileIssuer, Scalar, StringList};

/// Lets a section be present but empty (`oidc:` followed only by comments), which YAML reads
/// as null.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) server: FileServer,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) auth: FileAuth,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) mcp: FileMcp,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) oidc: FileOidc,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) tls: FileTls,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) metrics: FileMetrics,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) audit: FileAudit,
}

/// `audit:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAudit {
    pub(crate) enabled: Option<Scalar>,
    pub(crate) sink: Option<String>,
    pub(crate) arguments_digest: Option<Scalar>,
    pub(crate) queue: Option<Scalar>,
}

/// `server:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileServer {
    pub(crate) host: Option<String>,
    pub(crate) port: Option<Scalar>,
    pub(crate) read_timeout: Option<Scalar>,
    pub(crate) write_timeout: Option<Scalar>,
    pub(crate) shutdown_timeout: Option<Scalar>,
    pub(crate) public_url: Option<String>,
    pub(crate) allowed_origins: Option<Vec<String>>,
    pub(crate) max_request_body: Option<Scalar>,
    pub(crate) max_connections: Option<Scalar>,
    pub(crate) allowed_hosts: Option<Vec<String>>,
    pub(crate) session_idle_timeout: Option<Scalar>,
    pub(crate) sse_keepalive: Option<Scalar>,
    pub(crate) workers: Option<Scalar>,
}

/// `auth:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAuth {
    pub(crate) mode: Option<String>,
}

/// `mcp:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileMcp {
    pub(crate) timeout: Option<Scalar>,
    pub(crate) backends: Option<Vec<FileBackend>>,
}

/// One `mcp.backends[]` item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBackend {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) transport: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) strip_path: Option<Scalar>,
    pub(crate) timeout: Option<Scalar>,
    /// Vestigial key of the Go schema, kept so old files load.
    pub(crate) model: Option<String>,
    /// Vestigial key of the Go schema, kept so old files load.
    pub(crate) max_tokens: Option<Scalar>,
    pub(crate) ca_file: Option<String>,
    pub(crate) max_sessions: Option<Scalar>,
    pub(crate) max_sessions_per_principal: Option<Scalar>,
    pub(crate) stdio: Option<FileStdio>,
    pub(crate) auth: Option<FileBackendAuth>,
    pub(crate) identity_headers: Option<FileIdentityHeaders>,
    pub(crate) policy: Option<FilePolicy>,
}

/// `mcp.backends[].policy:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilePolicy {
    pub(crate) default: Option<String>,
    pub(crate) rules: Option<Vec<FilePolicyRule>>,
    pub(crate) rate_limit: Option<FileRateLimit>,
    /// Tool name pattern -> rate (`"10/min"`).
    pub(crate) tool_rate_limits: Option<BTreeMap<String, Scalar>>,
}

/// `mcp.backends[].policy.rate_limit:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRateLimit {
    pub(crate) per_principal: Option<Scalar>,
    pub(crate) burst: Option<Scalar>,
    pub(crate) max_principals: Option<Scalar>,
}

/// `mcp.backends[].policy.rules[]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilePolicyRule {
    pub(crate) tools: Option<Vec<String>>,
    pub(crate) prompts: Option<Vec<String>>,
    pub(crate) resources: Option<Vec<String>>,
    pub(crate) methods: Option<Vec<String>>,
    pub(crate) allow: Option<Scalar>,
    pub(crate) deny: Option<Scalar>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) claims: Option<BTreeMap<String, FileClaim>>,
    /// Per caller, on what this rule decides (`"100/min"`).
    pub(crate) rate_limit: Option<Scalar>,
}

/// `mcp.backends[].stdio:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileStdio {
    pub(crate) command: Option<String>,
    /// Scalars, so `args: ["--port", 8080]` works as users expect.
    pub(crate) args: Option<Vec<Scalar>>,
    /// Scalars, so `DEBUG: true` works; keys keep their case.
    pub(crate) env: Option<BTreeMap<String, Scalar>>,
    pub(crate) working_dir: Option<String>,
    pub(crate) stdio_timeout: Option<Scalar>,
    pub(crate) inherit_env: Option<Scalar>,
    pub(crate) max_line_bytes: Option<Scalar>,
}

/// `mcp.backends[].auth:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBackendAuth {
    pub(crate) mode: Option<String>,
    pub(crate) required_claims: Option<BTreeMap<String, FileClaim>>,
    pub(crate) required_scopes: Option<Vec<String>>,
    pub(crate) dpop: Option<String>,
}

/// `mcp.backends[].identity_headers:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileIdentityHeaders {
    pub(crate) enabled: Option<Scalar>,
    pub(crate) subject_header: Option<String>,
    pub(crate) email_header: Option<String>,
}

/// `oidc:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileOidc {
    pub(crate) issuers: Option<Vec<FileIssuer>>,
    pub(crate) audience: Option<StringList>,
    pub(crate) required_claims: Option<BTreeMap<String, FileClaim>>,
    pub(crate) optional_claims: Option<BTreeMap<String, FileClaim>>,
    pub(crate) leeway: Option<Scalar>,
    pub(crate) jwks_refresh_min_interval: Option<Scalar>,
    pub(crate) scopes_supported: Option<Vec<String>>,
    pub(crate) scope_hierarchy: Option<BTreeMap<String, Vec<String>>>,
    pub(crate) dpop: Option<String>,
    pub(crate) dpop_replay_cache_size: Option<Scalar>,
    pub(crate) dpop_nonce: Option<Scalar>,
}

/// `tls:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTls {
    pub(crate) enabled: Option<Scalar>,
    pub(crate) cert_file: Option<String>,
    pub(crate) key_file: Option<String>,
}

/// `metrics:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileMetrics {
    pub(crate) enabled: Option<Scalar>,
    pub(crate) path: Option<String>,
}
