//! Building the pieces that talk to the IdP: the HTTP client (system roots plus
//! `--server-ca-file`) and the client-credentials token source from the configuration.

use std::path::PathBuf;
use std::time::Duration;

use smcp_auth::token_source::{ChallengeProbe, EndpointSource, TokenSource, TokenSourceConfig};
use smcp_transport::http::TrustedCas;

use super::config::{ClientConfig, TokenEndpointConfig};

/// Why smcp-client could not be put together (after the configuration was valid).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The CA file is unreadable or holds no certificate.
    #[error("--server-ca-file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// reqwest refused the client configuration.
    #[error("cannot build the HTTP client for the identity provider: {0}")]
    Http(String),
    /// The server URL or CA file cannot be used for forwarding.
    #[error("server: {0}")]
    Server(#[from] smcp_transport::http::HttpBackendError),
    /// The local listener's TLS files cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
}

/// The HTTP client for every request to the IdP: system roots plus the CA file, bounded
/// connects, at most 5 redirects.
pub fn idp_http_client(config: &ClientConfig) -> Result<reqwest::Client, BuildError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("smcp-client/", env!("CARGO_PKG_VERSION")));
    if let Some(cas) = &config.server.trusted_cas {
        builder = builder.tls_certs_merge(ca_certificates(cas)?);
    }
    builder
        .build()
        .map_err(|error| BuildError::Http(error.to_string()))
}

/// The `--server-ca-file` certificates (loaded and checked with the configuration) in
/// reqwest's form.
fn ca_certificates(cas: &TrustedCas) -> Result<Vec<reqwest::Certificate>, BuildError> {
    cas.certificates()
        .iter()
        .map(|der| {
            reqwest::Certificate::from_der(der.as_ref()).map_err(|error| BuildError::CaFile {
                path: cas.path().to_owned(),
                reason: error.to_string(),
            })
        })
        .collect()
}

/// The token source of an `auth-mode oidc` configuration (`None` for `none`). `probe` asks
/// the server for its `401` challenge, used only for MCP discovery.
pub fn token_source(
    config: &ClientConfig,
    http: reqwest::Client,
    probe: Option<ChallengeProbe>,
) -> Option<TokenSource> {
    let oidc = config.oidc.as_ref()?;
    let endpoint = match &oidc.endpoint {
        TokenEndpointConfig::TokenUrl { url, .. } => EndpointSource::TokenUrl(url.clone()),
        TokenEndpointConfig::Issuer(issuer) => EndpointSource::Issuer(issuer.clone()),
        TokenEndpointConfig::Discover => EndpointSource::Resource {
            url: config.server.url.clone(),
            probe,
        },
    };
    let mut source = TokenSourceConfig::new(endpoint, oidc.client_id.clone(), oidc.auth.clone());
    source.scopes.clone_from(&oidc.scopes);
    source.audience.clone_from(&oidc.audience);
    source.resource.clone_from(&oidc.resource);
    source.cache_ttl = oidc.cache_ttl;
    source.ttl_delta = oidc.ttl_delta;
    // With both a token URL and an issuer, the issuer is the audience of private_key_jwt
    // assertions (RFC 7523bis); with only a token URL, the token URL is.
    if let TokenEndpointConfig::TokenUrl {
        issuer: Some(issuer),
        ..
    } = &oidc.endpoint
    {
        source.assertion_audience = Some(issuer.clone());
    }
    Some(TokenSource::new(source, http))
}
