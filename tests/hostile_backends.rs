//! A hostile HTTP backend behind smcp-server: a legacy SSE `endpoint` event naming another
//! origin (where clients would post their bearer token), redirects (passed on, never
//! followed) and a body stalled halfway (smcp stays responsive). Each test starts smcp-server
//! in-process on `127.0.0.1:0` in front of a small hyper backend written here; waits are
//! bounded guards, never timings.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use smcp_e2e::SmcpServer;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const GUARD: Duration = Duration::from_secs(30);

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Config for one HTTP backend `id` at `/v1/<id>` (strip_path) in front of `addr`.
fn config(id: &str, addr: SocketAddr) -> String {
    format!(
        "server:\n  host: \"127.0.0.1\"\n  port: 0\n  shutdown_timeout: \"2s\"\nmcp:\n  backends:\n    - id: \"{id}\"\n      transport: http\n      url: \"http://{addr}\"\n      path: \"/v1/{id}\"\n      strip_path: true\n      timeout: \"20s\"\n"
    )
}

/// A hyper HTTP/1 backend answering every request with `handler`.
async fn spawn_backend<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let handler = Arc::clone(&handler);
                    async move { Ok::<_, Infallible>(handler(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// An SSE response sending `chunks`, then holding the stream open until the reader (smcp)
/// drops it; `dropped` hears of that.
fn held_sse(chunks: Vec<Bytes>, dropped: mpsc::UnboundedSender<()>) -> Response<Body> {
    let (tx, mut rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(8);
    tokio::spawn(async move {
        for chunk in chunks {
            if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                break;
            }
        }
        tx.closed().await;
        let _ = dropped.send(());
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(StreamBody::new(stream).boxed_unsync())
        .expect("response")
}

async fn metrics(client: &reqwest::Client, smcp: &SmcpServer) -> String {
    let response = client
        .get(smcp.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    response.text().await.expect("metrics body")
}

/// Reads `response` to its end (or its error) and returns what arrived and whether it ended
/// in an error.
async fn read_to_end(mut response: reqwest::Response) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let failed = tokio::time::timeout(GUARD, async {
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    })
    .await
    .expect("the stream was not ended");
    (got, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_endpoint_event_never_reaches_the_client() {
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let backend = spawn_backend(move |_request| {
        let dropped_tx = dropped_tx.clone();
        async move {
            held_sse(
                vec![
                    Bytes::from_static(b": hello\n\nevent: message\ndata: {\"before\":1}\n\n"),
                    Bytes::from_static(
                        b"event: endpoint\ndata: http://127.0.0.2:1/steal?sessionId=x\n\n",
                    ),
                    Bytes::from_static(b"event: message\ndata: {\"after\":1}\n\n"),
                ],
                dropped_tx,
            )
        }
    })
    .await;
    let smcp = SmcpServer::start(&config("evil", backend)).await;
    let client = reqwest::Client::new();
    let response = client
        .get(smcp.url("/v1/evil/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let (got, failed) = read_to_end(response).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("data: {\"before\":1}\n\n"), "{text}");
    assert!(!text.contains("127.0.0.2"), "{text}");
    assert!(!text.contains("steal"), "{text}");
    assert!(!text.contains("after"), "{text}");
    assert!(failed, "the stream ended cleanly: {text}");
    // smcp let go of the backend's stream.
    tokio::time::timeout(GUARD, dropped.recv())
        .await
        .expect("the backend stream is still held");
    let text = metrics(&client, &smcp).await;
    assert!(
        text.contains("smcp_upstream_errors_total{backend=\"evil\",kind=\"endpoint\"} 1"),
        "{text}"
    );
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_origin_endpoint_event_is_sent_path_absolute_in_the_public_space() {
    let (dropped_tx, _dropped) = mpsc::unbounded_channel();
    let backend = spawn_backend(move |request| {
        let dropped_tx = dropped_tx.clone();
        async move {
            let host = request
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let event = format!("event: endpoint\ndata: http://{host}/message?sessionId=abc\n\n");
            held_sse(vec![Bytes::from(event)], dropped_tx)
        }
    })
    .await;
    let smcp = SmcpServer::start(&config("fair", backend)).await;
    let client = reqwest::Client::new();
    let mut response = client
        .get(smcp.url("/v1/fair/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let mut got = Vec::new();
    tokio::time::timeout(GUARD, async {
        while !got.ends_with(b"\n\n") {
            let chunk = response.chunk().await.expect("chunk").expect("more");
            got.extend_from_slice(&chunk);
        }
    })
    .await
    .expect("no endpoint event");
    assert_eq!(
        String::from_utf8_lossy(&got),
        "event: endpoint\ndata: /v1/fair/message?sessionId=abc\n\n"
    );
    drop(response);
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_passed_to_the_client_and_never_followed() {
    // The redirect target counts every connection made to it.
    let trap = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let trap_addr = trap.local_addr().expect("addr");
    let (hit_tx, mut hits) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = trap.accept().await {
            let _ = hit_tx.send(());
            drop(tcp);
        }
    });
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let backend = spawn_backend(move |request| {
        let seen_tx = seen_tx.clone();
        async move {
            let _ = seen_tx.send(request.uri().to_string());
            let location = if request.uri().path() == "/mcp" {
                format!("http://{trap_addr}/stolen")
            } else {
                "/elsewhere".to_owned()
            };
            Response::builder()
                .status(307)
                .header("location", location)
                .body(http_body_util::Empty::new().boxed_unsync())
                .expect("response")
        }
    })
    .await;
    let smcp = SmcpServer::start(&config("redirect", backend)).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (path, location) in [
        ("/v1/redirect/mcp", format!("http://{trap_addr}/stolen")),
        ("/v1/redirect/other", "/elsewhere".to_owned()),
    ] {
        let response = client
            .post(smcp.url(path))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 307, "{path}");
        assert_eq!(response.headers()["location"], location.as_str(), "{path}");
    }
    // The backend saw exactly the two requests, and nothing went to either target.
    assert_eq!(seen.recv().await.as_deref(), Some("/mcp"));
    assert_eq!(seen.recv().await.as_deref(), Some("/other"));
    assert!(seen.try_recv().is_err(), "smcp followed a redirect");
    // /health answering proves smcp is done with both; the trap is then checked.
    let health = client
        .get(smcp.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    assert!(
        hits.try_recv().is_err(),
        "the redirect target was requested"
    );
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_stalling_mid_body_does_not_hold_smcp() {
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let backend = spawn_backend(move |_request| {
        let dropped_tx = dropped_tx.clone();
        async move {
            let (tx, mut rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
            tokio::spawn(async move {
                let part = Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"res");
                if tx.send(Ok(Frame::data(part))).await.is_ok() {
                    // The rest never comes: stall until smcp lets go.
                    tx.closed().await;
                }
                let _ = dropped_tx.send(());
            });
            let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
            Response::builder()
                .header("content-type", "application/json")
                .body(StreamBody::new(stream).boxed_unsync())
                .expect("response")
        }
    })
    .await;
    let smcp = SmcpServer::start(&config("stall", backend)).await;
    let client = reqwest::Client::new();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut response = client
            .post(smcp.url("/v1/stall/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 200);
        // What the backend sent arrives while the rest is stalled.
        let first = tokio::time::timeout(GUARD, response.chunk())
            .await
            .expect("the sent part did not arrive")
            .expect("chunk")
            .expect("a first chunk");
        assert_eq!(&first[..], b"{\"jsonrpc\":\"2.0\",\"id\":1,\"res");
        stalled.push(response);
    }
    // With every stalled stream open, smcp still answers.
    for _ in 0..3 {
        let health = tokio::time::timeout(GUARD, client.get(smcp.url("/health")).send())
            .await
            .expect("/health hangs")
            .expect("health");
        assert_eq!(health.status(), 200);
    }
    // A client giving up lets smcp drop the stalled upstream body.
    drop(stalled);
    for _ in 0..4 {
        tokio::time::timeout(GUARD, dropped.recv())
            .await
            .expect("a stalled upstream stream is still held");
    }
    smcp.stop().await;
}
