//! Helpers shared by the stdio integration tests: building specs for the fake MCP server,
//! making messages, reading streams with a hang guard, and looking at /proc.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers; each test binary uses a different subset"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use smcp_transport::jsonrpc::{self, Message};
use smcp_transport::stdio::{ChildSpec, RequestStream, StdioConnection, StopPolicy};

/// A hang guard for awaiting anything in these tests (never a speed assertion).
pub(crate) const GUARD: Duration = Duration::from_secs(30);

/// A spec running the fake MCP server with `args`.
pub(crate) fn fake_spec(args: &[&str]) -> ChildSpec {
    let bin = smcp_test_support::fake_mcp::fake_mcp_server_bin();
    let mut spec = ChildSpec::new("fake", bin.to_string_lossy());
    spec.args = args.iter().map(|s| (*s).to_owned()).collect();
    spec
}

/// A fast stop policy for tests whose child exits on EOF anyway.
pub(crate) fn quick_stop() -> StopPolicy {
    StopPolicy {
        stdin_grace: Duration::from_secs(5),
        term_grace: Duration::from_secs(5),
    }
}

/// Spawns the fake server and completes the MCP handshake.
pub(crate) async fn connect(spec: ChildSpec) -> StdioConnection {
    let conn = StdioConnection::spawn(Arc::new(spec), "test-session", quick_stop())
        .await
        .expect("spawn fake server");
    let mut init = conn
        .request(msg(
            &json!({"jsonrpc":"2.0","id":"init","method":"initialize",
            "params":{"protocolVersion":"2025-06-18","capabilities":{},
                      "clientInfo":{"name":"test","version":"0"}}}),
        ))
        .expect("initialize");
    let reply = all(&mut init).await;
    assert_eq!(reply.len(), 1);
    assert_eq!(
        json_of(&reply[0])["result"]["serverInfo"]["name"],
        "fake-mcp-server"
    );
    conn.send(msg(
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    ))
    .expect("initialized");
    conn
}

/// A message from JSON.
pub(crate) fn msg(v: &Value) -> Message {
    jsonrpc::parse(Bytes::from(v.to_string())).expect("valid message")
}

/// A message from exact text.
pub(crate) fn raw(text: &str) -> Message {
    jsonrpc::parse(Bytes::copy_from_slice(text.as_bytes())).expect("valid message")
}

/// A `tools/call` request.
pub(crate) fn call(id: Value, tool: &str, args: Value) -> Message {
    msg(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":tool,"arguments":args}}))
}

/// A `tools/call` request declaring a progress token.
pub(crate) fn call_with_token(id: Value, tool: &str, args: Value, token: Value) -> Message {
    msg(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":tool,"arguments":args,"_meta":{"progressToken":token}}}))
}

/// The message as a JSON value.
pub(crate) fn json_of(m: &Message) -> Value {
    serde_json::from_slice(m.bytes()).expect("JSON")
}

/// The next message of a stream, with the hang guard.
pub(crate) async fn next(stream: &mut RequestStream) -> Option<Message> {
    tokio::time::timeout(GUARD, stream.next())
        .await
        .expect("stream stalled")
}

/// Everything a stream yields until its end.
pub(crate) async fn all(stream: &mut RequestStream) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(m) = next(stream).await {
        out.push(m);
    }
    out
}

/// Runs a tool on a connection and returns everything its stream yields.
pub(crate) async fn run_tool(
    conn: &StdioConnection,
    id: i64,
    tool: &str,
    args: Value,
) -> Vec<Message> {
    let mut stream = conn.request(call(json!(id), tool, args)).expect("request");
    all(&mut stream).await
}

/// The `(pid, state)` of every process whose process group is `pgid`.
pub(crate) fn group_members(pgid: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command (which may hold spaces) start after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // state ppid pgrp ...
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            let state = fields.first().and_then(|s| s.chars().next()).unwrap_or('?');
            out.push((pid, state));
        }
    }
    out
}

/// True while `/proc/<pid>` exists (a zombie still counts).
pub(crate) fn proc_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits (bounded by the guard) until `pid` is gone from /proc.
pub(crate) async fn wait_gone(pid: u32) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while proc_exists(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pid {pid} still exists"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
