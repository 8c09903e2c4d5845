//! Streaming in both directions: SSE responses event by event, streams outliving the
//! timeout, request bodies sent upstream as they arrive, and the legacy endpoint rewrite.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

use super::support::{
    backend, channel_body, collect, ctx, get, read_len, read_len_unguarded, serve, sse_response,
};
use crate::body::{self, Body};

const EVENT_1: &[u8] =
    b"id: 1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
const EVENT_2: &[u8] =
    b"id: 2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";

/// A server whose single response is an SSE stream fed by the test through the returned
/// sender (handed over once the request arrived).
async fn sse_server() -> (
    super::support::Server,
    oneshot::Receiver<mpsc::Sender<Bytes>>,
) {
    let (sender_tx, sender_rx) = oneshot::channel();
    let sender_tx = Arc::new(Mutex::new(Some(sender_tx)));
    let server = serve(move |_req| {
        let sender_tx = Arc::clone(&sender_tx);
        async move {
            let (events, body) = channel_body();
            if let Some(tx) = sender_tx.lock().unwrap().take() {
                tx.send(events).unwrap();
            }
            sse_response(body)
        }
    })
    .await;
    (server, sender_rx)
}

#[tokio::test]
async fn sse_response_is_streamed_event_by_event() {
    let (server, events) = sse_server().await;
    let backend = backend(
        &format!("http://{}/mcp", server.addr),
        Duration::from_secs(30),
    );
    let resp = backend.forward(get(), ctx("/")).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = events.await.unwrap();
    let mut body = resp.into_body();

    // The server sends event 2 only once the test has read event 1 through the proxy.
    events.send(Bytes::from_static(EVENT_1)).await.unwrap();
    assert_eq!(read_len(&mut body, EVENT_1.len()).await, EVENT_1);
    events.send(Bytes::from_static(EVENT_2)).await.unwrap();
    assert_eq!(read_len(&mut body, EVENT_2.len()).await, EVENT_2);
    drop(events);
    assert!(
        body.frame().await.is_none(),
        "the stream ends when the server ends it"
    );
}

#[tokio::test]
async fn stream_outlives_the_timeout() {
    let timeout = Duration::from_secs(5);
    let (server, events) = sse_server().await;
    let backend = backend(&format!("http://{}", server.addr), timeout);
    let resp = backend.forward(get(), ctx("/sse")).await.unwrap();
    let events = events.await.unwrap();
    let mut body = resp.into_body();
    events.send(Bytes::from_static(EVENT_1)).await.unwrap();
    assert_eq!(read_len(&mut body, EVENT_1.len()).await, EVENT_1);

    // Headers arrived and the stream is open: now let far more than `timeout` pass.
    tokio::time::pause();
    tokio::time::advance(timeout * 20).await;

    events.send(Bytes::from_static(EVENT_2)).await.unwrap();
    assert_eq!(read_len_unguarded(&mut body, EVENT_2.len()).await, EVENT_2);
    drop(events);
    assert!(body.frame().await.is_none());
}

#[tokio::test]
async fn request_body_is_streamed_upstream() {
    // The server reports the first chunk as soon as it has it, then echoes the whole body.
    let (first_tx, mut first_rx) = mpsc::unbounded_channel::<Bytes>();
    let server = serve(move |req: Request<hyper::body::Incoming>| {
        let first_tx = first_tx.clone();
        async move {
            let mut body = req.into_body();
            let mut all = Vec::new();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    if all.is_empty() {
                        first_tx.send(data.clone()).unwrap();
                    }
                    all.extend_from_slice(&data);
                }
            }
            Response::new(body::full(all))
        }
    })
    .await;
    let backend = backend(
        &format!("http://{}/mcp", server.addr),
        Duration::from_secs(30),
    );
    let (chunks, req_body) = channel_body();
    let req = Request::builder()
        .method(Method::POST)
        .header("content-type", "application/json")
        .body(req_body)
        .unwrap();
    let forwarding = tokio::spawn(async move { backend.forward(req, ctx("/")).await });

    chunks
        .send(Bytes::from_static(b"{\"jsonrpc\":"))
        .await
        .unwrap();
    // The backend has the first chunk before the second one even exists.
    assert_eq!(first_rx.recv().await.unwrap(), "{\"jsonrpc\":");
    chunks
        .send(Bytes::from_static(b"\"2.0\",\"method\":\"ping\",\"id\":1}"))
        .await
        .unwrap();
    drop(chunks);

    let resp = forwarding.await.unwrap().unwrap();
    assert_eq!(
        collect(resp.into_body()).await,
        "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}"
    );
}

#[tokio::test]
async fn legacy_endpoint_event_is_rewritten_while_streaming() {
    let (server, events) = sse_server().await;
    let backend = backend(&format!("http://{}", server.addr), Duration::from_secs(30));
    let mut forward_ctx = ctx("/sse");
    forward_ctx.public_prefix = Some(std::sync::Arc::from("/v1/everything"));
    let resp = backend.forward(get(), forward_ctx).await.unwrap();
    assert!(!resp.headers().contains_key("content-length"));
    let events = events.await.unwrap();
    let mut body: Body = resp.into_body();

    // The endpoint event arrives split in the middle of its data line.
    events
        .send(Bytes::from_static(b"event: endpoint\nda"))
        .await
        .unwrap();
    let released = b"event: endpoint\n";
    assert_eq!(read_len(&mut body, released.len()).await, &released[..]);
    events
        .send(Bytes::from_static(b"ta: /message?sessionId=abc\n\n"))
        .await
        .unwrap();
    let rewritten = b"data: /v1/everything/message?sessionId=abc\n\n";
    assert_eq!(read_len(&mut body, rewritten.len()).await, &rewritten[..]);

    // Later events pass unchanged, one by one.
    events.send(Bytes::from_static(EVENT_1)).await.unwrap();
    assert_eq!(read_len(&mut body, EVENT_1.len()).await, EVENT_1);
    events.send(Bytes::from_static(EVENT_2)).await.unwrap();
    assert_eq!(read_len(&mut body, EVENT_2.len()).await, EVENT_2);
    drop(events);
    assert!(body.frame().await.is_none());
}

#[tokio::test]
async fn endpoint_rewrite_removes_the_url_base_path() {
    const STREAM: &str = "event: endpoint\ndata: /legacy/message?sessionId=abc\n\n";
    let server = serve(|_req| async { sse_response(body::full(STREAM)) }).await;
    let backend = backend(
        &format!("http://{}/legacy", server.addr),
        Duration::from_secs(30),
    );
    let mut forward_ctx = ctx("/sse");
    forward_ctx.public_prefix = Some(std::sync::Arc::from("/v1/legacy"));
    let resp = backend.forward(get(), forward_ctx).await.unwrap();
    assert_eq!(
        collect(resp.into_body()).await,
        "event: endpoint\ndata: /v1/legacy/message?sessionId=abc\n\n"
    );
}

#[tokio::test]
async fn no_rewrite_without_prefix_or_outside_sse() {
    const STREAM: &str = "event: endpoint\ndata: /message?sessionId=abc\n\n";
    let server = serve(|req| async move {
        if req.uri().path() == "/json" {
            Response::builder()
                .header("content-type", "application/json")
                .body(body::full(STREAM))
                .unwrap()
        } else {
            sse_response(body::full(STREAM))
        }
    })
    .await;
    let backend = backend(&format!("http://{}", server.addr), Duration::from_secs(30));

    // SSE, but routing stripped nothing.
    let resp = backend.forward(get(), ctx("/sse")).await.unwrap();
    assert_eq!(collect(resp.into_body()).await, STREAM);

    // A prefix, but not an SSE response.
    let mut forward_ctx = ctx("/json");
    forward_ctx.public_prefix = Some(std::sync::Arc::from("/v1/x"));
    let resp = backend.forward(get(), forward_ctx).await.unwrap();
    assert_eq!(collect(resp.into_body()).await, STREAM);
}

/// Records what an [`EndpointObserver`] hears.
#[derive(Debug, Default)]
struct Heard(Mutex<Vec<String>>);

impl crate::http::EndpointObserver for Heard {
    fn session_opened(&self, id: &str) {
        self.0.lock().unwrap().push(format!("opened {id}"));
    }
    fn stream_ended(&self) {
        self.0.lock().unwrap().push("ended".to_owned());
    }
}

#[tokio::test]
async fn endpoint_observer_hears_the_session_and_the_end_of_the_stream() {
    let (server, events) = sse_server().await;
    let backend = backend(&format!("http://{}", server.addr), Duration::from_secs(30));
    let heard = Arc::new(Heard::default());
    let mut forward_ctx = ctx("/sse");
    forward_ctx.endpoint_observer = Some(heard.clone());
    let resp = backend.forward(get(), forward_ctx).await.unwrap();
    let events = events.await.unwrap();
    let mut body: Body = resp.into_body();

    // Without a public prefix the data passes unchanged; the session is still reported.
    let endpoint = b"event: endpoint\ndata: /message?sessionId=a%20b\n\n";
    events.send(Bytes::from_static(endpoint)).await.unwrap();
    assert_eq!(read_len(&mut body, endpoint.len()).await, &endpoint[..]);
    assert_eq!(*heard.0.lock().unwrap(), ["opened a%20b"]);
    events.send(Bytes::from_static(EVENT_1)).await.unwrap();
    assert_eq!(read_len(&mut body, EVENT_1.len()).await, EVENT_1);
    assert_eq!(heard.0.lock().unwrap().len(), 1, "still open");
    // The client goes away: the body is dropped while the backend still streams.
    drop(body);
    assert_eq!(*heard.0.lock().unwrap(), ["opened a%20b", "ended"]);
    drop(events);
}
