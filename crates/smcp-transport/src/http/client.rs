//! Building the pooled upstream clients of one backend: TCP connector, rustls, trust roots.
//!
//! Each backend gets its own clients (and so its own connection pools and trust roots), one
//! per thread that forwards to it ([`Clients`]). A pool shared by threads would hand a
//! connection whose I/O task lives on one thread to a request on another, which then pays a
//! cross-thread wake-up on every request; with smcp-server's event loop per core each loop
//! keeps to its own connections. The connector (TLS config, trust roots) is built once and
//! shared.
//!
//! TLS uses aws-lc-rs, the workspace's only crypto provider, passed explicitly so that nothing
//! depends on a process-wide default being installed. HTTPS negotiates HTTP/2 or HTTP/1.1 by ALPN;
//! plain HTTP uses HTTP/1.1 (no h2c: MCP servers do not expect prior-knowledge HTTP/2).
//! Everything that touches the file system happens here, once, never per request.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls::crypto::aws_lc_rs;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use thread_local::ThreadLocal;

use super::bodies::RequestBody;
use super::error::HttpBackendError;

/// The pooled client type every backend uses.
pub(super) type UpstreamClient = Client<HttpsConnector<HttpConnector>, RequestBody>;

/// One backend's upstream clients: a connection pool per thread, over one shared connector.
pub(super) struct Clients {
    connector: HttpsConnector<HttpConnector>,
    per_thread: ThreadLocal<UpstreamClient>,
}

impl Clients {
    /// The calling thread's client, created on first use.
    pub(super) fn current(&self) -> &UpstreamClient {
        self.per_thread.get_or(|| {
            Client::builder(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(self.connector.clone())
        })
    }
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Builds the clients: connecting is bounded by `connect_timeout`, TLS trusts the
/// system roots plus the certificates of `ca_file`. The system roots are only loaded for an
/// `https` backend (`needs_roots`); a CA file is always read, so a bad one fails early.
pub(super) fn build(
    connect_timeout: Duration,
    ca_file: Option<&Path>,
    needs_roots: bool,
) -> Result<Clients, HttpBackendError> {
    let mut roots = RootCertStore::empty();
    if needs_roots {
        roots.add_parsable_certificates(native_roots().iter().cloned());
    }
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|source| HttpBackendError::CaFileCert {
                    path: path.to_owned(),
                    source,
                })?;
        }
    }
    if needs_roots && roots.is_empty() {
        tracing::warn!(
            "no trusted root certificates: every TLS handshake with this backend will fail"
        );
    }

    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(HttpBackendError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut tcp = HttpConnector::new();
    // The scheme is checked by the TLS layer above it, which must see https URIs too.
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(connect_timeout));
    tcp.set_nodelay(true);

    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp);

    Ok(Clients {
        connector,
        per_thread: ThreadLocal::new(),
    })
}

/// The system's trusted roots, loaded once per process and shared by every backend.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(error = %error, "could not load some system root certificates");
        }
        loaded.certs
    })
}

/// Reads every certificate of a PEM file, rejecting a file without any.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, HttpBackendError> {
    let pem = std::fs::read(path).map_err(|source| HttpBackendError::CaFileRead {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| HttpBackendError::CaFilePem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(HttpBackendError::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}
