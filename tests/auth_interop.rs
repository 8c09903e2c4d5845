//! smcp-server in oidc mode with a real OpenID provider (npm `oidc-provider` 9.13.3,
//! `tests/peers/oidc/provider.mjs`) and real MCP SDK clients:
//!
//! - client-credentials JWT access tokens from the provider, signed RS256 and ES256, fetched
//!   for the backend's public URL (RFC 8707 `resource` -> `aud`), get the Python and the
//!   TypeScript SDK through to server-everything over HTTP and over stdio;
//! - the TypeScript SDK's `ClientCredentialsProvider`, given only the server URL, a client id
//!   and a secret, completes discovery from smcp's 401 (WWW-Authenticate -> protected-resource
//!   metadata -> authorization-server metadata -> token endpoint) and calls a tool;
//! - the provider rotates its signing keys: the new key is accepted without a restart, and a
//!   withdrawn key is refused once the key set was refreshed.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

use std::time::Duration;

use serde_json::{Value, json};
use smcp_e2e::expect::{driver_args, http_trace};
use smcp_e2e::oidc::{ES256_CLIENT, RS256_CLIENT};
use smcp_e2e::{
    HttpMode, OidcProvider, SmcpServer, everything_stdio, run_py_client, run_ts_client,
    spawn_everything_http, spawn_oidc_provider,
};

/// An audience no token of these tests carries: only the backends' public URLs (the
/// `resource` the tokens are requested for) are accepted.
const UNUSED_AUDIENCE: &str = "urn:smcp:nobody";

fn config(issuer: &str, everything_port: u16) -> String {
    let stdio = everything_stdio();
    let env: serde_json::Map<String, Value> = stdio
        .env
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    format!(
        r#"server:
  host: "127.0.0.1"
  port: 0
  shutdown_timeout: "5s"
auth:
  mode: oidc
oidc:
  issuers: ["{issuer}"]
  audience: "{UNUSED_AUDIENCE}"
  scopes_supported: ["mcp:tools"]
  jwks_refresh_min_interval: "1s"
mcp:
  backends:
    - id: everything-http
      transport: http
      url: "http://127.0.0.1:{everything_port}/mcp"
      path: /v1/everything
      strip_path: true
    - id: everything-stdio
      transport: stdio
      path: /v1/local
      stdio:
        command: {command}
        args: {args}
        env: {env}
        stdio_timeout: "30s"
"#,
        command = json!(stdio.program.to_string_lossy()),
        args = json!(stdio.args),
        env = Value::Object(env),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn wait_ready(http: &reqwest::Client, smcp: &SmcpServer) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while http
        .get(smcp.url("/ready"))
        .send()
        .await
        .expect("ready")
        .status()
        != 200
    {
        assert!(tokio::time::Instant::now() < deadline, "not ready in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The status of `GET /api/models` with `token` (the server's root resource).
async fn models_status(http: &reqwest::Client, smcp: &SmcpServer, token: &str) -> u16 {
    http.get(smcp.url("/api/models"))
        .bearer_auth(token)
        .send()
        .await
        .expect("models")
        .status()
        .as_u16()
}

/// Repeats `GET /api/models` with `token` until it answers `status` (a key-set refresh is
/// rate-limited to one per second), for at most 10 s.
async fn eventually_models_status(
    http: &reqwest::Client,
    smcp: &SmcpServer,
    token: &str,
    status: u16,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = models_status(http, smcp, token).await;
        if got == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET /api/models still {got}, expected {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn header(token: &str) -> Vec<String> {
    vec!["--header".into(), format!("Authorization: Bearer {token}")]
}

/// The `alg` and `kid` of a JWT's header (unverified, for the test's own bookkeeping).
fn jwt_header(token: &str) -> Value {
    let first = token.split('.').next().expect("header");
    serde_json::from_slice(&base64url_decode(first)).expect("JSON header")
}

/// Unpadded base64url, enough for a JWT header.
fn base64url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut bits, mut count) = (0u32, 0u32);
    for byte in text.bytes() {
        let value = ALPHABET
            .iter()
            .position(|&c| c == byte)
            .unwrap_or_else(|| panic!("not base64url: {text}"));
        bits = (bits << 6) | u32::try_from(value).expect("< 64");
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).expect("byte"));
        }
    }
    out
}

async fn start() -> (
    OidcProvider,
    smcp_e2e::ChildGuard,
    SmcpServer,
    reqwest::Client,
) {
    let provider = spawn_oidc_provider().await;
    let (everything, port) = spawn_everything_http(HttpMode::StreamableHttp).await;
    let smcp = SmcpServer::start(&config(provider.issuer(), port)).await;
    let http = client();
    wait_ready(&http, &smcp).await;
    (provider, everything, smcp, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_clients_reach_http_and_stdio_backends_with_rs256_and_es256_tokens() {
    let (provider, everything, smcp, http) = start().await;
    let http_url = smcp.url("/v1/everything");
    let stdio_url = smcp.url("/v1/local");
    let rs256 = provider
        .client_credentials_token(RS256_CLIENT, Some(&http_url), Some("mcp:tools"))
        .await;
    let es256 = provider
        .client_credentials_token(ES256_CLIENT, Some(&stdio_url), None)
        .await;
    assert_eq!(jwt_header(&rs256)["alg"], "RS256");
    assert_eq!(jwt_header(&es256)["alg"], "ES256");
    assert_eq!(jwt_header(&rs256)["typ"], "at+jwt");

    for (url, token) in [(&http_url, &rs256), (&stdio_url, &es256)] {
        let mut args = driver_args(url, "streamable", "basic");
        args.extend(header(token));
        let py = run_py_client(&args).await;
        assert_eq!(py["echo"], "Echo: hello from py_client", "{url}");
        let ts = run_ts_client(&args).await;
        assert_eq!(ts["echo"], "Echo: hello from ts_client", "{url}");
        assert!(
            http_trace(&ts).iter().all(|e| e["status"] != 401),
            "{url}: {ts}"
        );
        println!(
            "accepted at {url}: {} token (kid {}) from oidc-provider, Python and TypeScript SDKs",
            jwt_header(token)["alg"],
            jwt_header(token)["kid"]
        );
    }

    // A token for one backend does not open the other, and a token without a resource
    // (aud urn:smcp:default) opens neither.
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let no_resource = provider
        .client_credentials_token(RS256_CLIENT, None, None)
        .await;
    for (url, token) in [
        (&stdio_url, &rs256),
        (&http_url, &es256),
        (&http_url, &no_resource),
    ] {
        let response = http
            .post(format!("{url}/mcp"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(ping)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 401, "{url}");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            challenge.contains("error_description=\"the token was not issued for this resource\""),
            "{challenge}"
        );
    }
    smcp.stop().await;
    drop(everything);
    drop(provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_client_credentials_provider_discovers_from_the_401() {
    let (provider, everything, smcp, _http) = start().await;
    let url = smcp.url("/v1/everything");
    let before = provider.token_requests().await;
    let mut args = driver_args(&url, "streamable", "basic");
    args.extend(
        [
            "--oauth-client-id",
            RS256_CLIENT,
            "--oauth-client-secret",
            "smcp-rs256-secret",
        ]
        .map(str::to_owned),
    );
    let ts = run_ts_client(&args).await;
    assert_eq!(ts["echo"], "Echo: hello from ts_client", "{ts}");
    let trace = http_trace(&ts);
    for entry in trace {
        println!(
            "{} {} -> {}",
            entry["method"].as_str().unwrap_or_default(),
            entry["path"].as_str().unwrap_or_default(),
            entry["status"]
        );
    }
    let metadata_url = smcp.url("/.well-known/oauth-protected-resource/v1/everything");
    assert_eq!(trace[0]["rpc"], "initialize");
    assert_eq!(trace[0]["status"], 401, "{ts}");
    assert_eq!(
        trace[0]["www-authenticate"],
        format!("Bearer resource_metadata=\"{metadata_url}\"")
    );
    // Discovery went through smcp's metadata document to the provider's token endpoint.
    let paths: Vec<&str> = trace.iter().filter_map(|e| e["path"].as_str()).collect();
    assert!(
        paths.contains(&"/.well-known/oauth-protected-resource/v1/everything"),
        "{paths:?}"
    );
    assert!(paths.contains(&"/token"), "{paths:?}");
    assert!(
        trace
            .iter()
            .any(|e| e["rpc"] == "tools/call" && e["status"] == 200),
        "{ts}"
    );
    assert_eq!(provider.token_requests().await, before + 1);
    smcp.stop().await;
    drop(everything);
    drop(provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_provider_keys_are_followed_without_a_restart() {
    let (provider, everything, smcp, http) = start().await;
    let root = smcp.url("/");
    let first = provider
        .client_credentials_token(RS256_CLIENT, Some(&root), None)
        .await;
    assert_eq!(jwt_header(&first)["kid"], "rs256-1");
    assert_eq!(models_status(&http, &smcp, &first).await, 200);

    // A new key, the old one still published: both are accepted, without a restart.
    let kids = provider.rotate_keys(false).await;
    assert_eq!(kids, ["rs256-2", "es256-2", "rs256-1", "es256-1"]);
    let second = provider
        .client_credentials_token(RS256_CLIENT, Some(&root), None)
        .await;
    assert_eq!(jwt_header(&second)["kid"], "rs256-2");
    eventually_models_status(&http, &smcp, &second, 200).await;
    assert_eq!(models_status(&http, &smcp, &first).await, 200);

    // The old keys withdrawn: once a token with the newest key made smcp refresh the key set,
    // a token signed with a withdrawn key is refused.
    let kids = provider.rotate_keys(true).await;
    assert_eq!(kids, ["rs256-3", "es256-3"]);
    let third = provider
        .client_credentials_token(RS256_CLIENT, Some(&root), None)
        .await;
    eventually_models_status(&http, &smcp, &third, 200).await;
    let response = http
        .get(smcp.url("/api/models"))
        .bearer_auth(&first)
        .send()
        .await
        .expect("models");
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.contains("the token was signed with an unknown key"),
        "{challenge}"
    );
    assert_eq!(models_status(&http, &smcp, &second).await, 401);
    println!(
        "rotation: rs256-1 accepted; rs256-2 published beside it and accepted without restart; \
         after withdrawing both, rs256-3 accepted and rs256-1/rs256-2 tokens refused 401 unknown key"
    );
    smcp.stop().await;
    drop(everything);
    drop(provider);
}
