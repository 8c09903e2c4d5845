//! Building a workspace binary from inside a running test.
//!
//! Cargo only builds the binaries of the package under test; tests that need another
//! package's binary (the fake MCP server, smcp-client) build it on first use into the same
//! target directory and profile as the running test. Cargo releases its build lock while tests
//! run, so this nested build does not deadlock. Cross-compiled runs (`--target`) are not
//! supported.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds binary `bin` of workspace package `package` with the running test's profile and
/// target directory, and returns its path.
pub fn build_workspace_bin(package: &str, bin: &str) -> Result<PathBuf, String> {
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
    // The workspace manifest: `-p` selects the package.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--bin", bin, "--profile"])
        .arg(&profile)
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build -p {package} --bin {bin} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let path = profile_dir.join(bin);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} missing after the build", path.display()))
    }
}
