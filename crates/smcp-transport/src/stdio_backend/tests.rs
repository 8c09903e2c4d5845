//! Service-level tests of the stdio backend: hand-built requests into
//! [`StdioBackend::handle`], an in-memory backend behind it (see `session::fake`), so time can
//! be paused and nothing touches a socket or a process.

mod legacy;
mod lifecycle;
mod limits;
mod routing;
mod streamable;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ::http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use super::{StdioBackend, StdioBackendOptions, StdioRequestContext};
use crate::body::{self, Body};
use crate::owner::SessionOwner;
use crate::sse::{Decoder, Event};
use crate::stdio::ChildSpec;
use crate::stdio_backend::session::fake::FakeConnector;

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

fn options() -> StdioBackendOptions {
    StdioBackendOptions {
        backend_id: Arc::from("fake"),
        spec: Arc::new(ChildSpec::new("fake", "fake-mcp")),
        stdio_timeout: Duration::from_secs(30),
        max_sessions: 8,
        max_sessions_per_principal: 8,
        session_idle_timeout: Duration::from_secs(600),
        sse_keepalive: Duration::from_secs(15),
        replay_buffer_events: 64,
        stall_timeout: Duration::from_secs(30),
        max_message_bytes: 4 * 1024 * 1024,
    }
}

/// A backend over a fresh fake connector.
fn backend_with(opts: StdioBackendOptions) -> (StdioBackend, Arc<FakeConnector>) {
    let fake = FakeConnector::new();
    (StdioBackend::with_connector(&opts, fake.clone()), fake)
}

fn backend() -> (StdioBackend, Arc<FakeConnector>) {
    backend_with(options())
}

fn owner() -> SessionOwner {
    SessionOwner::from_principal("https://issuer.test", "alice")
}

fn ctx(path: &str) -> StdioRequestContext {
    ctx_as(path, owner())
}

fn ctx_as(path: &str, owner: SessionOwner) -> StdioRequestContext {
    ctx_from(path, owner, std::net::Ipv4Addr::LOCALHOST.into())
}

fn ctx_from(path: &str, owner: SessionOwner, client: std::net::IpAddr) -> StdioRequestContext {
    let (sub_path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (path.to_owned(), None),
    };
    StdioRequestContext {
        sub_path,
        query,
        public_prefix: "/v1/fake".to_owned(),
        owner,
        client,
    }
}

/// A Streamable HTTP POST of `body`, in session `session` if given.
fn post(body: &Value, session: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header("accept", ACCEPT_BOTH)
        .header("content-type", "application/json");
    if let Some(session) = session {
        req = req
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    req.body(body::full(body.to_string())).unwrap()
}

/// A GET for session `session`'s stream, resuming after `last` if given.
fn get(session: &str, last: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(last) = last {
        req = req.header("last-event-id", last);
    }
    req.body(body::empty()).unwrap()
}

fn delete(session: &str) -> Request<Body> {
    Request::builder()
        .method(Method::DELETE)
        .uri("/mcp")
        .header("mcp-session-id", session)
        .body(body::empty())
        .unwrap()
}

fn initialize_body(id: i64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},
        "clientInfo":{"name":"test","version":"0"}}})
}

fn call(id: i64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":tool,"arguments":arguments}})
}

/// Initializes a session and returns its id.
async fn initialize(backend: &StdioBackend) -> String {
    let response = backend
        .handle(post(&initialize_body(0), None), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = json_body(response).await;
    assert_eq!(body["result"]["serverInfo"]["name"], "fake");
    id
}

/// Lets every other task run until all are waiting (time is paused in these tests, so it
/// only advances once nothing else can make progress).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

fn content_type(response: &Response<Body>) -> &str {
    response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

async fn json_body(response: Response<Body>) -> Value {
    assert_eq!(content_type(&response), "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// Reads SSE events from a response body.
struct Sse {
    body: Body,
    decoder: Decoder,
    queued: VecDeque<Event>,
}

impl Sse {
    fn new(response: Response<Body>) -> Self {
        assert_eq!(content_type(&response), "text/event-stream");
        Sse {
            body: response.into_body(),
            decoder: Decoder::new(),
            queued: VecDeque::new(),
        }
    }

    /// The next event (keepalive comments skipped), or `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            let frame = self.body.frame().await?.unwrap();
            if let Ok(data) = frame.into_data() {
                self.queued.extend(self.decoder.feed(&data).unwrap());
            }
        }
    }

    /// The next event's data as JSON.
    async fn next_json(&mut self) -> (Event, Value) {
        let event = self.next().await.expect("stream ended");
        let value = serde_json::from_slice(&event.data).unwrap();
        (event, value)
    }
}
