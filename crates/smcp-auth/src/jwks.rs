//! One issuer's key set: discovery, fetching, caching and refreshing its JWKS.
//!
//! Invariants: the last good key set stays in use until a fetch succeeds (an IdP outage never
//! drops keys); fetches triggered by tokens (unknown `kid`, missing or stale keys) happen at
//! most once per `min_interval`, so tokens with random `kid`s cannot flood the IdP; concurrent
//! refreshes collapse into one (single flight). Times are `tokio::time::Instant`, so tests can
//! pause and advance the clock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

use crate::discovery::discover;
use crate::fetch::{FetchError, get_json};
use crate::keys::{JwksProblem, KeySet};

/// Key sets are this large at most (real ones are a few KiB).
const JWKS_LIMIT: usize = 1024 * 1024;
/// Bounds for a key-set lifetime taken from `Cache-Control: max-age`.
const TTL_MIN: Duration = Duration::from_secs(60);
const TTL_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Timing knobs of a [`JwksCache`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct JwksSettings {
    /// Floor between two token-triggered fetch attempts.
    pub(crate) min_interval: Duration,
    /// Lifetime of a key set without `max-age`.
    pub(crate) default_ttl: Duration,
    /// Bound on one refresh (discovery + JWKS).
    pub(crate) fetch_timeout: Duration,
}

/// What asked for a refresh; only startup retries bypass the rate limit (they have their own
/// backoff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The background warm-up task.
    Startup,
    /// A token arrived before any key set was fetched.
    NoKeys,
    /// A token named a `kid` the key set does not have.
    UnknownKid,
    /// The key set outlived its TTL.
    Stale,
}

/// The cache of one issuer's keys.
pub(crate) struct JwksCache {
    issuer: String,
    configured_jwks_uri: Option<Url>,
    http: reqwest::Client,
    settings: JwksSettings,
    state: Mutex<State>,
    /// Held for the whole of a fetch: the single-flight gate.
    refresh_lock: tokio::sync::Mutex<()>,
    /// Completed refresh attempts; a waiter that sees it change knows its refresh was done.
    attempts: AtomicU64,
    /// Set while a background refresh of stale keys is spawned.
    stale_refresh_running: AtomicBool,
    has_keys: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fresh_until: Option<Instant>,
    last_attempt: Option<Instant>,
    /// The `jwks_uri` found by discovery (forgotten when a JWKS fetch fails, to rediscover).
    discovered: Option<Url>,
}

impl JwksCache {
    /// A cache with no keys yet; nothing is fetched until asked.
    pub(crate) fn new(
        issuer: String,
        configured_jwks_uri: Option<Url>,
        http: reqwest::Client,
        settings: JwksSettings,
    ) -> Self {
        JwksCache {
            issuer,
            configured_jwks_uri,
            http,
            settings,
            state: Mutex::new(State::default()),
            refresh_lock: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
            stale_refresh_running: AtomicBool::new(false),
            has_keys: watch::channel(false).0,
        }
    }

    /// The issuer these keys belong to.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The current key set (possibly stale), if any fetch ever succeeded.
    pub(crate) fn keys(&self) -> Option<Arc<KeySet>> {
        self.lock().keys.clone()
    }

    /// Whether keys were fetched at least once.
    pub(crate) fn has_keys(&self) -> bool {
        *self.has_keys.borrow()
    }

    /// A receiver that turns `true` once keys are available.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.has_keys.subscribe()
    }

    /// Refreshes stale keys in the background (the current keys keep serving meanwhile), at
    /// most one such task at a time and subject to the rate limit.
    pub(crate) fn refresh_if_stale(self: &Arc<Self>) {
        let now = Instant::now();
        {
            let state = self.lock();
            let stale = state.fresh_until.is_some_and(|until| now >= until);
            if !stale || self.rate_limited(&state, now) {
                return;
            }
        }
        if self
            .stale_refresh_running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            this.refresh(Trigger::Stale).await;
            this.stale_refresh_running.store(false, Ordering::Release);
        });
    }

    /// Fetches the key set unless another caller just did (single flight) or, for
    /// token-triggered refreshes, the last attempt is more recent than `min_interval`.
    pub(crate) async fn refresh(&self, trigger: Trigger) {
        let seen = self.attempts.load(Ordering::Acquire);
        let _flight = self.refresh_lock.lock().await;
        if self.attempts.load(Ordering::Acquire) != seen {
            return;
        }
        let now = Instant::now();
        {
            let mut state = self.lock();
            if trigger != Trigger::Startup && self.rate_limited(&state, now) {
                return;
            }
            state.last_attempt = Some(now);
        }
        let result = tokio::time::timeout(self.settings.fetch_timeout, self.fetch())
            .await
            .unwrap_or(Err(FetchError::Timeout));
        let outcome = match result {
            Ok((keys, ttl)) => {
                tracing::debug!(issuer = %self.issuer, keys = keys.len(), ttl_secs = ttl.as_secs(), ?trigger, "fetched JWKS");
                {
                    let mut state = self.lock();
                    state.keys = Some(Arc::new(keys));
                    state.fresh_until = Some(Instant::now() + ttl);
                }
                self.has_keys.send_replace(true);
                "ok"
            }
            Err(error) => {
                tracing::warn!(issuer = %self.issuer, %error, ?trigger, has_keys = self.has_keys(), "JWKS refresh failed; keeping the last good keys");
                error.outcome()
            }
        };
        metrics::counter!("smcp_jwks_fetches_total", "issuer" => self.issuer.clone(), "outcome" => outcome)
            .increment(1);
        self.attempts.fetch_add(1, Ordering::AcqRel);
    }

    fn rate_limited(&self, state: &State, now: Instant) -> bool {
        state
            .last_attempt
            .is_some_and(|last| now.saturating_duration_since(last) < self.settings.min_interval)
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), FetchError> {
        let configured = self.configured_jwks_uri.clone();
        let jwks_uri = match configured
            .clone()
            .or_else(|| self.lock().discovered.clone())
        {
            Some(uri) => uri,
            None => {
                let uri = discover(&self.http, &self.issuer).await?;
                self.lock().discovered = Some(uri.clone());
                uri
            }
        };
        let fetched = match get_json(&self.http, &jwks_uri, JWKS_LIMIT).await {
            Ok(fetched) => fetched,
            Err(error) => {
                if configured.is_none() {
                    // The IdP may have moved its keys: rediscover next time.
                    self.lock().discovered = None;
                }
                return Err(error);
            }
        };
        let keys = KeySet::parse(&fetched.body).map_err(|problem| match problem {
            JwksProblem::Invalid => FetchError::Invalid,
            JwksProblem::NoUsableKeys => FetchError::NoUsableKeys,
        })?;
        let ttl = fetched
            .max_age
            .map(|age| age.clamp(TTL_MIN, TTL_MAX))
            .unwrap_or(self.settings.default_ttl);
        Ok((keys, ttl))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data, consistent after every statement: a panic elsewhere while
        // holding the lock leaves nothing half-written, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
