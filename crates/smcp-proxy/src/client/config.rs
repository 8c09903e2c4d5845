//! smcp-client's validated configuration, built from [`Sources`] (flags > environment >
//! defaults) before anything is bound or fetched.
//!
//! Every problem is collected, each naming where its value came from (`--port`,
//! `SMCP_CLIENT_PORT`, ...), so one run shows everything to fix. Secret and key files are read
//! here, once. Warnings (a secret on the command line, OIDC options with auth mode `none`,
//! disagreeing variables) never stop the client.

mod parse;

use std::path::PathBuf;
use std::time::Duration;

use smcp_auth::token_source::{AssertionKey, ClientAuth, DpopAlgorithm, DpopKey, Secret};
use smcp_transport::http::TrustedCas;
use url::Url;

use super::options::{Origin, Sources};
use crate::shared::{AuthMode, LogFormat};

use self::parse::Problems;

/// How smcp-client talks to the server in stdio mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioTransport {
    /// Streamable HTTP, falling back to legacy SSE when `initialize` gets 400, 404 or 405.
    Auto,
    /// Streamable HTTP only.
    Streamable,
    /// Legacy HTTP+SSE (2024-11-05) only.
    Sse,
}

/// The local HTTP listener (HTTP mode).
#[derive(Debug, Clone, PartialEq)]
pub struct ListenConfig {
    /// Address to bind.
    pub host: String,
    /// Port to bind.
    pub port: u16,
    /// Bound on reading request headers.
    pub read_timeout: Duration,
    /// Accepted for compatibility with the Go client; streams are never cut.
    pub write_timeout: Duration,
    /// The most connections open at once (`--max-connections`); the listener lowers it to
    /// what the open-file limit leaves.
    pub max_connections: usize,
    /// How long in-flight requests may finish after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// `(cert, key)` PEM files when the listener serves TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The metrics path, when metrics are enabled.
    pub metrics_path: Option<String>,
}

impl ListenConfig {
    /// Whether the listener binds a loopback address only (`127.0.0.0/8`, `::1`,
    /// `localhost`).
    pub fn is_loopback(&self) -> bool {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// The smcp server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTarget {
    /// Its URL: HTTP mode appends request paths, stdio mode uses it as the MCP endpoint.
    pub url: Url,
    /// Bound on connecting and waiting for response headers.
    pub timeout: Duration,
    /// Extra trusted CA certificates (server and IdP), from `--server-ca-file`: read and
    /// checked once, while the configuration is resolved, by the rule of the transport that
    /// uses them ([`TrustedCas::load`]), so a bad file is a configuration problem and
    /// building the client does not read it again.
    pub trusted_cas: Option<TrustedCas>,
    /// Request bodies up to this many bytes are kept for a replay after a 401.
    pub replay_body_limit: usize,
}

/// Where the token endpoint comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenEndpointConfig {
    /// `--oidc-token-url` (with the issuer, when also given, as the assertion audience).
    TokenUrl {
        /// The token endpoint.
        url: Url,
        /// `--oidc-issuer`, when given too.
        issuer: Option<String>,
    },
    /// `--oidc-issuer`: discovery.
    Issuer(String),
    /// Neither: MCP discovery from the server.
    Discover,
}

/// Which RFC 8707 `resource` smcp-client asks its tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceChoice {
    /// `--oidc-resource`: this one, for every request.
    Fixed(String),
    /// None: `--oidc-no-resource`, or `--oidc-audience` without `--oidc-resource`. An explicit
    /// audience decides the token's `aud`; a provider with resource indicators would let a
    /// `resource` replace it, and the server would refuse the token.
    Omitted,
    /// The default: the resource the server's protected-resource metadata names for the URL
    /// being called, one token per resource (one HTTP-mode listener reaches every backend of
    /// smcp-server, each its own resource); the server URL where it publishes none.
    PerResource,
}

/// OIDC client-credentials settings.
#[derive(Debug, Clone)]
pub struct OidcClientConfig {
    /// Where the token endpoint comes from.
    pub endpoint: TokenEndpointConfig,
    /// The client id.
    pub client_id: String,
    /// The client's credentials and how they are presented.
    pub auth: ClientAuth,
    /// `--oidc-scopes`; `None` (not given): the scopes the server asks for, else `openid`
    /// (the Go proxy's default), else none when the IdP refuses `openid`.
    pub scopes: Option<Vec<String>>,
    /// `audience` parameter.
    pub audience: Option<String>,
    /// Which RFC 8707 `resource` tokens are asked for.
    pub resource: ResourceChoice,
    /// Longest reuse of one token.
    pub cache_ttl: Duration,
    /// Refresh this long before expiry.
    pub ttl_delta: Duration,
    /// `--oidc-dpop`: the key DPoP-bound tokens are asked for (from `--oidc-dpop-key-file`,
    /// else a new one); `None` for bearer tokens.
    pub dpop: Option<DpopKey>,
}

/// The validated configuration of smcp-client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The local listener (HTTP mode).
    pub listen: ListenConfig,
    /// The server.
    pub server: ServerTarget,
    /// `None` for auth mode `none`.
    pub oidc: Option<OidcClientConfig>,
    /// stdio mode's transport to the server.
    pub transport: StdioTransport,
    /// Log level or filter.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
}

/// Every problem found, one per line, each naming its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct ClientConfigError {
    /// The problems.
    pub problems: Vec<String>,
}

impl ClientConfig {
    /// Reads and validates every option. Returns the configuration and warnings.
    pub fn resolve(
        sources: &Sources<'_>,
    ) -> Result<(ClientConfig, Vec<String>), ClientConfigError> {
        let mut p = Problems::new(sources);
        let listen = ListenConfig {
            host: p.string("host").unwrap_or_default(),
            port: p.port("port").unwrap_or(8081),
            read_timeout: p.duration("read-timeout").unwrap_or_default(),
            write_timeout: p.duration("write-timeout").unwrap_or_default(),
            max_connections: p.count("max-connections").unwrap_or(1024),
            shutdown_timeout: p.duration("shutdown-timeout").unwrap_or_default(),
            tls: tls_files(&mut p),
            metrics_path: metrics_path(&mut p),
        };
        let server_url = p.url("server-url", true);
        let server_timeout = p.duration("server-timeout").unwrap_or_default();
        let trusted_cas = p.path("server-ca-file").and_then(|path| {
            TrustedCas::load(&path)
                .map_err(|error| p.problem("server-ca-file", &error.to_string()))
                .ok()
        });
        let replay_body_limit = p.size("replay-body-limit").unwrap_or(1 << 20);
        let transport = match p.string("transport").as_deref() {
            Some("auto") | None => StdioTransport::Auto,
            Some("streamable") | Some("streamable-http") => StdioTransport::Streamable,
            Some("sse") => StdioTransport::Sse,
            Some(other) => {
                p.problem(
                    "transport",
                    &format!("must be auto, streamable or sse (got {other:?})"),
                );
                StdioTransport::Auto
            }
        };
        let auth_mode = match p.string("auth-mode") {
            Some(mode) => match mode.parse::<AuthMode>() {
                Ok(mode) => mode,
                Err(_) => {
                    p.problem("auth-mode", &format!("must be none or oidc (got {mode:?})"));
                    AuthMode::None
                }
            },
            None => AuthMode::None,
        };
        let oidc = match auth_mode {
            AuthMode::Oidc => oidc_config(&mut p),
            AuthMode::None => {
                let set: Vec<&str> = super::options::OPTIONS
                    .iter()
                    .filter(|o| o.name.starts_with("oidc-") && p.sources().is_given(o.name))
                    .map(|o| o.name)
                    .collect();
                if !set.is_empty() {
                    p.warn(format!(
                        "auth mode is none: ignoring {} (set --auth-mode oidc to use them)",
                        set.iter()
                            .map(|n| format!("--{n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                None
            }
        };
        let log_level = p.string("log-level").unwrap_or_else(|| "info".into());
        let log_format = match p.string("log-format") {
            Some(text) => text.parse::<LogFormat>().unwrap_or_else(|e| {
                p.problem("log-format", &e);
                LogFormat::Text
            }),
            None => LogFormat::Text,
        };
        for conflict in p.sources().env_conflicts() {
            p.warn(conflict);
        }
        let warnings = p.finish()?;
        // A missing or invalid URL was reported above, so finish() already failed.
        let Some(url) = server_url else {
            return Err(ClientConfigError {
                problems: vec!["--server-url: is required".into()],
            });
        };
        let server = ServerTarget {
            url,
            timeout: server_timeout,
            trusted_cas,
            replay_body_limit,
        };
        Ok((
            ClientConfig {
                listen,
                server,
                oidc,
                transport,
                log_level,
                log_format,
            },
            warnings,
        ))
    }
}

fn tls_files(p: &mut Problems<'_, '_>) -> Option<(PathBuf, PathBuf)> {
    if !p.switch("tls").unwrap_or(false) {
        return None;
    }
    let cert = p.path("tls-cert");
    let key = p.path("tls-key");
    match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (cert, key) => {
            if cert.is_none() {
                p.problem("tls-cert", "is required with --tls");
            }
            if key.is_none() {
                p.problem("tls-key", "is required with --tls");
            }
            None
        }
    }
}

fn metrics_path(p: &mut Problems<'_, '_>) -> Option<String> {
    if !p.switch("metrics").unwrap_or(true) {
        return None;
    }
    let path = p
        .string("metrics-path")
        .unwrap_or_else(|| "/metrics".into());
    if !path.starts_with('/') || path == "/" || path == "/health" {
        p.problem(
            "metrics-path",
            "must start with / and be neither / nor /health",
        );
        return None;
    }
    Some(path)
}

fn oidc_config(p: &mut Problems<'_, '_>) -> Option<OidcClientConfig> {
    let issuer = p.string("oidc-issuer");
    if let Some(issuer) = &issuer
        && let Err(problem) = parse::check_secure_url(issuer)
    {
        p.problem("oidc-issuer", &problem);
    }
    let token_url = p.url("oidc-token-url", false);
    if let Some(url) = &token_url
        && let Err(problem) = parse::check_secure_url(url.as_str())
    {
        p.problem("oidc-token-url", &problem);
    }
    let endpoint = match (token_url, issuer) {
        (Some(url), issuer) => TokenEndpointConfig::TokenUrl { url, issuer },
        (None, Some(issuer)) => TokenEndpointConfig::Issuer(issuer),
        (None, None) => TokenEndpointConfig::Discover,
    };
    let client_id = p.string("oidc-client-id");
    if client_id.is_none() {
        p.problem("oidc-client-id", "is required with --auth-mode oidc");
    }
    let auth = client_auth(p);
    // Unset is not the Go default `openid` asked for blindly: the token source asks for what
    // the server names, and drops `openid` when the IdP refuses it (credentials.rs).
    let scopes = p
        .sources()
        .is_given("oidc-scopes")
        .then(|| parse::scopes(&p.string("oidc-scopes").unwrap_or_default()));
    let audience = p.string("oidc-audience");
    let no_resource = p.switch("oidc-no-resource").unwrap_or(false);
    let resource = match (no_resource, p.string("oidc-resource")) {
        (true, Some(_)) => {
            p.problem(
                "oidc-resource",
                "cannot be combined with --oidc-no-resource",
            );
            ResourceChoice::Omitted
        }
        (true, None) => ResourceChoice::Omitted,
        (false, Some(resource)) => {
            if Url::parse(&resource)
                .map(|u| u.fragment().is_some())
                .unwrap_or(true)
            {
                p.problem(
                    "oidc-resource",
                    "must be an absolute URI without a fragment (RFC 8707)",
                );
            }
            ResourceChoice::Fixed(resource)
        }
        (false, None) if audience.is_some() => ResourceChoice::Omitted,
        (false, None) => ResourceChoice::PerResource,
    };
    let dpop = dpop_key(p);
    let oidc = OidcClientConfig {
        endpoint,
        client_id: client_id.unwrap_or_default(),
        auth: auth?,
        scopes,
        audience,
        resource,
        cache_ttl: p.duration("oidc-cache-ttl").unwrap_or_default(),
        ttl_delta: p.duration("oidc-token-ttl-delta").unwrap_or_default(),
        dpop,
    };
    if oidc.cache_ttl.is_zero() {
        p.problem("oidc-cache-ttl", "must be more than zero");
    }
    Some(oidc)
}

/// `--oidc-dpop` with `--oidc-dpop-key-file` (loaded, or created when missing) or a new key.
fn dpop_key(p: &mut Problems<'_, '_>) -> Option<DpopKey> {
    let file = p.path("oidc-dpop-key-file");
    let alg_given = p.sources().is_given("oidc-dpop-alg");
    if !p.switch("oidc-dpop").unwrap_or(false) {
        if file.is_some() {
            p.problem("oidc-dpop-key-file", "needs --oidc-dpop");
        }
        if alg_given {
            p.problem("oidc-dpop-alg", "needs --oidc-dpop");
        }
        return None;
    }
    let algorithm = match p
        .string("oidc-dpop-alg")
        .unwrap_or_else(|| "ES256".into())
        .parse::<DpopAlgorithm>()
    {
        Ok(algorithm) => algorithm,
        Err(problem) => {
            p.problem("oidc-dpop-alg", &problem);
            return None;
        }
    };
    let key = match &file {
        Some(path) => DpopKey::load_or_create_with(path, algorithm)
            .map_err(|e| format!("{}: {e}", path.display())),
        None => DpopKey::generate_with(algorithm).map_err(|e| e.to_string()),
    };
    match key {
        // A key file decides its own algorithm; asking for another one is a mistake to name.
        Ok(key) if alg_given && key.algorithm() != algorithm => {
            p.problem(
                "oidc-dpop-alg",
                &format!(
                    "is {}, but the key in --oidc-dpop-key-file is {}",
                    algorithm.name(),
                    key.algorithm().name()
                ),
            );
            None
        }
        Ok(key) => Some(key),
        Err(problem) => {
            p.problem("oidc-dpop-key-file", &problem);
            None
        }
    }
}

fn client_auth(p: &mut Problems<'_, '_>) -> Option<ClientAuth> {
    let method = p.string("oidc-client-auth").unwrap_or_default();
    match method.as_str() {
        "client_secret_basic" | "client_secret_post" => {
            let secret = client_secret(p)?;
            Some(if method == "client_secret_basic" {
                ClientAuth::SecretBasic(secret)
            } else {
                ClientAuth::SecretPost(secret)
            })
        }
        "private_key_jwt" => {
            let Some(path) = p.path("oidc-private-key-file") else {
                p.problem(
                    "oidc-private-key-file",
                    "is required with --oidc-client-auth private_key_jwt",
                );
                return None;
            };
            let alg = p.string("oidc-private-key-alg");
            let pem = match std::fs::read(&path) {
                Ok(pem) => pem,
                Err(error) => {
                    p.problem(
                        "oidc-private-key-file",
                        &format!("cannot read {}: {error}", path.display()),
                    );
                    return None;
                }
            };
            match AssertionKey::from_pem(&pem, alg.as_deref(), p.string("oidc-private-key-id")) {
                Ok(key) => Some(ClientAuth::PrivateKeyJwt(key)),
                Err(error) => {
                    p.problem(
                        "oidc-private-key-file",
                        &format!("{}: {error}", path.display()),
                    );
                    None
                }
            }
        }
        other => {
            p.problem(
                "oidc-client-auth",
                &format!("must be client_secret_basic, client_secret_post or private_key_jwt (got {other:?})"),
            );
            None
        }
    }
}

/// The client secret from the flag, the environment or a file (exactly one source).
fn client_secret(p: &mut Problems<'_, '_>) -> Option<Secret> {
    let direct = p.sources().get("oidc-client-secret");
    let file = p.path("oidc-client-secret-file");
    match (direct, file) {
        (Some(_), Some(_)) => {
            p.problem(
                "oidc-client-secret-file",
                "cannot be combined with --oidc-client-secret / SMCP_OIDC_CLIENT_SECRET",
            );
            None
        }
        (Some((secret, origin)), None) => {
            if matches!(origin, Origin::Flag(_)) {
                p.warn(
                    "the client secret was given on the command line, where other local users \
                     can read it; prefer SMCP_OIDC_CLIENT_SECRET or --oidc-client-secret-file"
                        .into(),
                );
            }
            Some(Secret::new(secret))
        }
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => {
                let secret = text.trim_end_matches(['\r', '\n']);
                if secret.is_empty() {
                    p.problem(
                        "oidc-client-secret-file",
                        &format!("{} is empty", path.display()),
                    );
                    return None;
                }
                Some(Secret::new(secret))
            }
            Err(error) => {
                p.problem(
                    "oidc-client-secret-file",
                    &format!("cannot read {}: {error}", path.display()),
                );
                None
            }
        },
        (None, None) => {
            p.problem(
                "oidc-client-secret",
                "is required with --auth-mode oidc (flag, SMCP_OIDC_CLIENT_SECRET or \
                 --oidc-client-secret-file), unless --oidc-client-auth private_key_jwt",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests;
