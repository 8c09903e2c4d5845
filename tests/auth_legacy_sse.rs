//! Legacy HTTP+SSE sessions of an HTTP backend are bound to their principal under
//! `auth.mode: oidc`: the session named by the `endpoint` event of Alice's `GET /sse` stream
//! belongs to Alice while the stream is open, so Bob posting into it (or reconnecting with
//! its id) gets 404, exactly as for an unknown session, and never reaches the backend. The
//! backend is the real server-everything in `sse` mode.
//!
//! Only the exact value of the endpoint event passes: the Python SDK's legacy server reads its
//! `session_id` as a UUID and so accepts other spellings of one id, and Bob's respellings of
//! Alice's id (or any id smcp never announced to him) get the same 404. The session is bound
//! to its route as well: posted through another route to the same upstream, protected or not,
//! even by Alice, it is unknown.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "auth_fixture.rs"]
mod fixture;

use std::time::Duration;

use serde_json::{Value, json};
use smcp_e2e::yaml::{http_backend, server_config};
use smcp_e2e::{HttpMode, SmcpServer, spawn_everything_http, spawn_py_sse_server};
use smcp_test_support::issuer::{SigningKey, TestIssuer};

use fixture::{AUDIENCE, body_json, client, wait_ready};

/// How long the test waits for an event on the SSE stream.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// smcp-server config: oidc in front of one legacy backend at `/legacy` (strip_path).
fn config(issuer: &str, port: u16) -> String {
    config_for(issuer, "legacy", "/legacy", port)
}

/// smcp-server config: oidc in front of one HTTP backend `id` at `path` (strip_path).
fn config_for(issuer: &str, id: &str, path: &str, port: u16) -> String {
    server_config(&[http_backend(id, path, &format!("http://127.0.0.1:{port}"))])
    .replacen(
        "mcp:\n",
        &format!(
            "auth:\n  mode: oidc\noidc:\n  issuers: [\"{issuer}\"]\n  audience: \"{AUDIENCE}\"\nmcp:\n"
        ),
        1,
    )
}

/// smcp-server config: oidc, and three routes to the same legacy backend: `/legacy` and
/// `/legacy2` protected, `/open` with `auth.mode: none`.
fn config_three_routes(issuer: &str, port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}");
    let open = http_backend("open", "/open", &url) + "      auth:\n        mode: none\n";
    server_config(&[
        http_backend("legacy", "/legacy", &url),
        http_backend("legacy2", "/legacy2", &url),
        open,
    ])
    .replacen(
        "mcp:\n",
        &format!(
            "auth:\n  mode: oidc\noidc:\n  issuers: [\"{issuer}\"]\n  audience: \"{AUDIENCE}\"\nmcp:\n"
        ),
        1,
    )
}

/// The next event named `event` whose data satisfies `wanted` (see
/// [`smcp_e2e::sse::next_event`]).
async fn next_event(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    event: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    smcp_e2e::sse::next_event(stream, buffer, event, EVENT_TIMEOUT, wanted).await
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "auth-legacy-sse", "version": "0"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sse_sessions_are_bound_to_the_principal_that_opened_the_stream() {
    let (everything, port) = spawn_everything_http(HttpMode::Sse).await;
    let key = SigningKey::rsa("k1");
    let issuer = TestIssuer::start(vec![key.clone()]).await.expect("issuer");
    let smcp = SmcpServer::start(&config(issuer.issuer(), port)).await;
    let http = client();
    wait_ready(&http, &smcp).await;
    let alice = issuer.mint(&key, &issuer.claims("alice", AUDIENCE));
    let bob = issuer.mint(&key, &issuer.claims("bob", AUDIENCE));

    // Alice opens the stream; its endpoint event names her session (public prefix kept).
    let mut stream = http
        .get(smcp.url("/legacy/sse"))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /sse");
    assert_eq!(stream.status(), 200);
    let mut buffer = String::new();
    let endpoint = next_event(&mut stream, &mut buffer, "endpoint", |_| true).await;
    assert!(
        endpoint.starts_with("/legacy/message?sessionId="),
        "{endpoint}"
    );
    let session = endpoint
        .split_once("sessionId=")
        .map(|(_, id)| id.to_owned())
        .expect("session id");

    let post = |token: &str, path: &str| {
        http.post(smcp.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(initialize().to_string())
            .send()
    };
    // Bob posts into Alice's session, under either parameter name: 404 as if unknown.
    for path in [
        endpoint.clone(),
        format!("/legacy/message?session_id=mine&sessionId={session}"),
    ] {
        let refused = post(&bob, &path).await.expect("Bob's POST");
        assert_eq!(refused.status(), 404, "{path}");
        let body = body_json(refused).await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Session not found")),
            "{body}"
        );
    }
    // Nor can he reattach to it with a GET.
    let reattach = http
        .get(smcp.url(&format!("/legacy/sse?sessionId={session}")))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("Bob's GET");
    assert_eq!(reattach.status(), 404);
    let metrics = smcp.metrics().await;
    assert!(
        metrics.lines().any(|line| {
            line.starts_with("smcp_session_binding_refusals_total{")
                && line.contains("backend=\"legacy\"")
        }),
        "{metrics}"
    );

    // Alice's own POST is accepted, and the reply arrives on her stream.
    let accepted = post(&alice, &endpoint).await.expect("Alice's POST");
    assert_eq!(accepted.status(), 202);
    let reply = next_event(&mut stream, &mut buffer, "message", |data| {
        serde_json::from_str::<Value>(data).is_ok_and(|m| m["id"] == 1)
    })
    .await;
    let reply: Value = serde_json::from_str(&reply).expect("JSON");
    assert!(reply["result"]["protocolVersion"].is_string(), "{reply}");
    // Without a token nobody gets as far as the session.
    let anonymous = http
        .post(smcp.url(&endpoint))
        .body(initialize().to_string())
        .send()
        .await
        .expect("anonymous POST");
    assert_eq!(anonymous.status(), 401);

    drop(stream);
    smcp.stop().await;
    drop(everything);
}

/// Refused with smcp's 404 and its JSON-RPC body, never reaching the backend.
async fn assert_refused(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 404, "{what}");
    let body = body_json(response).await;
    assert_eq!(body["jsonrpc"], "2.0", "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Session not found")),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respelled_python_sdk_session_ids_are_refused() {
    let (python, port) = spawn_py_sse_server().await;
    let key = SigningKey::rsa("k1");
    let issuer = TestIssuer::start(vec![key.clone()]).await.expect("issuer");
    let smcp = SmcpServer::start(&config_for(issuer.issuer(), "py", "/py", port)).await;
    let http = client();
    wait_ready(&http, &smcp).await;
    let alice = issuer.mint(&key, &issuer.claims("alice", AUDIENCE));
    let bob = issuer.mint(&key, &issuer.claims("bob", AUDIENCE));

    let mut stream = http
        .get(smcp.url("/py/sse"))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /sse");
    assert_eq!(stream.status(), 200);
    let mut buffer = String::new();
    let endpoint = next_event(&mut stream, &mut buffer, "endpoint", |_| true).await;
    let (path, hex) = endpoint
        .split_once("?session_id=")
        .unwrap_or_else(|| panic!("endpoint without session_id: {endpoint}"));
    assert_eq!(path, "/py/messages/", "{endpoint}");
    assert_eq!(hex.len(), 32, "the SDK announces a UUID's hex: {endpoint}");
    let hyphenated = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );

    let post = |token: &str, query: String| {
        http.post(smcp.url(&format!("{path}?{query}")))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(initialize().to_string())
            .send()
    };
    // Every spelling the SDK's `UUID(hex=...)` reads as Alice's session.
    let spellings = [
        hex.to_uppercase(),
        hyphenated.clone(),
        hyphenated.to_uppercase(),
        format!("{{{hex}}}"),
        format!("%7B{hyphenated}%7D"),
        format!("urn:uuid:{hyphenated}"),
        format!("urn%3Auuid%3A{hex}"),
        format!("%{:02X}{}", hex.as_bytes()[0], &hex[1..]),
    ];
    for spelling in &spellings {
        let refused = post(&bob, format!("session_id={spelling}"))
            .await
            .expect("Bob's POST");
        assert_refused(refused, &format!("Bob with {spelling}")).await;
    }
    // Alice's exact id from Bob; the parameter twice, or under both names, from anyone.
    for (token, query) in [
        (&bob, format!("session_id={hex}")),
        (&bob, format!("session_id={hex}&session_id={hex}")),
        (&alice, format!("session_id={hex}&session_id={hex}")),
        (&alice, format!("sessionId=x&session_id={hex}")),
        (&alice, format!("session_id={hyphenated}")),
    ] {
        let refused = post(token, query.clone()).await.expect("POST");
        assert_refused(refused, &query).await;
    }
    let metrics = smcp.metrics().await;
    for reason in ["foreign", "unknown", "ambiguous"] {
        assert!(
            metrics.lines().any(|line| {
                line.starts_with("smcp_session_binding_refusals_total{")
                    && line.contains("backend=\"py\"")
                    && line.contains(&format!("reason=\"{reason}\""))
            }),
            "{reason}: {metrics}"
        );
    }

    // Alice's exact value is served, and the reply arrives on her stream.
    let accepted = post(&alice, format!("session_id={hex}"))
        .await
        .expect("Alice's POST");
    assert_eq!(accepted.status(), 202);
    let reply = next_event(&mut stream, &mut buffer, "message", |data| {
        serde_json::from_str::<Value>(data).is_ok_and(|m| m["id"] == 1)
    })
    .await;
    let reply: Value = serde_json::from_str(&reply).expect("JSON");
    assert!(reply["result"]["protocolVersion"].is_string(), "{reply}");

    drop(stream);
    smcp.stop().await;
    drop(python);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_session_is_unknown_on_every_other_route() {
    let (everything, port) = spawn_everything_http(HttpMode::Sse).await;
    let key = SigningKey::rsa("k1");
    let issuer = TestIssuer::start(vec![key.clone()]).await.expect("issuer");
    let smcp = SmcpServer::start(&config_three_routes(issuer.issuer(), port)).await;
    let http = client();
    wait_ready(&http, &smcp).await;
    let alice = issuer.mint(&key, &issuer.claims("alice", AUDIENCE));

    let mut stream = http
        .get(smcp.url("/legacy/sse"))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /sse");
    assert_eq!(stream.status(), 200);
    let mut buffer = String::new();
    let endpoint = next_event(&mut stream, &mut buffer, "endpoint", |_| true).await;
    let query = endpoint
        .split_once('?')
        .map(|(_, query)| query.to_owned())
        .expect("query");
    for (path, token) in [
        (format!("/legacy2/message?{query}"), Some(alice.as_str())),
        (format!("/open/message?{query}"), None),
    ] {
        let mut post = http
            .post(smcp.url(&path))
            .header("content-type", "application/json")
            .body(initialize().to_string());
        if let Some(token) = token {
            post = post.bearer_auth(token);
        }
        assert_refused(post.send().await.expect("POST"), &path).await;
    }
    let metrics = smcp.metrics().await;
    for backend in ["legacy2", "open"] {
        assert!(
            metrics.lines().any(|line| {
                line.starts_with("smcp_session_binding_refusals_total{")
                    && line.contains(&format!("backend=\"{backend}\""))
                    && line.contains("reason=\"route\"")
            }),
            "{backend}: {metrics}"
        );
    }
    // On its own route the session is Alice's as before.
    let accepted = http
        .post(smcp.url(&endpoint))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(initialize().to_string())
        .send()
        .await
        .expect("Alice's POST");
    assert_eq!(accepted.status(), 202);
    let reply = next_event(&mut stream, &mut buffer, "message", |data| {
        serde_json::from_str::<Value>(data).is_ok_and(|m| m["id"] == 1)
    })
    .await;
    assert!(reply.contains("protocolVersion"), "{reply}");

    drop(stream);
    smcp.stop().await;
    drop(everything);
}
