//! `SMCP_PROXY_*` environment overrides, Go/viper style.
//!
//! Every scalar key of `server`, `auth`, `mcp`, `oidc`, `tls`, `metrics` and `audit` (not backends)
//! has a variable: the key path upper-cased with dots turned into underscores, after the
//! prefix (`server.read_timeout` -> `SMCP_PROXY_SERVER_READ_TIMEOUT`). Names are resolved
//! against [`ENV_KEYS`], never by splitting on underscores (keys contain underscores).
//! List keys take comma-separated values. Empty values are ignored (as viper does). Values
//! are taken literally: no `${VAR}` expansion.
//!
//! Besides file keys, `SMCP_PROXY_LOG_LEVEL`, `SMCP_PROXY_LOG_FORMAT` and
//! `SMCP_PROXY_CONFIG` (the config path) are recognised. Any other `SMCP_PROXY_*` variable
//! is reported as a warning, never an error.

use super::duration::parse_duration;
use super::error::Report;
use super::file::FileConfig;
use super::model::{AuthMode, LogFormat};
use super::scalar::{FileIssuer, Scalar, StringList, parse_bool};
use super::size::parse_size;
use crate::shared::Env;

/// Prefix of every override variable.
pub const ENV_PREFIX: &str = "SMCP_PROXY_";
/// Variable naming the config file (a `--config` flag wins over it).
pub const ENV_CONFIG: &str = "SMCP_PROXY_CONFIG";
/// Variable for the log level (a `--log-level` flag wins over it).
pub const ENV_LOG_LEVEL: &str = "SMCP_PROXY_LOG_LEVEL";
/// Variable for the log format (a `--log-format` flag wins over it).
pub const ENV_LOG_FORMAT: &str = "SMCP_PROXY_LOG_FORMAT";

/// How an override's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Port,
    Bool,
    Duration,
    Size,
    /// A whole number.
    Integer,
    Url,
    AuthMode,
    /// Comma-separated.
    List,
}

/// The file keys that environment variables can override, with how each value is read.
const ENV_KEYS: &[(&str, Kind)] = &[
    ("server.host", Kind::Text),
    ("server.port", Kind::Port),
    ("server.read_timeout", Kind::Duration),
    ("server.write_timeout", Kind::Duration),
    ("server.shutdown_timeout", Kind::Duration),
    ("server.public_url", Kind::Url),
    ("server.allowed_origins", Kind::List),
    ("server.max_request_body", Kind::Size),
    ("server.max_connections", Kind::Integer),
    ("server.allowed_hosts", Kind::List),
    ("server.session_idle_timeout", Kind::Duration),
    ("server.sse_keepalive", Kind::Duration),
    ("server.workers", Kind::Integer),
    ("auth.mode", Kind::AuthMode),
    ("mcp.timeout", Kind::Duration),
    ("oidc.issuers", Kind::List),
    ("oidc.audience", Kind::List),
    ("oidc.leeway", Kind::Duration),
    ("oidc.jwks_refresh_min_interval", Kind::Duration),
    ("oidc.scopes_supported", Kind::List),
    ("oidc.dpop", Kind::Text),
    ("oidc.dpop_replay_cache_size", Kind::Integer),
    ("oidc.dpop_nonce", Kind::Bool),
    ("tls.enabled", Kind::Bool),
    ("tls.cert_file", Kind::Text),
    ("tls.key_file", Kind::Text),
    ("metrics.enabled", Kind::Bool),
    ("metrics.path", Kind::Text),
    ("audit.enabled", Kind::Bool),
    ("audit.sink", Kind::Text),
    ("audit.arguments_digest", Kind::Bool),
    ("audit.queue", Kind::Integer),
];

/// The environment variable that overrides file key `key` (`server.port` ->
/// `SMCP_PROXY_SERVER_PORT`).
pub fn env_var_for(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Every overridable file key, in schema order, with its variable name.
pub fn env_overrides() -> impl Iterator<Item = (&'static str, String)> {
    ENV_KEYS.iter().map(|(key, _)| (*key, env_var_for(key)))
}

/// What the environment says besides file keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct EnvExtras {
    pub(crate) log_level: Option<String>,
    pub(crate) log_format: Option<LogFormat>,
}

/// The config path named by `SMCP_PROXY_CONFIG`, if set and non-empty.
pub(crate) fn config_path(env: &dyn Env) -> Option<String> {
    env.var(ENV_CONFIG).filter(|value| !value.trim().is_empty())
}

/// Applies every `SMCP_PROXY_*` variable of `env` to `file`.
pub(crate) fn apply_env(file: &mut FileConfig, env: &dyn Env, report: &mut Report) -> EnvExtras {
    let mut extras = EnvExtras::default();
    for (var, value) in env.vars_with_prefix(ENV_PREFIX) {
        let value = value.trim();
        if var == ENV_CONFIG {
            continue;
        }
        if value.is_empty() {
            continue;
        }
        if var == ENV_LOG_LEVEL {
            extras.log_level = Some(value.to_owned());
            report.set_origin("log.level", &var);
            continue;
        }
        if var == ENV_LOG_FORMAT {
            match value.parse() {
                Ok(format) => extras.log_format = Some(format),
                Err(message) => report.error(&var, message),
            }
            continue;
        }
        let Some((key, kind)) = ENV_KEYS.iter().find(|(key, _)| env_var_for(key) == var) else {
            report.warn(
                &var,
                "unknown variable ignored (not a known SMCP_PROXY_ setting; backends cannot be set from the environment)",
            );
            continue;
        };
        if let Err(message) = check(*kind, value) {
            report.error(&var, format!("invalid value for {key}: {message}"));
            continue;
        }
        set(file, key, value);
        report.set_origin(key, &var);
    }
    extras
}

/// Checks that `value` reads as `kind`, so a bad value is reported against the variable.
fn check(kind: Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::Text | Kind::List => Ok(()),
        Kind::Port => Scalar::Str(value.to_owned()).to_port().map(drop),
        Kind::Bool => parse_bool(value).map(drop),
        Kind::Duration => parse_duration(value).map(drop),
        Kind::Size => parse_size(value).map(drop),
        Kind::Integer => Scalar::Str(value.to_owned()).to_u64().map(drop),
        Kind::Url => url::Url::parse(value)
            .map(drop)
            .map_err(|err| format!("invalid URL {value:?}: {err}")),
        Kind::AuthMode => value.parse::<AuthMode>().map(drop),
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Stores a checked `value` at `key`; validation reads it like a file value.
fn set(file: &mut FileConfig, key: &str, value: &str) {
    let text = || Some(value.to_owned());
    let scalar = || Some(Scalar::Str(value.to_owned()));
    let list = || Some(split_list(value));
    match key {
        "server.host" => file.server.host = text(),
        "server.port" => file.server.port = scalar(),
        "server.read_timeout" => file.server.read_timeout = scalar(),
        "server.write_timeout" => file.server.write_timeout = scalar(),
        "server.shutdown_timeout" => file.server.shutdown_timeout = scalar(),
        "server.public_url" => file.server.public_url = text(),
        "server.allowed_origins" => file.server.allowed_origins = list(),
        "server.max_request_body" => file.server.max_request_body = scalar(),
        "server.max_connections" => file.server.max_connections = scalar(),
        "server.allowed_hosts" => file.server.allowed_hosts = list(),
        "server.session_idle_timeout" => file.server.session_idle_timeout = scalar(),
        "server.sse_keepalive" => file.server.sse_keepalive = scalar(),
        "server.workers" => file.server.workers = scalar(),
        "auth.mode" => file.auth.mode = text(),
        "mcp.timeout" => file.mcp.timeout = scalar(),
        "oidc.issuers" => {
            file.oidc.issuers = Some(split_list(value).into_iter().map(FileIssuer::Url).collect());
        }
        "oidc.audience" => file.oidc.audience = list().map(StringList),
        "oidc.leeway" => file.oidc.leeway = scalar(),
        "oidc.jwks_refresh_min_interval" => file.oidc.jwks_refresh_min_interval = scalar(),
        "oidc.scopes_supported" => file.oidc.scopes_supported = list(),
        "oidc.dpop" => file.oidc.dpop = text(),
        "oidc.dpop_replay_cache_size" => file.oidc.dpop_replay_cache_size = scalar(),
        "oidc.dpop_nonce" => file.oidc.dpop_nonce = scalar(),
        "tls.enabled" => file.tls.enabled = scalar(),
        "tls.cert_file" => file.tls.cert_file = text(),
        "tls.key_file" => file.tls.key_file = text(),
        "metrics.enabled" => file.metrics.enabled = scalar(),
        "metrics.path" => file.metrics.path = text(),
        "audit.enabled" => file.audit.enabled = scalar(),
        "audit.sink" => file.audit.sink = text(),
        "audit.arguments_digest" => file.audit.arguments_digest = scalar(),
        "audit.queue" => file.audit.queue = scalar(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::{ENV_KEYS, env_overrides, env_var_for, set};
    use crate::config::file::FileConfig;

    #[test]
    fn names_follow_the_key_paths() {
        assert_eq!(env_var_for("server.port"), "SMCP_PROXY_SERVER_PORT");
        assert_eq!(
            env_var_for("oidc.jwks_refresh_min_interval"),
            "SMCP_PROXY_OIDC_JWKS_REFRESH_MIN_INTERVAL"
        );
        let names: Vec<String> = env_overrides().map(|(_, var)| var).collect();
        assert!(names.contains(&"SMCP_PROXY_SERVER_ALLOWED_ORIGINS".to_owned()));
        assert_eq!(names.len(), ENV_KEYS.len());
    }

    /// Every key of the table is wired to a field: setting it changes the file.
    #[test]
    fn every_key_sets_something() {
        for (key, _) in ENV_KEYS {
            let mut file = FileConfig::default();
            set(&mut file, key, "x");
            assert_ne!(file, FileConfig::default(), "{key}");
        }
    }
}
