//! Writes [`Event`]s as SSE bytes.
//!
//! Fields are written in the order `id`, `event`, `retry`, `data`, and every value is preceded
//! by one space so that values starting with a space survive the decoder's space stripping.

use bytes::{BufMut, Bytes, BytesMut};

use super::Event;

/// Encodes one event.
pub fn encode(event: &Event) -> Bytes {
    let mut out = BytesMut::with_capacity(event.data.len() + 32);
    encode_into(event, &mut out);
    out.freeze()
}

/// Appends one encoded event to `out`.
pub fn encode_into(event: &Event, out: &mut BytesMut) {
    if let Some(id) = &event.id {
        put_field(out, b"id", id.as_bytes(), |b| b == b'\0');
    }
    if let Some(kind) = &event.event {
        put_field(out, b"event", kind.as_bytes(), |_| false);
    }
    if let Some(retry) = event.retry {
        out.put_slice(b"retry: ");
        out.put_slice(retry.to_string().as_bytes());
        out.put_u8(b'\n');
    }
    // Every event carries at least one data line: an event without data is never dispatched.
    let mut rest: &[u8] = &event.data;
    loop {
        let end = memchr::memchr2(b'\n', b'\r', rest);
        let line = &rest[..end.unwrap_or(rest.len())];
        out.put_slice(b"data: ");
        out.put_slice(line);
        out.put_u8(b'\n');
        match end {
            None => break,
            Some(i) => {
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
            }
        }
    }
    out.put_u8(b'\n');
}

/// Writes `name: value\n`, dropping CR, LF and any byte `drop` selects.
fn put_field(out: &mut BytesMut, name: &[u8], value: &[u8], drop: impl Fn(u8) -> bool) {
    out.put_slice(name);
    out.put_slice(b": ");
    for &b in value {
        if b != b'\n' && b != b'\r' && !drop(b) {
            out.put_u8(b);
        }
    }
    out.put_u8(b'\n');
}
