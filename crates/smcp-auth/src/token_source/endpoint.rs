//! Finding the token endpoint.
//!
//! Three ways, in the order a configuration usually gives them:
//! - given directly (`--oidc-token-url`);
//! - from an issuer (`--oidc-issuer`): OpenID Connect discovery first, then RFC 8414
//!   authorization-server metadata (path-inserted), then the path-inserted OpenID form;
//! - the MCP way, when neither is given: the protected resource's `401` carries
//!   `WWW-Authenticate: Bearer resource_metadata="..."`; that RFC 9728 document (or, without the
//!   parameter, the well-known protected-resource URLs) names the authorization servers; the
//!   first one's metadata (RFC 8414 first, then OpenID) gives the token endpoint.
//!
//! Every metadata document must name exactly the issuer it was fetched for (a trailing slash
//! aside), and the token endpoint must be https (or loopback http): the client secret is sent
//! there.

use serde_json::Value;
use url::Url;

use super::challenge::BearerChallenge;
use super::error::TokenError;
use crate::config::is_secure_url;
use crate::discovery::candidates;
use crate::fetch::{FetchError, get_json};

/// Metadata documents are small; anything bigger is not one.
const METADATA_LIMIT: usize = 256 * 1024;

/// Where tokens are requested, and for which authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEndpointInfo {
    /// The token endpoint.
    pub token_endpoint: Url,
    /// The authorization server's issuer identifier, when metadata named it.
    pub issuer: Option<String>,
    /// The protected-resource metadata the endpoint was found through (MCP discovery only).
    pub protected_resource: Option<ProtectedResource>,
}

/// An RFC 9728 protected-resource metadata document, reduced to what a client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    /// Where the document was found.
    pub metadata_url: Url,
    /// The resource identifier (what tokens should be issued for).
    pub resource: String,
    /// The authorization servers, in the server's order of preference.
    pub authorization_servers: Vec<String>,
    /// `scopes_supported`, when given.
    pub scopes_supported: Vec<String>,
}

/// The outcome of fetching one metadata document.
fn fetch_failure(url: &Url, error: &FetchError) -> TokenError {
    let transient = match error {
        FetchError::Network | FetchError::Timeout => true,
        FetchError::Status(status) => *status >= 500 || *status == 429,
        _ => false,
    };
    TokenError::Discovery {
        detail: format!("{url}: {error}"),
        transient,
    }
}

/// Two issuer identifiers name the same issuer (a trailing slash is not a difference worth
/// failing over: users type both forms).
fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Fetches a JSON document, bounded in time.
async fn fetch_json(
    http: &reqwest::Client,
    url: &Url,
    timeout: std::time::Duration,
) -> Result<Value, TokenError> {
    let fetched = match tokio::time::timeout(timeout, get_json(http, url, METADATA_LIMIT)).await {
        Err(_) => return Err(fetch_failure(url, &FetchError::Timeout)),
        Ok(Err(error)) => return Err(fetch_failure(url, &error)),
        Ok(Ok(fetched)) => fetched,
    };
    serde_json::from_slice(&fetched.body).map_err(|_| TokenError::Discovery {
        detail: format!("{url}: not a JSON document"),
        transient: false,
    })
}

/// Finds the token endpoint of `issuer` from its metadata. `oauth_first` puts the RFC 8414
/// locations first (the MCP order); otherwise OpenID discovery comes first.
pub(crate) async fn from_issuer(
    http: &reqwest::Client,
    issuer: &str,
    oauth_first: bool,
    timeout: std::time::Duration,
) -> Result<TokenEndpointInfo, TokenError> {
    let issuer_url = Url::parse(issuer).map_err(|_| TokenError::Discovery {
        detail: format!("issuer {issuer:?} is not a URL"),
        transient: false,
    })?;
    if !is_secure_url(&issuer_url) {
        return Err(TokenError::Discovery {
            detail: format!("issuer {issuer} must be https (http only for localhost)"),
            transient: false,
        });
    }
    let mut urls = candidates(&issuer_url);
    if oauth_first {
        urls.rotate_left(1);
    }
    let mut failures = Vec::new();
    let mut transient = false;
    for url in urls {
        let doc = match fetch_json(http, &url, timeout).await {
            Ok(doc) => doc,
            Err(error) => {
                transient |= error.is_transient();
                failures.push(error_detail(&error));
                continue;
            }
        };
        let named = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
        if !same_issuer(named, issuer) {
            return Err(TokenError::Discovery {
                detail: format!("{url} names issuer {named:?}, not {issuer:?}"),
                transient: false,
            });
        }
        let Some(token_endpoint) = doc.get("token_endpoint").and_then(Value::as_str) else {
            failures.push(format!("{url}: no token_endpoint"));
            continue;
        };
        let token_endpoint = secure_token_url(token_endpoint)?;
        tracing::debug!(issuer, metadata = %url, token_endpoint = %token_endpoint, "token endpoint discovered");
        return Ok(TokenEndpointInfo {
            token_endpoint,
            issuer: Some(named.to_owned()),
            protected_resource: None,
        });
    }
    Err(TokenError::Discovery {
        detail: format!(
            "no authorization-server metadata for issuer {issuer} ({})",
            failures.join("; ")
        ),
        transient,
    })
}

fn error_detail(error: &TokenError) -> String {
    match error {
        TokenError::Discovery { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

/// Checks a token endpoint URL: absolute, https or loopback http.
pub(crate) fn secure_token_url(url: &str) -> Result<Url, TokenError> {
    let parsed = Url::parse(url).map_err(|_| TokenError::Discovery {
        detail: format!("token endpoint {url:?} is not a URL"),
        transient: false,
    })?;
    if !is_secure_url(&parsed) {
        return Err(TokenError::Discovery {
            detail: format!(
                "token endpoint {url} must be https (http only for localhost): \
                 the client's credentials are sent there"
            ),
            transient: false,
        });
    }
    Ok(parsed)
}

/// The well-known protected-resource metadata URLs of `resource` (RFC 9728 §3.1): the
/// path-inserted one first, then the root one.
pub(crate) fn protected_resource_candidates(resource: &Url) -> Vec<Url> {
    let mut origin = resource.clone();
    origin.set_path("");
    origin.set_query(None);
    origin.set_fragment(None);
    let origin = origin.as_str().trim_end_matches('/').to_owned();
    let path = resource.path().trim_end_matches('/');
    let mut urls = Vec::new();
    if !path.is_empty() {
        urls.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    urls.push(format!("{origin}/.well-known/oauth-protected-resource"));
    urls.iter().filter_map(|u| Url::parse(u).ok()).collect()
}

/// Whether the protected resource `advertised` covers `used`, the URL the client talks to:
/// same origin, and `used`'s path equal to or below `advertised`'s (whole segments).
pub fn resource_covers(advertised: &str, used: &Url) -> bool {
    let Ok(advertised) = Url::parse(advertised) else {
        return false;
    };
    if advertised.scheme() != used.scheme()
        || advertised.host_str().map(str::to_ascii_lowercase)
            != used.host_str().map(str::to_ascii_lowercase)
        || advertised.port_or_known_default() != used.port_or_known_default()
    {
        return false;
    }
    let base = advertised.path().trim_end_matches('/');
    let path = used.path().trim_end_matches('/');
    path == base || path.starts_with(&format!("{base}/"))
}

/// Fetches the protected-resource metadata of `resource`: from the challenge's
/// `resource_metadata` when the server sent one, else from the well-known locations. The
/// document's `resource` must cover `resource` (RFC 9728 §3.3), or a server could send the
/// client's credentials' tokens somewhere else.
pub async fn protected_resource(
    http: &reqwest::Client,
    resource: &Url,
    challenge: Option<&BearerChallenge>,
    timeout: std::time::Duration,
) -> Result<ProtectedResource, TokenError> {
    let urls = match challenge.and_then(|c| c.resource_metadata.as_deref()) {
        Some(url) => vec![Url::parse(url).map_err(|_| TokenError::Discovery {
            detail: format!("the server's resource_metadata {url:?} is not a URL"),
            transient: false,
        })?],
        None => protected_resource_candidates(resource),
    };
    let mut failures = Vec::new();
    let mut transient = false;
    for url in urls {
        let doc = match fetch_json(http, &url, timeout).await {
            Ok(doc) => doc,
            Err(error) => {
                transient |= error.is_transient();
                failures.push(error_detail(&error));
                continue;
            }
        };
        let advertised = doc
            .get("resource")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !resource_covers(&advertised, resource) {
            return Err(TokenError::Discovery {
                detail: format!(
                    "protected-resource metadata at {url} is for {advertised:?}, not {resource}"
                ),
                transient: false,
            });
        }
        let strings = |key: &str| -> Vec<String> {
            doc.get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let authorization_servers = strings("authorization_servers");
        if authorization_servers.is_empty() {
            return Err(TokenError::Discovery {
                detail: format!(
                    "protected-resource metadata at {url} names no authorization server"
                ),
                transient: false,
            });
        }
        return Ok(ProtectedResource {
            metadata_url: url,
            resource: advertised,
            authorization_servers,
            scopes_supported: strings("scopes_supported"),
        });
    }
    Err(TokenError::Discovery {
        detail: format!(
            "no protected-resource metadata for {resource} ({})",
            failures.join("; ")
        ),
        transient,
    })
}

/// MCP discovery: protected-resource metadata, then its first authorization server's metadata.
pub(crate) async fn from_resource(
    http: &reqwest::Client,
    resource: &Url,
    challenge: Option<&BearerChallenge>,
    timeout: std::time::Duration,
) -> Result<TokenEndpointInfo, TokenError> {
    let prm = protected_resource(http, resource, challenge, timeout).await?;
    // The spec leaves the choice to the client; the server lists its preferred one first.
    let issuer = prm.authorization_servers[0].clone();
    let mut info = from_issuer(http, &issuer, true, timeout).await?;
    info.protected_resource = Some(prm);
    Ok(info)
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::{protected_resource_candidates, resource_covers};

    #[test]
    fn well_known_locations() {
        let urls: Vec<String> =
            protected_resource_candidates(&Url::parse("https://h:8443/v1/memory/").unwrap())
                .iter()
                .map(Url::to_string)
                .collect();
        assert_eq!(
            urls,
            [
                "https://h:8443/.well-known/oauth-protected-resource/v1/memory",
                "https://h:8443/.well-known/oauth-protected-resource",
            ]
        );
        let root: Vec<String> = protected_resource_candidates(&Url::parse("https://h").unwrap())
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(root, ["https://h/.well-known/oauth-protected-resource"]);
    }

    #[test]
    fn resource_coverage() {
        let used = Url::parse("https://mcp.example.com/v1/memory").unwrap();
        assert!(resource_covers("https://mcp.example.com/v1/memory", &used));
        assert!(resource_covers("https://mcp.example.com/v1/memory/", &used));
        assert!(resource_covers("https://MCP.example.com:443/v1", &used));
        assert!(resource_covers("https://mcp.example.com", &used));
        assert!(!resource_covers("https://mcp.example.com/v1/mem", &used));
        assert!(!resource_covers(
            "https://other.example.com/v1/memory",
            &used
        ));
        assert!(!resource_covers("http://mcp.example.com/v1/memory", &used));
        assert!(!resource_covers("not a url", &used));
    }
}
