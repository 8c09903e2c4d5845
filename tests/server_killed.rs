//! A SIGKILLed smcp-server takes its stdio children with it.
//!
//! An orderly stop closes each child's stdin, then SIGTERMs and SIGKILLs its process group.
//! SIGKILL leaves smcp no time for any of that: the children must die because the kernel kills
//! them (`PR_SET_PDEATHSIG`), even a child that ignores both stdin EOF and SIGTERM. This runs
//! the real `smcp-server` binary, since the property is about the process and its threads.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use smcp_e2e::procs::{new_marker, processes_with_marker};

/// How long anything here may take before the test gives up.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn sigkilled_server_leaves_no_child_that_ignores_eof_and_sigterm() {
    let marker = new_marker();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("smcp-server.yml");
    // A child that answers initialize, then ignores SIGTERM (`trap '' TERM` is inherited
    // through `exec`) and stdin EOF, and never writes again (a write to a dead smcp's pipe
    // would kill it with SIGPIPE and hide the problem).
    let script = dir.path().join("stubborn.sh");
    std::fs::write(
        &script,
        concat!(
            "trap '' TERM\n",
            "read -r line\n",
            "printf '%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\",",
            "\"capabilities\":{},\"serverInfo\":{\"name\":\"stubborn\",\"version\":\"0\"}}}'\n",
            "exec sleep 100000\n",
        ),
    )
    .expect("write script");
    let yaml = format!(
        "server:\n  host: \"127.0.0.1\"\n  port: 0\nmcp:\n  backends:\n    - id: stubborn\n      transport: stdio\n      path: /v1/stubborn\n      stdio:\n        command: sh\n        args: [{script}]\n        env: {{E2E_MARKER: {marker}}}\n",
        script = serde_json::json!(script.to_string_lossy()),
        marker = serde_json::json!(marker),
    );
    std::fs::write(&config, yaml).expect("write config");

    let server = smcp_test_support::cargo_bin::build_workspace_bin("smcp-server", "smcp-server")
        .unwrap_or_else(|e| panic!("cannot build smcp-server: {e}"));
    let smcp = Command::new(server)
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "text", "--log-level", "info"])
        .env_remove("SMCP_PROXY_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smcp-server");
    let mut running = Running {
        smcp,
        marker: marker.clone(),
    };
    let address = listening_address(&mut running.smcp);

    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
    let response = post(&address, "/v1/stubborn/mcp", initialize);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let children = processes_with_marker(&marker);
    assert_eq!(children.len(), 1, "one child for the session: {children:?}");

    running.smcp.kill().expect("SIGKILL smcp-server");
    running.smcp.wait().expect("reap smcp-server");

    let deadline = Instant::now() + BOUND;
    while !processes_with_marker(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "children outlived the SIGKILLed server: {:?}",
            processes_with_marker(&marker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads smcp-server's log until it says where it listens (its port is 0).
fn listening_address(smcp: &mut Child) -> String {
    let stderr = smcp.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keeps reading after the address is found, so the server never blocks on its log.
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent
                && line.contains("smcp-server listening")
                && let Some(rest) = line.split("address=").nth(1)
            {
                let address = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(address.trim_matches('"').to_owned());
                sent = true;
            }
        }
    });
    rx.recv_timeout(BOUND)
        .expect("smcp-server did not log its listening address")
}

/// One HTTP/1.1 POST, the whole response as text.
fn post(address: &str, path: &str, body: &str) -> String {
    smcp_e2e::net::raw_post(address, path, body, BOUND)
}

/// The server under test; when the test ends it is killed (if still running) along with
/// whatever still carries the marker (a failing run leaves the stubborn child behind otherwise).
struct Running {
    smcp: Child,
    marker: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.smcp.kill();
        let _ = self.smcp.wait();
        for pid in processes_with_marker(&self.marker) {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}
