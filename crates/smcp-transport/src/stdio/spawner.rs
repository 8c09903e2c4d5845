//! The one thread every child process is forked from, and the parent-death signal.
//!
//! A child must not outlive smcp. An orderly stop closes its stdin, then SIGTERMs and
//! SIGKILLs its process group; but when smcp itself is SIGKILLed (or the OOM killer takes it)
//! nothing of that runs, and a child that ignores stdin EOF would live on, orphaned. So every
//! child asks the kernel, between `fork` and `exec`, for SIGKILL when its parent dies
//! (`PR_SET_PDEATHSIG`), and then checks that its parent is still smcp (`getppid`): if smcp
//! died before the request took effect, the child has been re-parented already and must not
//! run.
//!
//! Linux sends the parent-death signal when the *thread* that forked the child exits, not the
//! process. smcp's event-loop threads live as long as the server, but test runtimes and
//! blocking-pool threads come and go, and a child forked from one of those would be killed
//! when that thread ends. So children are forked from one dedicated thread that is never
//! stopped: [`spawn`] hands it the command together with the caller's runtime handle, and
//! the thread spawns with that runtime entered, so the child's pipes and its reaping still
//! belong to the caller's event loop, exactly as if it had spawned the child itself.
//!
//! What this does not cover: the signal reaches the direct child only. Whatever the child
//! starts stays in its process group and is killed by an orderly stop (the group is signalled
//! and emptied), but not when smcp is SIGKILLed; and a descendant that leaves the group
//! (`setsid()`, `setpgid()`, a daemonising double fork) escapes smcp entirely. Containing those
//! is the platform's job: run smcp in its own cgroup, where the whole tree is killed with it
//! (systemd's default `KillMode=control-group`, a Kubernetes pod or container, `docker stop`).

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::sync::mpsc;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Spawns `cmd` from the spawner thread, within the caller's runtime, after arranging that
/// the child is SIGKILLed when smcp dies.
pub(crate) async fn spawn(mut cmd: Command) -> io::Result<Child> {
    set_parent_death_signal(&mut cmd);
    let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _entered = runtime.enter();
        // If the caller has gone, the child is dropped here and killed (`kill_on_drop`).
        let _ = tx.send(cmd.spawn());
    });
    spawner()?
        .send(job)
        .map_err(|_| io::Error::other("the process spawner thread has stopped"))?;
    rx.await
        .map_err(|_| io::Error::other("the process spawner thread dropped a spawn"))?
}

/// The spawner thread's queue, started on first use and never stopped.
fn spawner() -> io::Result<&'static mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("smcp-spawner".into())
                .spawn(move || {
                    for job in rx {
                        // A panicking spawn must not take the thread (and with it every
                        // child's parent-death signal) down.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
        .ok_or_else(|| io::Error::other("cannot start the process spawner thread"))
}

/// Makes the child ask for SIGKILL when its parent (the spawner thread) dies, and refuse to
/// run if that already happened.
#[allow(
    unsafe_code,
    reason = "pre_exec is unsafe; the closure only makes two async-signal-safe system calls"
)]
fn set_parent_death_signal(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before `exec`, where only
    // async-signal-safe operations are allowed. It makes two system calls (prctl, getppid)
    // through nix's thin wrappers, allocates nothing, takes no lock and touches no state
    // shared with other threads; its error values are plain errno codes.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent died between fork and prctl: we were re-parented, and the signal
            // will never come.
            if u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(parent) {
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        });
    }
}
