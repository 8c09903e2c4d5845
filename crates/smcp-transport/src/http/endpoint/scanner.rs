//! A streaming SSE line scanner that checks and rewrites the data of `endpoint` events and
//! nothing else, and reports the first one to an observer (see `observer`) when there is one.
//!
//! It is deliberately minimal and self-contained (not a full SSE decoder): it only needs to
//! recognise the start of `event:` and `data:` lines and where lines end (CR, LF or CRLF, as
//! SSE allows, possibly split across chunks). Every other byte passes straight through in the
//! chunk it arrived in, zero-copy when nothing in the chunk had to be held or changed. The only
//! bytes held back across chunks are: the first few bytes of a line until it is clear whether
//! it is an `event:`/`data:` line, a whole `event:` line (to read the event type, capped), and
//! the first `data:` line of an `endpoint` event (to rewrite it, capped).
//!
//! An endpoint event is checked when its `event: endpoint` line comes before its one data line,
//! which is how every MCP SDK writes it. Since a client acts on an event only at the blank line
//! that ends it, the scanner also keeps count of each event's type and data lines, and refuses
//! (returns an error instead of releasing the blank line) an endpoint event whose data it could
//! not check: data before the `event:` line, several data lines, or data longer than the cap.
//! The stream's end refuses the same way while such an event is pending.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use super::observer::ObserverSlot;
use super::{EndpointPolicy, EndpointRefused};

/// Longest `event:` line examined; longer ones cannot be `event: endpoint` and pass through.
const MAX_EVENT_LINE: usize = 64;
/// Longest endpoint `data:` line held for checking and rewriting; a longer one is refused.
const MAX_DATA_LINE: usize = 16 * 1024;
/// The UTF-8 byte order mark an SSE stream may start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";
const EVENT_FIELD: &[u8] = b"event:";
const DATA_FIELD: &[u8] = b"data:";

/// Where the scanner is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// At the very start of the stream, possibly inside a byte order mark (`n` bytes seen).
    Bom { n: usize },
    /// At the start of a line: `n` bytes seen, which still match the start of `event:`
    /// (`event`) and/or `data:` (`data`).
    Start { n: usize, event: bool, data: bool },
    /// Inside a line that passes through unchanged.
    Pass,
    /// Inside an `event:` line, held to read the event type.
    HoldEvent,
    /// Inside the first `data:` line of an endpoint event, held to rewrite it.
    HoldData,
}

impl Line {
    const START: Self = Self::Start {
        n: 0,
        event: true,
        data: true,
    };
}

/// What the current event is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// No `event:` line yet.
    Unknown,
    /// An `endpoint` event whose data has not been rewritten yet.
    Endpoint,
    /// Any other event, or an endpoint event already rewritten.
    Other,
}

/// The incremental rewriter: feed it chunks in order, then [`finish`](Self::finish).
#[derive(Debug)]
pub(in crate::http) struct EndpointScanner {
    policy: EndpointPolicy,
    observer: Option<ObserverSlot>,
    line: Line,
    event: Event,
    /// The current event's type is `endpoint` (its last `event:` line said so).
    endpoint_type: bool,
    /// Data lines in the current event so far.
    data_lines: u32,
    /// The current event's data line was checked (and rewritten) as an endpoint.
    checked: bool,
    /// Bytes of the current line from earlier chunks, not yet released.
    held: Vec<u8>,
    /// The previous line ended in CR: a following LF belongs to that line ending.
    after_cr: bool,
}

impl EndpointScanner {
    /// A scanner checking and rewriting endpoint events by `policy` and telling `observer`
    /// (if any) about them.
    pub(in crate::http) fn new(policy: EndpointPolicy, observer: Option<ObserverSlot>) -> Self {
        Self {
            policy,
            observer,
            line: Line::Bom { n: 0 },
            event: Event::Unknown,
            endpoint_type: false,
            data_lines: 0,
            checked: false,
            held: Vec::new(),
            after_cr: false,
        }
    }

    /// Scans the next chunk and returns the bytes that can be released now, or why the stream
    /// must end (nothing of this chunk is released then).
    pub(in crate::http) fn feed(&mut self, chunk: &Bytes) -> Result<Bytes, EndpointRefused> {
        let bytes = &chunk[..];
        let mut out = Output::new(chunk);
        // Start in this chunk of the current line's bytes not yet released.
        let mut line_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if self.after_cr {
                self.after_cr = false;
                if bytes[i] == b'\n' {
                    out.range(i, i + 1);
                    i += 1;
                    line_start = i;
                    continue;
                }
            }
            match self.line {
                Line::Bom { n } => {
                    if bytes[i] == BOM[n] {
                        i += 1;
                        if n + 1 == BOM.len() {
                            self.release(&mut out, line_start, i);
                            line_start = i;
                            self.line = Line::START;
                        } else {
                            self.line = Line::Bom { n: n + 1 };
                        }
                    } else if n == 0 {
                        self.line = Line::START;
                    } else {
                        // A broken byte order mark: not a field we care about.
                        self.release(&mut out, line_start, i);
                        line_start = i;
                        self.line = Line::Pass;
                    }
                }
                Line::Start { n, event, data } => {
                    let c = bytes[i];
                    if c == b'\r' || c == b'\n' {
                        // The line ended before it could be told apart: it is empty, or a
                        // bare field name.
                        match (n, event, data) {
                            (0, _, _) => self.end_event()?,
                            (5, true, _) => {
                                // "event" alone: the type becomes the default one.
                                self.event = Event::Other;
                                self.endpoint_type = false;
                            }
                            (4, _, true) => self.data_lines += 1, // "data" alone
                            _ => {}
                        }
                        self.release(&mut out, line_start, i + 1);
                        self.end_line(c);
                        i += 1;
                        line_start = i;
                        continue;
                    }
                    let event = event && EVENT_FIELD.get(n) == Some(&c);
                    let data = data && DATA_FIELD.get(n) == Some(&c);
                    let n = n + 1;
                    i += 1;
                    if data && n == DATA_FIELD.len() {
                        self.data_lines += 1;
                    }
                    self.line = if event && n == EVENT_FIELD.len() {
                        Line::HoldEvent
                    } else if data && n == DATA_FIELD.len() && self.event == Event::Endpoint {
                        Line::HoldData
                    } else if (event || data) && !(data && n == DATA_FIELD.len()) {
                        Line::Start { n, event, data }
                    } else {
                        self.release(&mut out, line_start, i);
                        line_start = i;
                        Line::Pass
                    };
                }
                Line::Pass => match find_eol(&bytes[i..]) {
                    None => {
                        out.range(i, bytes.len());
                        i = bytes.len();
                        line_start = i;
                    }
                    Some(k) => {
                        let end = i + k;
                        out.range(i, end + 1);
                        self.end_line(bytes[end]);
                        i = end + 1;
                        line_start = i;
                    }
                },
                Line::HoldEvent | Line::HoldData => {
                    let cap = if self.line == Line::HoldEvent {
                        MAX_EVENT_LINE
                    } else {
                        MAX_DATA_LINE
                    };
                    match find_eol(&bytes[i..]) {
                        Some(k) if self.held.len() + (i + k - line_start) <= cap => {
                            let end = i + k;
                            self.complete_held_line(&mut out, bytes, line_start, end)?;
                            out.range(end, end + 1);
                            self.end_line(bytes[end]);
                            i = end + 1;
                            line_start = i;
                        }
                        None if self.held.len() + (bytes.len() - line_start) <= cap => {
                            i = bytes.len();
                        }
                        _ if self.line == Line::HoldData => {
                            // An endpoint this long cannot be checked: never pass it on.
                            return Err(EndpointRefused::TooLong(MAX_DATA_LINE));
                        }
                        _ => {
                            // Too long to be `event: endpoint`: give up on this line.
                            self.event = Event::Other;
                            self.endpoint_type = false;
                            self.release(&mut out, line_start, i);
                            line_start = i;
                            self.line = Line::Pass;
                        }
                    }
                }
            }
        }
        // Whatever of the current line is still held waits for the next chunk.
        self.held.extend_from_slice(&bytes[line_start..]);
        Ok(out.finish())
    }

    /// The end of the stream: releases anything still held, unchanged (an unterminated
    /// event is discarded by SSE clients anyway), unless an endpoint event is pending that
    /// was not checked: a client that dispatches at the end of the stream must not see it.
    pub(in crate::http) fn finish(&mut self) -> Result<Bytes, EndpointRefused> {
        let pending_endpoint = self.line == Line::HoldData || self.unchecked_endpoint();
        self.line = Line::Pass;
        let held = std::mem::take(&mut self.held);
        if pending_endpoint {
            return Err(EndpointRefused::Malformed);
        }
        Ok(Bytes::from(held))
    }

    /// The current event is an endpoint event with data that was not checked.
    fn unchecked_endpoint(&self) -> bool {
        self.endpoint_type && self.data_lines > 0 && !(self.data_lines == 1 && self.checked)
    }

    /// A blank line ends (dispatches) the current event: refused if it is an endpoint event
    /// whose data was not checked.
    fn end_event(&mut self) -> Result<(), EndpointRefused> {
        let refuse = self.unchecked_endpoint();
        self.event = Event::Unknown;
        self.endpoint_type = false;
        self.data_lines = 0;
        self.checked = false;
        if refuse {
            return Err(EndpointRefused::Malformed);
        }
        Ok(())
    }

    /// Releases the held bytes of the current line plus `chunk[start..end]`, unchanged.
    fn release(&mut self, out: &mut Output<'_>, start: usize, end: usize) {
        if !self.held.is_empty() {
            out.owned(&self.held);
            self.held.clear();
        }
        out.range(start, end);
    }

    /// A held line is complete (`chunk[start..end]` is its part in the current chunk, without
    /// the line ending): act on it and release it, checked and rewritten if it is the endpoint
    /// data.
    fn complete_held_line(
        &mut self,
        out: &mut Output<'_>,
        chunk: &[u8],
        start: usize,
        end: usize,
    ) -> Result<(), EndpointRefused> {
        // Usually the whole line is in this chunk: look at it in place, copy nothing.
        let line: Cow<'_, [u8]> = if self.held.is_empty() {
            Cow::Borrowed(&chunk[start..end])
        } else {
            let mut line = std::mem::take(&mut self.held);
            line.extend_from_slice(&chunk[start..end]);
            Cow::Owned(line)
        };
        let release = |out: &mut Output<'_>, line: &Cow<'_, [u8]>| match line {
            Cow::Borrowed(_) => out.range(start, end),
            Cow::Owned(line) => out.owned(line),
        };
        if self.line == Line::HoldEvent {
            let value = field_value(&line[EVENT_FIELD.len()..]);
            self.endpoint_type = value == b"endpoint";
            self.event = if self.endpoint_type {
                Event::Endpoint
            } else {
                Event::Other
            };
            release(out, &line);
        } else {
            let value = field_value(&line[DATA_FIELD.len()..]);
            let public = self.policy.public_form(value)?;
            if let Some(observer) = &mut self.observer {
                observer.endpoint(&public);
            }
            let field_len = line.len() - value.len();
            out.owned(&line[..field_len]);
            out.owned(&public);
            self.checked = true;
            self.event = Event::Other;
        }
        if let Cow::Owned(mut line) = line {
            // Keep the allocation for the next held line.
            line.clear();
            self.held = line;
        }
        Ok(())
    }

    /// Bookkeeping after a line ending `c` (CR or LF) was released.
    fn end_line(&mut self, c: u8) {
        self.after_cr = c == b'\r';
        self.line = Line::START;
    }
}

/// A field's value: what follows the colon, less one leading space (SSE's rule).
fn field_value(after_colon: &[u8]) -> &[u8] {
    after_colon.strip_prefix(b" ").unwrap_or(after_colon)
}

/// The index of the first CR or LF in `bytes`.
fn find_eol(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\r' || b == b'\n')
}

/// The bytes released for one chunk: a slice of the chunk itself while everything released
/// is one contiguous run of it, copied into a buffer only once something else is mixed in.
struct Output<'a> {
    chunk: &'a Bytes,
    run: Option<(usize, usize)>,
    buf: Option<BytesMut>,
}

impl<'a> Output<'a> {
    fn new(chunk: &'a Bytes) -> Self {
        Self {
            chunk,
            run: None,
            buf: None,
        }
    }

    /// Releases `chunk[start..end]`.
    fn range(&mut self, start: usize, end: usize) {
        if start == end {
            return;
        }
        match (&mut self.buf, self.run) {
            (Some(buf), _) => buf.extend_from_slice(&self.chunk[start..end]),
            (None, None) => self.run = Some((start, end)),
            (None, Some((a, b))) if b == start => self.run = Some((a, end)),
            (None, Some(_)) => {
                let chunk = self.chunk;
                self.owned_buf().extend_from_slice(&chunk[start..end]);
            }
        }
    }

    /// Releases bytes that are not (or not contiguously) in the chunk.
    fn owned(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.owned_buf().extend_from_slice(bytes);
        }
    }

    /// Switches to an owned buffer holding what was released so far.
    fn owned_buf(&mut self) -> &mut BytesMut {
        let run = self.run.take();
        let chunk = self.chunk;
        self.buf.get_or_insert_with(|| {
            let mut buf = BytesMut::with_capacity(chunk.len() + 64);
            if let Some((a, b)) = run {
                buf.extend_from_slice(&chunk[a..b]);
            }
            buf
        })
    }

    fn finish(self) -> Bytes {
        match (self.buf, self.run) {
            (Some(buf), _) => buf.freeze(),
            (None, Some((a, b))) => self.chunk.slice(a..b),
            (None, None) => Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests;
