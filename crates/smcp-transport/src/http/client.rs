//! The upstream clients of one backend: a plain-HTTP connection pool, or hyper-util's pooled
//! client over rustls for HTTPS.
//!
//! An `http://` backend uses [`Http1Pool`](super::pool): HTTP/1.1 keep-alive only, which is all
//! plain HTTP offers (no h2c: MCP servers do not expect prior-knowledge HTTP/2), at a lower cost
//! per request. An `https://` backend uses hyper-util's client, which negotiates HTTP/2 or
//! HTTP/1.1 by ALPN, one client per thread that forwards to it ([`TlsClients`]): a pool shared by
//! threads would hand a connection whose I/O task lives on one thread to a request on another,
//! which then pays a cross-thread wake-up on every request; with smcp-server's event loop per
//! core each loop keeps to its own connections. Both pools are per thread for that reason.
//!
//! TLS uses aws-lc-rs, the workspace's only crypto provider, passed explicitly so that nothing
//! depends on a process-wide default being installed. Everything that touches the file system
//! happens here, once, never per request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
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
use super::pool::{self, Http1Pool, Lease, PoolError};

/// The pooled client type of HTTPS backends.
type TlsClient = Client<HttpsConnector<HttpConnector>, RequestBody>;

/// One backend's upstream clients.
#[derive(Debug)]
pub(super) enum Clients {
    /// `http://`: HTTP/1.1 connections of our own pool.
    Plain(Http1Pool),
    /// `https://`: hyper-util's client per thread.
    Tls(TlsClients),
}

/// Why [`Clients::send`] produced no response.
#[derive(Debug)]
pub(super) enum SendError {
    /// From the plain-HTTP pool.
    Pool(PoolError),
    /// From hyper-util's client.
    Tls(hyper_util::client::legacy::Error),
}

impl Clients {
    /// Whether requests need an absolute URI (hyper-util's client) rather than origin-form.
    pub(super) fn wants_absolute_uri(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Sends `request` upstream. The [`Lease`], when there is one, gives the connection back to
    /// the pool once released at the end of the response body.
    pub(super) async fn send(
        &self,
        request: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Option<Lease>), SendError> {
        match self {
            Self::Plain(pool) => match pool.send(request).await {
                Ok((response, lease)) => Ok((response, Some(lease))),
                Err(error) => Err(SendError::Pool(error)),
            },
            Self::Tls(clients) => match clients.current().request(request).await {
                Ok(response) => Ok((response, None)),
                Err(error) => Err(SendError::Tls(error)),
            },
        }
    }
}

/// The clients of an HTTPS backend: a connection pool per thread, over one shared connector.
pub(super) struct TlsClients {
    connector: HttpsConnector<HttpConnector>,
    per_thread: ThreadLocal<TlsClient>,
}

impl TlsClients {
    /// The calling thread's client, created on first use.
    fn current(&self) -> &TlsClient {
        self.per_thread.get_or(|| {
            Client::builder(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(pool::IDLE_TIMEOUT)
                .build(self.connector.clone())
        })
    }
}

impl std::fmt::Debug for TlsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClients").finish_non_exhaustive()
    }
}

/// Extra CA certificates an HTTPS backend trusts besides the system roots: a PEM file, read
/// and checked once (every certificate parses and rustls accepts it as a trust anchor), by
/// config validation, and then handed to [`HttpBackend::new`](super::HttpBackend::new)
/// through [`HttpBackendOptions::trusted_cas`](super::HttpBackendOptions::trusted_cas), so
/// that startup does not read the file again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedCas {
    path: PathBuf,
    certificates: Vec<CertificateDer<'static>>,
}

impl TrustedCas {
    /// Reads and checks the PEM file at `path` (at least one certificate, each acceptable).
    pub fn load(path: &Path) -> Result<Self, HttpBackendError> {
        let certificates = read_ca_file(path)?;
        let mut check = RootCertStore::empty();
        for cert in &certificates {
            check
                .add(cert.clone())
                .map_err(|source| HttpBackendError::CaFileCert {
                    path: path.to_owned(),
                    source,
                })?;
        }
        Ok(Self {
            path: path.to_owned(),
            certificates,
        })
    }

    /// The file they were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificates, DER-encoded, for a client that trusts them too (smcp-client's
    /// identity-provider client is one: `--server-ca-file` serves both).
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// How many certificates the file holds.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Never true for a loaded file (an empty one is refused); here for completeness.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

/// Builds the clients of a plain-HTTP backend at `host` (no brackets around an IPv6 address)
/// and `port`. Trusted CAs have no use without TLS; they were checked when loaded, so a broken
/// file fails at startup rather than when the URL is switched to `https`.
pub(super) fn plain(host: String, port: u16) -> Clients {
    Clients::Plain(Http1Pool::new(host, port))
}

/// Builds the clients of an HTTPS backend: connecting is bounded by `connect_timeout`, TLS
/// trusts the system roots plus `cas`.
pub(super) fn tls(
    connect_timeout: Duration,
    cas: Option<&TrustedCas>,
) -> Result<Clients, HttpBackendError> {
    let roots = trust_roots(cas)?;
    if roots.is_empty() {
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

    Ok(Clients::Tls(TlsClients {
        connector,
        per_thread: ThreadLocal::new(),
    }))
}

/// The system roots plus `cas`.
fn trust_roots(cas: Option<&TrustedCas>) -> Result<RootCertStore, HttpBackendError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(native_roots().iter().cloned());
    if let Some(cas) = cas {
        for cert in &cas.certificates {
            roots
                .add(cert.clone())
                .map_err(|source| HttpBackendError::CaFileCert {
                    path: cas.path.clone(),
                    source,
                })?;
        }
    }
    Ok(roots)
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
