//! One SSE stream of a Streamable HTTP session, with a single writer.
//!
//! A stream is either the answer to one POST request or a GET stream. Its [`StreamWriter`]
//! sits behind an async mutex and every message for the stream is written while holding it,
//! so events keep their order and their ids even when the request's own messages and
//! unsolicited messages routed to it arrive from different tasks. A stream outlives the HTTP
//! response carrying it: when the client goes away the writer is *detached* (events still get
//! ids and go into the replay buffer), and a `GET` with `Last-Event-ID` attaches a new sink.
//!
//! A POST stream starts *undecided*: its first message picks the response shape. If that
//! message is the response, the answer is plain `application/json`; anything else (a related
//! notification or request, or an unsolicited message routed to it) switches the answer to
//! `text/event-stream`, and the response is the last event of the stream. What the client
//! accepts narrows that ([`Shape`]): a client that accepts only `application/json` gets its
//! response as JSON, or 406 when the answer would need a stream; one that accepts only
//! `text/event-stream` always gets a stream.
//!
//! Every response body is fed through a [`Sink`]: at most [`SINK_BYTES`] of events wait for
//! one slow client. A writer waits for room (so, further back, the child's stdout stops being
//! read) for at most the session's stall limit; then the sink is broken, which ends that
//! response, and the stream is detached: its events still go to the replay buffer, so the
//! client can come back with `Last-Event-ID`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::replay::{EventId, ReplayBuffer, StreamKind};
use crate::budget::{self, SendError};
use crate::jsonrpc::Message;

/// How many bytes of encoded events may wait for one slow client before writers wait in turn.
pub(crate) const SINK_BYTES: usize = 1024 * 1024;

/// The feeding end of one SSE response body.
pub(crate) type Sink = budget::Sender<Bytes>;
/// What one SSE response body reads.
pub(crate) type SinkRx = budget::Receiver<Bytes>;

/// A new sink and its receiving end.
pub(crate) fn sink() -> (Sink, SinkRx) {
    budget::channel(SINK_BYTES)
}

/// A new sink already holding `events` (a replay: those bytes are held by the replay buffer
/// anyway, so they take nothing from the sink's budget).
fn sink_with(events: Vec<Bytes>) -> (Sink, SinkRx) {
    let (tx, rx) = sink();
    for event in events {
        let _ = tx.force_send(event);
    }
    (tx, rx)
}

/// Sends `event` to a client's sink, waiting at most `stall` for room. Returns false when the
/// sink is gone: its client left, or was too slow and the sink was broken (counted for
/// `backend`).
pub(crate) async fn send_to(sink: &Sink, event: Bytes, stall: Duration, backend: &str) -> bool {
    match sink.send_within(event, stall).await {
        Ok(()) => true,
        Err(SendError::Closed(_)) => false,
        Err(SendError::Stalled(_)) => {
            super::metrics::stream_stalled(backend);
            tracing::warn!(
                backend = %backend,
                stall_secs = stall.as_secs_f64(),
                "a client read nothing of its SSE stream for the stall limit: ended it"
            );
            false
        }
    }
}

/// What the client of a POST accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Both: JSON when the answer is the response alone, else a stream.
    Either,
    /// `application/json` only.
    JsonOnly,
    /// `text/event-stream` only.
    SseOnly,
}

/// The shape of a POST answer, sent to the HTTP handler waiting for it.
pub(crate) enum Decision {
    /// `application/json` with exactly this response.
    Json(Message),
    /// `text/event-stream` fed by this receiver.
    Sse(SinkRx),
    /// The answer needs a stream but the client accepts only JSON: 406 (the request is
    /// cancelled).
    NeedsStream,
}

enum Mode {
    /// A POST stream before its first message; the HTTP handler waits on the other end.
    Undecided(oneshot::Sender<Decision>),
    /// An SSE stream, with the sink of the HTTP response currently carrying it, if any.
    Open(Option<Sink>),
    /// Over: the response was written (POST) or the stream was closed by the server.
    Finished,
}

/// A stream shared between the tasks that may write to it.
pub(crate) type SharedWriter = Arc<tokio::sync::Mutex<StreamWriter>>;

/// The writing end of one SSE stream.
pub(crate) struct StreamWriter {
    no: u64,
    kind: StreamKind,
    last_seq: u64,
    mode: Mode,
    shape: Shape,
    /// Set when a JSON-only client was refused a stream.
    refused: bool,
    replay: Arc<Mutex<ReplayBuffer>>,
    limits: Limits,
}

/// How long a writer waits for a slow client, and the label its give-ups are counted under.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) stall: Duration,
    pub(crate) backend: Arc<str>,
}

/// Why a stream did not take an unsolicited message.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) Message);

impl StreamWriter {
    /// A POST stream, undecided until its first message.
    pub(crate) fn post(
        no: u64,
        decide: oneshot::Sender<Decision>,
        shape: Shape,
        replay: Arc<Mutex<ReplayBuffer>>,
        limits: Limits,
    ) -> SharedWriter {
        let writer = StreamWriter {
            shape,
            ..Self::new(
                no,
                StreamKind::Post,
                0,
                Mode::Undecided(decide),
                replay,
                limits,
            )
        };
        Arc::new(tokio::sync::Mutex::new(writer))
    }

    /// A GET stream writing to `sink`, continuing after `last_seq` (0 for a new stream).
    pub(crate) fn get(
        no: u64,
        last_seq: u64,
        sink: Sink,
        replay: Arc<Mutex<ReplayBuffer>>,
        limits: Limits,
    ) -> SharedWriter {
        Self::shared(
            no,
            StreamKind::Get,
            last_seq,
            Mode::Open(Some(sink)),
            replay,
            limits,
        )
    }

    /// A GET stream re-registered after it was dropped, continuing after `last_seq`, with no
    /// client yet (see [`StreamWriter::attach`]).
    pub(crate) fn detached_get(
        no: u64,
        last_seq: u64,
        replay: Arc<Mutex<ReplayBuffer>>,
        limits: Limits,
    ) -> SharedWriter {
        Self::shared(
            no,
            StreamKind::Get,
            last_seq,
            Mode::Open(None),
            replay,
            limits,
        )
    }

    fn shared(
        no: u64,
        kind: StreamKind,
        last_seq: u64,
        mode: Mode,
        replay: Arc<Mutex<ReplayBuffer>>,
        limits: Limits,
    ) -> SharedWriter {
        Arc::new(tokio::sync::Mutex::new(Self::new(
            no, kind, last_seq, mode, replay, limits,
        )))
    }

    fn new(
        no: u64,
        kind: StreamKind,
        last_seq: u64,
        mode: Mode,
        replay: Arc<Mutex<ReplayBuffer>>,
        limits: Limits,
    ) -> Self {
        StreamWriter {
            no,
            kind,
            last_seq,
            mode,
            shape: Shape::Either,
            refused: false,
            replay,
            limits,
        }
    }

    /// True while a client is (as far as we know) reading this stream, or it is an undecided
    /// POST stream whose client still waits: the places an unsolicited message can go now.
    pub(crate) fn is_live(&self) -> bool {
        match &self.mode {
            Mode::Undecided(decide) => !decide.is_closed(),
            Mode::Open(Some(sink)) => !sink.is_closed(),
            Mode::Open(None) | Mode::Finished => false,
        }
    }

    /// Writes one of the request's own messages; `last` marks its response, which ends the
    /// stream. Never fails: with no client attached, the event still gets an id and is kept for
    /// replay. Writing to a finished stream does nothing.
    pub(crate) async fn write_own(&mut self, msg: Message, last: bool) {
        if let Mode::Undecided(_) = self.mode {
            if last && self.shape != Shape::SseOnly {
                self.decide_json(msg);
                return;
            }
            if self.shape == Shape::JsonOnly {
                self.refuse_stream();
                return;
            }
            self.decide_sse();
        }
        if let Mode::Open(sink) = &mut self.mode {
            let event = next_event(self.no, &mut self.last_seq, &msg);
            lock(&self.replay).push(event.0, self.kind, event.1.clone());
            if let Some(tx) = sink
                && !send_to(tx, event.1, self.limits.stall, &self.limits.backend).await
            {
                *sink = None;
            }
        }
        if last {
            self.mode = Mode::Finished;
        }
    }

    /// Offers an unsolicited message. The stream takes it only if a client is reading it now
    /// (an undecided POST stream switches to SSE for it); otherwise the message comes back so
    /// the caller can try elsewhere. A taken message is in the replay buffer too.
    pub(crate) async fn offer(&mut self, msg: Message) -> Result<(), Refused> {
        if !self.is_live() || (self.shape == Shape::JsonOnly && self.is_undecided()) {
            return Err(Refused(msg));
        }
        if let Mode::Undecided(_) = self.mode {
            self.decide_sse();
        }
        let Mode::Open(Some(tx)) = &mut self.mode else {
            return Err(Refused(msg));
        };
        // The id is only consumed once the client has the event, so a refused message leaves no
        // gap and no replay entry behind.
        let mut seq = self.last_seq;
        let (id, bytes) = next_event(self.no, &mut seq, &msg);
        // Sending and recording happen under this writer's lock, so a resume cannot slip in
        // between and miss the event.
        if send_to(tx, bytes.clone(), self.limits.stall, &self.limits.backend).await {
            self.last_seq = seq;
            lock(&self.replay).push(id, self.kind, bytes);
            Ok(())
        } else {
            self.mode = Mode::Open(None);
            Err(Refused(msg))
        }
    }

    /// Attaches a new client to this stream after `after` (a `Last-Event-ID`): the buffered
    /// events after it are queued first, then live events follow. Any previous sink is
    /// dropped, which ends the response that carried it. For a finished stream the receiver
    /// yields the replay and then ends. `None` for an undecided stream (it has no ids yet).
    pub(crate) fn attach(&mut self, after: u64) -> Option<SinkRx> {
        if let Mode::Undecided(_) = self.mode {
            return None;
        }
        let (events, _) = lock(&self.replay).after(EventId {
            stream: self.no,
            seq: after,
        });
        let (tx, rx) = sink_with(events);
        if let Mode::Open(sink) = &mut self.mode {
            *sink = Some(tx);
        }
        Some(rx)
    }

    fn decide_json(&mut self, msg: Message) {
        if let Mode::Undecided(decide) = std::mem::replace(&mut self.mode, Mode::Finished) {
            // If the client is gone there is no one to tell; the answer has no event id to
            // resume from, so it is not kept either.
            let _ = decide.send(Decision::Json(msg));
        }
    }

    fn decide_sse(&mut self) {
        if let Mode::Undecided(decide) = std::mem::replace(&mut self.mode, Mode::Open(None)) {
            let (tx, rx) = sink();
            if decide.send(Decision::Sse(rx)).is_ok() {
                self.mode = Mode::Open(Some(tx));
            }
        }
    }

    /// A JSON-only client whose answer turned out to need a stream: it gets 406, and the
    /// stream is over (the driver cancels the request when it sees [`Self::is_refused`]).
    fn refuse_stream(&mut self) {
        if let Mode::Undecided(decide) = std::mem::replace(&mut self.mode, Mode::Finished) {
            let _ = decide.send(Decision::NeedsStream);
        }
        self.refused = true;
    }

    fn is_undecided(&self) -> bool {
        matches!(self.mode, Mode::Undecided(_))
    }

    /// True once the answer was refused for needing a stream the client does not accept.
    pub(crate) fn is_refused(&self) -> bool {
        self.refused
    }
}

/// Replays the buffered events of a stream that no longer has a writer (a finished POST
/// stream): a receiver that yields them and ends. Also reports the stream's kind, `None` when
/// nothing of it is buffered.
pub(crate) fn replay_only(
    replay: &Mutex<ReplayBuffer>,
    after: EventId,
) -> (SinkRx, Option<StreamKind>) {
    let (events, kind) = lock(replay).after(after);
    let (_tx, rx) = sink_with(events);
    (rx, kind)
}

/// Encodes `msg` as the next event of stream `no`.
fn next_event(no: u64, last_seq: &mut u64, msg: &Message) -> (EventId, Bytes) {
    *last_seq += 1;
    let id = EventId {
        stream: no,
        seq: *last_seq,
    };
    (id, message_event(msg.bytes().clone(), Some(id)))
}

/// One `event: message` SSE event carrying `data` byte for byte, with `id` if given.
pub(crate) fn message_event(data: Bytes, id: Option<EventId>) -> Bytes {
    crate::sse::encode(&crate::sse::Event {
        id: id.map(|id| id.to_string()),
        event: Some("message".to_owned()),
        data,
        retry: None,
    })
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
