//! A real OpenID provider (npm `oidc-provider` 9.13.3, `tests/peers/oidc/provider.mjs`) on
//! loopback, for tests that need tokens from a real IdP rather than the in-process test issuer.
//!
//! [`spawn_oidc_provider`] starts it on a port the OS chooses and waits for its readiness line
//! (`SMCP_OIDC_READY {json}` on stdout). Its clients, all `client_credentials` (see the
//! script's header for details):
//!
//! | client id | secret | token endpoint auth | access tokens | may get |
//! |---|---|---|---|---|
//! | `smcp-rs256` | `smcp-rs256-secret` | `client_secret_basic` | RS256 | `mcp:tools mcp:admin` |
//! | `smcp-es256` | `smcp-es256-secret` | `client_secret_post` | ES256 | `mcp:tools mcp:admin` |
//! | `smcp-jwt` | — (ES256 key in [`OidcProvider::info`]) | `private_key_jwt` | RS256 | `mcp:tools mcp:admin` |
//! | `smcp-limited` | `smcp-limited-secret` | `client_secret_basic` | RS256 | `mcp:tools mcp:admin` |
//! | `smcp-narrow` | `smcp-narrow-secret` | `client_secret_basic` | RS256 | `mcp:tools` |
//!
//! Two profiles ([`ProviderProfile`]): strict (the default; Entra ID and Okta: only the API's
//! scopes, `openid` refused, the `resource` decides `aud`) and permissive (Auth0 and Keycloak:
//! `openid profile email` allowed, an `audience` parameter decides `aud`).
//!
//! A token carries the scopes its request asked for and nothing else (no `scope`: no scopes);
//! asking for a scope the client may not get is `invalid_scope`. [`LIMITED_CLIENT`] is the one
//! scope step-up tests widen, [`NARROW_CLIENT`] the one the provider refuses to widen.
//!
//! Access tokens are JWTs (`typ: at+jwt`) with `sub` = the client id, `aud` = the RFC 8707
//! `resource` of the token request (`urn:smcp:default` without one), and a `kid`. Test hooks:
//! [`OidcProvider::rotate_keys`] and [`OidcProvider::token_requests`].

use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::peers::{ensure_peers_installed, node, peers_dir};
use crate::process::{ChildGuard, Stream, WaitError};

/// How long the provider may take to start (~0.5 s normally).
pub const OIDC_READY_TIMEOUT: Duration = Duration::from_secs(30);

const READY_PREFIX: &str = "SMCP_OIDC_READY ";

/// Client ids of the provider (see the module docs).
pub const RS256_CLIENT: &str = "smcp-rs256";
/// The ES256 client (`client_secret_post`).
pub const ES256_CLIENT: &str = "smcp-es256";
/// The `private_key_jwt` client.
pub const JWT_CLIENT: &str = "smcp-jwt";
/// A `client_secret_basic` client that gets `mcp:tools` and `mcp:admin` only when it asks for
/// them: the client a scope step-up widens.
pub const LIMITED_CLIENT: &str = "smcp-limited";
/// A `client_secret_basic` client that may only ever get `mcp:tools` (`mcp:admin` is
/// `invalid_scope`): the client a scope step-up cannot widen.
pub const NARROW_CLIENT: &str = "smcp-narrow";

/// A running oidc-provider; killed (with its process group) when dropped.
pub struct OidcProvider {
    guard: ChildGuard,
    info: Value,
    http: reqwest::Client,
}

/// `tests/peers/oidc/provider.mjs`.
pub fn oidc_provider_script() -> std::path::PathBuf {
    peers_dir().join("oidc").join("provider.mjs")
}

/// How the provider behaves where real identity providers differ (the script's `--profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderProfile {
    /// As Entra ID and Okta: only the API's scopes for `client_credentials` (`openid` is
    /// `invalid_scope`), `aud` = the RFC 8707 `resource`, an `audience` parameter ignored. The
    /// default.
    Strict,
    /// As Auth0 and Keycloak: `openid profile email` allowed too, and an `audience` parameter
    /// decides `aud` (over `resource`).
    Permissive,
}

impl ProviderProfile {
    /// Both, for tests that must hold with every kind of provider.
    pub const ALL: [ProviderProfile; 2] = [ProviderProfile::Strict, ProviderProfile::Permissive];

    /// The `--profile` value.
    pub fn name(self) -> &'static str {
        match self {
            ProviderProfile::Strict => "strict",
            ProviderProfile::Permissive => "permissive",
        }
    }
}

/// Starts the provider with `profile` (tokens valid 600 s).
///
/// # Panics
/// As [`spawn_oidc_provider`].
pub async fn spawn_oidc_provider_profile(profile: ProviderProfile) -> OidcProvider {
    spawn_oidc_provider_with(&["--profile", profile.name()]).await
}

/// Starts the provider with default settings (the strict profile, tokens valid 600 s).
///
/// # Panics
/// If the peers are not installed or the provider does not get ready in time.
pub async fn spawn_oidc_provider() -> OidcProvider {
    spawn_oidc_provider_with(&[]).await
}

/// The environment variable that picks the profile of providers started without an explicit
/// `--profile` (`strict` when unset).
pub const PROFILE_ENV: &str = "SMCP_E2E_OIDC_PROFILE";

/// Starts the provider with extra arguments (`--token-ttl SECONDS`, `--port N`,
/// `--profile strict|permissive`; without `--profile`, the one [`PROFILE_ENV`] names).
///
/// # Panics
/// As [`spawn_oidc_provider`].
pub async fn spawn_oidc_provider_with(args: &[&str]) -> OidcProvider {
    ensure_peers_installed();
    let mut cmd = Command::new(node());
    cmd.arg(oidc_provider_script())
        .args(args)
        .current_dir(peers_dir());
    // tests/run.sh runs the smcp-client suites a second time against the permissive profile.
    if let Ok(profile) = std::env::var(PROFILE_ENV)
        && !args.contains(&"--profile")
    {
        cmd.args(["--profile", &profile]);
    }
    let guard = ChildGuard::spawn("oidc-provider", cmd)
        .unwrap_or_else(|e| panic!("cannot start oidc-provider: {e}"));
    let is_ready = |line: &crate::process::LogLine| {
        line.stream == Stream::Stdout && line.text.starts_with(READY_PREFIX)
    };
    let line = match guard.wait_for_line(OIDC_READY_TIMEOUT, is_ready).await {
        Ok(line) => line,
        Err(WaitError::Timeout) => panic!(
            "oidc-provider not ready within {OIDC_READY_TIMEOUT:?}:\n{}",
            guard.logs()
        ),
        Err(WaitError::Exited) => panic!("oidc-provider exited:\n{}", guard.logs()),
    };
    let info: Value = serde_json::from_str(&line.text[READY_PREFIX.len()..])
        .unwrap_or_else(|e| panic!("bad ready line ({e}): {}", line.text));
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client");
    OidcProvider { guard, info, http }
}

impl OidcProvider {
    /// The issuer (`http://127.0.0.1:<port>`, no trailing slash): put it in `oidc.issuers`.
    pub fn issuer(&self) -> &str {
        self.info["issuer"].as_str().expect("issuer")
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> &str {
        self.info["token_endpoint"]
            .as_str()
            .expect("token_endpoint")
    }

    /// The whole readiness document: issuer, endpoints, clients (each with the `scopes` it may
    /// get, and the `private_key_jwt` client's private JWK and PKCS#8 PEM), admin URLs.
    pub fn info(&self) -> &Value {
        &self.info
    }

    /// The secret of `client_id` (one of the secret clients).
    ///
    /// # Panics
    /// For an unknown client or the `private_key_jwt` one.
    pub fn secret_of(&self, client_id: &str) -> &str {
        self.info["clients"]
            .as_array()
            .and_then(|clients| clients.iter().find(|c| c["client_id"] == client_id))
            .and_then(|c| c["client_secret"].as_str())
            .unwrap_or_else(|| panic!("no secret for {client_id}"))
    }

    /// The provider's output so far (for failure messages).
    pub fn logs(&self) -> String {
        self.guard.logs()
    }

    /// A client-credentials access token for `client_id` (one of the secret clients), for
    /// `resource` (sets `aud`) and `scope` when given.
    ///
    /// # Panics
    /// Unless the provider answers 200 with an `access_token`.
    pub async fn client_credentials_token(
        &self,
        client_id: &str,
        resource: Option<&str>,
        scope: Option<&str>,
    ) -> String {
        let client = self.info["clients"]
            .as_array()
            .and_then(|clients| clients.iter().find(|c| c["client_id"] == client_id))
            .unwrap_or_else(|| panic!("no client {client_id}"));
        let secret = client["client_secret"]
            .as_str()
            .unwrap_or_else(|| panic!("{client_id} has no secret (use private_key_jwt)"));
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let mut request = self.http.post(self.token_endpoint());
        if client["auth_method"] == "client_secret_post" {
            form.push(("client_id", client_id));
            form.push(("client_secret", secret));
        } else {
            request = request.basic_auth(client_id, Some(secret));
        }
        let response = request.form(&form).send().await.expect("token request");
        let status = response.status();
        let body: Value = response.json().await.expect("token response JSON");
        assert_eq!(status, 200, "token request refused: {body}");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {body}"))
            .to_owned()
    }

    /// Publishes a new RS256 and a new ES256 signing key and signs with them from now on;
    /// the previous keys stay published unless `drop_old`. Returns the published kids,
    /// newest first.
    pub async fn rotate_keys(&self, drop_old: bool) -> Vec<String> {
        let url = format!(
            "{}{}",
            self.info["admin"]["rotate"].as_str().expect("rotate url"),
            if drop_old { "?drop=1" } else { "" }
        );
        let body: Value = self
            .http
            .post(url)
            .send()
            .await
            .expect("rotate")
            .json()
            .await
            .expect("rotate JSON");
        kids(&body)
    }

    /// Token requests received so far (every POST to the token endpoint).
    pub async fn token_requests(&self) -> u64 {
        let body: Value = self
            .http
            .get(self.info["admin"]["stats"].as_str().expect("stats url"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON");
        body["token_requests"].as_u64().expect("token_requests")
    }
}

fn kids(body: &Value) -> Vec<String> {
    body["kids"]
        .as_array()
        .map(|kids| {
            kids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
