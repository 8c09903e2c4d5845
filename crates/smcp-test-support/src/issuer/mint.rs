//! Minting compact JWS tokens with any header and claims, honest or forged: signed by a
//! [`SigningKey`], unsigned (`alg: none`), or HMAC-signed with an arbitrary secret.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::keys::SigningKey;

/// The current Unix time in seconds (the wall clock validators compare `exp` with).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A token signed by `key` with its default `alg` and its `kid`.
pub fn mint(key: &SigningKey, claims: &Value) -> String {
    let header = json!({"alg": key.alg(), "typ": "JWT", "kid": key.kid()});
    mint_with_header(key, &header, claims)
}

/// A token with exactly `header`, signed by `key` with the header's `alg` (which must fit the
/// key; see [`SigningKey::sign`]).
///
/// # Panics
/// When the header has no string `alg`.
#[allow(
    clippy::panic,
    reason = "test helper: a header without alg is a test bug"
)]
pub fn mint_with_header(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let Some(alg) = header.get("alg").and_then(Value::as_str) else {
        panic!("mint_with_header needs a string `alg` in the header");
    };
    let input = signing_input(header, claims);
    let signature = key.sign(alg, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An unsigned token (`<header>.<claims>.`), as `alg: none` tokens look.
pub fn mint_unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.", signing_input(header, claims))
}

/// A token HMAC-signed with `secret`, using HS256/HS384/HS512 from the header's `alg`
/// (HS256 when absent or anything else), e.g. the "HS256 keyed with the RSA public key"
/// forgery.
pub fn mint_hmac(secret: &[u8], header: &Value, claims: &Value) -> String {
    let algorithm = match header.get("alg").and_then(Value::as_str) {
        Some("HS384") => hmac::HMAC_SHA384,
        Some("HS512") => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    };
    let input = signing_input(header, claims);
    let tag = hmac::sign(&hmac::Key::new(algorithm, secret), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn signing_input(header: &Value, claims: &Value) -> String {
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}", encode(header), encode(claims))
}
