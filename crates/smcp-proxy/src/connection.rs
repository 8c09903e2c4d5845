//! Serving one accepted TCP connection, for smcp-server's and smcp-client's listeners alike.
//!
//! Both listeners speak the same HTTP: HTTP/1.1 or HTTP/2 (h2c on plain TCP, ALPN under TLS),
//! request headers bounded by a read timeout, nothing bounding a response stream, every
//! connection watched by a [`GracefulShutdown`] so that shutdown can wait for it. Only what a
//! request is answered with differs, so that is the one thing [`serve`] takes from its caller.
//!
//! On plain TCP the first bytes are peeked at: a connection that does not open with the
//! HTTP/2 preface is served by hyper's HTTP/1.1 connection directly, without hyper-util's
//! version detection around every read (about 0.2 us of CPU per request at 60k requests/s);
//! anything that might be the preface goes to hyper-util's auto connection as before.
//!
//! `read_timeout` bounds every wait for a request. hyper applies it to HTTP/1.1 headers (the
//! first request's and every keep-alive one's), but HTTP/2 has no such timer: the auto
//! connection (every h2c candidate and every TLS connection) is therefore watched by
//! [`activity::Activity`]. A connection that has had no open request for `read_timeout` (half a
//! preface, a preface and nothing, a connection left open between requests) is closed: dropped
//! when it never sent a request, else asked to close gracefully (GOAWAY) and dropped if it has
//! not closed `read_timeout` later. HTTP/2 keep-alive pings (every `read_timeout`, answered
//! within `read_timeout`) end connections whose peer is gone while a stream is open.

mod activity;
mod graceful;
mod limit;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use smcp_transport::body::{self, Body, BoxError};

use self::activity::{Activity, TrackedBody};
pub(crate) use self::graceful::{GracefulShutdown, Watcher};
pub(crate) use self::limit::{ConnectionLimit, OpenConnection, limit_to_open_files};

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
/// `read_timeout`, HTTP/2 keep-alive pings every `read_timeout`.
pub(crate) fn http_builder(read_timeout: Duration) -> HttpBuilder {
    let mut auto = auto::Builder::new(TokioExecutor::new());
    http1_settings!(auto.http1(), read_timeout);
    auto.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(read_timeout)
        .keep_alive_timeout(read_timeout);
    let mut http1 = http1::Builder::new();
    http1_settings!(http1, read_timeout);
    HttpBuilder {
        auto,
        http1,
        read_timeout,
    }
}

/// How a served connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The client closed it, or it closed after a graceful shutdown.
    Closed,
    /// smcp closed it: no request within the read timeout (silent, a stalled preface or
    /// request headers, idle between requests).
    TimedOut,
    /// The TLS handshake failed or timed out.
    Handshake,
    /// It ended with a protocol or I/O error.
    Failed,
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
) -> Ending
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    // MCP traffic is many small messages: never wait on Nagle.
    let _ = stream.set_nodelay(true);
    let read_timeout = builder.read_timeout;
    let result = match tls {
        None => match opening(&stream, read_timeout).await {
            Opening::Http1 => {
                let service = service_fn(move |request| {
                    let answer = handler(request);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let conn = builder
                    .http1
                    .serve_connection(TokioIo::new(stream), service);
                // hyper's header timer bounds every wait for a request here.
                let conn = std::pin::pin!(conn);
                drive(
                    conn,
                    |c| c.graceful_shutdown(),
                    &watcher,
                    None,
                    read_timeout,
                )
                .await
            }
            Opening::MaybeHttp2 => {
                let activity = Activity::new();
                let service = tracked_service(handler, &activity);
                let conn = builder
                    .auto
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = std::pin::pin!(conn);
                drive(
                    conn,
                    auto::UpgradeableConnection::graceful_shutdown,
                    &watcher,
                    Some(&activity),
                    read_timeout,
                )
                .await
            }
            Opening::Silent => {
                tracing::debug!(%remote, "connection closed or silent before its first request");
                return Ending::TimedOut;
            }
        },
        Some(acceptor) => {
            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%remote, %error, "TLS handshake failed");
                    return Ending::Handshake;
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return Ending::Handshake;
                }
            };
            let activity = Activity::new();
            let service = tracked_service(handler, &activity);
            let conn = builder
                .auto
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let conn = std::pin::pin!(conn);
            drive(
                conn,
                auto::UpgradeableConnection::graceful_shutdown,
                &watcher,
                Some(&activity),
                read_timeout,
            )
            .await
        }
    };
    match result {
        Ok(ending) => ending,
        Err(error) => {
            tracing::debug!(%remote, %error, "connection ended with an error");
            let timed_out = error
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout);
            if timed_out {
                Ending::TimedOut
            } else {
                Ending::Failed
            }
        }
    }
}

/// The service of a watched connection: `handler`, each request counted in `activity` until
/// its response body is dropped.
fn tracked_service<H, F>(
    handler: H,
    activity: &std::sync::Arc<Activity>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
> + Clone
+ Send
+ 'static
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let activity = std::sync::Arc::clone(activity);
    let handler = std::sync::Arc::new(handler);
    service_fn(move |request| {
        // Counted from here: a request future dropped before its answer counts out too.
        let guard = activity.enter();
        let answer = handler(request);
        async move {
            let response = answer.await;
            Ok::<_, Infallible>(response.map(|inner| body::boxed(TrackedBody::new(inner, guard))))
        }
    })
}

/// Drives `conn` to its end: asked to close gracefully (`shutdown`) when the listener shuts
/// down, and, when `activity` watches it, closed once it has had no open request for
/// `read_timeout` (see the module notes).
///
/// The connection is woken several times per request (readable, answer ready, writable).
/// The other events (shutdown, idleness, the grace period) sit in a `FuturesUnordered`, which
/// polls a future only when that future's own waker fired: polling them on every wake of the
/// connection cost two lock round-trips each time (a cancellation token and its notifier).
async fn drive<C, E>(
    mut conn: Pin<&mut C>,
    shutdown: impl Fn(Pin<&mut C>),
    watcher: &Watcher,
    activity: Option<&Activity>,
    read_timeout: Duration,
) -> Result<Ending, BoxError>
where
    C: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    /// What ended one of the side futures.
    enum Event {
        ShutdownSignalled,
        IdleExpired,
        GraceOver,
    }
    type Side<'a> = Pin<Box<dyn Future<Output = Event> + Send + 'a>>;
    let mut events: FuturesUnordered<Side<'_>> = FuturesUnordered::new();
    events.push(Box::pin(async {
        watcher.signalled().await;
        Event::ShutdownSignalled
    }));
    if let Some(activity) = activity {
        events.push(Box::pin(async move {
            activity.idle_expired(read_timeout).await;
            Event::IdleExpired
        }));
    }
    let mut closing = false;
    // Whether the connection was asked to close for idleness (and has a grace period).
    let mut timed_out = false;
    loop {
        tokio::select! {
            biased;
            result = conn.as_mut() => {
                return result
                    .map(|()| if timed_out { Ending::TimedOut } else { Ending::Closed })
                    .map_err(Into::into);
            }
            Some(event) = events.next() => match event {
                Event::ShutdownSignalled if !closing => {
                    closing = true;
                    shutdown(conn.as_mut());
                }
                Event::IdleExpired if !closing => {
                    closing = true;
                    if !activity.is_some_and(Activity::served_any) {
                        // Nothing was ever asked on it (a stalled preface, say): nothing to
                        // finish.
                        return Ok(Ending::TimedOut);
                    }
                    shutdown(conn.as_mut());
                    timed_out = true;
                    let deadline = tokio::time::Instant::now() + read_timeout;
                    events.push(Box::pin(async move {
                        tokio::time::sleep_until(deadline).await;
                        Event::GraceOver
                    }));
                }
                Event::GraceOver => return Ok(Ending::TimedOut),
                // Already closing: the second reason changes nothing.
                Event::ShutdownSignalled | Event::IdleExpired => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{Request, Response, Version};
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::oneshot;

    use super::{Ending, GracefulShutdown};
    use smcp_transport::body;

    /// How long any test waits for something that must happen: a hang fails, never a timing.
    const GUARD: Duration = Duration::from_secs(20);
    const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    /// Serves one accepted connection with a handler answering the request's HTTP version
    /// (`/stream`: a body that never ends); the receiver says how the connection ended.
    async fn serve_one(
        read_timeout: Duration,
    ) -> (
        std::net::SocketAddr,
        GracefulShutdown,
        oneshot::Receiver<Ending>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let graceful = GracefulShutdown::new();
        let watcher = graceful.watcher();
        let (ended_tx, ended) = oneshot::channel();
        tokio::spawn(async move {
            let (stream, remote) = listener.accept().await.unwrap();
            let ending = super::serve(
                super::http_builder(read_timeout),
                watcher,
                None,
                stream,
                remote,
                handler,
            )
            .await;
            let _ = ended_tx.send(ending);
        });
        (addr, graceful, ended)
    }

    async fn handler(request: Request<hyper::body::Incoming>) -> Response<body::Body> {
        if request.uri().path() == "/stream" {
            let never = futures_util::stream::pending::<
                Result<http_body::Frame<bytes::Bytes>, body::BoxError>,
            >();
            return Response::new(body::boxed(http_body_util::StreamBody::new(never)));
        }
        Response::new(body::full(format!("{:?}", request.version())))
    }

    /// Reads until the server closes; panics if it has not within [`GUARD`].
    async fn closed_by_server(tcp: &mut TcpStream) {
        let mut buf = vec![0u8; 4096];
        let closed = tokio::time::timeout(GUARD, async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        closed.await.expect("the server kept the connection open");
    }

    async fn h2_client(
        addr: std::net::SocketAddr,
    ) -> (
        hyper::client::conn::http2::SendRequest<body::Body>,
        tokio::task::JoinHandle<()>,
    ) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        (sender, conn)
    }

    fn h2_get(path: &str) -> Request<body::Body> {
        Request::builder()
            .uri(format!("http://127.0.0.1{path}"))
            .version(Version::HTTP_2)
            .body(body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn half_an_h2c_preface_is_closed_after_the_read_timeout() {
        for sent in [&H2_PREFACE[..16], H2_PREFACE] {
            let (addr, _graceful, ended) = serve_one(Duration::from_millis(300)).await;
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(sent).await.unwrap();
            closed_by_server(&mut tcp).await;
            assert_eq!(
                ended.await.unwrap(),
                Ending::TimedOut,
                "{} bytes",
                sent.len()
            );
        }
    }

    #[tokio::test]
    async fn an_h2_connection_idle_after_its_requests_is_closed_but_an_open_stream_keeps_it() {
        let timeout = Duration::from_millis(300);
        let (addr, _graceful, ended) = serve_one(timeout).await;
        let (mut sender, conn) = h2_client(addr).await;
        let response = sender.send_request(h2_get("/")).await.unwrap();
        response.into_body().collect().await.unwrap();
        // GOAWAY, then the connection ends: the client's connection task finishes.
        tokio::time::timeout(GUARD, conn)
            .await
            .expect("the idle connection was not closed")
            .unwrap();
        assert_eq!(ended.await.unwrap(), Ending::TimedOut);

        let (addr, graceful, mut ended) = serve_one(timeout).await;
        let (mut sender, conn) = h2_client(addr).await;
        let response = sender.send_request(h2_get("/stream")).await.unwrap();
        // Several timeouts with a stream open (answered pings included): still served.
        tokio::time::sleep(timeout * 4).await;
        assert!(!conn.is_finished());
        assert!(ended.try_recv().is_err());
        drop(response);
        tokio::time::timeout(GUARD, conn)
            .await
            .expect("the connection was not closed once its stream ended")
            .unwrap();
        drop(graceful);
    }

    #[tokio::test]
    async fn a_thousand_idle_h2c_connections_are_closed_after_the_read_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let graceful = GracefulShutdown::new();
        let builder = super::http_builder(Duration::from_millis(500));
        let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
        let watcher = graceful.watcher();
        let server = tokio::spawn(async move {
            let _watcher = watcher;
            for _ in 0..1000 {
                let (stream, remote) = listener.accept().await.unwrap();
                let (builder, watcher, ended_tx) =
                    (builder.clone(), graceful.watcher(), ended_tx.clone());
                tokio::spawn(async move {
                    let ending =
                        super::serve(builder, watcher, None, stream, remote, handler).await;
                    let _ = ended_tx.send(ending);
                });
            }
            graceful
        });
        let mut clients = Vec::with_capacity(1000);
        for i in 0..1000 {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            // Alternately half a preface and a whole one with nothing after it.
            let sent = if i % 2 == 0 {
                &H2_PREFACE[..12]
            } else {
                H2_PREFACE
            };
            tcp.write_all(sent).await.unwrap();
            clients.push(tcp);
        }
        let graceful = server.await.unwrap();
        for tcp in &mut clients {
            closed_by_server(tcp).await;
        }
        for _ in 0..1000 {
            let ending = tokio::time::timeout(GUARD, ended.recv()).await.unwrap();
            assert_eq!(ending, Some(Ending::TimedOut));
        }
        // Every connection is gone: shutdown has nothing to wait for.
        tokio::time::timeout(GUARD, graceful.shutdown())
            .await
            .expect("connections still counted as open");
    }

    #[tokio::test]
    async fn plain_tcp_serves_http1_and_h2c_prior_knowledge() {
        let (addr, _graceful, _) = serve_one(Duration::from_secs(10)).await;
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

        let (addr, _graceful, _) = serve_one(Duration::from_secs(10)).await;
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
        let (addr, _graceful, _) = serve_one(Duration::from_millis(200)).await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        // The server closes without a word: EOF, well before the guard below.
        let read = tokio::time::timeout(Duration::from_secs(20), tcp.read(&mut buf))
            .await
            .expect("the silent connection was not closed");
        assert_eq!(read.unwrap(), 0);
    }
}
