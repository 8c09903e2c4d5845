//! Key-set behaviour over time: discovery variants, startup with the IdP down, outages,
//! rotation, TTLs and the refetch rate limit. The clock is paused and advanced explicitly.

use std::time::Duration;

use serde_json::json;
use smcp_auth::{AuthError, IssuerConfig, Validator, ValidatorConfig};
use smcp_test_support::issuer::{Discovery, SigningKey, TestIssuer, mint};
use tokio::task::JoinSet;

use crate::common::{AUD, TestRecorder, config, http, no_rules, ready, setup};

/// Gives spawned tasks (a background refresh) a chance to run to completion.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Waits (bounded) until the issuer has received `count` JWKS requests.
async fn jwks_fetches_reach(issuer: &TestIssuer, count: usize) {
    tokio::time::timeout(Duration::from_secs(60), issuer.wait_for_jwks_fetches(count))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn rfc8414_discovery_with_path_insertion() {
    let key = SigningKey::ec_p256("k");
    let issuer = TestIssuer::builder()
        .path("/realms/mcp")
        .discovery(Discovery::OAuth)
        .key(key.clone())
        .start()
        .await
        .unwrap();
    assert!(issuer.issuer().ends_with("/realms/mcp"));
    let validator = ready(config(&issuer)).await;
    assert_eq!(issuer.discovery_fetches(), 1);
    let token = mint(&key, &issuer.claims("alice", AUD));
    assert!(validator.validate(&token, None, &no_rules()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn configured_jwks_uri_skips_discovery() {
    let key = SigningKey::ed25519("k");
    let issuer = TestIssuer::builder()
        .discovery(Discovery::Off)
        .key(key.clone())
        .start()
        .await;
    let issuer = issuer.unwrap();
    let mut cfg = config(&issuer);
    cfg.issuers[0].jwks_uri = Some(issuer.jwks_uri().parse().unwrap());
    let validator = ready(cfg).await;
    assert_eq!(issuer.discovery_fetches(), 0);
    assert_eq!(issuer.jwks_fetches(), 1);
    let token = mint(&key, &issuer.claims("alice", AUD));
    assert!(validator.validate(&token, None, &no_rules()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn discovered_issuer_must_match_the_configured_one() {
    let key = SigningKey::ec_p256("k");
    let issuer = TestIssuer::builder()
        .advertise_issuer("http://127.0.0.1:1/someone-else")
        .key(key.clone())
        .start()
        .await
        .unwrap();
    let validator = Validator::new(config(&issuer), http());
    validator.start();
    // Several backoff rounds pass; the keys are never fetched from the mismatching document.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(!validator.is_ready());
    assert!(issuer.discovery_fetches() >= 3);
    assert_eq!(issuer.jwks_fetches(), 0);
    let token = mint(&key, &issuer.claims("alice", AUD));
    assert_eq!(
        validator
            .validate(&token, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::KeysUnavailable
    );
}

#[tokio::test(start_paused = true)]
async fn idp_down_at_startup_then_back() {
    let recorder = TestRecorder::default();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let key_up = SigningKey::ec_p256("up");
    let key_down = SigningKey::ec_p256("down");
    let up = TestIssuer::start(vec![key_up.clone()]).await.unwrap();
    let down = TestIssuer::builder()
        .key(key_down.clone())
        .down()
        .start()
        .await
        .unwrap();
    let validator = Validator::new(
        ValidatorConfig {
            issuers: vec![
                IssuerConfig::new(up.issuer()),
                IssuerConfig::new(down.issuer()),
            ],
            audiences: vec![AUD.into()],
            ..ValidatorConfig::default()
        },
        http(),
    );
    validator.start();
    validator.start(); // idempotent
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!validator.is_ready(), "one issuer has no keys yet");
    let token_up = mint(&key_up, &up.claims("alice", AUD));
    let token_down = mint(&key_down, &down.claims("bob", AUD));
    // The reachable issuer works meanwhile; the other answers "unavailable", not "invalid".
    assert!(
        validator
            .validate(&token_up, None, &no_rules())
            .await
            .is_ok()
    );
    let err = validator
        .validate(&token_down, None, &no_rules())
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::KeysUnavailable);
    assert_eq!(err.class(), smcp_auth::ErrorClass::Unavailable);

    down.set_down(false);
    tokio::time::timeout(Duration::from_secs(300), validator.wait_ready())
        .await
        .unwrap();
    assert!(validator.is_ready());
    assert!(
        validator
            .validate(&token_down, None, &no_rules())
            .await
            .is_ok()
    );

    let fetches = |issuer: &TestIssuer, outcome: &str| {
        recorder.counter(
            "smcp_jwks_fetches_total",
            &[("issuer", issuer.issuer()), ("outcome", outcome)],
        )
    };
    assert_eq!(fetches(&up, "ok"), 1);
    assert_eq!(fetches(&down, "ok"), 1);
    assert!(
        fetches(&down, "http_status") >= 2,
        "startup retried with backoff"
    );
}

#[tokio::test(start_paused = true)]
async fn last_good_keys_survive_an_outage() {
    let key = SigningKey::ec_p256("k");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    issuer.set_down(true);
    // Past the 10 min TTL: the keys are stale and every refresh fails.
    tokio::time::advance(Duration::from_secs(11 * 60)).await;
    let fresh_token = || mint(&key, &issuer.claims("alice", AUD));
    assert!(
        validator
            .validate(&fresh_token(), None, &no_rules())
            .await
            .is_ok()
    );
    jwks_fetches_reach(&issuer, 2).await;
    settle().await;
    assert!(
        validator
            .validate(&fresh_token(), None, &no_rules())
            .await
            .is_ok()
    );
    assert!(validator.is_ready());
    // An unknown kid is still "unknown key", not "unavailable".
    let other = mint(&key.with_kid("other"), &issuer.claims("alice", AUD));
    assert_eq!(
        validator
            .validate(&other, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::UnknownKey
    );
}

#[tokio::test(start_paused = true)]
async fn key_rotation_without_restart() {
    let old = SigningKey::rsa("old");
    let new = SigningKey::ec_p256("new");
    let (issuer, validator) = setup(std::slice::from_ref(&old)).await;
    let old_token = mint(&old, &issuer.claims("alice", AUD));
    assert!(
        validator
            .validate(&old_token, None, &no_rules())
            .await
            .is_ok()
    );
    assert_eq!(issuer.jwks_fetches(), 1);

    issuer.add_key(new.clone());
    let new_token = mint(&new, &issuer.claims("bob", AUD));
    // Right after the startup fetch the refetch floor (30 s) holds: no fetch, unknown key.
    assert_eq!(
        validator
            .validate(&new_token, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::UnknownKey
    );
    assert_eq!(issuer.jwks_fetches(), 1);
    // Once the floor has passed, the unknown kid triggers one refetch and the new key works.
    tokio::time::advance(Duration::from_secs(31)).await;
    assert!(
        validator
            .validate(&new_token, None, &no_rules())
            .await
            .is_ok()
    );
    assert_eq!(issuer.jwks_fetches(), 2);

    // The old key is withdrawn. Until the key set is refreshed it still verifies (cached).
    issuer.remove_key("old");
    assert!(
        validator
            .validate(&old_token, None, &no_rules())
            .await
            .is_ok()
    );
    // After the TTL the next request refreshes in the background; then the old key is gone,
    // for the cached token as for a new one.
    tokio::time::advance(Duration::from_secs(10 * 60)).await;
    let mut outcome = validator.validate(&old_token, None, &no_rules()).await;
    for _ in 0..50 {
        if outcome.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        outcome = validator.validate(&old_token, None, &no_rules()).await;
    }
    assert_eq!(outcome.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(issuer.jwks_fetches(), 3);
    let another_old = mint(&old, &issuer.claims("carol", AUD));
    assert_eq!(
        validator
            .validate(&another_old, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::UnknownKey
    );
    assert!(
        validator
            .validate(&new_token, None, &no_rules())
            .await
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn thousand_random_kids_cause_bounded_fetches() {
    let key = SigningKey::ec_p256("real");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    let before = issuer.jwks_fetches();
    let claims = issuer.claims("mallory", AUD);
    // 1,000 tokens with never-seen kids over 100 s of (paused) time.
    for i in 0..1000u32 {
        let kid = format!("{:08x}", i.wrapping_mul(2_654_435_761));
        let token = mint(&key.with_kid(kid), &claims);
        let err = validator
            .validate(&token, None, &no_rules())
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::UnknownKey);
        if i % 10 == 9 {
            tokio::time::advance(Duration::from_secs(1)).await;
        }
    }
    settle().await;
    // One refetch per 30 s floor at most: 100 s allow exactly 3 (at 30, 60 and 90 s).
    let refetches = issuer.jwks_fetches() - before;
    assert_eq!(refetches, 3);
    // The real key still works.
    assert!(
        validator
            .validate(&mint(&key, &claims), None, &no_rules())
            .await
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_unknown_kids_collapse_into_one_fetch() {
    let key = SigningKey::ec_p256("real");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    tokio::time::advance(Duration::from_secs(31)).await;
    let claims = issuer.claims("mallory", AUD);
    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let validator = validator.clone();
        let token = mint(&key.with_kid(format!("unknown-{i}")), &claims);
        tasks.spawn(async move { validator.validate(&token, None, &no_rules()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap_err(), AuthError::UnknownKey);
    }
    assert_eq!(issuer.jwks_fetches(), 2);
}

/// Single flight on its own (no rate limit to hide behind): 50 first requests arriving
/// together before any key is loaded cause one fetch.
#[tokio::test(start_paused = true)]
async fn concurrent_first_requests_share_one_fetch() {
    let key = SigningKey::ec_p256("k");
    let issuer = TestIssuer::start(vec![key.clone()]).await.unwrap();
    let validator = Validator::new(
        ValidatorConfig {
            jwks_refresh_min_interval: Duration::ZERO,
            ..config(&issuer)
        },
        http(),
    );
    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let validator = validator.clone();
        let token = mint(&key, &issuer.claims(&format!("user-{i}"), AUD));
        tasks.spawn(async move { validator.validate(&token, None, &no_rules()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(result.unwrap().is_ok());
    }
    assert_eq!(issuer.jwks_fetches(), 1);
    assert_eq!(issuer.discovery_fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn cache_control_max_age_sets_the_ttl() {
    let key = SigningKey::ec_p256("k");
    // (Cache-Control, seconds before which no refresh happens, seconds after which one does)
    let cases = [
        (Some("public, max-age=120"), 100, 125),
        (Some("max-age=1"), 50, 65),
        (None, 500, 605),
    ];
    for (cache_control, quiet, refresh) in cases {
        let mut builder = TestIssuer::builder().key(key.clone());
        if let Some(value) = cache_control {
            builder = builder.cache_control(value);
        }
        let issuer = builder.start().await.unwrap();
        // A floor below the smallest TTL, so only the TTL decides.
        let validator = ready(ValidatorConfig {
            jwks_refresh_min_interval: Duration::from_secs(5),
            ..config(&issuer)
        })
        .await;
        let started = tokio::time::Instant::now();
        tokio::time::advance(Duration::from_secs(quiet)).await;
        let token = || mint(&key, &issuer.claims("alice", AUD));
        assert!(
            validator
                .validate(&token(), None, &no_rules())
                .await
                .is_ok()
        );
        settle().await;
        assert_eq!(
            issuer.jwks_fetches(),
            1,
            "{cache_control:?}: no refresh before the TTL"
        );
        tokio::time::advance(Duration::from_secs(refresh) - started.elapsed()).await;
        assert!(
            validator
                .validate(&token(), None, &no_rules())
                .await
                .is_ok()
        );
        jwks_fetches_reach(&issuer, 2).await;
    }
}

#[tokio::test(start_paused = true)]
async fn keys_are_fetched_on_demand_without_start() {
    let key = SigningKey::ec_p256("k");
    let issuer = TestIssuer::start(vec![key.clone()]).await.unwrap();
    let validator = Validator::new(config(&issuer), http());
    assert!(!validator.is_ready());
    assert_eq!(issuer.jwks_fetches(), 0, "new() does no I/O");
    let token = mint(&key, &issuer.claims("alice", AUD));
    assert!(validator.validate(&token, None, &no_rules()).await.is_ok());
    assert!(validator.is_ready());
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn unusable_published_keys_are_ignored() {
    let key = SigningKey::ec_p256("k");
    let issuer = TestIssuer::start(vec![key.clone()]).await.unwrap();
    // An HMAC key published under the same kid must never become a verification key.
    issuer.add_raw_jwk(json!({"kty": "oct", "kid": "k", "k": "c2VjcmV0", "alg": "HS256"}));
    issuer.add_raw_jwk(json!({"kty": "RSA", "kid": "tiny", "n": "AQAB", "e": "AQAB"}));
    let validator = ready(config(&issuer)).await;
    let token = mint(&key, &issuer.claims("alice", AUD));
    assert!(validator.validate(&token, None, &no_rules()).await.is_ok());
    let hs = smcp_test_support::issuer::mint_hmac(
        b"secret",
        &json!({"alg": "HS256", "kid": "k"}),
        &issuer.claims("mallory", AUD),
    );
    assert_eq!(
        validator
            .validate(&hs, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::AlgorithmNotAllowed
    );
}
