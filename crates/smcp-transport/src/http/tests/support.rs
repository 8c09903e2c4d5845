//! Helpers for the HTTP backend tests: test servers, backends, contexts and body readers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::body::{self, Body};
use crate::http::{ClientAddr, ForwardContext, HttpBackend, HttpBackendOptions};

/// A test server; stops (with all its connections) when dropped.
pub(super) struct Server {
    pub(super) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves plain HTTP/1.1 with `handler`.
pub(super) async fn serve<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    serve_with(handler, None).await
}

/// Serves HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with `handler`.
pub(super) async fn serve_tls<F, Fut>(handler: F, tls: rustls::ServerConfig) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    serve_with(handler, Some(TlsAcceptor::from(Arc::new(tls)))).await
}

async fn serve_with<F, Fut>(handler: F, tls: Option<TlsAcceptor>) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        // Dropping the set (when this task is aborted) aborts every connection.
        let mut connections = JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let handler = handler.clone();
            let tls = tls.clone();
            connections.spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                match tls {
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                    Some(acceptor) => {
                        // A failed handshake is what some tests want: just drop it.
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                }
            });
        }
    });
    Server { addr, task }
}

/// A backend for `url` with `timeout` and no extra CA.
pub(super) fn backend(url: &str, timeout: Duration) -> HttpBackend {
    HttpBackend::new(HttpBackendOptions {
        backend_id: Arc::from("test"),
        url: url::Url::parse(url).unwrap(),
        timeout,
        ca_file: None,
        trusted_cas: None,
    })
    .unwrap()
}

/// A plain context forwarding to `path_and_query`, without prefix or identity headers.
pub(super) fn ctx(path_and_query: &str) -> ForwardContext {
    ForwardContext {
        upstream_path_and_query: path_and_query.to_owned(),
        public_prefix: None,
        client_addr: ClientAddr::new("127.0.0.1".parse().unwrap()),
        client_scheme: "http",
        client_host: Some(HeaderValue::from_static("proxy.example")),
        strip_headers: std::sync::Arc::from([]),
        set_headers: HeaderMap::new(),
        endpoint_observer: None,
    }
}

/// A GET request with an empty body (its URI is ignored by `forward`).
pub(super) fn get() -> Request<Body> {
    Request::builder()
        .uri("/ignored")
        .body(body::empty())
        .unwrap()
}

/// A response body fed by a channel, one frame per message, ending when the sender drops.
pub(super) fn channel_body() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let frames = stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|data| (Ok::<_, Infallible>(Frame::data(data)), rx))
    });
    (tx, body::boxed(StreamBody::new(frames)))
}

/// An SSE response whose events the test sends through the returned channel.
pub(super) fn sse_response(body: Body) -> Response<Body> {
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(body)
        .unwrap()
}

/// Reads data frames until exactly `want.len()` bytes have arrived and returns them.
///
/// Guarded by a generous timeout so that a broken (buffering) implementation fails the test
/// instead of hanging it; only call it while time is not paused.
pub(super) async fn read_len<B>(body: &mut B, len: usize) -> Bytes
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    tokio::time::timeout(Duration::from_secs(20), read_len_unguarded(body, len))
        .await
        .expect("the body did not deliver the bytes the server sent")
}

/// [`read_len`] without the guard, for use while time is paused.
pub(super) async fn read_len_unguarded<B>(body: &mut B, len: usize) -> Bytes
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut got = Vec::new();
    while got.len() < len {
        let frame = body
            .frame()
            .await
            .expect("body ended early")
            .expect("body failed");
        if let Ok(data) = frame.into_data() {
            got.extend_from_slice(&data);
        }
    }
    assert_eq!(got.len(), len, "more bytes than expected");
    Bytes::from(got)
}

/// The whole body as bytes.
pub(super) async fn collect(body: Body) -> Bytes {
    body.collect().await.unwrap().to_bytes()
}
