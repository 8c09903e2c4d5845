//! Building requests, reading answers, finding our children in /proc.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use smcp_transport::body::{self, Body};
use smcp_transport::sse::{Decoder, Event};
use smcp_transport::stdio::ChildSpec;
use smcp_transport::stdio_backend::{
    SessionOwner, StdioBackend, StdioBackendOptions, StdioRequestContext,
};

/// A backend running the fake server, each child marked with a variable unique to this
/// backend so tests can find its processes.
pub(crate) struct Fixture {
    pub(crate) backend: StdioBackend,
    pub(crate) marker: String,
}

pub(crate) fn options() -> StdioBackendOptions {
    StdioBackendOptions {
        backend_id: Arc::from("fake"),
        spec: Arc::new(ChildSpec::new("fake", "unused")),
        stdio_timeout: Duration::from_secs(30),
        max_sessions: 64,
        max_sessions_per_principal: 64,
        session_idle_timeout: Duration::from_secs(600),
        sse_keepalive: Duration::from_secs(15),
        replay_buffer_events: 256,
        stall_timeout: Duration::from_secs(30),
        // Above the 4 MiB stdin queue, so the memory test can send a message that does not fit it.
        max_message_bytes: 8 * 1024 * 1024,
    }
}

pub(crate) fn fixture() -> Fixture {
    fixture_with(options())
}

pub(crate) fn fixture_with(mut opts: StdioBackendOptions) -> Fixture {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let marker = format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let bin = smcp_test_support::fake_mcp::fake_mcp_server_bin();
    let mut spec = ChildSpec::new("fake", bin.to_string_lossy().into_owned());
    spec.env
        .insert("FAKE_TEST_MARKER".to_owned(), marker.clone());
    opts.spec = Arc::new(spec);
    Fixture {
        backend: StdioBackend::new(opts),
        marker,
    }
}

impl Fixture {
    /// Running processes carrying this fixture's marker (a zombie's environment is empty, so
    /// check `/proc/<pid>` itself to know a process was reaped).
    pub(crate) fn children(&self) -> Vec<u32> {
        let needle = format!("FAKE_TEST_MARKER={}\0", self.marker);
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            if environ
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                pids.push(pid);
            }
        }
        pids
    }
}

pub(crate) fn owner() -> SessionOwner {
    SessionOwner::from_principal("https://issuer.test", "alice")
}

pub(crate) fn ctx(path: &str) -> StdioRequestContext {
    ctx_as(path, owner())
}

pub(crate) fn ctx_as(path: &str, owner: SessionOwner) -> StdioRequestContext {
    let (sub_path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (path.to_owned(), None),
    };
    StdioRequestContext {
        sub_path,
        query,
        public_prefix: "/v1/fake".to_owned(),
        owner,
        client: std::net::Ipv4Addr::LOCALHOST.into(),
    }
}

pub(crate) fn post(body: &Value, session: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/v1/fake/mcp")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(session) = session {
        req = req
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    req.body(body::full(body.to_string())).unwrap()
}

pub(crate) fn get(session: &str) -> Request<Body> {
    Request::builder()
        .method(Method::GET)
        .uri("/v1/fake/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .body(body::empty())
        .unwrap()
}

pub(crate) fn call(id: i64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":tool,"arguments":arguments}})
}

pub(crate) fn initialize_body(id: i64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{"sampling":{}},
        "clientInfo":{"name":"test","version":"0"}}})
}

/// Starts a session; returns its id.
pub(crate) async fn initialize(backend: &StdioBackend) -> String {
    let response = backend
        .handle(post(&initialize_body(0), None), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = json_body(response).await;
    assert_eq!(body["result"]["serverInfo"]["name"], "fake-mcp-server");
    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let response = backend
        .handle(post(&initialized, Some(&id)), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    id
}

pub(crate) fn content_type(response: &Response<Body>) -> &str {
    response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

pub(crate) async fn json_body(response: Response<Body>) -> Value {
    assert_eq!(content_type(&response), "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// Waits (bounded) until `done` holds.
pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Reads SSE events from a response body.
pub(crate) struct Sse {
    body: Body,
    decoder: Decoder,
    queued: VecDeque<Event>,
}

impl Sse {
    pub(crate) fn new(response: Response<Body>) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_type(&response), "text/event-stream");
        Sse {
            body: response.into_body(),
            decoder: Decoder::new(),
            queued: VecDeque::new(),
        }
    }

    /// The next event, or `None` once the stream ends.
    pub(crate) async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            let frame = tokio::time::timeout(Duration::from_secs(20), self.body.frame())
                .await
                .expect("no SSE event within 20 s")?
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.queued.extend(self.decoder.feed(&data).unwrap());
            }
        }
    }

    pub(crate) async fn next_json(&mut self) -> Value {
        let event = self.next().await.expect("stream ended");
        serde_json::from_slice(&event.data).unwrap()
    }
}
