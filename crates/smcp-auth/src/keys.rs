//! Verification keys parsed from a JWKS document, and the choice of key and algorithm for a
//! token.
//!
//! The allowed algorithms of each key come from the JWK itself (`kty`, `crv`, `alg`), never
//! from a token: RSA keys allow RS256/384/512 and PS256/384/512 (only their `alg` when the JWK
//! names one), EC P-256 allows ES256, P-384 ES384, OKP Ed25519 EdDSA. Symmetric (`oct`) keys,
//! encryption keys, RSA keys under 2048 bits and unknown types are skipped.

use std::sync::Arc;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Base64url as JWKs use it; some IdPs pad, so padding is accepted but not required.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// At most this many usable keys are kept from one JWKS (real IdPs publish a handful).
const MAX_KEYS: usize = 64;
/// RSA keys shorter than this are refused (RFC 7518 §3.3 requires 2048 bits).
const MIN_RSA_BITS: usize = 2048;

const RSA_ALGS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One usable verification key.
pub(crate) struct VerifyKey {
    /// The JWK `kid`, if any.
    pub(crate) kid: Option<String>,
    /// Algorithms this key may verify.
    pub(crate) algorithms: Vec<Algorithm>,
    /// The key in jsonwebtoken's form.
    pub(crate) decoding: DecodingKey,
    /// SHA-256 over the key type and public material: identifies the key across refetches.
    pub(crate) thumb: [u8; 32],
}

/// The usable keys of one issuer at one point in time.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
}

/// The outcome of choosing a key for a token.
pub(crate) enum Selection {
    /// This key must verify the token.
    Found(Arc<VerifyKey>),
    /// A key matches the `kid` but does not allow the header's algorithm.
    AlgorithmNotAllowed,
    /// No key has the token's `kid`.
    NotFound,
    /// The token has no `kid` and the set has more (or fewer) than exactly one key.
    Ambiguous,
}

/// A JWKS document that cannot be used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwksProblem {
    /// Not JSON, or no `keys` array.
    Invalid,
    /// Parsed, but no key is usable (keeping the previous keys is safer than having none).
    NoUsableKeys,
}

impl KeySet {
    /// Parses a JWKS document, skipping keys that cannot or must not be used.
    pub(crate) fn parse(body: &[u8]) -> Result<KeySet, JwksProblem> {
        let doc: Value = serde_json::from_slice(body).map_err(|_| JwksProblem::Invalid)?;
        let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
            return Err(JwksProblem::Invalid);
        };
        let mut keys = Vec::new();
        for entry in entries {
            let Some(jwk) = entry.as_object() else {
                continue;
            };
            match parse_jwk(jwk) {
                Ok(key) => {
                    if keys.len() < MAX_KEYS {
                        keys.push(Arc::new(key));
                    }
                }
                Err(why) => {
                    let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("");
                    tracing::debug!(kid, why, "skipping unusable JWK");
                }
            }
        }
        if keys.is_empty() {
            return Err(JwksProblem::NoUsableKeys);
        }
        Ok(KeySet { keys })
    }

    /// Number of usable keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether a key with this thumbprint is still in the set.
    pub(crate) fn contains(&self, thumb: &[u8; 32]) -> bool {
        self.keys.iter().any(|k| &k.thumb == thumb)
    }

    /// Chooses the key for a token with header `kid` and `alg`. Without a `kid`, the set must
    /// hold exactly one key, so a token cannot pick among several keys by trial.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection {
        let candidate = match kid {
            Some(kid) => {
                let mut matching = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid));
                let Some(first) = matching.next() else {
                    return Selection::NotFound;
                };
                // Several keys may share a kid (e.g. RSA and EC); pick the one allowing `alg`.
                let allowed = std::iter::once(first)
                    .chain(matching)
                    .find(|k| k.algorithms.contains(&alg));
                return match allowed {
                    Some(key) => Selection::Found(Arc::clone(key)),
                    None => Selection::AlgorithmNotAllowed,
                };
            }
            None if self.keys.len() == 1 => &self.keys[0],
            None => return Selection::Ambiguous,
        };
        if candidate.algorithms.contains(&alg) {
            Selection::Found(Arc::clone(candidate))
        } else {
            Selection::AlgorithmNotAllowed
        }
    }
}

pub(crate) fn parse_jwk(jwk: &Map<String, Value>) -> Result<VerifyKey, &'static str> {
    let kty = str_field(jwk, "kty")?.ok_or("no kty")?;
    if let Some(usage) = str_field(jwk, "use")?
        && usage != "sig"
    {
        return Err("not a signature key");
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return Err("key_ops without verify");
        }
    }
    let alg = str_field(jwk, "alg")?;
    let kid = str_field(jwk, "kid")?.map(str::to_owned);
    let mut hasher = Sha256::new();
    hasher.update(kty.as_bytes());
    let (algorithms, decoding) = match kty {
        "RSA" => {
            let n = b64_field(jwk, "n")?;
            let e = b64_field(jwk, "e")?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if rsa_bits(n) < MIN_RSA_BITS {
                return Err("RSA key shorter than 2048 bits");
            }
            if e.is_empty() || e.len() > 8 {
                return Err("bad RSA exponent");
            }
            let algorithms = match alg {
                None => RSA_ALGS.to_vec(),
                Some(name) => {
                    let alg: Algorithm = name.parse().map_err(|_| "unknown alg")?;
                    if !RSA_ALGS.contains(&alg) {
                        return Err("alg does not fit an RSA key");
                    }
                    vec![alg]
                }
            };
            for part in [n, e] {
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part);
            }
            (algorithms, DecodingKey::from_rsa_raw_components(n, e))
        }
        "EC" => {
            let (alg_for_curve, size) = match str_field(jwk, "crv")? {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                _ => return Err("unsupported EC curve"),
            };
            if alg.is_some_and(|a| a.parse::<Algorithm>().ok() != Some(alg_for_curve)) {
                return Err("alg does not fit the EC curve");
            }
            let x = b64_field(jwk, "x")?;
            let y = b64_field(jwk, "y")?;
            if x.len() != size || y.len() != size {
                return Err("bad EC coordinate length");
            }
            // jsonwebtoken takes an EC public key as the SEC1 uncompressed point.
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            hasher.update(&point);
            (vec![alg_for_curve], DecodingKey::from_ec_der(&point))
        }
        "OKP" => {
            if str_field(jwk, "crv")? != Some("Ed25519") {
                return Err("unsupported OKP curve");
            }
            if alg.is_some_and(|a| a != "EdDSA" && a != "Ed25519") {
                return Err("alg does not fit an Ed25519 key");
            }
            let x = b64_field(jwk, "x")?;
            if x.len() != 32 {
                return Err("bad Ed25519 key length");
            }
            hasher.update(&x);
            (vec![Algorithm::EdDSA], DecodingKey::from_ed_der(&x))
        }
        _ => return Err("unsupported key type"),
    };
    Ok(VerifyKey {
        kid,
        algorithms,
        decoding,
        thumb: hasher.finalize().into(),
    })
}

fn str_field<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, &'static str> {
    match jwk.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("non-string member"),
    }
}

fn b64_field(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, &'static str> {
    let text = str_field(jwk, name)?.ok_or("missing key material")?;
    B64URL.decode(text).map_err(|_| "bad base64url")
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn rsa_bits(modulus: &[u8]) -> usize {
    match modulus.first() {
        None => 0,
        Some(top) => modulus.len() * 8 - top.leading_zeros() as usize,
    }
}

#[cfg(test)]
mod tests;
