//! From the merged file values to a typed [`Config`], checking every rule and recording
//! every problem (validation never stops at the first one).
//!
//! Each section has its own file; this one holds the small sections (`auth`, `tls`,
//! `metrics`, logging) and the cross-section warnings.

mod audit;
mod backend;
mod fields;
mod oidc;
mod paths;
mod policy;
mod server;

use std::path::PathBuf;

use super::error::Report;
use super::file::{FileConfig, FileMetrics, FileTls};
use super::model::{
    AuthConfig, AuthMode, Config, LogConfig, LogFormat, McpConfig, MetricsConfig, TlsConfig, TlsKey,
};
use super::pem::{load_certificates, load_private_key};
use fields::{boolean, duration};
use paths::{OPS_ENDPOINTS, is_under, normalize_path};

/// Log settings gathered from flags and the environment (they are not file keys).
#[derive(Debug, Default)]
pub(crate) struct LogInputs {
    pub(crate) level: Option<String>,
    pub(crate) format: Option<LogFormat>,
}

/// Checks `file` and builds the [`Config`]. The result is only meaningful when `report`
/// holds no error; invalid values are replaced by defaults so checking can go on.
pub(crate) fn validate(file: &FileConfig, log: LogInputs, report: &mut Report) -> Config {
    let mode = match file.auth.mode.as_deref().map(str::parse::<AuthMode>) {
        None => AuthMode::None,
        Some(Ok(mode)) => mode,
        Some(Err(message)) => {
            report.error("auth.mode", message);
            AuthMode::None
        }
    };
    let server = server::server(report, &file.server);
    let metrics = metrics(report, &file.metrics);
    let default_timeout = duration(
        report,
        "mcp.timeout",
        file.mcp.timeout.as_ref(),
        std::time::Duration::from_secs(60),
        true,
    );
    let cx = backend::Context {
        default_timeout,
        auth_mode: mode,
        metrics_path: metrics.enabled.then_some(metrics.path.as_str()),
    };
    let backends = backend::backends(report, file.mcp.backends.as_ref(), &cx);
    let oidc = oidc::oidc(report, &file.oidc, mode);
    policy::unreachable_scopes(report, file.mcp.backends.as_ref(), &oidc.scope_hierarchy);
    let tls = tls(report, &file.tls);
    let log = log_config(report, log);
    let audit = audit::audit(report, &file.audit);

    if mode == AuthMode::None && !server.is_loopback() {
        report.warn(
            "server.host",
            format!(
                "listening on {:?} with auth.mode \"none\": anyone who can reach this port can use every backend",
                server.host
            ),
        );
    }
    if file.mcp.backends.as_ref().is_none_or(Vec::is_empty) {
        report.warn(
            "mcp.backends",
            "no backends are configured: every request will get 404",
        );
    }
    Config {
        server,
        auth: AuthConfig { mode },
        mcp: McpConfig {
            timeout: default_timeout,
            backends,
        },
        oidc,
        tls,
        metrics,
        log,
        audit,
    }
}

fn metrics(report: &mut Report, file: &FileMetrics) -> MetricsConfig {
    let enabled = boolean(report, "metrics.enabled", file.enabled.as_ref(), true);
    let default = || "/metrics".to_owned();
    let path = match &file.path {
        None => default(),
        Some(path) => match normalize_path(path.trim()) {
            Ok(path) if path == "/" => {
                report.error("metrics.path", "must not be \"/\"");
                default()
            }
            Ok(path) => {
                if let Some(ops) = OPS_ENDPOINTS
                    .iter()
                    .find(|ops| is_under(&path, ops) || is_under(ops, &path))
                {
                    report.error(
                        "metrics.path",
                        format!("{path:?} collides with smcp's own endpoint {ops:?}"),
                    );
                }
                path
            }
            Err(message) => {
                report.error("metrics.path", message);
                default()
            }
        },
    };
    MetricsConfig { enabled, path }
}

fn tls(report: &mut Report, file: &FileTls) -> Option<TlsConfig> {
    if !boolean(report, "tls.enabled", file.enabled.as_ref(), false) {
        return None;
    }
    let mut file_at = |key: &str, value: Option<&String>| -> Option<PathBuf> {
        match value.map(|v| v.trim()) {
            Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
            _ => {
                report.error(key, "is required when tls.enabled is true");
                None
            }
        }
    };
    let cert_file = file_at("tls.cert_file", file.cert_file.as_ref());
    let key_file = file_at("tls.key_file", file.key_file.as_ref());
    // Read once, here: the listener is built from what was loaded.
    let certificates = cert_file
        .as_ref()
        .and_then(|path| match load_certificates(path) {
            Ok(certificates) => Some(certificates),
            Err(err) => {
                report.error("tls.cert_file", err.to_string());
                None
            }
        });
    let key = key_file
        .as_ref()
        .and_then(|path| match load_private_key(path) {
            Ok(key) => Some(TlsKey::new(key)),
            Err(err) => {
                report.error("tls.key_file", err.to_string());
                None
            }
        });
    Some(TlsConfig {
        cert_file: cert_file?,
        key_file: key_file?,
        certificates: certificates?,
        key: key?,
    })
}

const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

fn log_config(report: &mut Report, log: LogInputs) -> LogConfig {
    let level = match log.level {
        None => "info".to_owned(),
        Some(level) => {
            let lower = level.trim().to_ascii_lowercase();
            let lower = if lower == "warning" {
                "warn".to_owned()
            } else {
                lower
            };
            if LEVELS.contains(&lower.as_str()) {
                lower
            } else if level.contains(['=', ','])
                && tracing_subscriber::EnvFilter::try_new(level.trim()).is_ok()
            {
                level.trim().to_owned()
            } else {
                report.error(
                    "log.level",
                    format!(
                        "must be one of trace, debug, info, warn, error, off or a filter like \"smcp_proxy=debug,info\" (got {level:?})"
                    ),
                );
                "info".to_owned()
            }
        }
    };
    LogConfig {
        level,
        format: log.format.unwrap_or_default(),
    }
}
