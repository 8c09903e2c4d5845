//! The token validator: from a bearer token to a [`Principal`] or an [`AuthError`].
//!
//! Order of checks, cheapest and least trusting first: size and shape; the validated-token
//! cache; the unverified `iss`, which only picks one of the configured issuers (an unknown
//! issuer causes no fetch); the key chosen by `kid` with algorithms allowed by that key;
//! signature, `exp`/`nbf` with leeway and `iss` by jsonwebtoken; global claim rules. What
//! depends on the call (audience or resource, per-backend rules and scopes) is checked on every
//! call, cache hit or not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::cache::{CachedToken, TokenCache};
use crate::claims::ClaimRules;
use crate::config::ValidatorConfig;
use crate::error::AuthError;
use crate::jwks::{JwksCache, JwksSettings, Trigger};
use crate::keys::{Selection, VerifyKey};
use crate::principal::{Principal, unix_now};
use crate::token::{MAX_TOKEN_BYTES, fingerprint, inspect, token_hash};

/// First and longest pause between startup key-fetch retries.
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Validates bearer tokens against the configured issuers. Cheap to clone (an `Arc` inside);
/// share one per process.
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: Vec<IssuerEntry>,
    required: ClaimRules,
    optional: ClaimRules,
    leeway_secs: u64,
    cache: TokenCache,
    started: AtomicBool,
}

struct IssuerEntry {
    /// Accepted audiences: the global ones plus this issuer's.
    audiences: Vec<String>,
    jwks: Arc<JwksCache>,
}

/// How an accepted token was accepted (the `reason` label of accepted validations).
#[derive(Clone, Copy)]
enum Accepted {
    Verified,
    CacheHit,
}

impl Validator {
    /// Builds a validator; does no I/O. Call [`Validator::start`] to fetch keys in the
    /// background, or let the first tokens fetch them.
    pub fn new(cfg: ValidatorConfig, http: reqwest::Client) -> Self {
        let settings = JwksSettings {
            min_interval: cfg.jwks_refresh_min_interval,
            default_ttl: cfg.jwks_default_ttl,
            fetch_timeout: cfg.fetch_timeout,
        };
        let issuers = cfg
            .issuers
            .into_iter()
            .map(|issuer| {
                let mut audiences = cfg.audiences.clone();
                for aud in issuer.audiences {
                    if !audiences.contains(&aud) {
                        audiences.push(aud);
                    }
                }
                let jwks = JwksCache::new(issuer.issuer, issuer.jwks_uri, http.clone(), settings);
                IssuerEntry {
                    audiences,
                    jwks: Arc::new(jwks),
                }
            })
            .collect();
        Validator {
            inner: Arc::new(Inner {
                issuers,
                required: cfg.required_claims,
                optional: cfg.optional_claims,
                leeway_secs: cfg.leeway.as_secs(),
                cache: TokenCache::new(cfg.token_cache_capacity),
                started: AtomicBool::new(false),
            }),
        }
    }

    /// Starts one background task per issuer that runs discovery and the first JWKS fetch,
    /// retrying with exponential backoff (1 s doubling to 60 s) until it succeeds. Returns at
    /// once; startup never waits for the IdP. Calling it again does nothing. Must be called
    /// inside a Tokio runtime (outside one it logs an error and does nothing).
    pub fn start(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                "Validator::start called outside a Tokio runtime; keys will be fetched on demand"
            );
            return;
        };
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        for issuer in &self.inner.issuers {
            runtime.spawn(warm_up(Arc::downgrade(&issuer.jwks)));
        }
    }

    /// Whether every issuer's keys have been fetched at least once.
    pub fn is_ready(&self) -> bool {
        self.inner.issuers.iter().all(|i| i.jwks.has_keys())
    }

    /// Waits until [`Validator::is_ready`] (forever if an IdP never answers: bound it with a
    /// timeout).
    pub async fn wait_ready(&self) {
        for issuer in &self.inner.issuers {
            let mut ready = issuer.jwks.subscribe();
            // An error means the cache was dropped, which cannot happen while `self` lives.
            let _ = ready.wait_for(|has_keys| *has_keys).await;
        }
    }

    /// The configured issuer identifiers (for `authorization_servers` in protected resource
    /// metadata).
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.iter().map(|i| i.jwks.issuer())
    }

    /// Validates `token` (the bare token, without `Bearer `) for a call to `resource` (the
    /// public URL of the endpoint being called, accepted as an audience per RFC 8707), with
    /// the call's extra claim rules (all must be present and match, including their scopes).
    pub async fn validate(
        &self,
        token: &str,
        resource: Option<&str>,
        extra: &ClaimRules,
    ) -> Result<Principal, AuthError> {
        let started = Instant::now();
        let hash = token_hash(token);
        let result = self.validate_inner(token, &hash, resource, extra).await;
        let (outcome, reason) = match &result {
            Ok((_, Accepted::Verified)) => ("accepted", "verified"),
            Ok((_, Accepted::CacheHit)) => ("accepted", "cache_hit"),
            Err(error) => ("rejected", error.reason()),
        };
        metrics::counter!("smcp_auth_validations_total", "outcome" => outcome, "reason" => reason)
            .increment(1);
        metrics::histogram!("smcp_auth_validation_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok((principal, _)) => Ok(principal),
            Err(error) => {
                tracing::debug!(token = %fingerprint(&hash), reason = error.reason(), %error, "bearer token rejected");
                Err(error)
            }
        }
    }

    async fn validate_inner(
        &self,
        token: &str,
        hash: &[u8; 32],
        resource: Option<&str>,
        extra: &ClaimRules,
    ) -> Result<(Principal, Accepted), AuthError> {
        if token.trim().is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        if let Some(hit) = self.cached(hash) {
            self.check_call(&hit.principal, hit.issuer, resource, extra)?;
            return Ok((hit.principal.clone(), Accepted::CacheHit));
        }
        let unverified = inspect(token)?;
        let issuer_index = self
            .inner
            .issuers
            .iter()
            .position(|i| i.jwks.issuer() == unverified.iss)
            .ok_or(AuthError::WrongIssuer)?;
        let issuer = &self.inner.issuers[issuer_index];
        let key = select_key(&issuer.jwks, unverified.kid.as_deref(), unverified.alg).await?;
        let claims = verify(token, &key, issuer.jwks.issuer(), self.inner.leeway_secs)?;
        self.inner.required.check_required(&claims)?;
        self.inner.optional.check_optional(&claims)?;
        let principal = Principal::from_claims(issuer.jwks.issuer(), claims)?;
        if principal.expires_unix() > unix_now() {
            self.inner.cache.insert(
                *hash,
                CachedToken {
                    principal: principal.clone(),
                    issuer: issuer_index,
                    key_thumb: key.thumb,
                },
            );
        }
        self.check_call(&principal, issuer_index, resource, extra)?;
        Ok((principal, Accepted::Verified))
    }

    /// A cache entry that is unexpired and whose signing key is still published.
    fn cached(&self, hash: &[u8; 32]) -> Option<Arc<CachedToken>> {
        let hit = self.inner.cache.get(hash, unix_now())?;
        let jwks = &self.inner.issuers[hit.issuer].jwks;
        // Cache hits must not keep a stale key set alive: a withdrawn key has to disappear.
        jwks.refresh_if_stale();
        let still_published = jwks
            .keys()
            .is_some_and(|keys| keys.contains(&hit.key_thumb));
        if still_published {
            Some(hit)
        } else {
            self.inner.cache.remove(hash);
            None
        }
    }

    /// The per-call checks: audience (configured or the called resource), then the call's
    /// claim rules and scopes.
    fn check_call(
        &self,
        principal: &Principal,
        issuer: usize,
        resource: Option<&str>,
        extra: &ClaimRules,
    ) -> Result<(), AuthError> {
        let accepted = &self.inner.issuers[issuer].audiences;
        if !audience_matches(principal.claims.get("aud"), accepted, resource) {
            return Err(AuthError::WrongAudience);
        }
        extra.check_required(&principal.claims)
    }

    /// Number of tokens in the validated-token cache (for tests and diagnostics).
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.len()
    }
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("issuers", &self.issuers().collect::<Vec<_>>())
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

/// Retries the first fetch of one issuer's keys until it succeeds or the validator is gone.
async fn warm_up(jwks: Weak<JwksCache>) {
    let mut delay = BACKOFF_INITIAL;
    loop {
        {
            let Some(jwks) = jwks.upgrade() else { return };
            if jwks.has_keys() {
                return;
            }
            jwks.refresh(Trigger::Startup).await;
            if jwks.has_keys() {
                tracing::info!(issuer = jwks.issuer(), "issuer keys loaded");
                return;
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

/// Finds the key for a token, fetching (rate-limited) when there are no keys yet or the `kid`
/// is unknown.
async fn select_key(
    jwks: &Arc<JwksCache>,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<Arc<VerifyKey>, AuthError> {
    if jwks.keys().is_none() {
        jwks.refresh(Trigger::NoKeys).await;
    }
    let keys = jwks.keys().ok_or(AuthError::KeysUnavailable)?;
    jwks.refresh_if_stale();
    match keys.select(kid, alg) {
        Selection::Found(key) => return Ok(key),
        Selection::AlgorithmNotAllowed => return Err(AuthError::AlgorithmNotAllowed),
        Selection::Ambiguous => return Err(AuthError::UnknownKey),
        Selection::NotFound => {}
    }
    jwks.refresh(Trigger::UnknownKid).await;
    let keys = jwks.keys().ok_or(AuthError::KeysUnavailable)?;
    match keys.select(kid, alg) {
        Selection::Found(key) => Ok(key),
        Selection::AlgorithmNotAllowed => Err(AuthError::AlgorithmNotAllowed),
        Selection::Ambiguous | Selection::NotFound => Err(AuthError::UnknownKey),
    }
}

/// Verifies signature, `iss`, `exp`, `nbf` (with leeway) and the presence of `aud` and `sub`.
/// The audience value is checked per call, because the resource is part of the call.
fn verify(
    token: &str,
    key: &VerifyKey,
    issuer: &str,
    leeway_secs: u64,
) -> Result<Map<String, Value>, AuthError> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.algorithms = key.algorithms.clone();
    validation.leeway = leeway_secs;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|error| map_jwt_error(error.kind()))
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => AuthError::WrongIssuer,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm => AuthError::AlgorithmNotAllowed,
        _ => AuthError::Malformed,
    }
}

/// `aud` (a string or an array of strings) must name an accepted audience or the resource.
/// A trailing `/` is ignored when comparing with the resource URL.
fn audience_matches(aud: Option<&Value>, accepted: &[String], resource: Option<&str>) -> bool {
    let resource = resource
        .map(|r| r.strip_suffix('/').unwrap_or(r))
        .filter(|r| !r.is_empty());
    let accepts = |value: &str| {
        accepted.iter().any(|a| a == value)
            || resource.is_some_and(|r| r == value.strip_suffix('/').unwrap_or(value))
    };
    match aud {
        Some(Value::String(value)) => accepts(value),
        Some(Value::Array(values)) => values.iter().filter_map(Value::as_str).any(accepts),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::audience_matches;

    #[test]
    fn audiences() {
        let accepted = vec!["api".to_owned()];
        let r = Some("https://proxy.example/v1/memory");
        assert!(audience_matches(Some(&json!("api")), &accepted, None));
        assert!(audience_matches(
            Some(&json!(["x", "api"])),
            &accepted,
            None
        ));
        assert!(!audience_matches(Some(&json!("apix")), &accepted, None));
        assert!(!audience_matches(Some(&json!(["x"])), &accepted, r));
        assert!(audience_matches(
            Some(&json!("https://proxy.example/v1/memory")),
            &[],
            r
        ));
        assert!(audience_matches(
            Some(&json!(["https://proxy.example/v1/memory/"])),
            &[],
            r
        ));
        assert!(!audience_matches(
            Some(&json!("https://proxy.example/v1/other")),
            &[],
            r
        ));
        assert!(!audience_matches(
            Some(&json!("https://proxy.example/v1")),
            &[],
            r
        ));
        assert!(!audience_matches(None, &accepted, r));
        assert!(!audience_matches(Some(&json!(5)), &accepted, r));
        assert!(!audience_matches(Some(&json!("")), &[], Some("")));
    }
}
