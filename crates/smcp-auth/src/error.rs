//! Why a bearer token was refused, in a form the HTTP edge can map once to 401/403/503.
//!
//! Every variant has a stable snake_case [`AuthError::reason`] for metrics and logs and a short
//! [`AuthError::description`] that is safe to show a client (it never echoes token contents).

use thiserror::Error;

/// Why a token was rejected (or could not be checked).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("no bearer token")]
    Missing,
    /// The token is not a well-formed compact JWS (wrong shape, bad base64 or JSON, too large,
    /// missing `exp`/`sub`, unsupported `crit` header).
    #[error("malformed token")]
    Malformed,
    /// The header `alg` is `none`, an HMAC algorithm, unknown, or not allowed for the selected
    /// key. The algorithm is always chosen from the key, never from the token alone.
    #[error("signature algorithm not allowed")]
    AlgorithmNotAllowed,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// The signature does not verify with the key named by the token.
    #[error("bad signature")]
    BadSignature,
    /// The issuer's key set has no key for the token's `kid` (after a rate-limited refetch), or
    /// the token has no `kid` while the key set holds several keys.
    #[error("unknown signing key")]
    UnknownKey,
    /// `iss` is missing or not exactly one of the configured issuers.
    #[error("issuer not accepted")]
    WrongIssuer,
    /// `aud` is missing or names none of the accepted audiences (configured or the resource).
    #[error("audience not accepted")]
    WrongAudience,
    /// A claim rule failed.
    #[error("claim `{claim}` {problem}")]
    Claims {
        /// The claim name (dotted path) of the failing rule.
        claim: String,
        /// Whether the claim was absent or had a non-matching value.
        problem: ClaimProblem,
    },
    /// The token lacks required scopes.
    #[error("insufficient scope")]
    InsufficientScope {
        /// The full set of scopes the caller needs (for `WWW-Authenticate: ... scope="..."`).
        needed: Vec<String>,
    },
    /// The issuer's keys have never been fetched successfully (IdP unreachable).
    #[error("signing keys unavailable")]
    KeysUnavailable,
}

/// How a failed claim rule failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimProblem {
    /// The claim is absent.
    Missing,
    /// The claim is present but matches none of the accepted values.
    Mismatch,
}

impl std::fmt::Display for ClaimProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClaimProblem::Missing => "is missing",
            ClaimProblem::Mismatch => "does not match",
        })
    }
}

/// The HTTP-level class of an [`AuthError`], so the edge maps errors in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 401: no usable credentials (`WWW-Authenticate: Bearer ...`).
    Unauthorized,
    /// 403: a valid token without the needed permission.
    Forbidden,
    /// 503: the token cannot be checked right now.
    Unavailable,
}

impl AuthError {
    /// Stable snake_case label for metrics (`reason`) and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::AlgorithmNotAllowed => "algorithm_not_allowed",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::BadSignature => "bad_signature",
            AuthError::UnknownKey => "unknown_key",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::Claims { .. } => "claims",
            AuthError::InsufficientScope { .. } => "insufficient_scope",
            AuthError::KeysUnavailable => "keys_unavailable",
        }
    }

    /// A short description that is safe to return to the client (e.g. as
    /// `error_description`); it names no claim values and no key material.
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::Missing => "bearer token required",
            AuthError::Malformed => "the token is malformed",
            AuthError::AlgorithmNotAllowed => "the token's signature algorithm is not accepted",
            AuthError::Expired => "the token has expired",
            AuthError::NotYetValid => "the token is not yet valid",
            AuthError::BadSignature => "the token signature is invalid",
            AuthError::UnknownKey => "the token was signed with an unknown key",
            AuthError::WrongIssuer => "the token issuer is not accepted",
            AuthError::WrongAudience => "the token was not issued for this resource",
            AuthError::Claims { .. } => "the token does not carry the required claims",
            AuthError::InsufficientScope { .. } => "the token lacks the required scope",
            AuthError::KeysUnavailable => "the token cannot be verified right now",
        }
    }

    /// The HTTP class of this error (401, 403 or 503).
    pub fn class(&self) -> ErrorClass {
        match self {
            AuthError::Claims { .. } | AuthError::InsufficientScope { .. } => ErrorClass::Forbidden,
            AuthError::KeysUnavailable => ErrorClass::Unavailable,
            _ => ErrorClass::Unauthorized,
        }
    }

    /// The RFC 6750 `error` code for `WWW-Authenticate`, when one applies: none for a missing
    /// token (RFC 6750 §3.1) or unavailable keys, `insufficient_scope` for missing scopes,
    /// `invalid_token` for every other 401.
    pub fn oauth_error(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing | AuthError::KeysUnavailable | AuthError::Claims { .. } => None,
            AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
            _ => Some("invalid_token"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AuthError, ClaimProblem, ErrorClass};

    #[test]
    fn classes_and_codes() {
        assert_eq!(AuthError::Expired.class(), ErrorClass::Unauthorized);
        assert_eq!(AuthError::Expired.oauth_error(), Some("invalid_token"));
        assert_eq!(AuthError::Missing.oauth_error(), None);
        let scope = AuthError::InsufficientScope {
            needed: vec!["a".into()],
        };
        assert_eq!(scope.class(), ErrorClass::Forbidden);
        assert_eq!(scope.oauth_error(), Some("insufficient_scope"));
        assert_eq!(AuthError::KeysUnavailable.class(), ErrorClass::Unavailable);
        let claims = AuthError::Claims {
            claim: "roles".into(),
            problem: ClaimProblem::Missing,
        };
        assert_eq!(claims.class(), ErrorClass::Forbidden);
        assert_eq!(claims.to_string(), "claim `roles` is missing");
        assert_eq!(claims.reason(), "claims");
    }
}
