//! Serving one accepted TCP connection, for smcp-server's and smcp-client's listeners alike.
//!
//! Both listeners speak the same HTTP: HTTP/1.1 or HTTP/2 (h2c on plain TCP, ALPN under TLS),
//! request headers bounded by a read timeout, nothing bounding a response stream, every
//! connection watched by a `GracefulShutdown` so that shutdown can wait for it. Only what a
//! request is answered with differs, so that is the one thing [`serve`] takes from its caller.
//!
//! On plain TCP the first bytes are peeked at: a connection that does not open with the
//! HTTP/2 preface is served by hyper's HTTP/1.1 connection directly, without hyper-util's
//! version detection around every read (about 0.2 us of CPU per request at 60k requests/s);
//! anything that might be the preface goes to hyper-util's auto connection as before.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use smcp_transport::body::Body;

/// How long a TLS handshake may take: a silent client must not hold a task.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How both listeners serve a connection: HTTP/1.1 and HTTP/2, headers within a read timeout.
#[derive(Clone)]
pub(crate) struct HttpBuilder {
    /// HTTP/1.1 or HTTP/2, whichever the connection speaks.
    auto: auto::Builder<TokioExecutor>,
    /// The same HTTP/1.1 settings, for connections known not to be HTTP/2.
    http1: http1::Builder,
    read_timeout: Duration,
}

/// The HTTP/1.1 settings, applied to hyper's builder and to the one inside hyper-util's (they
/// share no trait).
macro_rules! http1_settings {
    ($builder:expr, $read_timeout:expr) => {
        $builder
            .timer(TokioTimer::new())
            .header_read_timeout($read_timeout)
            // MCP messages are small: copying a body behind its head and writing once costs
            // less than hyper's vectored-write queue (0.3-0.7 us of CPU per request on the
            // http-8x16 load).
            .writev(false)
    };
}

/// The connection builder both listeners use: HTTP/1.1 and HTTP/2, headers within
/// `read_timeout`.
pub(crate) fn http_builder(read_timeout: Duration) -> HttpBuilder {
    let mut auto = auto::Builder::new(TokioExecutor::new());
    http1_settings!(auto.http1(), read_timeout);
    auto.http2().timer(TokioTimer::new());
    let mut http1 = http1::Builder::new();
    http1_settings!(http1, read_timeout);
    HttpBuilder {
        auto,
        http1,
        read_timeout,
    }
}

/// What the first bytes of a plain TCP connection say.
enum Opening {
    /// Not the HTTP/2 preface: HTTP/1.1 (or garbage, which hyper's HTTP/1.1 answers).
    Http1,
    /// The HTTP/2 preface, or too few bytes to tell.
    MaybeHttp2,
    /// Nothing within the read timeout, or the connection closed.
    Silent,
}

/// Peeks at the first bytes of `stream` (without consuming them).
async fn opening(stream: &TcpStream, read_timeout: Duration) -> Opening {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut first = [0u8; 24];
    match tokio::time::timeout(read_timeout, stream.peek(&mut first)).await {
        Ok(Ok(0) | Err(_)) | Err(_) => Opening::Silent,
        Ok(Ok(n)) if first[..n] == PREFACE[..n] => Opening::MaybeHttp2,
        Ok(Ok(_)) => Opening::Http1,
    }
}

/// Serves `stream` (after a TLS handshake when `tls` is set) until it closes, answering every
/// request with `handler`. Failures are the client's business and only logged at debug level.
pub(crate) async fn serve<H, F>(
    builder: HttpBuilder,
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
        None => match opening(&stream, builder.read_timeout).await {
            Opening::Http1 => {
                let conn = builder
                    .http1
                    .serve_connection(TokioIo::new(stream), service);
                watcher.watch(conn).await.map_err(Into::into)
            }
            Opening::MaybeHttp2 => {
                let conn = builder
                    .auto
                    .serve_connection_with_upgrades(TokioIo::new(stream), service);
                watcher.watch(conn.into_owned()).await
            }
            Opening::Silent => {
                tracing::debug!(%remote, "connection closed or silent before its first request");
                return;
            }
        },
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
            let conn = builder
                .auto
                .serve_connection_with_upgrades(TokioIo::new(stream), service);
            watcher.watch(conn.into_owned()).await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%remote, %error, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{Request, Response, Version};
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::graceful::GracefulShutdown;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use smcp_transport::body;

    /// Serves one accepted connection with a handler answering the request's HTTP version.
    async fn serve_one(read_timeout: Duration) -> (std::net::SocketAddr, GracefulShutdown) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let graceful = GracefulShutdown::new();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let (stream, remote) = listener.accept().await.unwrap();
            let handler = |request: Request<hyper::body::Incoming>| async move {
                Response::new(body::full(format!("{:?}", request.version())))
            };
            super::serve(
                super::http_builder(read_timeout),
                watcher,
                None,
                stream,
                remote,
                handler,
            )
            .await;
        });
        (addr, graceful)
    }

    #[tokio::test]
    async fn plain_tcp_serves_http1_and_h2c_prior_knowledge() {
        let (addr, _graceful) = serve_one(Duration::from_secs(10)).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        for _ in 0..2 {
            let request = Request::builder()
                .uri("/")
                .header("host", "x")
                .body(body::empty())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let text = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(text, "HTTP/1.1");
        }

        let (addr, _graceful) = serve_one(Duration::from_secs(10)).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let request = Request::builder()
            .uri("http://x/")
            .version(Version::HTTP_2)
            .body(body::empty())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        let text = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(text, "HTTP/2.0");
    }

    #[tokio::test]
    async fn a_connection_silent_past_the_read_timeout_is_closed() {
        let (addr, _graceful) = serve_one(Duration::from_millis(200)).await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        // The server closes without a word: EOF, well before the guard below.
        let read = tokio::time::timeout(Duration::from_secs(20), tcp.read(&mut buf))
            .await
            .expect("the silent connection was not closed");
        assert_eq!(read.unwrap(), 0);
    }
}
