//! DPoP (RFC 9449) end to end: oidc-provider issues DPoP-bound tokens (`cnf.jkt`), smcp-server
//! verifies proof and binding (`auth.dpop: required` on one backend, `oidc.dpop: optional` for
//! the other), smcp-client asks for bound tokens and proves every request.
//!
//! - smcp-client `--oidc-dpop` in HTTP mode (a Python SDK client) and stdio mode, against both
//!   backends; with the provider demanding its nonce too (`use_dpop_nonce`).
//! - Attacks on smcp-server directly: a replayed proof, a proof for another URL or method, a
//!   stolen token without the key (as Bearer, or with another key's proof), a bearer token
//!   where DPoP is required; each refused with 401 and the DPoP challenge.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "client_fixture.rs"]
mod client_fixture;

use client_fixture::{
    client_command, echo_through, host_launches_client, http, metric, oidc_args, secret_env,
    spawn_http_client, stdio_backend, wait_ready,
};
use serde_json::Value;
use smcp_auth::token_source::DpopKey;
use smcp_e2e::oidc::RS256_CLIENT;
use smcp_e2e::{
    OidcProvider, SmcpServer, everything_stdio, run_py_client, spawn_oidc_provider,
    spawn_oidc_provider_with,
};
use url::Url;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

/// smcp-server with `/v1/required` (`auth.dpop: required`) and `/v1/optional` (inheriting
/// `oidc.dpop: optional`), both server-everything over stdio.
async fn dpop_server(provider: &OidcProvider) -> SmcpServer {
    dpop_server_with(provider, false).await
}

/// As [`dpop_server`], with server nonces (`oidc.dpop_nonce`) when `nonces`.
async fn dpop_server_with(provider: &OidcProvider, nonces: bool) -> SmcpServer {
    let required = stdio_backend("required", "/v1/required", &everything_stdio())
        + "      auth:\n        dpop: required\n";
    let optional = stdio_backend("optional", "/v1/optional", &everything_stdio());
    let yaml = format!(
        r#"server:
  host: "127.0.0.1"
  port: 0
  shutdown_timeout: "5s"
auth:
  mode: oidc
oidc:
  issuers: ["{issuer}"]
  audience: "urn:smcp:nobody"
  dpop: optional
  dpop_nonce: {nonces}
  jwks_refresh_min_interval: "1s"
mcp:
  backends:
{required}{optional}"#,
        issuer = provider.issuer()
    );
    let smcp = SmcpServer::start(&yaml).await;
    wait_ready(&smcp).await;
    smcp
}

/// A DPoP-bound token for `resource`, asked for with a proof signed by `key`.
async fn bound_token(provider: &OidcProvider, key: &DpopKey, resource: &str) -> String {
    let endpoint = Url::parse(provider.token_endpoint()).expect("token endpoint");
    let response = http()
        .post(endpoint.clone())
        .basic_auth(RS256_CLIENT, Some(provider.secret_of(RS256_CLIENT)))
        .header("DPoP", key.proof("POST", &endpoint, None, None))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", "mcp:tools"),
        ])
        .send()
        .await
        .expect("token request");
    let body: Value = response.json().await.expect("token JSON");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// POSTs `initialize` to `url` with `authorization` and, when given, `proof`.
async fn initialize(url: &str, authorization: &str, proof: Option<&str>) -> reqwest::Response {
    let mut request = http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", authorization)
        .body(INITIALIZE);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.expect("initialize")
}

/// The status and `WWW-Authenticate` of a response.
fn refusal(response: &reqwest::Response) -> (u16, String) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn smcp_server_refuses_replays_other_urls_stolen_tokens_and_downgrades() {
    let provider = spawn_oidc_provider().await;
    let smcp = dpop_server(&provider).await;
    let key = DpopKey::generate().expect("key");
    let url = smcp.url("/v1/required");
    let target = Url::parse(&url).expect("url");
    let token = bound_token(&provider, &key, &url).await;
    let dpop = format!("DPoP {token}");

    // The real thing.
    let proof = key.proof("POST", &target, Some(&token), None);
    let ok = initialize(&url, &dpop, Some(&proof)).await;
    assert_eq!(ok.status(), 200, "{:?}", ok.text().await);

    // The same proof again.
    let (status, challenge) = refusal(&initialize(&url, &dpop, Some(&proof)).await);
    assert_eq!(status, 401);
    assert!(challenge.starts_with("DPoP algs="), "{challenge}");
    assert!(
        challenge.contains("invalid_dpop_proof") && challenge.contains("used before"),
        "{challenge}"
    );

    // A proof for another URL, and for another method.
    let other = Url::parse(&smcp.url("/v1/optional")).expect("url");
    let wrong_url = key.proof("POST", &other, Some(&token), None);
    let (status, challenge) = refusal(&initialize(&url, &dpop, Some(&wrong_url)).await);
    assert_eq!(status, 401);
    assert!(challenge.contains("another URL"), "{challenge}");
    let wrong_method = key.proof("GET", &target, Some(&token), None);
    let (status, challenge) = refusal(&initialize(&url, &dpop, Some(&wrong_method)).await);
    assert_eq!(status, 401);
    assert!(challenge.contains("another HTTP method"), "{challenge}");

    // The token stolen without the key: as Bearer (on the backend that would take Bearer), or
    // with a proof of the thief's own key.
    let optional = smcp.url("/v1/optional");
    let optional_token = bound_token(&provider, &key, &optional).await;
    let (status, challenge) =
        refusal(&initialize(&optional, &format!("Bearer {optional_token}"), None).await);
    assert_eq!(status, 401);
    assert!(
        challenge.contains("must be sent with the DPoP scheme"),
        "{challenge}"
    );
    let thief = DpopKey::generate().expect("key");
    let thief_proof = thief.proof("POST", &target, Some(&token), None);
    let (status, challenge) = refusal(&initialize(&url, &dpop, Some(&thief_proof)).await);
    assert_eq!(status, 401);
    assert!(challenge.contains("bound to another key"), "{challenge}");
    // No proof at all, or two (each good on its own): the proof smcp decides on must be one.
    let (status, challenge) = refusal(&initialize(&url, &dpop, None).await);
    assert_eq!(status, 401);
    assert!(
        challenge.contains("exactly one DPoP proof header"),
        "{challenge}"
    );
    let twice = http()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", &dpop)
        .header("DPoP", key.proof("POST", &target, Some(&token), None))
        .header("dpop", key.proof("POST", &target, Some(&token), None))
        .body(INITIALIZE)
        .send()
        .await
        .expect("initialize");
    let (status, challenge) = refusal(&twice);
    assert_eq!(status, 401);
    assert!(
        challenge.contains("exactly one DPoP proof header"),
        "{challenge}"
    );

    // A bearer token where DPoP is required: refused with the DPoP challenge alone; the
    // optional backend takes it, and says it could take DPoP too.
    let plain = provider
        .client_credentials_token(RS256_CLIENT, Some(&url), Some("mcp:tools"))
        .await;
    let (status, challenge) = refusal(&initialize(&url, &format!("Bearer {plain}"), None).await);
    assert_eq!(status, 401);
    assert!(
        challenge.starts_with("DPoP ") && !challenge.contains("Bearer"),
        "{challenge}"
    );
    let optional_plain = provider
        .client_credentials_token(
            RS256_CLIENT,
            Some(&smcp.url("/v1/optional")),
            Some("mcp:tools"),
        )
        .await;
    let response = initialize(
        &smcp.url("/v1/optional"),
        &format!("Bearer {optional_plain}"),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let (_, challenge) = refusal(&initialize(&smcp.url("/v1/optional"), "Bearer nope", None).await);
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(", DPoP algs="),
        "{challenge}"
    );

    let metrics = smcp.metrics().await;
    // The metrics recorder is the test process's, shared with the other tests here; only this
    // test replays a proof, steals a token or sends a proof of the wrong key.
    for (sample, want) in [
        (r#"smcp_dpop_proofs_total{outcome="replayed"}"#, 1.0),
        (
            r#"smcp_auth_outcomes_total{backend="required",outcome="rejected",reason="dpop_key_mismatch"}"#,
            1.0,
        ),
        (
            r#"smcp_auth_outcomes_total{backend="optional",outcome="rejected",reason="dpop_bound_token_as_bearer"}"#,
            1.0,
        ),
        (
            r#"smcp_auth_outcomes_total{backend="required",outcome="rejected",reason="dpop_required"}"#,
            1.0,
        ),
    ] {
        assert_eq!(metric(&metrics, sample), want, "{sample}\n{metrics}");
    }
    smcp.stop().await;
}

/// smcp-client's OIDC arguments (the fixture's, `--oidc-scopes mcp:tools`) for `server_url`,
/// with `--oidc-dpop`.
fn dpop_client_args(provider: &OidcProvider, server_url: &str) -> Vec<String> {
    let mut args = vec!["--server-url".to_owned(), server_url.to_owned()];
    args.extend(oidc_args(provider.issuer(), RS256_CLIENT));
    args.push("--oidc-dpop".to_owned());
    args
}

fn secret(provider: &OidcProvider) -> Vec<(String, String)> {
    secret_env(provider.secret_of(RS256_CLIENT))
}

#[tokio::test]
async fn smcp_client_proves_every_request_in_both_modes_and_follows_the_idps_nonce() {
    for nonce in [false, true] {
        let provider = if nonce {
            spawn_oidc_provider_with(&["--dpop-nonce"]).await
        } else {
            spawn_oidc_provider().await
        };
        let smcp = dpop_server(&provider).await;
        // HTTP mode on the server root: one bound token per backend.
        let client = spawn_http_client(
            &dpop_client_args(&provider, &smcp.url("/")),
            &secret(&provider),
        )
        .await;
        for path in ["/v1/required", "/v1/optional"] {
            echo_through(&client, path).await;
        }
        drop(client);
        let requests = provider.token_requests().await;
        // One token request per resource; with the nonce, each resource's first one is
        // answered use_dpop_nonce and sent again with it (each resource's source keeps its own).
        assert_eq!(requests, if nonce { 4 } else { 2 }, "nonce {nonce}");

        // stdio mode with a key file: created on first use, reused after.
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join("dpop.pem");
        let mut args = dpop_client_args(&provider, &smcp.url("/v1/required"));
        args.extend([
            "--oidc-dpop-key-file".to_owned(),
            key_file.display().to_string(),
        ]);
        let mut host = host_launches_client(&args, &secret(&provider));
        host.extend(["--scenario", "basic"].map(str::to_owned));
        let out = run_py_client(host).await;
        assert_eq!(
            out["echo"], "Echo: hello from py_client",
            "nonce {nonce}: {out}"
        );
        let key = DpopKey::load_or_create(&key_file).expect("the key file smcp-client wrote");
        // `check` with the same key file shows the binding to that key, and passes.
        args.insert(0, "check".to_owned());
        let output = client_command(&args, &secret(&provider))
            .output()
            .await
            .expect("check");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains(&format!("token binding: DPoP, key {}", key.thumbprint())),
            "{stdout}"
        );
        smcp.stop().await;
    }
}

#[tokio::test]
async fn server_nonces_are_handed_out_demanded_and_followed_by_smcp_client() {
    let provider = spawn_oidc_provider().await;
    let smcp = dpop_server_with(&provider, true).await;
    let key = DpopKey::generate().expect("key");
    let url = smcp.url("/v1/required");
    let target = Url::parse(&url).expect("url");
    let token = bound_token(&provider, &key, &url).await;
    let dpop = format!("DPoP {token}");

    // Without the nonce: 401 use_dpop_nonce and the nonce to use.
    let first = initialize(
        &url,
        &dpop,
        Some(&key.proof("POST", &target, Some(&token), None)),
    )
    .await;
    let (status, challenge) = refusal(&first);
    assert_eq!(status, 401);
    assert!(
        challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = first
        .headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .expect("a DPoP-Nonce header")
        .to_owned();
    // With it: accepted.
    let proof = key.proof("POST", &target, Some(&token), Some(&nonce));
    assert_eq!(initialize(&url, &dpop, Some(&proof)).await.status(), 200);
    // A made-up nonce is not one.
    let forged = key.proof(
        "POST",
        &target,
        Some(&token),
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    let (status, challenge) = refusal(&initialize(&url, &dpop, Some(&forged)).await);
    assert_eq!(status, 401);
    assert!(challenge.contains("use_dpop_nonce"), "{challenge}");

    // smcp-client learns the nonce from the first refusal and resends once.
    let client = spawn_http_client(
        &dpop_client_args(&provider, &smcp.url("/")),
        &secret(&provider),
    )
    .await;
    echo_through(&client, "/v1/required").await;
    smcp.stop().await;
}

#[tokio::test]
async fn smcp_client_with_an_eddsa_key() {
    let provider = spawn_oidc_provider().await;
    let smcp = dpop_server(&provider).await;
    let mut args = dpop_client_args(&provider, &smcp.url("/"));
    args.extend(["--oidc-dpop-alg".to_owned(), "EdDSA".to_owned()]);
    let client = spawn_http_client(&args, &secret(&provider)).await;
    echo_through(&client, "/v1/required").await;
    // The backend takes DPoP-bound tokens only: the echo answered is the proof.
    smcp.stop().await;
}
