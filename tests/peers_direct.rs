//! The real client drivers against the real servers, with no proxy in between.
//!
//! This proves the harness itself (install, readiness, drivers, cleanup) and records the
//! baseline that the tests through smcp-server compare against: what the Python and
//! TypeScript SDKs see from server-everything over Streamable HTTP and legacy SSE, and from
//! the memory and time servers over stdio.

#![allow(
    clippy::panic,
    reason = "assertion helpers outside #[test] fns fail the test with a message"
)]

use smcp_e2e::expect::{STEPS, assert_everything, driver_args, http_trace, progress_count, text};
use smcp_e2e::{
    HttpMode, memory_stdio, run_py_client, run_ts_client, spawn_everything_http, time_stdio,
    try_run_py_client, try_run_ts_client,
};

fn http_args(mode: HttpMode, port: u16, scenario: &str) -> Vec<String> {
    let mut args = driver_args(&mode.url(port), mode.driver_transport(), scenario);
    args.extend(["--header", "Authorization: Bearer e2e-test-token"].map(str::to_owned));
    args
}

#[tokio::test]
async fn python_streamable_everything() {
    let mode = HttpMode::StreamableHttp;
    let (server, port) = spawn_everything_http(mode).await;
    let out = run_py_client(http_args(mode, port, "everything")).await;
    assert_everything(&out, "python", "hello from py_client");
    assert_eq!(progress_count(&out), STEPS);

    // The SDK's default path: POST server/discover first (2026-07-28), which this
    // handshake-era server rejects with a 400 JSON-RPC error, then fall back to initialize.
    let http = http_trace(&out);
    assert_eq!(http[0]["rpc"], "server/discover");
    assert_eq!(http[0]["mcp-method"], "server/discover");
    assert_eq!(http[0]["mcp-protocol-version"], "2026-07-28");
    assert_eq!(http[0]["status"], 400);
    assert_eq!(http[1]["rpc"], "initialize");
    assert_eq!(http[1]["status"], 200);
    let session = text(&out, "session_id");
    assert_eq!(http[1]["mcp-session-id"], session.as_str());
    // The client ends its session with a DELETE.
    let last = http.last().unwrap_or_else(|| panic!("empty trace"));
    assert_eq!(last["method"], "DELETE");
    assert_eq!(last["mcp-session-id"], session.as_str());
    drop(server);
}

#[tokio::test]
async fn python_sse_everything() {
    let mode = HttpMode::Sse;
    let (server, port) = spawn_everything_http(mode).await;
    let out = run_py_client(http_args(mode, port, "everything")).await;
    assert_everything(&out, "python", "hello from py_client");
    assert_eq!(progress_count(&out), STEPS);
    // Legacy SSE: one GET stream, then every message is a POST to the announced endpoint
    // (202), the discover probe included (its error comes back on the stream).
    let http = http_trace(&out);
    assert_eq!(http[0]["method"], "GET");
    assert_eq!(http[0]["path"], "/sse");
    assert_eq!(http[0]["status"], 200);
    let session = text(&out, "session_id");
    let endpoint = format!("/message?sessionId={session}");
    assert_eq!(http[1]["rpc"], "server/discover");
    for exchange in &http[1..] {
        assert_eq!(exchange["method"], "POST");
        assert_eq!(exchange["path"], endpoint.as_str());
        assert_eq!(exchange["status"], 202);
    }
    drop(server);
}

#[tokio::test]
async fn typescript_streamable_everything() {
    let mode = HttpMode::StreamableHttp;
    let (server, port) = spawn_everything_http(mode).await;
    let out = run_ts_client(http_args(mode, port, "everything")).await;
    assert_everything(&out, "typescript", "hello from ts_client");
    // TS SDK quirk: it handles notifications in a microtask but responses at once, so the
    // last progress notification is lost when it arrives together with the result.
    let progress = progress_count(&out);
    assert!(
        (STEPS - 1..=STEPS).contains(&progress),
        "{progress} progress notifications"
    );
    let http = http_trace(&out);
    // TS SDK 1.x connects with initialize directly (no server/discover probe).
    assert_eq!(http[0]["rpc"], "initialize");
    let session = text(&out, "session_id");
    assert_eq!(http[0]["mcp-session-id"], session.as_str());
    for exchange in &http[1..] {
        assert_eq!(exchange["mcp-session-id"], session.as_str());
        assert_eq!(exchange["mcp-protocol-version"], "2025-11-25");
    }
    assert!(
        http.iter()
            .any(|e| e["method"] == "GET" && e["status"] == 200),
        "no standalone GET stream in {http:?}"
    );
    drop(server);
}

#[tokio::test]
async fn typescript_sse_everything() {
    let mode = HttpMode::Sse;
    let (server, port) = spawn_everything_http(mode).await;
    let out = run_ts_client(http_args(mode, port, "everything")).await;
    assert_everything(&out, "typescript", "hello from ts_client");
    let progress = progress_count(&out);
    assert!(
        (STEPS - 1..=STEPS).contains(&progress),
        "{progress} progress notifications"
    );
    let http = http_trace(&out);
    assert_eq!(http[0]["path"], "/sse");
    assert_eq!(http[1]["rpc"], "initialize");
    drop(server);
}

#[tokio::test]
async fn both_clients_basic_on_one_server() {
    // Two different SDKs, one after the other, on one server process: sessions are separate.
    let mode = HttpMode::StreamableHttp;
    let (server, port) = spawn_everything_http(mode).await;
    let py = run_py_client(http_args(mode, port, "basic")).await;
    let ts = run_ts_client(http_args(mode, port, "basic")).await;
    assert_eq!(py["echo"], "Echo: hello from py_client");
    assert_eq!(ts["echo"], "Echo: hello from ts_client");
    assert_ne!(py["session_id"], ts["session_id"]);
    // The server logged both sessions (its request log is captured by the guard).
    let logs = server.logs();
    for out in [&py, &ts] {
        let sid = text(out, "session_id");
        assert!(
            logs.contains(&format!("Session initialized with ID: {sid}")),
            "{logs}"
        );
    }
}

#[tokio::test]
async fn memory_over_stdio_both_clients() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let peer = memory_stdio(&dir.path().join("memory.jsonl"));
    let mut args = peer.driver_args();
    args.extend(["--scenario".into(), "memory".into()]);
    args.extend(["--entity".into(), "py-entity".into()]);
    let py = run_py_client(&args).await;
    // The graph lives in the file: the TS run (a new server process) reads what Python wrote.
    let mut args = peer.driver_args();
    args.extend(["--scenario".into(), "memory".into()]);
    args.extend(["--entity".into(), "ts-entity".into()]);
    let ts = run_ts_client(&args).await;

    assert_eq!(py["server_info"]["name"], "memory-server");
    assert_eq!(py["created"]["entities"][0]["name"], "py-entity");
    assert_eq!(
        py["graph"]["entities"][0]["observations"][0],
        "hello from py_client"
    );
    let names: Vec<&str> = ts["graph"]["entities"]
        .as_array()
        .unwrap_or_else(|| panic!("no entities in {ts}"))
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["py-entity", "ts-entity"]);
}

#[tokio::test]
async fn time_over_stdio_both_clients() {
    let peer = time_stdio();
    let mut args = peer.driver_args();
    args.extend(["--scenario".into(), "time".into()]);
    let py = run_py_client(&args).await;
    let ts = run_ts_client(&args).await;
    for out in [&py, &ts] {
        assert_eq!(out["server_info"]["name"], "mcp-time");
        assert_eq!(out["time"]["timezone"], "UTC");
        assert!(text(&out["time"], "datetime").ends_with("+00:00"));
    }
    // mcp-server-time (Python SDK 2.x server) answers server/discover: the Python client
    // lands on the stateless 2026-07-28 protocol, the TS client on the initialize handshake.
    assert_eq!(py["protocol_version"], "2026-07-28");
    assert_eq!(ts["protocol_version"], "2025-11-25");
}

#[tokio::test]
async fn drivers_report_connection_failures() {
    // A port that is bound but not listening: connects are refused, and no other process
    // can take the port while the socket lives.
    let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("socket: {e}"));
    socket
        .bind((std::net::Ipv4Addr::LOCALHOST, 0).into())
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let port = socket
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let args = [
        "--url",
        url.as_str(),
        "--scenario",
        "basic",
        "--timeout",
        "10",
    ];
    for run in [try_run_py_client(args).await, try_run_ts_client(args).await] {
        assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
        let json = run
            .json
            .as_ref()
            .unwrap_or_else(|| panic!("no JSON: {run:?}"));
        assert_eq!(json["ok"], false);
        let error = run.error().unwrap_or_default();
        assert!(!error.is_empty());
        assert!(run.stderr.contains(error), "stderr: {}", run.stderr);
        // The attempt is in the trace, without a status.
        assert!(json["http"][0]["status"].is_null());
    }
    drop(socket);
}
