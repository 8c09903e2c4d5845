//! The process signals that stop smcp-server and smcp-client gracefully.
//!
//! smcp-client stops on the first SIGINT or SIGTERM ([`shutdown_signal`]). smcp-server stops in
//! two steps ([`drain_then_stop`]): the first signal starts draining with the listener open
//! (so that a load balancer sees the replica leave), a second one closes the listener at once;
//! an operator at a terminal presses Ctrl-C twice to skip the drain window.

use std::future::Future;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::oneshot;

/// SIGINT and SIGTERM, watched for the life of the value (so none is missed between two
/// waits).
struct Signals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl Signals {
    fn new() -> Self {
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for {name}; it will not stop the process");
                None
            }
        };
        Signals {
            interrupt: watch(SignalKind::interrupt(), "SIGINT"),
            terminate: watch(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Resolves on the next SIGINT or SIGTERM and names it.
    async fn next(&mut self) -> &'static str {
        async fn recv(stream: Option<&mut Signal>) {
            match stream {
                Some(stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = recv(self.interrupt.as_mut()) => "SIGINT",
            () = recv(self.terminate.as_mut()) => "SIGTERM",
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM, logging which one arrived.
///
/// If a signal cannot be watched (very unusual), only the other one stops the process, with a
/// warning.
pub async fn shutdown_signal() {
    let name = Signals::new().next().await;
    tracing::info!("{name} received");
}

/// The two steps of a signalled shutdown: the first future resolves on the first SIGINT or
/// SIGTERM (begin draining), the second on the next one (stop now). For
/// `Server::run_until`.
///
/// Watches from the moment it is called, on a task of the current Tokio runtime.
pub fn drain_then_stop() -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let (drain_tx, drain_rx) = oneshot::channel::<()>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let mut signals = Signals::new();
    tokio::spawn(async move {
        let name = signals.next().await;
        tracing::info!("{name} received; send it again to skip the drain window");
        let _ = drain_tx.send(());
        let name = signals.next().await;
        tracing::info!("{name} received again: closing the listener now");
        let _ = stop_tx.send(());
    });
    (resolved_by(drain_rx), resolved_by(stop_rx))
}

/// Resolves when `receiver` gets its value; never when the sender is dropped unsent.
async fn resolved_by(receiver: oneshot::Receiver<()>) {
    if receiver.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Calls `action` (off the runtime's workers: it may block) on every SIGHUP from now on, on a
/// task of the current Tokio runtime. If SIGHUP cannot be watched, says so once.
pub fn on_hangup(action: impl Fn() + Send + Sync + 'static) {
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; the audit file will not be reopened");
            return;
        }
    };
    let action = std::sync::Arc::new(action);
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP received: reopening the audit file");
            let action = std::sync::Arc::clone(&action);
            let _ = tokio::task::spawn_blocking(move || action()).await;
        }
    });
}
