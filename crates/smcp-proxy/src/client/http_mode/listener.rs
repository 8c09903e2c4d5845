//! The local listener's accept loop: plain TCP or TLS, HTTP/1.1 and HTTP/2, graceful shutdown.
//!
//! The same shape as smcp-server's, through the same `connection::serve`: each connection gets
//! a task, watched by `connection::GracefulShutdown`; on shutdown the loop stops accepting and
//! in-flight requests (streams included) get `--shutdown-timeout` to finish. Request headers
//! must arrive within `--read-timeout`; nothing bounds a response stream. At most
//! `--max-connections` are open at once (`connection::ConnectionLimit`, as smcp-server's
//! `server.max_connections`): one more is closed at accept and counted, so that a local
//! flood of idle connections cannot use up the process's file descriptors.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::ProxyApp;
use crate::connection::{self, ConnectionLimit, Ending, GracefulShutdown};

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub(super) async fn serve(
    app: Arc<ProxyApp>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let builder = connection::http_builder(app.listen().read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let max = connection::limit_to_open_files(app.listen().max_connections, "--max-connections");
    let mut limit = ConnectionLimit::new(max, "--max-connections");
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    if !limit.admits() {
                        limit.refuse(stream, remote);
                        continue;
                    }
                    let open = limit.open_one();
                    let timed_out = limit.metrics.timed_out.clone();
                    let app = Arc::clone(&app);
                    let scheme = if tls.is_some() { "https" } else { "http" };
                    let handler = move |request| {
                        let app = Arc::clone(&app);
                        async move { app.handle(request, remote, scheme).await }
                    };
                    let served = connection::serve(
                        builder.clone(),
                        graceful.watcher(),
                        tls.clone(),
                        stream,
                        remote,
                        handler,
                    );
                    tokio::spawn(async move {
                        let _open = open;
                        if served.await == Ending::TimedOut {
                            timed_out.increment(1);
                        }
                    });
                }
                Err(error) => {
                    // Usually EMFILE/ENFILE: back off a little instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let deadline = app.listen().shutdown_timeout;
    tracing::info!(timeout = ?deadline, "shutting down: letting in-flight requests finish");
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?deadline, "connections still open after the shutdown timeout; closing them");
    }
    tracing::info!("shutdown complete");
}
