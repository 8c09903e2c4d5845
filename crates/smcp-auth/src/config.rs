//! Runtime configuration of the token validator (already parsed: the proxy's config loader
//! turns its YAML/env schema into these types and can call [`ValidatorConfig::check`] before
//! binding any port).

use std::time::Duration;

use thiserror::Error;
use url::Url;

use crate::claims::ClaimRules;

/// One trusted token issuer.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuerConfig {
    /// The issuer identifier, compared byte for byte with the token's `iss` and with the
    /// `issuer` of the discovery document.
    pub issuer: String,
    /// The JWKS URL; when set, discovery is skipped.
    pub jwks_uri: Option<Url>,
    /// Audiences accepted for tokens of this issuer, in addition to the global ones.
    pub audiences: Vec<String>,
}

impl IssuerConfig {
    /// An issuer found by discovery, with no issuer-specific audiences.
    pub fn new(issuer: impl Into<String>) -> Self {
        IssuerConfig {
            issuer: issuer.into(),
            jwks_uri: None,
            audiences: Vec::new(),
        }
    }
}

/// Everything the [`Validator`](crate::Validator) needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatorConfig {
    /// Trusted issuers; a token whose `iss` is not one of them is refused without any fetch.
    pub issuers: Vec<IssuerConfig>,
    /// Audiences accepted for every issuer.
    pub audiences: Vec<String>,
    /// Claims every token must carry, with matching values.
    pub required_claims: ClaimRules,
    /// Claims that must match when a token carries them.
    pub optional_claims: ClaimRules,
    /// Clock-skew allowance for `exp` and `nbf`. Default 60 s.
    pub leeway: Duration,
    /// Minimum time between two JWKS fetches triggered by tokens (unknown `kid`, missing or
    /// stale keys), so tokens with random `kid`s cannot flood the IdP. Default 30 s.
    pub jwks_refresh_min_interval: Duration,
    /// Key-set lifetime when the JWKS response has no usable `Cache-Control: max-age`.
    /// Default 10 min.
    pub jwks_default_ttl: Duration,
    /// Maximum number of validated tokens remembered (0 disables the cache). Default 10 000.
    pub token_cache_capacity: usize,
    /// Upper bound for one key refresh (discovery plus JWKS download). Default 10 s.
    pub fetch_timeout: Duration,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            issuers: Vec::new(),
            audiences: Vec::new(),
            required_claims: ClaimRules::new(),
            optional_claims: ClaimRules::new(),
            leeway: Duration::from_secs(60),
            jwks_refresh_min_interval: Duration::from_secs(30),
            jwks_default_ttl: Duration::from_secs(600),
            token_cache_capacity: 10_000,
            fetch_timeout: Duration::from_secs(10),
        }
    }
}

/// A configuration the validator cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// No issuer is configured.
    #[error("at least one OIDC issuer is required")]
    NoIssuers,
    /// The same issuer is listed twice.
    #[error("issuer `{0}` is listed more than once")]
    DuplicateIssuer(String),
    /// An issuer or JWKS URL is not an absolute `https` URL (plain `http` is allowed for
    /// loopback hosts only, for local development and tests).
    #[error("`{0}` must be an https URL (http only for localhost)")]
    InsecureUrl(String),
    /// An issuer identifier with a query or fragment (forbidden by RFC 8414), user info, or a
    /// `|` (which would make [`Principal::key`](crate::Principal::key) ambiguous).
    #[error("issuer `{0}` must not have a query, a fragment, a user name or password, or a `|`")]
    IssuerQuery(String),
    /// An issuer identifier that is not a URL at all.
    #[error("issuer `{0}` is not an absolute URL")]
    NotAUrl(String),
}

impl ValidatorConfig {
    /// Checks every rule: at least one issuer, no duplicates, and each issuer's own rules
    /// ([`IssuerConfig::check`]). A configuration loader that reports problems per field calls
    /// [`check_issuer`] and [`check_jwks_uri`] for each entry instead, so that the rules stay
    /// here and are not restated.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuers);
        }
        for (i, issuer) in self.issuers.iter().enumerate() {
            if self.issuers[..i]
                .iter()
                .any(|other| other.issuer == issuer.issuer)
            {
                return Err(ConfigError::DuplicateIssuer(issuer.issuer.clone()));
            }
            issuer.check()?;
        }
        Ok(())
    }
}

impl IssuerConfig {
    /// Checks this issuer's own rules: [`check_issuer`] on the identifier and
    /// [`check_jwks_uri`] on the JWKS URL when one is set.
    pub fn check(&self) -> Result<(), ConfigError> {
        check_issuer(&self.issuer)?;
        if let Some(jwks) = &self.jwks_uri {
            check_jwks_uri(jwks)?;
        }
        Ok(())
    }
}

/// The rules for an issuer identifier (the one copy of them): a URL, https or loopback http
/// ([`is_secure_url`]), with no query or fragment (RFC 8414), no user name or password, and no
/// `|` (the separator of [`Principal::key`](crate::Principal::key)). Returns the parsed URL.
///
/// The identifier is compared byte for byte with tokens' `iss`, so it is checked as given:
/// trim it before, if the source may pad it.
pub fn check_issuer(issuer: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(issuer).map_err(|_| ConfigError::NotAUrl(issuer.to_owned()))?;
    if !is_secure_url(&url) {
        return Err(ConfigError::InsecureUrl(issuer.to_owned()));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
        || issuer.contains('|')
    {
        return Err(ConfigError::IssuerQuery(issuer.to_owned()));
    }
    Ok(url)
}

/// The rule for a configured JWKS URL: https or loopback http ([`is_secure_url`]), since
/// whoever can replace the keys can mint accepted tokens.
pub fn check_jwks_uri(jwks: &Url) -> Result<(), ConfigError> {
    if is_secure_url(jwks) {
        Ok(())
    } else {
        Err(ConfigError::InsecureUrl(jwks.to_string()))
    }
}

/// `https` with a host, or `http` to a loopback host (`localhost` in any case, `127.0.0.0/8`,
/// `[::1]`): keys fetched, or credentials sent, over plain HTTP to anywhere else could be read
/// or replaced in transit, which would let anyone mint accepted tokens. The one copy of the
/// rule: the validator, the token sources and the client's configuration all call it.
pub fn is_secure_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{ConfigError, IssuerConfig, ValidatorConfig, is_secure_url};

    #[test]
    fn secure_urls() {
        let secure = [
            "https://idp.example/",
            "http://localhost:8080/",
            "http://LocalHost/",
            "http://127.0.0.1/",
            "http://127.200.3.4:9/",
            "http://[::1]:8080/",
        ];
        for text in secure {
            let url = url::Url::parse(text).expect("a URL");
            assert!(is_secure_url(&url), "{text}");
        }
        let insecure = [
            "http://idp.example/",
            "http://localhost.example/",
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://[::ffff:127.0.0.1]/",
            "ftp://localhost/",
            "file:///etc/passwd",
        ];
        for text in insecure {
            let url = url::Url::parse(text).expect("a URL");
            assert!(!is_secure_url(&url), "{text}");
        }
    }

    fn with_issuers(issuers: &[&str]) -> ValidatorConfig {
        ValidatorConfig {
            issuers: issuers.iter().map(|i| IssuerConfig::new(*i)).collect(),
            ..ValidatorConfig::default()
        }
    }

    #[test]
    fn check_rules() {
        assert_eq!(with_issuers(&[]).check(), Err(ConfigError::NoIssuers));
        assert_eq!(
            with_issuers(&["https://idp.example.com/realms/a"]).check(),
            Ok(())
        );
        assert_eq!(with_issuers(&["http://127.0.0.1:8080"]).check(), Ok(()));
        assert_eq!(with_issuers(&["http://localhost:8080"]).check(), Ok(()));
        assert!(matches!(
            with_issuers(&["http://idp.example.com"]).check(),
            Err(ConfigError::InsecureUrl(_))
        ));
        assert!(matches!(
            with_issuers(&["not a url"]).check(),
            Err(ConfigError::NotAUrl(_))
        ));
        assert!(matches!(
            with_issuers(&["https://user:pw@a.example/"]).check(),
            Err(ConfigError::IssuerQuery(_))
        ));
        assert!(matches!(
            with_issuers(&["https://a.example/#f"]).check(),
            Err(ConfigError::IssuerQuery(_))
        ));
        assert!(matches!(
            with_issuers(&["https://a.example", "https://a.example"]).check(),
            Err(ConfigError::DuplicateIssuer(_))
        ));
        assert!(matches!(
            with_issuers(&["https://a.example/?x=1"]).check(),
            Err(ConfigError::IssuerQuery(_))
        ));
        assert!(matches!(
            with_issuers(&["https://a.example/a|b"]).check(),
            Err(ConfigError::IssuerQuery(_))
        ));
        let mut jwks = with_issuers(&["https://a.example"]);
        jwks.issuers[0].jwks_uri = Some("http://keys.example/jwks".parse().unwrap());
        assert!(matches!(jwks.check(), Err(ConfigError::InsecureUrl(_))));
    }
}
