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
//! `text/event-stream`, and the response is the last event of the stream.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::replay::{EventId, ReplayBuffer, StreamKind};
use crate::jsonrpc::Message;

/// How many encoded events may wait for a slow client before writers wait in turn.
pub(crate) const SINK_CAPACITY: usize = 32;

/// The shape of a POST answer, sent to the HTTP handler waiting for it.
pub(crate) enum Decision {
    /// `application/json` with exactly this response.
    Json(Message),
    /// `text/event-stream` fed by this receiver.
    Sse(mpsc::Receiver<Bytes>),
}

enum Mode {
    /// A POST stream before its first message; the HTTP handler waits on the other end.
    Undecided(oneshot::Sender<Decision>),
    /// An SSE stream, with the sink of the HTTP response currently carrying it, if any.
    Open(Option<mpsc::Sender<Bytes>>),
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
    replay: Arc<Mutex<ReplayBuffer>>,
}

/// Why a stream did not take an unsolicited message.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) Message);

impl StreamWriter {
    /// A POST stream, undecided until its first message.
    pub(crate) fn post(
        no: u64,
        decide: oneshot::Sender<Decision>,
        replay: Arc<Mutex<ReplayBuffer>>,
    ) -> SharedWriter {
        Self::shared(no, StreamKind::Post, 0, Mode::Undecided(decide), replay)
    }

    /// A GET stream writing to `sink`, continuing after `last_seq` (0 for a new stream).
    pub(crate) fn get(
        no: u64,
        last_seq: u64,
        sink: mpsc::Sender<Bytes>,
        replay: Arc<Mutex<ReplayBuffer>>,
    ) -> SharedWriter {
        Self::shared(
            no,
            StreamKind::Get,
            last_seq,
            Mode::Open(Some(sink)),
            replay,
        )
    }

    /// A GET stream re-registered after it was dropped, continuing after `last_seq`, with no
    /// client yet (see [`StreamWriter::attach`]).
    pub(crate) fn detached_get(
        no: u64,
        last_seq: u64,
        replay: Arc<Mutex<ReplayBuffer>>,
    ) -> SharedWriter {
        Self::shared(no, StreamKind::Get, last_seq, Mode::Open(None), replay)
    }

    fn shared(
        no: u64,
        kind: StreamKind,
        last_seq: u64,
        mode: Mode,
        replay: Arc<Mutex<ReplayBuffer>>,
    ) -> SharedWriter {
        Arc::new(tokio::sync::Mutex::new(StreamWriter {
            no,
            kind,
            last_seq,
            mode,
            replay,
        }))
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
            if last {
                self.decide_json(msg);
                return;
            }
            self.decide_sse();
        }
        if let Mode::Open(sink) = &mut self.mode {
            let event = next_event(self.no, &mut self.last_seq, &msg);
            lock(&self.replay).push(event.0, self.kind, event.1.clone());
            if let Some(tx) = sink
                && tx.send(event.1).await.is_err()
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
        if !self.is_live() {
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
        match tx.send(bytes.clone()).await {
            Ok(()) => {
                self.last_seq = seq;
                lock(&self.replay).push(id, self.kind, bytes);
                Ok(())
            }
            Err(_) => {
                self.mode = Mode::Open(None);
                Err(Refused(msg))
            }
        }
    }

    /// Attaches a new client to this stream after `after` (a `Last-Event-ID`): the buffered
    /// events after it are queued first, then live events follow. Any previous sink is
    /// dropped, which ends the response that carried it. For a finished stream the receiver
    /// yields the replay and then ends. `None` for an undecided stream (it has no ids yet).
    pub(crate) fn attach(&mut self, after: u64) -> Option<mpsc::Receiver<Bytes>> {
        if let Mode::Undecided(_) = self.mode {
            return None;
        }
        let (events, _) = lock(&self.replay).after(EventId {
            stream: self.no,
            seq: after,
        });
        let (tx, rx) = mpsc::channel(events.len() + SINK_CAPACITY);
        for event in events {
            // The channel was sized for the whole replay, so this cannot be full.
            let _ = tx.try_send(event);
        }
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
            let (tx, rx) = mpsc::channel(SINK_CAPACITY);
            if decide.send(Decision::Sse(rx)).is_ok() {
                self.mode = Mode::Open(Some(tx));
            }
        }
    }
}

/// Replays the buffered events of a stream that no longer has a writer (a finished POST
/// stream): a receiver that yields them and ends. Also reports the stream's kind, `None` when
/// nothing of it is buffered.
pub(crate) fn replay_only(
    replay: &Mutex<ReplayBuffer>,
    after: EventId,
) -> (mpsc::Receiver<Bytes>, Option<StreamKind>) {
    let (events, kind) = lock(replay).after(after);
    let (tx, rx) = mpsc::channel(events.len().max(1));
    for event in events {
        // Sized for all of them.
        let _ = tx.try_send(event);
    }
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
