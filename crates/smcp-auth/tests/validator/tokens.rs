//! Token-level checks: algorithms, times, issuer, audience, key choice and forgeries.

use serde_json::json;
use smcp_auth::{AuthError, IssuerConfig, Validator};
use smcp_test_support::issuer::{
    SigningKey, mint, mint_hmac, mint_unsigned, mint_with_header, unix_now,
};

use crate::common::{AUD, config, no_rules, ready, setup};

#[tokio::test]
async fn rs256_ps256_es256_eddsa_are_accepted() {
    let rsa = SigningKey::rsa("rsa");
    let pss = SigningKey::rsa("pss").with_alg("PS256");
    let ec = SigningKey::ec_p256("ec");
    let ed = SigningKey::ed25519("ed");
    let (issuer, validator) = setup(&[rsa.clone(), pss.clone(), ec.clone(), ed.clone()]).await;
    for key in [&rsa, &pss, &ec, &ed] {
        let mut claims = issuer.claims("alice", AUD);
        claims["email"] = json!("alice@example.com");
        claims["scope"] = json!("openid mcp:tools");
        let token = mint(key, &claims);
        let principal = validator.validate(&token, None, &no_rules()).await.unwrap();
        assert_eq!(principal.issuer, issuer.issuer(), "{}", key.alg());
        assert_eq!(principal.subject, "alice");
        assert_eq!(principal.email.as_deref(), Some("alice@example.com"));
        assert_eq!(principal.scopes, vec!["openid", "mcp:tools"]);
        assert_eq!(principal.key(), format!("{}|alice", issuer.issuer()));
        assert_eq!(principal.claims["aud"], json!(AUD));
    }
}

/// Tokens made by jsonwebtoken itself (its encoder, the crate's aws-lc backend) verify too:
/// a feature-unification mistake in the crypto backend would fail here.
#[tokio::test]
async fn tokens_from_jsonwebtoken_encode_are_accepted() {
    let rsa = SigningKey::rsa("rsa").without_published_alg();
    let ec = SigningKey::ec_p256("ec");
    let ed = SigningKey::ed25519("ed");
    let (issuer, validator) = setup(&[rsa.clone(), ec.clone(), ed.clone()]).await;
    let cases = [
        (&rsa, jsonwebtoken::Algorithm::RS256),
        (&rsa, jsonwebtoken::Algorithm::PS512),
        (&ec, jsonwebtoken::Algorithm::ES256),
        (&ed, jsonwebtoken::Algorithm::EdDSA),
    ];
    for (key, alg) in cases {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some(key.kid().to_owned());
        let claims = issuer.claims("bob", AUD);
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding_key()).unwrap();
        let principal = validator.validate(&token, None, &no_rules()).await.unwrap();
        assert_eq!(principal.subject, "bob", "{alg:?}");
    }
}

#[tokio::test]
async fn expiry_not_before_and_leeway() {
    let key = SigningKey::ec_p256("k");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    let now = unix_now();
    let with = |field: &str, value: u64| {
        let mut claims = issuer.claims("alice", AUD);
        claims[field] = json!(value);
        mint(&key, &claims)
    };
    let check = |token: String| {
        let validator = validator.clone();
        async move {
            validator
                .validate(&token, None, &no_rules())
                .await
                .map(|_| ())
        }
    };
    // Default leeway is 60 s, with minutes of margin on either side of it.
    assert_eq!(check(with("exp", now - 300)).await, Err(AuthError::Expired));
    assert_eq!(check(with("exp", now - 20)).await, Ok(()));
    assert_eq!(
        check(with("nbf", now + 300)).await,
        Err(AuthError::NotYetValid)
    );
    assert_eq!(check(with("nbf", now + 20)).await, Ok(()));
    assert_eq!(check(with("nbf", now - 20)).await, Ok(()));

    // Zero leeway rejects what the default accepted.
    let strict = ready(smcp_auth::ValidatorConfig {
        leeway: std::time::Duration::ZERO,
        ..config(&issuer)
    })
    .await;
    let expired = with("exp", now - 20);
    assert_eq!(
        strict
            .validate(&expired, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::Expired
    );
    let early = with("nbf", now + 20);
    assert_eq!(
        strict
            .validate(&early, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::NotYetValid
    );
}

#[tokio::test]
async fn missing_exp_or_sub_is_malformed() {
    let key = SigningKey::ec_p256("k");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    for field in ["exp", "sub"] {
        let mut claims = issuer.claims("alice", AUD);
        claims.as_object_mut().unwrap().remove(field);
        let err = validator
            .validate(&mint(&key, &claims), None, &no_rules())
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::Malformed, "{field}");
    }
}

#[tokio::test]
async fn unknown_issuer_is_refused_without_any_fetch() {
    let key = SigningKey::ec_p256("k");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    let fetches = issuer.jwks_fetches();
    for iss in ["https://evil.example", &format!("{}/", issuer.issuer()), ""] {
        let mut claims = issuer.claims("alice", AUD);
        claims["iss"] = json!(iss);
        let err = validator
            .validate(&mint(&key, &claims), None, &no_rules())
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::WrongIssuer, "{iss}");
    }
    let mut claims = issuer.claims("alice", AUD);
    claims.as_object_mut().unwrap().remove("iss");
    let err = validator
        .validate(&mint(&key, &claims), None, &no_rules())
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::WrongIssuer);
    assert_eq!(issuer.jwks_fetches(), fetches);
}

#[tokio::test]
async fn audience_rules() {
    let key = SigningKey::ec_p256("k");
    let issuer = smcp_test_support::issuer::TestIssuer::start(vec![key.clone()])
        .await
        .unwrap();
    let mut cfg = config(&issuer);
    cfg.issuers[0].audiences = vec!["issuer-specific".into()];
    let validator = ready(cfg).await;
    let resource = "http://127.0.0.1:9/v1/memory";
    let token = |aud: serde_json::Value| {
        let mut claims = issuer.claims("alice", AUD);
        claims["aud"] = aud;
        mint(&key, &claims)
    };
    let ok = |t: String, r: Option<&'static str>| {
        let validator = validator.clone();
        async move { validator.validate(&t, r, &no_rules()).await.map(|_| ()) }
    };
    assert_eq!(ok(token(json!(AUD)), None).await, Ok(()));
    assert_eq!(ok(token(json!(["other", AUD])), None).await, Ok(()));
    assert_eq!(ok(token(json!("issuer-specific")), None).await, Ok(()));
    assert_eq!(
        ok(token(json!("other")), None).await,
        Err(AuthError::WrongAudience)
    );
    assert_eq!(
        ok(token(json!(["a", "b"])), Some(resource)).await,
        Err(AuthError::WrongAudience)
    );
    assert_eq!(
        ok(token(json!([])), None).await,
        Err(AuthError::WrongAudience)
    );
    // RFC 8707: a token issued for the called resource is accepted for that resource only.
    assert_eq!(ok(token(json!(resource)), Some(resource)).await, Ok(()));
    assert_eq!(
        ok(token(json!(["x", resource])), Some(resource)).await,
        Ok(())
    );
    assert_eq!(
        ok(token(json!(resource)), None).await,
        Err(AuthError::WrongAudience)
    );
    assert_eq!(
        ok(token(json!(resource)), Some("http://127.0.0.1:9/v1/other")).await,
        Err(AuthError::WrongAudience)
    );
    let mut claims = issuer.claims("alice", AUD);
    claims.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        ok(mint(&key, &claims), None).await,
        Err(AuthError::WrongAudience)
    );
}

#[tokio::test]
async fn issuer_audiences_do_not_leak_to_other_issuers() {
    let key_a = SigningKey::ec_p256("a");
    let key_b = SigningKey::ec_p256("b");
    let a = smcp_test_support::issuer::TestIssuer::start(vec![key_a.clone()])
        .await
        .unwrap();
    let b = smcp_test_support::issuer::TestIssuer::start(vec![key_b.clone()])
        .await
        .unwrap();
    let mut issuer_a = IssuerConfig::new(a.issuer());
    issuer_a.audiences = vec!["only-a".into()];
    let validator = ready(smcp_auth::ValidatorConfig {
        issuers: vec![issuer_a, IssuerConfig::new(b.issuer())],
        ..smcp_auth::ValidatorConfig::default()
    })
    .await;
    let token_a = mint(&key_a, &a.claims("alice", "only-a"));
    let token_b = mint(&key_b, &b.claims("bob", "only-a"));
    assert!(
        validator
            .validate(&token_a, None, &no_rules())
            .await
            .is_ok()
    );
    let err = validator
        .validate(&token_b, None, &no_rules())
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::WrongAudience);
    // A key of issuer B does not verify a token claiming issuer A.
    let forged = mint(&key_b.with_kid("a"), &a.claims("mallory", "only-a"));
    let err = validator
        .validate(&forged, None, &no_rules())
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::BadSignature);
}

#[tokio::test]
async fn kid_rules() {
    let one = SigningKey::ec_p256("one");
    let two = SigningKey::ed25519("two");
    let (issuer, validator) = setup(&[one.clone(), two.clone()]).await;
    let claims = issuer.claims("alice", AUD);
    // Several keys and no kid: the token cannot pick one by trial.
    let no_kid = mint_with_header(&one, &json!({"alg": "ES256"}), &claims);
    assert_eq!(
        validator
            .validate(&no_kid, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::UnknownKey
    );
    let unknown = mint(&one.with_kid("three"), &claims);
    assert_eq!(
        validator
            .validate(&unknown, None, &no_rules())
            .await
            .unwrap_err(),
        AuthError::UnknownKey
    );

    // Exactly one key: a token without kid is fine.
    let (single_issuer, single) = setup(std::slice::from_ref(&one)).await;
    let claims = single_issuer.claims("alice", AUD);
    let no_kid = mint_with_header(&one, &json!({"alg": "ES256", "typ": "JWT"}), &claims);
    assert!(single.validate(&no_kid, None, &no_rules()).await.is_ok());
}

#[tokio::test]
async fn forgeries_are_rejected() {
    let rsa = SigningKey::rsa("rsa");
    let ec = SigningKey::ec_p256("ec");
    let (issuer, validator) = setup(&[rsa.clone(), ec.clone()]).await;
    let claims = issuer.claims("mallory", AUD);
    let reject = |token: String| {
        let validator = validator.clone();
        async move {
            validator
                .validate(&token, None, &no_rules())
                .await
                .unwrap_err()
        }
    };

    // A foreign key under a known kid.
    let foreign = SigningKey::rsa("rsa");
    assert_eq!(
        reject(mint(&foreign, &claims)).await,
        AuthError::BadSignature
    );
    let foreign_ec = SigningKey::ec_p256("ec");
    assert_eq!(
        reject(mint(&foreign_ec, &claims)).await,
        AuthError::BadSignature
    );

    // alg none, with and without a known kid.
    for header in [json!({"alg": "none"}), json!({"alg": "none", "kid": "rsa"})] {
        assert_eq!(
            reject(mint_unsigned(&header, &claims)).await,
            AuthError::AlgorithmNotAllowed
        );
    }

    // HS256 keyed with the RSA public key (PEM, DER and the JWK modulus bytes).
    let header = json!({"alg": "HS256", "kid": "rsa", "typ": "JWT"});
    let n = rsa.jwk()["n"].as_str().unwrap().to_owned();
    for secret in [
        rsa.public_key_pem().into_bytes(),
        rsa.public_key_der(),
        n.into_bytes(),
    ] {
        let token = mint_hmac(&secret, &header, &claims);
        assert_eq!(reject(token).await, AuthError::AlgorithmNotAllowed);
    }
    for alg in ["HS384", "HS512"] {
        let token = mint_hmac(b"secret", &json!({"alg": alg, "kid": "rsa"}), &claims);
        assert_eq!(reject(token).await, AuthError::AlgorithmNotAllowed);
    }

    // The header names an algorithm the key does not allow: PS256 against an RS256 JWK,
    // ES256 against an RSA kid, RS256 against an EC kid.
    let pss = mint_with_header(&rsa, &json!({"alg": "PS256", "kid": "rsa"}), &claims);
    assert_eq!(reject(pss).await, AuthError::AlgorithmNotAllowed);
    let ec_as_rsa = mint_with_header(&ec, &json!({"alg": "ES256", "kid": "rsa"}), &claims);
    assert_eq!(reject(ec_as_rsa).await, AuthError::AlgorithmNotAllowed);
    let rsa_as_ec = mint_with_header(&rsa, &json!({"alg": "RS256", "kid": "ec"}), &claims);
    assert_eq!(reject(rsa_as_ec).await, AuthError::AlgorithmNotAllowed);

    // Claims changed after signing.
    let good = mint(&ec, &claims);
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!("admin");
    let tampered_payload = mint_unsigned(&json!({}), &tampered_claims);
    let tampered_payload = tampered_payload.split('.').nth(1).unwrap();
    let tampered = format!("{}.{}.{}", parts[0], tampered_payload, parts[2]);
    assert_eq!(reject(tampered).await, AuthError::BadSignature);
}

#[tokio::test]
async fn garbage_truncated_and_huge_tokens() {
    let key = SigningKey::ec_p256("k");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    let good = mint(&key, &issuer.claims("alice", AUD));
    let reject = |token: String| {
        let validator = validator.clone();
        async move {
            validator
                .validate(&token, None, &no_rules())
                .await
                .unwrap_err()
        }
    };
    assert_eq!(reject(String::new()).await, AuthError::Missing);
    assert_eq!(reject("   ".into()).await, AuthError::Missing);
    for garbage in [
        "garbage",
        "a.b.c",
        "...",
        "Bearer x.y.z",
        "\u{1F600}.\u{1F600}.\u{1F600}",
    ] {
        assert_eq!(
            reject(garbage.into()).await,
            AuthError::Malformed,
            "{garbage}"
        );
    }
    // Cut inside the signature, keeping whole base64 quanta: three parts, bad signature.
    let signature_len = good.len() - good.rfind('.').unwrap() - 1;
    let cut = good.len() - (signature_len % 4 + 4);
    assert_eq!(
        reject(good[..cut].to_owned()).await,
        AuthError::BadSignature
    );
    // Cut before the signature, or inside the payload.
    let two_parts = good.rsplit_once('.').unwrap().0.to_owned();
    assert_eq!(reject(two_parts.clone()).await, AuthError::Malformed);
    assert_eq!(reject(format!("{two_parts}.")).await, AuthError::Malformed);
    let first_dot = good.find('.').unwrap();
    assert_eq!(
        reject(good[..first_dot + 10].to_owned()).await,
        AuthError::Malformed
    );
    // 100 KB: refused before any decoding, whatever its shape.
    let huge_claims = {
        let mut claims = issuer.claims("alice", AUD);
        claims["pad"] = json!("x".repeat(100 * 1024));
        claims
    };
    assert_eq!(reject(mint(&key, &huge_claims)).await, AuthError::Malformed);
    assert_eq!(reject("a".repeat(100 * 1024)).await, AuthError::Malformed);
    // The good token still works after all that.
    assert!(validator.validate(&good, None, &no_rules()).await.is_ok());
}

#[tokio::test]
async fn validator_is_cheap_to_clone_and_reports_issuers() {
    let key = SigningKey::ec_p256("k");
    let (issuer, validator) = setup(std::slice::from_ref(&key)).await;
    let clone: Validator = validator.clone();
    assert_eq!(clone.issuers().collect::<Vec<_>>(), vec![issuer.issuer()]);
    let token = mint(&key, &issuer.claims("alice", AUD));
    assert!(clone.validate(&token, None, &no_rules()).await.is_ok());
    assert_eq!(validator.cached_tokens(), 1);
}
