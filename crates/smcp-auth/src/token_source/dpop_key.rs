//! The client's DPoP key (RFC 9449): a P-256 (ES256, the default) or Ed25519 (EdDSA) key pair
//! that signs one proof per HTTP request, so the tokens bound to it are useless to anyone
//! without it. EdDSA proofs cost a server about half as much to check; not every identity
//! provider accepts them (`dpop_signing_alg_values_supported` in its metadata says).
//!
//! Generated at startup, or read from (and, the first time, written to) a PKCS#8 PEM file so
//! that tokens survive a restart. Each proof is a compact JWS `ES256` with `typ: dpop+jwt`, the
//! public key as `jwk` (`alg` ES256 or EdDSA), and claims `jti` (128 random bits), `htm`, `htu`, `iat`, plus `ath`
//! (the access token's hash) on resource requests and `nonce` when a server asked for one.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why a DPoP key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopKeyError {
    /// The file is not a PKCS#8 PEM EC P-256 or Ed25519 private key.
    #[error("not a PKCS#8 PEM EC P-256 or Ed25519 private key")]
    Unreadable,
    /// The file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The system random generator failed.
    #[error("cannot generate a key")]
    Generate,
}

/// The signature algorithm of a DPoP key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopAlgorithm {
    /// ECDSA P-256 with SHA-256: every DPoP implementation supports it.
    #[default]
    Es256,
    /// Ed25519.
    EdDsa,
}

impl DpopAlgorithm {
    /// The JWS name (`ES256`, `EdDSA`).
    pub fn name(self) -> &'static str {
        match self {
            DpopAlgorithm::Es256 => "ES256",
            DpopAlgorithm::EdDsa => "EdDSA",
        }
    }
}

impl std::str::FromStr for DpopAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(DpopAlgorithm::Es256),
            "EdDSA" => Ok(DpopAlgorithm::EdDsa),
            other => Err(format!("must be ES256 or EdDSA (got {other:?})")),
        }
    }
}

enum Pair {
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A DPoP signing key; cheap to clone.
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<Inner>,
}

struct Inner {
    pair: Pair,
    pkcs8: Vec<u8>,
    /// The public JWK, serialized once.
    jwk: Value,
    thumbprint: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("thumbprint", &self.inner.thumbprint)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh P-256 (ES256) key.
    ///
    /// # Errors
    /// [`DpopKeyError::Generate`] when the system random generator fails.
    pub fn generate() -> Result<Self, DpopKeyError> {
        Self::generate_with(DpopAlgorithm::Es256)
    }

    /// A fresh key for `algorithm`.
    ///
    /// # Errors
    /// [`DpopKeyError::Generate`] when the system random generator fails.
    pub fn generate_with(algorithm: DpopAlgorithm) -> Result<Self, DpopKeyError> {
        let pkcs8 = match algorithm {
            DpopAlgorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|pair| pair.to_pkcs8v1())
                .map(|doc| doc.as_ref().to_vec()),
            DpopAlgorithm::EdDsa => Ed25519KeyPair::generate()
                .and_then(|pair| pair.to_pkcs8v1())
                .map(|doc| doc.as_ref().to_vec()),
        }
        .map_err(|_| DpopKeyError::Generate)?;
        Self::from_pkcs8(&pkcs8)
    }

    /// The key in `path` (P-256 when a new one is made there; see
    /// [`load_or_create_with`](Self::load_or_create_with)).
    ///
    /// # Errors
    /// As [`load_or_create_with`](Self::load_or_create_with).
    pub fn load_or_create(path: &Path) -> Result<Self, DpopKeyError> {
        Self::load_or_create_with(path, DpopAlgorithm::Es256)
    }

    /// The key in `path`, whatever its algorithm; when there is no such file, a fresh key for
    /// `algorithm` written there (mode 0600).
    ///
    /// # Errors
    /// The file is unreadable, not a P-256 or Ed25519 PKCS#8 PEM key, or cannot be written.
    pub fn load_or_create_with(
        path: &Path,
        algorithm: DpopAlgorithm,
    ) -> Result<Self, DpopKeyError> {
        match std::fs::read(path) {
            Ok(pem) => Self::from_pem(&pem),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate_with(algorithm)?;
                write_private(path, key.to_pem().as_bytes()).map_err(|e| {
                    DpopKeyError::Io(format!("cannot write {}: {e}", path.display()))
                })?;
                tracing::info!(path = %path.display(), thumbprint = %key.thumbprint(), "created a DPoP key");
                Ok(key)
            }
            Err(error) => Err(DpopKeyError::Io(format!(
                "cannot read {}: {error}",
                path.display()
            ))),
        }
    }

    /// A key from PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    /// [`DpopKeyError::Unreadable`] for anything else.
    pub fn from_pem(pem: &[u8]) -> Result<Self, DpopKeyError> {
        let text = std::str::from_utf8(pem).map_err(|_| DpopKeyError::Unreadable)?;
        let body: String = text
            .lines()
            .map(str::trim)
            .skip_while(|line| *line != "-----BEGIN PRIVATE KEY-----")
            .skip(1)
            .take_while(|line| *line != "-----END PRIVATE KEY-----")
            .collect();
        let der = STANDARD
            .decode(body)
            .map_err(|_| DpopKeyError::Unreadable)?;
        Self::from_pkcs8(&der)
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, DpopKeyError> {
        // RFC 7638: the thumbprint is over the required members in lexicographic order, with
        // no whitespace.
        let (pair, jwk, canonical) =
            if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8) {
                // SEC1 uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                if point.len() != 65 {
                    return Err(DpopKeyError::Unreadable);
                }
                let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
                let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
                let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
                (Pair::P256(pair), jwk, canonical)
            } else if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8) {
                let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
                let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
                (Pair::Ed25519(pair), jwk, canonical)
            } else {
                return Err(DpopKeyError::Unreadable);
            };
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(DpopKey {
            inner: Arc::new(Inner {
                pair,
                pkcs8: pkcs8.to_vec(),
                jwk,
                thumbprint,
            }),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> DpopAlgorithm {
        match self.inner.pair {
            Pair::P256(_) => DpopAlgorithm::Es256,
            Pair::Ed25519(_) => DpopAlgorithm::EdDsa,
        }
    }

    /// The private key as PKCS#8 PEM.
    pub fn to_pem(&self) -> String {
        let encoded = STANDARD.encode(&self.inner.pkcs8);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    /// The RFC 7638 thumbprint: what a bound token's `cnf.jkt` says.
    pub fn thumbprint(&self) -> &str {
        &self.inner.thumbprint
    }

    /// A proof for one request: `method` to `url` (query and fragment are dropped), with the
    /// access token's hash when `access_token` is given and `nonce` when the server asked.
    pub fn proof(
        &self,
        method: &str,
        url: &url::Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut jti = [0u8; 16];
        // SystemRandom fails only when the OS has no entropy; a zero jti is then refused as
        // a replay at worst, never accepted twice.
        let _ = SystemRandom::new().fill(&mut jti);
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": htu.as_str(),
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let header =
            json!({"typ": "dpop+jwt", "alg": self.algorithm().name(), "jwk": self.inner.jwk});
        self.sign(&header, &claims)
    }

    /// A compact JWS over `header` and `claims` (tests build malformed proofs with it).
    pub(crate) fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match &self.inner.pair {
            Pair::P256(pair) => pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
                .unwrap_or_default(),
            Pair::Ed25519(pair) => URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()).as_ref()),
        };
        format!("{input}.{signature}")
    }

    /// The public JWK (`kty`, `crv`, `x`, and `y` for P-256).
    pub fn public_jwk(&self) -> &Value {
        &self.inner.jwk
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::DpopKey;

    #[test]
    fn keys_round_trip_through_pem_and_files() {
        let key = DpopKey::generate().unwrap();
        let again = DpopKey::from_pem(key.to_pem().as_bytes()).unwrap();
        assert_eq!(key.thumbprint(), again.thumbprint());
        assert!(
            DpopKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        let ed = DpopKey::generate_with(super::DpopAlgorithm::EdDsa).unwrap();
        let ed_again = DpopKey::from_pem(ed.to_pem().as_bytes()).unwrap();
        assert_eq!(ed_again.algorithm(), super::DpopAlgorithm::EdDsa);
        assert_eq!(ed.thumbprint(), ed_again.thumbprint());

        let dir = tempfile_dir();
        let path = dir.join("dpop.pem");
        let created = DpopKey::load_or_create(&path).unwrap();
        let loaded = DpopKey::load_or_create(&path).unwrap();
        assert_eq!(created.thumbprint(), loaded.thumbprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("smcp-dpop-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
