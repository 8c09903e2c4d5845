//! Shared by the `client_*` tests (included with `#[path]`, not a test target of its own): the
//! smcp-client binary, HTTP-mode client processes, and smcp-server configurations.
//!
//! The binary is built on first use into the test's own target directory (the tests crate is
//! not its package, so Cargo does not build it for us), and always run as a real process: the
//! stdio tests have a real MCP host launch it, exactly as a desktop host would.

#![allow(
    dead_code,
    clippy::panic,
    clippy::expect_used,
    reason = "each test binary that includes this file uses a different part of it; helpers fail the test with a message"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use smcp_e2e::process::{ChildGuard, Stream};
use smcp_e2e::{PeerCommand, SmcpServer};
use tokio::process::Command;

/// How long a test waits for smcp-client or smcp-server to get ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The smcp-client binary, built once per test process with
/// `cargo build -p smcp-client` into the same target directory and profile as the test.
pub(crate) fn smcp_client_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(build_client) {
        Ok(path) => path.clone(),
        Err(error) => panic!("cannot build smcp-client: {error}"),
    }
}

fn build_client() -> Result<PathBuf, String> {
    smcp_test_support::cargo_bin::build_workspace_bin("smcp-client", "smcp-client")
}

/// A command running smcp-client with `args`, `env` added, and no `SMCP_*` variable of the
/// test process leaking in.
pub(crate) fn client_command(args: &[String], env: &[(String, String)]) -> Command {
    let mut command = Command::new(smcp_client_bin());
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SMCP_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().cloned());
    command
}

/// Driver arguments making the Python host launch `smcp-client stdio <args>`.
pub(crate) fn host_launches_client(args: &[String], env: &[(String, String)]) -> Vec<String> {
    let mut out = vec![
        "--transport".to_owned(),
        "stdio".to_owned(),
        "--command".to_owned(),
        smcp_client_bin().to_string_lossy().into_owned(),
        "--arg=stdio".to_owned(),
    ];
    out.extend(args.iter().map(|a| format!("--arg={a}")));
    out.extend(env.iter().map(|(k, v)| format!("--env={k}={v}")));
    out
}

/// A running smcp-client in HTTP mode.
pub(crate) struct HttpClient {
    pub(crate) guard: ChildGuard,
    pub(crate) addr: SocketAddr,
}

impl HttpClient {
    /// `http://<addr><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its `/metrics` page (Prometheus text).
    pub(crate) async fn metrics(&self) -> String {
        smcp_e2e::net::get_text(&self.url("/metrics")).await
    }
}

/// Asserts that the everything backend's echo answers through `client` at `path` (the Python
/// SDK's basic scenario), with the client's logs in the failure message.
pub(crate) async fn echo_through(client: &HttpClient, path: &str) {
    let out = smcp_e2e::run_py_client(smcp_e2e::expect::driver_args(
        &client.url(path),
        "streamable",
        "basic",
    ))
    .await;
    assert_eq!(
        out["echo"],
        "Echo: hello from py_client",
        "{path}: {out}\n{}",
        client.guard.logs()
    );
}

/// Starts `smcp-client http --port 0 -f json <args>` and waits for its listening line.
pub(crate) async fn spawn_http_client(args: &[String], env: &[(String, String)]) -> HttpClient {
    let mut all = vec![
        "http".to_owned(),
        "--port".into(),
        "0".into(),
        "-f".into(),
        "json".into(),
    ];
    all.extend_from_slice(args);
    let guard = ChildGuard::spawn("smcp-client", client_command(&all, env))
        .unwrap_or_else(|e| panic!("cannot start smcp-client: {e}"));
    let line = guard
        .wait_for_line(READY_TIMEOUT, |line| {
            line.stream == Stream::Stderr && line.text.contains("smcp-client listening")
        })
        .await
        .unwrap_or_else(|e| panic!("smcp-client not listening ({e:?}):\n{}", guard.logs()));
    let log: Value = serde_json::from_str(&line.text).expect("JSON log line");
    let addr = log["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {log}"));
    HttpClient { guard, addr }
}

/// A YAML stdio backend entry for `peer` at `path`.
pub(crate) fn stdio_backend(id: &str, path: &str, peer: &PeerCommand) -> String {
    let env: serde_json::Map<String, Value> = peer
        .env
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    format!(
        r#"    - id: {id}
      transport: stdio
      path: {path}
      stdio:
        command: {command}
        args: {args}
        env: {env}
        stdio_timeout: "60s"
"#,
        command = json!(peer.program.to_string_lossy()),
        args = json!(peer.args),
        env = Value::Object(env),
    )
}

/// An smcp-server configuration: `oidc` with `issuer` when given (tokens must be issued for
/// each backend's public URL), else `none`.
pub(crate) fn server_yaml(issuer: Option<&str>, backends: &str) -> String {
    let auth = match issuer {
        Some(issuer) => format!(
            r#"auth:
  mode: oidc
oidc:
  issuers: ["{issuer}"]
  audience: "urn:smcp:nobody"
  scopes_supported: ["mcp:tools"]
  jwks_refresh_min_interval: "1s"
"#
        ),
        None => "auth:\n  mode: none\n".to_owned(),
    };
    format!(
        r#"server:
  host: "127.0.0.1"
  port: 0
  shutdown_timeout: "5s"
{auth}mcp:
  backends:
{backends}"#
    )
}

/// An HTTP client for the tests' own requests (no environment proxy).
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("reqwest client")
}

/// Waits until smcp-server's `/ready` says 200 (keys loaded, backends startable).
pub(crate) async fn wait_ready(smcp: &SmcpServer) {
    let http = http();
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(response) = http.get(smcp.url("/ready")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "smcp-server not ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The OIDC options of smcp-client for `client_id` at the provider (`issuer` discovery), with
/// the secret in the environment, as the README recommends.
pub(crate) fn oidc_args(issuer: &str, client_id: &str) -> Vec<String> {
    [
        "--auth-mode",
        "oidc",
        "--oidc-issuer",
        issuer,
        "--oidc-client-id",
        client_id,
        "--oidc-scopes",
        "mcp:tools",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `SMCP_OIDC_CLIENT_SECRET=<secret>`.
pub(crate) fn secret_env(secret: &str) -> Vec<(String, String)> {
    vec![("SMCP_OIDC_CLIENT_SECRET".to_owned(), secret.to_owned())]
}

/// The value of the Prometheus sample `name{labels}` in `text` (labels as printed, sorted),
/// or 0 when absent.
pub(crate) fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}
