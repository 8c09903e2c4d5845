//! Where the real peers live and how to start the stdio ones.
//!
//! The peers are installed by `tests/peers/install.sh` from the lockfiles in `tests/peers/`
//! (npm `node_modules/`, a Python venv `.venv/`). Tests never install anything: they call
//! [`ensure_peers_installed`], which panics with the command to run when the install is missing
//! or older than the lockfiles.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use tokio::process::Command;

/// `tests/peers/`: lockfiles, `install.sh`, the client drivers, and the installed peers.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// `tests/peers/node_modules/<package>` (e.g. `@modelcontextprotocol/server-everything`).
pub fn node_package(package: &str) -> PathBuf {
    peers_dir().join("node_modules").join(package)
}

/// The venv's Python interpreter, `tests/peers/.venv/bin/python` (has `mcp` 2.3.0 and
/// `mcp-server-time`).
pub fn python() -> PathBuf {
    peers_dir().join(".venv").join("bin").join("python")
}

/// A console script installed in the venv, e.g. `venv_bin("mcp-server-time")`.
pub fn venv_bin(name: &str) -> PathBuf {
    peers_dir().join(".venv").join("bin").join(name)
}

/// The Node.js binary: `$SMCP_NODE` if set, else `node` found on `PATH`.
///
/// # Panics
/// If neither exists.
pub fn node() -> PathBuf {
    if let Some(path) = std::env::var_os("SMCP_NODE") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`node` not found on PATH (set SMCP_NODE to override)"))
}

/// Files whose presence proves the install ran to the end (one per kind of peer we use).
const REQUIRED_FILES: &[&str] = &[
    "node_modules/.package-lock.json",
    "node_modules/@modelcontextprotocol/server-everything/dist/index.js",
    "node_modules/@modelcontextprotocol/server-memory/dist/index.js",
    "node_modules/@modelcontextprotocol/server-sequential-thinking/dist/index.js",
    "node_modules/@modelcontextprotocol/sdk/package.json",
    "node_modules/oidc-provider/package.json",
    "node_modules/jose/package.json",
    ".venv/bin/python",
    ".venv/bin/mcp-server-time",
];

/// Which lockfiles each stamp written by `install.sh` must record (by sha256).
const STAMPS: &[(&str, &[&str])] = &[
    (".stamp-npm", &["package.json", "package-lock.json"]),
    (".stamp-py", &["requirements.txt"]),
];

/// Checks (once per test binary) that the peers are installed and match the lockfiles.
///
/// # Panics
/// With a message telling to run `bash tests/peers/install.sh` when anything is missing or
/// stale. Tests do not install peers themselves.
pub fn ensure_peers_installed() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(problem) = CHECK.get_or_init(check_install) {
        panic!(
            "real MCP peers are not ready: {problem}.\n\
             Run `bash tests/peers/install.sh` (from the repository root) first; \
             the end-to-end tests never install anything themselves."
        );
    }
}

fn check_install() -> Result<(), String> {
    let dir = peers_dir();
    for file in REQUIRED_FILES {
        if !dir.join(file).exists() {
            return Err(format!("{} is missing", dir.join(file).display()));
        }
    }
    for (stamp, lockfiles) in STAMPS {
        let stamp_path = dir.join(stamp);
        let recorded = std::fs::read_to_string(&stamp_path)
            .map_err(|e| format!("cannot read {}: {e}", stamp_path.display()))?;
        for lockfile in *lockfiles {
            let bytes = std::fs::read(dir.join(lockfile))
                .map_err(|e| format!("cannot read {lockfile}: {e}"))?;
            let digest = Sha256::digest(&bytes);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            // install.sh writes `sha256sum` lines: "<hex>  <file>".
            if !recorded.contains(&format!("{hex}  {lockfile}")) {
                return Err(format!(
                    "{lockfile} changed since the last install (stamp {stamp})"
                ));
            }
        }
    }
    Ok(())
}

/// How to start one stdio MCP server: program, arguments, extra environment.
///
/// Use it to start the server directly ([`PeerCommand::command`]), to let a client driver start
/// it over stdio ([`PeerCommand::driver_args`]), or to put it into an smcp-server config as a
/// stdio backend (read the public fields).
#[derive(Debug, Clone)]
pub struct PeerCommand {
    /// Absolute path of the executable.
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Environment variables to add (the rest is inherited).
    pub env: Vec<(String, String)>,
}

impl PeerCommand {
    /// A Tokio command running this peer (stdio not configured: the caller decides).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).envs(self.env.iter().cloned());
        cmd
    }

    /// Arguments for `py_client.py` / `ts_client.mjs` to launch this peer themselves:
    /// `--transport stdio --command P --arg A... --env K=V...`.
    pub fn driver_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec![
            "--transport".into(),
            "stdio".into(),
            "--command".into(),
            self.program.clone().into_os_string(),
        ];
        for arg in &self.args {
            // `--arg=VALUE` so that values starting with `-` are not taken for options.
            out.push(format!("--arg={arg}").into());
        }
        for (key, value) in &self.env {
            out.push(format!("--env={key}={value}").into());
        }
        out
    }
}

fn node_peer(package: &str, args: &[&str], env: Vec<(String, String)>) -> PeerCommand {
    let script = node_package(package).join("dist").join("index.js");
    let mut all = vec![script.to_string_lossy().into_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    PeerCommand {
        program: node(),
        args: all,
        env,
    }
}

/// server-everything over stdio (`node .../dist/index.js stdio`): 13+ tools incl. `echo`,
/// `get-sum`, progress, sampling and elicitation triggers.
pub fn everything_stdio() -> PeerCommand {
    node_peer(
        "@modelcontextprotocol/server-everything",
        &["stdio"],
        Vec::new(),
    )
}

/// server-memory over stdio, storing its knowledge graph in `memory_file` (a `.jsonl` path in a
/// test's temp dir: the default would write into node_modules and leak state between tests).
pub fn memory_stdio(memory_file: &Path) -> PeerCommand {
    let env = vec![(
        "MEMORY_FILE_PATH".to_owned(),
        memory_file.to_string_lossy().into_owned(),
    )];
    node_peer("@modelcontextprotocol/server-memory", &[], env)
}

/// server-sequential-thinking over stdio, with its very chatty stderr logging turned off.
pub fn sequential_thinking_stdio() -> PeerCommand {
    let env = vec![("DISABLE_THOUGHT_LOGGING".to_owned(), "true".to_owned())];
    node_peer("@modelcontextprotocol/server-sequential-thinking", &[], env)
}

/// mcp-server-time (Python SDK server) over stdio, with UTC as its local zone.
/// Note: it speaks the 2026-07-28 protocol too (answers `server/discover`).
pub fn time_stdio() -> PeerCommand {
    PeerCommand {
        program: venv_bin("mcp-server-time"),
        args: vec!["--local-timezone".to_owned(), "UTC".to_owned()],
        env: Vec::new(),
    }
}
