//! From the validated configuration to the auth stage: the [`Validator`] (issuers, audiences,
//! global claim rules, leeway, refetch floor) with its HTTP client, and each backend's policy.
//!
//! Audiences follow the config's rule: an issuer with its own `audiences` accepts those, the
//! others accept `oidc.audience`; the backend's public URL (the RFC 8707 resource) is accepted
//! on top, per call. Key fetches use their own HTTP client: rustls, no redirects (a redirect
//! could lead from an https JWKS URL to a plain-http one), the standard proxy variables.

use std::sync::Arc;
use std::time::Duration;

use smcp_auth::dpop::{DpopConfig, DpopVerifier};
use smcp_auth::{IssuerConfig, Validator, ValidatorConfig};

use super::{BackendAuth, IdentityNames, PublicBase, ServerAuth};
use crate::config::{self, AuthMode, BackendAuthMode, BackendConfig, Config};

/// Connect timeout of key fetches (the validator bounds each whole fetch too).
const FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The auth configuration could not be turned into a validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetupError {
    /// The configuration key at fault.
    pub(crate) key: String,
    /// What is wrong.
    pub(crate) message: String,
}

/// The server-wide auth state when `auth.mode` is `oidc` (`None` otherwise). Starts the
/// background key fetches when `start` is set, so it must then run inside a Tokio runtime
/// (`smcp-server check` builds it without starting anything).
pub(crate) fn server_auth(
    config: &Config,
    start: bool,
) -> Result<Option<Arc<ServerAuth>>, SetupError> {
    if config.auth.mode != AuthMode::Oidc {
        return Ok(None);
    }
    let oidc = &config.oidc;
    let validator_config = ValidatorConfig {
        issuers: oidc
            .issuers
            .iter()
            .map(|issuer| IssuerConfig {
                issuer: issuer.issuer.clone(),
                jwks_uri: issuer.jwks_uri.clone(),
                audiences: oidc.audiences_for(issuer).to_vec(),
            })
            .collect(),
        audiences: Vec::new(),
        required_claims: oidc.required_claims.clone(),
        optional_claims: oidc.optional_claims.clone(),
        leeway: oidc.leeway,
        jwks_refresh_min_interval: oidc.jwks_refresh_min_interval,
        ..ValidatorConfig::default()
    };
    // A loaded config has been through validation, which asked smcp-auth's issuer rules per
    // entry (so a loaded config always passes here); `Config` is a public struct, though, and
    // one built by hand has not. The same rules, from the same crate, guard that case.
    validator_config.check().map_err(|error| SetupError {
        key: "oidc.issuers".to_owned(),
        message: error.to_string(),
    })?;
    let http = reqwest::Client::builder()
        .user_agent(concat!("smcp-server/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(FETCH_CONNECT_TIMEOUT)
        .build()
        .map_err(|error| SetupError {
            key: "oidc".to_owned(),
            message: format!("cannot build the HTTP client for key fetches: {error}"),
        })?;
    let validator = Validator::new(validator_config, http);
    let dpop = DpopVerifier::new(DpopConfig {
        replay_capacity: oidc.dpop_replay_cache_size,
        nonces: oidc.dpop_nonce,
        ..DpopConfig::default()
    });
    if start {
        validator.start();
    }
    if start && config.server.public_url.is_none() {
        tracing::warn!(
            "auth.mode is oidc without server.public_url: each backend's resource URL (an accepted token audience) is derived from the request's Host header; set server.public_url so that tokens issued for another host are never accepted"
        );
    }
    Ok(Some(Arc::new(ServerAuth {
        validator,
        public_base: config
            .server
            .public_url
            .as_ref()
            .map(PublicBase::from_config),
        scopes_supported: oidc.scopes_supported.clone(),
        dpop_mode: oidc.dpop,
        dpop_algs: dpop.algorithms(),
        dpop,
    })))
}

/// The policy of `backend`: `None` when it is not protected (global mode none, or the
/// backend's `auth.mode: none`).
pub(crate) fn backend_auth(
    server: Option<&Arc<ServerAuth>>,
    backend: &BackendConfig,
) -> Option<BackendAuth> {
    let server = server?;
    if backend.auth.mode == BackendAuthMode::None {
        return None;
    }
    let rules = backend
        .auth
        .required_claims
        .clone()
        .require_scopes(backend.auth.required_scopes.iter().cloned());
    // Only HTTP backends get identity headers (nothing enters a stdio child's JSON-RPC), so
    // only they need a header-safe identity.
    let is_http = matches!(backend.transport, config::Transport::Http(_));
    let identity = (backend.identity_headers.enabled && is_http).then(|| IdentityNames {
        subject: backend.identity_headers.subject_header.clone(),
        email: backend.identity_headers.email_header.clone(),
    });
    Some(BackendAuth {
        dpop: backend.auth.dpop.unwrap_or(server.dpop_mode),
        server: Arc::clone(server),
        rules,
        identity,
    })
}

#[cfg(test)]
mod tests {
    use smcp_auth::dpop::DpopMode;

    use super::{backend_auth, server_auth};
    use crate::config::Config;

    const OIDC: &str = r#"
auth:
  mode: oidc
oidc:
  issuers:
    - "http://127.0.0.1:9/realms/a"
    - issuer: "http://127.0.0.1:9/realms/b"
      audiences: ["b-api"]
  audience: "global-api"
  required_claims:
    realm_access.roles: ["mcp-user", "admin"]
  scopes_supported: ["mcp:tools"]
mcp:
  backends:
    - id: "web"
      transport: "http"
      url: "http://127.0.0.1:9/mcp"
      path: "/web"
      auth:
        required_scopes: ["mcp:tools"]
        required_claims:
          department: "eng"
        dpop: required
      identity_headers:
        enabled: false
    - id: "local"
      transport: "stdio"
      path: "/local"
      stdio:
        command: "sh"
    - id: "public"
      transport: "http"
      url: "http://127.0.0.1:9/mcp"
      path: "/public"
      auth:
        mode: none
"#;

    #[tokio::test]
    async fn builds_the_validator_and_backend_policies() {
        let config = Config::from_yaml_str(OIDC).unwrap();
        let server = server_auth(&config, true).unwrap().unwrap();
        assert_eq!(
            server.issuers(),
            ["http://127.0.0.1:9/realms/a", "http://127.0.0.1:9/realms/b"]
        );
        assert_eq!(server.scopes_supported(), ["mcp:tools"]);
        assert!(!server.is_ready(), "no keys can have been loaded yet");
        let backends = &config.mcp.backends;
        let web = backend_auth(Some(&server), &backends[0]).unwrap();
        assert_eq!(web.required_scopes(), ["mcp:tools"]);
        assert!(web.identity.is_none());
        assert_eq!(web.dpop, DpopMode::Required);
        let local = backend_auth(Some(&server), &backends[1]).unwrap();
        assert!(
            local.identity.is_none(),
            "stdio backends send no identity headers"
        );
        assert_eq!(local.dpop, DpopMode::Off, "oidc.dpop's default, inherited");
        assert!(backend_auth(Some(&server), &backends[2]).is_none());
        assert!(
            backend_auth(None, &backends[0]).is_none(),
            "auth.mode none protects nothing"
        );
    }

    #[tokio::test]
    async fn mode_none_builds_nothing() {
        let config = Config::from_yaml_str("mcp:\n  backends: []\n").unwrap();
        assert!(server_auth(&config, true).unwrap().is_none());
    }

    #[test]
    fn dpop_settings_are_validated() {
        let config = Config::from_yaml_str(&OIDC.replace(
            "  scopes_supported: [\"mcp:tools\"]",
            "  scopes_supported: [\"mcp:tools\"]\n  dpop: optional\n  dpop_nonce: true",
        ))
        .unwrap();
        assert_eq!(config.oidc.dpop, DpopMode::Optional);
        assert!(config.oidc.dpop_nonce);
        assert_eq!(config.oidc.dpop_replay_cache_size, 1_000_000);
        let error = Config::from_yaml_str(&OIDC.replace("dpop: required", "dpop: sometimes"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("mcp.backends[0].auth.dpop")
                && error.contains("off, optional or required"),
            "{error}"
        );
        let error = Config::from_yaml_str(&OIDC.replace(
            "      auth:\n        mode: none",
            "      auth:\n        mode: none\n        dpop: required",
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("public backend"), "{error}");
    }

    #[test]
    fn bad_claim_paths_are_refused_by_validation_not_at_startup() {
        let yaml = OIDC.replace("realm_access.roles", "realm_access..roles");
        let error = Config::from_yaml_str(&yaml).unwrap_err().to_string();
        assert!(
            error.contains("oidc.required_claims.realm_access..roles")
                && error.contains("empty path segment"),
            "{error}"
        );
    }
}
