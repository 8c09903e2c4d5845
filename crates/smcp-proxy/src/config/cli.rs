//! Overrides from the command line, the highest-precedence source.
//!
//! The binary fills [`CliOverrides`] from its clap arguments; loading applies them after
//! the environment, so flags > `SMCP_PROXY_*` > file > defaults.

use std::path::PathBuf;

use super::error::Report;
use super::file::FileConfig;
use super::model::{AuthMode, LogFormat};
use super::scalar::Scalar;

/// The values smcp-server's flags can set. `None` means "flag not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliOverrides {
    /// `--config`: the config file (wins over `SMCP_PROXY_CONFIG`). No file at all means
    /// every default.
    pub config: Option<PathBuf>,
    /// `--auth-mode` (`none` or `oidc`; [`AuthMode`] implements `FromStr`).
    pub auth_mode: Option<AuthMode>,
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `-l/--log-level`: a level or an `EnvFilter` directive.
    pub log_level: Option<String>,
    /// `-f/--log-format` (`text` or `json`; [`LogFormat`] implements `FromStr`).
    pub log_format: Option<LogFormat>,
}

/// Applies the file keys among `cli` to `file`, noting each as coming from its flag.
pub(crate) fn apply_cli(file: &mut FileConfig, cli: &CliOverrides, report: &mut Report) {
    if let Some(mode) = cli.auth_mode {
        file.auth.mode = Some(mode.as_str().to_owned());
        report.set_origin("auth.mode", "--auth-mode");
    }
    if let Some(host) = &cli.host {
        file.server.host = Some(host.clone());
        report.set_origin("server.host", "--host");
    }
    if let Some(port) = cli.port {
        file.server.port = Some(Scalar::Int(i64::from(port)));
        report.set_origin("server.port", "--port");
    }
    if cli.log_level.is_some() {
        report.set_origin("log.level", "--log-level");
    }
}
