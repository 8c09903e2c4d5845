//! A fake stdio MCP server, run as a real child process by tests.
//!
//! The binary `fake-mcp-server` speaks newline-delimited JSON-RPC on stdin/stdout and picks its
//! behaviour from the tool called, so one process covers many cases (see [`server`] for the
//! list). [`fake_mcp_server_bin`] builds it on first use and returns its path, so tests of any
//! crate can spawn it without relying on Cargo having built this crate's binaries.

pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;
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
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // A test binary lives in <target>/<profile dir>/deps/ (or <target>/<profile dir>/ for
    // examples and bins).
    let profile_dir = exe
        .ancestors()
        .skip(1)
        .find(|dir| {
            dir.file_name()
                .is_some_and(|name| name != "deps" && name != "examples")
        })
        .ok_or_else(|| format!("cannot find the profile directory above {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("no target directory above {}", profile_dir.display()))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "smcp-test-support",
            "--bin",
            BIN_NAME,
            "--profile",
        ])
        .arg(&profile)
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let bin = profile_dir.join(BIN_NAME);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} missing after the build", bin.display()))
    }
}
