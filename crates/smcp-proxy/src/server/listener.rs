//! The accept loop and the event loops that serve connections, with graceful shutdown.
//!
//! Connections are served by `workers` event loops, each a single-threaded runtime on a thread
//! of its own; the caller's runtime only accepts and runs background work (key fetches,
//! readiness checks). Each accepted connection goes to the loop with the fewest open
//! connections and stays there for its whole life, so its requests, their upstream calls and
//! the responses run on one thread, without cross-thread wake-ups or work stealing. This is
//! nginx's shape, and on the loopback benchmark it cut the proxy's CPU per request noticeably
//! (`docs/benchmarks.md`). Everything the loops share (`App`) is immutable or synchronised.
//!
//! Each connection is served by `connection::serve` (TLS handshake when configured, then
//! HTTP/1.1 or HTTP/2: h2c on plain TCP, ALPN under TLS), which closes connections that ask
//! nothing for `read_timeout`. At most `server.max_connections` are open at once: a connection
//! accepted beyond that is closed at once and counted (`smcp_connections_refused_total`), so
//! that a flood of idle connections cannot use up the process's file descriptors, which the
//! upstream connections, the stdio children's pipes and `/health` itself need.
//!
//! Shutdown has two signals. `drain` (the first SIGTERM/SIGINT) starts the drain window of
//! `shutdown_timeout`: the app enters draining (`/ready` 503, new sessions 503, stdio streams
//! ended) while the listener keeps accepting and answering, so that a load balancer probing
//! `/ready` sees this replica leave before its port closes, and calls in flight run on. The
//! window ends when it has lasted `shutdown_timeout` or when `stop` (a second signal) resolves,
//! whichever is first: then the listener closes, open connections are asked to finish what is in
//! flight for what is left of the window (at least [`CLOSE_GRACE`], for idle connections to
//! close politely), and every backend is stopped (no stdio child outlives the server). Only then
//! do the event loops end: a stdio child's pipes are driven by the loop that spawned it, which
//! must outlive the child's orderly stop.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use metrics::Counter;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::app::App;
use super::dispatch::{self, Connection};
use crate::connection::{self, ConnectionLimit, Ending, GracefulShutdown, OpenConnection};

/// The least time open connections get to finish once the listener has closed, even when the
/// drain window is used up: enough for idle keep-alive connections to be closed politely.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` with `workers` event loops; from `drain` on, drains for
/// `shutdown_timeout` with the listener open (or until `stop`), then closes and stops.
pub(crate) async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    workers: usize,
    drain: impl Future<Output = ()>,
    stop: impl Future<Output = ()>,
) {
    let loops = EventLoops::start(workers);
    let builder = connection::http_builder(app.listener.read_timeout);
    let graceful = GracefulShutdown::new();
    let mut drain = std::pin::pin!(drain);
    let mut stop = std::pin::pin!(stop);
    let mut limit = ConnectionLimit::new(app.listener.max_connections, "server.max_connections");
    let window = app.listener.shutdown_timeout;
    // When the drain window ends, once draining has begun.
    let mut window_end: Option<tokio::time::Instant> = None;

    loop {
        let window_over = async {
            match window_end {
                Some(end) => tokio::time::sleep_until(end).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Signals first: once `stop` has resolved, no further connection is accepted.
            biased;
            () = &mut stop => break,
            () = &mut drain, if window_end.is_none() => {
                window_end = Some(begin_drain(&app, window));
            }
            () = window_over => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    if !limit.admits() {
                        limit.refuse(stream, remote);
                        continue;
                    }
                    let open = limit.open_one();
                    let connection = Connection::new(remote, tls.is_some());
                    let served = ServedConnection {
                        app: Arc::clone(&app),
                        builder: builder.clone(),
                        watcher: graceful.watcher(),
                        tls: tls.clone(),
                        connection,
                        timed_out: limit.metrics.timed_out.clone(),
                    };
                    loops.serve(stream, served, open);
                }
                Err(error) => {
                    // Usually EMFILE/ENFILE: back off a little instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);

    let window_end = window_end.unwrap_or_else(|| begin_drain(&app, window));
    let left = window_end
        .saturating_duration_since(tokio::time::Instant::now())
        .max(CLOSE_GRACE);
    tracing::info!(timeout = ?left, "listener closed: finishing the requests in flight");
    if tokio::time::timeout(left, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?window, "connections still open after shutdown_timeout; closing them");
    }
    app.stop_backends().await;
    app.flush_audit().await;
    loops.stop().await;
    tracing::info!("shutdown complete");
}

/// Enters draining and returns when the drain window ends.
fn begin_drain(app: &App, window: Duration) -> tokio::time::Instant {
    tracing::info!(
        window = ?window,
        "shutting down: draining (/ready answers 503, new sessions are refused, the listener stays open for shutdown_timeout; a second signal closes it now)"
    );
    app.begin_drain();
    tokio::time::Instant::now() + window
}

/// The event loops connections are served on. Without any (a thread could not be started),
/// connections are served on the caller's runtime.
struct EventLoops {
    loops: Vec<EventLoop>,
    stopped: CancellationToken,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct EventLoop {
    handle: Handle,
    /// Connections open on this loop.
    open: Arc<AtomicUsize>,
}

impl EventLoops {
    fn start(workers: usize) -> Self {
        let stopped = CancellationToken::new();
        let mut loops = Vec::with_capacity(workers);
        let mut threads = Vec::with_capacity(workers);
        for index in 0..workers {
            match start_loop(index, stopped.clone()) {
                Ok((handle, thread)) => {
                    loops.push(EventLoop {
                        handle,
                        open: Arc::new(AtomicUsize::new(0)),
                    });
                    threads.push(thread);
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot start an event loop thread");
                    break;
                }
            }
        }
        Self {
            loops,
            stopped,
            threads,
        }
    }

    /// The loop with the fewest open connections (the first of equals), if any runs.
    fn least_loaded(&self) -> Option<&EventLoop> {
        self.loops
            .iter()
            .min_by_key(|l| l.open.load(Ordering::Relaxed))
    }

    /// Serves `stream` on the loop with the fewest open connections; `open` counts it as open
    /// until it closes.
    fn serve(&self, stream: TcpStream, served: ServedConnection, open: OpenConnection) {
        let Some(chosen) = self.least_loaded() else {
            tokio::spawn(async move {
                let _open = open;
                served.run(stream).await;
            });
            return;
        };
        // A tokio socket belongs to the reactor that registered it: move the plain socket
        // over and register it on the chosen loop.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%error, "cannot hand a connection to an event loop");
                return;
            }
        };
        let on_loop = LoopConnection::new(Arc::clone(&chosen.open));
        chosen.handle.spawn(async move {
            let _open = (open, on_loop);
            match TcpStream::from_std(stream) {
                Ok(stream) => served.run(stream).await,
                Err(error) => tracing::debug!(%error, "cannot register a connection"),
            }
        });
    }

    /// Ends every loop (dropping whatever still runs on it) and waits for the threads.
    async fn stop(self) {
        self.stopped.cancel();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// Starts one event loop thread; it runs until `stopped` is cancelled.
fn start_loop(
    index: usize,
    stopped: CancellationToken,
) -> std::io::Result<(Handle, std::thread::JoinHandle<()>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    let thread = std::thread::Builder::new()
        .name(format!("smcp-loop-{index}"))
        .spawn(move || runtime.block_on(stopped.cancelled()))?;
    Ok((handle, thread))
}

/// Counts a connection as open on its loop until dropped.
struct LoopConnection(Arc<AtomicUsize>);

impl LoopConnection {
    fn new(open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open)
    }
}

impl Drop for LoopConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything needed to serve one accepted connection.
struct ServedConnection {
    app: Arc<App>,
    builder: connection::HttpBuilder,
    watcher: connection::Watcher,
    tls: Option<TlsAcceptor>,
    connection: Connection,
    /// Counts the connections closed for asking nothing within `read_timeout`.
    timed_out: Counter,
}

impl ServedConnection {
    async fn run(self, stream: TcpStream) {
        let Self {
            app,
            builder,
            watcher,
            tls,
            connection: peer,
            timed_out,
        } = self;
        let remote = peer.remote;
        // Boxed: hyper keeps the future of each request in its connection state, and moving
        // this one (some kilobytes) there costs more than the allocation.
        let handler =
            move |request| Box::pin(dispatch::handle(Arc::clone(&app), peer.clone(), request));
        if connection::serve(builder, watcher, tls, stream, remote, handler).await
            == Ending::TimedOut
        {
            timed_out.increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_go_to_the_least_loaded_loop_which_runs_on_its_own_thread() {
        let loops = EventLoops::start(2);
        assert_eq!(loops.loops.len(), 2);
        let first = loops.least_loaded().map(|l| Arc::as_ptr(&l.open));
        assert_eq!(first, Some(Arc::as_ptr(&loops.loops[0].open)));

        // Two connections open on the first loop: the second is now the least loaded.
        let held = [
            LoopConnection::new(Arc::clone(&loops.loops[0].open)),
            LoopConnection::new(Arc::clone(&loops.loops[0].open)),
        ];
        let chosen = loops.least_loaded().unwrap();
        assert!(Arc::ptr_eq(&chosen.open, &loops.loops[1].open));
        let thread = chosen
            .handle
            .spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(thread.as_deref(), Some("smcp-loop-1"));

        // Closing them gives the count back.
        drop(held);
        assert_eq!(loops.loops[0].open.load(Ordering::Relaxed), 0);
        loops.stop().await;
    }

    #[tokio::test]
    async fn stopping_ends_the_loop_threads_and_drops_what_still_runs_there() {
        let loops = EventLoops::start(3);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // A task that would never finish on its own: stopping must not wait for it.
        loops.loops[2].handle.spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        loops.stop().await;
        // The task was dropped with its runtime, and its sender with it.
        assert!(rx.await.is_err());
    }
}
