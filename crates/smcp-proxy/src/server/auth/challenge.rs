//! Why a request was refused by the auth stage, and the one place that turns a refusal into
//! an HTTP answer (RFC 6750 §3 and RFC 9728 §5.1, as the MCP authorization spec asks):
//!
//! - 401 `WWW-Authenticate: Bearer resource_metadata="<url>"` when no token was sent, plus
//!   `error="invalid_token", error_description="..."` when one was sent and refused;
//! - 403 with `error="insufficient_scope", scope="<all needed scopes>"` for missing scopes, and
//!   a plain 403 for other claim rules (no OAuth error code fits them);
//! - 503 with `Retry-After` while no signing keys could be loaded yet.
//! - DPoP (RFC 9449 §7.1): where a backend accepts DPoP-bound tokens (`optional`), every 401
//!   challenge carries `DPoP algs="..."` after the Bearer one (in the same header value, as
//!   RFC 9110 allows); where it demands them (`required`), the challenge is DPoP's alone. A
//!   refused proof is `error="invalid_dpop_proof"` in the DPoP challenge.
//!
//! Bodies are JSON-RPC errors (MCP clients parse them) whose `data` repeats the OAuth error
//! code and the metadata URL. Descriptions are fixed texts: never a claim value, never the token.

use http::{HeaderValue, Response, StatusCode};
use serde_json::json;
use smcp_auth::dpop::{DpopError, DpopMode};
use smcp_auth::{AuthError, ErrorClass};
use smcp_transport::body::Body;
use smcp_transport::reply::ProxyError;

use crate::server::reply;

/// Why the auth stage refused a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// The validator refused the token (or had no keys to check it).
    Token(AuthError),
    /// An `access_token` query parameter was sent (RFC 6750 §2.3 is not supported: URLs end
    /// up in logs and browser history). Refused even when a header carries a token too.
    TokenInQuery,
    /// More than one `Authorization` header.
    SeveralHeaders,
    /// An `Authorization` header with another scheme than `Bearer`.
    NotBearer,
    /// No usable `Host` to build the resource URL from (and no `server.public_url`).
    NoHost,
    /// The token is valid, but its `sub` or `email` cannot be sent as the backend's identity
    /// header (control or non-ASCII characters).
    IdentityNotHeaderSafe,
    /// A Bearer token where the backend demands DPoP (`dpop: required`).
    DpopRequired,
    /// The DPoP proof, or the token's binding to it, was refused.
    Dpop(DpopError),
}

/// What a challenge says about DPoP: the mode of the resource and its proof algorithms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DpopChallenge<'a> {
    pub(crate) mode: DpopMode,
    /// Space-separated JWS algorithm names.
    pub(crate) algs: &'a str,
    /// The server nonce to hand out with a 401 (`DPoP-Nonce`), when nonces are on.
    pub(crate) nonce: Option<&'a str>,
}

impl Refusal {
    /// The `reason` label of `smcp_auth_outcomes_total`.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Refusal::Token(error) => error.reason(),
            Refusal::TokenInQuery => "token_in_query",
            Refusal::SeveralHeaders => "several_authorization_headers",
            Refusal::NotBearer => "not_bearer",
            Refusal::NoHost => "no_host",
            Refusal::IdentityNotHeaderSafe => "identity_not_header_safe",
            Refusal::DpopRequired => "dpop_required",
            Refusal::Dpop(error) => error.reason(),
        }
    }

    fn description(&self) -> &'static str {
        match self {
            Refusal::Token(error) => error.description(),
            Refusal::TokenInQuery => {
                "access tokens in the URL query are refused (even with an Authorization header); send only Authorization: Bearer"
            }
            Refusal::SeveralHeaders => "send exactly one Authorization header",
            Refusal::NotBearer => "the Authorization header must use the Bearer scheme",
            Refusal::NoHost => "the request has no usable Host header",
            Refusal::IdentityNotHeaderSafe => {
                "the token's sub or email claim cannot be sent as an identity header value (control or non-ASCII characters)"
            }
            Refusal::DpopRequired => {
                "this resource requires a DPoP-bound access token: send Authorization: DPoP and a DPoP proof"
            }
            Refusal::Dpop(error) => error.description(),
        }
    }

    /// The answer to send; `metadata_url` is the protected-resource metadata of the target.
    pub(crate) fn response(&self, metadata_url: Option<&str>) -> Response<Body> {
        reply::error(&self.proxy_error(metadata_url, None))
    }

    /// The answer to send for a resource whose DPoP mode and algorithms `dpop` names.
    pub(crate) fn response_with(
        &self,
        metadata_url: Option<&str>,
        dpop: Option<DpopChallenge<'_>>,
    ) -> Response<Body> {
        let mut response = reply::error(&self.proxy_error(metadata_url, dpop));
        if response.status() == StatusCode::UNAUTHORIZED
            && let Some(nonce) = dpop
                .and_then(|d| d.nonce)
                .and_then(|n| HeaderValue::from_str(n).ok())
        {
            response.headers_mut().insert(
                http::HeaderName::from_static(smcp_auth::dpop::NONCE_HEADER),
                nonce,
            );
        }
        response
    }

    /// What this refusal is, in the terms of the one error mapping: the status class, the
    /// OAuth fields of the body's `data` and the challenge are decided here (they are OAuth's);
    /// status code, JSON-RPC code, body and headers are built by `ProxyError::respond`.
    fn proxy_error(
        &self,
        metadata_url: Option<&str>,
        dpop: Option<DpopChallenge<'_>>,
    ) -> ProxyError {
        let (status, oauth_error) = match self {
            Refusal::Token(error) => match error.class() {
                ErrorClass::Unauthorized => (StatusCode::UNAUTHORIZED, error.oauth_error()),
                ErrorClass::Forbidden => (StatusCode::FORBIDDEN, error.oauth_error()),
                ErrorClass::Unavailable => {
                    return ProxyError::KeysUnavailable {
                        message: self.description(),
                    };
                }
            },
            Refusal::TokenInQuery | Refusal::SeveralHeaders | Refusal::NotBearer => {
                (StatusCode::UNAUTHORIZED, Some("invalid_token"))
            }
            Refusal::DpopRequired => (StatusCode::UNAUTHORIZED, Some("invalid_token")),
            Refusal::Dpop(error) if error.is_unavailable() => {
                return ProxyError::KeysUnavailable {
                    message: self.description(),
                };
            }
            Refusal::Dpop(error) => (StatusCode::UNAUTHORIZED, Some(error.oauth_error())),
            // A claim rule of sorts: the same token will never pass, so no challenge.
            Refusal::IdentityNotHeaderSafe => (StatusCode::FORBIDDEN, None),
            Refusal::NoHost => return ProxyError::Malformed(self.description().into()),
        };
        let scope = match self {
            Refusal::Token(AuthError::InsufficientScope { needed }) => Some(needed.join(" ")),
            _ => None,
        };
        // A 403 for a claim rule has no OAuth error code; a challenge would only invite the
        // client to fetch the same token again.
        let challenge_fits = status == StatusCode::UNAUTHORIZED || oauth_error.is_some();
        // A refused proof is DPoP's error; every other error is the Bearer challenge's, unless
        // the resource takes DPoP tokens only.
        let dpop_error =
            matches!(self, Refusal::Dpop(e) if e.oauth_error() == "invalid_dpop_proof");
        let dpop = dpop.filter(|d| d.mode != DpopMode::Off);
        let dpop_only = dpop.is_some_and(|d| d.mode == DpopMode::Required);
        // The error and scope go in one challenge: DPoP's for a refused proof or when only
        // DPoP is accepted, else Bearer's.
        let error_on_dpop = dpop.is_some() && (dpop_error || dpop_only);
        let challenge = challenge_fits
            .then(|| {
                let description = self.description();
                let with_error = |on: bool| {
                    if on {
                        (oauth_error, scope.as_deref())
                    } else {
                        (None, None)
                    }
                };
                let mut parts = Vec::with_capacity(2);
                if !dpop_only {
                    let (error, scope) = with_error(!error_on_dpop);
                    parts.push(challenge(
                        "Bearer",
                        metadata_url,
                        error,
                        scope,
                        description,
                        None,
                    ));
                }
                if let Some(dpop) = dpop {
                    let (error, scope) = with_error(error_on_dpop);
                    parts.push(challenge(
                        "DPoP",
                        metadata_url,
                        error,
                        scope,
                        description,
                        Some(dpop.algs),
                    ));
                }
                HeaderValue::from_str(&parts.join(", ")).ok()
            })
            .flatten();
        ProxyError::Auth {
            status,
            message: self.description(),
            data: json!({
                "oauth_error": oauth_error,
                "scope": scope,
                "resource_metadata": metadata_url,
            }),
            challenge,
        }
    }
}

/// The step-up answer for a call that needs `scopes` the token was not granted (a per-tool
/// policy's decision): 403 with `error="insufficient_scope"` and every scope the call needs,
/// as the auth stage answers a backend's own `required_scopes`.
pub(crate) fn insufficient_scope(metadata_url: Option<&str>, scopes: &[String]) -> ProxyError {
    Refusal::Token(AuthError::InsufficientScope {
        needed: scopes.to_vec(),
    })
    .proxy_error(metadata_url, None)
}

/// `<scheme> [algs="...", ]resource_metadata="..."[, error="...", error_description="..."][,
/// scope="..."]`.
fn challenge(
    scheme: &str,
    metadata_url: Option<&str>,
    error: Option<&str>,
    scope: Option<&str>,
    description: &str,
    algs: Option<&str>,
) -> String {
    let mut params = Vec::new();
    if let Some(algs) = algs {
        params.push(format!("algs={}", quoted(algs)));
    }
    if let Some(url) = metadata_url {
        params.push(format!("resource_metadata={}", quoted(url)));
    }
    if let Some(error) = error {
        params.push(format!("error={}", quoted(error)));
        params.push(format!("error_description={}", quoted(description)));
    }
    if let Some(scope) = scope {
        params.push(format!("scope={}", quoted(scope)));
    }
    if params.is_empty() {
        scheme.to_owned()
    } else {
        format!("{scheme} {}", params.join(", "))
    }
}

/// An RFC 9110 quoted-string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use http::{StatusCode, header};
    use smcp_auth::{AuthError, ClaimProblem};

    use smcp_auth::dpop::{DpopError, DpopMode};

    use super::{DpopChallenge, Refusal};

    const META: &str = "http://127.0.0.1:1/.well-known/oauth-protected-resource/v1/x";

    fn www_authenticate(refusal: &Refusal) -> (StatusCode, Option<String>) {
        let response = refusal.response(Some(META));
        let value = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), value)
    }

    #[test]
    fn missing_token_gets_a_bare_challenge() {
        let (status, value) = www_authenticate(&Refusal::Token(AuthError::Missing));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            value.unwrap(),
            format!("Bearer resource_metadata=\"{META}\"")
        );
    }

    #[test]
    fn refused_tokens_get_invalid_token() {
        for refusal in [
            Refusal::Token(AuthError::Expired),
            Refusal::Token(AuthError::BadSignature),
            Refusal::TokenInQuery,
            Refusal::NotBearer,
            Refusal::SeveralHeaders,
        ] {
            let (status, value) = www_authenticate(&refusal);
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{refusal:?}");
            let value = value.unwrap();
            assert!(
                value.starts_with(&format!("Bearer resource_metadata=\"{META}\", error=\"invalid_token\", error_description=\"")),
                "{value}"
            );
        }
        let (_, value) = www_authenticate(&Refusal::TokenInQuery);
        assert!(value.unwrap().contains("even with an Authorization header"));
    }

    #[test]
    fn scopes_and_claims_are_forbidden() {
        let scope = Refusal::Token(AuthError::InsufficientScope {
            needed: vec!["mcp:tools".into(), "mcp:admin".into()],
        });
        let (status, value) = www_authenticate(&scope);
        assert_eq!(status, StatusCode::FORBIDDEN);
        let value = value.unwrap();
        assert!(value.contains("error=\"insufficient_scope\""), "{value}");
        assert!(value.ends_with("scope=\"mcp:tools mcp:admin\""), "{value}");

        let claims = Refusal::Token(AuthError::Claims {
            claim: "roles".into(),
            problem: ClaimProblem::Mismatch,
        });
        let (status, value) = www_authenticate(&claims);
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(value, None);
    }

    #[test]
    fn unavailable_keys_ask_to_retry() {
        let response = Refusal::Token(AuthError::KeysUnavailable).response(Some(META));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(super::quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    fn dpop_challenge(refusal: &Refusal, mode: DpopMode) -> (StatusCode, String) {
        let dpop = DpopChallenge {
            mode,
            algs: "ES256 RS256",
            nonce: None,
        };
        let response = refusal.response_with(Some(META), Some(dpop));
        let value = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status(), value)
    }

    #[test]
    fn dpop_challenges_follow_the_mode() {
        // Optional: the Bearer challenge, then DPoP's.
        let (status, value) =
            dpop_challenge(&Refusal::Token(AuthError::Missing), DpopMode::Optional);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            value,
            format!(
                "Bearer resource_metadata=\"{META}\", DPoP algs=\"ES256 RS256\", resource_metadata=\"{META}\""
            )
        );
        // Off: Bearer alone, as before.
        let (_, value) = dpop_challenge(&Refusal::Token(AuthError::Missing), DpopMode::Off);
        assert_eq!(value, format!("Bearer resource_metadata=\"{META}\""));
        // Required: DPoP alone, with the error.
        let (status, value) = dpop_challenge(&Refusal::DpopRequired, DpopMode::Required);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            value.starts_with("DPoP algs=\"ES256 RS256\", resource_metadata="),
            "{value}"
        );
        assert!(value.contains("error=\"invalid_token\""), "{value}");
        assert!(!value.contains("Bearer"), "{value}");
        // A refused proof is DPoP's error, not Bearer's.
        let (status, value) =
            dpop_challenge(&Refusal::Dpop(DpopError::Replayed), DpopMode::Optional);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (bearer, dpop) = value.split_once(", DPoP ").unwrap();
        assert!(!bearer.contains("error="), "{value}");
        assert!(dpop.contains("error=\"invalid_dpop_proof\""), "{value}");
        assert!(dpop.contains("the DPoP proof was used before"), "{value}");
        // A bound token as Bearer: the token's error.
        let (_, value) = dpop_challenge(
            &Refusal::Dpop(DpopError::BoundTokenAsBearer),
            DpopMode::Optional,
        );
        assert!(value.starts_with("Bearer resource_metadata="), "{value}");
        assert!(value.contains("error=\"invalid_token\""), "{value}");
        // A full replay cache is the server's trouble: 503.
        let (status, _) = dpop_challenge(
            &Refusal::Dpop(DpopError::ReplayCacheFull),
            DpopMode::Required,
        );
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
