//! A hostile client against smcp-server in oidc mode (the `auth_*` fixture: a protected
//! `/scoped` and a public `/public` route on one upstream, a protected `/echo` that strips its
//! prefix, a stdio `/fake`):
//!
//! - path tricks that a WHATWG-style upstream resolves into another route (`..\`, `..%2F`,
//!   `%2e%2e/`, `..;/`, `%5C`, `//`, ...) are refused with 400 before routing, and the
//!   upstream never sees them;
//! - a doubled header smcp decides on (`Mcp-Session-Id` above all: the binding check and the
//!   backend must read the same value) is refused with 400, on HTTP and stdio backends;
//! - client headers that alias smcp's identity or forwarding headers (`X_Subject`,
//!   `X-Real-IP`, ...) never reach the upstream, and a `sub` that cannot be a header value is
//!   refused rather than forwarded with no identity at all.
//!
//! Requests with paths reqwest would normalise are written by hand on a raw TCP connection.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "auth_fixture.rs"]
mod fixture;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use fixture::{Fixture, PING, body_json};

/// Sends `head` (the request line and headers, without the blank line) and a `body` on a
/// fresh connection with `Connection: close`; returns the status and the body as JSON.
async fn raw(f: &Fixture, head: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(f.smcp.addr()).await.expect("connect");
    let request = format!(
        "{head}\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        f.smcp.addr(),
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read response");
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, json)
}

/// The value of the metric line that starts with `series`, or 0.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Asserts a 400 JSON-RPC "invalid request" whose message contains `needle`.
fn assert_bad_request(status: u16, body: &Value, what: &str, needle: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["jsonrpc"], "2.0", "{what}: {body}");
    assert_eq!(body["error"]["code"], -32600, "{what}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message
            .to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase()),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_cannot_reach_a_protected_route_through_a_public_one() {
    let f = Fixture::start().await;
    // The public route works without a token; the protected one on the same upstream does not.
    let (status, body) = raw(&f, "GET /public/ok HTTP/1.1", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/public/ok");
    let (status, _) = raw(&f, "GET /scoped/data HTTP/1.1", "").await;
    assert_eq!(status, 401);
    let seen = f.echo.requests();

    let tricks = [
        "/public/..\\scoped/data",
        "/public\\..\\scoped",
        "/public/..%2Fscoped/data",
        "/public/..%2fscoped/data",
        "/public/%2e%2e%2fscoped/data",
        "/public/%2E%2E/scoped/data",
        "/public/.%2e/scoped/data",
        "/public/..;/scoped/data",
        "/public/%5C..%5Cscoped",
        "/public/..%5cscoped",
        "/public/../scoped/data",
        "/public/./../scoped",
        "/public//../scoped",
        "/public/%252e%252e/scoped",
        "/public/%00/../scoped",
        "/public/%c0%ae%c0%ae/scoped",
        "/public/%2",
        "/%73coped/data",
        "/scoped;x/data",
    ];
    for trick in tricks {
        for method in ["GET", "POST"] {
            let (status, body) = raw(&f, &format!("{method} {trick} HTTP/1.1"), PING).await;
            assert_bad_request(status, &body, trick, "path");
        }
    }
    assert_eq!(
        f.echo.requests(),
        seen,
        "no path trick may reach the upstream"
    );
    let metrics = f.text("/metrics").await;
    let refused = metric(
        &metrics,
        "smcp_rejected_requests_total{reason=\"path_not_normal\"}",
    );
    assert!(
        refused >= (2 * tricks.len()) as f64,
        "refusals counted: {refused}\n{metrics}"
    );
    f.stop().await;
}

/// POSTs a ping to `path` with `token` and `headers` (appended: a name given twice is sent
/// twice); returns the status and the body as JSON.
async fn post(
    f: &Fixture,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let response = f.post(path, token, headers).await;
    let status = response.status().as_u16();
    (status, body_json(response).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doubled_session_id_cannot_reach_another_principals_session() {
    let f = Fixture::start().await;
    let alice = f.token("alice", &[]);
    let bob = f.token("bob", &[]);
    let created = f.post("/echo/mcp", Some(&alice), &[]).await;
    assert_eq!(created.status(), 200);
    let session = created
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let seen = f.echo.requests();

    // Bob alone with Alice's id: the binding refuses it (404, as for an unknown session).
    let (status, _) = post(&f, "/echo/mcp", Some(&bob), &[("mcp-session-id", &session)]).await;
    assert_eq!(status, 404);
    // Doubled, in either order and with equal copies: 400, never the upstream.
    for pair in [
        [session.as_str(), session.as_str()],
        [session.as_str(), "bob-made-this-up"],
        ["bob-made-this-up", session.as_str()],
    ] {
        let headers = [("mcp-session-id", pair[0]), ("mcp-session-id", pair[1])];
        let (status, body) = post(&f, "/echo/mcp", Some(&bob), &headers).await;
        assert_bad_request(status, &body, "doubled Mcp-Session-Id", "Mcp-Session-Id");
    }
    assert_eq!(
        f.echo.requests(),
        seen,
        "Bob's requests reached the upstream"
    );
    // Alice herself is refused too: one value or none.
    let headers = [("mcp-session-id", &*session), ("mcp-session-id", &*session)];
    let (status, _) = post(&f, "/echo/mcp", Some(&alice), &headers).await;
    assert_eq!(status, 400);
    let metrics = f.text("/metrics").await;
    assert!(
        metric(
            &metrics,
            "smcp_rejected_requests_total{reason=\"doubled_header\"}"
        ) >= 4.0,
        "{metrics}"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decisive_header_doubled_is_refused_on_both_backend_kinds() {
    let f = Fixture::start().await;
    let token = f.token("alice", &[]);
    let seen = f.echo.requests();
    let doubled = [
        ("mcp-session-id", "s-1"),
        ("mcp-protocol-version", "2025-11-25"),
        ("origin", "http://127.0.0.1"),
        ("mcp-method", "ping"),
        ("mcp-name", "echo"),
        ("last-event-id", "1"),
        ("content-type", "application/json"),
        ("access-control-request-method", "POST"),
    ];
    for (name, value) in doubled {
        for (path, token) in [
            ("/public/mcp", None),
            ("/echo/mcp", Some(token.as_str())),
            ("/fake/mcp", Some(token.as_str())),
        ] {
            let (status, body) = post(&f, path, token, &[(name, value), (name, value)]).await;
            assert_bad_request(status, &body, &format!("{name} on {path}"), name);
        }
    }
    // Host too, also on a route-less path (written raw: clients send one Host).
    let (status, body) = raw(
        &f,
        "POST /public/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json",
        PING,
    )
    .await;
    assert_bad_request(status, &body, "doubled Host", "Host");
    assert_eq!(
        f.echo.requests(),
        seen,
        "a doubled header reached the upstream"
    );
    f.stop().await;
}

/// The upstream's view of a request: header name -> values.
async fn upstream_headers(
    f: &Fixture,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> serde_json::Map<String, Value> {
    let (status, body) = post(f, path, token, headers).await;
    assert_eq!(status, 200, "{body}");
    body["headers"].as_object().cloned().expect("headers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_of_identity_and_forwarding_headers_never_reach_the_upstream() {
    let f = Fixture::start().await;
    let token = f.token("alice", &[("email", json!("alice@example.com"))]);
    let forged = [
        ("x_subject", "mallory"),
        ("X_Email", "mallory@example.com"),
        ("x-subject", "mallory"),
        ("x-real-ip", "10.6.6.6"),
        ("x_real_ip", "10.6.6.6"),
        ("x-forwarded-for", "10.6.6.6"),
        ("x_forwarded_for", "10.6.6.6"),
        ("x_forwarded_host", "evil.example"),
        ("x_forwarded_proto", "https"),
        ("x-user", "mallory"),
        ("x_user_email", "mallory@example.com"),
    ];
    let seen = upstream_headers(&f, "/echo/mcp", Some(&token), &forged).await;
    assert_eq!(seen["x-subject"], json!(["alice"]), "{seen:?}");
    assert_eq!(seen["x-email"], json!(["alice@example.com"]), "{seen:?}");
    assert_eq!(seen["x-forwarded-for"], json!(["127.0.0.1"]), "{seen:?}");
    for name in [
        "x_subject",
        "x_email",
        "x-real-ip",
        "x_real_ip",
        "x_forwarded_for",
        "x_forwarded_host",
        "x_forwarded_proto",
    ] {
        assert!(
            !seen.contains_key(name),
            "{name} reached the upstream: {seen:?}"
        );
    }
    // Custom identity names are owned the same way, and unprotected backends drop them too.
    let seen = upstream_headers(&f, "/custom/mcp", Some(&token), &forged).await;
    assert_eq!(seen["x-user"], json!(["alice"]), "{seen:?}");
    assert!(!seen.contains_key("x_user_email"), "{seen:?}");
    let seen = upstream_headers(&f, "/public/mcp", None, &forged).await;
    for name in [
        "x_subject",
        "x-subject",
        "x_email",
        "x-real-ip",
        "x_real_ip",
    ] {
        assert!(
            !seen.contains_key(name),
            "{name} reached the upstream: {seen:?}"
        );
    }
    assert_eq!(seen["x-forwarded-for"], json!(["127.0.0.1"]), "{seen:?}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_that_is_no_header_value_is_refused() {
    let f = Fixture::start().await;
    let seen = f.echo.requests();
    for (sub, email) in [
        ("\u{e9}mile", None),
        ("line\nbreak", None),
        (" alice", None),
        ("alice", Some("al\u{ee}ce@example.com")),
    ] {
        let mut extra = Vec::new();
        if let Some(email) = email {
            extra.push(("email", json!(email)));
        }
        let token = f.token(sub, &extra);
        let (status, body) = post(&f, "/echo/mcp", Some(&token), &[]).await;
        assert_eq!(status, 403, "{sub:?}: {body}");
        assert_eq!(body["error"]["code"], -32001, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("header"), "{body}");
    }
    assert_eq!(
        f.echo.requests(),
        seen,
        "an identity-less request was forwarded"
    );
    // Where no identity header is sent, such a subject is fine.
    let token = f.token("\u{e9}mile", &[]);
    let (status, body) = post(&f, "/noident/mcp", Some(&token), &[]).await;
    assert_eq!(status, 200, "{body}");
    let metrics = f.text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("smcp_auth_outcomes_total{")
                && line.contains("reason=\"identity_not_header_safe\"")),
        "{metrics}"
    );
    f.stop().await;
}
