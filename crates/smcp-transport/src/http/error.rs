//! Errors of the HTTP backend: building one ([`HttpBackendError`]) and forwarding a request
//! ([`ForwardError`]).
//!
//! A [`ForwardError`] says only which side failed and how (its [`kind`](ForwardError::kind) is
//! the metric label, its [`status`](ForwardError::status) the HTTP status the proxy answers
//! with). Turning it into a response body is the proxy's job, done once at the edge, so that no
//! backend detail leaks to clients. Its `Display` carries the whole cause chain on one line for
//! logs, because hyper's own top-level messages ("client error (Connect)") say little.

use std::error::Error as StdError;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use http::StatusCode;

use super::client::SendError;
use super::pool::PoolError;

/// Why an [`HttpBackend`](super::HttpBackend) could not be built from its options.
///
/// All of these are configuration errors, found once at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpBackendError {
    /// The backend URL's scheme is neither `http` nor `https`.
    #[error("backend url scheme must be http or https, not {scheme:?}")]
    UnsupportedScheme {
        /// The scheme found in the URL.
        scheme: String,
    },
    /// The backend URL has no host.
    #[error("backend url has no host")]
    MissingHost,
    /// The backend URL carries a user name or password. They would never be sent (smcp does
    /// not forward credentials), so a URL holding them is refused rather than silently ignored.
    #[error("backend url must not carry a user name or password")]
    CredentialsInUrl,
    /// The backend URL cannot be expressed as an HTTP request target.
    #[error("backend url is not a valid request target: {0}")]
    InvalidUrl(#[source] http::Error),
    /// The CA file could not be read.
    #[error("cannot read CA file {}: {source}", path.display())]
    CaFileRead {
        /// The configured CA file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file is not well-formed PEM.
    #[error("CA file {} is not valid PEM: {source}", path.display())]
    CaFilePem {
        /// The configured CA file.
        path: PathBuf,
        /// The PEM decoding error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The CA file holds no `CERTIFICATE` section.
    #[error("CA file {} holds no certificate", path.display())]
    CaFileEmpty {
        /// The configured CA file.
        path: PathBuf,
    },
    /// A certificate in the CA file is not usable as a trust anchor.
    #[error("CA file {}: certificate rejected: {source}", path.display())]
    CaFileCert {
        /// The configured CA file.
        path: PathBuf,
        /// Why rustls refused it.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the client configuration (no usable protocol version).
    #[error("TLS client configuration: {0}")]
    Tls(#[source] rustls::Error),
}

/// Why [`HttpBackend::forward`](super::HttpBackend::forward) produced no response.
///
/// A response with any status, 4xx and 5xx included, is not an error: it is passed through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// The backend could not be reached: connection refused, DNS failure, unreachable network.
    #[error("cannot connect to backend: {detail}")]
    Connect {
        /// The cause chain, for logs.
        detail: String,
    },
    /// The TLS handshake with the backend failed (untrusted certificate, wrong name, not TLS).
    #[error("TLS handshake with backend failed: {detail}")]
    Tls {
        /// The cause chain, for logs.
        detail: String,
    },
    /// No response headers arrived within the backend's timeout (connecting included).
    #[error("backend sent no response headers within {after:?}")]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The backend broke HTTP: closed the connection early, sent something unparseable.
    #[error("backend protocol error: {detail}")]
    Protocol {
        /// The cause chain, for logs.
        detail: String,
    },
    /// The client's request body failed while it was being sent upstream (the client went
    /// away, or a body limit upstream of this backend cut it off).
    #[error("request body failed: {detail}")]
    Body {
        /// The cause chain, for logs.
        detail: String,
        /// The body was cut off by a size limit (`http_body_util::Limited`).
        too_large: bool,
    },
}

impl ForwardError {
    /// A short, stable name for the failure, used as the `kind` metric label:
    /// one of `connect`, `tls`, `timeout`, `protocol`, `body`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Tls { .. } => "tls",
            Self::Timeout { .. } => "timeout",
            Self::Protocol { .. } => "protocol",
            Self::Body { .. } => "body",
        }
    }

    /// The HTTP status the proxy should answer with: 502 when the backend is unreachable or
    /// misbehaves, 504 when it is too slow, 413 when the request body hit a size limit, and
    /// 400 when the client's own body failed.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Connect { .. } | Self::Tls { .. } | Self::Protocol { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Body {
                too_large: true, ..
            } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Body { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// Sorts a failure of an upstream client into one of our kinds by walking its cause chain.
    ///
    /// `body_failure` is what the request body wrapper saw: when the client's own body failed,
    /// that, not whatever hyper made of it, is the cause.
    pub(super) fn from_client(
        err: &SendError,
        timeout: Duration,
        body_failure: Option<&BodyFailure>,
    ) -> Self {
        if let Some(failure) = body_failure {
            return Self::Body {
                detail: failure.detail.clone(),
                too_large: failure.too_large,
            };
        }
        match err {
            SendError::Pool(PoolError::Connect(io)) if io.kind() == ErrorKind::TimedOut => {
                Self::Timeout { after: timeout }
            }
            SendError::Pool(PoolError::Connect(io)) => Self::Connect {
                detail: format!("tcp connect error: {io}"),
            },
            SendError::Pool(PoolError::Http(http)) => Self::Protocol {
                detail: cause_chain(http),
            },
            SendError::Tls(err) => Self::from_tls_client(err, timeout),
        }
    }

    /// Sorts a failure of hyper-util's client (HTTPS backends).
    fn from_tls_client(err: &hyper_util::client::legacy::Error, timeout: Duration) -> Self {
        let detail = source_chain(err);
        let mut timed_out = false;
        let mut next: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = next {
            if is_tls_error(e) {
                return Self::Tls { detail };
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                timed_out |= io.kind() == ErrorKind::TimedOut;
            }
            next = e.source();
        }
        if err.is_connect() && timed_out {
            // The connector's own connect timeout (same length as ours) won the race.
            Self::Timeout { after: timeout }
        } else if err.is_connect() {
            Self::Connect { detail }
        } else {
            Self::Protocol { detail }
        }
    }
}

/// How the client's request body failed while being sent upstream.
#[derive(Debug, Clone)]
pub(super) struct BodyFailure {
    /// The body error's message.
    pub(super) detail: String,
    /// The error was a size limit cutting the body off.
    pub(super) too_large: bool,
}

/// True when `e` is a rustls error or an `io::Error` wrapping one, at any depth.
///
/// tokio-rustls reports handshake failures as an `io::Error` wrapping the `rustls::Error`, and
/// hyper-rustls wraps that in another `io::Error`. `io::Error::source` skips the wrapped error
/// itself, so look inside explicitly.
fn is_tls_error(e: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            return true;
        }
        next = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn StdError + 'static));
    }
    false
}

/// The messages of `err`'s causes joined with ": " (without `err`'s own, which for hyper-util's
/// client only names the category we already express by the variant).
fn source_chain(err: &hyper_util::client::legacy::Error) -> String {
    let causes = messages(err.source());
    if causes.is_empty() {
        err.to_string()
    } else {
        causes
    }
}

/// `err`'s message followed by its causes', joined with ": " (hyper's own message, such as
/// "connection closed before message completed", is the informative part).
fn cause_chain(err: &(dyn StdError + 'static)) -> String {
    messages(Some(err))
}

/// The messages of `first` and of the errors behind it, joined with ": ", a message equal to
/// the one before it left out.
fn messages(first: Option<&(dyn StdError + 'static)>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = first;
    while let Some(e) = next {
        let msg = e.to_string();
        if parts.last() != Some(&msg) {
            parts.push(msg);
        }
        next = e.source();
    }
    parts.join(": ")
}
