//! A test OIDC issuer: keys generated at test time, discovery and JWKS served on
//! `127.0.0.1:0`, and tokens minted with any header and claims, honest or forged.
//!
//! Tests can rotate or replace keys, publish raw JWKs, count JWKS fetches (and wait for a
//! count), take the issuer down and bring it back, and set the JWKS `Cache-Control`. The
//! server runs on the calling runtime, so it works under `tokio::time::pause()`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use smcp_test_support::issuer::{SigningKey, TestIssuer};
//! let key = SigningKey::ec_p256("k1");
//! let issuer = TestIssuer::builder().key(key.clone()).start().await?;
//! let token = issuer.mint(&key, &issuer.claims("alice", "my-api"));
//! # let _ = token; Ok(()) }
//! ```

mod keys;
mod mint;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use keys::{KeyType, SigningKey};
pub use mint::{mint, mint_hmac, mint_unsigned, mint_with_header, unix_now};

use server::Shared;

/// Which metadata document the issuer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// `<issuer>/.well-known/openid-configuration` (the default).
    OpenId,
    /// Only RFC 8414 `/.well-known/oauth-authorization-server<issuer path>`.
    OAuth,
    /// No metadata: the validator must be given the JWKS URL.
    Off,
}

/// Configures a [`TestIssuer`] before it starts.
#[derive(Debug)]
pub struct IssuerBuilder {
    path: String,
    discovery: Discovery,
    advertised_issuer: Option<String>,
    keys: Vec<SigningKey>,
    cache_control: Option<String>,
    down: bool,
}

impl IssuerBuilder {
    /// Serves the issuer under a path, e.g. `/realms/test` (issuer `http://127.0.0.1:N/realms/test`).
    pub fn path(mut self, path: &str) -> Self {
        self.path = format!("/{}", path.trim_matches('/'));
        if self.path == "/" {
            self.path.clear();
        }
        self
    }

    /// Chooses the metadata document served.
    pub fn discovery(mut self, discovery: Discovery) -> Self {
        self.discovery = discovery;
        self
    }

    /// Makes discovery advertise another `issuer` value (a mismatch test).
    pub fn advertise_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.advertised_issuer = Some(issuer.into());
        self
    }

    /// Publishes `key` in the JWKS.
    pub fn key(mut self, key: SigningKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Sends this `Cache-Control` value with the JWKS.
    pub fn cache_control(mut self, value: impl Into<String>) -> Self {
        self.cache_control = Some(value.into());
        self
    }

    /// Starts in the "down" state (every request gets 503) until [`TestIssuer::set_down`].
    pub fn down(mut self) -> Self {
        self.down = true;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current Tokio runtime.
    pub async fn start(self) -> std::io::Result<TestIssuer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        let issuer = format!("{base}{}", self.path);
        let shared = Arc::new(Shared {
            base,
            path: self.path,
            advertised_issuer: self.advertised_issuer.unwrap_or_else(|| issuer.clone()),
            discovery: self.discovery,
            keys: std::sync::Mutex::new(self.keys),
            raw_jwks: std::sync::Mutex::new(Vec::new()),
            cache_control: std::sync::Mutex::new(self.cache_control),
            down: AtomicBool::new(self.down),
            jwks_fetches: watch::channel(0).0,
            discovery_fetches: AtomicUsize::new(0),
        });
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        Ok(TestIssuer {
            shared,
            issuer,
            addr,
            task,
        })
    }
}

/// A running test issuer; stops serving when dropped.
#[derive(Debug)]
pub struct TestIssuer {
    shared: Arc<Shared>,
    issuer: String,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl TestIssuer {
    /// A builder with OpenID discovery at the root path and no keys.
    pub fn builder() -> IssuerBuilder {
        IssuerBuilder {
            path: String::new(),
            discovery: Discovery::OpenId,
            advertised_issuer: None,
            keys: Vec::new(),
            cache_control: None,
            down: false,
        }
    }

    /// Starts an issuer serving `keys` with OpenID discovery.
    pub async fn start(keys: Vec<SigningKey>) -> std::io::Result<TestIssuer> {
        keys.into_iter()
            .fold(Self::builder(), IssuerBuilder::key)
            .start()
            .await
    }

    /// The issuer identifier (`http://127.0.0.1:<port>[/path]`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JWKS URL.
    pub fn jwks_uri(&self) -> String {
        format!("{}{}", self.shared.base, self.shared.jwks_path())
    }

    /// Replaces the published keys.
    pub fn set_keys(&self, keys: Vec<SigningKey>) {
        *self.shared.keys() = keys;
    }

    /// Publishes one more key.
    pub fn add_key(&self, key: SigningKey) {
        self.shared.keys().push(key);
    }

    /// Stops publishing the keys with this `kid`.
    pub fn remove_key(&self, kid: &str) {
        self.shared.keys().retain(|k| k.kid() != kid);
    }

    /// Publishes `jwk` verbatim after the keys (e.g. an `oct` key or a malformed entry).
    pub fn add_raw_jwk(&self, jwk: Value) {
        self.shared.raw_jwks().push(jwk);
    }

    /// Takes the issuer down (every request answers 503) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::Release);
    }

    /// Sets (or clears) the JWKS `Cache-Control` header.
    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.shared.cache_control() = value.map(str::to_owned);
    }

    /// JWKS requests received so far (including those answered 503 while down).
    pub fn jwks_fetches(&self) -> usize {
        *self.shared.jwks_fetches.borrow()
    }

    /// Discovery documents served so far.
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::Acquire)
    }

    /// Waits until at least `count` JWKS requests were received.
    pub async fn wait_for_jwks_fetches(&self, count: usize) {
        let mut fetches = self.shared.jwks_fetches.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = fetches.wait_for(|n| *n >= count).await;
    }

    /// Standard claims for `sub`, audience `aud`: `iss`, `sub`, `aud`, `iat` now and `exp` in
    /// ten minutes. Add or override members with `claims["x"] = json!(...)`.
    pub fn claims(&self, sub: &str, aud: &str) -> Value {
        let now = unix_now();
        json!({"iss": self.issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + 600})
    }

    /// A token signed by `key` (its default `alg` and `kid`).
    pub fn mint(&self, key: &SigningKey, claims: &Value) -> String {
        mint(key, claims)
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
