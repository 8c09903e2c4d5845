//! HTTPS backends: HTTP/2 by ALPN, a per-backend CA file, and untrusted certificates.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use http::{Response, StatusCode, Version};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::crypto::aws_lc_rs;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::support::{Server, collect, ctx, get, serve_tls};
use crate::body;
use crate::http::{ForwardError, HttpBackend, HttpBackendOptions};

/// A test CA (as PEM) and a server configuration whose certificate it signed, for 127.0.0.1.
fn ca_and_server_config() -> (String, rustls::ServerConfig) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "smcp test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();

    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (ca.pem(), config)
}

/// A TLS server answering with the version, authority and path it saw.
async fn tls_server(config: rustls::ServerConfig) -> Server {
    serve_tls(
        |req| async move {
            let seen = format!(
                "{:?} {} {}",
                req.version(),
                req.uri()
                    .authority()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                req.uri().path()
            );
            Response::builder()
                .header("mcp-session-id", "tls-session")
                .body(body::full(seen))
                .unwrap()
        },
        config,
    )
    .await
}

#[tokio::test]
async fn https_backend_with_custom_ca_speaks_h2() {
    let (ca_pem, config) = ca_and_server_config();
    let server = tls_server(config).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::File::create(&ca_file)
        .unwrap()
        .write_all(ca_pem.as_bytes())
        .unwrap();

    let backend = HttpBackend::new(HttpBackendOptions {
        backend_id: Arc::from("tls"),
        url: url::Url::parse(&format!("https://{}/mcp", server.addr)).unwrap(),
        timeout: Duration::from_secs(30),
        ca_file: Some(ca_file),
        trusted_cas: None,
    })
    .unwrap();
    let resp = backend.forward(get(), ctx("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), Version::HTTP_2, "negotiated by ALPN");
    assert_eq!(resp.headers()["mcp-session-id"], "tls-session");
    assert_eq!(
        collect(resp.into_body()).await,
        format!("HTTP/2.0 {} /mcp", server.addr)
    );
}

#[tokio::test]
async fn loaded_cas_are_trusted_without_reading_the_file_again() {
    let (ca_pem, config) = ca_and_server_config();
    let server = tls_server(config).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem.as_bytes()).unwrap();
    let cas = crate::http::TrustedCas::load(&ca_file).unwrap();
    assert_eq!(cas.len(), 1);
    // Gone before the backend is built: what validation loaded is what is used.
    std::fs::remove_file(&ca_file).unwrap();

    let backend = HttpBackend::new(HttpBackendOptions {
        backend_id: Arc::from("tls"),
        url: url::Url::parse(&format!("https://{}/mcp", server.addr)).unwrap(),
        timeout: Duration::from_secs(30),
        ca_file: None,
        trusted_cas: Some(cas),
    })
    .unwrap();
    let resp = backend.forward(get(), ctx("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn a_ca_file_without_certificates_is_refused_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, b"not a certificate\n").unwrap();
    let err = crate::http::TrustedCas::load(&empty).unwrap_err();
    assert!(err.to_string().contains("holds no certificate"), "{err}");
    let missing = dir.path().join("missing.pem");
    assert!(crate::http::TrustedCas::load(&missing).is_err());
}

#[tokio::test]
async fn untrusted_certificate_is_a_tls_error() {
    let (_ca_pem, config) = ca_and_server_config();
    let server = tls_server(config).await;
    // System roots only: the test CA is not among them.
    let backend = HttpBackend::new(HttpBackendOptions {
        backend_id: Arc::from("tls"),
        url: url::Url::parse(&format!("https://{}/mcp", server.addr)).unwrap(),
        timeout: Duration::from_secs(30),
        ca_file: None,
        trusted_cas: None,
    })
    .unwrap();
    let err = backend.forward(get(), ctx("/")).await.unwrap_err();
    assert!(matches!(err, ForwardError::Tls { .. }), "{err:?}");
    assert_eq!(err.kind(), "tls");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
}
