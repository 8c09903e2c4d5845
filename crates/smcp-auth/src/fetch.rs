//! Bounded HTTP GETs of IdP metadata (discovery documents and JWKS), and what can go wrong
//! with them, named for the `outcome` label of `smcp_jwks_fetches_total`.

use std::time::Duration;

use reqwest::header::{ACCEPT, CACHE_CONTROL};
use url::Url;

use crate::config::is_secure_url;

/// Why a key refresh failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// The refresh took longer than `fetch_timeout`.
    Timeout,
    /// Connection or protocol failure.
    Network,
    /// A non-2xx status.
    Status(u16),
    /// The body exceeded its size limit.
    TooLarge,
    /// The document is not what it should be (bad JSON, no `jwks_uri`, no `keys`).
    Invalid,
    /// The discovery document names another issuer.
    IssuerMismatch,
    /// The discovered `jwks_uri`, or where a redirect led, is not https (nor loopback http).
    InsecureUrl,
    /// The JWKS parsed but holds no usable key.
    NoUsableKeys,
}

impl FetchError {
    /// The `outcome` label value.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            FetchError::Timeout => "timeout",
            FetchError::Network => "network_error",
            FetchError::Status(_) => "http_status",
            FetchError::TooLarge => "too_large",
            FetchError::Invalid => "invalid_document",
            FetchError::IssuerMismatch => "issuer_mismatch",
            FetchError::InsecureUrl => "insecure_url",
            FetchError::NoUsableKeys => "no_usable_keys",
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Status(code) => write!(f, "HTTP status {code}"),
            other => f.write_str(other.outcome()),
        }
    }
}

/// A fetched document and its `Cache-Control: max-age`, if any.
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    pub(crate) max_age: Option<Duration>,
}

/// GETs `url` as JSON, refusing bodies larger than `limit` bytes.
pub(crate) async fn get_json(
    http: &reqwest::Client,
    url: &Url,
    limit: usize,
) -> Result<Fetched, FetchError> {
    let mut response = http
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|_| FetchError::Network)?;
    // The caller's client may follow redirects: the document must still come from a secure
    // URL, or an https → http redirect would let anyone on the path substitute keys.
    if !is_secure_url(response.url()) {
        return Err(FetchError::InsecureUrl);
    }
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let max_age = response
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| FetchError::Network)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// Reads `max-age` from a Cache-Control value; `no-store`/`no-cache` count as zero (the caller
/// clamps to its minimum TTL).
pub(crate) fn parse_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, arg) = match directive.split_once('=') {
            Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age")
            && let Some(secs) = arg.and_then(|a| a.parse::<u64>().ok())
        {
            max_age = Some(Duration::from_secs(secs));
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_max_age;

    #[test]
    fn max_age() {
        assert_eq!(parse_max_age("max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(
            parse_max_age("public, Max-Age=\"60\""),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_max_age("public, must-revalidate"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
        assert_eq!(parse_max_age("no-store, max-age=300"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("no-cache"), Some(Duration::ZERO));
    }
}
