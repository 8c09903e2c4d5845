//! Scope step-up: a wider token after a resource's `insufficient_scope` challenge.
//!
//! A resource that needs more scopes than the token was granted answers `403` with
//! `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` (RFC 6750 §3.1; the MCP
//! authorization spec's step-up). [`TokenSource::step_up`] asks the IdP for a token with the
//! union of the current scopes and the challenged ones, and keeps the union as the scopes of
//! the one cache entry: there is no second cache, so [`TokenSource::token`], renewals and
//! [`TokenSource::refresh_rejected`] all hand out and ask for the wider token from then on.
//!
//! It runs in the same single flight as every other fetch, so concurrent step-ups (and a
//! renewal in between) end in one token request. What the IdP refuses is remembered for the
//! token it was asked to replace, so a burst of calls to a tool the client may never use costs
//! one refused request, not one per call; the memory goes with that token, so a renewal (or a
//! change at the IdP) gets a fresh chance.

use tokio::time::Instant;

use super::scope::{covers, scope_union};
use super::{AccessToken, Secret, TokenError, TokenSource};

/// What [`TokenSource::step_up`] did.
#[derive(Debug, Clone)]
pub enum StepUp {
    /// A token requested with the challenged scopes as well: fetched now, or by a concurrent
    /// step-up while this one waited. [`TokenSource::token`] hands it out from now on, and
    /// its renewals ask for the same scopes.
    Widened(AccessToken),
    /// The current token was already requested with (or granted) every challenged scope: a new
    /// request would not get more, so none was made.
    Unchanged,
}

/// A step-up the IdP refused: for which token, which scopes, and why.
pub(super) struct Refusal {
    token: Secret,
    scopes: Vec<String>,
    error: TokenError,
}

impl TokenSource {
    /// Replaces `current`, which the resource refused for lacking `challenged` scopes, with a
    /// token for the union of the current scopes (those requested, or when none were, those
    /// `current` was granted) and `challenged`. Concurrent callers share one token request.
    ///
    /// # Errors
    /// The IdP's refusal (`invalid_scope`, ...) or failure to answer. The current token then
    /// stays in use, and a refusal is remembered: asking again to replace the same token with
    /// the same scopes returns the same error without a request.
    pub async fn step_up(
        &self,
        current: &AccessToken,
        challenged: &[String],
    ) -> Result<StepUp, TokenError> {
        let mut resolved = self.inner.flight.lock().await;
        let wanted = {
            let state = self.state();
            if let Some(cached) = &state.cached
                && cached.token.value != current.value
                && Instant::now() < cached.refresh_at
                && covers(
                    &scope_union(&cached.requested, &granted(&cached.token)),
                    challenged,
                )
            {
                // Another caller stepped up while this one waited for the flight.
                return Ok(StepUp::Widened(cached.token.clone()));
            }
            let configured = resolved
                .as_ref()
                .map(|r| r.scopes.clone())
                .unwrap_or_default();
            let granted = granted(current);
            let base = if configured.is_empty() {
                granted.clone()
            } else {
                configured
            };
            if covers(&scope_union(&base, &granted), challenged) {
                return Ok(StepUp::Unchanged);
            }
            let wanted = scope_union(&base, challenged);
            if let Some(refusal) = &state.step_up_refused
                && refusal.token == current.value
                && refusal.scopes == wanted
            {
                return Err(refusal.error.clone());
            }
            wanted
        };
        tracing::info!(
            scopes = %wanted.join(" "),
            "the server asks for more scopes: requesting a token with them"
        );
        let result = self.fetch_with_retries(&mut resolved, Some(&wanted)).await;
        let mut state = self.state();
        match result {
            Ok(cached) => {
                if let Some(resolved) = resolved.as_mut() {
                    state.endpoint = Some(resolved.info.clone());
                    resolved.scopes.clone_from(&wanted);
                }
                let token = cached.token.clone();
                state.cached = Some(cached);
                state.flights += 1;
                state.last_error = None;
                state.step_up_refused = None;
                Ok(StepUp::Widened(token))
            }
            Err(error) => {
                // A transient failure may pass: the next challenge tries again.
                if !error.is_transient() {
                    state.step_up_refused = Some(Refusal {
                        token: current.value.clone(),
                        scopes: wanted,
                        error: error.clone(),
                    });
                }
                Err(error)
            }
        }
    }
}

/// The scopes the IdP said it granted `token` (none when it did not say).
fn granted(token: &AccessToken) -> Vec<String> {
    token
        .scope()
        .map(|scope| scope.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}
