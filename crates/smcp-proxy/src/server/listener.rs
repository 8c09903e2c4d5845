//! The accept loop: TCP (and optionally TLS) connections served by hyper, with graceful
//! shutdown.
//!
//! One loop accepts connections and hands each to its own task, which (for TLS) completes the
//! handshake and then serves HTTP/1.1 or HTTP/2 on it (h2c on plain TCP, ALPN under TLS).
//! When the shutdown future resolves the loop stops accepting, the app enters draining, open
//! connections are asked to finish their in-flight requests, and after `shutdown_timeout` at
//! the latest every backend is stopped (no stdio child outlives the server).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::app::App;
use super::dispatch::{self, Connection};

/// Serves `app` on `listener` until `shutdown` resolves, then drains and stops.
pub(crate) async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.listener.read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        tokio::select! {
            // Shutdown first: once it is signalled, no further connection is accepted.
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let connection = Connection { remote, scheme: if tls.is_some() { "https" } else { "http" } };
                    spawn_connection(&app, &builder, &graceful, tls.clone(), stream, connection);
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

    let deadline = app.listener.shutdown_timeout;
    tracing::info!(timeout = ?deadline, "shutting down: draining in-flight requests");
    app.begin_drain();
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?deadline, "connections still open after shutdown_timeout; closing them");
    }
    app.stop_backends().await;
    tracing::info!("shutdown complete");
}

fn spawn_connection(
    app: &Arc<App>,
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    tls: Option<TlsAcceptor>,
    stream: TcpStream,
    connection: Connection,
) {
    // MCP traffic is many small messages: never wait on Nagle.
    let _ = stream.set_nodelay(true);
    let app = Arc::clone(app);
    let builder = builder.clone();
    let watcher = graceful.watcher();
    tokio::spawn(async move {
        let service = service_fn(move |request| {
            let app = Arc::clone(&app);
            async move {
                Ok::<_, std::convert::Infallible>(dispatch::handle(app, connection, request).await)
            }
        });
        let result = match tls {
            None => {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                watcher.watch(conn.into_owned()).await
            }
            Some(acceptor) => {
                // Bound the handshake like header reading: a silent client must not hold a task.
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                let stream = match handshake {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(remote = %connection.remote, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(remote = %connection.remote, "TLS handshake timed out");
                        return;
                    }
                };
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                watcher.watch(conn.into_owned()).await
            }
        };
        if let Err(error) = result {
            tracing::debug!(remote = %connection.remote, %error, "connection ended with an error");
        }
    });
}
