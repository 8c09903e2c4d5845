//! Shared helpers for the end-to-end tests in this folder: real MCP servers (npm
//! `@modelcontextprotocol/server-*`, PyPI `mcp-server-time`) and real MCP clients (Python SDK
//! `mcp` 2.3.0, TypeScript SDK 1.32.2) installed from the lockfiles in `tests/peers/` by
//! `bash tests/peers/install.sh`. Tests never install; they panic with that command when the
//! peers are missing or stale.
//!
//! # Typical test
//!
//! ```no_run
//! use smcp_e2e::{HttpMode, run_py_client, spawn_everything_http};
//!
//! # async fn example() {
//! // A real server on 127.0.0.1:<free port>, killed (with its process group) when dropped.
//! let (server, port) = spawn_everything_http(HttpMode::StreamableHttp).await;
//! // A real client as a subprocess; panics (with its output) unless it succeeds.
//! let out = run_py_client([
//!     "--url", &HttpMode::StreamableHttp.url(port),
//!     "--transport", "streamable",
//!     "--scenario", "basic",
//!     "--header", "Authorization: Bearer some-token",
//! ])
//! .await;
//! assert_eq!(out["echo"], "Echo: hello from py_client");
//! drop(server);
//! # }
//! ```
//!
//! # What is here
//! - [`peers`]: paths (`peers_dir`, `python`, `node`, `node_package`, `venv_bin`), the install
//!   check (`ensure_peers_installed`), and `PeerCommand`s for the stdio servers (everything,
//!   memory, sequential-thinking, time) to start them, hand them to a driver, or put them into
//!   an smcp-server config.
//! - [`process`]: `ChildGuard`, a child in its own process group with captured output,
//!   SIGKILLed with its group on drop; `wait_for_line` for readiness, `logs` for diagnostics.
//! - [`servers`]: `spawn_everything_http(HttpMode)`, the general `spawn_node_server`, and
//!   `spawn_py_sse_server` (the Python SDK's legacy SSE server), all returning
//!   `(ChildGuard, port)` once the server listens on 127.0.0.1.
//! - [`clients`]: `run_py_client` / `run_ts_client` (JSON result, panic on failure) and
//!   `try_run_*` (a `ClientRun` with exit code, JSON, stdout, stderr) for expected failures.
//! - [`net`]: `free_port`, `wait_for_port`.
//! - [`exchange`]: raw Streamable HTTP POSTs (`post`, `open_session`, `call`) whose `Answer` has
//!   the status, `WWW-Authenticate`, session id and JSON-RPC message, JSON or SSE.
//!
//! Everything is loopback only and bounded in time (see the `*_TIMEOUT` constants). The
//! async helpers need a Tokio runtime; `#[tokio::test]` (current-thread) is enough because the
//! peers are separate processes.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test-support crate: helpers fail the calling test by panicking with a diagnosis"
)]

#[path = "support/clients.rs"]
pub mod clients;
#[path = "support/exchange.rs"]
pub mod exchange;
#[path = "support/expect.rs"]
pub mod expect;
#[path = "support/net.rs"]
pub mod net;
#[path = "support/oidc.rs"]
pub mod oidc;
#[path = "support/peers.rs"]
pub mod peers;
#[path = "support/process.rs"]
pub mod process;
#[path = "support/procs.rs"]
pub mod procs;
#[path = "support/servers.rs"]
pub mod servers;
#[path = "support/smcp.rs"]
pub mod smcp;
#[path = "support/sse.rs"]
pub mod sse;
#[path = "support/yaml.rs"]
pub mod yaml;

pub use clients::{
    CLIENT_TIMEOUT, ClientRun, run_py_client, run_ts_client, try_run_py_client, try_run_ts_client,
};
pub use net::{free_port, wait_for_port};
pub use oidc::{
    OidcProvider, ProviderProfile, spawn_oidc_provider, spawn_oidc_provider_profile,
    spawn_oidc_provider_with,
};
pub use peers::{
    PeerCommand, ensure_peers_installed, everything_stdio, memory_stdio, node, node_package,
    peers_dir, python, sequential_thinking_stdio, time_stdio, venv_bin,
};
pub use process::{ChildGuard, LogLine, Stream, WaitError};
pub use servers::{
    HttpMode, NODE_READY_TIMEOUT, spawn_everything_http, spawn_node_server, spawn_py_sse_server,
};
pub use smcp::SmcpServer;
