//! Reading PEM certificates and keys, with `rustls-pki-types` (not the unmaintained
//! `rustls-pemfile`).
//!
//! Validation uses these to check `tls.cert_file`, `tls.key_file` and backends' `ca_file`
//! before any port is bound; the server uses the same functions to get the DER values.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::io_message;

/// Why a PEM file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PemFileError {
    /// The file could not be read.
    #[error("cannot read {path:?}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error, in words.
        message: String,
    },
    /// The file is not valid PEM.
    #[error("{path:?} is not valid PEM: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        message: String,
    },
    /// The file is valid PEM but holds nothing of the wanted kind.
    #[error("{path:?} contains no PEM {wanted}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What was looked for: "certificate" or "private key".
        wanted: &'static str,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, PemFileError> {
    std::fs::read(path).map_err(|err| PemFileError::Read {
        path: path.to_owned(),
        message: io_message(&err),
    })
}

fn invalid(path: &Path, err: &rustls_pki_types::pem::Error) -> PemFileError {
    PemFileError::Invalid {
        path: path.to_owned(),
        message: err.to_string(),
    }
}

/// Reads every certificate in the PEM file at `path` (at least one).
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemFileError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid(path, &err))?;
    if certs.is_empty() {
        return Err(PemFileError::Missing {
            path: path.to_owned(),
            wanted: "certificate",
        });
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) in the PEM file at `path`.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemFileError> {
    let bytes = read(path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(rustls_pki_types::pem::Error::NoItemsFound) => Err(PemFileError::Missing {
            path: path.to_owned(),
            wanted: "private key",
        }),
        Err(err) => Err(invalid(path, &err)),
    }
}
