//! `max_sessions` and `max_sessions_per_principal`: the idlest session makes room, a busy one
//! never does, and what is refused gets 429 (the caller's own limit) or 503 (a full backend),
//! both with `Retry-After` and a JSON-RPC error; evictions and refusals are counted.

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ::http::{Request, StatusCode};
use serde_json::json;
use tokio::task::JoinHandle;

use super::{
    StdioBackend, StdioBackendOptions, backend_with, body, call, ctx_from, initialize_body,
    json_body, options, post, settle,
};
use crate::owner::SessionOwner;
use crate::test_metrics::Capture;

fn alice() -> SessionOwner {
    SessionOwner::from_principal("https://issuer.test", "alice")
}

fn bob() -> SessionOwner {
    SessionOwner::from_principal("https://issuer.test", "bob")
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn local() -> IpAddr {
    ip("127.0.0.1")
}

fn limits(max_sessions: usize, per_principal: usize) -> StdioBackendOptions {
    StdioBackendOptions {
        max_sessions,
        max_sessions_per_principal: per_principal,
        // Long enough that no request in flight times out while the tests move the clock.
        stdio_timeout: Duration::from_secs(3600),
        ..options()
    }
}

/// `initialize` as `owner` from `client`; the session id, or the refusal's status.
async fn try_initialize(
    backend: &StdioBackend,
    owner: SessionOwner,
    client: IpAddr,
) -> Result<String, (StatusCode, Option<String>, serde_json::Value)> {
    let response = backend
        .handle(
            post(&initialize_body(7), None),
            ctx_from("/mcp", owner, client),
        )
        .await;
    if response.status() == StatusCode::OK {
        return Ok(response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned());
    }
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    Err((status, retry, json_body(response).await))
}

/// Initializes a session, then lets a second pass so the next one is idle for less long.
async fn open(backend: &StdioBackend, owner: SessionOwner, client: IpAddr) -> String {
    let id = try_initialize(backend, owner, client).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    id
}

/// Starts a `slow` call (the fake never answers it) so the session has a request in flight.
async fn busy(
    backend: &StdioBackend,
    session: &str,
    owner: SessionOwner,
    client: IpAddr,
) -> JoinHandle<::http::Response<crate::body::Body>> {
    let backend = backend.clone();
    let session = session.to_owned();
    let handle = tokio::spawn(async move {
        backend
            .handle(
                post(&call(50, "slow", json!({})), Some(&session)),
                ctx_from("/mcp", owner, client),
            )
            .await
    });
    settle().await;
    handle
}

/// Whether `session` still answers `owner`.
async fn alive(backend: &StdioBackend, session: &str, owner: SessionOwner, client: IpAddr) -> bool {
    let response = backend
        .handle(
            post(&call(60, "echo", json!({"text": "hi"})), Some(session)),
            ctx_from("/mcp", owner, client),
        )
        .await;
    match response.status() {
        StatusCode::OK => true,
        StatusCode::NOT_FOUND => false,
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn the_principals_own_idlest_session_makes_room_then_429_when_all_are_busy() {
    let metrics = run_counted(async {
        let (backend, fake) = backend_with(limits(8, 2));
        let first = open(&backend, alice(), local()).await;
        let second = open(&backend, alice(), local()).await;
        let bob_session = open(&backend, bob(), local()).await;
        // A third for Alice: her longest-idle session goes, Bob's (idler still) stays.
        let third = open(&backend, alice(), local()).await;
        assert!(!alive(&backend, &first, alice(), local()).await);
        assert!(fake.all()[0].stopped.load(Ordering::SeqCst));
        assert!(alive(&backend, &second, alice(), local()).await);
        assert!(alive(&backend, &bob_session, bob(), local()).await);
        assert_eq!(backend.active_sessions(), 3);

        // Both of Alice's sessions busy: refused with 429, a JSON-RPC error and Retry-After.
        let _a = busy(&backend, &second, alice(), local()).await;
        let _b = busy(&backend, &third, alice(), local()).await;
        let (status, retry, body) = try_initialize(&backend, alice(), local())
            .await
            .unwrap_err();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(retry.is_some());
        assert_eq!(body["id"], 7);
        assert_eq!(body["error"]["code"], -32000);
        // The limit is Alice's, not the backend's: Bob still gets a session, from the same
        // address.
        try_initialize(&backend, bob(), local()).await.unwrap();
        assert_eq!(backend.active_sessions(), 4);
    });
    assert_eq!(
        metrics.get("smcp_sessions_evicted_total{backend=fake,reason=principal_limit}"),
        1
    );
    assert_eq!(
        metrics.get("smcp_sessions_refused_total{backend=fake,reason=principal_limit}"),
        1
    );
    assert_eq!(
        metrics.get("smcp_sessions_ended_total{backend=fake,reason=evicted}"),
        1
    );
}

#[test]
fn an_anonymous_backend_counts_per_client_address() {
    let metrics = run_counted(async {
        let (backend, _fake) = backend_with(limits(8, 1));
        let anonymous = SessionOwner::anonymous;
        let a = open(&backend, anonymous(), ip("203.0.113.7")).await;
        let _a_busy = busy(&backend, &a, anonymous(), ip("203.0.113.7")).await;
        let (status, _, _) = try_initialize(&backend, anonymous(), ip("203.0.113.7"))
            .await
            .unwrap_err();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        // Another address has its own quota; so does another IPv6 /64, but not the same /64.
        try_initialize(&backend, anonymous(), ip("203.0.113.8"))
            .await
            .unwrap();
        let v6 = open(&backend, anonymous(), ip("2001:db8:0:1::1")).await;
        let _v6_busy = busy(&backend, &v6, anonymous(), ip("2001:db8:0:1::1")).await;
        let (status, _, _) = try_initialize(&backend, anonymous(), ip("2001:db8:0:1::2"))
            .await
            .unwrap_err();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        try_initialize(&backend, anonymous(), ip("2001:db8:0:2::1"))
            .await
            .unwrap();
        assert_eq!(backend.active_sessions(), 4);
    });
    assert_eq!(
        metrics.get("smcp_sessions_refused_total{backend=fake,reason=principal_limit}"),
        2
    );
}

#[test]
fn a_full_backend_ends_its_longest_idle_session_to_admit_a_new_one() {
    let metrics = run_counted(async {
        let (backend, fake) = backend_with(limits(2, 2));
        let oldest = open(&backend, alice(), local()).await;
        let newer = open(&backend, bob(), local()).await;
        // Touching a session makes it the less idle one.
        assert!(alive(&backend, &oldest, alice(), local()).await);
        tokio::time::advance(Duration::from_secs(1)).await;
        let carol = SessionOwner::from_principal("https://issuer.test", "carol");
        let third = try_initialize(&backend, carol.clone(), local())
            .await
            .unwrap();
        assert!(!alive(&backend, &newer, bob(), local()).await);
        assert!(fake.all()[1].stopped.load(Ordering::SeqCst));
        assert!(alive(&backend, &oldest, alice(), local()).await);
        assert!(alive(&backend, &third, carol, local()).await);
        assert_eq!(backend.active_sessions(), 2);
    });
    assert_eq!(
        metrics.get("smcp_sessions_evicted_total{backend=fake,reason=backend_full}"),
        1
    );
    assert_eq!(
        metrics.get("smcp_sessions_ended_total{backend=fake,reason=evicted}"),
        1
    );
}

#[test]
fn a_session_with_a_request_in_flight_is_never_evicted() {
    run_counted(async {
        let (backend, fake) = backend_with(limits(2, 2));
        // The older session is the idler one by its last traffic, but it has a request
        // running: the newer, idle one goes instead.
        let working = open(&backend, alice(), local()).await;
        let running = busy(&backend, &working, alice(), local()).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let idle = open(&backend, bob(), local()).await;
        tokio::time::advance(Duration::from_secs(30)).await;
        try_initialize(&backend, bob(), local()).await.unwrap();
        assert!(!alive(&backend, &idle, bob(), local()).await);
        // The running request still completes in its session.
        let conn = fake.all()[0].clone();
        assert!(!conn.stopped.load(Ordering::SeqCst));
        let pending = conn.pending();
        assert_eq!(pending.len(), 1);
        conn.respond(&pending[0], json!({"content": []}));
        let response = running.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(json_body(response).await["id"], 50);
        assert!(alive(&backend, &working, alice(), local()).await);
    });
}

#[test]
fn a_full_backend_whose_sessions_are_all_busy_gives_503_with_retry_after() {
    let metrics = run_counted(async {
        let (backend, _fake) = backend_with(limits(2, 2));
        let a = open(&backend, alice(), local()).await;
        let _a_busy = busy(&backend, &a, alice(), local()).await;
        // A legacy session's open stream keeps it busy too.
        let legacy = backend
            .handle(
                Request::get("/sse")
                    .header("accept", "text/event-stream")
                    .body(body::empty())
                    .unwrap(),
                ctx_from("/sse", bob(), local()),
            )
            .await;
        assert_eq!(legacy.status(), StatusCode::OK);
        tokio::time::advance(Duration::from_secs(60)).await;
        let (status, retry, body) = try_initialize(&backend, bob(), local()).await.unwrap_err();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("5"));
        assert_eq!(body["id"], 7);
        assert_eq!(body["error"]["code"], -32000);
        assert_eq!(backend.active_sessions(), 2);
        drop(legacy);
    });
    assert_eq!(
        metrics.get("smcp_sessions_refused_total{backend=fake,reason=backend_full}"),
        1
    );
    assert_eq!(
        metrics.get("smcp_sessions_evicted_total{backend=fake,reason=backend_full}"),
        0
    );
}

/// Runs `test` on a paused single-threaded runtime with a recorder counting every counter.
fn run_counted(test: impl Future<Output = ()>) -> Capture {
    let capture = Capture::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&capture, || runtime.block_on(test));
    capture
}
