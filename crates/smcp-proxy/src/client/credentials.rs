//! Building the pieces that talk to the IdP: the HTTP client (system roots plus
//! `--server-ca-file`) and the client-credentials tokens from the configuration: which scopes
//! (the operator's, else the server's, else `openid` while the IdP allows it), which audience,
//! and which resource (one token per protected resource unless the operator fixed one).

use std::path::PathBuf;
use std::time::Duration;

use smcp_auth::token_source::{
    ChallengeProbe, EndpointSource, ResourceTokens, TokenSource, TokenSourceConfig,
};
use smcp_transport::http::TrustedCas;
use url::Url;

use super::config::{ClientConfig, ResourceChoice, TokenEndpointConfig};

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

/// The scope smcp-client asks for when neither `--oidc-scopes` nor the server names one: the
/// Go proxy's default, dropped when the IdP refuses it (see [`TokenSourceConfig::default_scopes`]).
pub const DEFAULT_SCOPE: &str = "openid";

/// Where smcp-client's tokens come from: one source, or one per protected resource.
#[derive(Debug, Clone)]
pub enum ClientTokens {
    /// One token for every request (`--oidc-resource`, `--oidc-no-resource`, or
    /// `--oidc-audience`).
    Single(TokenSource),
    /// One token per resource the server's metadata names ([`ResourceChoice::PerResource`]).
    PerResource(ResourceTokens),
}

impl ClientTokens {
    /// The source for a request to `url`.
    pub async fn for_url(&self, url: &Url) -> TokenSource {
        match self {
            ClientTokens::Single(source) => source.clone(),
            ClientTokens::PerResource(sources) => sources.for_url(url).await,
        }
    }
}

/// The tokens of an `auth-mode oidc` configuration (`None` for `none`). `probe` asks the
/// server for its `401` challenge, used only for MCP discovery.
pub fn client_tokens(
    config: &ClientConfig,
    http: reqwest::Client,
    probe: Option<ChallengeProbe>,
) -> Option<ClientTokens> {
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
    source.default_scopes = vec![DEFAULT_SCOPE.to_owned()];
    source.audience.clone_from(&oidc.audience);
    source.cache_ttl = oidc.cache_ttl;
    source.ttl_delta = oidc.ttl_delta;
    source.dpop.clone_from(&oidc.dpop);
    // With both a token URL and an issuer, the issuer is the audience of private_key_jwt
    // assertions (RFC 7523bis); with only a token URL, the token URL is.
    if let TokenEndpointConfig::TokenUrl {
        issuer: Some(issuer),
        ..
    } = &oidc.endpoint
    {
        source.assertion_audience = Some(issuer.clone());
    }
    Some(match &oidc.resource {
        ResourceChoice::Fixed(resource) => {
            source.resource = Some(resource.clone());
            ClientTokens::Single(TokenSource::new(source, http))
        }
        ResourceChoice::Omitted => {
            if let Some(audience) = &oidc.audience {
                tracing::info!(
                    %audience,
                    "tokens are requested with this audience and no RFC 8707 resource (set \
                     --oidc-resource to send one as well)"
                );
            }
            ClientTokens::Single(TokenSource::new(source, http))
        }
        ResourceChoice::PerResource => {
            ClientTokens::PerResource(ResourceTokens::new(source, http, config.server.url.clone()))
        }
    })
}
