//! Validation of `mcp.backends[]`: each backend on its own, then ids and paths across them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

use super::fields::{UrlRules, boolean, duration, http_url, required, size, whole};
use super::oidc::{claims, strings};
use super::paths::{OPS_ENDPOINTS, is_under, normalize_path};
use crate::config::backend::{
    BackendAuth, BackendAuthMode, BackendConfig, HttpTransport, IdentityHeaders, StdioTransport,
    Transport,
};
use crate::config::error::Report;
use crate::config::file::{FileBackend, FileBackendAuth, FileIdentityHeaders, FileStdio};
use crate::config::model::AuthMode;
use smcp_transport::http::TrustedCas;

const DEFAULT_MAX_SESSIONS: u64 = 100;
/// One caller (or one address, anonymously) may hold a tenth of the default `max_sessions`:
/// enough for a client running several agents, too few to crowd out everyone else.
const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL: u64 = 10;
const DEFAULT_MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// Headers smcp or HTTP itself gives a meaning to, so they cannot carry identity.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "host",
    "mcp-protocol-version",
    "mcp-session-id",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// What every backend's validation needs from the rest of the file.
pub(super) struct Context<'a> {
    pub(super) default_timeout: Duration,
    pub(super) auth_mode: AuthMode,
    /// The metrics path when metrics are enabled (an operations endpoint too).
    pub(super) metrics_path: Option<&'a str>,
}

pub(super) fn backends(
    report: &mut Report,
    file: Option<&Vec<FileBackend>>,
    cx: &Context<'_>,
) -> Vec<BackendConfig> {
    let mut out = Vec::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut paths: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in file.into_iter().flatten().enumerate() {
        let key = format!("mcp.backends[{i}]");
        let id = item
            .id
            .as_ref()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty());
        if let Some(id) = &id {
            if let Some(first) = ids.get(id) {
                report.error(
                    format!("{key}.id"),
                    format!("duplicate id {id:?} (also mcp.backends[{first}])"),
                );
            } else {
                ids.insert(id.clone(), i);
            }
        }
        let path = item
            .path
            .as_ref()
            .and_then(|path| normalize_path(path.trim()).ok());
        if let Some(path) = &path {
            if let Some(first) = paths.get(path) {
                report.error(
                    format!("{key}.path"),
                    format!("duplicate path {path:?} (also mcp.backends[{first}])"),
                );
            } else {
                paths.insert(path.clone(), i);
            }
        }
        if let Some(backend) = backend(report, &key, item, cx) {
            out.push(backend);
        }
    }
    out
}

fn backend(
    report: &mut Report,
    key: &str,
    file: &FileBackend,
    cx: &Context<'_>,
) -> Option<BackendConfig> {
    let k = |field: &str| format!("{key}.{field}");
    let id = required(report, &k("id"), file.id.as_ref()).map(str::to_owned);
    if let Some(id) = &id
        && !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        report.error(
            k("id"),
            format!("may only contain letters, digits, \"_\", \".\" and \"-\" (got {id:?})"),
        );
    }
    let path = required(report, &k("path"), file.path.as_ref()).and_then(|path| {
        normalize_path(path)
            .map_err(|message| report.error(k("path"), message))
            .ok()
    });
    if let Some(path) = &path {
        check_ops_collision(report, &k("path"), path, cx.metrics_path);
    }
    let timeout = duration(
        report,
        &k("timeout"),
        file.timeout.as_ref(),
        cx.default_timeout,
        true,
    );
    let strip_path = boolean(report, &k("strip_path"), file.strip_path.as_ref(), false);
    let max_tokens = file
        .max_tokens
        .as_ref()
        .map(|_| whole(report, &k("max_tokens"), file.max_tokens.as_ref(), 0, 0));
    let transport = transport(report, key, file, timeout);
    let auth = backend_auth(report, &k("auth"), file.auth.as_ref(), cx.auth_mode);
    let identity_headers = identity_headers(
        report,
        &k("identity_headers"),
        file.identity_headers.as_ref(),
    );
    let anonymous = cx.auth_mode == AuthMode::None || auth.mode == BackendAuthMode::None;
    let (policy, rate_limits) =
        super::policy::policy(report, &k("policy"), file.policy.as_ref(), anonymous);
    let (id, path, transport) = (id?, path?, transport?);
    Some(BackendConfig {
        name: file
            .name
            .as_ref()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| id.clone()),
        id,
        path,
        strip_path,
        timeout,
        model: file.model.clone(),
        max_tokens,
        transport,
        auth,
        identity_headers,
        policy,
        rate_limits,
    })
}

/// A backend path may not equal or lie below an operations endpoint (it would never be
/// reached); an endpoint lying below the backend's path only shadows part of it (warning).
fn check_ops_collision(report: &mut Report, key: &str, path: &str, metrics_path: Option<&str>) {
    for ops in OPS_ENDPOINTS.iter().copied().chain(metrics_path) {
        if is_under(path, ops) {
            report.error(
                key,
                format!("{path:?} collides with smcp's own endpoint {ops:?}: choose another path"),
            );
        } else if is_under(ops, path) {
            report.warn(
                key,
                format!("requests to {ops:?} are answered by smcp itself, not by the backend at {path:?}"),
            );
        }
    }
}

fn transport(
    report: &mut Report,
    key: &str,
    file: &FileBackend,
    timeout: Duration,
) -> Option<Transport> {
    let k = |field: &str| format!("{key}.{field}");
    let name = required(report, &k("transport"), file.transport.as_ref())?;
    match name.to_ascii_lowercase().as_str() {
        "http" => {
            if file.stdio.is_some() {
                report.error(
                    k("stdio"),
                    "is only valid for stdio backends (transport is \"http\")",
                );
            }
            for (field, value) in [
                ("max_sessions", &file.max_sessions),
                (
                    "max_sessions_per_principal",
                    &file.max_sessions_per_principal,
                ),
            ] {
                if value.is_some() {
                    report.error(
                        k(field),
                        "is only valid for stdio backends (transport is \"http\")",
                    );
                }
            }
            let rules = UrlRules {
                query: false,
                userinfo: true,
            };
            let url = required(report, &k("url"), file.url.as_ref()).and_then(|url| {
                http_url(url, rules)
                    .map_err(|message| report.error(k("url"), message))
                    .ok()
            });
            let trusted_cas = file.ca_file.as_ref().and_then(|path| {
                TrustedCas::load(&PathBuf::from(path.trim()))
                    .map_err(|err| report.error(k("ca_file"), err.to_string()))
                    .ok()
            });
            let ca_file = trusted_cas.as_ref().map(|cas| cas.path().to_owned());
            Some(Transport::Http(HttpTransport {
                url: url?,
                ca_file,
                trusted_cas,
            }))
        }
        "stdio" => {
            if file.url.is_some() {
                report.error(
                    k("url"),
                    "must not be set for stdio backends (transport is \"stdio\")",
                );
            }
            if file.ca_file.is_some() {
                report.error(
                    k("ca_file"),
                    "is only valid for http backends (transport is \"stdio\")",
                );
            }
            let max_sessions = whole(
                report,
                &k("max_sessions"),
                file.max_sessions.as_ref(),
                DEFAULT_MAX_SESSIONS,
                1,
            );
            let limits = SessionLimits {
                max_sessions,
                per_principal: per_principal(report, &k, file, max_sessions),
            };
            let Some(stdio_file) = &file.stdio else {
                report.error(k("stdio"), "is required for stdio backends");
                return None;
            };
            stdio(report, &k("stdio"), stdio_file, timeout, limits).map(Transport::Stdio)
        }
        _ => {
            report.error(
                k("transport"),
                format!("must be \"http\" or \"stdio\" (got {name:?})"),
            );
            None
        }
    }
}

/// The validated session limits of a stdio backend.
struct SessionLimits {
    max_sessions: u64,
    per_principal: u64,
}

/// `max_sessions_per_principal`: at least 1 and at most `max_sessions` (the default is
/// lowered to `max_sessions` when that is smaller).
fn per_principal(
    report: &mut Report,
    k: &dyn Fn(&str) -> String,
    file: &FileBackend,
    max_sessions: u64,
) -> u64 {
    let key = k("max_sessions_per_principal");
    let value = file.max_sessions_per_principal.as_ref();
    let n = whole(
        report,
        &key,
        value,
        DEFAULT_MAX_SESSIONS_PER_PRINCIPAL.min(max_sessions),
        1,
    );
    if value.is_some() && n > max_sessions {
        report.error(
            key,
            format!("must not exceed max_sessions ({max_sessions}) (got {n})"),
        );
    }
    n.min(max_sessions)
}

fn stdio(
    report: &mut Report,
    key: &str,
    file: &FileStdio,
    timeout: Duration,
    limits: SessionLimits,
) -> Option<StdioTransport> {
    let k = |field: &str| format!("{key}.{field}");
    let command = required(report, &k("command"), file.command.as_ref()).map(str::to_owned);
    if let Some(command) = &command
        && command.contains('\0')
    {
        report.error(k("command"), "must not contain a NUL character");
    }
    let mut args = Vec::new();
    for (i, arg) in file.args.iter().flatten().enumerate() {
        let arg = arg.to_string();
        if arg.contains('\0') {
            report.error(
                format!("{key}.args[{i}]"),
                "must not contain a NUL character",
            );
        }
        args.push(arg);
    }
    let mut env = BTreeMap::new();
    for (name, value) in file.env.iter().flatten() {
        let value = value.to_string();
        if name.is_empty() || name.contains(['=', '\0']) {
            report.error(
                k("env"),
                format!("invalid variable name {name:?}: must be non-empty without \"=\" or NUL"),
            );
        } else if value.contains('\0') {
            report.error(
                format!("{key}.env.{name}"),
                "must not contain a NUL character",
            );
        } else {
            // Keys keep their case: the Go project lower-cased them, breaking PATH-like names.
            env.insert(name.clone(), value);
        }
    }
    let working_dir = file.working_dir.as_ref().and_then(|dir| {
        let path = PathBuf::from(dir.trim());
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => Some(path),
            Ok(_) => {
                report.error(k("working_dir"), format!("{path:?} is not a directory"));
                None
            }
            Err(err) => {
                let message = crate::config::error::io_message(&err);
                report.error(k("working_dir"), format!("cannot use {path:?}: {message}"));
                None
            }
        }
    });
    Some(StdioTransport {
        command: command?,
        args,
        env,
        working_dir,
        stdio_timeout: duration(
            report,
            &k("stdio_timeout"),
            file.stdio_timeout.as_ref(),
            timeout,
            true,
        ),
        inherit_env: boolean(report, &k("inherit_env"), file.inherit_env.as_ref(), false),
        max_line_bytes: size(
            report,
            &k("max_line_bytes"),
            file.max_line_bytes.as_ref(),
            DEFAULT_MAX_LINE_BYTES,
            1024,
        ),
        max_sessions: limits.max_sessions,
        max_sessions_per_principal: limits.per_principal,
    })
}

fn backend_auth(
    report: &mut Report,
    key: &str,
    file: Option<&FileBackendAuth>,
    global: AuthMode,
) -> BackendAuth {
    let Some(file) = file else {
        return BackendAuth::default();
    };
    let mode = match file.mode.as_deref().map(|m| m.trim().to_ascii_lowercase()) {
        None => BackendAuthMode::Inherit,
        Some(m) if m == "inherit" => BackendAuthMode::Inherit,
        Some(m) if m == "none" => BackendAuthMode::None,
        Some(_) => {
            let got = file.mode.as_deref().unwrap_or_default();
            report.error(
                format!("{key}.mode"),
                format!("must be \"inherit\" or \"none\" (got {got:?})"),
            );
            BackendAuthMode::Inherit
        }
    };
    let required_claims = claims(
        report,
        &format!("{key}.required_claims"),
        file.required_claims.as_ref(),
    );
    let required_scopes = strings(
        report,
        &format!("{key}.required_scopes"),
        file.required_scopes.as_ref(),
        true,
    );
    let has_rules = !required_claims.is_empty() || !required_scopes.is_empty();
    if has_rules && mode == BackendAuthMode::None {
        report.error(
            format!("{key}.mode"),
            "is \"none\" (public), so required_claims and required_scopes could never be checked: remove them or the mode",
        );
    } else if has_rules && global == AuthMode::None {
        report.warn(
            key,
            "required_claims and required_scopes are ignored because auth.mode is \"none\"",
        );
    }
    let dpop = match file.dpop.as_deref().map(str::trim) {
        None | Some("inherit") => None,
        Some(value) => super::oidc::dpop_mode(report, &format!("{key}.dpop"), Some(value)),
    };
    if dpop.is_some() && mode == BackendAuthMode::None {
        report.error(
            format!("{key}.dpop"),
            "is set on a public backend (auth.mode none): nothing would check it",
        );
    }
    BackendAuth {
        mode,
        required_claims,
        required_scopes,
        dpop,
    }
}

fn identity_headers(
    report: &mut Report,
    key: &str,
    file: Option<&FileIdentityHeaders>,
) -> IdentityHeaders {
    let defaults = IdentityHeaders::default();
    let Some(file) = file else {
        return defaults;
    };
    let mut header = |field: &str, value: Option<&String>, default: HeaderName| -> HeaderName {
        let Some(value) = value else {
            return default;
        };
        let field_key = format!("{key}.{field}");
        match HeaderName::try_from(value.trim()) {
            Ok(name) if RESERVED_HEADERS.contains(&name.as_str()) => {
                report.error(
                    field_key,
                    format!("{value:?} is a header smcp or HTTP already uses"),
                );
                default
            }
            Ok(name) => name,
            Err(_) => {
                report.error(field_key, format!("invalid header name {value:?}"));
                default
            }
        }
    };
    let subject_header = header(
        "subject_header",
        file.subject_header.as_ref(),
        defaults.subject_header,
    );
    let email_header = header(
        "email_header",
        file.email_header.as_ref(),
        defaults.email_header,
    );
    if subject_header == email_header {
        report.error(
            format!("{key}.email_header"),
            format!(
                "must differ from subject_header (both are {:?})",
                subject_header.as_str()
            ),
        );
    }
    IdentityHeaders {
        enabled: boolean(
            report,
            &format!("{key}.enabled"),
            file.enabled.as_ref(),
            true,
        ),
        subject_header,
        email_header,
    }
}
