//! An incremental SSE decoder following the WHATWG event-stream interpretation rules.
//!
//! Input may be cut anywhere, including inside a CRLF pair or the leading BOM: a CR at the end
//! of a chunk ends the line at once and a following LF, whichever chunk it arrives in, is then
//! skipped. One event is buffered at most, and never more than the configured limit, so an
//! upstream that never ends its event cannot grow memory without bound.

use bytes::{BufMut, BytesMut};

use super::Event;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The default limit on one event's buffered size (partial line plus data, type and id).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Why the decoder gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// An event (or one line) grew past the limit; the stream cannot be decoded further.
    #[error("SSE event larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// Decodes a byte stream into [`Event`]s, chunk by chunk.
#[derive(Debug)]
pub struct Decoder {
    /// The leading BOM has been dealt with (skipped or found absent).
    started: bool,
    /// How many BOM bytes have matched so far while `!started`.
    bom_matched: usize,
    /// The previous chunk ended with CR: an LF first in the next one belongs to it.
    skip_lf: bool,
    /// The incomplete line carried over from the previous chunk.
    line: Vec<u8>,
    /// The data buffer: each data line followed by LF.
    data: BytesMut,
    id: Option<String>,
    event: Option<String>,
    retry: Option<u64>,
    last_event_id: String,
    reconnect_ms: Option<u64>,
    max_event_bytes: usize,
    failed: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with [`DEFAULT_MAX_EVENT_BYTES`].
    pub fn new() -> Self {
        Decoder::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder refusing events larger than `max_event_bytes`.
    pub fn with_max_event_bytes(max_event_bytes: usize) -> Self {
        Decoder {
            started: false,
            bom_matched: 0,
            skip_lf: false,
            line: Vec::new(),
            data: BytesMut::new(),
            id: None,
            event: None,
            retry: None,
            last_event_id: String::new(),
            reconnect_ms: None,
            max_event_bytes,
            failed: false,
        }
    }

    /// The stream's last event id: the value of the most recent `id` field, kept across events
    /// (what a client sends back as `Last-Event-ID`).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time: the most recent valid `retry` value, in milliseconds.
    pub fn reconnect_ms(&self) -> Option<u64> {
        self.reconnect_ms
    }

    /// Feeds the next chunk and returns the events it completed, in order.
    ///
    /// After an error the decoder stays failed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, DecodeError> {
        if self.failed {
            return Err(self.too_large());
        }
        let mut out = Vec::new();
        let mut i = 0;
        while !self.started && i < chunk.len() {
            if chunk[i] == BOM[self.bom_matched] {
                self.bom_matched += 1;
                i += 1;
                self.started = self.bom_matched == BOM.len();
            } else {
                // Not a BOM after all: the bytes that looked like one are content.
                self.started = true;
                let matched = self.bom_matched;
                self.process(&BOM[..matched], &mut out)?;
            }
        }
        if self.started {
            self.process(&chunk[i..], &mut out)?;
        }
        Ok(out)
    }

    fn too_large(&self) -> DecodeError {
        DecodeError::TooLarge {
            limit: self.max_event_bytes,
        }
    }

    fn fail(&mut self) -> DecodeError {
        self.failed = true;
        self.line = Vec::new();
        self.data = BytesMut::new();
        self.event = None;
        self.id = None;
        self.too_large()
    }

    fn process(&mut self, mut rest: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if self.skip_lf && !rest.is_empty() {
            self.skip_lf = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', rest) {
            if self.line.is_empty() {
                self.handle_line(&rest[..end], out)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&rest[..end]);
                self.handle_line(&line, out)?;
                line.clear();
                self.line = line;
            }
            let mut next = end + 1;
            if rest[end] == b'\r' {
                match rest.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            rest = &rest[next..];
        }
        if !rest.is_empty() {
            if self.line.len() + rest.len() + self.held() > self.max_event_bytes {
                return Err(self.fail());
            }
            self.line.extend_from_slice(rest);
        }
        Ok(())
    }

    /// The bytes the current event holds so far: its data, type and id.
    fn held(&self) -> usize {
        self.data.len()
            + self.event.as_ref().map_or(0, String::len)
            + self.id.as_ref().map_or(0, String::len)
    }

    fn handle_line(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                if self.held() + value.len() + 1 > self.max_event_bytes {
                    return Err(self.fail());
                }
                self.data.put_slice(value);
                self.data.put_u8(b'\n');
            }
            b"event" => {
                let event = String::from_utf8_lossy(value).into_owned();
                // A whole line in one chunk skips the partial-line bound: the type counts too.
                if self.held() - self.event.as_ref().map_or(0, String::len) + event.len()
                    > self.max_event_bytes
                {
                    return Err(self.fail());
                }
                self.event = Some(event);
            }
            // An id containing NUL is ignored.
            b"id" if !value.contains(&0) => {
                let id = String::from_utf8_lossy(value).into_owned();
                if self.held() - self.id.as_ref().map_or(0, String::len) + id.len()
                    > self.max_event_bytes
                {
                    return Err(self.fail());
                }
                self.last_event_id.clone_from(&id);
                self.id = Some(id);
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Digits only, so valid UTF-8; an overflowing value is ignored.
                if let Some(ms) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                    self.retry = Some(ms);
                    self.reconnect_ms = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        let id = self.id.take();
        let event = self.event.take();
        let retry = self.retry.take();
        if self.data.is_empty() {
            // No data line: per the standard, nothing is dispatched.
            return;
        }
        let mut data = self.data.split();
        data.truncate(data.len() - 1);
        out.push(Event {
            id,
            event,
            data: data.freeze(),
            retry,
        });
    }
}
