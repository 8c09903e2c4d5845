//! The values a token source hands around: [`Secret`] (never printed) and [`AccessToken`]
//! (a bearer token with what is known about its lifetime).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::time::Instant;

/// A secret string (client secret, access token) that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A bearer access token and what is known about its lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub(super) value: Secret,
    pub(super) obtained_at: Instant,
    pub(super) expires_at: Option<Instant>,
    pub(super) scope: Option<String>,
    /// Issued as a DPoP-bound token (`token_type: DPoP`): sent with the DPoP scheme and a proof.
    pub(super) dpop_bound: bool,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_in", &self.expires_in())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// The token itself.
    pub fn secret(&self) -> &str {
        self.value.expose()
    }

    /// `Bearer <token>`, or `DPoP <token>` for a DPoP-bound one: an `Authorization` header.
    pub fn authorization(&self) -> String {
        let scheme = if self.dpop_bound { "DPoP" } else { "Bearer" };
        format!("{scheme} {}", self.value.expose())
    }

    /// Whether the IdP bound the token to the client's DPoP key (each request then needs a
    /// proof, [`DpopKey::proof`](super::DpopKey::proof)).
    pub fn is_dpop_bound(&self) -> bool {
        self.dpop_bound
    }

    /// The `scope` the IdP granted, when it said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Time left until the token expires, when its lifetime is known.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// When the token was obtained.
    pub fn obtained_at(&self) -> Instant {
        self.obtained_at
    }

    /// Whether the token has not expired yet (or has no known expiry).
    pub fn is_unexpired(&self) -> bool {
        self.expires_at.is_none_or(|at| Instant::now() < at)
    }

    /// The JWT payload, decoded but NOT verified: for display (`smcp-client check`) and to
    /// read `exp` when the response had no `expires_in`. `None` for opaque tokens.
    pub fn unverified_claims(&self) -> Option<serde_json::Value> {
        unverified_claims(self.value.expose())
    }
}

pub(super) fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes)
        .ok()
        .filter(serde_json::Value::is_object)
}
