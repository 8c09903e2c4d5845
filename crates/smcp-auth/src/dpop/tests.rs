//! Proof checks one by one (each refusal has its own cause), the replay cache's bound and
//! expiry (paused clock), token binding, and the RFC 7638 thumbprint test vector.

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use super::{
    DpopConfig, DpopError, DpopVerifier, ProofInput, access_token_hash, check_binding, thumbprint,
};
use crate::token_source::DpopKey;

const NOW: u64 = 1_800_000_000;
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";

fn url() -> Url {
    Url::parse("https://mcp.example.com/v1/memory").unwrap()
}

fn claims(key_jti: &str) -> Value {
    json!({
        "jti": key_jti,
        "htm": "POST",
        "htu": "https://mcp.example.com/v1/memory",
        "iat": NOW,
        "ath": access_token_hash(TOKEN),
    })
}

fn header(key: &DpopKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk()})
}

fn check(verifier: &DpopVerifier, proof: &str) -> Result<String, DpopError> {
    verifier.verify_at(
        &ProofInput {
            proof,
            method: "POST",
            url: &url(),
            access_token: TOKEN,
        },
        NOW,
    )
}

#[tokio::test]
async fn a_good_proof_is_accepted_once() {
    let key = DpopKey::generate().unwrap();
    let verifier = DpopVerifier::new(DpopConfig::default());
    let proof = key.sign(&header(&key), &claims("one"));
    assert_eq!(check(&verifier, &proof).as_deref(), Ok(key.thumbprint()));
    assert_eq!(check(&verifier, &proof), Err(DpopError::Replayed));
    // What DpopKey::proof makes itself verifies too (against the wall clock).
    let fresh = key.proof(
        "GET",
        &Url::parse("https://MCP.example.com:443/v1/memory?x=1").unwrap(),
        Some(TOKEN),
        None,
    );
    let result = verifier.verify(&ProofInput {
        proof: &fresh,
        method: "GET",
        url: &url(),
        access_token: TOKEN,
    });
    assert_eq!(result.as_deref(), Ok(key.thumbprint()));
}

#[tokio::test]
async fn each_mismatch_is_refused_for_its_own_reason() {
    let key = DpopKey::generate().unwrap();
    let other = DpopKey::generate().unwrap();
    let verifier = DpopVerifier::new(DpopConfig::default());
    let with = |change: &dyn Fn(&mut Value, &mut Value)| {
        let mut h = header(&key);
        let mut c = claims(&format!("jti-{}", rand_suffix()));
        change(&mut h, &mut c);
        key.sign(&h, &c)
    };
    let cases: Vec<(String, DpopError)> = vec![
        (with(&|_, c| c["htm"] = json!("GET")), DpopError::Method),
        (
            with(&|_, c| c["htu"] = json!("https://mcp.example.com/v1/other")),
            DpopError::Url,
        ),
        (
            with(&|_, c| c["htu"] = json!("http://mcp.example.com/v1/memory")),
            DpopError::Url,
        ),
        (
            with(&|_, c| c["htu"] = json!("https://mcp.example.com:8443/v1/memory")),
            DpopError::Url,
        ),
        (with(&|_, c| c["iat"] = json!(NOW - 61)), DpopError::Time),
        (with(&|_, c| c["iat"] = json!(NOW + 6)), DpopError::Time),
        (
            with(&|_, c| c["ath"] = json!(access_token_hash("another token"))),
            DpopError::TokenHash,
        ),
        (
            with(&|_, c| {
                c.as_object_mut().unwrap().remove("ath");
            }),
            DpopError::TokenHash,
        ),
        (
            with(&|_, c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            DpopError::Malformed("jti"),
        ),
        (
            with(&|_, c| c["iat"] = json!("now")),
            DpopError::Malformed("iat"),
        ),
        (with(&|h, _| h["typ"] = json!("JWT")), DpopError::Type),
        (
            with(&|h, _| h["alg"] = json!("HS256")),
            DpopError::Algorithm,
        ),
        (with(&|h, _| h["alg"] = json!("none")), DpopError::Algorithm),
        (
            with(&|h, _| h["alg"] = json!("ES384")),
            DpopError::Key("the key does not fit the algorithm"),
        ),
        (
            with(&|h, _| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
            DpopError::Key("no jwk in the header"),
        ),
        (
            with(&|h, _| h["jwk"]["d"] = json!("c2VjcmV0")),
            DpopError::Key("the jwk is a private key"),
        ),
        // Signed by one key, naming another: the signature does not verify.
        (
            with(&|h, _| h["jwk"] = other.public_jwk().clone()),
            DpopError::Signature,
        ),
        ("a.b".to_owned(), DpopError::Malformed("not a compact JWS")),
        (
            "!!.e30.e30".to_owned(),
            DpopError::Malformed("not base64url"),
        ),
        ("x".repeat(9000), DpopError::Malformed("too long")),
    ];
    for (proof, want) in cases {
        assert_eq!(check(&verifier, &proof), Err(want.clone()), "{want:?}");
    }
    // A tampered claim breaks the signature.
    let good = key.sign(&header(&key), &claims("tamper"));
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        claims("tampered").to_string(),
    );
    parts[1] = &forged;
    assert_eq!(
        check(&verifier, &parts.join(".")),
        Err(DpopError::Signature)
    );
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test(start_paused = true)]
async fn the_replay_cache_is_bounded_and_forgets_after_the_window() {
    let key = DpopKey::generate().unwrap();
    let verifier = DpopVerifier::new(DpopConfig {
        replay_capacity: 2,
        ..DpopConfig::default()
    });
    let proof = |jti: &str| key.sign(&header(&key), &claims(jti));
    assert!(check(&verifier, &proof("a")).is_ok());
    assert!(check(&verifier, &proof("b")).is_ok());
    assert_eq!(
        check(&verifier, &proof("c")),
        Err(DpopError::ReplayCacheFull)
    );
    assert!(DpopError::ReplayCacheFull.is_unavailable());
    // After the window (60 s + 5 s skew + 1 s) the entries expire and make room.
    tokio::time::advance(Duration::from_secs(67)).await;
    assert!(check(&verifier, &proof("c")).is_ok());
}

#[test]
fn token_binding() {
    let bound = json!({"cnf": {"jkt": "abc"}});
    let unbound = json!({"sub": "x"});
    let map = |v: &Value| v.as_object().unwrap().clone();
    assert_eq!(check_binding(&map(&bound), Some("abc")), Ok(()));
    assert_eq!(check_binding(&map(&unbound), None), Ok(()));
    assert_eq!(
        check_binding(&map(&bound), Some("xyz")),
        Err(DpopError::KeyMismatch)
    );
    assert_eq!(
        check_binding(&map(&bound), None),
        Err(DpopError::BoundTokenAsBearer)
    );
    assert_eq!(
        check_binding(&map(&unbound), Some("abc")),
        Err(DpopError::UnboundToken)
    );
}

#[test]
fn rfc_7638_thumbprint_test_vector() {
    // RFC 7638 §3.1.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        thumbprint(jwk.as_object().unwrap()).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    let key = DpopKey::generate().unwrap();
    assert_eq!(
        thumbprint(key.public_jwk().as_object().unwrap()).as_deref(),
        Some(key.thumbprint())
    );
}

#[tokio::test]
async fn rsa_and_eddsa_proofs_verify_too() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use smcp_test_support::issuer::SigningKey;

    let verifier = DpopVerifier::new(DpopConfig::default());
    for (key, alg) in [
        (SigningKey::rsa("r"), jsonwebtoken::Algorithm::RS256),
        (SigningKey::rsa("p"), jsonwebtoken::Algorithm::PS256),
        (SigningKey::ed25519("e"), jsonwebtoken::Algorithm::EdDSA),
    ] {
        let mut jwk_object = key.jwk().as_object().unwrap().clone();
        for member in ["kid", "use", "alg"] {
            jwk_object.remove(member);
        }
        let jwk = Value::Object(jwk_object.clone());
        let header = json!({"typ": "dpop+jwt", "alg": format!("{alg:?}"), "jwk": jwk});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims(&format!("{alg:?}")).to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding_key(), alg).unwrap();
        let proof = format!("{input}.{signature}");
        assert_eq!(
            check(&verifier, &proof).as_deref(),
            Ok(thumbprint(&jwk_object).unwrap().as_str()),
            "{alg:?}"
        );
        let tampered = format!("{input}x.{signature}");
        assert_eq!(
            check(&verifier, &tampered),
            Err(DpopError::Signature),
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn server_nonces_are_demanded_and_expire() {
    let key = DpopKey::generate().unwrap();
    let verifier = DpopVerifier::new(DpopConfig {
        nonces: true,
        ..DpopConfig::default()
    });
    let other = DpopVerifier::new(DpopConfig {
        nonces: true,
        ..DpopConfig::default()
    });
    assert!(verifier.nonce().is_some());
    let window = super::window_of(NOW);
    let with_nonce = |jti: &str, nonce: Option<String>| {
        let mut c = claims(jti);
        if let Some(nonce) = nonce {
            c["nonce"] = json!(nonce);
        }
        key.sign(&header(&key), &c)
    };
    assert_eq!(
        check(&verifier, &with_nonce("n0", None)),
        Err(DpopError::UseNonce)
    );
    assert_eq!(DpopError::UseNonce.oauth_error(), "use_dpop_nonce");
    let current = verifier.nonce_for(window);
    assert!(check(&verifier, &with_nonce("n1", Some(current))).is_ok());
    // The window before is still good; two before, or another verifier's, are not.
    assert!(
        check(
            &verifier,
            &with_nonce("n2", Some(verifier.nonce_for(window - 1)))
        )
        .is_ok()
    );
    assert_eq!(
        check(
            &verifier,
            &with_nonce("n3", Some(verifier.nonce_for(window - 2)))
        ),
        Err(DpopError::UseNonce)
    );
    assert_eq!(
        check(&verifier, &with_nonce("n4", Some(other.nonce_for(window)))),
        Err(DpopError::UseNonce)
    );
    assert_eq!(
        check(&verifier, &with_nonce("n5", Some("garbage".into()))),
        Err(DpopError::UseNonce)
    );
    // Without nonces on, a nonce in the proof is ignored.
    let plain = DpopVerifier::new(DpopConfig::default());
    assert!(plain.nonce().is_none());
    assert!(check(&plain, &with_nonce("n6", Some("anything".into()))).is_ok());
}

#[tokio::test]
async fn an_eddsa_client_key_makes_proofs_the_server_accepts() {
    let key = DpopKey::generate_with(crate::token_source::DpopAlgorithm::EdDsa).unwrap();
    let verifier = DpopVerifier::new(DpopConfig::default());
    let proof = key.proof("POST", &url(), Some(TOKEN), None);
    let result = verifier.verify(&ProofInput {
        proof: &proof,
        method: "POST",
        url: &url(),
        access_token: TOKEN,
    });
    assert_eq!(result.as_deref(), Ok(key.thumbprint()));
}
