//! Session binding under `auth.mode: oidc`: an MCP session belongs to the principal (issuer +
//! subject) whose request created it. Another principal replaying its `Mcp-Session-Id` gets
//! 404, exactly as for an unknown session, both for an HTTP backend (smcp remembers the
//! upstream's session ids) and for a stdio backend (the session layer carries its owner). The
//! stdio child never sees a token or an identity: nothing is injected into JSON-RPC. A session
//! is also bound to its route: the same principal presenting its id on another route (one that
//! fronts the same upstream, or an unprotected one) gets 404 too.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "auth_fixture.rs"]
mod fixture;

use serde_json::{Value, json};

use fixture::{Fixture, body_json};

const PROTOCOL: &str = "2025-11-25";

/// POSTs `message` to `path` as `token`'s principal, in session `session` when given.
async fn rpc(
    f: &Fixture,
    path: &str,
    token: Option<&str>,
    session: Option<&str>,
    message: &Value,
) -> reqwest::Response {
    let mut request = f
        .http
        .post(f.smcp.url(path))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL)
        .body(message.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.expect("request")
}

fn session_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("mcp-session-id")
        .unwrap_or_else(|| panic!("no Mcp-Session-Id in {response:?}"))
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// The JSON-RPC response in a JSON or SSE body.
async fn reply_of(response: reqwest::Response) -> Value {
    let sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = response.text().await.expect("body");
    if !sse {
        return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|message| message.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in {text}"))
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {},
        "clientInfo": {"name": "auth-sessions", "version": "0"}}})
}

fn call(id: u64, tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {}}})
}

fn refusals(metrics: &str, backend: &str) -> bool {
    metrics.lines().any(|line| {
        line.starts_with("smcp_session_binding_refusals_total{")
            && line.contains(&format!("backend=\"{backend}\""))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_backend_sessions_are_bound_to_their_principal() {
    let f = Fixture::start().await;
    let alice = f.token("alice", &[]);
    let bob = f.token("bob", &[]);
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});

    let created = rpc(&f, "/echo/mcp", Some(&alice), None, &initialize(1)).await;
    assert_eq!(created.status(), 200);
    let session = session_of(&created);
    let in_session = rpc(&f, "/echo/mcp", Some(&alice), Some(&session), &ping).await;
    assert_eq!(in_session.status(), 200);
    let before = f.echo.requests();

    // Bob replays Alice's session id: 404 as if unknown, and the backend never sees it.
    let replay = rpc(&f, "/echo/mcp", Some(&bob), Some(&session), &ping).await;
    assert_eq!(replay.status(), 404);
    let body = body_json(replay).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Session not found")),
        "{body}"
    );
    let get = f
        .http
        .get(f.smcp.url("/echo/mcp"))
        .bearer_auth(&bob)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 404);
    let delete = f
        .http
        .delete(f.smcp.url("/echo/mcp"))
        .bearer_auth(&bob)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("delete");
    assert_eq!(
        delete.status(),
        404,
        "Bob cannot end Alice's session either"
    );
    assert_eq!(f.echo.requests(), before, "no replay reached the backend");
    assert!(refusals(&f.text("/metrics").await, "echo"));
    // Alice's session still works; without a token nobody gets as far as the session.
    let again = rpc(&f, "/echo/mcp", Some(&alice), Some(&session), &ping).await;
    assert_eq!(again.status(), 200);
    let anonymous = rpc(&f, "/echo/mcp", None, Some(&session), &ping).await;
    assert_eq!(anonymous.status(), 401);

    // Once Alice ends the session, its id is forgotten and the backend decides (404).
    let ended = f
        .http
        .delete(f.smcp.url("/echo/mcp"))
        .bearer_auth(&alice)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("delete");
    assert_eq!(ended.status(), 200);
    let after = f.echo.requests();
    let late = rpc(&f, "/echo/mcp", Some(&bob), Some(&session), &ping).await;
    assert_eq!(late.status(), 404);
    assert_eq!(
        f.echo.requests(),
        after + 1,
        "this one was the backend's 404"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_backend_sessions_are_bound_and_the_child_sees_no_credentials() {
    let f = Fixture::start().await;
    let alice = f.token("alice", &[("email", json!("alice@example.com"))]);
    let bob = f.token("bob", &[]);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});

    let created = rpc(&f, "/fake/mcp", Some(&alice), None, &initialize(1)).await;
    assert_eq!(created.status(), 200);
    let session = session_of(&created);
    let reply = reply_of(created).await;
    assert!(reply["result"]["protocolVersion"].is_string(), "{reply}");
    let sent = rpc(&f, "/fake/mcp", Some(&alice), Some(&session), &initialized).await;
    assert_eq!(sent.status(), 202);

    // Bob replays Alice's session id: 404 as if unknown.
    let replay = rpc(
        &f,
        "/fake/mcp",
        Some(&bob),
        Some(&session),
        &call(2, "received"),
    )
    .await;
    assert_eq!(replay.status(), 404);
    // Bob's own session works, and Alice cannot use it either.
    let bobs = rpc(&f, "/fake/mcp", Some(&bob), None, &initialize(1)).await;
    assert_eq!(bobs.status(), 200);
    let bob_session = session_of(&bobs);
    assert_ne!(bob_session, session);
    let cross = rpc(
        &f,
        "/fake/mcp",
        Some(&alice),
        Some(&bob_session),
        &call(2, "echo"),
    )
    .await;
    assert_eq!(cross.status(), 404);

    // Alice's child saw exactly her JSON-RPC messages: no token, no identity.
    let received = rpc(
        &f,
        "/fake/mcp",
        Some(&alice),
        Some(&session),
        &call(3, "received"),
    )
    .await;
    assert_eq!(received.status(), 200);
    let reply = reply_of(received).await;
    let lines = reply["result"]["structuredContent"].to_string();
    assert!(lines.contains("initialize"), "{reply}");
    for secret in [alice.as_str(), "Bearer", "alice", "x-subject"] {
        assert!(!lines.contains(secret), "the child saw {secret:?}: {lines}");
    }
    assert!(
        !lines.contains("bob") && !lines.contains(&bob),
        "Bob's replay never reached Alice's child: {lines}"
    );
    f.stop().await;
}

fn refusals_for(metrics: &str, backend: &str, reason: &str) -> bool {
    metrics.lines().any(|line| {
        line.starts_with("smcp_session_binding_refusals_total{")
            && line.contains(&format!("backend=\"{backend}\""))
            && line.contains(&format!("reason=\"{reason}\""))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sessions_replayed_on_another_route_are_unknown() {
    let f = Fixture::start().await;
    let alice = f.token("alice", &[]);
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    // /echo, /custom and /public all front the same upstream, which would serve the session
    // on any of them.
    let created = rpc(&f, "/echo/mcp", Some(&alice), None, &initialize(1)).await;
    assert_eq!(created.status(), 200);
    let session = session_of(&created);
    let before = f.echo.requests();

    for (path, token) in [
        ("/custom/mcp", Some(alice.as_str())),
        ("/noident/mcp", Some(alice.as_str())),
        ("/public/mcp", None),
    ] {
        let replay = rpc(&f, path, token, Some(&session), &ping).await;
        assert_eq!(replay.status(), 404, "{path}");
        let body = body_json(replay).await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Session not found")),
            "{path}: {body}"
        );
        let get = f
            .http
            .get(f.smcp.url(path))
            .header("mcp-session-id", &session);
        let get = match token {
            Some(token) => get.bearer_auth(token),
            None => get,
        };
        assert_eq!(get.send().await.expect("get").status(), 404, "GET {path}");
    }
    assert_eq!(f.echo.requests(), before, "no replay reached the backend");
    let metrics = f.text("/metrics").await;
    assert!(refusals_for(&metrics, "custom", "route"), "{metrics}");
    assert!(refusals_for(&metrics, "public", "route"), "{metrics}");

    // On its own route the session still works, and a session the public route's caller
    // created there (not bound: nobody to bind it to) still passes on the public route.
    let own = rpc(&f, "/echo/mcp", Some(&alice), Some(&session), &ping).await;
    assert_eq!(own.status(), 200);
    let public = rpc(&f, "/public/mcp", None, None, &initialize(3)).await;
    assert_eq!(public.status(), 200);
    let public_session = session_of(&public);
    let again = rpc(&f, "/public/mcp", None, Some(&public_session), &ping).await;
    assert_eq!(again.status(), 200);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_sessions_replayed_on_another_route_are_unknown() {
    let f = Fixture::start().await;
    let alice = f.token("alice", &[]);
    let created = rpc(&f, "/fake/mcp", Some(&alice), None, &initialize(1)).await;
    assert_eq!(created.status(), 200);
    let session = session_of(&created);
    let replay = rpc(
        &f,
        "/fake2/mcp",
        Some(&alice),
        Some(&session),
        &call(2, "echo"),
    )
    .await;
    assert_eq!(replay.status(), 404);
    let body = body_json(replay).await;
    assert!(body["error"]["message"].is_string(), "{body}");
    let own = rpc(
        &f,
        "/fake/mcp",
        Some(&alice),
        Some(&session),
        &call(3, "echo"),
    )
    .await;
    assert_eq!(own.status(), 200);

    // Legacy SSE: the sessionId announced on /fake/sse, posted to /fake2/message.
    let mut stream = f
        .http
        .get(f.smcp.url("/fake/sse"))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sse");
    assert_eq!(stream.status(), 200);
    // The stream stays open (held) for the rest of the test: its session ends with it.
    let endpoint = first_endpoint(&mut stream).await;
    let query = endpoint
        .split_once('?')
        .map(|(_, query)| query.to_owned())
        .unwrap_or_else(|| panic!("no query in endpoint {endpoint}"));
    let other = f
        .http
        .post(f.smcp.url(&format!("/fake2/message?{query}")))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(initialize(1).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(other.status(), 404, "legacy session of /fake on /fake2");
    let mine = f
        .http
        .post(f.smcp.url(&endpoint))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(initialize(1).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(mine.status(), 202, "on its own route it is accepted");
    drop(stream);
    f.stop().await;
}

/// The URI of the first `endpoint` event of a legacy SSE stream.
async fn first_endpoint(stream: &mut reqwest::Response) -> String {
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
            .await
            .expect("endpoint event in time")
            .expect("stream")
            .expect("stream ended before its endpoint event");
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(at) = text.find("event: endpoint")
            && text[at..].contains("\n\n")
            && let Some(data) = text[at..]
                .lines()
                .find_map(|line| line.strip_prefix("data:"))
        {
            return data.trim().to_owned();
        }
    }
}
