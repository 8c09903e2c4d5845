//! The unverified first look at a token: shape, size, header `alg`/`kid`, and the `iss` used
//! only to pick the issuer's key set. Nothing read here is trusted until the signature
//! verifies; jsonwebtoken re-reads and checks everything afterwards.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::AuthError;

/// Tokens longer than this are refused before any decoding. Real access tokens are a few KiB
/// (large group lists reach ~8 KiB); HTTP header limits stop anything much bigger anyway.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What the validator needs from an unverified token.
#[derive(Debug)]
pub(crate) struct Unverified {
    /// Header `alg`, already restricted to asymmetric algorithms.
    pub(crate) alg: Algorithm,
    /// Header `kid`.
    pub(crate) kid: Option<String>,
    /// Payload `iss` (a string), used only to choose the key set.
    pub(crate) iss: String,
}

/// SHA-256 of the token: the validated-token cache key. Only the first [`MAX_TOKEN_BYTES`] are
/// hashed, so an oversized token costs no more than a valid one (it is refused anyway).
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    let bytes = token.as_bytes();
    Sha256::digest(&bytes[..bytes.len().min(MAX_TOKEN_BYTES)]).into()
}

/// The first 8 hex digits of the token hash: enough to correlate log lines, useless to
/// replay.
pub(crate) fn fingerprint(hash: &[u8; 32]) -> String {
    hash[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the token's shape and reads `alg`, `kid` and `iss` without verifying anything.
pub(crate) fn inspect(token: &str) -> Result<Unverified, AuthError> {
    if token.trim().is_empty() {
        return Err(AuthError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        // Includes JWE (five parts): encrypted tokens are not accepted.
        return Err(AuthError::Malformed);
    };
    if header.is_empty() || payload.is_empty() || !is_b64url(signature) {
        return Err(AuthError::Malformed);
    }
    let header = decode_object(header)?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        _ => return Err(AuthError::Malformed),
    };
    let alg = match alg.parse::<Algorithm>() {
        // HMAC would make the public key a shared secret; `none` is no signature at all.
        Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) | Err(_) => {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        Ok(alg) => alg,
    };
    if signature.is_empty() {
        return Err(AuthError::Malformed);
    }
    // RFC 7515 §4.1.11: a `crit` extension we do not understand must be rejected.
    if header.contains_key("crit") {
        return Err(AuthError::Malformed);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthError::Malformed),
    };
    let payload = decode_object(payload)?;
    let iss = match payload.get("iss") {
        Some(Value::String(iss)) => iss.clone(),
        Some(Value::Null) | None => return Err(AuthError::WrongIssuer),
        Some(_) => return Err(AuthError::Malformed),
    };
    Ok(Unverified { alg, kid, iss })
}

fn is_b64url(part: &str) -> bool {
    part.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn decode_object(part: &str) -> Result<Map<String, Value>, AuthError> {
    if !is_b64url(part) {
        return Err(AuthError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(AuthError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::Algorithm;
    use serde_json::{Value, json};

    use super::{MAX_TOKEN_BYTES, fingerprint, inspect, token_hash};
    use crate::error::AuthError;

    fn part(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn token(header: Value, payload: Value) -> String {
        format!("{}.{}.c2ln", part(&header), part(&payload))
    }

    #[test]
    fn reads_alg_kid_iss() {
        let t = token(
            json!({"alg": "ES256", "kid": "k1"}),
            json!({"iss": "https://i"}),
        );
        let u = inspect(&t).unwrap();
        assert_eq!(u.alg, Algorithm::ES256);
        assert_eq!(u.kid.as_deref(), Some("k1"));
        assert_eq!(u.iss, "https://i");
    }

    #[test]
    fn rejects_none_hmac_and_unknown_algs() {
        for alg in ["none", "None", "HS256", "HS384", "HS512", "RSA1_5", ""] {
            let t = token(json!({"alg": alg}), json!({"iss": "https://i"}));
            assert_eq!(
                inspect(&t).unwrap_err(),
                AuthError::AlgorithmNotAllowed,
                "{alg}"
            );
        }
        // `alg: none` with the usual empty signature part.
        let none = format!(
            "{}.{}.",
            part(&json!({"alg": "none"})),
            part(&json!({"iss": "x"}))
        );
        assert_eq!(inspect(&none).unwrap_err(), AuthError::AlgorithmNotAllowed);
    }

    #[test]
    fn rejects_bad_shapes() {
        let ok_header = part(&json!({"alg": "RS256"}));
        let ok_payload = part(&json!({"iss": "https://i"}));
        let cases = [
            "abc".to_owned(),
            "a.b".to_owned(),
            "a.b.c.d.e".to_owned(),
            format!("{ok_header}.{ok_payload}"),
            format!("{ok_header}.{ok_payload}."),
            format!("{ok_header}.{ok_payload}.sig.x"),
            format!("{ok_header}.!!!.sig"),
            format!("{ok_header}.{}.sig", part(&json!([1, 2]))),
            format!("{}.{ok_payload}.sig", part(&json!({"alg": 5}))),
            format!(
                "{}.{ok_payload}.sig",
                part(&json!({"alg": "RS256", "kid": 7}))
            ),
            format!(
                "{}.{ok_payload}.sig",
                part(&json!({"alg": "RS256", "crit": ["exp"]}))
            ),
            format!("{ok_header}.{}.sig", part(&json!({"iss": ["a"]}))),
            format!("{ok_header}.{ok_payload}.sig+/"),
            format!("{ok_header}={ok_payload}.sig"),
        ];
        for case in cases {
            assert_eq!(inspect(&case).unwrap_err(), AuthError::Malformed, "{case}");
        }
    }

    #[test]
    fn missing_issuer_and_missing_token() {
        let t = token(json!({"alg": "RS256"}), json!({"sub": "x"}));
        assert_eq!(inspect(&t).unwrap_err(), AuthError::WrongIssuer);
        assert_eq!(inspect("").unwrap_err(), AuthError::Missing);
        assert_eq!(inspect("  ").unwrap_err(), AuthError::Missing);
    }

    #[test]
    fn size_limit() {
        let big = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(inspect(&big).unwrap_err(), AuthError::Malformed);
    }

    #[test]
    fn fingerprint_is_short_hex() {
        let fp = fingerprint(&token_hash("secret-token"));
        assert_eq!(fp.len(), 8);
        assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!fp.contains("secret"));
    }
}
