//! Bearer-token validation (`smcp_auth::Validator::validate`) with the issuer's keys already
//! cached: a full verification for RS256, ES256 and EdDSA, and a hit in the validated-token
//! cache (the steady state of a client that sends the same token on every call).
//!
//! The keys come from the test issuer (`smcp_test_support::issuer`), served on loopback, so the
//! validator goes through its real discovery and JWKS path once before measuring. The
//! verification cases use a validator whose token cache is off, so every iteration checks the
//! signature, times, issuer, audience and claims.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use smcp_auth::{ClaimRules, IssuerConfig, Validator, ValidatorConfig};
use smcp_test_support::issuer::{SigningKey, TestIssuer};
use tokio::runtime::Runtime;

const AUDIENCE: &str = "https://mcp.example.com/v1/echo";

/// Polls `fut` once without a runtime round trip (a cached-key validation never waits), and
/// falls back to blocking on the runtime if it does.
fn drive<F: Future>(rt: &Runtime, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => rt.block_on(fut),
    }
}

fn validator(issuer: &TestIssuer, token_cache_capacity: usize) -> Validator {
    let cfg = ValidatorConfig {
        issuers: vec![IssuerConfig::new(issuer.issuer())],
        audiences: vec![AUDIENCE.to_owned()],
        token_cache_capacity,
        ..ValidatorConfig::default()
    };
    Validator::new(cfg, reqwest::Client::new())
}

fn token_validation(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => unreachable!("a Tokio runtime builds: {err}"),
    };
    // Spawned tasks (the issuer's server, background key refreshes) need the runtime entered.
    let _entered = rt.enter();
    let keys = [
        ("RS256", SigningKey::rsa("rsa-1")),
        ("ES256", SigningKey::ec_p256("ec-1")),
        ("EdDSA", SigningKey::ed25519("ed-1")),
    ];
    let issuer = match rt.block_on(TestIssuer::start(
        keys.iter().map(|(_, k)| k.clone()).collect(),
    )) {
        Ok(issuer) => issuer,
        Err(err) => unreachable!("the test issuer binds loopback: {err}"),
    };
    let verifying = validator(&issuer, 0);
    let caching = validator(&issuer, 10_000);
    for v in [&verifying, &caching] {
        v.start();
        let ready = rt.block_on(tokio::time::timeout(
            Duration::from_secs(10),
            v.wait_ready(),
        ));
        assert!(ready.is_ok(), "validator fetched the test issuer's keys");
    }
    let mut claims = issuer.claims("bench-client", AUDIENCE);
    claims["scope"] = serde_json::json!("mcp:tools");
    claims["exp"] = serde_json::json!(smcp_test_support::issuer::unix_now() + 3600);
    let rules = ClaimRules::new();

    let mut group = c.benchmark_group("token_validation");
    for (alg, key) in &keys {
        let token = issuer.mint(key, &claims);
        let check = drive(&rt, verifying.validate(&token, None, &rules));
        assert!(check.is_ok(), "{alg} token validates: {check:?}");
        group.bench_with_input(
            BenchmarkId::new("verify_cached_key", alg),
            &token,
            |b, t| {
                b.iter(|| drive(&rt, verifying.validate(black_box(t), None, &rules)).is_ok());
            },
        );
    }
    let token = issuer.mint(&keys[0].1, &claims);
    let first = drive(&rt, caching.validate(&token, None, &rules));
    assert!(first.is_ok(), "token validates: {first:?}");
    assert_eq!(caching.cached_tokens(), 1);
    group.bench_with_input(
        BenchmarkId::new("token_cache_hit", "RS256"),
        &token,
        |b, t| {
            b.iter(|| drive(&rt, caching.validate(black_box(t), None, &rules)).is_ok());
        },
    );
    group.finish();
}

criterion_group!(benches, token_validation);
criterion_main!(benches);
