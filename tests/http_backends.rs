//! smcp-server in front of real Streamable-HTTP and legacy-SSE MCP servers, driven by real
//! MCP clients; plus the failure modes and listener features of the HTTP path.
//!
//! Each test starts smcp-server in-process on 127.0.0.1:0 with the real config pipeline,
//! and real peers (server-everything over HTTP, the Python and TypeScript SDK drivers) as
//! subprocesses. Small hyper servers written here stand in where a test needs exact control
//! of a backend's timing (streaming, silence, a call held during shutdown).

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
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use serde_json::Value;
use smcp_e2e::expect::{assert_everything, assert_progress, driver_args, http_trace, text};
use smcp_e2e::{
    HttpMode, SmcpServer, free_port, run_py_client, run_ts_client, spawn_everything_http,
};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// Config for one HTTP backend at `path` in front of `url`.
fn http_backend_config(path: &str, url: &str, strip_path: bool, timeout: &str) -> String {
    format!(
        r#"
server:
  host: "127.0.0.1"
  port: 0
  shutdown_timeout: "5s"
mcp:
  backends:
    - id: "backend"
      name: "Backend under test"
      transport: "http"
      url: "{url}"
      path: "{path}"
      strip_path: {strip_path}
      timeout: "{timeout}"
"#
    )
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn json_body(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

fn assert_jsonrpc_error(body: &Value) {
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], Value::Null, "{body}");
    assert!(body["error"]["code"].is_i64(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_typescript_clients_through_a_strip_path_prefix() {
    let mode = HttpMode::StreamableHttp;
    let (everything, port) = spawn_everything_http(mode).await;
    let upstream = format!("http://127.0.0.1:{port}/mcp");
    let smcp = SmcpServer::start(&http_backend_config(
        "/v1/everything",
        &upstream,
        true,
        "30s",
    ))
    .await;
    let url = smcp.url("/v1/everything");

    let py = run_py_client(driver_args(&url, "streamable", "everything")).await;
    assert_everything(&py, "python", "hello from py_client");
    assert_progress(&py);
    // The Python SDK's discover probe got the backend's own 400 JSON-RPC error through the
    // proxy unchanged, fell back to initialize, and ended the session with DELETE.
    let http = http_trace(&py);
    assert_eq!(http[0]["rpc"], "server/discover");
    assert_eq!(http[0]["status"], 400);
    assert_eq!(http[1]["rpc"], "initialize");
    assert_eq!(http[1]["mcp-session-id"], text(&py, "session_id").as_str());
    let last = http.last().expect("trace");
    assert_eq!(last["method"], "DELETE");

    let ts = run_ts_client(driver_args(&url, "streamable", "everything")).await;
    assert_everything(&ts, "typescript", "hello from ts_client");
    assert_progress(&ts);
    assert!(
        http_trace(&ts)
            .iter()
            .any(|e| e["method"] == "GET" && e["status"] == 200),
        "the standalone GET stream works through the proxy"
    );
    assert_ne!(py["session_id"], ts["session_id"]);
    smcp.stop().await;
    drop(everything);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_through_an_unstripped_path() {
    let mode = HttpMode::StreamableHttp;
    let (everything, port) = spawn_everything_http(mode).await;
    let upstream = format!("http://127.0.0.1:{port}");
    let smcp = SmcpServer::start(&http_backend_config("/mcp", &upstream, false, "30s")).await;
    let url = smcp.url("/mcp");
    let py = run_py_client(driver_args(&url, "streamable", "basic")).await;
    assert_eq!(py["echo"], "Echo: hello from py_client");
    let ts = run_ts_client(driver_args(&url, "streamable", "basic")).await;
    assert_eq!(ts["echo"], "Echo: hello from ts_client");
    smcp.stop().await;
    drop(everything);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sse_through_a_strip_path_prefix() {
    let mode = HttpMode::Sse;
    let (everything, port) = spawn_everything_http(mode).await;
    let upstream = format!("http://127.0.0.1:{port}");
    let smcp = SmcpServer::start(&http_backend_config("/v1/legacy", &upstream, true, "30s")).await;
    let url = smcp.url("/v1/legacy/sse");

    for (client, out) in [
        (
            "python",
            run_py_client(driver_args(&url, "sse", "everything")).await,
        ),
        (
            "typescript",
            run_ts_client(driver_args(&url, "sse", "everything")).await,
        ),
    ] {
        let echo = if client == "python" {
            "hello from py_client"
        } else {
            "hello from ts_client"
        };
        assert_everything(&out, client, echo);
        // Every POST went to the endpoint the proxy rewrote to keep the public prefix.
        let session = text(&out, "session_id");
        let endpoint = format!("/v1/legacy/message?sessionId={session}");
        let posts: Vec<&Value> = http_trace(&out)
            .iter()
            .filter(|e| e["method"] == "POST")
            .collect();
        assert!(!posts.is_empty());
        for post in posts {
            assert_eq!(post["path"], endpoint.as_str(), "{out}");
            // The TS SDK does not wait for the status of its last POSTs before closing.
            if !post["status"].is_null() {
                assert_eq!(post["status"], 202, "{out}");
            }
        }
    }
    smcp.stop().await;
    drop(everything);
}

/// A one-route hyper server for exact control of a backend's timing.
async fn spawn_backend<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<smcp_transport_body::Body>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
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

/// Body helpers for the stand-in backends.
mod smcp_transport_body {
    use bytes::Bytes;
    use http_body_util::combinators::UnsyncBoxBody;

    pub(super) type Body = UnsyncBoxBody<Bytes, std::convert::Infallible>;
}

fn full(text: &'static str) -> smcp_transport_body::Body {
    http_body_util::Full::new(Bytes::from_static(text.as_bytes())).boxed_unsync()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_reach_the_client_before_the_stream_ends() {
    let release = Arc::new(Notify::new());
    let gate = Arc::clone(&release);
    let backend = spawn_backend(move |_request| {
        let gate = Arc::clone(&gate);
        async move {
            let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                let event = |n: u8| {
                    Ok(Frame::data(Bytes::from(format!(
                        "id: {n}\nevent: message\ndata: {{\"n\":{n}}}\n\n"
                    ))))
                };
                let _ = tx.send(event(1)).await;
                gate.notified().await;
                let _ = tx.send(event(2)).await;
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(StreamBody::new(tokio_stream_from(rx)).boxed_unsync())
                .expect("response")
        }
    })
    .await;
    let smcp = SmcpServer::start(&http_backend_config(
        "/v1/stream",
        &format!("http://{backend}"),
        true,
        "2s",
    ))
    .await;
    let mut response = reqwest_client()
        .post(smcp.url("/v1/stream"))
        .header("accept", "application/json, text/event-stream")
        .body(INITIALIZE)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    // Event 1 arrives while the backend is still holding event 2 back.
    let first = response.chunk().await.expect("chunk").expect("first event");
    assert_eq!(&first[..], b"id: 1\nevent: message\ndata: {\"n\":1}\n\n");
    release.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"id: 2\nevent: message\ndata: {\"n\":2}\n\n");
    smcp.stop().await;
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn unreachable_backend_is_a_502_with_a_jsonrpc_error() {
    let port = free_port();
    let smcp = SmcpServer::start(&http_backend_config(
        "/v1/down",
        &format!("http://127.0.0.1:{port}"),
        true,
        "2s",
    ))
    .await;
    let response = reqwest_client()
        .post(smcp.url("/v1/down"))
        .body(INITIALIZE)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_jsonrpc_error(&json_body(response).await);
    smcp.stop().await;
}

#[tokio::test]
async fn silent_backend_is_a_504_with_a_jsonrpc_error() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = silent.local_addr().expect("addr");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let smcp = SmcpServer::start(&http_backend_config(
        "/v1/silent",
        &format!("http://{addr}"),
        true,
        "300ms",
    ))
    .await;
    let response = reqwest_client()
        .post(smcp.url("/v1/silent"))
        .body(INITIALIZE)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 504);
    assert_jsonrpc_error(&json_body(response).await);
    smcp.stop().await;
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_call_completes_during_graceful_shutdown() {
    let arrived = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (arrived_tx, release_rx) = (Arc::clone(&arrived), Arc::clone(&release));
    let backend = spawn_backend(move |_request| {
        let (arrived, release) = (Arc::clone(&arrived_tx), Arc::clone(&release_rx));
        async move {
            arrived.notify_one();
            release.notified().await;
            Response::builder()
                .header("content-type", "application/json")
                .body(full(r#"{"jsonrpc":"2.0","id":1,"result":{"done":true}}"#))
                .expect("response")
        }
    })
    .await;
    let mut smcp = SmcpServer::start(&http_backend_config(
        "/v1/slow",
        &format!("http://{backend}"),
        true,
        "30s",
    ))
    .await;
    let url = smcp.url("/v1/slow");
    let call =
        tokio::spawn(async move { reqwest_client().post(url).body(INITIALIZE).send().await });
    arrived.notified().await;

    smcp.begin_stop();
    // While draining, the server refuses new work but the call in flight runs on.
    let health_url = smcp.url("/health");
    let during = reqwest::Client::new().get(&health_url).send().await;
    assert!(
        during.is_err(),
        "the listener is closed once shutdown begins"
    );
    release.notify_one();
    let response = call.await.expect("task").expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["result"]["done"], true);
    tokio::time::timeout(Duration::from_secs(10), smcp.join())
        .await
        .expect("server stops after draining");
}

/// A stand-in backend that opens session `s1` for a POST without one and answers `{}`.
async fn session_backend() -> SocketAddr {
    spawn_backend(|request| async move {
        let opens = request.headers().get("mcp-session-id").is_none();
        let mut response = Response::builder().header("content-type", "application/json");
        if opens {
            response = response.header("mcp-session-id", "s1");
        }
        response
            .body(full(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#))
            .expect("response")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_keeps_the_listener_answering_then_closes_it() {
    let backend = session_backend().await;
    let config = http_backend_config("/v1/app", &format!("http://{backend}"), true, "30s")
        .replace("shutdown_timeout: \"5s\"", "shutdown_timeout: \"2s\"");
    let mut smcp = SmcpServer::start(&config).await;
    let http = reqwest_client();
    let app_url = smcp.url("/v1/app");
    let post = |session: Option<&str>| {
        let mut request = http
            .post(&app_url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(INITIALIZE);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let opened = post(None).await.expect("initialize");
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.headers()["mcp-session-id"], "s1");
    let ready = http.get(smcp.url("/ready")).send().await.expect("ready");
    assert_eq!(ready.status(), 200);

    // The first signal: draining, with the listener still answering.
    smcp.begin_drain();
    let ready = http
        .get(smcp.url("/ready"))
        .send()
        .await
        .expect("ready while draining");
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.expect("body").contains("draining"));
    let health = http.get(smcp.url("/health")).send().await.expect("health");
    assert_eq!(health.status(), 200, "the process is alive while it drains");
    let refused = post(None).await.expect("a new session while draining");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_jsonrpc_error(&json_body(refused).await);
    let within = post(Some("s1")).await.expect("a call within a session");
    assert_eq!(within.status(), 200, "work under way is still served");
    // A fresh connection (no pooled one) is accepted too: the port stays open.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let ready = fresh
        .get(smcp.url("/ready"))
        .send()
        .await
        .expect("a new connection");
    assert_eq!(ready.status(), 503);

    // The window (shutdown_timeout) ends by itself; then the port is closed.
    let addr = smcp.addr();
    tokio::time::timeout(Duration::from_secs(15), smcp.join())
        .await
        .expect("the drain window ends after shutdown_timeout");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_drain_window_at_once() {
    let backend = session_backend().await;
    // A window far longer than the test's own timeout: only the second signal can end it.
    let config = http_backend_config("/v1/app", &format!("http://{backend}"), true, "30s")
        .replace("shutdown_timeout: \"5s\"", "shutdown_timeout: \"10m\"");
    let mut smcp = SmcpServer::start(&config).await;
    let http = reqwest_client();
    smcp.begin_drain();
    let ready = http
        .get(smcp.url("/ready"))
        .send()
        .await
        .expect("ready while draining");
    assert_eq!(ready.status(), 503);
    smcp.begin_stop();
    let addr = smcp.addr();
    tokio::time::timeout(Duration::from_secs(15), smcp.join())
        .await
        .expect("the second signal closes the listener and stops");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn operations_endpoints_and_admission_errors() {
    let backend = spawn_backend(|_request| async {
        Response::builder()
            .header("content-type", "application/json")
            .body(full("{}"))
            .expect("response")
    })
    .await;
    let mut config = http_backend_config("/v1/ops", &format!("http://{backend}"), true, "2s");
    config.push_str("      model: \"claude-legacy\"\n      max_tokens: 4096\n");
    config = config.replace(
        "  shutdown_timeout: \"5s\"\n",
        "  shutdown_timeout: \"5s\"\n  max_request_body: 1024\n",
    );
    let smcp = SmcpServer::start(&config).await;
    let client = reqwest_client();

    let health = client
        .get(smcp.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);

    // /ready answers for smcp itself at once; `?backend=ID` turns 200 once that backend's
    // probe has connected (bounded wait).
    let own = client.get(smcp.url("/ready")).send().await.expect("ready");
    assert_eq!(own.status(), 200);
    let mut ready = None;
    for _ in 0..100 {
        let response = client
            .get(smcp.url("/ready?backend=backend"))
            .send()
            .await
            .expect("ready");
        if response.status() == 200 {
            ready = Some(json_body(response).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = ready.expect("backend became ready");
    assert_eq!(ready["backends"]["backend"], true);

    let models = json_body(
        client
            .get(smcp.url("/api/models"))
            .send()
            .await
            .expect("models"),
    )
    .await;
    assert_eq!(models["has_more"], false);
    assert_eq!(models["first_id"], "backend");
    let model = &models["data"][0];
    assert_eq!(model["type"], "model");
    assert_eq!(model["id"], "backend");
    assert_eq!(model["display_name"], "Backend under test");
    assert_eq!(model["path"], "/v1/ops");
    assert_eq!(model["transport"], "http");
    assert_eq!(model["model"], "claude-legacy");
    assert_eq!(model["max_tokens"], 4096);
    assert!(
        model["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        !models.to_string().contains("127.0.0.1"),
        "no URL is ever listed: {models}"
    );

    let unknown = client.get(smcp.url("/v1/opsx")).send().await.expect("404");
    assert_eq!(unknown.status(), 404);
    assert_jsonrpc_error(&json_body(unknown).await);

    let big = client
        .post(smcp.url("/v1/ops"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .expect("413");
    assert_eq!(big.status(), 413);
    assert_jsonrpc_error(&json_body(big).await);

    let forbidden = client
        .post(smcp.url("/v1/ops"))
        .header("origin", "https://evil.example")
        .body("{}")
        .send()
        .await
        .expect("403");
    assert_eq!(forbidden.status(), 403);

    let ok = client
        .post(smcp.url("/v1/ops"))
        .body("{}")
        .send()
        .await
        .expect("proxied");
    assert_eq!(ok.status(), 200);

    let metrics = client
        .get(smcp.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains(
            "smcp_requests_total{backend=\"backend\",method=\"POST\",status_class=\"2xx\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("smcp_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("smcp_rejected_requests_total{reason=\"origin\"}"),
        "{text}"
    );
    smcp.stop().await;
}

#[tokio::test]
async fn h2c_on_the_plain_listener() {
    let smcp = SmcpServer::start(&http_backend_config(
        "/v1/x",
        "http://127.0.0.1:9",
        true,
        "1s",
    ))
    .await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let response = client.get(smcp.url("/health")).send().await.expect("h2c");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    smcp.stop().await;
}

#[tokio::test]
async fn tls_listener_speaks_h2_and_http1() {
    let dir = tempfile::tempdir().expect("dir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("cert");
    let cert_pem = certified.cert.pem();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).expect("write cert");
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).expect("write key");
    let mut config = http_backend_config("/v1/x", "http://127.0.0.1:9", true, "1s");
    config.push_str(&format!(
        "tls:\n  enabled: true\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
        cert_path.display(),
        key_path.display()
    ));
    let smcp = SmcpServer::start(&config).await;
    assert!(smcp.url("/health").starts_with("https://"));
    let root = reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("root");

    let h2 = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .build()
        .expect("client");
    let response = h2.get(smcp.url("/health")).send().await.expect("https h2");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN chose h2"
    );

    let h1 = reqwest::Client::builder()
        .add_root_certificate(root)
        .http1_only()
        .build()
        .expect("client");
    let response = h1.get(smcp.url("/health")).send().await.expect("https h1");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    smcp.stop().await;
}
