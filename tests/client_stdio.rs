//! smcp-client in stdio mode, launched by a real MCP host: the Python SDK's `stdio_client`
//! starts `smcp-client stdio` as its server, exactly as a desktop host would, and smcp-client
//! speaks to smcp-server (in-process) in front of server-memory over stdio.
//!
//! - entities are created and read through the bridge (auth none, and oidc with a real
//!   OpenID provider);
//! - smcp-server is stopped and a new one started on the same port mid-session: the host's
//!   next call succeeds, because smcp-client replays the handshake for a new session;
//! - legacy HTTP+SSE: chosen with `--transport sse`, and reached by fallback when the server
//!   refuses Streamable HTTP.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "client_fixture.rs"]
mod client_fixture;

use std::process::Stdio;
use std::time::Duration;

use client_fixture::{
    host_launches_client, server_yaml, smcp_client_bin, stdio_backend, wait_ready,
};
use serde_json::Value;
use smcp_e2e::oidc::RS256_CLIENT;
use smcp_e2e::{
    HttpMode, SmcpServer, everything_stdio, memory_stdio, peers_dir, python, run_py_client,
    spawn_everything_http, spawn_oidc_provider, try_run_py_client,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn memory_server(
    issuer: Option<&str>,
    memory_file: &std::path::Path,
) -> (SmcpServer, String) {
    let backends = stdio_backend("memory", "/v1/memory", &memory_stdio(memory_file));
    let yaml = server_yaml(issuer, &backends);
    let smcp = SmcpServer::start(&yaml).await;
    wait_ready(&smcp).await;
    (smcp, yaml)
}

fn entity_names(graph: &Value) -> Vec<String> {
    graph["entities"]
        .as_array()
        .unwrap_or_else(|| panic!("no entities in {graph}"))
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_python_host_creates_and_reads_entities_through_smcp_client_stdio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (smcp, _) = memory_server(None, &dir.path().join("memory.jsonl")).await;
    let mut args = host_launches_client(&["--server-url".to_owned(), smcp.url("/v1/memory")], &[]);
    args.extend(["--scenario", "memory", "--entity", "bridged"].map(str::to_owned));
    let out = run_py_client(args).await;
    assert_eq!(out["server_info"]["name"], "memory-server", "{out}");
    assert_eq!(entity_names(&out["graph"]), ["bridged"]);
    assert_eq!(
        out["graph"]["entities"][0]["observations"][0],
        "hello from py_client"
    );
    smcp.stop().await;
}

#[tokio::test]
async fn a_python_host_runs_the_everything_scenario_through_smcp_client_stdio() {
    // Progress notifications, and the server's sampling and elicitation requests, reach the
    // host over stdio; the host's answers go back to the server.
    let backends = stdio_backend("everything", "/v1/everything", &everything_stdio());
    let smcp = SmcpServer::start(&server_yaml(None, &backends)).await;
    wait_ready(&smcp).await;
    let mut args = host_launches_client(
        &["--server-url".to_owned(), smcp.url("/v1/everything")],
        &[],
    );
    args.extend(["--scenario", "everything"].map(str::to_owned));
    let out = run_py_client(args).await;
    assert_eq!(out["echo"], "Echo: hello from py_client", "{out}");
    assert_eq!(out["sum"], "The sum of 2 and 3 is 5.");
    assert_eq!(out["progress"].as_array().map(Vec::len), Some(5), "{out}");
    assert_eq!(out["sampling_requests"], 1);
    assert!(
        out["sampling"]
            .as_str()
            .is_some_and(|s| s.contains("smcp-test-model"))
    );
    assert_eq!(out["elicitation_requests"], 1);
    assert!(
        out["elicitation"]
            .as_str()
            .is_some_and(|s| s.contains("smcp tester"))
    );
    smcp.stop().await;
}

/// A host that creates an entity, says `READY_FOR_RESTART`, waits for a line on stdin, then
/// creates another and reads the graph, printing one JSON line.
const RESTART_HOST: &str = r#"
import json, os, sys
import anyio
import mcp.types as types
from mcp import Client, StdioServerParameters

def text(result):
    if result.is_error:
        raise RuntimeError("tool error: " + " ".join(c.text for c in result.content if hasattr(c, "text")))
    if result.structured_content is not None:
        return result.structured_content
    return json.loads("".join(c.text for c in result.content if hasattr(c, "text")))

async def main():
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:], env=dict(os.environ))
    info = types.Implementation(name="restart-host", version="1.0.0")
    async with Client(params, read_timeout_seconds=60, client_info=info, cache=None) as client:
        entity = {"name": "before-restart", "entityType": "test", "observations": ["one"]}
        text(await client.call_tool("create_entities", {"entities": [entity]}))
        print("READY_FOR_RESTART", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        entity = {"name": "after-restart", "entityType": "test", "observations": ["two"]}
        text(await client.call_tool("create_entities", {"entities": [entity]}))
        graph = text(await client.call_tool("read_graph", {}))
        print(json.dumps({"graph": graph}), flush=True)

anyio.run(main)
"#;

#[tokio::test]
async fn a_server_restart_mid_session_is_invisible_to_the_host() {
    let provider = spawn_oidc_provider().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (smcp, yaml) =
        memory_server(Some(provider.issuer()), &dir.path().join("memory.jsonl")).await;
    let secret = provider.info()["clients"]
        .as_array()
        .and_then(|clients| clients.iter().find(|c| c["client_id"] == RS256_CLIENT))
        .and_then(|c| c["client_secret"].as_str())
        .expect("secret")
        .to_owned();
    let script = dir.path().join("restart_host.py");
    std::fs::write(&script, RESTART_HOST).expect("write host script");

    let mut host = tokio::process::Command::new(python());
    host.arg(&script)
        .arg(smcp_client_bin())
        .args([
            "stdio",
            "--server-url",
            &smcp.url("/v1/memory"),
            "--auth-mode",
            "oidc",
            "--oidc-issuer",
            provider.issuer(),
            "--oidc-client-id",
            RS256_CLIENT,
            "--oidc-scopes",
            "mcp:tools",
        ])
        .env("SMCP_OIDC_CLIENT_SECRET", &secret)
        .current_dir(peers_dir())
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = host.spawn().expect("start the host");
    let stderr = child.stderr.take().expect("stderr");
    let stderr_text = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut all = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
        .await
        .expect("host ready in time")
        .expect("read host stdout");
    assert_eq!(first.as_deref(), Some("READY_FOR_RESTART"));

    // Restart smcp-server on the same address: every session it knew is gone.
    let addr = smcp.addr();
    smcp.stop().await;
    let smcp = SmcpServer::start_on(&yaml, addr).await;
    wait_ready(&smcp).await;

    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").await.expect("signal the host");
    let result = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
        .await
        .expect("host finished in time")
        .expect("read host stdout");
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("host exits")
        .expect("host status");
    let logs = stderr_text.await.expect("stderr");
    let result: Value = serde_json::from_str(result.as_deref().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no result from the host ({e}); stderr:\n{logs}"));
    assert!(status.success(), "host failed; stderr:\n{logs}");
    let mut names = entity_names(&result["graph"]);
    names.sort();
    // The entity created before the restart was stored by the old session's server-memory;
    // the new session (same file) sees it and the one created after the restart.
    assert_eq!(
        names,
        ["after-restart", "before-restart"],
        "stderr:\n{logs}"
    );
    assert!(
        logs.contains("session re-initialized transparently"),
        "{logs}"
    );
    smcp.stop().await;
}

#[tokio::test]
async fn legacy_sse_by_choice_and_by_fallback() {
    // By choice: smcp-server's legacy endpoint for a stdio backend is `<path>/sse`.
    let dir = tempfile::tempdir().expect("tempdir");
    let (smcp, _) = memory_server(None, &dir.path().join("memory.jsonl")).await;
    let mut args = host_launches_client(
        &[
            "--server-url".to_owned(),
            smcp.url("/v1/memory/sse"),
            "--transport".to_owned(),
            "sse".to_owned(),
        ],
        &[],
    );
    args.extend(["--scenario", "memory", "--entity", "over-sse"].map(str::to_owned));
    let run = try_run_py_client(args).await;
    assert!(run.succeeded(), "{}\n{}", run.stdout, run.stderr);
    let out = run.json.expect("result");
    assert_eq!(entity_names(&out["graph"]), ["over-sse"], "{out}");
    assert!(
        run.stderr.contains("legacy SSE stream open"),
        "{}",
        run.stderr
    );
    smcp.stop().await;

    // By fallback: server-everything serving only legacy SSE refuses the Streamable HTTP
    // initialize; smcp-client opens its SSE stream instead.
    let (server, port) = spawn_everything_http(HttpMode::Sse).await;
    let mut args = host_launches_client(
        &[
            "--server-url".to_owned(),
            format!("http://127.0.0.1:{port}/sse"),
        ],
        &[],
    );
    args.extend(["--scenario", "basic"].map(str::to_owned));
    let run = try_run_py_client(args).await;
    assert!(run.succeeded(), "{}\n{}", run.stdout, run.stderr);
    let out = run.json.expect("result");
    assert_eq!(out["echo"], "Echo: hello from py_client", "{out}");
    assert!(
        run.stderr.contains("trying legacy HTTP+SSE"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("legacy SSE stream open"),
        "{}",
        run.stderr
    );
    drop(server);
}
