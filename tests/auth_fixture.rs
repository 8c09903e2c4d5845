//! Shared by the `auth_*` tests (included with `#[path]`, not a test target of its own): the
//! test issuer, an echoing HTTP backend, and smcp-server in oidc mode in front of them.
//!
//! Backends of the fixture config (all behind issuer `oidc.issuers[0]`, audience [`AUDIENCE`]):
//!
//! | path | transport | auth |
//! |---|---|---|
//! | `/echo` | http, strip_path | inherit (oidc) |
//! | `/scoped` | http | `required_scopes: [mcp:admin]` |
//! | `/claims` | http | `required_claims: {department: eng}` |
//! | `/custom` | http | identity headers named `x-user` / `x-user-email` |
//! | `/noident` | http | `identity_headers.enabled: false` |
//! | `/public` | http | `auth.mode: none` |
//! | `/fake` | stdio (`fake-mcp-server`) | inherit (oidc) |
//! | `/fake2` | stdio (`fake-mcp-server`) | inherit (oidc) |

#![allow(
    dead_code,
    reason = "each test binary that includes this file uses a different part of it"
)]

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use smcp_e2e::SmcpServer;
use smcp_test_support::fake_mcp::fake_mcp_server_bin;
use smcp_test_support::issuer::{SigningKey, TestIssuer};
use tokio::net::TcpListener;

/// The audience the fixture's smcp-server accepts (besides each backend's public URL).
pub(crate) const AUDIENCE: &str = "smcp-test-api";
/// How long a test waits for `/ready` (the validator retries the IdP after 1 s, 2 s, 4 s...).
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A JSON-RPC ping, the body of the fixture's POSTs.
pub(crate) const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

/// An HTTP backend that answers every request with what it received (`method`, `path`,
/// `headers` as name -> list of values) and keeps MCP-like sessions: a POST without
/// `Mcp-Session-Id` gets a new one in the response; a known id is served, an unknown one gets
/// 404; DELETE ends a session.
pub(crate) struct Echo {
    addr: SocketAddr,
    state: Arc<EchoState>,
}

#[derive(Default)]
struct EchoState {
    requests: AtomicUsize,
    next_session: AtomicUsize,
    sessions: Mutex<HashSet<String>>,
}

impl Echo {
    /// Starts the backend on 127.0.0.1:0.
    pub(crate) async fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(EchoState::default());
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(state.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Echo { addr, state }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far.
    pub(crate) fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl EchoState {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let mut headers = serde_json::Map::new();
        for (name, value) in request.headers() {
            let entry = headers
                .entry(name.as_str().to_owned())
                .or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!(value.to_str().unwrap_or("<binary>")));
            }
        }
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let session = request
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let _ = request.into_body().collect().await;
        let body = json!({ "method": method.as_str(), "path": path, "headers": headers });
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().expect("value"));
        let mut sessions = self.sessions.lock().expect("sessions");
        match session {
            None if method == hyper::Method::POST => {
                let id = format!(
                    "upstream-session-{}",
                    self.next_session.fetch_add(1, Ordering::SeqCst)
                );
                response
                    .headers_mut()
                    .insert("mcp-session-id", id.parse().expect("value"));
                sessions.insert(id);
            }
            None => {}
            Some(id) if !sessions.contains(&id) => {
                *response.status_mut() = StatusCode::NOT_FOUND;
            }
            Some(id) if method == hyper::Method::DELETE => {
                sessions.remove(&id);
            }
            Some(_) => {}
        }
        response
    }
}

/// The fixture's smcp-server config (`server_extra` is appended to `server:`).
pub(crate) fn config(issuer: &str, echo: SocketAddr, server_extra: &str) -> String {
    let fake = fake_mcp_server_bin();
    format!(
        r#"server:
  host: "127.0.0.1"
  port: 0
  shutdown_timeout: "5s"
{server_extra}auth:
  mode: oidc
oidc:
  issuers: ["{issuer}"]
  audience: "{AUDIENCE}"
  scopes_supported: ["mcp:tools"]
  jwks_refresh_min_interval: "1s"
mcp:
  backends:
    - id: echo
      name: "Echo backend"
      transport: http
      url: "http://{echo}"
      path: /echo
      strip_path: true
    - id: scoped
      transport: http
      url: "http://{echo}"
      path: /scoped
      auth:
        required_scopes: ["mcp:admin"]
    - id: claims
      transport: http
      url: "http://{echo}"
      path: /claims
      auth:
        required_claims:
          department: "eng"
    - id: custom
      transport: http
      url: "http://{echo}"
      path: /custom
      identity_headers:
        subject_header: "X-User"
        email_header: "X-User-Email"
    - id: noident
      transport: http
      url: "http://{echo}"
      path: /noident
      identity_headers:
        enabled: false
    - id: public
      transport: http
      url: "http://{echo}"
      path: /public
      auth:
        mode: none
    - id: fake
      transport: stdio
      path: /fake
      stdio:
        command: {fake}
    - id: fake2
      transport: stdio
      path: /fake2
      stdio:
        command: {fake}
"#,
        fake = json!(fake.to_string_lossy()),
    )
}

/// The test issuer, the echo backend and smcp-server in oidc mode in front of them.
pub(crate) struct Fixture {
    /// The in-process IdP.
    pub(crate) issuer: TestIssuer,
    /// Its signing key.
    pub(crate) key: SigningKey,
    /// The HTTP backend.
    pub(crate) echo: Echo,
    /// smcp-server.
    pub(crate) smcp: SmcpServer,
    /// A plain client (no proxy, bounded).
    pub(crate) http: reqwest::Client,
}

impl Fixture {
    /// An RSA-keyed issuer and a ready smcp-server (keys loaded).
    pub(crate) async fn start() -> Fixture {
        Self::start_with("").await
    }

    /// Like [`Fixture::start`] with extra `server:` keys (indented two spaces, one per line).
    pub(crate) async fn start_with(server_extra: &str) -> Fixture {
        let key = SigningKey::rsa("k1");
        let issuer = TestIssuer::start(vec![key.clone()]).await.expect("issuer");
        let fixture = Self::start_on(issuer, key, server_extra).await;
        wait_ready(&fixture.http, &fixture.smcp).await;
        fixture
    }

    /// smcp-server in front of `issuer`, without waiting for readiness.
    pub(crate) async fn start_on(
        issuer: TestIssuer,
        key: SigningKey,
        server_extra: &str,
    ) -> Fixture {
        let echo = Echo::start().await;
        let smcp = SmcpServer::start(&config(issuer.issuer(), echo.addr(), server_extra)).await;
        Fixture {
            issuer,
            key,
            echo,
            smcp,
            http: client(),
        }
    }

    /// Valid claims for `sub` (audience [`AUDIENCE`], ten minutes), with `extra` members set.
    pub(crate) fn claims(&self, sub: &str, extra: &[(&str, Value)]) -> Value {
        let mut claims = self.issuer.claims(sub, AUDIENCE);
        for (name, value) in extra {
            claims[*name] = value.clone();
        }
        claims
    }

    /// A valid token for `sub` with `extra` claims.
    pub(crate) fn token(&self, sub: &str, extra: &[(&str, Value)]) -> String {
        self.issuer.mint(&self.key, &self.claims(sub, extra))
    }

    /// POSTs a JSON-RPC ping to `path` with the bearer `token` and extra `headers`.
    pub(crate) async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.smcp.url(path))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(PING);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request to smcp-server")
    }

    /// GETs `path`, with the bearer `token` if given.
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.smcp.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request to smcp-server")
    }

    /// The body of a GET of `path` (no token) as text.
    pub(crate) async fn text(&self, path: &str) -> String {
        self.get(path, None).await.text().await.expect("text")
    }

    /// Stops smcp-server (and its children).
    pub(crate) async fn stop(self) {
        self.smcp.stop().await;
    }
}

/// A reqwest client that ignores proxy variables and gives up after 30 s.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Polls `/ready` until it says 200, for at most [`READY_TIMEOUT`].
pub(crate) async fn wait_ready(http: &reqwest::Client, smcp: &SmcpServer) {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let response = http.get(smcp.url("/ready")).send().await.expect("ready");
        if response.status() == 200 {
            return;
        }
        let body = response.text().await.unwrap_or_default();
        assert!(
            tokio::time::Instant::now() < deadline,
            "smcp-server not ready within {READY_TIMEOUT:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `WWW-Authenticate` header (empty when absent).
pub(crate) fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default()
}

/// The body as JSON.
pub(crate) async fn body_json(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// Asserts a refusal: `status`, a challenge with `error="<oauth_error>"`, and an
/// `error_description` (and JSON-RPC message) containing `description`.
pub(crate) async fn assert_refused(
    response: reqwest::Response,
    status: u16,
    oauth_error: &str,
    description: &str,
) {
    assert_eq!(response.status(), status);
    let challenge = www_authenticate(&response);
    assert!(
        challenge.contains(&format!("error=\"{oauth_error}\"")),
        "{challenge}"
    );
    assert!(
        challenge.contains("resource_metadata=\"") && challenge.contains(description),
        "{challenge}"
    );
    let body = body_json(response).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(description), "{body}");
    assert_eq!(body["error"]["data"]["oauth_error"], oauth_error, "{body}");
}
