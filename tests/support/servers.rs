//! Starting the real Node peers as HTTP servers on loopback, and knowing when they are ready.
//!
//! Facts about server-everything 2026.8.31 as an HTTP server (read from its source and
//! checked): it takes its port from `PORT` (default 3001) and calls `app.listen(PORT)` with no
//! host, i.e. all interfaces. `PORT=0` works (the OS picks a port) but the server then logs
//! "listening on port 0", so the real port is unknown. Its own ready lines are on stderr:
//! `MCP Streamable HTTP Server listening on port N` / `Server is running on port N`.
//!
//! So every Node server here is started with `node --require tests/peers/harness/preload.cjs`,
//! which binds host-less listens to 127.0.0.1, prints `SMCP_PEER_LISTENING <host> <port>` on
//! stderr once the socket listens (our readiness signal: no polling, no port race), and makes
//! the peer exit if the test binary dies without killing it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::peers::{ensure_peers_installed, node, node_package, peers_dir};
use crate::process::{ChildGuard, LogLine, Stream, WaitError};

/// How long a Node peer may take to listen (~150 ms normally; generous for a busy 2-core CI).
pub const NODE_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The line prefix printed by `harness/preload.cjs` when a server listens.
const LISTENING_PREFIX: &str = "SMCP_PEER_LISTENING ";

/// `tests/peers/harness/preload.cjs`.
pub fn node_preload() -> PathBuf {
    peers_dir().join("harness").join("preload.cjs")
}

/// Starts `node --require preload.cjs <script> <args...>` with `PORT=0` (plus `env`), waits
/// until it listens on 127.0.0.1, and returns the guard and the port.
///
/// Works for any Node server that listens once via `net.Server.listen` (express, http,
/// koa...); for servers that listen on several ports the first one wins.
///
/// # Panics
/// If the peers are not installed, the process cannot start, exits, or does not listen
/// within [`NODE_READY_TIMEOUT`] (the panic message carries its output).
pub async fn spawn_node_server<I, S>(
    name: &str,
    script: &Path,
    args: I,
    env: &[(&str, &str)],
) -> (ChildGuard, u16)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ensure_peers_installed();
    let mut cmd = Command::new(node());
    cmd.arg("--require")
        .arg(node_preload())
        .arg(script)
        .args(args)
        .current_dir(peers_dir())
        .env("PORT", "0");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let guard = ChildGuard::spawn(name, cmd)
        .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", script.display()));
    let is_ready =
        |line: &LogLine| line.stream == Stream::Stderr && line.text.starts_with(LISTENING_PREFIX);
    let line = match guard.wait_for_line(NODE_READY_TIMEOUT, is_ready).await {
        Ok(line) => line,
        Err(WaitError::Timeout) => panic!(
            "{name} did not listen within {NODE_READY_TIMEOUT:?}; its output:\n{}",
            guard.logs()
        ),
        Err(WaitError::Exited) => panic!(
            "{name} exited before listening; its output:\n{}",
            guard.logs()
        ),
    };
    let port = line
        .text
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("{name}: unparsable ready line {:?}", line.text));
    (guard, port)
}

/// The two HTTP transports server-everything can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMode {
    /// Streamable HTTP (2025-03-26+): one endpoint, `/mcp`.
    StreamableHttp,
    /// Legacy HTTP+SSE (2024-11-05): `GET /sse`, then POSTs to `/message?sessionId=...`.
    Sse,
}

impl HttpMode {
    /// The server-everything command-line argument: `streamableHttp` or `sse`.
    pub fn arg(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamableHttp",
            Self::Sse => "sse",
        }
    }

    /// The path a client connects to: `/mcp` or `/sse`.
    pub fn endpoint_path(self) -> &'static str {
        match self {
            Self::StreamableHttp => "/mcp",
            Self::Sse => "/sse",
        }
    }

    /// The client drivers' `--transport` value: `streamable` or `sse`.
    pub fn driver_transport(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamable",
            Self::Sse => "sse",
        }
    }

    /// `http://127.0.0.1:<port><endpoint_path>`.
    pub fn url(self, port: u16) -> String {
        format!("http://127.0.0.1:{port}{}", self.endpoint_path())
    }
}

/// Starts server-everything as an HTTP server on a free loopback port and waits until it
/// listens. Connect to [`HttpMode::url`]`(port)`.
///
/// Behaviour worth knowing (peers.md): answers with SSE even for single replies, 406 unless
/// `Accept` lists both JSON and SSE, 400 (not 404) for an unknown session, and 400 with a
/// JSON-RPC error body for `server/discover` (so the Python 2.x client falls back to
/// `initialize`). Logs every request on stdout (captured by the guard).
///
/// # Panics
/// As [`spawn_node_server`].
pub async fn spawn_everything_http(mode: HttpMode) -> (ChildGuard, u16) {
    let script = node_package("@modelcontextprotocol/server-everything")
        .join("dist")
        .join("index.js");
    let name = format!("server-everything-{}", mode.arg());
    spawn_node_server(&name, &script, [mode.arg()], &[]).await
}

/// `tests/peers/harness/py_sse_server.py`: a legacy HTTP+SSE server on the Python SDK.
pub fn py_sse_server_script() -> PathBuf {
    peers_dir().join("harness").join("py_sse_server.py")
}

/// Starts the Python SDK's legacy HTTP+SSE server (`harness/py_sse_server.py`: `GET /sse`,
/// `POST /messages/?session_id=<uuid hex>`, one tool `whoami`) on a free loopback port and
/// waits until it listens.
///
/// The SDK reads `session_id` with `uuid.UUID(hex=...)`, so it accepts other spellings of an
/// id (upper case, hyphens, braces, `urn:uuid:`): the peer for smcp's legacy session binding.
///
/// # Panics
/// If the peers are not installed, or the server does not listen within
/// [`NODE_READY_TIMEOUT`] (the panic message carries its output).
pub async fn spawn_py_sse_server() -> (ChildGuard, u16) {
    ensure_peers_installed();
    let name = "py-sse-server";
    let mut cmd = Command::new(crate::peers::python());
    cmd.arg(py_sse_server_script()).current_dir(peers_dir());
    let guard = ChildGuard::spawn(name, cmd).unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let is_ready =
        |line: &LogLine| line.stream == Stream::Stderr && line.text.starts_with(LISTENING_PREFIX);
    let line = match guard.wait_for_line(NODE_READY_TIMEOUT, is_ready).await {
        Ok(line) => line,
        Err(WaitError::Timeout) => panic!(
            "{name} did not listen within {NODE_READY_TIMEOUT:?}; its output:\n{}",
            guard.logs()
        ),
        Err(WaitError::Exited) => panic!(
            "{name} exited before listening; its output:\n{}",
            guard.logs()
        ),
    };
    let port = line
        .text
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("{name}: unparsable ready line {:?}", line.text));
    (guard, port)
}
