//! Running the real MCP client drivers (`tests/peers/clients/`) as subprocesses.
//!
//! Both drivers take the same arguments and print one JSON line on stdout (see
//! `tests/peers/README.md` for every field):
//!
//! ```text
//! --url URL                  endpoint (streamable: .../mcp, sse: .../sse)
//! --transport streamable|sse|stdio
//! --header 'Name: value'     repeatable, e.g. 'Authorization: Bearer <token>'
//! --scenario connect|basic|everything|memory|time
//! --message TEXT             echo text / memory observation
//! --timeout SECONDS          the driver's own overall deadline (default 60)
//! --mode auto|legacy         Python only: SDK connect mode (default auto = server/discover probe)
//! --command P --arg A --env K=V   stdio transport (see PeerCommand::driver_args)
//! ```
//!
//! Output always has `ok`, `client`, `transport`, `scenario`, `http` (trace of every HTTP
//! exchange with method, path, `rpc` method, MCP headers, status, www-authenticate); on success
//! also `protocol_version`, `server_info`, `session_id` and the scenario's fields; on failure
//! `error` (also printed on stderr, exit code 1).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::process::Command;

use crate::peers::{ensure_peers_installed, node, peers_dir, python};

/// Hard limit for one driver run, enforced from Rust (the drivers also stop themselves after
/// their `--timeout`, 60 s by default).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// What one driver run produced.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// Exit code (`None`: killed by a signal, e.g. after [`CLIENT_TIMEOUT`]).
    pub code: Option<i32>,
    /// The JSON result line, if the driver printed one.
    pub json: Option<Value>,
    /// All of stdout.
    pub stdout: String,
    /// All of stderr (the error line on failure, SDK and stdio-server logs).
    pub stderr: String,
}

impl ClientRun {
    /// True when the driver exited 0 and reported `"ok": true`.
    pub fn succeeded(&self) -> bool {
        self.code == Some(0) && self.json.as_ref().and_then(|j| j["ok"].as_bool()) == Some(true)
    }

    /// The driver's `error` field, if any.
    pub fn error(&self) -> Option<&str> {
        self.json.as_ref().and_then(|j| j["error"].as_str())
    }
}

/// `tests/peers/clients/py_client.py`.
pub fn py_client_script() -> PathBuf {
    peers_dir().join("clients").join("py_client.py")
}

/// `tests/peers/clients/ts_client.mjs`.
pub fn ts_client_script() -> PathBuf {
    peers_dir().join("clients").join("ts_client.mjs")
}

/// Runs the Python SDK driver and returns whatever happened (for tests that expect failure,
/// e.g. a missing bearer token).
pub async fn try_run_py_client<I, S>(args: I) -> ClientRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ensure_peers_installed();
    let mut cmd = Command::new(python());
    cmd.arg(py_client_script()).args(args);
    run_driver("py_client", cmd).await
}

/// Runs the TypeScript SDK driver and returns whatever happened.
pub async fn try_run_ts_client<I, S>(args: I) -> ClientRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ensure_peers_installed();
    let mut cmd = Command::new(node());
    cmd.arg(ts_client_script()).args(args);
    run_driver("ts_client", cmd).await
}

/// Runs the Python SDK driver and returns its JSON result.
///
/// # Panics
/// Unless the driver exits 0 with `"ok": true`; the panic message carries its stdout/stderr.
pub async fn run_py_client<I, S>(args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    expect_success("py_client", try_run_py_client(args).await)
}

/// Runs the TypeScript SDK driver and returns its JSON result.
///
/// # Panics
/// Unless the driver exits 0 with `"ok": true`; the panic message carries its stdout/stderr.
pub async fn run_ts_client<I, S>(args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    expect_success("ts_client", try_run_ts_client(args).await)
}

fn expect_success(name: &str, run: ClientRun) -> Value {
    if !run.succeeded() {
        panic!(
            "{name} failed (exit {:?}): {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            run.code,
            run.error().unwrap_or("no JSON result"),
            run.stdout,
            run.stderr
        );
    }
    run.json.unwrap_or(Value::Null)
}

async fn run_driver(name: &str, mut cmd: Command) -> ClientRun {
    cmd.current_dir(peers_dir())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let pgid = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(Pid::from_raw);
    let waited = tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output()).await;
    // Whatever happened, nothing of the driver's group (e.g. a stdio server it launched)
    // may outlive the run.
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    let output = match waited {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("{name}: waiting for the driver failed: {e}"),
        Err(_elapsed) => panic!("{name} did not finish within {CLIENT_TIMEOUT:?}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .and_then(|line| serde_json::from_str(line).ok());
    ClientRun {
        code: output.status.code(),
        json,
        stdout,
        stderr,
    }
}
