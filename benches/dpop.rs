//! DPoP proof verification (`smcp_auth::dpop::DpopVerifier::verify`): an ES256 proof as
//! smcp-client makes it, checked in full (header, key, signature, method, URL, time, token
//! hash) and remembered in the replay cache, as smcp-server does once per DPoP request. Each
//! iteration gets a fresh proof (made outside the measurement), so every one is a cache
//! insert, never a replay. Issue 16's target: at most 60 µs. The same for an EdDSA proof
//! (`--oidc-dpop-alg EdDSA`), and the P-256 signature check alone (the floor).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use smcp_auth::dpop::{DpopConfig, DpopVerifier, ProofInput, check_binding};
use smcp_auth::token_source::{DpopAlgorithm, DpopKey};
use url::Url;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl";

fn dpop(c: &mut Criterion) {
    let key = match DpopKey::generate() {
        Ok(key) => key,
        Err(error) => unreachable!("a P-256 key generates: {error}"),
    };
    let url = match Url::parse("https://mcp.example.com/v1/echo") {
        Ok(url) => url,
        Err(error) => unreachable!("a fixed URL parses: {error}"),
    };
    let verifier = DpopVerifier::new(DpopConfig::default());
    let ed_key = match DpopKey::generate_with(DpopAlgorithm::EdDsa) {
        Ok(key) => key,
        Err(error) => unreachable!("an Ed25519 key generates: {error}"),
    };
    for (name, key) in [
        ("dpop/verify_es256_with_replay_check", &key),
        ("dpop/verify_eddsa_with_replay_check", &ed_key),
    ] {
        let claims = serde_json::json!({"cnf": {"jkt": key.thumbprint()}});
        let claims = claims.as_object().cloned().unwrap_or_default();
        c.bench_function(name, |b| {
            b.iter_batched(
                || key.proof("POST", &url, Some(TOKEN), None),
                |proof| {
                    let input = ProofInput {
                        proof: &proof,
                        method: "POST",
                        url: &url,
                        access_token: TOKEN,
                    };
                    let bound = verifier
                        .verify(black_box(&input))
                        .ok()
                        .map(|t| check_binding(&claims, Some(&t)).is_ok());
                    black_box(bound)
                },
                BatchSize::SmallInput,
            );
        });
    }
    // The floor: aws-lc's P-256 signature check alone, on the same proof's bytes.
    let proof = key.proof("POST", &url, Some(TOKEN), None);
    let (signing_input, signature) = proof.rsplit_once('.').unwrap_or_default();
    let signature = base64_url(signature);
    let public = public_point(key.public_jwk());
    c.bench_function("dpop/p256_signature_check_alone", |b| {
        b.iter(|| {
            let key = aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                &public,
            );
            black_box(key.verify(signing_input.as_bytes(), &signature).is_ok())
        });
    });
    c.bench_function("dpop/client_makes_an_es256_proof", |b| {
        b.iter(|| black_box(key.proof("POST", &url, Some(TOKEN), None)));
    });
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_default()
}

/// The SEC1 uncompressed point of a P-256 public JWK.
fn public_point(jwk: &serde_json::Value) -> Vec<u8> {
    let coordinate = |name: &str| base64_url(jwk[name].as_str().unwrap_or_default());
    let mut point = vec![0x04];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    point
}

criterion_group!(benches, dpop);
criterion_main!(benches);
