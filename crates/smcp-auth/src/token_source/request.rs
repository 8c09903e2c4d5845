//! One client-credentials token request (RFC 6749 §4.4) and its answer.
//!
//! The body is form-encoded: `grant_type=client_credentials`, `scope` (space-separated),
//! `audience` when configured, `resource` (RFC 8707) when configured, and the client's
//! credentials as its authentication method wants them: an HTTP Basic header with the
//! form-encoded id and secret (`client_secret_basic`, RFC 6749 §2.3.1), `client_id` and
//! `client_secret` in the body (`client_secret_post`), or a signed assertion
//! (`private_key_jwt`, RFC 7523). Nothing of the request is ever logged.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER};
use serde_json::Value;
use url::Url;

use super::error::TokenError;
use super::{ClientAuth, Secret};

/// Token responses are small; a bigger body is not one.
const RESPONSE_LIMIT: usize = 64 * 1024;

/// What a successful token response gave.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) access_token: Secret,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) scope: Option<String>,
    /// `token_type: DPoP`.
    pub(crate) dpop_bound: bool,
}

/// A failed request, how long the IdP asked us to wait (`Retry-After`), and the DPoP nonce
/// it asked for (`DPoP-Nonce`), if it did.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: TokenError,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) dpop_nonce: Option<String>,
}

impl From<TokenError> for Failure {
    fn from(error: TokenError) -> Self {
        Failure {
            error,
            retry_after: None,
            dpop_nonce: None,
        }
    }
}

/// Longest nonce kept from a server (they are short opaque strings).
const MAX_NONCE_BYTES: usize = 512;

/// The `DPoP-Nonce` an authorization or resource server sent, when it is usable (non-empty
/// text of at most 512 bytes: a hostile server cannot make the client keep more).
pub fn dpop_nonce(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(crate::dpop::NONCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE_BYTES)
        .map(str::to_owned)
}

/// Everything one request needs.
pub(crate) struct Params<'a> {
    pub(crate) token_endpoint: &'a Url,
    pub(crate) client_id: &'a str,
    pub(crate) auth: &'a ClientAuth,
    pub(crate) scopes: &'a [String],
    pub(crate) audience: Option<&'a str>,
    pub(crate) resource: Option<&'a str>,
    /// The `aud` of a `private_key_jwt` assertion.
    pub(crate) assertion_audience: &'a str,
    pub(crate) timeout: Duration,
    /// Asks for a DPoP-bound token: a proof signed with this key, with `nonce` when the IdP
    /// asked for one.
    pub(crate) dpop: Option<(&'a super::DpopKey, Option<&'a str>)>,
}

/// Sends one token request.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    params: &Params<'_>,
) -> Result<Issued, Failure> {
    let mut form: Vec<(&str, String)> = vec![("grant_type", "client_credentials".to_owned())];
    if !params.scopes.is_empty() {
        form.push(("scope", params.scopes.join(" ")));
    }
    if let Some(audience) = params.audience {
        form.push(("audience", audience.to_owned()));
    }
    if let Some(resource) = params.resource {
        form.push(("resource", resource.to_owned()));
    }
    let url = params.token_endpoint;
    let mut request = http
        .post(url.clone())
        .header(ACCEPT, "application/json")
        .timeout(params.timeout);
    if let Some((key, nonce)) = params.dpop {
        request = request.header(
            crate::dpop::PROOF_HEADER,
            key.proof("POST", url, None, nonce),
        );
    }
    match params.auth {
        ClientAuth::SecretBasic(secret) => {
            let id: String =
                url::form_urlencoded::byte_serialize(params.client_id.as_bytes()).collect();
            let secret: String =
                url::form_urlencoded::byte_serialize(secret.expose().as_bytes()).collect();
            let encoded = STANDARD.encode(format!("{id}:{secret}"));
            request = request.header(AUTHORIZATION, format!("Basic {encoded}"));
        }
        ClientAuth::SecretPost(secret) => {
            form.push(("client_id", params.client_id.to_owned()));
            form.push(("client_secret", secret.expose().to_owned()));
        }
        ClientAuth::PrivateKeyJwt(key) => {
            let assertion = key.assertion(params.client_id, params.assertion_audience)?;
            form.push(("client_id", params.client_id.to_owned()));
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ));
            form.push(("client_assertion", assertion));
        }
    }
    let response = request
        .form(&form)
        .send()
        .await
        .map_err(|e| network_failure(url, &e))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let nonce = dpop_nonce(response.headers());
    let body = read_limited(response, url).await?;
    if !status.is_success() {
        return Err(Failure {
            error: error_response(status.as_u16(), &body),
            retry_after,
            dpop_nonce: nonce,
        });
    }
    parse_success(&body, params.dpop.is_some()).map_err(Failure::from)
}

/// Reads the body, refusing more than [`RESPONSE_LIMIT`] bytes.
async fn read_limited(mut response: reqwest::Response, url: &Url) -> Result<Vec<u8>, Failure> {
    if response
        .content_length()
        .is_some_and(|len| len > RESPONSE_LIMIT as u64)
    {
        return Err(TokenError::InvalidResponse("the response is too large".into()).into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| network_failure(url, &e))?
    {
        if body.len() + chunk.len() > RESPONSE_LIMIT {
            return Err(TokenError::InvalidResponse("the response is too large".into()).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn network_failure(url: &Url, error: &reqwest::Error) -> Failure {
    // The URL of a token endpoint never carries credentials (they go in the header or body).
    let url = url.to_string();
    if error.is_timeout() {
        return TokenError::Timeout { url }.into();
    }
    let mut detail = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if detail.last() != Some(&text) {
            detail.push(text);
        }
        next = e.source();
    }
    TokenError::Network {
        url,
        detail: detail.join(": "),
    }
    .into()
}

/// An error response: the OAuth error object when the body is one, else the bare status.
pub(crate) fn error_response(status: u16, body: &[u8]) -> TokenError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| -> Option<String> {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(|s| clip(s, 500))
    };
    match field("error") {
        Some(error) => TokenError::Rejected {
            status,
            error,
            description: field("error_description"),
            uri: field("error_uri"),
        },
        None => TokenError::Status { status },
    }
}

/// At most `max` characters of an IdP-provided string, so a hostile IdP cannot flood logs.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// A successful token response (RFC 6749 §5.1); `token_type: DPoP` only when `dpop` (a proof
/// was sent).
pub(crate) fn parse_success(body: &[u8], dpop: bool) -> Result<Issued, TokenError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| TokenError::InvalidResponse("the body is not JSON".into()))?;
    let access_token = value
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::InvalidResponse("no access_token".into()))?;
    if access_token.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err(TokenError::InvalidResponse(
            "the access token has characters a header cannot carry".into(),
        ));
    }
    // RFC 6749 requires token_type; a few IdPs leave it out for bearer tokens.
    let mut dpop_bound = false;
    if let Some(kind) = value.get("token_type").and_then(Value::as_str) {
        if dpop && kind.eq_ignore_ascii_case("dpop") {
            dpop_bound = true;
        } else if !kind.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::InvalidResponse(format!(
                "token_type is {:?}, expected {}",
                clip(kind, 40),
                if dpop { "DPoP or Bearer" } else { "Bearer" }
            )));
        }
    }
    let expires_in = match value.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64(),
        // Some IdPs send the number as a string.
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|secs| secs.is_finite() && *secs >= 0.0)
    .map(|secs| Duration::from_secs_f64(secs.min(10.0 * 365.0 * 86_400.0)));
    Ok(Issued {
        access_token: Secret::new(access_token),
        expires_in,
        scope: value
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| clip(s, 2000)),
        dpop_bound,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{error_response, parse_success};
    use crate::token_source::error::TokenError;

    #[test]
    fn success_responses() {
        let ok = parse_success(
            br#"{"access_token":"abc","token_type":"bearer","expires_in":300,"scope":"a b"}"#,
            false,
        )
        .unwrap();
        assert_eq!(ok.access_token.expose(), "abc");
        assert_eq!(ok.expires_in, Some(Duration::from_secs(300)));
        assert_eq!(ok.scope.as_deref(), Some("a b"));
        let string_exp = parse_success(
            br#"{"access_token":"abc","token_type":"Bearer","expires_in":"60"}"#,
            false,
        )
        .unwrap();
        assert_eq!(string_exp.expires_in, Some(Duration::from_secs(60)));
        let no_type = parse_success(br#"{"access_token":"abc"}"#, false).unwrap();
        assert_eq!(no_type.expires_in, None);
        for bad in [
            &br#"{"token_type":"Bearer"}"#[..],
            br#"{"access_token":"","token_type":"Bearer"}"#,
            br#"{"access_token":"a b","token_type":"Bearer"}"#,
            br#"{"access_token":"abc","token_type":"DPoP"}"#,
            b"<html>",
        ] {
            assert!(
                matches!(
                    parse_success(bad, false),
                    Err(TokenError::InvalidResponse(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn dpop_token_types() {
        let bound = parse_success(br#"{"access_token":"abc","token_type":"DPoP"}"#, true).unwrap();
        assert!(bound.dpop_bound);
        let plain =
            parse_success(br#"{"access_token":"abc","token_type":"Bearer"}"#, true).unwrap();
        assert!(!plain.dpop_bound, "an IdP without DPoP answers Bearer");
        assert!(parse_success(br#"{"access_token":"abc","token_type":"DPoP"}"#, false).is_err());
    }

    #[test]
    fn error_responses() {
        assert_eq!(
            error_response(
                401,
                br#"{"error":"invalid_client","error_description":"bad secret"}"#
            ),
            TokenError::Rejected {
                status: 401,
                error: "invalid_client".into(),
                description: Some("bad secret".into()),
                uri: None,
            }
        );
        assert_eq!(
            error_response(502, b"Bad Gateway"),
            TokenError::Status { status: 502 }
        );
    }
}
