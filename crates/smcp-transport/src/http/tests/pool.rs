//! The plain-HTTP connection pool: reuse, no reuse of an unfinished response, backends that
//! close idle connections, many requests at once, and the idle reaper.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Barrier, mpsc};
use tokio::task::JoinSet;

use super::support::{backend, collect, ctx, get};
use crate::body;
use crate::http::HttpBackend;

/// What a [`CountingServer`] answers every request with.
#[derive(Clone, Copy)]
enum Reply {
    /// 200 with a small JSON body.
    Json,
    /// 200 with a body that never ends.
    Endless,
    /// 204, no body.
    NoContent,
}

/// An HTTP/1.1 keep-alive server that counts the connections it accepted and the ones that
/// have closed, answering every request with its [`Reply`].
struct CountingServer {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

impl CountingServer {
    async fn start(reply: Reply) -> Self {
        Self::start_on("127.0.0.1:0", reply).await
    }

    async fn start_on(bind: &str, reply: Reply) -> Self {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (accepted2, closed2) = (Arc::clone(&accepted), Arc::clone(&closed));
        let accept = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                accepted2.fetch_add(1, Ordering::SeqCst);
                let closed = Arc::clone(&closed2);
                connections.spawn(async move {
                    let service = service_fn(move |_req| async move {
                        let response = match reply {
                            Reply::Json => {
                                Response::new(body::full(Bytes::from_static(b"{\"ok\":true}")))
                            }
                            Reply::Endless => {
                                let (tx, body) = super::support::channel_body();
                                // Leaked on purpose: the body stays open for the test's
                                // lifetime.
                                std::mem::forget(tx);
                                Response::new(body)
                            }
                            Reply::NoContent => {
                                let mut response = Response::new(body::empty());
                                *response.status_mut() = StatusCode::NO_CONTENT;
                                response
                            }
                        };
                        Ok::<_, Infallible>(response)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                    closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            addr,
            accepted,
            closed,
            accept,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    fn backend(&self) -> HttpBackend {
        backend(
            &format!("http://{}/mcp", self.addr),
            Duration::from_secs(30),
        )
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Polls `condition` until it holds (the server side runs in other tasks), failing after 20 s.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let server = CountingServer::start(Reply::Json).await;
    let backend = server.backend();
    for _ in 0..20 {
        let response = backend.forward(get(), ctx("/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(collect(response.into_body()).await, "{\"ok\":true}");
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(backend.idle_connections_on_this_thread(), 1);
}

#[tokio::test]
async fn an_ipv6_backend_is_reached_at_its_bare_address() {
    let server = CountingServer::start_on("[::1]:0", Reply::Json).await;
    let backend = server.backend();
    let response = backend.forward(get(), ctx("/")).await.unwrap();
    assert_eq!(collect(response.into_body()).await, "{\"ok\":true}");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_response_dropped_before_its_end_does_not_return_its_connection() {
    let server = CountingServer::start(Reply::Endless).await;
    let backend = server.backend();
    let response = backend.forward(get(), ctx("/")).await.unwrap();
    drop(response);
    assert_eq!(backend.idle_connections_on_this_thread(), 0);
    // The abandoned connection is closed, and the next request gets a fresh one.
    eventually("the abandoned connection closes", || server.closed() == 1).await;
    let _second = backend.forward(get(), ctx("/")).await.unwrap();
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn concurrent_requests_open_connections_that_are_then_reused() {
    let server = CountingServer::start(Reply::Json).await;
    let backend = server.backend();
    // Ten requests whose responses are all held at once need ten connections.
    let mut responses = Vec::new();
    for _ in 0..10 {
        responses.push(backend.forward(get(), ctx("/")).await.unwrap());
    }
    assert_eq!(server.accepted(), 10);
    for response in responses {
        collect(response.into_body()).await;
    }
    assert_eq!(backend.idle_connections_on_this_thread(), 10);
    // Ten more, all at once: served by the idle connections, none opened.
    let barrier = Arc::new(Barrier::new(10));
    let mut set = JoinSet::new();
    for _ in 0..10 {
        let backend = backend.clone();
        let barrier = Arc::clone(&barrier);
        set.spawn(async move {
            barrier.wait().await;
            let response = backend.forward(get(), ctx("/")).await.unwrap();
            collect(response.into_body()).await
        });
    }
    while let Some(body) = set.join_next().await {
        assert_eq!(body.unwrap(), "{\"ok\":true}");
    }
    assert_eq!(server.accepted(), 10);
}

/// Reads one bodiless request's head (up to its blank line); false when the connection ended.
async fn read_request_head(tcp: &mut tokio::net::TcpStream) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// A raw HTTP/1.1 server that answers each request on a connection with keep-alive
/// (`Content-Length`, no `Connection: close`) and then closes the connection anyway, the way a
/// backend closing idle keep-alive connections looks from the proxy.
async fn closing_server() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted_tx, accepted_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let _ = accepted_tx.send(());
            tokio::spawn(async move {
                if !read_request_head(&mut tcp).await {
                    return;
                }
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                // Closed after the response, without a word.
            });
        }
    });
    (addr, accepted_rx)
}

#[tokio::test]
async fn backends_closing_idle_connections_cost_no_request() {
    let (addr, mut accepted) = closing_server().await;
    let backend = backend(&format!("http://{addr}/mcp"), Duration::from_secs(30));
    for round in 0..20 {
        let response = backend
            .forward(get(), ctx("/"))
            .await
            .unwrap_or_else(|e| panic!("request {round} failed: {e}"));
        assert_eq!(collect(response.into_body()).await, "ok");
    }
    // Every request needed a connection of its own; none was lost to a closed one.
    let mut connections = 0;
    while accepted.try_recv().is_ok() {
        connections += 1;
    }
    assert_eq!(connections, 20);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let server = CountingServer::start(Reply::Json).await;
    let backend = server.backend();
    let response = backend.forward(get(), ctx("/")).await.unwrap();
    collect(response.into_body()).await;
    assert_eq!(backend.idle_connections_on_this_thread(), 1);

    // Still kept a little before the timeout...
    tokio::time::pause();
    tokio::time::advance(super::super::pool::IDLE_TIMEOUT - Duration::from_secs(20)).await;
    assert_eq!(backend.idle_connections_on_this_thread(), 1);
    // ...and closed once the reaper has run after it.
    tokio::time::advance(Duration::from_secs(40)).await;
    tokio::task::yield_now().await;
    assert_eq!(backend.idle_connections_on_this_thread(), 0);
    tokio::time::resume();
    eventually("the server sees the connection close", || {
        server.closed() == 1
    })
    .await;
}

#[tokio::test]
async fn empty_responses_return_their_connection_at_once() {
    // A 204 has no body to read: the connection is free as soon as the head arrived.
    let server = CountingServer::start(Reply::NoContent).await;
    let backend = server.backend();
    for _ in 0..5 {
        let response = backend.forward(get(), ctx("/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        // Not even read: the body was empty from the start.
        assert_eq!(backend.idle_connections_on_this_thread(), 1);
        assert!(response.into_body().frame().await.is_none());
    }
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_request_already_written_is_never_sent_twice() {
    // The server answers the first request, then reads the second one whole and closes the
    // connection without answering. The proxy cannot know whether the backend acted on it, so
    // it must report the failure rather than send the request again.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests_seen = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&requests_seen);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                loop {
                    if !read_request_head(&mut tcp).await {
                        return;
                    }
                    if seen.fetch_add(1, Ordering::SeqCst) > 0 {
                        return; // the second request: hang up
                    }
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                }
            });
        }
    });
    let backend = backend(&format!("http://{addr}/mcp"), Duration::from_secs(30));
    let response = backend.forward(get(), ctx("/")).await.unwrap();
    assert_eq!(collect(response.into_body()).await, "ok");
    let err = backend.forward(get(), ctx("/")).await.unwrap_err();
    assert_eq!(err.kind(), "protocol", "{err}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(requests_seen.load(Ordering::SeqCst), 2);
}
