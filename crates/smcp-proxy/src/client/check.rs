//! `smcp-client check`: get a token, show what the server will see, call the server once, and
//! say in plain words what is wrong.
//!
//! Steps: the token (endpoint, issuer, subject, audience, scopes, expiry, read from the JWT
//! without verifying it: the server does that), the server's protected-resource metadata
//! (does it trust this issuer, is the token for this resource), then an `initialize` with the
//! token (server name, protocol, session, ended again with `DELETE`).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, StatusCode};
use serde_json::Value;
use smcp_auth::token_source::{
    AccessToken, BearerChallenge, ProtectedResource, TokenError, protected_resource,
    resource_covers,
};

use super::config::ClientConfig;
use super::credentials::{self, BuildError};
use super::stdio::read_initialize_reply;
use super::upstream::{MCP_SESSION_ID, PathBase, RequestHead, Upstream};

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Everything shown, in order.
    pub lines: Vec<String>,
    /// What is wrong, in plain words (empty when all is well).
    pub problems: Vec<String>,
    /// Things that may be wrong.
    pub warnings: Vec<String>,
}

impl CheckReport {
    fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        if self.ok() {
            writeln!(f, "OK: the server accepts this client.")
        } else {
            writeln!(f, "NOT OK: {} problem(s) above.", self.problems.len())
        }
    }
}

/// Runs every check against the configured server and IdP.
pub async fn check(config: &ClientConfig) -> Result<CheckReport, BuildError> {
    let upstream = Upstream::new(config, PathBase::Origin)?;
    let mut report = CheckReport::default();
    let server = config.server.url.clone();
    report.line(format!("server:        {server}"));
    let token = match (&config.oidc, upstream.endpoint_tokens().await) {
        (Some(oidc), Some(tokens)) => {
            report.line(format!(
                "client:        {} ({})",
                oidc.client_id,
                oidc.auth.method()
            ));
            match tokens.token().await {
                Ok(token) => {
                    if let Some(info) = tokens.endpoint() {
                        report.line(format!("token endpoint: {}", info.token_endpoint));
                    }
                    describe_token(&token, &mut report);
                    Some(token)
                }
                Err(error) => {
                    if let Some(info) = tokens.endpoint() {
                        report.line(format!("token endpoint: {}", info.token_endpoint));
                    }
                    report.problems.push(explain_token_error(&error));
                    return Ok(report);
                }
            }
        }
        _ => {
            report.line("auth mode:     none (no token is sent)");
            None
        }
    };

    let http = credentials::idp_http_client(config)?;
    match protected_resource(&http, &server, None, config.server.timeout).await {
        Ok(prm) => compare_metadata(&prm, token.as_ref(), &mut report),
        Err(error) => {
            if token.is_some() {
                report.warnings.push(format!(
                    "the server publishes no protected-resource metadata for this URL ({error}); \
                     is auth.mode oidc on, and is --server-url the server's public URL?"
                ));
            }
        }
    }

    initialize(&upstream, &mut report).await;
    Ok(report)
}

/// The token as the server will see it (claims read without verification).
fn describe_token(token: &AccessToken, report: &mut CheckReport) {
    let Some(claims) = token.unverified_claims() else {
        report.line("token:         opaque (not a JWT)");
        report.warnings.push(
            "the IdP issued an opaque token; smcp-server validates JWT access tokens only \
             (configure the IdP to issue JWTs for this resource)"
                .into(),
        );
        return;
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    report.line(format!("token issuer:  {}", text(&claims["iss"])));
    report.line(format!("token subject: {}", text(&claims["sub"])));
    report.line(format!("token audience: {}", text(&claims["aud"])));
    let scopes = claims
        .get("scope")
        .or_else(|| claims.get("scp"))
        .map(text)
        .or_else(|| token.scope().map(str::to_owned))
        .unwrap_or_else(|| "-".into());
    report.line(format!("token scopes:  {scopes}"));
    match claims["cnf"]["jkt"].as_str() {
        Some(jkt) if token.is_dpop_bound() => {
            report.line(format!("token binding: DPoP, key {jkt}"));
        }
        Some(_) => report.warnings.push(
            "the token is DPoP-bound, but the identity provider called it a Bearer token: the \
             server will refuse it as Bearer (run with --oidc-dpop)"
                .into(),
        ),
        None if token.is_dpop_bound() => report.warnings.push(
            "the identity provider called the token DPoP but it names no key (cnf.jkt): the \
             server will refuse it"
                .into(),
        ),
        None => {}
    }
    if let Some(exp) = claims["exp"].as_u64() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let when = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(exp));
        report.line(format!(
            "token expires: {when} (in {}s)",
            exp.saturating_sub(now)
        ));
    }
}

/// Plain words for a failed token request.
fn explain_token_error(error: &TokenError) -> String {
    let hint = match error.oauth_error() {
        Some("invalid_client") => {
            "the identity provider does not accept this client's credentials: check \
             --oidc-client-id, the secret (or key), and --oidc-client-auth"
        }
        Some("unauthorized_client") => {
            "this client may not use the client_credentials grant: enable it for the client at \
             the identity provider"
        }
        Some("invalid_scope") => {
            "the identity provider refuses the requested scopes for client_credentials (Entra \
             ID and Okta allow only the API's own scopes there, never openid): set \
             --oidc-scopes to scopes this client may get, or leave it unset to ask for the \
             server's"
        }
        Some("invalid_target") => {
            "the identity provider refuses the RFC 8707 resource: set --oidc-resource to a \
             resource it knows, or --oidc-no-resource"
        }
        Some(_) => "the identity provider refused the token request",
        None => match error {
            TokenError::Discovery { .. } => {
                "the token endpoint could not be found: check --oidc-issuer or --oidc-token-url"
            }
            TokenError::Network { .. } | TokenError::Timeout { .. } => {
                "the identity provider cannot be reached"
            }
            _ => "no token could be obtained",
        },
    };
    format!("{hint} ({error})")
}

fn compare_metadata(
    prm: &ProtectedResource,
    token: Option<&AccessToken>,
    report: &mut CheckReport,
) {
    report.line(format!(
        "resource:      {} (from {})",
        prm.resource, prm.metadata_url
    ));
    report.line(format!(
        "trusted issuers: {}",
        prm.authorization_servers.join(", ")
    ));
    if !prm.scopes_supported.is_empty() {
        report.line(format!("server scopes: {}", prm.scopes_supported.join(" ")));
    }
    let Some(claims) = token.and_then(AccessToken::unverified_claims) else {
        return;
    };
    if let Some(iss) = claims["iss"].as_str() {
        let trusted = prm
            .authorization_servers
            .iter()
            .any(|a| a.trim_end_matches('/') == iss.trim_end_matches('/'));
        if !trusted {
            report.problems.push(format!(
                "the token comes from {iss}, but the server trusts only {}: use that \
                 identity provider (--oidc-issuer), or add {iss} to the server's oidc.issuers",
                prm.authorization_servers.join(", ")
            ));
        }
    }
    let audiences: Vec<String> = match &claims["aud"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let for_resource = audiences.iter().any(|aud| {
        url::Url::parse(&prm.resource).is_ok_and(|resource| resource_covers(aud, &resource))
    });
    if !for_resource {
        report.warnings.push(format!(
            "the token's audience ({}) is not the server's resource {}; the server refuses it \
             unless its oidc.audience lists it (ask for the right one with --oidc-resource {} \
             or --oidc-audience)",
            if audiences.is_empty() {
                "none".to_owned()
            } else {
                audiences.join(", ")
            },
            prm.resource,
            prm.resource
        ));
    }
}

const CHECK_INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":"smcp-client-check","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"smcp-client-check","version":"0"}}}"#;

/// Calls `initialize` with the token and reports the answer.
async fn initialize(upstream: &Upstream, report: &mut CheckReport) {
    let mut head = RequestHead::own(Method::POST);
    head.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    head.headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    let path = upstream.endpoint_path();
    let response = match upstream
        .send_bytes(
            &head,
            &path,
            Bytes::from_static(CHECK_INITIALIZE.as_bytes()),
        )
        .await
    {
        Ok(response) => response,
        Err(error) => {
            report.problems.push(format!(
                "initialize failed: {}",
                error.message(upstream.server_url())
            ));
            return;
        }
    };
    let status = response.status();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(BearerChallenge::parse);
    let session = response.headers().get(MCP_SESSION_ID).cloned();
    match status {
        s if s.is_success() => {
            let mut line = String::from("initialize:    OK");
            if let Some(result) = read_initialize_reply(response).await {
                let info = &result["serverInfo"];
                let _ = write!(
                    line,
                    " (server {} {}, protocol {})",
                    info["name"].as_str().unwrap_or("?"),
                    info["version"].as_str().unwrap_or("?"),
                    result["protocolVersion"].as_str().unwrap_or("?")
                );
            }
            if session.is_some() {
                line.push_str(", session opened and closed again");
            }
            report.line(line);
        }
        StatusCode::UNAUTHORIZED => {
            let why = challenge
                .and_then(|c| c.error_description.or(c.error))
                .unwrap_or_else(|| "no reason given".into());
            report.problems.push(format!(
                "the server refused the token (HTTP 401: {why}); compare the token's issuer and \
                 audience above with the server's oidc settings"
            ));
        }
        StatusCode::FORBIDDEN => {
            let needed = challenge
                .and_then(|c| c.scope)
                .unwrap_or_else(|| "-".into());
            report.problems.push(format!(
                "the token is valid but lacks permission (HTTP 403; scopes needed: {needed}): \
                 request them with --oidc-scopes or grant them to the client"
            ));
        }
        StatusCode::NOT_FOUND => report.problems.push(
            "there is no MCP endpoint at --server-url (HTTP 404): stdio mode needs the \
             endpoint's full URL, e.g. https://mcp.example.com/v1/memory (in HTTP mode a base \
             URL is fine if your applications add the path)"
                .into(),
        ),
        other => report
            .problems
            .push(format!("initialize answered HTTP {other}")),
    }
    if let Some(session) = session {
        let mut head = RequestHead::own(Method::DELETE);
        head.headers.insert(MCP_SESSION_ID, session);
        let _ = upstream.send_bytes(&head, &path, Bytes::new()).await;
    }
}

#[cfg(test)]
mod tests {
    use smcp_auth::token_source::TokenError;

    use super::explain_token_error;

    #[test]
    fn token_errors_in_plain_words() {
        let text = explain_token_error(&TokenError::Rejected {
            status: 401,
            error: "invalid_client".into(),
            description: Some("client authentication failed".into()),
            uri: None,
        });
        assert!(
            text.starts_with("the identity provider does not accept this client's credentials")
        );
        assert!(text.contains("invalid_client: client authentication failed"));
        let text = explain_token_error(&TokenError::Discovery {
            detail: "x".into(),
            transient: false,
        });
        assert!(text.contains("--oidc-issuer"));
    }
}
