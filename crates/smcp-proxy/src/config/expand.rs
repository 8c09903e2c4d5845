//! `${VAR}` expansion in every string value of the file.
//!
//! Syntax (the same in YAML and TOML):
//! - `${NAME}`: the value of `NAME`; an error naming the key and the variable if it is unset.
//! - `${NAME:-default}`: the value of `NAME`, or `default` when it is unset or empty. The
//!   default is taken literally up to the first `}` (no nesting).
//! - `$$`: a literal `$` (write `$${NAME}` to keep `${NAME}` as text).
//! - A `$` followed by anything else is kept as it is, so passwords containing `$` rarely
//!   need escaping; `$NAME` without braces is **not** expanded.
//!
//! `NAME` is `[A-Za-z_][A-Za-z0-9_]*`. Values are expanded, map keys (env names, claim
//! names) are not. Expansion is done once: a value that itself contains `${...}` is not
//! expanded again.

use super::error::Report;
use super::file::{FileBackend, FileConfig, FileStdio};
use super::scalar::{FileClaim, FileIssuer, Scalar};
use crate::shared::Env;

/// Expands `text`; on failure returns a message naming the variable.
pub(crate) fn expand_str(text: &str, env: &dyn Env) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                return Err(format!(
                    "unterminated \"${{\" in {text:?} (write \"$$\" for a literal \"$\")"
                ));
            };
            out.push_str(&lookup(&inner[..end], env)?);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one `NAME` or `NAME:-default` reference.
fn lookup(reference: &str, env: &dyn Env) -> Result<String, String> {
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    if !is_var_name(name) {
        return Err(format!(
            "invalid variable reference \"${{{reference}}}\": write ${{NAME}} or ${{NAME:-default}} (and \"$$\" for a literal \"$\")"
        ));
    }
    match (env.var(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(format!(
            "environment variable {name} is not set (referenced as \"${{{name}}}\"; use \"${{{name}:-default}}\" to give a default)"
        )),
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Expands every string value of `file` in place, recording failures against their key path.
pub(crate) fn expand_file(file: &mut FileConfig, env: &dyn Env, report: &mut Report) {
    let mut x = Expander { env, report };
    let server = &mut file.server;
    x.string(&mut server.host, "server.host");
    x.scalar(&mut server.port, "server.port");
    x.scalar(&mut server.read_timeout, "server.read_timeout");
    x.scalar(&mut server.write_timeout, "server.write_timeout");
    x.scalar(&mut server.shutdown_timeout, "server.shutdown_timeout");
    x.string(&mut server.public_url, "server.public_url");
    x.strings(&mut server.allowed_origins, "server.allowed_origins");
    x.scalar(&mut server.max_request_body, "server.max_request_body");
    x.scalar(&mut server.max_connections, "server.max_connections");
    x.strings(&mut server.allowed_hosts, "server.allowed_hosts");
    x.scalar(
        &mut server.session_idle_timeout,
        "server.session_idle_timeout",
    );
    x.scalar(&mut server.sse_keepalive, "server.sse_keepalive");
    x.scalar(&mut server.workers, "server.workers");
    x.string(&mut file.auth.mode, "auth.mode");
    x.scalar(&mut file.mcp.timeout, "mcp.timeout");
    for (i, backend) in file.mcp.backends.iter_mut().flatten().enumerate() {
        x.backend(backend, &format!("mcp.backends[{i}]"));
    }
    let oidc = &mut file.oidc;
    for (i, issuer) in oidc.issuers.iter_mut().flatten().enumerate() {
        let key = format!("oidc.issuers[{i}]");
        match issuer {
            FileIssuer::Url(url) => x.one(url, &key),
            FileIssuer::Full(object) => {
                x.string(&mut object.issuer, &format!("{key}.issuer"));
                x.string(&mut object.jwks_uri, &format!("{key}.jwks_uri"));
                x.strings(&mut object.audiences, &format!("{key}.audiences"));
            }
        }
    }
    if let Some(audience) = &mut oidc.audience {
        // A single string and a one-item list look the same to the user: say "oidc.audience"
        // for the former.
        let single = audience.0.len() == 1;
        for (i, value) in audience.0.iter_mut().enumerate() {
            let key = if single {
                "oidc.audience".to_owned()
            } else {
                format!("oidc.audience[{i}]")
            };
            x.one(value, &key);
        }
    }
    x.claims(&mut oidc.required_claims, "oidc.required_claims");
    x.claims(&mut oidc.optional_claims, "oidc.optional_claims");
    x.scalar(&mut oidc.leeway, "oidc.leeway");
    x.scalar(
        &mut oidc.jwks_refresh_min_interval,
        "oidc.jwks_refresh_min_interval",
    );
    x.strings(&mut oidc.scopes_supported, "oidc.scopes_supported");
    x.scalar(&mut file.tls.enabled, "tls.enabled");
    x.string(&mut file.tls.cert_file, "tls.cert_file");
    x.string(&mut file.tls.key_file, "tls.key_file");
    x.scalar(&mut file.metrics.enabled, "metrics.enabled");
    x.string(&mut file.metrics.path, "metrics.path");
}

/// Walks the file structs with the environment and the report at hand.
struct Expander<'a> {
    env: &'a dyn Env,
    report: &'a mut Report,
}

impl Expander<'_> {
    fn one(&mut self, value: &mut String, key: &str) {
        if !value.contains('$') {
            return;
        }
        match expand_str(value, self.env) {
            Ok(expanded) => *value = expanded,
            Err(message) => self.report.expansion_error(key, message),
        }
    }

    fn string(&mut self, value: &mut Option<String>, key: &str) {
        if let Some(value) = value {
            self.one(value, key);
        }
    }

    fn strings(&mut self, values: &mut Option<Vec<String>>, key: &str) {
        for (i, value) in values.iter_mut().flatten().enumerate() {
            self.one(value, &format!("{key}[{i}]"));
        }
    }

    fn scalar_value(&mut self, value: &mut Scalar, key: &str) {
        if let Scalar::Str(text) = value {
            self.one(text, key);
        }
    }

    fn scalar(&mut self, value: &mut Option<Scalar>, key: &str) {
        if let Some(value) = value {
            self.scalar_value(value, key);
        }
    }

    fn claims(
        &mut self,
        claims: &mut Option<std::collections::BTreeMap<String, FileClaim>>,
        key: &str,
    ) {
        for (name, FileClaim(values)) in claims.iter_mut().flatten() {
            let single = values.len() == 1;
            for (i, value) in values.iter_mut().enumerate() {
                let key = if single {
                    format!("{key}.{name}")
                } else {
                    format!("{key}.{name}[{i}]")
                };
                self.scalar_value(value, &key);
            }
        }
    }

    fn backend(&mut self, backend: &mut FileBackend, key: &str) {
        self.string(&mut backend.id, &format!("{key}.id"));
        self.string(&mut backend.name, &format!("{key}.name"));
        self.string(&mut backend.transport, &format!("{key}.transport"));
        self.string(&mut backend.url, &format!("{key}.url"));
        self.string(&mut backend.path, &format!("{key}.path"));
        self.scalar(&mut backend.strip_path, &format!("{key}.strip_path"));
        self.scalar(&mut backend.timeout, &format!("{key}.timeout"));
        self.string(&mut backend.model, &format!("{key}.model"));
        self.scalar(&mut backend.max_tokens, &format!("{key}.max_tokens"));
        self.string(&mut backend.ca_file, &format!("{key}.ca_file"));
        self.scalar(&mut backend.max_sessions, &format!("{key}.max_sessions"));
        self.scalar(
            &mut backend.max_sessions_per_principal,
            &format!("{key}.max_sessions_per_principal"),
        );
        if let Some(stdio) = &mut backend.stdio {
            self.stdio(stdio, &format!("{key}.stdio"));
        }
        if let Some(auth) = &mut backend.auth {
            self.string(&mut auth.mode, &format!("{key}.auth.mode"));
            self.claims(
                &mut auth.required_claims,
                &format!("{key}.auth.required_claims"),
            );
            self.strings(
                &mut auth.required_scopes,
                &format!("{key}.auth.required_scopes"),
            );
        }
        if let Some(headers) = &mut backend.identity_headers {
            let key = format!("{key}.identity_headers");
            self.scalar(&mut headers.enabled, &format!("{key}.enabled"));
            self.string(
                &mut headers.subject_header,
                &format!("{key}.subject_header"),
            );
            self.string(&mut headers.email_header, &format!("{key}.email_header"));
        }
    }

    fn stdio(&mut self, stdio: &mut FileStdio, key: &str) {
        self.string(&mut stdio.command, &format!("{key}.command"));
        for (i, arg) in stdio.args.iter_mut().flatten().enumerate() {
            self.scalar_value(arg, &format!("{key}.args[{i}]"));
        }
        for (name, value) in stdio.env.iter_mut().flatten() {
            self.scalar_value(value, &format!("{key}.env.{name}"));
        }
        self.string(&mut stdio.working_dir, &format!("{key}.working_dir"));
        self.scalar(&mut stdio.stdio_timeout, &format!("{key}.stdio_timeout"));
        self.scalar(&mut stdio.inherit_env, &format!("{key}.inherit_env"));
        self.scalar(&mut stdio.max_line_bytes, &format!("{key}.max_line_bytes"));
    }
}

#[cfg(test)]
mod tests {
    use super::expand_str;
    use std::collections::BTreeMap;

    fn env() -> BTreeMap<String, String> {
        [
            ("HOME", "/home/u"),
            ("EMPTY", ""),
            ("TOKEN", "s3cr$t"),
            ("_X1", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn expands() {
        let cases = [
            ("plain", "plain"),
            ("", ""),
            ("${HOME}/data", "/home/u/data"),
            ("a${HOME}b${HOME}c", "a/home/ub/home/uc"),
            ("${MISSING:-/tmp}/m.jsonl", "/tmp/m.jsonl"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${EMPTY}", ""),
            ("${HOME:-unused}", "/home/u"),
            ("${MISSING:-}", ""),
            ("${MISSING:-a:-b}", "a:-b"),
            ("${_X1}", "x"),
            ("$$", "$"),
            ("$${HOME}", "${HOME}"),
            ("cost: $5", "cost: $5"),
            ("$HOME", "$HOME"),
            ("end$", "end$"),
            ("$$$$", "$$"),
            ("${TOKEN}", "s3cr$t"),
            ("ünï${HOME}cödé", "ünï/home/ucödé"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                expand_str(input, &env()).as_deref(),
                Ok(expected),
                "{input:?}"
            );
        }
    }

    #[test]
    fn refuses() {
        let cases = [
            ("${MISSING}", "environment variable MISSING is not set"),
            ("x ${HOME} ${NOPE}", "NOPE is not set"),
            ("${HOME", "unterminated"),
            ("${}", "invalid variable reference"),
            ("${1ABC}", "invalid variable reference"),
            ("${A-B}", "invalid variable reference"),
            ("${ HOME }", "invalid variable reference"),
        ];
        for (input, needle) in cases {
            let err = expand_str(input, &env()).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }
}
