//! The Streamable HTTP side of the stdio bridge: the session, requests and their replies, the
//! GET stream, transparent re-initialization, and the closing `DELETE`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use smcp_transport::jsonrpc::{self, Message, RequestId};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::headers::{self, SessionHeaders};
use super::messages::MessageReader;
use super::{Shared, protocol_version};
use crate::client::upstream::{MCP_SESSION_ID, RequestHead};

/// How `initialize` went.
pub(in crate::client::stdio) enum InitOutcome {
    /// Answered (successfully or with an error the host got).
    Done,
    /// 400, 404 or 405: the server may speak legacy SSE only. The message was not answered.
    Fallback(Message),
}

/// One Streamable HTTP session with the server.
pub(in crate::client::stdio) struct Streamable {
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// Serializes re-initializations.
    reinit: tokio::sync::Mutex<()>,
    get_task: Mutex<Option<JoinHandle<()>>>,
    closed: CancellationToken,
}

#[derive(Default)]
struct State {
    session: SessionHeaders,
    /// Bumped by every (re-)initialization.
    generation: u64,
    /// `initialize` was answered successfully: requests may now run concurrently.
    established: bool,
    /// The host's `initialize` and `notifications/initialized`, for replays.
    initialize: Option<Bytes>,
    initialized: Option<Bytes>,
}

/// Longest wait between two GET stream attempts.
const MAX_GET_BACKOFF: Duration = Duration::from_secs(10);

impl Streamable {
    pub(in crate::client::stdio) fn new(shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Streamable {
            shared,
            state: Mutex::new(State::default()),
            reinit: tokio::sync::Mutex::new(()),
            get_task: Mutex::new(None),
            closed: CancellationToken::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `initialize` succeeded (requests may then be handled concurrently).
    pub(in crate::client::stdio) fn is_established(&self) -> bool {
        self.state().established
    }

    fn snapshot(&self) -> (SessionHeaders, u64) {
        let state = self.state();
        (state.session.clone(), state.generation)
    }

    async fn post(
        &self,
        message: &Message,
        session: &SessionHeaders,
    ) -> Result<http::Response<smcp_transport::body::Body>, crate::client::UpstreamError> {
        let mut head = RequestHead::own(Method::POST);
        head.headers = headers::post(message, session);
        self.shared
            .upstream
            .send_bytes(&head, &self.shared.endpoint, message.bytes().clone())
            .await
    }

    /// Sends the host's `initialize`, relays the answer and takes the session from it.
    pub(in crate::client::stdio) async fn initialize(
        self: &Arc<Self>,
        message: Message,
    ) -> InitOutcome {
        let id = message.id().cloned();
        let response = match self.post(&message, &SessionHeaders::default()).await {
            Ok(response) => response,
            Err(error) => {
                self.fail(id.as_ref(), &error).await;
                return InitOutcome::Done;
            }
        };
        let status = response.status();
        if matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) {
            return InitOutcome::Fallback(message);
        }
        if !status.is_success() {
            self.shared.answer_failure(id.as_ref(), response).await;
            return InitOutcome::Done;
        }
        let session_id = response.headers().get(MCP_SESSION_ID).cloned();
        let mut reader = MessageReader::new(response);
        let mut version = None;
        let mut answered = false;
        loop {
            match reader.next().await {
                Ok(Some(reply)) => {
                    if reply.is_response() && reply.id() == id.as_ref() {
                        answered = true;
                        if !reply.is_error_response() {
                            version = protocol_version(&reply);
                        }
                    }
                    self.shared.out.send(&reply).await;
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "initialize reply broke off");
                    break;
                }
            }
        }
        if !answered {
            self.shared
                .out
                .error(
                    id.as_ref(),
                    jsonrpc::SERVER_ERROR,
                    "the server did not answer initialize",
                )
                .await;
            return InitOutcome::Done;
        }
        let Some(version) = version else {
            // An error answer: the host decides what to do next.
            return InitOutcome::Done;
        };
        let mut state = self.state();
        state.session = SessionHeaders {
            session_id,
            protocol_version: HeaderValue::from_str(&version).ok(),
        };
        state.generation += 1;
        state.established = true;
        state.initialize = Some(message.bytes().clone());
        tracing::info!(
            protocol = %version,
            session = state.session.session_id.is_some(),
            "MCP session initialized"
        );
        InitOutcome::Done
    }

    /// Handles any message but `initialize`.
    pub(in crate::client::stdio) async fn handle(self: Arc<Self>, message: Message) {
        if message.is_request() {
            self.request(message).await;
            return;
        }
        let is_initialized = message.method() == Some("notifications/initialized");
        if is_initialized {
            self.state().initialized = Some(message.bytes().clone());
        }
        self.deliver(&message).await;
        if is_initialized {
            self.start_get_stream();
        }
    }

    /// POSTs a request and relays everything the server sends back until its response.
    async fn request(self: &Arc<Self>, message: Message) {
        let id = message.id().cloned();
        for attempt in 0..2 {
            let (session, generation) = self.snapshot();
            let response = match self.post(&message, &session).await {
                Ok(response) => response,
                Err(error) => {
                    self.fail(id.as_ref(), &error).await;
                    return;
                }
            };
            let status = response.status();
            if status == StatusCode::NOT_FOUND && session.session_id.is_some() && attempt == 0 {
                drop(response);
                if let Err(problem) = self.reinitialize(generation).await {
                    self.shared
                        .out
                        .error(id.as_ref(), jsonrpc::SERVER_ERROR, &problem)
                        .await;
                    return;
                }
                continue;
            }
            if status == StatusCode::ACCEPTED {
                // The answer will come on another stream.
                return;
            }
            if !status.is_success() {
                self.shared.answer_failure(id.as_ref(), response).await;
                return;
            }
            self.relay_until_answer(MessageReader::new(response), id.as_ref())
                .await;
            return;
        }
    }

    async fn relay_until_answer(&self, mut reader: MessageReader, id: Option<&RequestId>) {
        let mut answered = false;
        loop {
            match reader.next().await {
                Ok(Some(reply)) => {
                    answered |= reply.is_response() && reply.id() == id;
                    self.shared.out.send(&reply).await;
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "a reply stream broke off");
                    break;
                }
            }
        }
        if !answered {
            self.shared
                .out
                .error(
                    id,
                    jsonrpc::SERVER_ERROR,
                    "the server closed the reply stream before answering",
                )
                .await;
        }
    }

    /// POSTs a notification or a response (the host's answer to a server request).
    async fn deliver(self: &Arc<Self>, message: &Message) {
        for attempt in 0..2 {
            let (session, generation) = self.snapshot();
            let response = match self.post(message, &session).await {
                Ok(response) => response,
                Err(error) => {
                    tracing::warn!(%error, method = message.method().unwrap_or("response"), "cannot deliver a message to the server");
                    return;
                }
            };
            let status = response.status();
            // After a restart the server has forgotten the session. A notification (other than
            // the ones about the old session) still makes sense in the new one; an answer to
            // a request of the old session does not.
            let replayable = message.is_notification()
                && !matches!(
                    message.method(),
                    Some("notifications/initialized" | "notifications/cancelled")
                );
            if status == StatusCode::NOT_FOUND
                && session.session_id.is_some()
                && attempt == 0
                && replayable
            {
                drop(response);
                if let Err(problem) = self.reinitialize(generation).await {
                    tracing::warn!(%problem, "cannot re-initialize the session");
                    return;
                }
                continue;
            }
            if !status.is_success() {
                tracing::warn!(%status, method = message.method().unwrap_or("response"), "the server refused a message");
            }
            // Drain whatever came back (normally nothing, with 202), relaying any messages.
            let mut reader = MessageReader::new(response);
            while let Ok(Some(reply)) = reader.next().await {
                self.shared.out.send(&reply).await;
            }
            return;
        }
    }

    async fn fail(&self, id: Option<&RequestId>, error: &crate::client::UpstreamError) {
        tracing::warn!(%error, "request not delivered");
        let error = error.proxy_error(self.shared.upstream.server_url());
        self.shared
            .out
            .error(id, error.code(), &error.message())
            .await;
    }

    /// Replays the host's `initialize` and `notifications/initialized` for a new session,
    /// unless a replay for `failed_generation` already happened.
    async fn reinitialize(self: &Arc<Self>, failed_generation: u64) -> Result<(), String> {
        let _one_at_a_time = self.reinit.lock().await;
        let (initialize, initialized) = {
            let state = self.state();
            if state.generation != failed_generation {
                return Ok(());
            }
            (state.initialize.clone(), state.initialized.clone())
        };
        let initialize =
            initialize.ok_or("the server forgot the session before it was initialized")?;
        let (bytes, internal_id) = self
            .shared
            .internal_copy(&initialize)
            .ok_or("cannot replay initialize")?;
        let message = jsonrpc::parse(bytes).map_err(|e| e.to_string())?;
        tracing::info!("the server no longer knows the session (restarted?): re-initializing");
        let response = self
            .post(&message, &SessionHeaders::default())
            .await
            .map_err(|e| {
                format!(
                    "re-initializing the session failed: {}",
                    e.message(self.shared.upstream.server_url())
                )
            })?;
        if !response.status().is_success() {
            return Err(format!(
                "re-initializing the session failed: the server answered HTTP {}",
                response.status()
            ));
        }
        let session_id = response.headers().get(MCP_SESSION_ID).cloned();
        let mut reader = MessageReader::new(response);
        let mut version = None;
        while let Ok(Some(reply)) = reader.next().await {
            if reply.is_response() && reply.id() == Some(&internal_id) {
                version = protocol_version(&reply);
            } else {
                self.shared.out.send(&reply).await;
            }
        }
        let version = version.ok_or("re-initializing the session failed: no initialize result")?;
        let session = SessionHeaders {
            session_id,
            protocol_version: HeaderValue::from_str(&version).ok(),
        };
        if let Some(initialized) = initialized {
            let notification = jsonrpc::parse(initialized).map_err(|e| e.to_string())?;
            match self.post(&notification, &session).await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "replayed notifications/initialized refused")
                }
                Err(error) => return Err(format!("re-initializing the session failed: {error}")),
            }
        }
        {
            let mut state = self.state();
            state.session = session;
            state.generation += 1;
        }
        tracing::info!(protocol = %version, "session re-initialized transparently");
        self.start_get_stream();
        Ok(())
    }

    /// (Re)starts the GET stream for the current session.
    fn start_get_stream(self: &Arc<Self>) {
        let (session, generation) = self.snapshot();
        if session.session_id.is_none() || self.closed.is_cancelled() {
            return;
        }
        let this = Arc::clone(self);
        let task = tokio::spawn(async move { this.get_loop(generation).await });
        let mut slot = self.get_task.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.replace(task) {
            old.abort();
        }
    }

    /// Keeps a GET stream open for server-initiated messages while the session lives.
    async fn get_loop(self: Arc<Self>, generation: u64) {
        let mut last_event_id: Option<String> = None;
        let mut failures: u32 = 0;
        let mut ever_opened = false;
        loop {
            let (session, current) = self.snapshot();
            if current != generation || self.closed.is_cancelled() {
                return;
            }
            let mut head = RequestHead::own(Method::GET);
            head.headers = headers::get(&session, last_event_id.as_deref());
            let result = self
                .shared
                .upstream
                .send_bytes(&head, &self.shared.endpoint, Bytes::new())
                .await;
            let mut delay = None;
            match result {
                Err(error) => {
                    tracing::debug!(%error, "GET stream: server unreachable");
                    failures += 1;
                }
                Ok(response) if response.status() == StatusCode::METHOD_NOT_ALLOWED => {
                    tracing::debug!("the server offers no GET stream");
                    return;
                }
                Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                    drop(response);
                    if ever_opened {
                        // The session is gone while the host is idle: renew it now, so
                        // server-initiated messages keep flowing.
                        let this = Arc::clone(&self);
                        tokio::spawn(async move {
                            if let Err(problem) = this.reinitialize(generation).await {
                                tracing::warn!(%problem, "cannot re-initialize the session");
                            }
                        });
                    }
                    return;
                }
                Ok(response) if response.status().is_success() => {
                    let mut reader = MessageReader::new(response);
                    if !reader.is_sse() {
                        tracing::debug!("the GET stream is not SSE; not using it");
                        return;
                    }
                    ever_opened = true;
                    failures = 0;
                    loop {
                        let next = tokio::select! {
                            next = reader.next() => next,
                            () = self.closed.cancelled() => return,
                        };
                        match next {
                            Ok(Some(message)) => self.shared.out.send(&message).await,
                            Ok(None) => break,
                            Err(error) => {
                                tracing::debug!(%error, "GET stream broke off");
                                break;
                            }
                        }
                    }
                    last_event_id = reader.last_event_id.clone().or(last_event_id);
                    delay = reader.retry_ms.map(Duration::from_millis);
                }
                Ok(response) => {
                    let status = response.status();
                    if status.is_client_error()
                        && status != StatusCode::REQUEST_TIMEOUT
                        && status != StatusCode::TOO_MANY_REQUESTS
                    {
                        tracing::debug!(%status, "the server refused the GET stream");
                        return;
                    }
                    failures += 1;
                }
            }
            let wait = delay.unwrap_or_else(|| {
                Duration::from_millis(500u64.saturating_mul(1 << failures.min(5)))
                    .min(MAX_GET_BACKOFF)
            });
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.closed.cancelled() => return,
            }
        }
    }

    /// Stops the GET stream and ends the session (`DELETE`).
    pub(in crate::client::stdio) async fn close(&self) {
        self.closed.cancel();
        if let Some(task) = self
            .get_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
        let (session, _) = self.snapshot();
        if session.session_id.is_none() {
            return;
        }
        let mut head = RequestHead::own(Method::DELETE);
        head.headers = headers::delete(&session);
        let delete = self
            .shared
            .upstream
            .send_bytes(&head, &self.shared.endpoint, Bytes::new());
        match tokio::time::timeout(Duration::from_secs(5), delete).await {
            Ok(Ok(response)) => tracing::debug!(status = %response.status(), "session ended"),
            Ok(Err(error)) => tracing::debug!(%error, "could not end the session"),
            Err(_) => tracing::debug!("ending the session timed out"),
        }
    }
}
