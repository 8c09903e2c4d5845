//! The validated `oidc:` section and the claim rules shared with per-backend auth.

use std::time::Duration;

use url::Url;

/// `oidc:` — how bearer tokens are validated when `auth.mode` is `oidc`.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcConfig {
    /// Trusted issuers. With `auth.mode: oidc` there is at least one, and every issuer has
    /// at least one audience (its own or the global ones).
    pub issuers: Vec<IssuerConfig>,
    /// Audiences accepted for issuers that list none of their own (`oidc.audience`).
    pub audiences: Vec<String>,
    /// Claims every token must carry.
    pub required_claims: ClaimRules,
    /// Claims that, when present, must match.
    pub optional_claims: ClaimRules,
    /// Clock skew tolerated on `exp`/`nbf`/`iat`. Default 60 s.
    pub leeway: Duration,
    /// Floor between JWKS refetches triggered by unknown key ids. Default 30 s.
    pub jwks_refresh_min_interval: Duration,
    /// Scopes advertised in protected-resource metadata. Default none.
    pub scopes_supported: Vec<String>,
    /// Which scopes imply others (`oidc.scope_hierarchy`), for backend policies.
    pub scope_hierarchy: smcp_policy::ScopeHierarchy,
    /// `oidc.dpop`: whether DPoP-bound tokens (RFC 9449) are accepted or required. Default off.
    pub dpop: smcp_auth::dpop::DpopMode,
    /// `oidc.dpop_replay_cache_size`: most DPoP proofs remembered against replay. Default
    /// 1,000,000.
    pub dpop_replay_cache_size: usize,
    /// `oidc.dpop_nonce`: demand a server nonce (`DPoP-Nonce`) in every proof. Default false.
    pub dpop_nonce: bool,
}

impl OidcConfig {
    /// The audiences accepted for `issuer`: its own if it lists any, else the global ones.
    pub fn audiences_for<'a>(&'a self, issuer: &'a IssuerConfig) -> &'a [String] {
        if issuer.audiences.is_empty() {
            &self.audiences
        } else {
            &issuer.audiences
        }
    }
}

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    /// The issuer exactly as configured (checked to be an absolute http(s) URL). Kept as a
    /// string because a token's `iss` must match it byte for byte, and [`Url`] would add a
    /// trailing slash to `https://idp.example.com`.
    pub issuer: String,
    /// JWKS location; when absent it comes from OIDC discovery.
    pub jwks_uri: Option<Url>,
    /// Audiences for this issuer; empty means "use `oidc.audience`".
    pub audiences: Vec<String>,
}

/// Claim rules as the token validator applies them: the validated configuration holds
/// [`smcp_auth::ClaimRules`] themselves (built, and their names and values checked, once
/// during validation), so starting the server does not parse them again.
pub use smcp_auth::{ClaimRule, ClaimRules};
