//! Claim rules through the validator: global required and optional rules, per-call rules and
//! required scopes, over every kind of value.

use serde_json::{Value, json};
use smcp_auth::{AuthError, ClaimProblem, ClaimRule, ClaimRules, ValidatorConfig};
use smcp_test_support::issuer::{SigningKey, TestIssuer, mint};

use crate::common::{AUD, config, no_rules, ready};

fn rules(value: Value) -> ClaimRules {
    serde_json::from_value(value).unwrap()
}

/// Mints a token for `issuer` with the standard claims plus `extra`.
fn token(issuer: &TestIssuer, key: &SigningKey, extra: Value) -> String {
    let mut claims = issuer.claims("alice", AUD);
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    mint(key, &claims)
}

/// Every kind of rule, as per-call rules: (rule, claims that pass, claims that fail).
#[tokio::test]
async fn per_call_rules_of_every_kind() {
    let key = SigningKey::ec_p256("k");
    let issuer = TestIssuer::start(vec![key.clone()]).await.unwrap();
    let validator = ready(config(&issuer)).await;
    let cases = [
        (
            json!({"tenant": "acme"}),
            json!({"tenant": "acme"}),
            json!({"tenant": "evil"}),
        ),
        (
            json!({"tenant": ["acme", "globex"]}),
            json!({"tenant": "globex"}),
            json!({"tenant": "initech"}),
        ),
        (
            json!({"groups": "mcp"}),
            json!({"groups": ["dev", "mcp"]}),
            json!({"groups": ["dev"]}),
        ),
        (
            json!({"scope": "tools:call"}),
            json!({"scope": "openid tools:call"}),
            json!({"scope": "openid"}),
        ),
        (
            json!({"scp": ["tools.read", "tools.all"]}),
            json!({"scp": ["x", "tools.all"]}),
            json!({"scp": ["x"]}),
        ),
        (
            json!({"level": 3}),
            json!({"level": 3}),
            json!({"level": 2}),
        ),
        (
            json!({"email_verified": true}),
            json!({"email_verified": true}),
            json!({"email_verified": false}),
        ),
        (
            json!({"realm_access.roles": "mcp-user"}),
            json!({"realm_access": {"roles": ["offline", "mcp-user"]}}),
            json!({"realm_access": {"roles": ["offline"]}}),
        ),
    ];
    for (rule, pass, fail) in cases {
        let extra = rules(rule.clone());
        let claim = rule.as_object().unwrap().keys().next().unwrap().clone();
        let ok = validator
            .validate(&token(&issuer, &key, pass.clone()), None, &extra)
            .await;
        assert!(ok.is_ok(), "{rule} should accept {pass}: {ok:?}");
        let err = validator
            .validate(&token(&issuer, &key, fail.clone()), None, &extra)
            .await;
        assert_eq!(
            err.unwrap_err(),
            AuthError::Claims {
                claim: claim.clone(),
                problem: ClaimProblem::Mismatch
            },
            "{rule} should refuse {fail}"
        );
        // Per-call rules are required: an absent claim fails.
        let err = validator
            .validate(&token(&issuer, &key, json!({})), None, &extra)
            .await;
        assert_eq!(
            err.unwrap_err(),
            AuthError::Claims {
                claim,
                problem: ClaimProblem::Missing
            },
            "{rule} with the claim absent"
        );
    }
}

#[tokio::test]
async fn global_required_and_optional_rules() {
    let key = SigningKey::ec_p256("k");
    let issuer = TestIssuer::start(vec![key.clone()]).await.unwrap();
    let validator = ready(ValidatorConfig {
        required_claims: rules(json!({"realm_access.roles": ["mcp", "admin"]})),
        optional_claims: rules(json!({"tenant": "acme", "email_verified": true})),
        ..config(&issuer)
    })
    .await;
    let check = |extra: Value| {
        let validator = validator.clone();
        let token = token(&issuer, &key, extra);
        async move {
            validator
                .validate(&token, None, &no_rules())
                .await
                .map(|_| ())
        }
    };
    let roles = json!({"roles": ["mcp"]});
    // Required present and matching; optional absent.
    assert_eq!(check(json!({"realm_access": roles})).await, Ok(()));
    // Optional present and matching.
    assert_eq!(
        check(json!({"realm_access": roles, "tenant": "acme", "email_verified": true})).await,
        Ok(())
    );
    // Optional present and not matching.
    assert_eq!(
        check(json!({"realm_access": roles, "tenant": "evil"})).await,
        Err(AuthError::Claims {
            claim: "tenant".into(),
            problem: ClaimProblem::Mismatch
        })
    );
    assert_eq!(
        check(json!({"realm_access": roles, "email_verified": false})).await,
        Err(AuthError::Claims {
            claim: "email_verified".into(),
            problem: ClaimProblem::Mismatch
        })
    );
    // Required absent, or present and not matching.
    assert_eq!(
        check(json!({"tenant": "acme"})).await,
        Err(AuthError::Claims {
            claim: "realm_access.roles".into(),
            problem: ClaimProblem::Missing
        })
    );
    assert_eq!(
        check(json!({"realm_access": {"roles": ["guest"]}})).await,
        Err(AuthError::Claims {
            claim: "realm_access.roles".into(),
            problem: ClaimProblem::Mismatch
        })
    );
}

#[tokio::test]
async fn required_scopes_produce_insufficient_scope() {
    let key = SigningKey::ec_p256("k");
    let issuer = TestIssuer::start(vec![key.clone()]).await.unwrap();
    let validator = ready(config(&issuer)).await;
    let needs = ClaimRules::new().require_scopes(["tools:read", "tools:call"]);
    let check = |extra: Value| {
        let validator = validator.clone();
        let needs = needs.clone();
        let token = token(&issuer, &key, extra);
        async move {
            validator
                .validate(&token, None, &needs)
                .await
                .map(|p| p.scopes)
        }
    };
    assert_eq!(
        check(json!({"scope": "tools:call openid tools:read"})).await,
        Ok(vec![
            "tools:call".into(),
            "openid".into(),
            "tools:read".into()
        ])
    );
    assert_eq!(
        check(json!({"scp": ["tools:read", "tools:call"]})).await,
        Ok(vec!["tools:read".into(), "tools:call".into()])
    );
    let insufficient = Err(AuthError::InsufficientScope {
        needed: vec!["tools:read".into(), "tools:call".into()],
    });
    assert_eq!(check(json!({"scope": "tools:read"})).await, insufficient);
    assert_eq!(check(json!({})).await, insufficient);
    // Scopes and value rules combine.
    let both = needs
        .clone()
        .with("tenant", ClaimRule::one("acme").unwrap())
        .unwrap();
    let token = token(
        &issuer,
        &key,
        json!({"scope": "tools:read tools:call", "tenant": "x"}),
    );
    assert_eq!(
        validator.validate(&token, None, &both).await.unwrap_err(),
        AuthError::Claims {
            claim: "tenant".into(),
            problem: ClaimProblem::Mismatch
        }
    );
}
