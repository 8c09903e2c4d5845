//! smcp-client in HTTP mode, as a real process, between the Python SDK and smcp-server
//! (in-process) in front of server-everything over stdio, with a real OpenID provider
//! (`oidc-provider`, `tests/peers/oidc/provider.mjs`):
//!
//! - auth mode none: the whole `everything` scenario (progress, sampling, elicitation) passes
//!   through both proxies;
//! - oidc: one token serves many calls (counted at the provider); a 3-second token is replaced
//!   mid-session without a failed call; `client_secret_post`, `private_key_jwt` and MCP
//!   discovery (no issuer given) work; a token the server refuses after a key rotation is
//!   replaced and the request replayed;
//! - failures: a wrong secret and an unreachable server are each a 502 whose JSON-RPC error
//!   says which; `smcp-client check` explains both a good and a bad setup.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "client_fixture.rs"]
mod client_fixture;

use std::time::Duration;

use client_fixture::{
    HttpClient, client_command, http, metric, oidc_args, secret_env, server_yaml,
    spawn_http_client, stdio_backend, wait_ready,
};
use serde_json::{Value, json};
use smcp_e2e::expect::{assert_everything, assert_progress, driver_args};
use smcp_e2e::oidc::{ES256_CLIENT, JWT_CLIENT, RS256_CLIENT};
use smcp_e2e::{
    SmcpServer, everything_stdio, run_py_client, spawn_oidc_provider, spawn_oidc_provider_with,
    try_run_py_client,
};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":42,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

/// smcp-server with server-everything (stdio) at `/v1/everything`, oidc with `issuer` or none.
async fn everything_server(issuer: Option<&str>) -> SmcpServer {
    let backends = stdio_backend("everything", "/v1/everything", &everything_stdio());
    let smcp = SmcpServer::start(&server_yaml(issuer, &backends)).await;
    wait_ready(&smcp).await;
    smcp
}

/// smcp-client pointed at the everything endpoint (the MCP endpoint is then the client's `/`).
async fn client_for(smcp: &SmcpServer, args: &[String], env: &[(String, String)]) -> HttpClient {
    let mut all = vec!["--server-url".to_owned(), smcp.url("/v1/everything")];
    all.extend_from_slice(args);
    spawn_http_client(&all, env).await
}

async fn run_everything(client: &HttpClient) -> Value {
    let out = run_py_client(driver_args(&client.url("/"), "streamable", "everything")).await;
    assert_everything(&out, "python", "hello from py_client");
    assert_progress(&out);
    out
}

#[tokio::test]
async fn python_sdk_through_smcp_client_without_auth() {
    let smcp = everything_server(None).await;
    let client = client_for(&smcp, &[], &[]).await;
    run_everything(&client).await;
    let health: Value = http()
        .get(client.url("/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("health JSON");
    assert_eq!(health, json!({"status": "ok"}));
    let metrics = client.metrics().await;
    assert!(
        metric(&metrics, r#"smcp_client_requests_total{status="200"}"#) >= 5.0,
        "{metrics}"
    );
    assert!(metric(&metrics, r#"smcp_client_requests_total{status="202"}"#) >= 1.0);
    smcp.stop().await;
}

#[tokio::test]
async fn one_token_serves_many_calls() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_server(Some(provider.issuer())).await;
    let client = client_for(
        &smcp,
        &oidc_args(provider.issuer(), RS256_CLIENT),
        &secret_env(provider.secret_of(RS256_CLIENT)),
    )
    .await;
    let before = provider.token_requests().await;
    run_everything(&client).await;
    for _ in 0..2 {
        run_py_client(driver_args(&client.url("/"), "streamable", "basic")).await;
    }
    let used = provider.token_requests().await - before;
    eprintln!("token requests for three sessions: {used}");
    // Three sessions, each with discovery probe, initialize, notifications, tools/list and
    // several tool calls (dozens of HTTP requests): one token.
    assert_eq!(used, 1, "token requests at the provider");
    let metrics = client.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"smcp_client_token_fetches_total{outcome="success"}"#
        ),
        1.0,
        "{metrics}"
    );
    assert!(metric(&metrics, r#"smcp_client_requests_total{status="200"}"#) >= 15.0);
    smcp.stop().await;
}

#[tokio::test]
async fn a_three_second_token_is_refreshed_mid_session_without_a_failed_call() {
    let provider = spawn_oidc_provider_with(&["--token-ttl", "3"]).await;
    let smcp = everything_server(Some(provider.issuer())).await;
    let mut args = oidc_args(provider.issuer(), RS256_CLIENT);
    args.extend(["--oidc-token-ttl-delta".to_owned(), "1s".to_owned()]);
    let client = client_for(&smcp, &args, &secret_env(provider.secret_of(RS256_CLIENT))).await;
    let before = provider.token_requests().await;
    // A 5-second operation in the middle of the session: the calls after it need a new token.
    let mut driver = driver_args(&client.url("/"), "streamable", "everything");
    driver.extend(["--long-duration", "5", "--long-steps", "5"].map(str::to_owned));
    let out = run_py_client(driver).await;
    assert_everything(&out, "python", "hello from py_client");
    let used = provider.token_requests().await - before;
    eprintln!("token requests for a session with 3-second tokens: {used}");
    assert!(
        used >= 2,
        "the token was never replaced ({used} token requests)"
    );
    // Refreshed ahead of expiry (reused 2 s of its 3), not per call.
    assert!(used <= 6, "{used} token requests for a ~6 s session");
    // Every request reached the server with a token it accepted: no 401 came back.
    let statuses: Vec<u64> = out["http"]
        .as_array()
        .expect("trace")
        .iter()
        .filter_map(|e| e["status"].as_u64())
        .collect();
    assert!(
        !statuses.contains(&401) && !statuses.contains(&502),
        "{statuses:?}"
    );
    smcp.stop().await;
}

#[tokio::test]
async fn client_secret_post_and_private_key_jwt_work() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_server(Some(provider.issuer())).await;

    let mut post = oidc_args(provider.issuer(), ES256_CLIENT);
    post.extend([
        "--oidc-client-auth".to_owned(),
        "client_secret_post".to_owned(),
    ]);
    let client = client_for(&smcp, &post, &secret_env(provider.secret_of(ES256_CLIENT))).await;
    let out = run_py_client(driver_args(&client.url("/"), "streamable", "basic")).await;
    assert_eq!(out["echo"], "Echo: hello from py_client");
    drop(client);

    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("client-key.pem");
    let pem = provider.info()["clients"]
        .as_array()
        .and_then(|clients| clients.iter().find(|c| c["client_id"] == JWT_CLIENT))
        .and_then(|c| c["private_key_pem"].as_str())
        .expect("private_key_pem of the jwt client");
    std::fs::write(&key_file, pem).expect("write key");
    let mut jwt = oidc_args(provider.issuer(), JWT_CLIENT);
    jwt.extend([
        "--oidc-client-auth".to_owned(),
        "private_key_jwt".to_owned(),
        "--oidc-private-key-file".to_owned(),
        key_file.to_string_lossy().into_owned(),
        "--oidc-private-key-id".to_owned(),
        "smcp-jwt-client".to_owned(),
    ]);
    let client = client_for(&smcp, &jwt, &[]).await;
    let out = run_py_client(driver_args(&client.url("/"), "streamable", "basic")).await;
    assert_eq!(out["echo"], "Echo: hello from py_client");
    smcp.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_is_discovered_from_the_servers_401() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_server(Some(provider.issuer())).await;
    // No issuer, no token URL, no scopes: everything comes from the server's challenge and
    // metadata.
    let args = ["--auth-mode", "oidc", "--oidc-client-id", RS256_CLIENT].map(str::to_owned);
    let client = client_for(&smcp, &args, &secret_env(provider.secret_of(RS256_CLIENT))).await;
    let out = run_py_client(driver_args(&client.url("/"), "streamable", "basic")).await;
    assert_eq!(out["echo"], "Echo: hello from py_client");
    let logs = client.guard.logs();
    assert!(
        logs.contains("token endpoint ready") && logs.contains(provider.token_endpoint()),
        "{logs}"
    );
    smcp.stop().await;
}

/// POSTs the raw `initialize` to `url`.
async fn initialize(http: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INITIALIZE);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("initialize")
}

#[tokio::test]
async fn a_token_refused_after_a_key_rotation_is_replaced_and_the_request_replayed() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_server(Some(provider.issuer())).await;
    let args = oidc_args(provider.issuer(), RS256_CLIENT);
    let secret = secret_env(provider.secret_of(RS256_CLIENT));
    let client = client_for(&smcp, &args, &secret).await;
    // A second client that keeps no body for replays.
    let mut no_replay = args.clone();
    no_replay.extend(["--replay-body-limit".to_owned(), "0".to_owned()]);
    let streaming = client_for(&smcp, &no_replay, &secret).await;
    let http = http();
    assert_eq!(
        initialize(&http, &client.url("/"), None).await.status(),
        200
    );
    assert_eq!(
        initialize(&http, &streaming.url("/"), None).await.status(),
        200
    );
    let before = provider.token_requests().await;

    // The provider drops its signing keys; once smcp-server has seen a token with a new key
    // and refreshed its key set, the clients' cached tokens no longer verify.
    provider.rotate_keys(true).await;
    let resource = smcp.url("/v1/everything");
    let fresh = provider
        .client_credentials_token(ES256_CLIENT, Some(&resource), None)
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while initialize(&http, &resource, Some(&fresh)).await.status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "new key never accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The request meets a 401, gets a new token and is replayed: the application sees a
    // plain 200.
    let response = initialize(&http, &client.url("/"), None).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(
        body.contains("\"id\":42") && body.contains("serverInfo"),
        "{body}"
    );
    // Without a kept body the 401 is passed on, but the token is still replaced: the next
    // request goes through.
    assert_eq!(
        initialize(&http, &streaming.url("/"), None).await.status(),
        401
    );
    assert_eq!(
        initialize(&http, &streaming.url("/"), None).await.status(),
        200
    );
    // One new token per client, plus the test's own.
    assert_eq!(provider.token_requests().await - before, 3);
    for proxy in [&client, &streaming] {
        let metrics = proxy.metrics().await;
        assert_eq!(
            metric(
                &metrics,
                r#"smcp_client_token_refreshes_total{reason="unauthorized"}"#
            ),
            1.0,
            "{metrics}"
        );
    }
    smcp.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_a_502_naming_invalid_client() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_server(Some(provider.issuer())).await;
    let client = client_for(
        &smcp,
        &oidc_args(provider.issuer(), RS256_CLIENT),
        &secret_env("not-the-secret"),
    )
    .await;
    let response = http()
        .post(client.url("/"))
        .header("content-type", "application/json")
        .body(INITIALIZE)
        .send()
        .await
        .expect("initialize");
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.expect("JSON-RPC error");
    assert_eq!(body["id"], 42, "{body}");
    assert_eq!(body["error"]["code"], -32000);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("could not obtain an access token"),
        "{message}"
    );
    assert!(message.contains("invalid_client"), "{message}");
    // The secret is in no log line.
    assert!(!client.guard.logs().contains("not-the-secret"));

    // An SDK client sees the failure, not a hang.
    let run = try_run_py_client(driver_args(&client.url("/"), "streamable", "connect")).await;
    assert!(!run.succeeded(), "{}", run.stdout);

    // `check` says it in plain words and exits 1.
    let mut args = vec![
        "check".to_owned(),
        "--server-url".to_owned(),
        smcp.url("/v1/everything"),
    ];
    args.extend(oidc_args(provider.issuer(), RS256_CLIENT));
    let output = client_command(&args, &secret_env("not-the-secret"))
        .output()
        .await
        .expect("check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("does not accept this client's credentials"),
        "{stdout}"
    );
    assert!(stdout.contains("invalid_client"), "{stdout}");
    smcp.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_502_saying_so() {
    // A port that was free a moment ago: nothing listens there.
    let port = smcp_e2e::free_port();
    let args = [
        "--server-url".to_owned(),
        format!("http://127.0.0.1:{port}/v1/x"),
    ];
    let client = spawn_http_client(&args, &[]).await;
    let response = http()
        .post(client.url("/"))
        .header("content-type", "application/json")
        .body(INITIALIZE)
        .send()
        .await
        .expect("initialize");
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.expect("JSON-RPC error");
    assert_eq!(body["id"], 42);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("cannot reach the server"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}

#[tokio::test]
async fn check_reports_what_the_server_will_see() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_server(Some(provider.issuer())).await;
    let mut args = vec![
        "check".to_owned(),
        "--server-url".to_owned(),
        smcp.url("/v1/everything"),
    ];
    args.extend(oidc_args(provider.issuer(), RS256_CLIENT));
    let output = client_command(&args, &secret_env(provider.secret_of(RS256_CLIENT)))
        .output()
        .await
        .expect("check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for want in [
        format!("token issuer:  {}", provider.issuer()),
        format!("token subject: {RS256_CLIENT}"),
        format!("token audience: {}", smcp.url("/v1/everything")),
        "token scopes:  mcp:tools".to_owned(),
        "token expires:".to_owned(),
        format!("resource:      {}", smcp.url("/v1/everything")),
        "initialize:    OK (server mcp-servers/everything".to_owned(),
        "OK: the server accepts this client.".to_owned(),
    ] {
        assert!(stdout.contains(&want), "missing {want:?} in:\n{stdout}");
    }
    smcp.stop().await;
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, written to `dir` as
/// `<name>.pem` and `<name>-key.pem`.
fn certificate(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    (cert, key, certified.cert.pem())
}

#[tokio::test]
async fn https_to_the_server_with_a_ca_file_and_a_tls_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server_cert, server_key, server_pem) = certificate(dir.path(), "server");
    let (listener_cert, listener_key, listener_pem) = certificate(dir.path(), "listener");
    let mut yaml = server_yaml(
        None,
        &stdio_backend("everything", "/v1/everything", &everything_stdio()),
    );
    yaml.push_str(&format!(
        "tls:\n  enabled: true\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
        server_cert.display(),
        server_key.display()
    ));
    let smcp = SmcpServer::start(&yaml).await;
    let endpoint = smcp.url("/v1/everything");
    assert!(endpoint.starts_with("https://"));
    let trusting_server = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_merge([reqwest::Certificate::from_pem(server_pem.as_bytes()).expect("root")])
        .build()
        .expect("client");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while trusting_server
        .get(smcp.url("/ready"))
        .send()
        .await
        .map_or(true, |r| r.status() != 200)
    {
        assert!(tokio::time::Instant::now() < deadline, "not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let args = [
        "--server-url".to_owned(),
        endpoint.clone(),
        "--server-ca-file".to_owned(),
        server_cert.to_string_lossy().into_owned(),
        "--tls".to_owned(),
        "--tls-cert".to_owned(),
        listener_cert.to_string_lossy().into_owned(),
        "--tls-key".to_owned(),
        listener_key.to_string_lossy().into_owned(),
    ];
    let client = spawn_http_client(&args, &[]).await;
    let trusting_client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_merge([reqwest::Certificate::from_pem(listener_pem.as_bytes()).expect("root")])
        .build()
        .expect("client");
    let url = format!("https://{}/", client.addr);
    let response = initialize(&trusting_client, &url, None).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(body.contains("mcp-servers/everything"), "{body}");

    // Without the CA file the server's certificate is not trusted (system roots only).
    let untrusting = spawn_http_client(&args[..2], &[]).await;
    let response = initialize(&http(), &untrusting.url("/"), None).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.expect("JSON-RPC error");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("(tls:"), "{message}");
    smcp.stop().await;
}

/// The local listener keeps at most `--max-connections` open: one more is closed at accept and
/// counted, and a slot freed is usable again (so `/metrics` answers once the flood is gone).
#[tokio::test]
async fn the_listener_closes_connections_over_max_connections() {
    use tokio::io::AsyncReadExt;
    let args = [
        "--server-url".to_owned(),
        "http://127.0.0.1:9".to_owned(),
        "--max-connections".to_owned(),
        "2".to_owned(),
    ];
    let client = spawn_http_client(&args, &[]).await;
    let guard = Duration::from_secs(30);
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(
            tokio::net::TcpStream::connect(client.addr)
                .await
                .expect("connect"),
        );
    }
    // Accepted in order: the listener has counted both before it accepts the third.
    let mut over = tokio::net::TcpStream::connect(client.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(guard, over.read(&mut buf))
        .await
        .expect("the connection over the limit was held open");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    drop(held);
    let deadline = tokio::time::Instant::now() + guard;
    let metrics = loop {
        if let Ok(response) = http().get(client.url("/metrics")).send().await
            && let Ok(text) = response.text().await
        {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "no slot was freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let refused: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("smcp_connections_refused_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no refusal count in\n{metrics}"));
    assert!(refused >= 1, "{metrics}");
}
