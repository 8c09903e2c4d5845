//! SSE event ids and the bounded per-session replay buffer behind `Last-Event-ID`.
//!
//! Every SSE stream of a session has a number, and every event on it a sequence number, so an
//! event id `<stream>-<seq>` is unique within the session and names the stream it belongs to.
//! The buffer keeps the last N events of the whole session (all streams together, oldest
//! evicted first); a resuming client gets exactly the buffered events of its stream after the
//! id it last saw. Events already evicted are gone: resumability is best effort by design.

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;

/// Which kind of stream an event went out on; decides what a resume does once replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// The response stream of one POST request: it ends with the response.
    Post,
    /// A GET stream for messages not tied to a request: it has no natural end.
    Get,
}

/// The id of one SSE event: `<stream>-<seq>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventId {
    /// The stream number, unique within the session.
    pub(crate) stream: u64,
    /// The event's position on its stream, starting at 1.
    pub(crate) seq: u64,
}

impl EventId {
    /// Parses a `Last-Event-ID` value; `None` for anything we could not have issued.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let (stream, seq) = value.trim().split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(stream) || !digits(seq) {
            return None;
        }
        Some(EventId {
            stream: stream.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.stream, self.seq)
    }
}

/// One buffered event, already encoded as SSE bytes (id line included).
struct Stored {
    id: EventId,
    kind: StreamKind,
    bytes: Bytes,
}

/// The session's last events, across all its streams: at most `capacity` of them and, the
/// newest one aside, at most `max_bytes` together (messages can be megabytes each).
pub(crate) struct ReplayBuffer {
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    events: VecDeque<Stored>,
}

impl ReplayBuffer {
    /// A buffer holding at most `capacity` events (0 disables replay) and `max_bytes` bytes.
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        ReplayBuffer {
            capacity,
            max_bytes,
            bytes: 0,
            events: VecDeque::with_capacity(capacity.min(64)),
        }
    }

    /// Records an event, evicting the oldest ones to stay within the limits.
    pub(crate) fn push(&mut self, id: EventId, kind: StreamKind, bytes: Bytes) {
        if self.capacity == 0 {
            return;
        }
        while self.events.len() >= self.capacity
            || (!self.events.is_empty() && self.bytes + bytes.len() > self.max_bytes)
        {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.bytes.len();
            }
        }
        self.bytes += bytes.len();
        self.events.push_back(Stored { id, kind, bytes });
    }

    /// The buffered events of `after.stream` with a sequence number above `after.seq`, in
    /// order, and the stream's kind if any of its events is still buffered.
    pub(crate) fn after(&self, after: EventId) -> (Vec<Bytes>, Option<StreamKind>) {
        let mut kind = None;
        let mut out = Vec::new();
        for event in self.events.iter().filter(|e| e.id.stream == after.stream) {
            kind = Some(event.kind);
            if event.id.seq > after.seq {
                out.push(event.bytes.clone());
            }
        }
        (out, kind)
    }

    /// The highest sequence number buffered for `stream` (0 when none).
    pub(crate) fn last_seq(&self, stream: u64) -> u64 {
        self.events
            .iter()
            .filter(|e| e.id.stream == stream)
            .map(|e| e.id.seq)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(stream: u64, seq: u64) -> EventId {
        EventId { stream, seq }
    }

    #[test]
    fn event_ids_round_trip_and_reject_foreign_values() {
        assert_eq!(EventId::parse("3-17"), Some(id(3, 17)));
        assert_eq!(id(3, 17).to_string(), "3-17");
        for bad in [
            "",
            "3",
            "-1",
            "3-",
            "a-1",
            "3-1-2",
            "+3-1",
            "99999999999999999999-1",
        ] {
            assert_eq!(EventId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn after_returns_only_later_events_of_that_stream() {
        let mut buf = ReplayBuffer::new(10, 1 << 20);
        buf.push(id(1, 1), StreamKind::Post, Bytes::from("a"));
        buf.push(id(2, 1), StreamKind::Get, Bytes::from("x"));
        buf.push(id(1, 2), StreamKind::Post, Bytes::from("b"));
        buf.push(id(1, 3), StreamKind::Post, Bytes::from("c"));
        let (events, kind) = buf.after(id(1, 1));
        assert_eq!(events, vec![Bytes::from("b"), Bytes::from("c")]);
        assert_eq!(kind, Some(StreamKind::Post));
        assert_eq!(buf.after(id(2, 1)), (vec![], Some(StreamKind::Get)));
        assert_eq!(buf.after(id(9, 0)), (vec![], None));
        assert_eq!(buf.last_seq(1), 3);
        assert_eq!(buf.last_seq(9), 0);
    }

    #[test]
    fn the_oldest_events_are_evicted_first() {
        let mut buf = ReplayBuffer::new(2, 1 << 20);
        for seq in 1..=3 {
            buf.push(id(1, seq), StreamKind::Get, Bytes::from(seq.to_string()));
        }
        assert_eq!(
            buf.after(id(1, 0)).0,
            vec![Bytes::from("2"), Bytes::from("3")]
        );
        let mut off = ReplayBuffer::new(0, 1 << 20);
        off.push(id(1, 1), StreamKind::Get, Bytes::from("a"));
        assert_eq!(off.after(id(1, 0)), (vec![], None));
    }

    #[test]
    fn the_byte_budget_evicts_too_but_keeps_the_newest_event() {
        let mut buf = ReplayBuffer::new(100, 10);
        buf.push(id(1, 1), StreamKind::Post, Bytes::from("aaaa"));
        buf.push(id(1, 2), StreamKind::Post, Bytes::from("bbbb"));
        buf.push(id(1, 3), StreamKind::Post, Bytes::from("cccc"));
        assert_eq!(
            buf.after(id(1, 0)).0,
            vec![Bytes::from("bbbb"), Bytes::from("cccc")]
        );
        buf.push(id(1, 4), StreamKind::Post, Bytes::from("a very long event"));
        assert_eq!(
            buf.after(id(1, 0)).0,
            vec![Bytes::from("a very long event")]
        );
        buf.push(id(1, 5), StreamKind::Post, Bytes::from("d"));
        assert_eq!(buf.after(id(1, 0)).0, vec![Bytes::from("d")]);
    }
}
