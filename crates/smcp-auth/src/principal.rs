//! The identity a validated token proves: what the proxy puts into request extensions, binds
//! sessions to, and may pass on to backends as trusted identity headers.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::claims::token_scopes;
use crate::error::AuthError;

/// A caller proven by a validated token.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The token's `iss` (one of the configured issuers).
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    /// The `email` claim, when it is a string. Not proof of a verified address: check
    /// `email_verified` with a claim rule if that matters.
    pub email: Option<String>,
    /// Granted scopes, from `scope` and `scp` (space-separated strings or arrays).
    pub scopes: Vec<String>,
    /// Every verified claim of the token.
    pub claims: Arc<Map<String, Value>>,
    /// When the token expires (`exp`).
    pub expires_at: SystemTime,
}

impl Principal {
    /// Builds a principal from verified claims; `sub` must be a string and `exp` a number.
    pub(crate) fn from_claims(issuer: &str, claims: Map<String, Value>) -> Result<Self, AuthError> {
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(AuthError::Malformed),
        };
        let exp = claims
            .get("exp")
            .and_then(exp_seconds)
            .ok_or(AuthError::Malformed)?;
        Ok(Principal {
            issuer: issuer.to_owned(),
            subject,
            email: claims
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_owned),
            scopes: token_scopes(&claims),
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
            claims: Arc::new(claims),
        })
    }

    /// `"<iss>|<sub>"`: the identity a session is bound to. Issuers are checked at
    /// configuration time to contain no `|`, so the key splits unambiguously at the first one.
    pub fn key(&self) -> String {
        format!("{}|{}", self.issuer, self.subject)
    }

    /// Whether every one of `scopes` was granted.
    pub fn has_scopes<S: AsRef<str>>(&self, scopes: &[S]) -> bool {
        scopes
            .iter()
            .all(|s| self.scopes.iter().any(|g| g == s.as_ref()))
    }

    /// `exp` as Unix seconds.
    pub(crate) fn expires_unix(&self) -> u64 {
        self.expires_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// `exp`/`nbf` as whole seconds; jsonwebtoken accepts integers and (rounded) floats too.
fn exp_seconds(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f.round() as u64)
    })
}

/// The current Unix time in seconds (the same wall clock jsonwebtoken uses for `exp`).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::Principal;
    use crate::error::AuthError;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn builds_from_claims() {
        let claims = map(json!({
            "sub": "alice", "exp": 2_000_000_000u64, "email": "a@example.com",
            "scope": "openid mcp", "scp": ["tools"]
        }));
        let p = Principal::from_claims("https://idp", claims).unwrap();
        assert_eq!(p.key(), "https://idp|alice");
        assert_eq!(p.email.as_deref(), Some("a@example.com"));
        assert_eq!(p.scopes, vec!["openid", "mcp", "tools"]);
        assert_eq!(p.expires_unix(), 2_000_000_000);
        assert!(p.has_scopes(&["mcp", "tools"]));
        assert!(!p.has_scopes(&["admin"]));
    }

    #[test]
    fn needs_string_sub_and_numeric_exp() {
        let no_sub = map(json!({"exp": 1}));
        assert_eq!(
            Principal::from_claims("i", no_sub),
            Err(AuthError::Malformed)
        );
        let num_sub = map(json!({"sub": 5, "exp": 1}));
        assert_eq!(
            Principal::from_claims("i", num_sub),
            Err(AuthError::Malformed)
        );
        let float_exp = map(json!({"sub": "s", "exp": 10.4}));
        assert_eq!(
            Principal::from_claims("i", float_exp)
                .unwrap()
                .expires_unix(),
            10
        );
    }
}
