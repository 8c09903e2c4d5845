//! Client-credentials token source: machine-to-machine access tokens for smcp-client.
//!
//! A [`TokenSource`] gets bearer tokens from an OAuth 2 / OIDC token endpoint with the
//! `client_credentials` grant and hands out the same token until shortly before it expires.
//!
//! - Endpoint: given ([`EndpointSource::TokenUrl`]), from an issuer's metadata
//!   ([`EndpointSource::Issuer`]: OIDC discovery, then RFC 8414), or discovered the MCP way
//!   from the protected resource ([`EndpointSource::Resource`]: the server's `401`
//!   `WWW-Authenticate` -> RFC 9728 metadata -> first authorization server). Found once, on
//!   the first fetch, and kept.
//! - Scopes: the operator's ([`TokenSourceConfig::scopes`]), else those the protected
//!   resource asks for, else [`TokenSourceConfig::default_scopes`]; scopes nobody chose that
//!   the IdP refuses (`invalid_scope`) are dropped and the request sent once more without one.
//! - Resources: one [`TokenSource`] asks for one RFC 8707 `resource` (or none);
//!   [`ResourceTokens`] keeps one per resource, each found from the protected-resource
//!   metadata of the URL being called (one listener in front of several MCP servers).
//! - Client authentication: [`ClientAuth`] (`client_secret_basic`, `client_secret_post`,
//!   `private_key_jwt`). Secrets are [`Secret`]s: never printed, never logged.
//! - Reuse: a token is handed out until `exp - ttl_delta` (the delta is capped at half the
//!   token's lifetime, so a 3-second token is still reused for 1.5 s) and for at most
//!   `cache_ttl`. Lifetime comes from `expires_in`, else the JWT's `exp`, else `cache_ttl`.
//! - Single flight: concurrent callers that find no usable token wait for one fetch and all
//!   get its result, token or error. [`TokenSource::refresh_rejected`] replaces a token the
//!   resource server refused, once, however many requests saw the refusal.
//! - Scope step-up: [`TokenSource::step_up`] replaces the token with one for the union of
//!   its scopes and those a resource's `insufficient_scope` challenge ([`BearerChallenge`])
//!   names, one token request however many callers ask at once. The wider scopes are kept:
//!   every later token (renewal, refresh after a `401`) is requested with them. A refusal by
//!   the IdP is remembered for the token it was asked for, so the IdP is not asked again for
//!   the same scopes until that token is renewed; the current token stays in use.
//! - Failures that may pass (network, timeouts, 5xx, 429, `temporarily_unavailable`) are
//!   retried with exponential backoff (or the IdP's `Retry-After`); a refusal such as
//!   `invalid_client` is not. When a refresh fails while the current token has not expired
//!   yet, that token keeps being used. Errors carry the IdP's `error` and
//!   `error_description` ([`TokenError`]).
//!
//! - DPoP (RFC 9449): with [`TokenSourceConfig::dpop`], token requests carry a proof signed
//!   with the client's [`DpopKey`], the IdP's `use_dpop_nonce` is followed once, and a
//!   `token_type: DPoP` answer makes a bound token ([`AccessToken::is_dpop_bound`]).
//!
//! Metrics: `smcp_client_token_fetches_total{outcome}` (one per HTTP token request; outcome
//! `success` or a [`TokenError::kind`]) and `smcp_client_token_fetch_duration_seconds`.

mod access_token;
mod assertion;
mod challenge;
mod dpop_key;
mod endpoint;
mod error;
mod per_resource;
mod request;
mod scope;
mod step_up;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use url::Url;

use access_token::unverified_claims;
pub use access_token::{AccessToken, Secret};
pub use assertion::{AssertionKey, AssertionKeyError};
pub use challenge::BearerChallenge;
pub use dpop_key::{DpopAlgorithm, DpopKey, DpopKeyError};
pub use endpoint::{ProtectedResource, TokenEndpointInfo, protected_resource, resource_covers};
pub use error::TokenError;
pub use per_resource::{MAX_RESOURCES, ResourceTokens};
pub use request::dpop_nonce;
pub use scope::{MAX_SCOPES, parse_scope, scope_union};
pub use step_up::StepUp;

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret (the default).
    SecretBasic(Secret),
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    SecretPost(Secret),
    /// `private_key_jwt`: a JWT assertion signed with the client's key (RFC 7523).
    PrivateKeyJwt(AssertionKey),
}

impl ClientAuth {
    /// The registered method name (`token_endpoint_auth_method`).
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::SecretBasic(_) => "client_secret_basic",
            ClientAuth::SecretPost(_) => "client_secret_post",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }
}

/// Asks the protected resource for its `401` challenge: returns the `WWW-Authenticate` value
/// (or `None` when the resource did not send one). Supplied by the caller, who knows how to
/// talk to the resource (for MCP: an unauthenticated `initialize`).
pub type ChallengeProbe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send + Sync>;

/// Where the token endpoint comes from.
#[derive(Clone)]
pub enum EndpointSource {
    /// This URL (https, or http on loopback).
    TokenUrl(Url),
    /// The metadata of this issuer: OIDC discovery first, then RFC 8414.
    Issuer(String),
    /// MCP discovery from the protected resource at `url`: the challenge from `probe` (when
    /// given, and when it carries `resource_metadata`), else the well-known locations.
    Resource {
        /// The protected resource (the MCP server URL).
        url: Url,
        /// Fetches the resource's `WWW-Authenticate` challenge.
        probe: Option<ChallengeProbe>,
    },
}

impl std::fmt::Debug for EndpointSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointSource::TokenUrl(url) => f.debug_tuple("TokenUrl").field(url).finish(),
            EndpointSource::Issuer(issuer) => f.debug_tuple("Issuer").field(issuer).finish(),
            EndpointSource::Resource { url, probe } => f
                .debug_struct("Resource")
                .field("url", url)
                .field("probe", &probe.is_some())
                .finish(),
        }
    }
}

/// Everything a [`TokenSource`] needs.
#[derive(Debug, Clone)]
pub struct TokenSourceConfig {
    /// Where the token endpoint comes from.
    pub endpoint: EndpointSource,
    /// The OAuth client id.
    pub client_id: String,
    /// How the client authenticates.
    pub auth: ClientAuth,
    /// The operator's scopes, requested exactly; an IdP's refusal of them is final. `None`:
    /// the scopes the protected resource asks for (with [`EndpointSource::Resource`], the
    /// challenge's `scope`, else the metadata's `scopes_supported`), else `default_scopes`; an
    /// `invalid_scope` answer to those is followed by one request without a scope (see
    /// [`default_scopes`](Self::default_scopes)).
    pub scopes: Option<Vec<String>>,
    /// What to ask for when `scopes` is `None` and the resource named none (smcp-client:
    /// `openid`, the Go proxy's default). Because nobody chose them, an IdP that refuses them
    /// (`invalid_scope`: Entra ID and Okta allow only the API's own scopes for
    /// `client_credentials`; Auth0 says `access_denied`) is asked once more without a `scope`, which every IdP answers
    /// with the client's default grant; that is logged, and kept for later renewals.
    pub default_scopes: Vec<String>,
    /// Sent as `audience` when set (Auth0, Keycloak and others use it).
    pub audience: Option<String>,
    /// Sent as the RFC 8707 `resource` when set.
    pub resource: Option<String>,
    /// The `aud` of `private_key_jwt` assertions. `None`: the issuer when metadata named one,
    /// else the token endpoint URL.
    pub assertion_audience: Option<String>,
    /// Stop handing out a token this long before it expires (capped at half its lifetime).
    pub ttl_delta: Duration,
    /// Hand out one token for at most this long.
    pub cache_ttl: Duration,
    /// Retries after a transient failure (so `retries + 1` attempts per refresh).
    pub retries: u32,
    /// The first retry delay; it doubles per retry, up to 5 s.
    pub retry_delay: Duration,
    /// Bound on each HTTP request to the IdP (metadata or token).
    pub request_timeout: Duration,
    /// Ask for DPoP-bound tokens (RFC 9449) with this key: every token request carries a
    /// proof, and a `use_dpop_nonce` answer is followed once with the IdP's nonce.
    pub dpop: Option<DpopKey>,
}

impl TokenSourceConfig {
    /// A configuration with the defaults of smcp-client: scopes `None` and no default scopes,
    /// no audience, resource or assertion audience, `ttl_delta` 30 s, `cache_ttl` 5 min, 3 retries from 200 ms, 10 s requests.
    pub fn new(endpoint: EndpointSource, client_id: impl Into<String>, auth: ClientAuth) -> Self {
        TokenSourceConfig {
            endpoint,
            client_id: client_id.into(),
            auth,
            scopes: None,
            default_scopes: Vec::new(),
            audience: None,
            resource: None,
            assertion_audience: None,
            ttl_delta: Duration::from_secs(30),
            cache_ttl: Duration::from_secs(300),
            retries: 3,
            retry_delay: Duration::from_millis(200),
            request_timeout: Duration::from_secs(10),
            dpop: None,
        }
    }
}

/// Issues client-credentials tokens; cheap to clone (clones share the cache).
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_id", &self.inner.config.client_id)
            .field("auth", &self.inner.config.auth.method())
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: TokenSourceConfig,
    http: reqwest::Client,
    state: Mutex<State>,
    /// Held for the whole of one refresh: this is the single flight. Holds the resolved
    /// endpoint, which only a flight touches.
    flight: tokio::sync::Mutex<Option<Resolved>>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// Completed refreshes; a waiter that sees this move knows a refresh ran for it.
    flights: u64,
    /// The error of the last refresh, if it failed.
    last_error: Option<TokenError>,
    endpoint: Option<TokenEndpointInfo>,
    /// The last step-up the IdP refused (see [`TokenSource::step_up`]).
    step_up_refused: Option<step_up::Refusal>,
    /// The IdP's last `DPoP-Nonce`, sent in later token requests' proofs.
    dpop_nonce: Option<String>,
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    /// The scopes this token was requested with.
    requested: Vec<String>,
}

/// The endpoint and scopes, found on the first fetch. A successful step-up widens `scopes`.
#[derive(Clone)]
struct Resolved {
    info: TokenEndpointInfo,
    scopes: Vec<String>,
    /// `scopes` came from nobody (the resource's or the default ones), so an `invalid_scope`
    /// refusal of them may be answered by asking without a scope.
    scopes_negotiable: bool,
}

/// Longest backoff between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// Longest `Retry-After` honoured; beyond it the normal backoff applies.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

impl TokenSource {
    /// A token source using `http` for every request to the IdP (give it the trust roots and
    /// proxy settings the IdP needs). Fetches nothing until asked.
    pub fn new(config: TokenSourceConfig, http: reqwest::Client) -> Self {
        TokenSource {
            inner: Arc::new(Inner {
                config,
                http,
                state: Mutex::new(State::default()),
                flight: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TokenSourceConfig {
        &self.inner.config
    }

    /// The token endpoint, once a fetch has found it.
    pub fn endpoint(&self) -> Option<TokenEndpointInfo> {
        self.state().endpoint.clone()
    }

    /// A usable token: the cached one while it is fresh, else a new one (one fetch shared by
    /// every concurrent caller).
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let seen = {
            let state = self.state();
            if let Some(cached) = &state.cached
                && Instant::now() < cached.refresh_at
            {
                return Ok(cached.token.clone());
            }
            state.flights
        };
        self.fly(seen, None).await
    }

    /// A replacement for `rejected`, which the resource server refused (`401`). When another
    /// caller already replaced it, that token is returned without a new fetch.
    pub async fn refresh_rejected(
        &self,
        rejected: &AccessToken,
    ) -> Result<AccessToken, TokenError> {
        let seen = {
            let state = self.state();
            if let Some(cached) = &state.cached
                && cached.token.value != rejected.value
                && Instant::now() < cached.refresh_at
            {
                return Ok(cached.token.clone());
            }
            state.flights
        };
        self.fly(seen, Some(rejected)).await
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One refresh, or the result of the refresh that completed while we waited for the lock.
    async fn fly(
        &self,
        seen: u64,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken, TokenError> {
        let mut resolved = self.inner.flight.lock().await;
        {
            let state = self.state();
            if state.flights != seen {
                if let Some(token) = usable(&state, rejected, true) {
                    return Ok(token);
                }
                if let Some(error) = &state.last_error {
                    return match usable(&state, rejected, false) {
                        Some(token) => Ok(token),
                        None => Err(error.clone()),
                    };
                }
            }
        }
        let result = self.fetch_with_retries(&mut resolved, None).await;
        let mut state = self.state();
        state.flights += 1;
        if let Some(resolved) = resolved.as_ref() {
            state.endpoint = Some(resolved.info.clone());
        }
        match result {
            Ok(cached) => {
                let token = cached.token.clone();
                state.cached = Some(cached);
                state.last_error = None;
                Ok(token)
            }
            Err(error) => {
                state.last_error = Some(error.clone());
                if let Some(token) = usable(&state, rejected, false) {
                    tracing::warn!(
                        error = %error,
                        "token refresh failed; using the current token until it expires"
                    );
                    return Ok(token);
                }
                if rejected.is_some() {
                    state.cached = None;
                }
                Err(error)
            }
        }
    }

    /// Fetches a token with the resolved scopes, or with `scopes` when given (a step-up),
    /// retrying transient failures.
    async fn fetch_with_retries(
        &self,
        resolved: &mut Option<Resolved>,
        scopes: Option<&[String]>,
    ) -> Result<Cached, TokenError> {
        let config = &self.inner.config;
        let mut attempt = 0;
        let mut nonce_followed = false;
        loop {
            match self.fetch_once(resolved, scopes).await {
                Ok(cached) => return Ok(cached),
                Err(failure) => {
                    if scopes.is_none() && drop_refused_scopes(resolved, &failure.error) {
                        continue;
                    }
                    // RFC 9449 §8: the IdP wants its nonce in the proof; once per fetch.
                    if config.dpop.is_some()
                        && !nonce_followed
                        && failure.error.oauth_error() == Some("use_dpop_nonce")
                        && let Some(nonce) = failure.dpop_nonce
                    {
                        nonce_followed = true;
                        tracing::debug!(
                            "the identity provider asks for a DPoP nonce; sending the token request again with it"
                        );
                        self.state().dpop_nonce = Some(nonce);
                        continue;
                    }
                    if !failure.error.is_transient() || attempt >= config.retries {
                        if scopes.is_some() {
                            // A step-up: the current token is still good; the caller says
                            // what this means for its request.
                            tracing::debug!(error = %failure.error, attempts = attempt + 1, "no token with the wider scopes");
                        } else {
                            tracing::error!(error = %failure.error, attempts = attempt + 1, "cannot obtain an access token");
                        }
                        return Err(failure.error);
                    }
                    let delay = failure
                        .retry_after
                        .filter(|d| *d <= MAX_RETRY_AFTER)
                        .unwrap_or_else(|| backoff(config.retry_delay, attempt));
                    tracing::warn!(error = %failure.error, attempt = attempt + 1, retry_in = ?delay, "token request failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn fetch_once(
        &self,
        resolved: &mut Option<Resolved>,
        scopes: Option<&[String]>,
    ) -> Result<Cached, request::Failure> {
        let config = &self.inner.config;
        let started = Instant::now();
        let result = async {
            let target = match resolved.as_ref() {
                Some(target) => target.clone(),
                None => {
                    let target = self.resolve().await?;
                    *resolved = Some(target.clone());
                    target
                }
            };
            let assertion_audience = config
                .assertion_audience
                .clone()
                .or_else(|| target.info.issuer.clone())
                .unwrap_or_else(|| target.info.token_endpoint.to_string());
            let scopes = scopes.unwrap_or(&target.scopes);
            let nonce = self.state().dpop_nonce.clone();
            let params = request::Params {
                token_endpoint: &target.info.token_endpoint,
                client_id: &config.client_id,
                auth: &config.auth,
                scopes,
                audience: config.audience.as_deref(),
                resource: config.resource.as_deref(),
                assertion_audience: &assertion_audience,
                timeout: config.request_timeout,
                dpop: config.dpop.as_ref().map(|key| (key, nonce.as_deref())),
            };
            let issued = request::request_token(&self.inner.http, &params).await?;
            Ok::<_, request::Failure>((issued, scopes.to_vec()))
        }
        .await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(failure) => failure.error.kind(),
        };
        metrics::counter!("smcp_client_token_fetches_total", "outcome" => outcome).increment(1);
        metrics::histogram!("smcp_client_token_fetch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let (issued, requested) = result?;
        Ok(self.cache_entry(issued, requested))
    }

    /// Finds the token endpoint (and, for MCP discovery, the default scopes).
    async fn resolve(&self) -> Result<Resolved, request::Failure> {
        let config = &self.inner.config;
        let http = &self.inner.http;
        let timeout = config.request_timeout;
        let (info, discovered_scopes) = match &config.endpoint {
            EndpointSource::TokenUrl(url) => {
                let token_endpoint = endpoint::secure_token_url(url.as_str())?;
                let info = TokenEndpointInfo {
                    token_endpoint,
                    issuer: None,
                    protected_resource: None,
                };
                (info, Vec::new())
            }
            EndpointSource::Issuer(issuer) => (
                endpoint::from_issuer(http, issuer, false, timeout).await?,
                Vec::new(),
            ),
            EndpointSource::Resource { url, probe } => {
                let challenge = match probe {
                    Some(probe) => probe().await.and_then(|v| BearerChallenge::parse(&v)),
                    None => None,
                };
                let info = endpoint::from_resource(http, url, challenge.as_ref(), timeout).await?;
                let scopes = match challenge.and_then(|c| c.scope) {
                    Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
                    None => info
                        .protected_resource
                        .as_ref()
                        .map(|prm| prm.scopes_supported.clone())
                        .unwrap_or_default(),
                };
                (info, scopes)
            }
        };
        let scopes_negotiable = config.scopes.is_none();
        let scopes = match &config.scopes {
            Some(scopes) => scopes.clone(),
            None if discovered_scopes.is_empty() => config.default_scopes.clone(),
            None => discovered_scopes,
        };
        tracing::info!(
            token_endpoint = %info.token_endpoint,
            issuer = info.issuer.as_deref().unwrap_or("-"),
            auth = config.auth.method(),
            scopes = %scopes.join(" "),
            "token endpoint ready"
        );
        Ok(Resolved {
            info,
            scopes,
            scopes_negotiable,
        })
    }

    /// When to stop handing out a freshly issued token (requested with `requested`).
    fn cache_entry(&self, issued: request::Issued, requested: Vec<String>) -> Cached {
        let config = &self.inner.config;
        let now = Instant::now();
        let lifetime = issued.expires_in.or_else(|| {
            let exp = unverified_claims(issued.access_token.expose())?
                .get("exp")?
                .as_u64()?;
            let now_unix = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
            Some(Duration::from_secs(exp.saturating_sub(now_unix)))
        });
        let reuse_for = match lifetime {
            Some(lifetime) => {
                let delta = config.ttl_delta.min(lifetime / 2);
                (lifetime - delta).min(config.cache_ttl)
            }
            None => config.cache_ttl,
        };
        tracing::info!(
            expires_in = ?lifetime,
            reuse_for = ?reuse_for,
            scope = issued.scope.as_deref().unwrap_or("-"),
            "access token obtained"
        );
        Cached {
            token: AccessToken {
                value: issued.access_token,
                obtained_at: now,
                expires_at: lifetime.map(|l| now + l),
                scope: issued.scope,
                dpop_bound: issued.dpop_bound,
            },
            refresh_at: now + reuse_for,
            requested,
        }
    }
}

/// After the IdP refused scopes nobody chose (`invalid_scope`, `access_denied`), asks without a scope from
/// then on: true when that changed anything, so the request is worth sending again (at most
/// once: the second time there are no scopes left to drop).
fn drop_refused_scopes(resolved: &mut Option<Resolved>, error: &TokenError) -> bool {
    let Some(target) = resolved.as_mut() else {
        return false;
    };
    // `invalid_scope` is RFC 6749's word; Auth0 answers `access_denied` ("Client has not been
    // granted scopes: openid") for the same thing.
    if !matches!(error.oauth_error(), Some("invalid_scope" | "access_denied"))
        || !target.scopes_negotiable
        || target.scopes.is_empty()
    {
        return false;
    }
    tracing::warn!(
        refused = %target.scopes.join(" "),
        error = %error,
        "the identity provider refuses the default scopes for client_credentials; asking \
         without a scope (set --oidc-scopes to the API's scopes to choose them)"
    );
    target.scopes.clear();
    true
}

/// The cached token if it may be handed out: fresh (`fresh`) or merely unexpired, and not the
/// one the resource server just refused.
fn usable(state: &State, rejected: Option<&AccessToken>, fresh: bool) -> Option<AccessToken> {
    let cached = state.cached.as_ref()?;
    if rejected.is_some_and(|r| r.value == cached.token.value) {
        return None;
    }
    let ok = if fresh {
        Instant::now() < cached.refresh_at
    } else {
        cached.token.is_unexpired()
    };
    ok.then(|| cached.token.clone())
}

/// `base * 2^attempt`, capped, with up to 25 % jitter so many clients do not retry in step.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_RETRY_DELAY);
    let jitter = (assertion::random_u64() % 251) as f64 / 1000.0;
    exp + exp.mul_f64(jitter)
}
