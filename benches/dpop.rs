//! DPoP proof verification (`smcp_auth::dpop::DpopVerifier::verify`): an ES256 proof as
//! smcp-client makes it, checked in full (header, key, signature, method, URL, time, token
//! hash) and remembered in the replay cache, as smcp-server does once per DPoP request. Each
//! iteration gets a fresh proof (made outside the measurement), so every one is a cache
//! insert, never a replay. Issue 16's target: at most 60 µs.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use smcp_auth::dpop::{DpopConfig, DpopVerifier, ProofInput, check_binding};
use smcp_auth::token_source::DpopKey;
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
    let claims = serde_json::json!({"cnf": {"jkt": key.thumbprint()}});
    let claims = claims.as_object().cloned().unwrap_or_default();
    c.bench_function("dpop/verify_es256_with_replay_check", |b| {
        b.iter_batched(
            || key.proof("POST", &url, Some(TOKEN), None),
            |proof| {
                let input = ProofInput {
                    proof: &proof,
                    method: "POST",
                    url: &url,
                    access_token: TOKEN,
                };
                let thumbprint = verifier.verify(black_box(&input));
                let bound = thumbprint
                    .ok()
                    .map(|t| check_binding(&claims, Some(&t)).is_ok());
                black_box(bound)
            },
            BatchSize::SmallInput,
        );
    });
    c.bench_function("dpop/client_makes_an_es256_proof", |b| {
        b.iter(|| black_box(key.proof("POST", &url, Some(TOKEN), None)));
    });
}

criterion_group!(benches, dpop);
criterion_main!(benches);
