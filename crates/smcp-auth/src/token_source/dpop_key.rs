//! The client's DPoP key (RFC 9449): a P-256 key pair that signs one proof per HTTP request,
//! so the tokens bound to it are useless to anyone without it.
//!
//! Generated at startup, or read from (and, the first time, written to) a PKCS#8 PEM file so
//! that tokens survive a restart. Each proof is a compact JWS `ES256` with `typ: dpop+jwt`, the
//! public key as `jwk`, and claims `jti` (128 random bits), `htm`, `htu`, `iat`, plus `ath`
//! (the access token's hash) on resource requests and `nonce` when a server asked for one.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why a DPoP key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopKeyError {
    /// The file is not a PKCS#8 PEM EC P-256 private key.
    #[error("not a PKCS#8 PEM EC P-256 private key")]
    Unreadable,
    /// The file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The system random generator failed.
    #[error("cannot generate a key")]
    Generate,
}

/// A DPoP signing key; cheap to clone.
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<Inner>,
}

struct Inner {
    pair: EcdsaKeyPair,
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
    /// A fresh key.
    ///
    /// # Errors
    /// [`DpopKeyError::Generate`] when the system random generator fails.
    pub fn generate() -> Result<Self, DpopKeyError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| DpopKeyError::Generate)?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| DpopKeyError::Generate)?
            .as_ref()
            .to_vec();
        Self::from_pkcs8(&pkcs8)
    }

    /// The key in `path`; when there is no such file, a fresh key written there (mode 0600).
    ///
    /// # Errors
    /// The file is unreadable, not a P-256 PKCS#8 PEM key, or cannot be written.
    pub fn load_or_create(path: &Path) -> Result<Self, DpopKeyError> {
        match std::fs::read(path) {
            Ok(pem) => Self::from_pem(&pem),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
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
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| DpopKeyError::Unreadable)?;
        // SEC1 uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err(DpopKeyError::Unreadable);
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        // RFC 7638: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(DpopKey {
            inner: Arc::new(Inner {
                pair,
                pkcs8: pkcs8.to_vec(),
                jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
                thumbprint,
            }),
        })
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
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.inner.jwk});
        self.sign(&header, &claims)
    }

    /// A compact JWS over `header` and `claims` (tests build malformed proofs with it).
    pub(crate) fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .inner
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{input}.{signature}")
    }

    /// The public JWK (`kty`, `crv`, `x`, `y`).
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
