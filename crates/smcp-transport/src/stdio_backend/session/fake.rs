//! An in-memory MCP backend for the session layer's tests: deterministic, no processes, so
//! tests can run under paused time.
//!
//! Tools (`tools/call` by name): `echo` (answers `arguments.text`), `notify_first` (a
//! `notifications/message` first, then the answer), `slow` (never answers by itself),
//! `progress` (`arguments.steps` progress notifications every `arguments.every_ms`, then
//! the answer), `sample` (asks the client `sampling/createMessage` and answers with the
//! text of the client's reply), `fail` (a JSON-RPC error). Tests can also push unsolicited
//! messages, answer requests by hand, and crash the backend.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::stdio::Unsolicited;
use tokio_util::sync::CancellationToken;

use super::conn::{ConnError, ConnectError, Connector, McpConnection, MessageStream};
use crate::jsonrpc::{self, Message, RequestId};

/// Makes [`FakeConn`]s and remembers them.
#[derive(Default)]
pub(crate) struct FakeConnector {
    conns: Mutex<Vec<Arc<FakeConn>>>,
    /// When set, `connect` fails like a missing command.
    pub(crate) fail: AtomicBool,
}

impl FakeConnector {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(FakeConnector::default())
    }

    /// Every connection made so far.
    pub(crate) fn all(&self) -> Vec<Arc<FakeConn>> {
        self.conns.lock().unwrap().clone()
    }

    /// The latest connection.
    pub(crate) fn last(&self) -> Arc<FakeConn> {
        self.conns
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no connection yet")
    }
}

impl Connector for FakeConnector {
    fn connect(
        &self,
        _session: &str,
    ) -> BoxFuture<'static, Result<Arc<dyn McpConnection>, ConnectError>> {
        if self.fail.load(Ordering::SeqCst) {
            return Box::pin(async {
                Err(ConnectError {
                    public: "could not start the backend command \"fake\" (not_found)".into(),
                    detail: "command \"fake\" not found".into(),
                })
            });
        }
        let conn = FakeConn::new();
        self.conns.lock().unwrap().push(conn.clone());
        Box::pin(async move { Ok(conn as Arc<dyn McpConnection>) })
    }
}

#[derive(Default)]
struct State {
    pending: HashMap<RequestId, mpsc::UnboundedSender<Message>>,
    /// Our sampling requests to the client: their id -> the request waiting for the answer.
    sampling: HashMap<RequestId, RequestId>,
    unsolicited: Option<crate::budget::Sender<Message>>,
    received: Vec<Message>,
    closed: bool,
}

/// One fake backend.
pub(crate) struct FakeConn {
    state: Mutex<State>,
    unsolicited_rx: Mutex<Option<Unsolicited>>,
    gone: CancellationToken,
    /// Set once `stop` was called.
    pub(crate) stopped: AtomicBool,
    /// Requests seen.
    pub(crate) requests: AtomicUsize,
}

fn msg(value: Value) -> Message {
    jsonrpc::parse(Bytes::from(value.to_string())).unwrap()
}

impl FakeConn {
    fn new() -> Arc<Self> {
        let (tx, rx) = Unsolicited::channel(1 << 20);
        Arc::new(FakeConn {
            state: Mutex::new(State {
                unsolicited: Some(tx),
                ..State::default()
            }),
            unsolicited_rx: Mutex::new(Some(rx)),
            gone: CancellationToken::new(),
            stopped: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
        })
    }

    /// Sends an unsolicited message, as the child would.
    pub(crate) async fn push_unsolicited(&self, value: Value) {
        let tx = self.state.lock().unwrap().unsolicited.clone().unwrap();
        tx.send(msg(value)).await.unwrap();
    }

    /// Answers request `id` with `result`.
    pub(crate) fn respond(&self, id: &RequestId, result: Value) {
        let tx = self.state.lock().unwrap().pending.remove(id);
        let id_json: Value = serde_json::from_str(&id.to_json()).unwrap();
        if let Some(tx) = tx {
            let _ = tx.send(msg(json!({"jsonrpc":"2.0","id":id_json,"result":result})));
        }
    }

    /// Ids of requests waiting for an answer.
    pub(crate) fn pending(&self) -> Vec<RequestId> {
        self.state.lock().unwrap().pending.keys().cloned().collect()
    }

    /// What the client sent with `send` (and the cancellations smcp made), as JSON.
    pub(crate) fn received(&self) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state
            .received
            .iter()
            .map(|m| serde_json::from_slice(m.bytes()).unwrap())
            .collect()
    }

    /// The backend dies: requests in flight get -32603, the connection closes.
    pub(crate) fn crash(&self) {
        let mut state = self.state.lock().unwrap();
        state.closed = true;
        state.unsolicited = None;
        for (id, tx) in state.pending.drain() {
            let _ = tx.send(Message::error(
                Some(&id),
                jsonrpc::INTERNAL_ERROR,
                "backend process exited",
            ));
        }
        drop(state);
        self.gone.cancel();
    }

    /// True once the backend is gone.
    pub(crate) fn is_gone(&self) -> bool {
        self.gone.is_cancelled()
    }

    fn answer(&self, request: &Value, tx: &mpsc::UnboundedSender<Message>) -> bool {
        let id = request["id"].clone();
        let result = |result: Value| msg(json!({"jsonrpc":"2.0","id":id,"result":result}));
        let method = request["method"].as_str().unwrap_or_default();
        let params = &request["params"];
        let text = |t: &str| json!({"content":[{"type":"text","text":t}]});
        match method {
            "initialize" => {
                let version = params["protocolVersion"].as_str().unwrap_or("2025-06-18");
                let _ = tx.send(result(json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "fake", "version": "0"}
                })));
                true
            }
            "tools/list" => {
                let tools: Vec<Value> = ["echo", "notify_first", "slow", "progress", "sample"]
                    .iter()
                    .map(|n| json!({"name": n, "inputSchema": {"type": "object"}}))
                    .collect();
                let _ = tx.send(result(json!({ "tools": tools })));
                true
            }
            "ping" => {
                let _ = tx.send(result(json!({})));
                true
            }
            "tools/call" => {
                let args = &params["arguments"];
                match params["name"].as_str().unwrap_or_default() {
                    "echo" => {
                        let _ = tx.send(result(text(args["text"].as_str().unwrap_or_default())));
                        true
                    }
                    "notify_first" => {
                        let _ = tx.send(msg(
                            json!({"jsonrpc":"2.0","method":"notifications/message",
                            "params":{"level":"info","data":"first"}}),
                        ));
                        let _ = tx.send(result(text("after notification")));
                        true
                    }
                    "slow" => false,
                    "progress" => {
                        let steps = args["steps"].as_u64().unwrap_or(3);
                        let every = Duration::from_millis(args["every_ms"].as_u64().unwrap_or(10));
                        let token = params["_meta"]["progressToken"].clone();
                        let tx = tx.clone();
                        let done = result(text("progress done"));
                        tokio::spawn(async move {
                            for step in 1..=steps {
                                tokio::time::sleep(every).await;
                                let _ = tx.send(msg(json!({"jsonrpc":"2.0",
                                    "method":"notifications/progress",
                                    "params":{"progressToken":token,"progress":step,"total":steps}})));
                            }
                            tokio::time::sleep(every).await;
                            let _ = tx.send(done);
                        });
                        false
                    }
                    "sample" => {
                        let mut state = self.state.lock().unwrap();
                        let n = state.sampling.len();
                        let sample_id = format!("s-{n}");
                        let original: Message = msg(request.clone());
                        state.sampling.insert(
                            RequestId::from(sample_id.as_str()),
                            original.id().unwrap().clone(),
                        );
                        drop(state);
                        let _ = tx.send(msg(json!({"jsonrpc":"2.0","id":sample_id,
                            "method":"sampling/createMessage",
                            "params":{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}],
                                      "maxTokens":10}})));
                        false
                    }
                    _ => {
                        let _ = tx.send(msg(json!({"jsonrpc":"2.0","id":id,
                            "error":{"code":-32602,"message":"unknown tool"}})));
                        true
                    }
                }
            }
            _ => {
                let _ = tx.send(msg(json!({"jsonrpc":"2.0","id":id,
                    "error":{"code":-32601,"message":"method not found"}})));
                true
            }
        }
    }
}

impl McpConnection for FakeConn {
    fn request(&self, request: Message) -> Result<MessageStream, ConnError> {
        let id = request.id().unwrap().clone();
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut state = self.state.lock().unwrap();
            if state.closed {
                return Err(ConnError::Closed);
            }
            if state.pending.contains_key(&id) {
                return Err(ConnError::Rejected(format!(
                    "request id {id} is already in flight"
                )));
            }
            state.pending.insert(id.clone(), tx.clone());
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        let value: Value = serde_json::from_slice(request.bytes()).unwrap();
        if self.answer(&value, &tx) {
            self.state.lock().unwrap().pending.remove(&id);
        }
        // Like the real connection: the stream ends after the response.
        let stream = tokio_stream_until_response(rx, id);
        Ok(stream)
    }

    fn send(&self, m: Message) -> Result<(), ConnError> {
        let mut state = self.state.lock().unwrap();
        if state.closed {
            return Err(ConnError::Closed);
        }
        state.received.push(m.clone());
        let answered = m
            .id()
            .filter(|_| m.is_response())
            .and_then(|id| state.sampling.remove(id));
        if let Some(original) = answered {
            let value: Value = serde_json::from_slice(m.bytes()).unwrap();
            let text = value["result"]["content"]["text"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            drop(state);
            self.respond(
                &original,
                json!({"content":[{"type":"text","text":format!("sampled: {text}")}]}),
            );
        }
        Ok(())
    }

    fn cancel(&self, id: &RequestId, reason: &str) {
        let mut state = self.state.lock().unwrap();
        let Some(tx) = state.pending.remove(id) else {
            return;
        };
        state.received.push(msg(serde_json::from_slice(
            &jsonrpc::cancelled_notification(id, reason),
        )
        .unwrap()));
        drop(state);
        let _ = tx.send(Message::error(
            Some(id),
            jsonrpc::REQUEST_CANCELLED,
            "request cancelled",
        ));
    }

    fn take_unsolicited(&self) -> Option<Unsolicited> {
        self.unsolicited_rx.lock().unwrap().take()
    }

    fn is_closed(&self) -> bool {
        self.state.lock().unwrap().closed
    }

    fn closed(&self) -> BoxFuture<'static, String> {
        let gone = self.gone.clone();
        Box::pin(async move {
            gone.cancelled().await;
            "exit code 1".to_owned()
        })
    }

    fn stop(&self) -> BoxFuture<'static, ()> {
        self.stopped.store(true, Ordering::SeqCst);
        self.crash();
        Box::pin(async {})
    }
}

/// The messages of `rx` up to and including the response to `id`.
fn tokio_stream_until_response(
    rx: mpsc::UnboundedReceiver<Message>,
    id: RequestId,
) -> MessageStream {
    futures_util::stream::unfold((rx, id, false), |(mut rx, id, done)| async move {
        if done {
            return None;
        }
        let m = rx.recv().await?;
        let last = m.is_response() && m.id() == Some(&id);
        Some((m, (rx, id, last)))
    })
    .boxed()
}
