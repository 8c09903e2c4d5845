//! Unit and property tests of the SSE codec.

use bytes::Bytes;
use proptest::prelude::{Just, Strategy, any, prop, prop_oneof, proptest};

use super::{DecodeError, Decoder, Event, KEEPALIVE, encode};

fn decode_all(chunks: &[&[u8]]) -> Vec<Event> {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(d.feed(c).unwrap());
    }
    out
}

fn ev(id: Option<&str>, event: Option<&str>, data: &str, retry: Option<u64>) -> Event {
    Event {
        id: id.map(str::to_owned),
        event: event.map(str::to_owned),
        data: Bytes::copy_from_slice(data.as_bytes()),
        retry,
    }
}

#[test]
fn encodes_fields_and_multiline_data() {
    let e = ev(Some("7"), Some("message"), "a\nb\r\nc\rd", Some(3000));
    assert_eq!(
        encode(&e).as_ref(),
        b"id: 7\nevent: message\nretry: 3000\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    );
    assert_eq!(encode(&Event::data("")).as_ref(), b"data: \n\n");
    assert_eq!(
        encode(&Event::data("{\"x\":1}")).as_ref(),
        b"data: {\"x\":1}\n\n"
    );
    assert_eq!(KEEPALIVE.as_ref(), b": keepalive\n\n");
}

#[test]
fn encoder_drops_line_breaks_from_id_and_event() {
    let e = ev(Some("a\nb\0c"), Some("x\ry"), "d", None);
    assert_eq!(encode(&e).as_ref(), b"id: abc\nevent: xy\ndata: d\n\n");
}

#[test]
fn decodes_all_line_endings() {
    for text in [
        &b"id: 1\nevent: e\ndata: x\ndata: y\n\n"[..],
        b"id: 1\r\nevent: e\r\ndata: x\r\ndata: y\r\n\r\n",
        b"id: 1\revent: e\rdata: x\rdata: y\r\r",
    ] {
        assert_eq!(
            decode_all(&[text]),
            vec![ev(Some("1"), Some("e"), "x\ny", None)]
        );
    }
}

#[test]
fn crlf_split_across_chunks_is_one_line_end() {
    let events = decode_all(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
    assert_eq!(events, vec![ev(None, None, "a\nb", None)]);
}

#[test]
fn bom_comments_and_field_rules() {
    let text = b"\xEF\xBB\xBF: hello\n:\ndata:no space\ndata:  two spaces\nunknown: x\nid\nretry: 12x\nretry: 25\n\n";
    let mut d = Decoder::new();
    let events = d.feed(text).unwrap();
    assert_eq!(
        events,
        vec![ev(Some(""), None, "no space\n two spaces", Some(25))]
    );
    assert_eq!(d.reconnect_ms(), Some(25));

    // The BOM only counts at the very start, and may itself be split.
    let events = decode_all(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\n"]);
    assert_eq!(events[0].data.as_ref(), b"x");
    assert_eq!(
        events.len(),
        1,
        "a BOM later in the stream is a field name: ignored line"
    );

    // A partial BOM followed by other bytes is content.
    let events = decode_all(&[b"\xEF", b"data: x\n\n"]);
    assert!(events.is_empty(), "\\xEFdata is an unknown field");
}

#[test]
fn events_without_data_are_not_dispatched() {
    let mut d = Decoder::new();
    assert!(d.feed(b"id: 5\nevent: x\n\n").unwrap().is_empty());
    assert_eq!(d.last_event_id(), "5");
    let events = d.feed(b"data: y\n\n").unwrap();
    assert_eq!(events, vec![ev(None, None, "y", None)]);
    assert_eq!(d.last_event_id(), "5", "the last event id is sticky");
    // An id with NUL is ignored.
    d.feed(b"id: a\0b\ndata: z\n\n").unwrap();
    assert_eq!(d.last_event_id(), "5");
}

#[test]
fn incomplete_event_is_held() {
    let mut d = Decoder::new();
    assert!(d.feed(b"data: par").unwrap().is_empty());
    assert!(d.feed(b"tial\n").unwrap().is_empty());
    assert_eq!(
        d.feed(b"\n").unwrap(),
        vec![ev(None, None, "partial", None)]
    );
}

#[test]
fn oversize_event_fails() {
    let mut d = Decoder::with_max_event_bytes(16);
    assert!(d.feed(b"data: 0123456").unwrap().is_empty());
    assert_eq!(
        d.feed(b"789abcdef"),
        Err(DecodeError::TooLarge { limit: 16 })
    );
    assert!(d.feed(b"\n\n").is_err(), "stays failed");

    let mut d = Decoder::with_max_event_bytes(16);
    assert!(d.feed(b"data: 0123456789\n").is_ok());
    assert!(
        d.feed(b"data: 0123456789\n").is_err(),
        "data accumulates across lines"
    );
}

fn field_text() -> impl Strategy<Value = String> {
    // Anything but the characters that cannot be carried in an id/event field.
    prop::collection::vec(
        any::<char>().prop_filter("no line breaks or NUL", |c| {
            !matches!(c, '\n' | '\r' | '\0')
        }),
        0..8,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn data_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            1 => Just('\n'),
            1 => Just('\r'),
            1 => Just(' '),
            1 => Just(':'),
        ],
        0..40,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::option::of(field_text()),
        prop::option::of(field_text()),
        data_text(),
        prop::option::of(any::<u64>()),
    )
        .prop_map(|(id, event, data, retry)| Event {
            id,
            event,
            data: Bytes::from(data),
            retry,
        })
}

/// Line breaks in data come back as LF, however they were written.
fn normalized(e: &Event) -> Event {
    let text = String::from_utf8(e.data.to_vec()).unwrap();
    Event {
        data: Bytes::from(text.replace("\r\n", "\n").replace('\r', "\n")),
        ..e.clone()
    }
}

proptest! {
    #[test]
    fn decode_inverts_encode_under_any_chunking(
        events in prop::collection::vec(event(), 0..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        keepalives in any::<bool>(),
    ) {
        let mut stream = Vec::new();
        for e in &events {
            if keepalives {
                stream.extend_from_slice(&KEEPALIVE);
            }
            stream.extend_from_slice(&encode(e));
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut d = Decoder::new();
        let mut decoded = Vec::new();
        let mut start = 0;
        for p in points.into_iter().chain([stream.len()]) {
            decoded.extend(d.feed(&stream[start..p]).unwrap());
            start = p;
        }
        let expected: Vec<Event> = events.iter().map(normalized).collect();
        proptest::prop_assert_eq!(decoded, expected);
    }
}

mod hostile {
    //! Arbitrary bytes in arbitrary chunks: the decoder never panics, and never yields an event
    //! larger than its limit (data, type and id together).

    use proptest::prelude::{ProptestConfig, Strategy, any, prop, proptest};

    use super::super::{DecodeError, Decoder};

    fn sse_ish() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"data"[..],
            b"event",
            b"id",
            b"retry",
            b":",
            b": ",
            b"\n",
            b"\r",
            b"\r\n",
            b"x",
            b"0123456789",
            b"\0",
            b"\xEF\xBB\xBF",
            b"\xff",
        ]);
        prop::collection::vec(pieces, 0..80).prop_map(|v| v.concat())
    }

    fn check(stream: &[u8], cuts: &[prop::sample::Index], limit: usize) -> Result<(), String> {
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut d = Decoder::with_max_event_bytes(limit);
        let mut start = 0;
        for p in points.into_iter().chain([stream.len()]) {
            match d.feed(&stream[start..p]) {
                Ok(events) => {
                    for e in events {
                        let size = e.data.len()
                            + e.event.as_ref().map_or(0, String::len)
                            + e.id.as_ref().map_or(0, String::len);
                        if size > limit {
                            return Err(format!("event of {size} bytes over {limit}: {e:?}"));
                        }
                    }
                }
                Err(DecodeError::TooLarge { limit: l }) if l == limit => {
                    // Failed stays failed.
                    if d.feed(b"data: x\n\n").is_ok() {
                        return Err("fed again after failing".to_owned());
                    }
                    return Ok(());
                }
                Err(e) => return Err(e.to_string()),
            }
            start = p;
        }
        Ok(())
    }

    #[test]
    fn a_long_type_or_id_line_in_one_chunk_counts_toward_the_limit() {
        for stream in [
            &b"event: 0123456789abcdef
data

"[..],
            b"id: 0123456789abcdef
data

",
            b"event: 01234567
id: 89abcdef
data: x

",
        ] {
            assert!(
                check(stream, &[], 12).is_ok(),
                "{:?}",
                String::from_utf8_lossy(stream)
            );
            let mut d = Decoder::with_max_event_bytes(12);
            assert_eq!(d.feed(stream), Err(DecodeError::TooLarge { limit: 12 }));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn arbitrary_bytes_never_panic_nor_exceed_the_limit(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
            limit in 1usize..64,
        ) {
            check(&bytes, &cuts, limit).map_err(proptest::test_runner::TestCaseError::fail)?;
        }

        #[test]
        fn sse_like_bytes_never_panic_nor_exceed_the_limit(
            bytes in sse_ish(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
            limit in 1usize..64,
        ) {
            check(&bytes, &cuts, limit).map_err(proptest::test_runner::TestCaseError::fail)?;
        }
    }
}
