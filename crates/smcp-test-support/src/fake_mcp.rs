//! A fake stdio MCP server, run as a real child process by tests.
//!
//! The binary `fake-mcp-server` speaks newline-delimited JSON-RPC on stdin/stdout and picks its
//! behaviour from the tool called, so one process covers many cases (see [`server`] for the
//! list). [`fake_mcp_server_bin`] builds it on first use and returns its path, so tests of any
//! crate can spawn it without relying on Cargo having built this crate's binaries.

pub mod server;

use std::path::PathBuf;
use std::sync::OnceLock;

/// The name of the binary.
pub const BIN_NAME: &str = "fake-mcp-server";

/// The path of the `fake-mcp-server` binary, built (once per test process) with
/// `cargo build -p smcp-test-support --bin fake-mcp-server` into the same target directory and
/// profile as the running test.
///
/// # Panics
/// If the binary cannot be built: a test cannot go on without it.
#[allow(clippy::panic, reason = "a test helper: failing loudly is the point")]
pub fn fake_mcp_server_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(build) {
        Ok(path) => path.clone(),
        Err(e) => panic!("cannot build {BIN_NAME}: {e}"),
    }
}

fn build() -> Result<PathBuf, String> {
    crate::cargo_bin::build_workspace_bin("smcp-test-support", BIN_NAME)
}
