//! Spawning, watching and stopping one child process.
//!
//! The child runs in its own process group so that stopping it also stops whatever it started
//! (`npx` -> `node`, a shell -> its commands). Its stderr is drained by a task of its own and
//! logged line by line, so a chatty child never blocks on a full pipe. A supervisor task owns
//! the process handle: it reaps the child (no zombies), publishes how it ended, and then clears
//! out anything left in its process group. Stopping is EOF on stdin, then SIGTERM to the group,
//! then SIGKILL to the group, with graces from a [`StopPolicy`].
//!
//! Children are forked by the `spawner` thread with `PR_SET_PDEATHSIG`, so the kernel
//! SIGKILLs them if smcp dies without stopping them (SIGKILL, OOM). That reaches the direct
//! child only: descendants that stay in its process group die on an orderly stop but not with
//! a SIGKILLed smcp, and one that leaves the group (`setsid()`, a double fork) escapes both;
//! the cgroup smcp runs in (systemd `KillMode=control-group`, a container or pod) covers those.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

use super::ChildSpec;
use super::env::child_env;
use super::lines::{Line, LineReader};
use super::spawner::spawn;

/// The longest stderr line logged as is; longer lines are cut.
const STDERR_LINE_MAX: usize = 4096;
/// How many of the last stderr lines are kept for error messages.
const STDERR_TAIL: usize = 8;
/// How often an emptying process group is checked.
const GROUP_POLL: Duration = Duration::from_millis(20);
/// How long a failed spawn waits for the rest of the child's stderr.
const STDERR_SETTLE: Duration = Duration::from_millis(500);

/// How a child is stopped: EOF on stdin, then SIGTERM, then SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPolicy {
    /// How long the child may take to exit after its stdin is closed.
    pub stdin_grace: Duration,
    /// How long the process group may take to exit after SIGTERM, before SIGKILL.
    pub term_grace: Duration,
}

impl Default for StopPolicy {
    /// Two seconds for each step.
    fn default() -> Self {
        StopPolicy {
            stdin_grace: Duration::from_secs(2),
            term_grace: Duration::from_secs(2),
        }
    }
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit code, if it exited normally.
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    fn from_status(status: std::process::ExitStatus) -> Self {
        ExitInfo {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(sig)) => match Signal::try_from(sig) {
                Ok(name) => write!(f, "killed by {name}"),
                Err(_) => write!(f, "killed by signal {sig}"),
            },
            (None, None) => f.write_str("unknown exit status"),
        }
    }
}

/// Why a child could not be started. Every variant names the command.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The command does not exist (or is not on the child's `PATH`).
    #[error("command {command:?} not found")]
    NotFound {
        /// The configured command.
        command: String,
    },
    /// The command exists but may not be executed.
    #[error("permission denied executing {command:?}")]
    PermissionDenied {
        /// The configured command.
        command: String,
    },
    /// The configured working directory is missing or unusable.
    #[error("working directory {dir:?} for {command:?} is not usable: {source}")]
    WorkingDir {
        /// The configured command.
        command: String,
        /// The configured directory.
        dir: std::path::PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The child started and exited straight away.
    #[error("{command:?} exited at once ({exit}){}", stderr_suffix(.stderr_tail))]
    ExitedAtOnce {
        /// The configured command.
        command: String,
        /// How it ended.
        exit: ExitInfo,
        /// Its last stderr lines, for the operator.
        stderr_tail: Vec<String>,
    },
    /// Any other failure to start the process.
    #[error("could not start {command:?}: {source}")]
    Io {
        /// The configured command.
        command: String,
        /// The underlying error.
        source: io::Error,
    },
}

fn stderr_suffix(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; stderr: {}", tail.join(" | "))
    }
}

impl SpawnError {
    /// A short label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            SpawnError::NotFound { .. } => "not_found",
            SpawnError::PermissionDenied { .. } => "permission_denied",
            SpawnError::WorkingDir { .. } => "bad_working_dir",
            SpawnError::ExitedAtOnce { .. } => "exited_at_once",
            SpawnError::Io { .. } => "error",
        }
    }
}

/// A running child as the connection sees it.
pub(crate) struct SpawnedChild {
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: ChildStdout,
    /// The child's pid, which is also its process group id.
    pub(crate) pid: u32,
    /// `Some` once the child has been reaped.
    pub(crate) exit: watch::Receiver<Option<ExitInfo>>,
    /// `true` once the child has been reaped and its process group emptied.
    pub(crate) finished: watch::Receiver<bool>,
}

/// What the tasks of one child share.
pub(crate) struct ChildLabels {
    pub(crate) backend: Arc<str>,
    pub(crate) session: Arc<str>,
    /// Set when smcp asked the child to stop, so its exit is not reported as a failure.
    pub(crate) stopping: Arc<AtomicBool>,
}

/// Starts the child described by `spec`, with its stderr drain and supervisor tasks, and
/// watches it for `spec.startup_check` in case it exits at once.
pub(crate) async fn spawn_child(
    spec: &ChildSpec,
    labels: &ChildLabels,
    term_grace: Duration,
) -> Result<SpawnedChild, SpawnError> {
    let result = spawn_inner(spec, labels, term_grace).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    metrics::counter!(
        "smcp_child_spawns_total",
        "backend" => labels.backend.clone(),
        "outcome" => outcome
    )
    .increment(1);
    result
}

async fn spawn_inner(
    spec: &ChildSpec,
    labels: &ChildLabels,
    term_grace: Duration,
) -> Result<SpawnedChild, SpawnError> {
    let command = || spec.command.clone();
    if let Some(dir) = &spec.working_dir {
        match tokio::fs::metadata(dir).await {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(SpawnError::WorkingDir {
                    command: command(),
                    dir: dir.clone(),
                    source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                });
            }
            Err(source) => {
                return Err(SpawnError::WorkingDir {
                    command: command(),
                    dir: dir.clone(),
                    source,
                });
            }
        }
    }

    let mut cmd = Command::new(&spec.command);
    cmd.args(&spec.args)
        .env_clear()
        .envs(child_env(std::env::vars_os(), &spec.env, spec.inherit_env))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    let mut child = spawn(cmd).await.map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SpawnError::NotFound { command: command() },
        io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied { command: command() },
        _ => SpawnError::Io {
            command: command(),
            source,
        },
    })?;

    let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let (Some(stdin), Some(stdout), Some(stderr), Some(pid)) =
        (pipes.0, pipes.1, pipes.2, child.id())
    else {
        // All three were configured as pipes and the child was just spawned, so this does not
        // happen; the child is killed on drop if it does.
        return Err(SpawnError::Io {
            command: command(),
            source: io::Error::other("child pipes unavailable"),
        });
    };
    tracing::info!(
        backend = %labels.backend,
        session = %labels.session,
        pid,
        command = %spec.command,
        "child started"
    );

    // From here on, a cancelled spawn must not leave the child running unowned.
    let mut guard = GroupGuard {
        group: group_of(pid),
        stopping: labels.stopping.clone(),
    };

    let (drained_tx, drained) = watch::channel(false);
    let tail = StderrTail {
        lines: Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL))),
        drained,
    };
    tokio::spawn(drain_stderr(
        stderr,
        labels.backend.clone(),
        labels.session.clone(),
        tail.lines.clone(),
        drained_tx,
    ));

    let (exit_tx, exit) = watch::channel(None);
    let (finished_tx, finished) = watch::channel(false);
    tokio::spawn(supervise(
        child,
        pid,
        SupervisorLabels {
            backend: labels.backend.clone(),
            session: labels.session.clone(),
            stopping: labels.stopping.clone(),
            stderr: tail.clone(),
        },
        term_grace,
        exit_tx,
        finished_tx,
    ));

    if !spec.startup_check.is_zero() {
        let mut watch_exit = exit.clone();
        // The watch guard is dropped inside this expression, before any further await.
        let exited = tokio::time::timeout(spec.startup_check, watch_exit.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(|seen| seen.ok().and_then(|info| *info));
        if let Some(info) = exited {
            guard.group = None;
            return Err(SpawnError::ExitedAtOnce {
                command: command(),
                exit: info,
                stderr_tail: tail.settled().await,
            });
        }
    }

    guard.group = None;
    Ok(SpawnedChild {
        stdin,
        stdout,
        pid,
        exit,
        finished,
    })
}

/// Kills the process group when dropped while still armed (`group` is `Some`): a spawn whose
/// future was dropped half way leaves no child behind.
struct GroupGuard {
    group: Option<Pid>,
    stopping: Arc<AtomicBool>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            self.stopping.store(true, Ordering::SeqCst);
            signal_group(group, Signal::SIGKILL);
        }
    }
}

/// The last few stderr lines of a child, for error messages and exit logs.
#[derive(Clone)]
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    /// `true` once stderr reached EOF.
    drained: watch::Receiver<bool>,
}

impl StderrTail {
    /// The last lines, after giving the drain a moment to read what a dying child wrote.
    async fn settled(&self) -> Vec<String> {
        let mut drained = self.drained.clone();
        let _ = tokio::time::timeout(STDERR_SETTLE, drained.wait_for(|done| *done)).await;
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// Logs stderr lines (cut to [`STDERR_LINE_MAX`], control characters escaped, within the
/// per-child line budget of [`super::stderr`]) and keeps the last few.
async fn drain_stderr(
    stderr: tokio::process::ChildStderr,
    backend: Arc<str>,
    session: Arc<str>,
    tail: Arc<Mutex<VecDeque<String>>>,
    drained: watch::Sender<bool>,
) {
    let mut lines = LineReader::new(stderr, STDERR_LINE_MAX);
    use super::stderr::{LineBudget, STDERR_BURST, STDERR_LINES_PER_SEC, Verdict, escape_for_log};
    use tokio::time::Instant;
    let mut budget = LineBudget::new(STDERR_LINES_PER_SEC, STDERR_BURST, Instant::now());
    let dropped =
        metrics::counter!("smcp_stdio_stderr_dropped_lines_total", "backend" => backend.clone());
    loop {
        let (bytes, cut) = match lines.next_line().await {
            Ok(Some(Line::Complete(b))) => (b, false),
            Ok(Some(Line::Oversize(b))) => (b, true),
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(backend = %backend, session = %session, %error, "child stderr read failed");
                break;
            }
        };
        let mut line = escape_for_log(&bytes, STDERR_LINE_MAX);
        if cut {
            line.push_str(" [truncated]");
        }
        match budget.take(Instant::now()) {
            Verdict::Log { dropped_before } => {
                if dropped_before > 0 {
                    tracing::warn!(target: "smcp::child", backend = %backend, session = %session, dropped = dropped_before, "child stderr lines not logged: over the per-child budget");
                }
                tracing::info!(target: "smcp::child", backend = %backend, session = %session, line = %line);
            }
            Verdict::Drop => dropped.increment(1),
        }
        let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    if budget.unreported() > 0 {
        tracing::warn!(target: "smcp::child", backend = %backend, session = %session, dropped = budget.unreported(), "child stderr lines not logged: over the per-child budget");
    }
    drained.send_replace(true);
}

struct SupervisorLabels {
    backend: Arc<str>,
    session: Arc<str>,
    stopping: Arc<AtomicBool>,
    stderr: StderrTail,
}

/// Reaps the child, publishes its exit, then empties its process group.
async fn supervise(
    mut child: tokio::process::Child,
    pid: u32,
    labels: SupervisorLabels,
    term_grace: Duration,
    exit_tx: watch::Sender<Option<ExitInfo>>,
    finished_tx: watch::Sender<bool>,
) {
    let info = match child.wait().await {
        Ok(status) => ExitInfo::from_status(status),
        Err(error) => {
            // wait() only fails if the child was already reaped, which nothing else does.
            tracing::warn!(backend = %labels.backend, session = %labels.session, pid, %error, "waiting for child failed");
            ExitInfo {
                code: None,
                signal: None,
            }
        }
    };
    let stopping = labels.stopping.load(Ordering::SeqCst);
    let outcome = match (stopping, info.code, info.signal) {
        (true, _, _) => "stopped",
        (false, Some(0), _) => "exited",
        (false, Some(_), _) => "failed",
        (false, None, _) => "killed",
    };
    metrics::counter!(
        "smcp_child_exits_total",
        "backend" => labels.backend.clone(),
        "outcome" => outcome
    )
    .increment(1);
    exit_tx.send_replace(Some(info));
    if stopping || info.success() {
        tracing::info!(backend = %labels.backend, session = %labels.session, pid, exit = %info, "child exited");
    } else {
        let stderr = labels.stderr.settled().await.join(" | ");
        tracing::warn!(
            backend = %labels.backend,
            session = %labels.session,
            pid,
            exit = %info,
            %stderr,
            "child exited unexpectedly"
        );
    }

    if let Some(group) = group_of(pid) {
        empty_group(group, term_grace).await;
    }
    finished_tx.send_replace(true);
}

/// The process group led by `pid`.
pub(crate) fn group_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().map(Pid::from_raw)
}

/// True while any process is left in `group`.
fn group_alive(group: Pid) -> bool {
    // Signal 0 checks for existence. EPERM also means a process is there.
    !matches!(killpg(group, None), Err(Errno::ESRCH))
}

/// Sends `signal` to the whole group, ignoring a group that is already gone.
pub(crate) fn signal_group(group: Pid, signal: Signal) {
    match killpg(group, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(error) => tracing::warn!(pgid = group.as_raw(), %signal, %error, "killpg failed"),
    }
}

/// After the leader is gone: SIGTERM whatever is left in the group, wait up to `grace` for it
/// to go, then SIGKILL the rest.
async fn empty_group(group: Pid, grace: Duration) {
    if !group_alive(group) {
        return;
    }
    signal_group(group, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while group_alive(group) {
        if tokio::time::Instant::now() >= deadline {
            signal_group(group, Signal::SIGKILL);
            return;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
}

/// The stop sequence for a running child: `close_stdin`, wait, SIGTERM the group, wait,
/// SIGKILL the group; returns once the child is reaped and its group emptied.
pub(crate) async fn stop_sequence(
    pid: u32,
    policy: StopPolicy,
    mut exit: watch::Receiver<Option<ExitInfo>>,
    mut finished: watch::Receiver<bool>,
    close_stdin: impl FnOnce(),
) {
    close_stdin();
    let group = group_of(pid);
    if !wait_exit(&mut exit, policy.stdin_grace).await {
        if let Some(group) = group {
            tracing::debug!(pid, "child still running after stdin closed: SIGTERM");
            signal_group(group, Signal::SIGTERM);
        }
        if !wait_exit(&mut exit, policy.term_grace).await {
            if let Some(group) = group {
                tracing::warn!(pid, "child still running after SIGTERM: SIGKILL");
                signal_group(group, Signal::SIGKILL);
            }
            let _ = exit.wait_for(Option::is_some).await;
        }
    }
    let _ = finished.wait_for(|done| *done).await;
}

/// Waits up to `grace` for the child to be reaped; true if it was.
async fn wait_exit(exit: &mut watch::Receiver<Option<ExitInfo>>, grace: Duration) -> bool {
    matches!(
        tokio::time::timeout(grace, exit.wait_for(Option::is_some)).await,
        Ok(Ok(_))
    )
}
