//! Signing keys generated at test time (RSA 2048, EC P-256, Ed25519) with aws-lc-rs, exported
//! as a public JWK, as PKCS#8/SPKI DER and PEM, and as a jsonwebtoken `EncodingKey`.

use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

/// The kind of a [`SigningKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA 2048 (RS256/384/512, PS256/384/512).
    Rsa,
    /// ECDSA P-256 (ES256).
    EcP256,
    /// Ed25519 (EdDSA).
    Ed25519,
}

enum Material {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with a `kid` and the `alg` it signs with by default. Cloning shares
/// the key material.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: String,
    publish_alg: bool,
    material: Arc<Material>,
    pkcs8: Arc<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("type", &self.key_type())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh RSA 2048 key, signing RS256 by default.
    #[allow(
        clippy::expect_used,
        reason = "aws-lc key generation fails only if the OS RNG does"
    )]
    pub fn rsa(kid: impl Into<String>) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate RSA key");
        let pkcs8: Pkcs8V1Der<'static> = pair.as_der().expect("encode RSA key");
        Self::build(kid, "RS256", Material::Rsa(pair), pkcs8.as_ref().to_vec())
    }

    /// A fresh EC P-256 key (ES256).
    #[allow(
        clippy::expect_used,
        reason = "aws-lc key generation fails only if the OS RNG does"
    )]
    pub fn ec_p256(kid: impl Into<String>) -> Self {
        let pair =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("generate EC key");
        let pkcs8 = pair.to_pkcs8v1().expect("encode EC key");
        Self::build(kid, "ES256", Material::Ec(pair), pkcs8.as_ref().to_vec())
    }

    /// A fresh Ed25519 key (EdDSA).
    #[allow(
        clippy::expect_used,
        reason = "aws-lc key generation fails only if the OS RNG does"
    )]
    pub fn ed25519(kid: impl Into<String>) -> Self {
        let pair = Ed25519KeyPair::generate().expect("generate Ed25519 key");
        let pkcs8 = pair.to_pkcs8v1().expect("encode Ed25519 key");
        Self::build(kid, "EdDSA", Material::Ed(pair), pkcs8.as_ref().to_vec())
    }

    fn build(kid: impl Into<String>, alg: &str, material: Material, pkcs8: Vec<u8>) -> Self {
        SigningKey {
            kid: kid.into(),
            alg: alg.to_owned(),
            publish_alg: true,
            material: Arc::new(material),
            pkcs8: Arc::new(pkcs8),
        }
    }

    /// The same key signing (and publishing) `alg` by default, e.g. `PS256` for an RSA key.
    pub fn with_alg(mut self, alg: &str) -> Self {
        self.alg = alg.to_owned();
        self
    }

    /// The same key material under another `kid` (e.g. to forge "known kid, foreign key").
    pub fn with_kid(&self, kid: impl Into<String>) -> Self {
        SigningKey {
            kid: kid.into(),
            ..self.clone()
        }
    }

    /// The same key with no `alg` member in its JWK.
    pub fn without_published_alg(mut self) -> Self {
        self.publish_alg = false;
        self
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The default signing algorithm.
    pub fn alg(&self) -> &str {
        &self.alg
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match *self.material {
            Material::Rsa(_) => KeyType::Rsa,
            Material::Ec(_) => KeyType::EcP256,
            Material::Ed(_) => KeyType::Ed25519,
        }
    }

    /// The public JWK (with `kid`, `use: sig` and, unless disabled, `alg`).
    pub fn jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match &*self.material {
            Material::Rsa(pair) => {
                let parts = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64(&parts.n), "e": b64(&parts.e)})
            }
            Material::Ec(pair) => {
                // SEC1 uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Material::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        if self.publish_alg {
            jwk["alg"] = json!(self.alg);
        }
        jwk
    }

    /// The private key as PKCS#8 v1 DER.
    pub fn private_key_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn private_key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8)
    }

    /// The public key as SubjectPublicKeyInfo DER.
    #[allow(
        clippy::expect_used,
        reason = "encoding a key aws-lc generated cannot fail"
    )]
    pub fn public_key_der(&self) -> Vec<u8> {
        let der: PublicKeyX509Der<'static> = match &*self.material {
            Material::Rsa(pair) => pair.public_key().as_der(),
            Material::Ec(pair) => pair.public_key().as_der(),
            Material::Ed(pair) => pair.public_key().as_der(),
        }
        .expect("encode public key");
        der.as_ref().to_vec()
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`): the bytes an "HS256 keyed with the
    /// public key" forgery uses as its secret.
    pub fn public_key_pem(&self) -> String {
        pem("PUBLIC KEY", &self.public_key_der())
    }

    /// The key for `jsonwebtoken::encode`.
    #[allow(
        clippy::expect_used,
        reason = "jsonwebtoken reads the PEM this type produced"
    )]
    pub fn encoding_key(&self) -> EncodingKey {
        match &*self.material {
            Material::Rsa(_) => {
                EncodingKey::from_rsa_pem(self.private_key_pem().as_bytes()).expect("RSA PEM")
            }
            Material::Ec(_) => EncodingKey::from_ec_der(&self.pkcs8),
            Material::Ed(_) => EncodingKey::from_ed_der(&self.pkcs8),
        }
    }

    /// Signs `message` with `alg`, which must fit the key type (RS*/PS* for RSA, ES256 for
    /// P-256, EdDSA for Ed25519).
    ///
    /// # Panics
    /// On an algorithm that does not fit the key: a mistake in the test that asked for it.
    #[allow(
        clippy::panic,
        clippy::expect_used,
        reason = "test helper: a wrong alg is a test bug"
    )]
    pub fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &*self.material {
            Material::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("{other} does not fit an RSA key"),
                };
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut sig)
                    .expect("RSA sign");
                sig
            }
            Material::Ec(pair) => {
                assert_eq!(alg, "ES256", "a P-256 key signs ES256 only");
                pair.sign(&rng, message)
                    .expect("ECDSA sign")
                    .as_ref()
                    .to_vec()
            }
            Material::Ed(pair) => {
                assert_eq!(alg, "EdDSA", "an Ed25519 key signs EdDSA only");
                pair.sign(message).as_ref().to_vec()
            }
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
