//! Finding an issuer's `jwks_uri`: OpenID Connect discovery, then RFC 8414 authorization
//! server metadata. The document's `issuer` must equal the configured issuer exactly
//! (OIDC Discovery §4.3, RFC 8414 §3.3), which stops a compromised or misconfigured metadata
//! endpoint from pointing us at someone else's keys.

use serde_json::Value;
use url::Url;

use crate::config::is_secure_url;
use crate::fetch::{FetchError, get_json};

/// Discovery documents are small; anything bigger is not one.
const DISCOVERY_LIMIT: usize = 256 * 1024;

/// The metadata URLs to try, in order. For `https://idp/realm`:
/// `https://idp/realm/.well-known/openid-configuration` (OIDC),
/// `https://idp/.well-known/oauth-authorization-server/realm` (RFC 8414 path insertion),
/// `https://idp/.well-known/openid-configuration/realm` (path-inserted OIDC form, which the MCP
/// specification also tries). Without a path: the OIDC and RFC 8414 well-known URLs.
pub(crate) fn candidates(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut origin = issuer.clone();
    origin.set_path("");
    origin.set_query(None);
    origin.set_fragment(None);
    let origin = origin.as_str().trim_end_matches('/').to_owned();
    let mut urls = vec![format!("{origin}{path}/.well-known/openid-configuration")];
    urls.push(format!(
        "{origin}/.well-known/oauth-authorization-server{path}"
    ));
    if !path.is_empty() {
        urls.push(format!("{origin}/.well-known/openid-configuration{path}"));
    }
    urls.iter().filter_map(|u| Url::parse(u).ok()).collect()
}

/// Finds the `jwks_uri` of `issuer`, trying each candidate until one answers with a document.
pub(crate) async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Url, FetchError> {
    let issuer_url = Url::parse(issuer).map_err(|_| FetchError::InsecureUrl)?;
    if !is_secure_url(&issuer_url) {
        return Err(FetchError::InsecureUrl);
    }
    let mut last_error = FetchError::Invalid;
    for url in candidates(&issuer_url) {
        let found = get_json(http, &url, DISCOVERY_LIMIT)
            .await
            .and_then(|fetched| jwks_uri_from(&fetched.body, issuer));
        match found {
            Ok(jwks_uri) => return Ok(jwks_uri),
            // A real document naming another issuer or an insecure key URL is a hard answer.
            Err(error @ (FetchError::IssuerMismatch | FetchError::InsecureUrl)) => {
                return Err(error);
            }
            Err(error) => {
                tracing::debug!(issuer, url = %url, %error, "discovery candidate failed");
                last_error = error;
            }
        }
    }
    Err(last_error)
}

fn jwks_uri_from(body: &[u8], issuer: &str) -> Result<Url, FetchError> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| FetchError::Invalid)?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(FetchError::IssuerMismatch);
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or(FetchError::Invalid)?;
    let jwks_uri = Url::parse(jwks_uri).map_err(|_| FetchError::Invalid)?;
    if !is_secure_url(&jwks_uri) {
        return Err(FetchError::InsecureUrl);
    }
    Ok(jwks_uri)
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::{candidates, jwks_uri_from};
    use crate::fetch::FetchError;

    fn strings(issuer: &str) -> Vec<String> {
        candidates(&Url::parse(issuer).unwrap())
            .iter()
            .map(Url::to_string)
            .collect()
    }

    #[test]
    fn candidate_urls() {
        assert_eq!(
            strings("https://idp.example.com"),
            [
                "https://idp.example.com/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            strings("https://idp.example.com:8443/realms/mcp/"),
            [
                "https://idp.example.com:8443/realms/mcp/.well-known/openid-configuration",
                "https://idp.example.com:8443/.well-known/oauth-authorization-server/realms/mcp",
                "https://idp.example.com:8443/.well-known/openid-configuration/realms/mcp",
            ]
        );
    }

    #[test]
    fn document_checks() {
        let ok = br#"{"issuer":"https://i","jwks_uri":"https://i/keys"}"#;
        assert_eq!(
            jwks_uri_from(ok, "https://i").unwrap().as_str(),
            "https://i/keys"
        );
        assert_eq!(
            jwks_uri_from(ok, "https://i/"),
            Err(FetchError::IssuerMismatch)
        );
        let http = br#"{"issuer":"https://i","jwks_uri":"http://i/keys"}"#;
        assert_eq!(
            jwks_uri_from(http, "https://i"),
            Err(FetchError::InsecureUrl)
        );
        let none = br#"{"issuer":"https://i"}"#;
        assert_eq!(jwks_uri_from(none, "https://i"), Err(FetchError::Invalid));
        assert_eq!(
            jwks_uri_from(b"<html>", "https://i"),
            Err(FetchError::Invalid)
        );
    }
}
