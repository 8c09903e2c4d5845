//! smcp-server in front of real stdio MCP servers (npm server-everything, server-memory,
//! server-sequential-thinking; PyPI mcp-server-time), driven by real MCP clients (Python SDK
//! over Streamable HTTP and legacy SSE, TypeScript SDK), plus the protocol edges checked with
//! raw HTTP, a concurrency run and leak checks against `/proc`.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

use std::time::Duration;

use serde_json::{Value, json};
use smcp_e2e::expect::{assert_everything, assert_progress, driver_args, http_trace, text};
use smcp_e2e::procs::{assert_no_children, new_marker, processes_with_marker};
use smcp_e2e::yaml::{server_config, stdio_backend};
use smcp_e2e::{
    PeerCommand, SmcpServer, everything_stdio, memory_stdio, run_py_client, run_ts_client,
    sequential_thinking_stdio, time_stdio,
};
use smcp_test_support::fake_mcp::fake_mcp_server_bin;

fn fake_peer() -> PeerCommand {
    PeerCommand {
        program: fake_mcp_server_bin(),
        args: Vec::new(),
        env: Vec::new(),
    }
}

/// smcp-server with server-everything (stdio) at `/v1/everything`.
async fn start_everything(marker: &str) -> SmcpServer {
    let backend = stdio_backend("everything", "/v1/everything", &everything_stdio(), marker);
    SmcpServer::start(&server_config(&[backend])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_streamable_and_legacy_sse_against_server_everything() {
    let marker = new_marker();
    let smcp = start_everything(&marker).await;

    let streamable = run_py_client(driver_args(
        &smcp.url("/v1/everything/"),
        "streamable",
        "everything",
    ))
    .await;
    assert_everything(&streamable, "python", "hello from py_client");
    assert_progress(&streamable);
    // The 2.x default client probes with server/discover (no session): smcp answers 400 with a
    // JSON-RPC error, the client falls back to initialize, and ends with DELETE.
    let http = http_trace(&streamable);
    assert_eq!(http[0]["rpc"], "server/discover");
    assert_eq!(http[0]["status"], 400);
    assert_eq!(http[1]["rpc"], "initialize");
    assert_eq!(http[1]["status"], 200);
    let session = text(&streamable, "session_id");
    assert_eq!(http[1]["mcp-session-id"], session.as_str());
    assert!(
        session.len() >= 32 && session.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "{session}"
    );
    let last = http.last().expect("trace");
    assert_eq!(last["method"], "DELETE");
    assert_eq!(last["status"], 204);

    let legacy = run_py_client(driver_args(
        &smcp.url("/v1/everything/sse"),
        "sse",
        "everything",
    ))
    .await;
    assert_everything(&legacy, "python", "hello from py_client");
    let endpoint = format!(
        "/v1/everything/message?sessionId={}",
        text(&legacy, "session_id")
    );
    for post in http_trace(&legacy).iter().filter(|e| e["method"] == "POST") {
        assert_eq!(post["path"], endpoint.as_str());
    }
    smcp.stop().await;
    assert_no_children(&marker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_streamable_and_legacy_sse_against_server_everything() {
    let marker = new_marker();
    let smcp = start_everything(&marker).await;
    // Many clients are configured with URLs ending in /mcp: the alias works.
    let streamable = run_ts_client(driver_args(
        &smcp.url("/v1/everything/mcp"),
        "streamable",
        "everything",
    ))
    .await;
    assert_everything(&streamable, "typescript", "hello from ts_client");
    assert_progress(&streamable);
    assert!(
        http_trace(&streamable)
            .iter()
            .any(|e| e["method"] == "GET" && e["status"] == 200),
        "the TS SDK opened the session's GET stream"
    );
    let legacy = run_ts_client(driver_args(
        &smcp.url("/v1/everything/sse"),
        "sse",
        "everything",
    ))
    .await;
    assert_everything(&legacy, "typescript", "hello from ts_client");
    smcp.stop().await;
    assert_no_children(&marker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_sequential_thinking_and_time_servers() {
    let marker = new_marker();
    let dir = tempfile::tempdir().expect("dir");
    let memory = memory_stdio(&dir.path().join("memory.jsonl"));
    let smcp = SmcpServer::start(&server_config(&[
        stdio_backend("memory", "/v1/memory", &memory, &marker),
        stdio_backend(
            "thinking",
            "/v1/sequentialthinking",
            &sequential_thinking_stdio(),
            &marker,
        ),
        stdio_backend("time", "/v1/time", &time_stdio(), &marker),
    ]))
    .await;

    // A person pointing the Python SDK at /v1/memory/ creates and reads entities.
    let py = run_py_client(driver_args(
        &smcp.url("/v1/memory/"),
        "streamable",
        "memory",
    ))
    .await;
    assert_eq!(
        py["graph"]["entities"][0]["name"], "smcp-e2e-entity",
        "{py}"
    );
    assert_eq!(
        py["graph"]["entities"][0]["observations"][0],
        "hello from py_client"
    );
    let ts = run_ts_client(driver_args(&smcp.url("/v1/memory"), "streamable", "memory")).await;
    assert!(
        ts["graph"]["entities"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{ts}"
    );
    assert_ne!(
        py["session_id"], ts["session_id"],
        "two clients, two sessions"
    );

    let thinking = run_py_client(driver_args(
        &smcp.url("/v1/sequentialthinking"),
        "streamable",
        "connect",
    ))
    .await;
    assert_eq!(thinking["ok"], true, "{thinking}");
    assert!(
        thinking["server_info"]["name"]
            .as_str()
            .is_some_and(|n| n.contains("sequential")),
        "{thinking}"
    );

    // mcp-server-time would speak 2026-07-28 if it saw server/discover directly; behind
    // smcp's session layer both SDKs use the handshake.
    for out in [
        run_py_client(driver_args(&smcp.url("/v1/time"), "streamable", "time")).await,
        run_ts_client(driver_args(&smcp.url("/v1/time"), "streamable", "time")).await,
    ] {
        assert_eq!(out["ok"], true, "{out}");
        assert!(out["time"].to_string().contains("UTC"), "{out}");
        assert_eq!(out["protocol_version"], "2025-11-25");
    }
    smcp.stop().await;
    assert_no_children(&marker).await;
}

/// Raw HTTP against a stdio backend, for the protocol edges the SDKs never show.
struct Raw {
    client: reqwest::Client,
    url: String,
}

impl Raw {
    fn new(url: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self { client, url }
    }

    async fn post(&self, body: &Value, session: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send().await.expect("response")
    }

    async fn initialize(&self) -> String {
        let response = self.post(&initialize(0), None).await;
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(self.post(&initialized, Some(&session)).await.status(), 202);
        session
    }

    async fn delete(&self, session: &str) -> reqwest::StatusCode {
        self.client
            .delete(&self.url)
            .header("mcp-session-id", session)
            .send()
            .await
            .expect("delete")
            .status()
    }
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
}

fn echo_call(id: u64, payload: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "echo", "arguments": payload}})
}

async fn json_of(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_edges_with_raw_http() {
    let marker = new_marker();
    let smcp = SmcpServer::start(&server_config(&[stdio_backend(
        "fake",
        "/v1/fake",
        &fake_peer(),
        &marker,
    )]))
    .await;
    let raw = Raw::new(smcp.url("/v1/fake"));

    // No session and not initialize (a 2026-07-28 client's discover probe): 400, JSON-RPC body.
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}});
    let response = raw.post(&discover, None).await;
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(body["jsonrpc"], "2.0");
    assert!(body["error"]["code"].is_i64(), "{body}");

    // Unknown session: 404.
    assert_eq!(
        raw.post(&echo_call(2, &json!({})), Some("not-a-session"))
            .await
            .status(),
        404
    );

    let session = raw.initialize().await;
    // A reply as application/json when the child's first message is the response, by id.
    let response = raw
        .post(&echo_call(7, &json!({"k": "v"})), Some(&session))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let reply = json_of(response).await;
    assert_eq!(reply["id"], 7);
    assert_eq!(reply["result"]["structuredContent"], json!({"k": "v"}));

    // The child saw the client's bytes exactly as sent: no field added (the Go proxy's bug).
    let sent =
        json!({"jsonrpc":"2.0","id":"x-1","method":"tools/call","params":{"name":"received"}});
    let received = json_of(raw.post(&sent, Some(&session)).await).await;
    let lines = received["result"]["structuredContent"].to_string();
    assert!(
        !lines.contains("request_id") && !lines.contains("timestamp"),
        "{lines}"
    );

    // Unsupported protocol version: 400.
    let response = raw
        .client
        .post(&raw.url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "1999-01-01")
        .body(echo_call(8, &json!({})).to_string())
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 400);

    // The tool label is bounded by what the backend listed: unknown names count as `other`.
    let list = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/list"});
    assert_eq!(raw.post(&list, Some(&session)).await.status(), 200);
    assert_eq!(
        raw.post(&echo_call(11, &json!({})), Some(&session))
            .await
            .status(),
        200
    );
    let bogus = json!({"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {"name": "no-such-tool-9f2"}});
    assert_eq!(raw.post(&bogus, Some(&session)).await.status(), 200);
    // DELETE ends the session (child stopped); the id is then unknown.
    assert_eq!(raw.delete(&session).await, 204);
    assert_eq!(
        raw.post(&echo_call(9, &json!({})), Some(&session))
            .await
            .status(),
        404
    );
    assert_no_children(&marker).await;
    let metrics = reqwest::get(smcp.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for series in [
        "smcp_sessions_ended_total{backend=\"fake\",reason=\"delete\"}",
        "smcp_child_spawns_total{backend=\"fake\",outcome=\"ok\"}",
        "smcp_mcp_requests_total{backend=\"fake\",method=\"tools/call\",tool=\"echo\"}",
        "smcp_mcp_requests_total{backend=\"fake\",method=\"tools/call\",tool=\"other\"}",
        "smcp_jsonrpc_messages_total{backend=\"fake\",direction=\"to_child\"}",
        "smcp_sessions_active{backend=\"fake\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing from\n{metrics}");
    }
    assert!(
        !metrics.contains("no-such-tool-9f2"),
        "unlisted tool names never become labels"
    );
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_twenty_calls_each_every_reply_to_its_caller() {
    const SESSIONS: u64 = 50;
    const CALLS: u64 = 20;
    let marker = new_marker();
    let mut yaml = server_config(&[stdio_backend("fake", "/v1/fake", &fake_peer(), &marker)]);
    yaml = yaml.replace(
        "        stdio_timeout: \"30s\"\n",
        // Every session comes from 127.0.0.1: the per-address limit must admit them all.
        "        stdio_timeout: \"30s\"\n      max_sessions: 60\n      max_sessions_per_principal: 60\n",
    );
    let smcp = SmcpServer::start(&yaml).await;
    let url = smcp.url("/v1/fake");
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|s| {
            let raw = Raw::new(url.clone());
            tokio::spawn(async move {
                let session = raw.initialize().await;
                for c in 0..CALLS {
                    let id = s * 1000 + c;
                    let payload = json!({"session": s, "call": c});
                    let reply =
                        json_of(raw.post(&echo_call(id, &payload), Some(&session)).await).await;
                    assert_eq!(reply["id"], id, "{reply}");
                    assert_eq!(reply["result"]["structuredContent"], payload, "{reply}");
                }
                assert_eq!(raw.delete(&session).await, 204);
                session
            })
        })
        .collect();
    let mut sessions = std::collections::HashSet::new();
    for task in tasks {
        sessions.insert(task.await.expect("session task"));
    }
    assert_eq!(
        sessions.len() as u64,
        SESSIONS,
        "every session id is distinct"
    );
    // After every session ended, no child remains.
    assert_no_children(&marker).await;
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_every_child() {
    let marker = new_marker();
    let smcp = SmcpServer::start(&server_config(&[stdio_backend(
        "fake",
        "/v1/fake",
        &fake_peer(),
        &marker,
    )]))
    .await;
    let raw = Raw::new(smcp.url("/v1/fake"));
    for _ in 0..3 {
        raw.initialize().await;
    }
    assert_eq!(
        processes_with_marker(&marker).len(),
        3,
        "one child per session"
    );
    smcp.stop().await;
    assert_no_children(&marker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_failure_is_a_502_naming_the_command() {
    let missing = PeerCommand {
        program: "/nonexistent/smcp-no-such-server".into(),
        args: Vec::new(),
        env: Vec::new(),
    };
    let smcp = SmcpServer::start(&server_config(&[stdio_backend(
        "broken",
        "/v1/broken",
        &missing,
        &new_marker(),
    )]))
    .await;
    let raw = Raw::new(smcp.url("/v1/broken"));
    let response = raw.post(&initialize(1), None).await;
    assert_eq!(response.status(), 502);
    let body = json_of(response).await;
    assert_eq!(body["id"], 1, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("smcp-no-such-server")),
        "{body}"
    );
    // /ready names it, but answers for smcp itself: one dead backend must not take a replica
    // (and every healthy backend on it) out of a load balancer.
    let ready = reqwest::get(smcp.url("/ready")).await.expect("ready");
    assert_eq!(ready.status(), 200);
    let body = json_of(ready).await;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["backends"]["broken"], false, "{body}");
    // The opt-in for single-backend deployments follows the backend.
    for query in ["backend=broken", "backend=*"] {
        let ready = reqwest::get(smcp.url(&format!("/ready?{query}")))
            .await
            .expect("ready");
        assert_eq!(ready.status(), 503, "{query}");
        assert_eq!(json_of(ready).await["status"], "not_ready", "{query}");
    }
    let typo = reqwest::get(smcp.url("/ready?backend=brokn"))
        .await
        .expect("ready");
    assert_eq!(
        typo.status(),
        404,
        "an unknown backend id is not silently ready"
    );
    let metrics = reqwest::get(smcp.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("smcp_backend_up{backend=\"broken\"} 0"),
        "{metrics}"
    );
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_exits_at_once_is_a_502() {
    let marker = new_marker();
    let dying = PeerCommand {
        program: fake_mcp_server_bin(),
        args: vec!["--exit-immediately=7".to_owned()],
        env: Vec::new(),
    };
    let smcp = SmcpServer::start(&server_config(&[stdio_backend(
        "dying",
        "/v1/dying",
        &dying,
        &marker,
    )]))
    .await;
    let raw = Raw::new(smcp.url("/v1/dying"));
    let response = raw.post(&initialize(1), None).await;
    assert_eq!(response.status(), 502);
    assert!(
        response.headers().get("mcp-session-id").is_none(),
        "no session for a dead child"
    );
    let body = json_of(response).await;
    assert_eq!(body["id"], 1, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("exited")),
        "{body}"
    );
    assert_no_children(&marker).await;
    smcp.stop().await;
}
