//! Serving one accepted TCP connection, for smcp-server's and smcp-client's listeners alike.
//!
//! Both listeners speak the same HTTP: HTTP/1.1 or HTTP/2 (h2c on plain TCP, ALPN under TLS),
//! request headers bounded by a read timeout, nothing bounding a response stream, every
//! connection watched by a `GracefulShutdown` so that shutdown can wait for it. Only what a
//! request is answered with differs, so that is the one thing [`serve`] takes from its caller.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use smcp_transport::body::Body;

/// How long a TLS handshake may take: a silent client must not hold a task.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection builder both listeners use: HTTP/1.1 and HTTP/2, headers within
/// `read_timeout`.
pub(crate) fn http_builder(read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        // MCP messages are small: copying a body behind its head and writing once costs less
        // than hyper's vectored-write queue (0.3-0.7 us of CPU per request on the http-8x16
        // load).
        .writev(false);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves `stream` (after a TLS handshake when `tls` is set) until it closes, answering every
/// request with `handler`. Failures are the client's business and only logged at debug level.
pub(crate) async fn serve<H, F>(
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    tls: Option<TlsAcceptor>,
    stream: TcpStream,
    remote: SocketAddr,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    // MCP traffic is many small messages: never wait on Nagle.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let answer = handler(request);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let result = match tls {
        None => {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            watcher.watch(conn.into_owned()).await
        }
        Some(acceptor) => {
            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let stream = match handshake.await {
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
}
