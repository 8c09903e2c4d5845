//! Reading one DPoP proof: its header (type, algorithm, public key), its signature, its
//! claims. Nothing in a proof is trusted before the signature verifies with the key the proof
//! itself carries; what that proves is only "the holder of this key made this proof", which
//! the token's `cnf.jkt` then ties to the token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::DpopError;
use crate::keys::parse_jwk;

/// Proofs longer than this are refused unread (a proof with an RSA-4096 key is about 1.2 KiB).
pub(crate) const MAX_PROOF_BYTES: usize = 8 * 1024;

/// Longest `jti` accepted (RFC 9449 asks for at least 96 bits of randomness; 256 is generous).
const MAX_JTI_BYTES: usize = 256;

/// JWK members that only a private key has: a proof carrying one is refused.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// A proof whose signature verified.
#[derive(Debug)]
pub(crate) struct Proof {
    /// RFC 7638 thumbprint of the header's key.
    pub(crate) thumbprint: String,
    pub(crate) jti: String,
    pub(crate) htm: String,
    pub(crate) htu: String,
    pub(crate) iat: u64,
    pub(crate) ath: Option<String>,
    pub(crate) nonce: Option<String>,
}

/// Checks the header and the signature of `proof`, and reads its claims.
pub(crate) fn verify_signature(proof: &str, allowed: &[Algorithm]) -> Result<Proof, DpopError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(DpopError::Malformed("too long"));
    }
    let mut parts = proof.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed("not a compact JWS"));
    };
    let signing_input = &proof[..header.len() + 1 + payload.len()];
    let header = decode_object(header)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(DpopError::Type);
    }
    let alg: Algorithm = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|name| name.parse().ok())
        .ok_or(DpopError::Algorithm)?;
    if !allowed.contains(&alg) {
        return Err(DpopError::Algorithm);
    }
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(DpopError::Key("no jwk in the header"))?;
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| jwk.contains_key(*member))
    {
        return Err(DpopError::Key("the jwk is a private key"));
    }
    let thumbprint = thumbprint(jwk).ok_or(DpopError::Key("no thumbprint"))?;
    let claims = match verify_ec_or_ed(alg, jwk, signing_input, signature)? {
        Some(()) => decode_object(payload)?,
        None => {
            // RSA: jsonwebtoken (it checks the key size and decodes the claims itself).
            let key = parse_jwk(jwk).map_err(DpopError::Key)?;
            if !key.algorithms.contains(&alg) {
                return Err(DpopError::Key("the key does not fit the algorithm"));
            }
            let mut validation = Validation::new(alg);
            validation.algorithms = vec![alg];
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.validate_aud = false;
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<Map<String, Value>>(proof, &key.decoding, &validation)
                .map_err(|_| DpopError::Signature)?
                .claims
        }
    };
    let text = |name: &'static str| -> Result<String, DpopError> {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(DpopError::Malformed(name))
    };
    let jti = text("jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(DpopError::Malformed("jti"));
    }
    let iat = claims
        .get("iat")
        .and_then(|iat| {
            iat.as_u64()
                .or_else(|| iat.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        })
        .ok_or(DpopError::Malformed("iat"))?;
    let optional_text = |name: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(DpopError::Malformed(name)),
    };
    let ath = optional_text("ath")?;
    let nonce = optional_text("nonce")?;
    Ok(Proof {
        thumbprint,
        jti,
        htm: text("htm")?,
        htu: text("htu")?,
        iat,
        ath,
        nonce,
    })
}

/// Verifies an ES256, ES384 or EdDSA signature with aws-lc directly (the common DPoP keys;
/// going through jsonwebtoken would decode the header and claims a second time). `Ok(None)`
/// for other algorithms.
fn verify_ec_or_ed(
    alg: Algorithm,
    jwk: &Map<String, Value>,
    signing_input: &str,
    signature: &str,
) -> Result<Option<()>, DpopError> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, UnparsedPublicKey,
        VerificationAlgorithm,
    };
    let member = |name: &'static str| -> Result<Vec<u8>, DpopError> {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or(DpopError::Key("a key member is missing or not base64url"))
    };
    let kty = jwk.get("kty").and_then(Value::as_str);
    let crv = jwk.get("crv").and_then(Value::as_str);
    let (verifier, key): (&'static dyn VerificationAlgorithm, Vec<u8>) = match alg {
        Algorithm::ES256 | Algorithm::ES384 => {
            let (want, size, verifier): (_, _, &'static dyn VerificationAlgorithm) =
                if alg == Algorithm::ES256 {
                    ("P-256", 32, &ECDSA_P256_SHA256_FIXED)
                } else {
                    ("P-384", 48, &ECDSA_P384_SHA384_FIXED)
                };
            if kty != Some("EC") || crv != Some(want) {
                return Err(DpopError::Key("the key does not fit the algorithm"));
            }
            let (x, y) = (member("x")?, member("y")?);
            if x.len() != size || y.len() != size {
                return Err(DpopError::Key("bad EC coordinate length"));
            }
            // SEC1 uncompressed point: 0x04 || x || y.
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (verifier, point)
        }
        Algorithm::EdDSA => {
            if kty != Some("OKP") || crv != Some("Ed25519") {
                return Err(DpopError::Key("the key does not fit the algorithm"));
            }
            let x = member("x")?;
            if x.len() != 32 {
                return Err(DpopError::Key("bad Ed25519 key length"));
            }
            (&ED25519, x)
        }
        _ => return Ok(None),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| DpopError::Signature)?;
    UnparsedPublicKey::new(verifier, key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| DpopError::Signature)?;
    Ok(Some(()))
}

fn decode_object(part: &str) -> Result<Map<String, Value>, DpopError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| DpopError::Malformed("not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(DpopError::Malformed("not a JSON object")),
    }
}

/// The RFC 7638 thumbprint of a public JWK: base64url SHA-256 of its required members, in
/// lexicographic order, without whitespace. `None` for a key type without required members
/// known here, or when one is missing.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, member) in members.iter().enumerate() {
        let value = jwk.get(*member)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&serde_json::to_string(member).ok()?);
        canonical.push(':');
        canonical.push_str(&serde_json::to_string(value).ok()?);
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}
