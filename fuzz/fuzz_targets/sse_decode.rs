//! `smcp_transport::sse::Decoder` and `sse::encode`, which carry every streamed MCP message.
//!
//! Network reads cut a stream anywhere, including inside a CRLF pair or the leading BOM, and
//! a hostile upstream controls both the bytes and the cuts. For any input this checks that
//! nothing panics; that the events, last event id and retry time are the same whether the
//! input is fed in one piece, a byte at a time, or in pseudo-random chunks chosen from the
//! input; that with a small limit no event exceeds it (data plus its line end, type and id),
//! a run of more bytes than the limit without a line end makes the decoder fail rather than
//! grow, a failed decoder stays failed, and cutting never turns a failure into success or
//! yields events the one-piece feed would not; and that `encode` then decode gives back the
//! same events (line breaks of `data` normalised to LF, CR/LF/NUL dropped from `id`, CR/LF
//! from `event`), as the proptest in `crates/smcp-transport/src/sse/tests.rs` states.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use smcp_transport::sse::{DEFAULT_MAX_EVENT_BYTES, DecodeError, Decoder, Event, encode};

fuzz_target!(|data: &[u8]| {
    let seed = fnv(data);
    split_invariance(data, seed);
    limits(data, seed);
    round_trip(data, seed);
});

/// FNV-1a: a cheap seed so that the cuts are a function of the input.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Cut points for `len` bytes from a xorshift generator: chunks of 0 to 8 bytes (empty chunks
/// included, which the decoder must take too).
fn random_cuts(len: usize, mut seed: u64) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut at = 0;
    while at < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        at = (at + usize::try_from(seed % 9).unwrap_or(1)).min(len);
        cuts.push(at);
    }
    cuts
}

/// What feeding gave: the events, then the error if it failed.
struct Outcome {
    events: Vec<Event>,
    error: Option<DecodeError>,
    last_event_id: String,
    reconnect_ms: Option<u64>,
}

/// Feeds `stream` cut at `cuts` (ascending ends of chunks; the rest follows as a last chunk).
fn feed(stream: &[u8], cuts: &[usize], limit: usize) -> Outcome {
    let mut decoder = Decoder::with_max_event_bytes(limit);
    let mut events = Vec::new();
    let mut error = None;
    let mut start = 0;
    for end in cuts.iter().copied().chain([stream.len()]) {
        match decoder.feed(&stream[start..end]) {
            Ok(more) => events.extend(more),
            Err(e) => {
                assert_eq!(e, DecodeError::TooLarge { limit });
                assert!(decoder.feed(b"data: x\n\n").is_err(), "failed stays failed");
                error = Some(e);
                break;
            }
        }
        start = end;
    }
    Outcome {
        events,
        error,
        last_event_id: decoder.last_event_id().to_owned(),
        reconnect_ms: decoder.reconnect_ms(),
    }
}

fn every_byte(len: usize) -> Vec<usize> {
    (1..len).collect()
}

fn split_invariance(data: &[u8], seed: u64) {
    let whole = feed(data, &[], DEFAULT_MAX_EVENT_BYTES);
    assert!(
        whole.error.is_none(),
        "a fuzz input is far below the default limit"
    );
    for cuts in [every_byte(data.len()), random_cuts(data.len(), seed)] {
        let cut = feed(data, &cuts, DEFAULT_MAX_EVENT_BYTES);
        assert!(cut.error.is_none());
        assert_eq!(cut.events, whole.events, "cuts {cuts:?}");
        assert_eq!(cut.last_event_id, whole.last_event_id);
        assert_eq!(cut.reconnect_ms, whole.reconnect_ms);
    }
}

fn limits(data: &[u8], seed: u64) {
    let limit = usize::try_from(seed % 64).unwrap_or(0) + 1;
    let whole = feed(data, &[], limit);
    // The longest run of bytes without a line end (after a leading BOM, which is not content).
    let content = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let longest_line = content
        .split(|&b| b == b'\n' || b == b'\r')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    for cuts in [
        every_byte(data.len()),
        random_cuts(data.len(), seed.rotate_left(32)),
    ] {
        let cut = feed(data, &cuts, limit);
        for event in &cut.events {
            let size = event.data.len()
                + 1
                + event.event.as_ref().map_or(0, String::len)
                + event.id.as_ref().map_or(0, String::len);
            assert!(
                size <= limit,
                "event of {size} bytes over {limit}: {event:?}"
            );
        }
        match &whole.error {
            // Cutting never makes a failing stream decode.
            Some(_) => assert!(cut.error.is_some(), "cuts {cuts:?} hid a failure"),
            None => {
                // Cutting only ever fails earlier: the events so far are a prefix.
                assert!(whole.events.starts_with(&cut.events), "cuts {cuts:?}");
                if cut.error.is_none() {
                    assert_eq!(cut.events, whole.events);
                }
            }
        }
    }
    // Fed a byte at a time, a line can only be held, so one longer than the limit must fail.
    if longest_line > limit {
        assert!(feed(data, &every_byte(data.len()), limit).error.is_some());
    }
}

/// Events built from the input, encoded, decoded in cuts.
fn round_trip(data: &[u8], seed: u64) {
    let mut u = Unstructured::new(data);
    let mut sent = Vec::new();
    while sent.len() < 8 && !u.is_empty() {
        let Ok(event) = arbitrary_event(&mut u) else {
            break;
        };
        sent.push(event);
    }
    let stream: Vec<u8> = sent.iter().flat_map(|e| encode(e).to_vec()).collect();
    let expected: Vec<Event> = sent.iter().map(normalised).collect();
    let last_id = expected
        .iter()
        .rev()
        .find_map(|e| e.id.clone())
        .unwrap_or_default();
    for cuts in [
        vec![],
        every_byte(stream.len()),
        random_cuts(stream.len(), seed),
    ] {
        let got = feed(&stream, &cuts, DEFAULT_MAX_EVENT_BYTES);
        assert!(got.error.is_none());
        assert_eq!(
            got.events, expected,
            "decode(encode(..)) with cuts {cuts:?}"
        );
        assert_eq!(got.last_event_id, last_id);
    }
}

fn arbitrary_event(u: &mut Unstructured<'_>) -> arbitrary::Result<Event> {
    Ok(Event {
        id: Option::<String>::arbitrary(u)?,
        event: Option::<String>::arbitrary(u)?,
        data: Bytes::from(Vec::<u8>::arbitrary(u)?),
        retry: Option::<u64>::arbitrary(u)?,
    })
}

/// What the decoder gives back for an encoded `event`.
fn normalised(event: &Event) -> Event {
    let strip = |s: &String, nul: bool| -> String {
        s.chars()
            .filter(|&c| c != '\r' && c != '\n' && !(nul && c == '\0'))
            .collect()
    };
    let mut data = Vec::with_capacity(event.data.len());
    let mut i = 0;
    while i < event.data.len() {
        match event.data[i] {
            b'\r' => {
                data.push(b'\n');
                if event.data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b => data.push(b),
        }
        i += 1;
    }
    Event {
        id: event.id.as_ref().map(|s| strip(s, true)),
        event: event.event.as_ref().map(|s| strip(s, false)),
        data: Bytes::from(data),
        retry: event.retry,
    }
}
