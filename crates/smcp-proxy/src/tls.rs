//! TLS termination for the listener.
//!
//! Certificates and keys are read once, when the configuration is loaded (they are kept in
//! [`config::TlsConfig`]), and turned at startup into a rustls `ServerConfig` that offers
//! HTTP/2 and HTTP/1.1 over ALPN. Nothing here runs per request; a bad file is a configuration
//! error that names the file, a certificate and key that do not match a startup (and `check`)
//! error.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config;

/// Why a TLS listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate file is unreadable or holds no PEM certificate.
    #[error("tls.cert_file: cannot load certificates from {path}: {reason}")]
    Certificates {
        /// The file that was read.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key file is unreadable or holds no PEM private key.
    #[error("tls.key_file: cannot load a private key from {path}: {reason}")]
    Key {
        /// The file that was read.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair (for example, the key does not match the certificate).
    #[error("tls: certificate and key are not usable together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds a TLS acceptor offering `h2` and `http/1.1` from the loaded configuration (no file
/// is read).
pub fn acceptor(tls: &config::TlsConfig) -> Result<TlsAcceptor, TlsSetupError> {
    acceptor_from(tls.certificates.clone(), tls.key.to_der())
}

/// Builds a TLS acceptor offering `h2` and `http/1.1` from PEM files.
pub fn acceptor_from_pem_files(
    cert_file: &Path,
    key_file: &Path,
) -> Result<TlsAcceptor, TlsSetupError> {
    // The same loaders configuration validation uses, so the two never disagree on a file.
    let certificates =
        config::load_certificates(cert_file).map_err(|error| TlsSetupError::Certificates {
            path: cert_file.display().to_string(),
            reason: error.to_string(),
        })?;
    let key = config::load_private_key(key_file).map_err(|error| TlsSetupError::Key {
        path: key_file.display().to_string(),
        reason: error.to_string(),
    })?;
    acceptor_from(certificates, key)
}

fn acceptor_from(
    certificates: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, TlsSetupError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certificates, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
