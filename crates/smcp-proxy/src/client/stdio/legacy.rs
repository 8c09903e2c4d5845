//! The legacy HTTP+SSE (2024-11-05) side of the stdio bridge.
//!
//! A GET opens the SSE stream; its first `endpoint` event names where to POST messages
//! (same origin only: the bearer token goes there). Every POST is answered `202`; replies come
//! on the stream. When the stream is lost, requests still waiting for a reply are answered with
//! an error, and the next message reconnects and replays the host's `initialize` and
//! `notifications/initialized` (the answer to the replay is not shown to the host).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use smcp_transport::jsonrpc::{self, Message, RequestId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use super::Shared;
use super::messages::MessageReader;
use crate::client::upstream::RequestHead;

/// How long a replayed `initialize` may take.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(30);

/// One legacy SSE connection (and its replacements).
pub(in crate::client::stdio) struct Legacy {
    shared: Arc<Shared>,
    /// SSE URLs (paths on the server's origin) to try, in order.
    sse_paths: Vec<String>,
    /// Serializes connecting.
    connecting: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Where to POST, while connected, and the connection's number.
    post_path: Option<(String, u64)>,
    connections: u64,
    reader: Option<JoinHandle<()>>,
    /// Host requests waiting for their reply.
    pending: HashSet<RequestId>,
    /// Our own replayed requests, whose replies are taken off the stream.
    internal: HashMap<RequestId, oneshot::Sender<Message>>,
    initialize: Option<Bytes>,
    initialized: Option<Bytes>,
    established: bool,
    closed: bool,
}

impl Legacy {
    /// `fallback`: the server refused Streamable HTTP at the URL, so its SSE stream may also be
    /// at `<url>/sse`.
    pub(in crate::client::stdio) fn new(shared: Arc<Shared>, fallback: bool) -> Arc<Self> {
        let endpoint = shared.endpoint.clone();
        let mut sse_paths = vec![endpoint.clone()];
        let (path, query) = match endpoint.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (endpoint.clone(), None),
        };
        if fallback && !path.trim_end_matches('/').ends_with("/sse") {
            let mut alt = format!("{}/sse", path.trim_end_matches('/'));
            if let Some(query) = query {
                alt = format!("{alt}?{query}");
            }
            sse_paths.push(alt);
        }
        Arc::new(Legacy {
            shared,
            sse_paths,
            connecting: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the host's `initialize` was sent (requests may then run concurrently).
    pub(in crate::client::stdio) fn is_established(&self) -> bool {
        self.state().established
    }

    /// Sends one host message.
    pub(in crate::client::stdio) async fn handle(self: &Arc<Self>, message: Message) {
        match message.method() {
            Some("initialize") if message.is_request() => {
                let mut state = self.state();
                state.initialize = Some(message.bytes().clone());
                state.established = true;
            }
            Some("notifications/initialized") => {
                self.state().initialized = Some(message.bytes().clone());
            }
            _ => {}
        }
        let id = message.id().cloned().filter(|_| message.is_request());
        for attempt in 0..2 {
            let post_path = match self.connected().await {
                Ok(path) => path,
                Err(problem) => {
                    tracing::warn!(%problem, "cannot open the legacy SSE stream");
                    self.shared
                        .out
                        .error(id.as_ref(), jsonrpc::SERVER_ERROR, &problem)
                        .await;
                    return;
                }
            };
            if let Some(id) = &id {
                self.state().pending.insert(id.clone());
            }
            let response = match self.post(&post_path.0, message.bytes().clone()).await {
                Ok(response) => response,
                Err(error) => {
                    self.forget(id.as_ref());
                    let error = error.proxy_error(self.shared.upstream.server_url());
                    self.shared
                        .out
                        .error(id.as_ref(), error.code(), &error.message())
                        .await;
                    return;
                }
            };
            let status = response.status();
            if status == StatusCode::NOT_FOUND && attempt == 0 && message.is_request() {
                // The server forgot the connection: reconnect (and replay) and send again.
                drop(response);
                self.forget(id.as_ref());
                self.disconnect(post_path.1, "the server no longer knows the session");
                continue;
            }
            if !status.is_success() {
                self.forget(id.as_ref());
                self.shared.answer_failure(id.as_ref(), response).await;
                return;
            }
            return;
        }
    }

    fn forget(&self, id: Option<&RequestId>) {
        if let Some(id) = id {
            self.state().pending.remove(id);
        }
    }

    async fn post(
        &self,
        path: &str,
        body: Bytes,
    ) -> Result<http::Response<smcp_transport::body::Body>, crate::client::UpstreamError> {
        let mut head = RequestHead::own(Method::POST);
        head.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.shared.upstream.send_bytes(&head, path, body).await
    }

    /// The POST path of a live connection, connecting (and replaying) first when needed.
    async fn connected(self: &Arc<Self>) -> Result<(String, u64), String> {
        if let Some(path) = self.state().post_path.clone() {
            return Ok(path);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(path) = self.state().post_path.clone() {
            return Ok(path);
        }
        let replay = {
            let state = self.state();
            // A replay is due when the host's initialize went out on an earlier connection.
            (state.connections > 0).then(|| (state.initialize.clone(), state.initialized.clone()))
        };
        let connection = self.connect().await?;
        if let Some((Some(initialize), initialized)) = replay {
            self.replay(&connection.0, &initialize, initialized).await?;
        }
        Ok(connection)
    }

    /// Opens the SSE stream, reads the endpoint and starts the reader.
    async fn connect(self: &Arc<Self>) -> Result<(String, u64), String> {
        let mut problems = Vec::new();
        for sse_path in &self.sse_paths {
            let mut head = RequestHead::own(Method::GET);
            head.headers = HeaderMap::new();
            head.headers
                .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
            let response = match self
                .shared
                .upstream
                .send_bytes(&head, sse_path, Bytes::new())
                .await
            {
                Ok(response) => response,
                Err(error) => return Err(error.message(self.shared.upstream.server_url())),
            };
            if !response.status().is_success() {
                problems.push(format!("GET {sse_path}: HTTP {}", response.status()));
                continue;
            }
            let mut reader = MessageReader::new(response);
            if !reader.is_sse() {
                problems.push(format!("GET {sse_path}: not an SSE stream"));
                continue;
            }
            let endpoint = match reader.next_endpoint().await {
                Ok(Some(endpoint)) => endpoint,
                _ => {
                    problems.push(format!("GET {sse_path}: no endpoint event"));
                    continue;
                }
            };
            let post_path = self.resolve(sse_path, &endpoint)?;
            let this = Arc::clone(self);
            let mut state = self.state();
            state.connections += 1;
            let number = state.connections;
            state.post_path = Some((post_path.clone(), number));
            if let Some(old) = state.reader.take() {
                old.abort();
            }
            state.reader = Some(tokio::spawn(async move { this.read(reader, number).await }));
            tracing::info!(sse = %sse_path, "legacy SSE stream open");
            return Ok((post_path, number));
        }
        Err(format!(
            "the server offers neither Streamable HTTP nor legacy SSE here ({})",
            problems.join("; ")
        ))
    }

    /// The endpoint event's URI as a path on the server's origin; other origins are refused
    /// (the token must not go there).
    fn resolve(&self, sse_path: &str, endpoint: &str) -> Result<String, String> {
        let server = self.shared.upstream.server_url();
        let base = server
            .join(sse_path)
            .map_err(|e| format!("bad SSE path: {e}"))?;
        let target: Url = base
            .join(endpoint)
            .map_err(|e| format!("the server's endpoint {endpoint:?} is not a URL: {e}"))?;
        if target.origin() != server.origin() {
            return Err(format!(
                "the server's endpoint {target} is on another origin; refusing to send the token there"
            ));
        }
        Ok(match target.query() {
            Some(query) => format!("{}?{query}", target.path()),
            None => target.path().to_owned(),
        })
    }

    /// Relays the stream of connection `number` until it ends.
    async fn read(self: Arc<Self>, mut reader: MessageReader, number: u64) {
        loop {
            match reader.next().await {
                Ok(Some(message)) => {
                    if message.is_response()
                        && let Some(id) = message.id()
                    {
                        let mut state = self.state();
                        if let Some(waiter) = state.internal.remove(id) {
                            let _ = waiter.send(message);
                            continue;
                        }
                        state.pending.remove(id);
                    }
                    self.shared.out.send(&message).await;
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "legacy SSE stream broke off");
                    break;
                }
            }
        }
        self.disconnect(number, "the SSE stream ended");
        let pending: Vec<RequestId> = self.state().pending.drain().collect();
        for id in pending {
            self.shared
                .out
                .error(
                    Some(&id),
                    jsonrpc::SERVER_ERROR,
                    "the connection to the server was lost before it answered",
                )
                .await;
        }
    }

    /// Forgets connection `number` (if still current), so the next message reconnects.
    fn disconnect(&self, number: u64, why: &str) {
        let mut state = self.state();
        if state.post_path.as_ref().is_some_and(|(_, n)| *n == number) {
            if !state.closed {
                tracing::info!(
                    reason = why,
                    "legacy SSE connection lost; the next message reconnects"
                );
            }
            state.post_path = None;
        }
    }

    /// Replays the host's handshake on a new connection.
    async fn replay(
        &self,
        post_path: &str,
        initialize: &Bytes,
        initialized: Option<Bytes>,
    ) -> Result<(), String> {
        let (bytes, id) = self
            .shared
            .internal_copy(initialize)
            .ok_or("cannot replay initialize")?;
        let (tx, rx) = oneshot::channel();
        self.state().internal.insert(id.clone(), tx);
        let sent = self.post(post_path, bytes).await;
        if !sent.as_ref().is_ok_and(|r| r.status().is_success()) {
            self.state().internal.remove(&id);
            return Err("re-initializing over legacy SSE failed".into());
        }
        match tokio::time::timeout(REPLAY_TIMEOUT, rx).await {
            Ok(Ok(reply)) if !reply.is_error_response() => {}
            _ => {
                self.state().internal.remove(&id);
                return Err("re-initializing over legacy SSE failed: no initialize result".into());
            }
        }
        if let Some(initialized) = initialized {
            let _ = self.post(post_path, initialized).await;
        }
        tracing::info!("legacy SSE session re-initialized transparently");
        Ok(())
    }

    /// Stops reading; the server ends the session when the stream closes.
    pub(in crate::client::stdio) async fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        if let Some(reader) = state.reader.take() {
            reader.abort();
        }
    }
}
