//! The local listener's accept loop: plain TCP or TLS, HTTP/1.1 and HTTP/2, graceful shutdown.
//!
//! The same shape as smcp-server's: each connection gets a task, watched by
//! `GracefulShutdown`; on shutdown the loop stops accepting and in-flight requests (streams
//! included) get `--shutdown-timeout` to finish. Request headers must arrive within
//! `--read-timeout`; nothing bounds a response stream.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::ProxyApp;

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub(super) async fn serve(
    app: Arc<ProxyApp>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.listen().read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    spawn_connection(&app, &builder, &graceful, tls.clone(), stream, remote);
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

fn spawn_connection(
    app: &Arc<ProxyApp>,
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    tls: Option<TlsAcceptor>,
    stream: TcpStream,
    remote: std::net::SocketAddr,
) {
    // MCP traffic is many small messages: never wait on Nagle.
    let _ = stream.set_nodelay(true);
    let app = Arc::clone(app);
    let builder = builder.clone();
    let watcher = graceful.watcher();
    let scheme = if tls.is_some() { "https" } else { "http" };
    tokio::spawn(async move {
        let service = service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, std::convert::Infallible>(app.handle(request, remote, scheme).await) }
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
                        tracing::debug!(%remote, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        return;
                    }
                };
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                watcher.watch(conn.into_owned()).await
            }
        };
        if let Err(error) = result {
            tracing::debug!(%remote, %error, "connection ended with an error");
        }
    });
}
