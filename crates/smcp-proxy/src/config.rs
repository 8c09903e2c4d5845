//! Configuration of smcp-server: the file schema, its loading pipeline and the validated
//! [`Config`] the server runs from.
//!
//! The schema is the Go smcp-proxy's (`server`, `auth`, `mcp.backends[]`, `oidc`, `tls`,
//! `metrics`), in YAML by default or TOML when the file name ends in `.toml`, with a few
//! additions (per-backend auth, identity headers, limits). Loading, all before any port is
//! bound, goes:
//!
//! 1. read and parse the file ([`Format`]); unknown keys are errors naming the key path
//!    and line. No file means every default.
//! 2. expand `${VAR}` and `${VAR:-default}` in every string value (`$$` is a literal `$`),
//!    from an injectable [`Env`];
//! 3. apply `SMCP_PROXY_*` overrides ([`env_overrides`] lists them);
//! 4. apply flags ([`CliOverrides`]): flags > environment > file > defaults;
//! 5. validate every rule, collecting every problem into one [`ConfigError`].
//!
//! Safer than the Go project on purpose: the default host is `127.0.0.1` (not `0.0.0.0`),
//! `write_timeout` is not applied to streams, stdio env keys keep their case, `${VAR}` is
//! expanded, and a bare number is not accepted as a duration.

mod backend;
mod cli;
mod describe;
mod describe_policy;
mod duration;
mod env;
mod error;
mod expand;
mod file;
mod model;
mod oidc;
mod parse;
mod pem;
mod scalar;
mod size;
mod validate;

use std::path::{Path, PathBuf};

pub use crate::shared::{Env, ProcessEnv};
pub use backend::{
    BackendAuth, BackendAuthMode, BackendConfig, HttpTransport, IdentityHeaders, StdioTransport,
    Transport,
};
pub use cli::CliOverrides;
pub use env::{ENV_CONFIG, ENV_LOG_FORMAT, ENV_LOG_LEVEL, ENV_PREFIX, env_overrides, env_var_for};
pub use error::{ConfigError, Diagnostic};
pub use model::{
    AllowedHost, AuditConfig, AuditSinkConfig, AuthConfig, AuthMode, Config, LogConfig, LogFormat,
    McpConfig, MetricsConfig, ServerConfig, TlsConfig, TlsKey,
};
pub use oidc::{ClaimRule, ClaimRules, IssuerConfig, OidcConfig};
pub use parse::Format;
pub use pem::{PemFileError, load_certificates, load_private_key};

use error::{Report, io_message};
use file::FileConfig;
use validate::LogInputs;

/// A loaded configuration and what the caller should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Things worth logging at warn level (a public listener without auth, unknown
    /// `SMCP_PROXY_*` variables, ...). They never stop the server.
    pub warnings: Vec<Diagnostic>,
    /// The file that was read, if any (`--config`, else `SMCP_PROXY_CONFIG`).
    pub source: Option<PathBuf>,
}

/// Loads the configuration the way smcp-server does: the file named by `cli.config` or
/// else `SMCP_PROXY_CONFIG` (none means all defaults), then `env`, then `cli`.
pub fn load(cli: &CliOverrides, env: &dyn Env) -> Result<Loaded, ConfigError> {
    let path = cli
        .config
        .clone()
        .or_else(|| env::config_path(env).map(PathBuf::from));
    let Some(path) = path else {
        let (config, warnings) = build(FileConfig::default(), cli, env)?;
        return Ok(Loaded {
            config,
            warnings,
            source: None,
        });
    };
    let text = read_file(&path)?;
    let file = parse::parse(&text, Format::from_path(&path), &path.display().to_string())
        .map_err(|d| ConfigError::single(d.key, d.message))?;
    let (config, warnings) = build(file, cli, env)?;
    Ok(Loaded {
        config,
        warnings,
        source: Some(path),
    })
}

/// Loads from text already in memory (`cli.config` is ignored); otherwise like [`load`].
pub fn load_str(
    text: &str,
    format: Format,
    cli: &CliOverrides,
    env: &dyn Env,
) -> Result<Loaded, ConfigError> {
    let source = match format {
        Format::Yaml => "<yaml>",
        Format::Toml => "<toml>",
    };
    let file =
        parse::parse(text, format, source).map_err(|d| ConfigError::single(d.key, d.message))?;
    let (config, warnings) = build(file, cli, env)?;
    Ok(Loaded {
        config,
        warnings,
        source: None,
    })
}

impl Config {
    /// Parses and validates a YAML document with no overrides and an empty environment
    /// (so `${VAR}` only works with a default). Handy in tests; warnings are dropped.
    pub fn from_yaml_str(text: &str) -> Result<Config, ConfigError> {
        let env = std::collections::BTreeMap::<String, String>::new();
        load_str(text, Format::Yaml, &CliOverrides::default(), &env).map(|loaded| loaded.config)
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|err| {
        ConfigError::single(
            path.display().to_string(),
            format!("cannot read config file: {}", io_message(&err)),
        )
    })
}

/// Steps 2 to 5 of the pipeline.
fn build(
    mut file: FileConfig,
    cli: &CliOverrides,
    env: &dyn Env,
) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let mut report = Report::default();
    expand::expand_file(&mut file, env, &mut report);
    let extras = env::apply_env(&mut file, env, &mut report);
    cli::apply_cli(&mut file, cli, &mut report);
    let log = LogInputs {
        level: cli.log_level.clone().or(extras.log_level),
        format: cli.log_format.or(extras.log_format),
    };
    let config = validate::validate(&file, log, &mut report);
    let warnings = report.finish()?;
    Ok((config, warnings))
}

#[cfg(test)]
mod tests;
