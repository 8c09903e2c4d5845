//! The validated-token cache: hits skip signature checks and key fetches, but the audience or
//! resource and the per-call rules are enforced on every call.

use serde_json::json;
use smcp_auth::{AuthError, ClaimProblem, ClaimRule, ClaimRules};
use smcp_test_support::issuer::{SigningKey, mint, unix_now};

use crate::common::{AUD, TestRecorder, no_rules, setup};

const MEMORY: &str = "http://127.0.0.1:9/v1/memory";
const OTHER: &str = "http://127.0.0.1:9/v1/other";

#[tokio::test]
async fn cache_hits_skip_verification_but_not_per_call_checks() {
    let recorder = TestRecorder::default();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let key = SigningKey::rsa("k");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    let mut claims = issuer.claims("alice", MEMORY);
    claims["scope"] = json!("tools:read");
    let token = mint(&key, &claims);

    let first = validator
        .validate(&token, Some(MEMORY), &no_rules())
        .await
        .unwrap();
    assert_eq!(validator.cached_tokens(), 1);
    // From now on a key fetch would fail and be counted.
    issuer.set_down(true);
    let fetches = issuer.jwks_fetches();
    for _ in 0..5 {
        let again = validator
            .validate(&token, Some(MEMORY), &no_rules())
            .await
            .unwrap();
        assert_eq!(again, first);
    }
    assert_eq!(issuer.jwks_fetches(), fetches);

    // The token was issued for MEMORY only.
    for resource in [Some(OTHER), None] {
        let err = validator
            .validate(&token, resource, &no_rules())
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::WrongAudience, "{resource:?}");
    }
    // Per-call rules and scopes apply to cached tokens too.
    let tenant = ClaimRules::new()
        .with("tenant", ClaimRule::one("acme").unwrap())
        .unwrap();
    assert_eq!(
        validator
            .validate(&token, Some(MEMORY), &tenant)
            .await
            .unwrap_err(),
        AuthError::Claims {
            claim: "tenant".into(),
            problem: ClaimProblem::Missing
        }
    );
    let write = ClaimRules::new().require_scopes(["tools:write"]);
    assert_eq!(
        validator
            .validate(&token, Some(MEMORY), &write)
            .await
            .unwrap_err(),
        AuthError::InsufficientScope {
            needed: vec!["tools:write".into()]
        }
    );
    let read = ClaimRules::new().require_scopes(["tools:read"]);
    assert!(
        validator
            .validate(&token, Some(MEMORY), &read)
            .await
            .is_ok()
    );

    let count = |outcome: &str, reason: &str| {
        recorder.counter(
            "smcp_auth_validations_total",
            &[("outcome", outcome), ("reason", reason)],
        )
    };
    assert_eq!(count("accepted", "verified"), 1);
    assert_eq!(count("accepted", "cache_hit"), 6);
    assert_eq!(count("rejected", "wrong_audience"), 2);
    assert_eq!(count("rejected", "claims"), 1);
    assert_eq!(count("rejected", "insufficient_scope"), 1);
    assert_eq!(
        recorder.histogram_samples("smcp_auth_validation_duration_seconds"),
        11
    );
    assert_eq!(issuer.jwks_fetches(), fetches);
}

#[tokio::test]
async fn failed_checks_are_not_cached_and_expired_tokens_never_are() {
    let key = SigningKey::ec_p256("k");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    let forged = mint(&SigningKey::ec_p256("k"), &issuer.claims("mallory", AUD));
    for _ in 0..2 {
        let err = validator
            .validate(&forged, None, &no_rules())
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::BadSignature);
    }
    assert_eq!(validator.cached_tokens(), 0);
    // Accepted within the leeway, but already past `exp`: not remembered.
    let mut claims = issuer.claims("alice", AUD);
    claims["exp"] = json!(unix_now() - 10);
    let late = mint(&key, &claims);
    assert!(validator.validate(&late, None, &no_rules()).await.is_ok());
    assert_eq!(validator.cached_tokens(), 0);
    // A wrong audience for this call does not stop the token being cached for the next.
    let token = mint(&key, &issuer.claims("alice", MEMORY));
    let err = validator
        .validate(&token, None, &no_rules())
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::WrongAudience);
    assert_eq!(validator.cached_tokens(), 1);
    assert!(
        validator
            .validate(&token, Some(MEMORY), &no_rules())
            .await
            .is_ok()
    );
}
