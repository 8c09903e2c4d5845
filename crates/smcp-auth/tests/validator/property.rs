//! Property tests: hostile tokens. A stranger controls every byte of the bearer token, so the
//! validator is fed many generated ones: arbitrary strings, JWT-shaped strings with any header
//! (`alg: none`, HMAC, unknown algorithms, junk `kid`s) and random signatures, and a valid token
//! with any one character changed. None may be accepted (or panic); a changed token may only
//! pass when every segment still decodes to the same bytes (base64url spelling the same value).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::json;
use smcp_auth::Validator;
use smcp_test_support::issuer::{SigningKey, TestIssuer, mint};

use crate::common::{AUD, no_rules, setup};

/// A current-thread runtime with a ready validator trusting a fresh EC issuer, and one valid
/// token of that issuer. The issuer is served by the same runtime, so `block_on` drives it.
fn fixture() -> (tokio::runtime::Runtime, TestIssuer, Validator, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = SigningKey::ec_p256("k1");
    let (issuer, validator) = runtime.block_on(setup(std::slice::from_ref(&key)));
    let token = mint(&key, &issuer.claims("alice", AUD));
    let accepted = runtime.block_on(validator.validate(&token, None, &no_rules()));
    assert!(
        accepted.is_ok(),
        "the unmodified token is valid: {accepted:?}"
    );
    (runtime, issuer, validator, token)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

/// Each dot-separated segment decoded (a segment that does not decode stays as text).
fn decoded_segments(token: &str) -> Vec<Result<Vec<u8>, String>> {
    token
        .split('.')
        .map(|segment| {
            URL_SAFE_NO_PAD
                .decode(segment)
                .map_err(|_| segment.to_owned())
        })
        .collect()
}

#[test]
fn a_valid_token_with_any_one_character_changed_is_refused() {
    let (runtime, _issuer, validator, token) = fixture();
    let bytes = token.as_bytes().to_vec();
    runner(3000)
        .run(&(0..bytes.len(), 0x21u8..0x7f), |(at, byte)| {
            prop_assume!(bytes[at] != byte);
            let mut changed = bytes.clone();
            changed[at] = byte;
            let changed = String::from_utf8(changed).unwrap();
            let result = runtime.block_on(validator.validate(&changed, None, &no_rules()));
            if result.is_ok() {
                prop_assert_eq!(
                    decoded_segments(&changed),
                    decoded_segments(&token),
                    "a changed token was accepted: {}",
                    changed
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_strings_are_refused() {
    let (runtime, _issuer, validator, _token) = fixture();
    runner(2000)
        .run(&any::<String>(), |text| {
            let result = runtime.block_on(validator.validate(&text, None, &no_rules()));
            prop_assert!(result.is_err(), "accepted {:?}", text);
            Ok(())
        })
        .unwrap();
}

#[test]
fn jwt_shaped_forgeries_are_refused() {
    let (runtime, issuer, validator, _token) = fixture();
    let claims = issuer.claims("mallory", AUD);
    let algs = prop_oneof![
        Just("none".to_owned()),
        Just("None".to_owned()),
        Just("HS256".to_owned()),
        Just("HS512".to_owned()),
        Just("ES256".to_owned()),
        Just("RS256".to_owned()),
        Just("EdDSA".to_owned()),
        "[A-Za-z0-9]{0,12}",
    ];
    let kids = prop_oneof![Just("k1".to_owned()), "[ -~]{0,24}"];
    let strategy = (algs, kids, proptest::collection::vec(any::<u8>(), 0..300));
    runner(1500)
        .run(&strategy, |(alg, kid, signature)| {
            let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
            let encode = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
            let forged = format!(
                "{}.{}.{}",
                encode(&header),
                encode(&claims),
                URL_SAFE_NO_PAD.encode(&signature)
            );
            let result = runtime.block_on(validator.validate(&forged, None, &no_rules()));
            prop_assert!(result.is_err(), "accepted a forgery with alg {:?}", alg);
            Ok(())
        })
        .unwrap();
}
