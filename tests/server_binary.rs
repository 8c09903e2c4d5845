//! The `smcp-server` binary itself: `check` runs the same build steps as startup, and SIGTERM
//! drains with the listener open until a second signal (or `shutdown_timeout`) stops it.
//!
//! A `check` that only validated the file would pass a TLS certificate with another
//! certificate's key, which startup then refuses: here both must refuse it, with exit code 64
//! and the same message. These run the real binary, since exit codes and signals are the
//! property under test.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long anything here may take before the test gives up.
const BOUND: Duration = Duration::from_secs(30);
/// EX_USAGE: the binary's exit code for a configuration error.
const EXIT_CONFIG: i32 = 64;

fn server_bin() -> PathBuf {
    smcp_test_support::cargo_bin::build_workspace_bin("smcp-server", "smcp-server")
        .unwrap_or_else(|e| panic!("cannot build smcp-server: {e}"))
}

/// Runs the binary with `args` to completion (it must exit by itself, within [`BOUND`]).
fn run(args: &[&str], config: &Path) -> Output {
    let mut child = Command::new(server_bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("SMCP_PROXY_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smcp-server");
    let deadline = Instant::now() + BOUND;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("smcp-server {args:?} did not exit within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A self-signed certificate and its key, as PEM.
fn certificate() -> (String, String) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    (generated.cert.pem(), generated.signing_key.serialize_pem())
}

fn config_with_tls(dir: &Path, cert: &str, key: &str) -> PathBuf {
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert).expect("write cert");
    std::fs::write(&key_file, key).expect("write key");
    let config = dir.join("smcp-server.yml");
    let yaml = format!(
        "server:\n  host: \"127.0.0.1\"\n  port: 0\ntls:\n  enabled: true\n  cert_file: {cert}\n  key_file: {key}\nmcp:\n  backends:\n    - id: echo\n      transport: stdio\n      path: /v1/echo\n      stdio:\n        command: cat\n",
        cert = serde_json::json!(cert_file.to_string_lossy()),
        key = serde_json::json!(key_file.to_string_lossy()),
    );
    std::fs::write(&config, yaml).expect("write config");
    config
}

/// `check` and startup both refuse `config` with exit code 64 and a message containing
/// `wanted`.
fn refused_by_check_as_by_startup(config: &Path, wanted: &str) {
    for (what, args) in [
        ("check", &["check"][..]),
        ("startup", &["--log-format", "text"][..]),
    ] {
        let output = run(args, config);
        assert_eq!(
            output.status.code(),
            Some(EXIT_CONFIG),
            "{what}: {}",
            text(&output)
        );
        assert!(text(&output).contains(wanted), "{what}: {}", text(&output));
    }
}

#[test]
fn check_refuses_a_certificate_with_another_certificates_key_as_startup_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, _) = certificate();
    let (_, other_key) = certificate();
    let config = config_with_tls(dir.path(), &cert, &other_key);
    let wanted = "tls: certificate and key are not usable together";

    refused_by_check_as_by_startup(&config, wanted);

    // The matching pair passes check, which prints the routing table.
    let (cert, key) = certificate();
    let config = config_with_tls(dir.path(), &cert, &key);
    let check = run(&["check"], &config);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(text(&check).contains("/v1/echo"), "{}", text(&check));
}

#[test]
fn check_refuses_a_claim_rule_the_validator_refuses_as_startup_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("smcp-server.yml");
    // An empty segment in a claim path: no token could ever satisfy it.
    std::fs::write(
        &config,
        "server:\n  host: \"127.0.0.1\"\n  port: 0\n  public_url: \"https://mcp.example.com\"\nauth:\n  mode: oidc\noidc:\n  issuers: [\"https://idp.example.com\"]\n  audience: api\nmcp:\n  backends:\n    - id: echo\n      transport: stdio\n      path: /v1/echo\n      stdio:\n        command: cat\n      auth:\n        required_claims:\n          \"org..team\": \"eng\"\n",
    )
    .expect("write config");
    refused_by_check_as_by_startup(&config, "required_claims");
}

#[test]
fn check_refuses_a_backend_ca_file_rustls_refuses_as_startup_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Valid PEM around bytes that are no certificate: a PEM-only check passed it, and
    // startup then failed building the backend's TLS roots.
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIBAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n-----END CERTIFICATE-----\n",
    )
    .expect("write ca");
    let config = dir.path().join("smcp-server.yml");
    std::fs::write(
        &config,
        format!(
            "server:\n  host: \"127.0.0.1\"\n  port: 0\nmcp:\n  backends:\n    - id: h\n      transport: http\n      path: /v1/h\n      url: \"https://127.0.0.1:9\"\n      ca_file: {}\n",
            ca.display()
        ),
    )
    .expect("write config");
    refused_by_check_as_by_startup(&config, "certificate rejected");
}

#[test]
fn sigterm_drains_with_the_listener_open_and_a_second_sigterm_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("smcp-server.yml");
    // A drain window far longer than the test: only the second signal can end it in time.
    std::fs::write(
        &config,
        "server:\n  host: \"127.0.0.1\"\n  port: 0\n  shutdown_timeout: \"10m\"\nmcp:\n  backends:\n    - id: echo\n      transport: stdio\n      path: /v1/echo\n      stdio:\n        command: cat\n",
    )
    .expect("write config");
    let mut running = serve(&config);
    let (address, log) = follow_log(&mut running.0);
    assert!(get(&address, "/ready").starts_with("HTTP/1.1 200"));

    let pid = Pid::from_raw(i32::try_from(running.0.id()).expect("pid"));
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    wait_for_line(&log, "shutting down: draining");
    let ready = get(&address, "/ready");
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(ready.contains("draining"), "{ready}");
    assert!(get(&address, "/health").starts_with("HTTP/1.1 200"));
    assert!(
        running.0.try_wait().expect("wait").is_none(),
        "still running"
    );

    kill(pid, Signal::SIGTERM).expect("second SIGTERM");
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = running.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second SIGTERM did not stop it"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    wait_for_line(&log, "shutdown complete");
    assert!(TcpStream::connect(&address).is_err(), "listener closed");
}

#[test]
fn sighup_reopens_the_audit_file_after_a_rotation_and_a_clean_stop_loses_no_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("smcp-server.yml");
    let trail = dir.path().join("audit.jsonl");
    // A policy that hides every tool: each call is answered (and recorded) at the seam.
    std::fs::write(
        &config,
        format!(
            "server:\n  host: \"127.0.0.1\"\n  port: 0\n  shutdown_timeout: \"10m\"\naudit:\n  enabled: true\n  sink: \"{}\"\nmcp:\n  backends:\n    - id: echo\n      transport: stdio\n      path: /v1/echo\n      stdio:\n        command: cat\n      policy:\n        default: deny\n",
            trail.display()
        ),
    )
    .expect("write config");
    let mut running = serve(&config);
    let (address, log) = follow_log(&mut running.0);
    let call = |id: u32| {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"t"}}}}"#)
    };
    assert!(post(&address, "/v1/echo", &call(1)).starts_with("HTTP/1.1 200"));

    // Rotate: rename, then SIGHUP; the next record goes to a new file of the configured name.
    let rotated = dir.path().join("audit.jsonl.1");
    let pid = Pid::from_raw(i32::try_from(running.0.id()).expect("pid"));
    wait_for(|| std::fs::metadata(&trail).is_ok_and(|m| m.len() > 0));
    std::fs::rename(&trail, &rotated).expect("rotate");
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    wait_for_line(&log, "audit file reopened");
    assert!(post(&address, "/v1/echo", &call(2)).starts_with("HTTP/1.1 200"));
    assert!(post(&address, "/v1/echo", &call(3)).starts_with("HTTP/1.1 200"));

    // Stop at once (two signals): every queued record is written before the exit.
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    wait_for_line(&log, "shutting down: draining");
    kill(pid, Signal::SIGTERM).expect("second SIGTERM");
    let status = running.0.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    let ids = |path: &Path| -> Vec<u64> {
        std::fs::read_to_string(path)
            .expect("an audit file")
            .lines()
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).expect("JSON");
                assert_eq!(record["decision"], "default_deny", "{record}");
                record["jsonrpc_id"].as_u64().expect("an id")
            })
            .collect()
    };
    assert_eq!(ids(&rotated), [1]);
    assert_eq!(ids(&trail), [2, 3]);
}

/// Polls `done` until it holds, for at most [`BOUND`].
fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !done() {
        assert!(Instant::now() < deadline, "condition not met in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One HTTP/1.1 JSON POST on a new connection, the whole response as text.
fn post(address: &str, path: &str, body: &str) -> String {
    smcp_e2e::net::raw_post(address, path, body, BOUND)
}

/// smcp-server serving `config`, its text log at info on a pipe (see [`follow_log`]).
fn serve(config: &Path) -> Running {
    let smcp = Command::new(server_bin())
        .arg("--config")
        .arg(config)
        .args(["--log-format", "text", "--log-level", "info"])
        .env_remove("SMCP_PROXY_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smcp-server");
    Running(smcp)
}

/// Follows smcp-server's log: returns where it listens (its port is 0) and a channel of the
/// lines that follow.
fn follow_log(smcp: &mut Child) -> (String, mpsc::Receiver<String>) {
    let stderr = smcp.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + BOUND;
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("smcp-server did not log its listening address");
        if line.contains("smcp-server listening")
            && let Some(rest) = line.split("address=").nth(1)
        {
            let address = rest.split_whitespace().next().unwrap_or_default();
            return (address.trim_matches('"').to_owned(), rx);
        }
    }
}

/// Reads log lines until one contains `wanted`.
fn wait_for_line(log: &mpsc::Receiver<String>, wanted: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        let line = log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no log line with {wanted:?}"));
        if line.contains(wanted) {
            return;
        }
    }
}

/// One HTTP/1.1 GET on a new connection, the whole response as text.
fn get(address: &str, path: &str) -> String {
    smcp_e2e::net::raw_get(address, path, BOUND)
}

/// The server under test, killed when the test ends if it still runs.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn check_prints_each_backends_effective_policy_and_refuses_a_broken_rule_as_startup_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("smcp-server.yml");
    let base = "server:\n  host: \"127.0.0.1\"\n  port: 0\n  public_url: \"https://mcp.example.com\"\nauth:\n  mode: oidc\noidc:\n  issuers: [\"https://idp.example.com\"]\n  audience: api\n  scope_hierarchy: {\"mcp:admin\": [\"mcp:write\"]}\nmcp:\n  backends:\n    - id: echo\n      transport: stdio\n      path: /v1/echo\n      stdio:\n        command: cat\n      policy:\n        default: deny\n        rules:\n";
    let good =
        format!("{base}          - tools: [\"trigger-*\"]\n            scopes: [\"mcp:write\"]\n");
    std::fs::write(&config, good).expect("write config");
    let check = run(&["check"], &config);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let out = text(&check);
    assert!(out.contains("policy of echo (/v1/echo):"), "{out}");
    assert!(
        out.contains("1. tools trigger-*: scopes mcp:write (else step-up 403)"),
        "{out}"
    );
    assert!(out.contains("mcp:admin -> mcp:write"), "{out}");

    // A rule with two effects: the same refusal, with its key, from check and from startup.
    let broken = format!(
        "{base}          - tools: [\"x\"]\n            allow: true\n            deny: true\n"
    );
    std::fs::write(&config, broken).expect("write config");
    refused_by_check_as_by_startup(
        &config,
        "mcp.backends[0].policy.rules[0]: a rule has one effect",
    );
}
