//! Memory ceilings under the two floods a hostile peer can aim at a stdio backend: a client
//! posting into a child that never reads its stdin, and a chatty child writing to a client
//! that never reads its stream. Each is asserted on this process's resident memory (peak
//! growth over the idle baseline, from /proc/self/status), never on timing.
//!
//! This binary holds a single test on purpose: resident memory is per process, so no other
//! test may run beside it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

#[allow(dead_code, reason = "shared helpers, not all used here")]
#[path = "stdio_backend/support.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use smcp_transport::body;
use smcp_transport::stdio_backend::StdioBackend;
use support::{call, ctx, fixture_with, initialize, json_body, options, post};

/// The documented ceiling: growth over the idle baseline while either flood runs.
const CEILING: u64 = 64 * 1024 * 1024;
/// What each flood pushes: well over the ceiling, so an unbounded buffer cannot pass.
const FLOOD_MESSAGES: u64 = 160;
const MESSAGE_BYTES: u64 = 1024 * 1024;

/// A field of /proc/self/status, in bytes.
fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Resident memory now, after resetting the peak to it (so VmHWM is this phase's peak).
fn baseline() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    status("VmRSS:")
}

fn peak_growth(base: u64, what: &str) -> u64 {
    let peak = status("VmHWM:");
    let growth = peak.saturating_sub(base);
    eprintln!(
        "{what}: baseline {} MiB, peak {} MiB, growth {} MiB (ceiling {} MiB)",
        base >> 20,
        peak >> 20,
        growth >> 20,
        CEILING >> 20
    );
    growth
}

/// A notification carrying `MESSAGE_BYTES` of text, in a fresh allocation (a shared one
/// would hide what smcp keeps).
fn big_notification(session: &str) -> Request<body::Body> {
    let filler = "y".repeat(usize::try_from(MESSAGE_BYTES).unwrap());
    let text = json!({"jsonrpc":"2.0","method":"notifications/message",
        "params":{"level":"info","data":filler}})
    .to_string();
    Request::builder()
        .method(Method::POST)
        .uri("/v1/fake/mcp")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body::full(Bytes::from(text.into_bytes())))
        .unwrap()
}

async fn client_floods_a_deaf_child(backend: &StdioBackend) {
    let session = initialize(backend).await;
    let answer = json_body(
        backend
            .handle(
                post(&call(1, "deaf", json!({})), Some(&session)),
                ctx("/mcp"),
            )
            .await,
    )
    .await;
    assert_eq!(answer["id"], 1);

    let base = baseline();
    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut first_refusal = None;
    for _ in 0..FLOOD_MESSAGES {
        let response = backend
            .handle(big_notification(&session), ctx("/mcp"))
            .await;
        match response.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                if first_refusal.is_none() {
                    first_refusal = Some(response);
                }
            }
            other => panic!("unexpected {other}"),
        }
    }
    let growth = peak_growth(base, "client -> deaf child");
    eprintln!("client -> deaf child: {accepted} accepted, {refused} refused");
    assert!(growth <= CEILING, "grew {growth} bytes");
    // 4 MiB of queue, plus what the pipe and the writer's buffer took.
    assert!(
        accepted <= 8,
        "{accepted} messages were queued for a child that reads nothing"
    );
    let refusal = first_refusal.expect("a full queue refuses");
    assert_eq!(refusal.headers()["retry-after"], "1");
    let body: Value = json_body(refusal).await;
    assert_eq!(body["error"]["code"], -32000);
    assert_eq!(body["id"], Value::Null);

    // A request that does not fit in what is left of the queue is refused the same way, with
    // its id (a small one may still fit: the queue is bounded in bytes, not closed).
    let big_echo = json!({ "message": "x".repeat(4 * 1024 * 1024) });
    let response = backend
        .handle(
            post(&call(2, "echo", big_echo), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json_body(response).await["id"], 2);
}

async fn chatty_child_to_a_stalled_reader(backend: &StdioBackend) {
    let session = initialize(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    let base = baseline();
    let response = backend
        .handle(
            post(
                &call(
                    1,
                    "flood",
                    json!({"count": FLOOD_MESSAGES, "bytes": MESSAGE_BYTES,
                        "done_file": done.to_str().unwrap()}),
                ),
                Some(&session),
            ),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The client never reads `response`. The child has written everything once the file
    // exists: only the pipe's last 64 KiB can still be unread by then.
    for _ in 0..12_000 {
        if done.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done.exists(), "the child never finished its flood");
    // The last lines and the response go through too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let growth = peak_growth(base, "chatty child -> stalled client");
    assert!(growth <= CEILING, "grew {growth} bytes");
    drop(response);
}

#[test]
fn both_floods_stay_under_the_memory_ceiling() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut opts = options();
        // The stall limit only decides how soon the stalled response is given up, so the
        // test does not wait the default 30 s; the bound asserted is the same.
        opts.stall_timeout = Duration::from_millis(200);
        let fx = fixture_with(opts);
        chatty_child_to_a_stalled_reader(&fx.backend).await;
        client_floods_a_deaf_child(&fx.backend).await;
        fx.backend.shutdown().await;
    });
}
