//! Background checks of each backend's state, reported by `/ready` and `smcp_backend_up`.
//!
//! The Go project reported healthy while a backend that failed to start was skipped; smcp
//! names every backend's state (in `/ready`'s body and the `smcp_backend_up{backend}` gauge):
//! - an HTTP backend is up while a TCP connection to its host and port succeeds (checked
//!   every few seconds, with a short connect timeout);
//! - a stdio backend is up while its command resolves to an executable file (on `PATH` for a
//!   bare name), so a missing `npx` or `uvx` shows up before the first client does.
//!
//! A backend's state does not decide smcp's own readiness (see `ops.rs`): behind a load
//! balancer every replica shares the same backends, so a dead one would take every replica out
//! at once and every healthy backend with it.
//!
//! Checks run on background tasks owned by [`ReadinessProbes`]; dropping it stops them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

/// How often a probe runs once it has succeeded.
const HEALTHY_INTERVAL: Duration = Duration::from_secs(10);
/// First retry delay after a failure; doubles up to `HEALTHY_INTERVAL`.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Connect timeout of one HTTP probe.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a probe checks.
pub(crate) enum Probe {
    /// TCP reachability of `host:port`.
    Tcp { host: String, port: u16 },
    /// An executable `command`, searched on `path` when it has no `/`.
    Command {
        command: String,
        path: Option<String>,
        working_dir: Option<PathBuf>,
    },
}

/// The running probe tasks; they stop when this is dropped.
#[derive(Default)]
pub(crate) struct ReadinessProbes {
    tasks: Vec<JoinHandle<()>>,
}

impl ReadinessProbes {
    /// Starts `probe` for `backend`, updating `ready` and the backend's `smcp_backend_up`
    /// gauge (0 until the first check succeeds). The first check runs immediately.
    pub(crate) fn start(&mut self, backend: Arc<str>, probe: Probe, ready: Arc<AtomicBool>) {
        // Backend ids come from the configuration, so this label set is bounded by it.
        let up = metrics::gauge!("smcp_backend_up", "backend" => backend.to_string());
        up.set(0.0);
        let task = tokio::spawn(async move {
            let mut retry = FIRST_RETRY;
            loop {
                let ok = probe.check().await;
                up.set(if ok { 1.0 } else { 0.0 });
                let was = ready.swap(ok, Ordering::Relaxed);
                if ok != was {
                    if ok {
                        tracing::info!(backend = %backend, "backend is ready");
                    } else {
                        tracing::warn!(backend = %backend, probe = %probe.describe(), "backend is not ready");
                    }
                }
                let delay = if ok {
                    retry = FIRST_RETRY;
                    HEALTHY_INTERVAL
                } else {
                    let delay = retry;
                    retry = (retry * 2).min(HEALTHY_INTERVAL);
                    delay
                };
                tokio::time::sleep(delay).await;
            }
        });
        self.tasks.push(task);
    }
}

impl Drop for ReadinessProbes {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Probe {
    async fn check(&self) -> bool {
        match self {
            Self::Tcp { host, port } => matches!(
                tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    tokio::net::TcpStream::connect((host.as_str(), *port))
                )
                .await,
                Ok(Ok(_))
            ),
            Self::Command {
                command,
                path,
                working_dir,
            } => resolve_command(command, path.as_deref(), working_dir.as_deref()).is_some(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Tcp { host, port } => format!("tcp connect {host}:{port}"),
            Self::Command { command, .. } => {
                format!("command {command:?} not found or not executable")
            }
        }
    }
}

/// Finds the executable a child would run: a command with a `/` is taken as a path (relative
/// to `working_dir` when given); a bare name is searched on `path`.
pub(crate) fn resolve_command(
    command: &str,
    path: Option<&str>,
    working_dir: Option<&Path>,
) -> Option<PathBuf> {
    if command.contains('/') {
        let candidate = match working_dir {
            Some(dir) if !command.starts_with('/') => dir.join(command),
            _ => PathBuf::from(command),
        };
        return is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(command))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_commands_on_path_and_by_path() {
        let path = std::env::var("PATH").ok();
        assert!(resolve_command("sh", path.as_deref(), None).is_some());
        assert!(resolve_command("/bin/sh", None, None).is_some());
        assert!(resolve_command("definitely-not-a-command-smcp", path.as_deref(), None).is_none());
        assert!(
            resolve_command("sh", None, None).is_none(),
            "no PATH, no bare names"
        );
        assert!(resolve_command("./nope", None, Some(Path::new("/"))).is_none());
    }

    #[tokio::test]
    async fn tcp_probe_follows_the_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let probe = Probe::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        assert!(probe.check().await);
        drop(listener);
        assert!(!probe.check().await);
    }
}
