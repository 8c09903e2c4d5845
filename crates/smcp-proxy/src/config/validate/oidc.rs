//! Validation of `oidc:` and of claim and scope rules (shared with per-backend auth).

use std::collections::BTreeMap;
use std::time::Duration;

use super::fields::{UrlRules, duration, http_url};
use crate::config::error::Report;
use crate::config::file::FileOidc;
use crate::config::model::AuthMode;
use crate::config::oidc::{ClaimRule, ClaimRules, IssuerConfig, OidcConfig};
use crate::config::scalar::{FileClaim, FileIssuer, Scalar};

pub(super) fn oidc(report: &mut Report, file: &FileOidc, mode: AuthMode) -> OidcConfig {
    let mut issuers: Vec<IssuerConfig> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in file.issuers.iter().flatten().enumerate() {
        let key = format!("oidc.issuers[{i}]");
        let (issuer_key, issuer, jwks_uri, audiences) = match item {
            FileIssuer::Url(url) => (key.clone(), Some(url), None, None),
            FileIssuer::Full(object) => (
                format!("{key}.issuer"),
                object.issuer.as_ref(),
                object.jwks_uri.as_ref(),
                object.audiences.as_ref(),
            ),
        };
        let Some(issuer) = issuer else {
            report.error(issuer_key, "is required");
            continue;
        };
        let issuer = issuer.trim().to_owned();
        // The rules of an issuer are smcp-auth's (the validator enforces them): asked here, per
        // entry, so each problem names its key.
        if let Err(error) = smcp_auth::check_issuer(&issuer) {
            report.error(&issuer_key, error.to_string());
            continue;
        }
        if let Some(first) = seen.insert(issuer.clone(), i) {
            report.error(
                &issuer_key,
                format!("duplicate issuer {issuer:?} (also oidc.issuers[{first}])"),
            );
            continue;
        }
        let jwks_uri = jwks_uri.and_then(|text| {
            let rules = UrlRules {
                query: true,
                userinfo: false,
            };
            http_url(text, rules)
                .and_then(|url| {
                    smcp_auth::check_jwks_uri(&url)
                        .map(|()| url)
                        .map_err(|error| error.to_string())
                })
                .map_err(|message| report.error(format!("{key}.jwks_uri"), message))
                .ok()
        });
        let audiences = strings(report, &format!("{key}.audiences"), audiences, false);
        issuers.push(IssuerConfig {
            issuer,
            jwks_uri,
            audiences,
        });
    }
    let audiences = strings(
        report,
        "oidc.audience",
        file.audience.as_ref().map(|list| &list.0),
        false,
    );
    if mode == AuthMode::Oidc {
        if file.issuers.as_ref().is_none_or(Vec::is_empty) {
            report.error(
                "oidc.issuers",
                "at least one issuer is required when auth.mode is \"oidc\"",
            );
        }
        if audiences.is_empty() {
            let without: Vec<&IssuerConfig> =
                issuers.iter().filter(|i| i.audiences.is_empty()).collect();
            if issuers.is_empty() || !without.is_empty() {
                let which = without
                    .iter()
                    .map(|i| format!("{:?}", i.issuer))
                    .collect::<Vec<_>>()
                    .join(", ");
                let detail = if which.is_empty() {
                    String::new()
                } else {
                    format!(" (issuers without their own audiences: {which})")
                };
                report.error(
                    "oidc.audience",
                    format!("at least one audience is required when auth.mode is \"oidc\"{detail}"),
                );
            }
        }
    }
    let secs = Duration::from_secs;
    OidcConfig {
        issuers,
        audiences,
        required_claims: claims(
            report,
            "oidc.required_claims",
            file.required_claims.as_ref(),
        ),
        optional_claims: claims(
            report,
            "oidc.optional_claims",
            file.optional_claims.as_ref(),
        ),
        leeway: duration(report, "oidc.leeway", file.leeway.as_ref(), secs(60), false),
        jwks_refresh_min_interval: duration(
            report,
            "oidc.jwks_refresh_min_interval",
            file.jwks_refresh_min_interval.as_ref(),
            secs(30),
            false,
        ),
        scopes_supported: strings(
            report,
            "oidc.scopes_supported",
            file.scopes_supported.as_ref(),
            true,
        ),
        scope_hierarchy: super::policy::scope_hierarchy(report, file.scope_hierarchy.as_ref()),
        dpop: dpop_mode(report, "oidc.dpop", file.dpop.as_deref()).unwrap_or_default(),
        dpop_replay_cache_size: usize::try_from(super::fields::whole(
            report,
            "oidc.dpop_replay_cache_size",
            file.dpop_replay_cache_size.as_ref(),
            1_000_000,
            1,
        ))
        .unwrap_or(usize::MAX),
        dpop_nonce: super::fields::boolean(
            report,
            "oidc.dpop_nonce",
            file.dpop_nonce.as_ref(),
            false,
        ),
    }
}

/// A DPoP mode (`off`, `optional`, `required`); `None` when absent or wrong (reported).
pub(super) fn dpop_mode(
    report: &mut Report,
    key: &str,
    value: Option<&str>,
) -> Option<smcp_auth::dpop::DpopMode> {
    match value?.trim().to_ascii_lowercase().parse() {
        Ok(mode) => Some(mode),
        Err(problem) => {
            report.error(key, problem);
            None
        }
    }
}

/// A list of non-empty strings; `token` also refuses whitespace inside (scopes are
/// space-separated tokens). Problems are recorded against `key[i]` (or `oidc.audience`
/// itself for a lone audience, which the file usually writes as a plain string) and the
/// offending items left out.
pub(super) fn strings(
    report: &mut Report,
    key: &str,
    values: Option<&Vec<String>>,
    token: bool,
) -> Vec<String> {
    let Some(values) = values else {
        return Vec::new();
    };
    let lone = values.len() == 1 && key == "oidc.audience";
    let mut out = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let item_key = if lone {
            key.to_owned()
        } else {
            format!("{key}[{i}]")
        };
        let value = value.trim();
        if value.is_empty() {
            report.error(item_key, "must not be empty");
        } else if token && value.contains(char::is_whitespace) {
            report.error(
                item_key,
                format!("must not contain whitespace (got {value:?})"),
            );
        } else {
            out.push(value.to_owned());
        }
    }
    out
}

/// Claim rules: each claim maps to a scalar or a non-empty list of scalars. The rules are
/// built here, by smcp-auth's own constructors (which refuse empty path segments such as
/// `realm_access..roles`), so a rule the validator would refuse is a validation error with
/// its key, and startup uses the built rules as they are.
pub(super) fn claims(
    report: &mut Report,
    key: &str,
    claims: Option<&BTreeMap<String, FileClaim>>,
) -> ClaimRules {
    let mut rules = ClaimRules::new();
    for (name, FileClaim(values)) in claims.into_iter().flatten() {
        let claim_key = format!("{key}.{name}");
        if name.trim().is_empty() {
            report.error(key, "claim names must not be empty");
            continue;
        }
        if values.is_empty() {
            report.error(claim_key, "must list at least one value");
            continue;
        }
        let mut any_of = Vec::with_capacity(values.len());
        for value in values {
            match claim_value(value) {
                Ok(value) => any_of.push(value),
                Err(message) => report.error(&claim_key, message),
            }
        }
        if any_of.len() != values.len() {
            continue;
        }
        let built =
            ClaimRule::any_of(any_of).and_then(|rule| rules.insert(name.clone(), rule).map(|_| ()));
        if let Err(error) = built {
            report.error(&claim_key, error.to_string());
        }
    }
    rules
}

fn claim_value(value: &Scalar) -> Result<serde_json::Value, String> {
    Ok(match value {
        Scalar::Str(s) => serde_json::Value::String(s.clone()),
        Scalar::Int(n) => serde_json::Value::Number((*n).into()),
        Scalar::Float(x) => serde_json::Value::Number(
            serde_json::Number::from_f64(*x)
                .ok_or_else(|| format!("{x} is not a usable claim value"))?,
        ),
        Scalar::Bool(b) => serde_json::Value::Bool(*b),
    })
}
