//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9): a short-lived JWT
//! signed with the client's private key stands in for a client secret.
//!
//! The key is read once from a PKCS#8 (or PKCS#1 RSA) PEM file. Its algorithm follows from the
//! key unless given: RSA signs RS256, EC P-256 ES256, EC P-384 ES384, Ed25519 EdDSA. Each
//! assertion has `iss` = `sub` = the client id, `aud` = the authorization server (its issuer
//! identifier when known, else the token endpoint URL), a unique `jti`, `iat` now and `exp` one
//! minute later, so a captured assertion is useless soon after.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::error::TokenError;

/// How long an assertion is valid.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// A client's private key for `private_key_jwt`.
#[derive(Clone)]
pub struct AssertionKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a private key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionKeyError {
    /// Not a PEM private key jsonwebtoken can read.
    #[error(
        "not a usable PEM private key (expected PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`; \
         convert an `EC PRIVATE KEY` with `openssl pkcs8 -topk8 -nocrypt`)"
    )]
    Unreadable,
    /// The key cannot sign with the requested (or any supported) algorithm.
    #[error("the key cannot sign {0}")]
    Algorithm(String),
    /// The requested algorithm name is not a JWS algorithm jsonwebtoken knows.
    #[error("unknown signing algorithm {0:?} (use e.g. RS256, PS256, ES256, ES384, EdDSA)")]
    UnknownAlgorithm(String),
}

impl AssertionKey {
    /// Reads a PEM private key. `alg` forces an algorithm by its JWS name (e.g. `PS256` for
    /// an RSA key); `None` picks the key's natural one. `kid` goes into the JWT header.
    pub fn from_pem(
        pem: &[u8],
        alg: Option<&str>,
        kid: Option<String>,
    ) -> Result<Self, AssertionKeyError> {
        let alg = match alg {
            Some(name) => Some(
                name.parse::<Algorithm>()
                    .ok()
                    .filter(|a| {
                        !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
                    })
                    .ok_or_else(|| AssertionKeyError::UnknownAlgorithm(name.to_owned()))?,
            ),
            None => None,
        };
        let candidates: Vec<(EncodingKey, Vec<Algorithm>)> = [
            EncodingKey::from_rsa_pem(pem).map(|k| {
                (
                    k,
                    vec![
                        Algorithm::RS256,
                        Algorithm::RS384,
                        Algorithm::RS512,
                        Algorithm::PS256,
                        Algorithm::PS384,
                        Algorithm::PS512,
                    ],
                )
            }),
            EncodingKey::from_ec_pem(pem).map(|k| (k, vec![Algorithm::ES256, Algorithm::ES384])),
            EncodingKey::from_ed_pem(pem).map(|k| (k, vec![Algorithm::EdDSA])),
        ]
        .into_iter()
        .filter_map(Result::ok)
        .collect();
        let Some((key, algs)) = candidates.into_iter().next() else {
            return Err(AssertionKeyError::Unreadable);
        };
        // The EC curve (P-256 or P-384) is only known by trying: a key signs with the one
        // algorithm matching its curve.
        let tried: Vec<Algorithm> = match alg {
            Some(alg) => vec![alg],
            None => algs,
        };
        for alg in tried.iter().copied() {
            let probe = Header::new(alg);
            if jsonwebtoken::encode(&probe, &serde_json::json!({}), &key).is_ok() {
                return Ok(AssertionKey { key, alg, kid });
            }
        }
        Err(AssertionKeyError::Algorithm(
            tried
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(" or "),
        ))
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The signing algorithm's JWS name (`RS256`, `ES256`, ...).
    pub fn algorithm_name(&self) -> String {
        format!("{:?}", self.alg)
    }

    /// A fresh assertion for `client_id`, addressed to `audience`.
    pub(crate) fn assertion(&self, client_id: &str, audience: &str) -> Result<String, TokenError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            jti: String,
            iat: u64,
            exp: u64,
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iss: client_id,
            sub: client_id,
            aud: audience,
            jti: unique_id(),
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        let mut header = Header::new(self.alg);
        header.kid.clone_from(&self.kid);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| TokenError::Assertion(e.to_string()))
    }
}

/// A process-unique, unpredictable-enough `jti`: RFC 7523 asks only that it not repeat. The
/// randomly seeded std hasher plus a counter and the clock give that without another crate.
pub(crate) fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(count);
    hasher.write_u128(nanos);
    format!("{:016x}{:x}{count:x}", hasher.finish(), nanos)
}

/// A random number from the std hasher's per-instance random seed (retry jitter only).
pub(crate) fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use smcp_test_support::issuer::SigningKey;

    use super::{AssertionKey, AssertionKeyError, unique_id};

    #[test]
    fn picks_the_algorithm_from_the_key() {
        let cases = [
            (SigningKey::rsa("r"), Algorithm::RS256),
            (SigningKey::ec_p256("e"), Algorithm::ES256),
            (SigningKey::ed25519("d"), Algorithm::EdDSA),
        ];
        for (key, alg) in cases {
            let parsed = AssertionKey::from_pem(key.private_key_pem().as_bytes(), None, None)
                .unwrap_or_else(|e| panic!("{key:?}: {e}"));
            assert_eq!(parsed.algorithm(), alg);
        }
        let rsa = SigningKey::rsa("r");
        let forced =
            AssertionKey::from_pem(rsa.private_key_pem().as_bytes(), Some("PS256"), None).unwrap();
        assert_eq!(forced.algorithm(), Algorithm::PS256);
        let ec = SigningKey::ec_p256("e");
        assert!(matches!(
            AssertionKey::from_pem(ec.private_key_pem().as_bytes(), Some("RS256"), None),
            Err(AssertionKeyError::Algorithm(_))
        ));
        assert_eq!(
            AssertionKey::from_pem(b"not pem", None, None).unwrap_err(),
            AssertionKeyError::Unreadable
        );
    }

    #[test]
    fn assertion_claims_verify_with_the_public_key() {
        let key = SigningKey::ec_p256("kid-1");
        let signer =
            AssertionKey::from_pem(key.private_key_pem().as_bytes(), None, Some("kid-1".into()))
                .unwrap();
        let jwt = signer
            .assertion("my-client", "https://idp.example/token")
            .unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://idp.example/token"]);
        validation.set_issuer(&["my-client"]);
        let decoding = DecodingKey::from_ec_pem(key.public_key_pem().as_bytes()).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(&jwt, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "my-client");
        let exp = data.claims["exp"].as_u64().unwrap();
        let iat = data.claims["iat"].as_u64().unwrap();
        assert_eq!(exp - iat, 60);
        let other = signer.assertion("my-client", "a").unwrap();
        let other = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&other).unwrap();
        assert_ne!(other.claims["jti"], data.claims["jti"]);
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| unique_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
