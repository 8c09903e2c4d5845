//! Unit tests for JWK parsing and key selection, with keys from the test issuer.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use smcp_test_support::issuer::SigningKey;

use super::{JwksProblem, KeySet, Selection};

fn parse(keys: Vec<Value>) -> Result<KeySet, JwksProblem> {
    KeySet::parse(json!({ "keys": keys }).to_string().as_bytes())
}

fn algs(set: &KeySet, kid: &str) -> Vec<Algorithm> {
    set.keys
        .iter()
        .find(|k| k.kid.as_deref() == Some(kid))
        .unwrap()
        .algorithms
        .clone()
}

#[test]
fn algorithms_come_from_the_jwk() {
    let rsa = SigningKey::rsa("rsa");
    let set = parse(vec![
        rsa.jwk(),
        rsa.with_kid("rsa-any").without_published_alg().jwk(),
        rsa.with_kid("rsa-pss").with_alg("PS256").jwk(),
        SigningKey::ec_p256("ec").jwk(),
        SigningKey::ed25519("ed").jwk(),
    ])
    .unwrap();
    assert_eq!(set.len(), 5);
    assert_eq!(algs(&set, "rsa"), vec![Algorithm::RS256]);
    assert_eq!(algs(&set, "rsa-any").len(), 6);
    assert_eq!(algs(&set, "rsa-pss"), vec![Algorithm::PS256]);
    assert_eq!(algs(&set, "ec"), vec![Algorithm::ES256]);
    assert_eq!(algs(&set, "ed"), vec![Algorithm::EdDSA]);
    // The same material under two kids has one thumbprint.
    let thumb = |kid: &str| {
        set.keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .unwrap()
            .thumb
    };
    assert_eq!(thumb("rsa"), thumb("rsa-any"));
    assert_ne!(thumb("rsa"), thumb("ec"));
}

#[test]
fn unusable_keys_are_skipped() {
    let ec = SigningKey::ec_p256("ec");
    let mut enc = ec.with_kid("enc").jwk();
    enc["use"] = json!("enc");
    let mut ops = ec.with_kid("ops").jwk();
    ops["key_ops"] = json!(["sign"]);
    let mut wrong_alg = ec.with_kid("wrong").jwk();
    wrong_alg["alg"] = json!("RS256");
    let mut p521 = ec.with_kid("p521").jwk();
    p521["crv"] = json!("P-521");
    let mut short = ec.with_kid("short").jwk();
    short["x"] = json!("AAAA");
    let small_rsa = json!({"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"});
    let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
    let set = parse(vec![
        enc,
        ops,
        wrong_alg,
        p521,
        short,
        small_rsa,
        oct,
        json!("x"),
        ec.jwk(),
    ])
    .unwrap();
    assert_eq!(set.len(), 1);
    assert!(matches!(
        set.select(Some("hmac"), Algorithm::ES256),
        Selection::NotFound
    ));
}

#[test]
fn whole_document_problems() {
    assert_eq!(KeySet::parse(b"not json").err(), Some(JwksProblem::Invalid));
    assert_eq!(
        KeySet::parse(b"{\"nokeys\":[]}").err(),
        Some(JwksProblem::Invalid)
    );
    assert_eq!(parse(vec![]).err(), Some(JwksProblem::NoUsableKeys));
    let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
    assert_eq!(parse(vec![oct]).err(), Some(JwksProblem::NoUsableKeys));
}

#[test]
fn selection() {
    let a = SigningKey::ec_p256("a");
    let b = SigningKey::ed25519("b");
    let set = parse(vec![a.jwk(), b.jwk()]).unwrap();
    assert!(matches!(
        set.select(Some("a"), Algorithm::ES256),
        Selection::Found(_)
    ));
    assert!(matches!(
        set.select(Some("a"), Algorithm::RS256),
        Selection::AlgorithmNotAllowed
    ));
    assert!(matches!(
        set.select(Some("c"), Algorithm::ES256),
        Selection::NotFound
    ));
    assert!(matches!(
        set.select(None, Algorithm::ES256),
        Selection::Ambiguous
    ));
    let single = parse(vec![a.jwk()]).unwrap();
    assert!(matches!(
        single.select(None, Algorithm::ES256),
        Selection::Found(_)
    ));
    assert!(matches!(
        single.select(None, Algorithm::EdDSA),
        Selection::AlgorithmNotAllowed
    ));
}
