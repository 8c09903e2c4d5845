//! Tests of the endpoint scanner: the origin policy, rewriting, line endings, chunk splits and
//! pass-through.

use bytes::Bytes;
use proptest::prelude::{ProptestConfig, prop, proptest};

use super::{EndpointScanner, MAX_DATA_LINE};
use crate::http::endpoint::{EndpointPolicy, EndpointRefused, EndpointRewrite};

/// The backend URL the test streams were requested from.
const BASE: &str = "http://backend.test:8080/sse";

fn scanner() -> EndpointScanner {
    let base = url::Url::parse(BASE).expect("test base URL");
    let policy = EndpointPolicy::new(base, Some(EndpointRewrite::new("/", "/v1/everything")));
    EndpointScanner::new(policy, None)
}

/// Feeds `chunks` in order and returns what came out of each, then what `finish` released,
/// or the refusal that ended the stream together with everything released before it.
fn run(chunks: &[&[u8]]) -> Result<(Vec<Bytes>, Bytes), (EndpointRefused, Vec<u8>)> {
    let mut s = scanner();
    let mut outs = Vec::new();
    let released = |outs: &[Bytes]| outs.iter().flat_map(|b| b.iter().copied()).collect();
    for chunk in chunks {
        match s.feed(&Bytes::copy_from_slice(chunk)) {
            Ok(out) => outs.push(out),
            Err(e) => return Err((e, released(&outs))),
        }
    }
    match s.finish() {
        Ok(rest) => Ok((outs, rest)),
        Err(e) => Err((e, released(&outs))),
    }
}

/// Everything released for `chunks`; panics if the stream was refused.
fn run_concat(chunks: &[&[u8]]) -> Vec<u8> {
    let (outs, rest) = match run(chunks) {
        Ok(done) => done,
        Err((e, _)) => panic!("stream refused: {e}"),
    };
    let mut all: Vec<u8> = outs.iter().flat_map(|b| b.iter().copied()).collect();
    all.extend_from_slice(&rest);
    all
}

/// The refusal for `chunks` and what was released before it; panics if the stream passed.
fn refused(chunks: &[&[u8]]) -> (EndpointRefused, Vec<u8>) {
    match run(chunks) {
        Ok((outs, rest)) => panic!(
            "stream passed: {:?}",
            String::from_utf8_lossy(
                &outs
                    .iter()
                    .flat_map(|b| b.iter().copied())
                    .chain(rest.iter().copied())
                    .collect::<Vec<u8>>()
            )
        ),
        Err(refusal) => refusal,
    }
}

/// An endpoint event with `value` as its data, followed by an ordinary event.
fn endpoint_stream(value: &[u8]) -> Vec<u8> {
    let mut stream = b"event: endpoint\ndata: ".to_vec();
    stream.extend_from_slice(value);
    stream.extend_from_slice(b"\n\nevent: message\ndata: {}\n\n");
    stream
}

const LEGACY: &[u8] = b"event: endpoint\ndata: /message?sessionId=abc\n\n\
event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n\
: keepalive\n\n";
const LEGACY_REWRITTEN: &[u8] = b"event: endpoint\ndata: /v1/everything/message?sessionId=abc\n\n\
event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n\
: keepalive\n\n";

#[test]
fn rewrites_endpoint_in_one_chunk() {
    assert_eq!(run_concat(&[LEGACY]), LEGACY_REWRITTEN);
}

#[test]
fn rewrites_endpoint_at_every_split_point() {
    for at in 0..=LEGACY.len() {
        let (a, b) = LEGACY.split_at(at);
        assert_eq!(run_concat(&[a, b]), LEGACY_REWRITTEN, "split at {at}");
    }
}

#[test]
fn rewrites_endpoint_byte_by_byte() {
    let chunks: Vec<&[u8]> = LEGACY.chunks(1).collect();
    assert_eq!(run_concat(&chunks), LEGACY_REWRITTEN);
}

#[test]
fn crlf_and_cr_line_endings() {
    let crlf = b"event: endpoint\r\ndata: /messages/?session_id=1\r\n\r\n";
    let want = b"event: endpoint\r\ndata: /v1/everything/messages/?session_id=1\r\n\r\n";
    for at in 0..=crlf.len() {
        let (a, b) = crlf.split_at(at);
        assert_eq!(run_concat(&[a, b]), want, "crlf split at {at}");
    }
    let cr = b"event: endpoint\rdata: /m\r\revent: endpoint\rdata: /n\r\r";
    let want =
        b"event: endpoint\rdata: /v1/everything/m\r\revent: endpoint\rdata: /v1/everything/n\r\r";
    assert_eq!(run_concat(&[cr]), want);
}

#[test]
fn field_without_space_keeps_its_form() {
    assert_eq!(
        run_concat(&[b"event:endpoint\ndata:/message\n\n"]),
        b"event:endpoint\ndata:/v1/everything/message\n\n"
    );
}

#[test]
fn byte_order_mark_is_kept_and_skipped() {
    let stream = b"\xEF\xBB\xBFevent: endpoint\ndata: /m\n\n";
    for at in 0..=stream.len() {
        let (a, b) = stream.split_at(at);
        assert_eq!(
            run_concat(&[a, b]),
            b"\xEF\xBB\xBFevent: endpoint\ndata: /v1/everything/m\n\n",
            "split at {at}"
        );
    }
}

#[test]
fn data_lines_of_other_events_pass_unchanged() {
    let stream: &[u8] = b"data: /c\n\nevent: other\ndata: /d\n\n\
event: endpointx\ndata: /y\n\nevent\ndata: /z\n\nevent: endpoint\nevent: message\ndata: /w\n\n";
    assert_eq!(run_concat(&[stream]), stream);
}

#[test]
fn an_endpoint_event_with_several_data_lines_is_refused_before_dispatch() {
    // A client joins the data lines: the second would be read as part of the URI unchecked.
    let stream: &[u8] = b"event: endpoint\ndata: /a\ndata: //evil.test/b\n\n";
    for at in 0..=stream.len() {
        let (a, b) = stream.split_at(at);
        let (why, released) = refused(&[a, b]);
        assert_eq!(why, EndpointRefused::Malformed, "split at {at}");
        // The second line may be out, but not the blank line that would dispatch the event
        // (SSE clients discard an event the stream ends in).
        assert!(
            !released.windows(2).any(|w| w == b"\n\n"),
            "dispatched at split {at}"
        );
    }
    let (why, _) = refused(&[b"event: endpoint\ndata\ndata: /a\n\n"]);
    assert_eq!(why, EndpointRefused::Malformed);
}

#[test]
fn data_before_the_endpoint_event_line_is_refused() {
    let (why, released) = refused(&[b"data: http://evil.test/m\nevent: endpoint\n\n"]);
    assert_eq!(why, EndpointRefused::Malformed);
    assert!(!released.ends_with(b"\n\n"), "the event was dispatched");
}

#[test]
fn foreign_origins_are_refused() {
    let hostile: &[&[u8]] = &[
        b"http://127.0.0.2:1/steal?sessionId=x",
        b"http://evil.test/message?sessionId=1",
        b"https://backend.test:8080/message",
        b"http://backend.test:8081/message",
        b"http://backend.test/message",
        b"ws://backend.test:8080/message",
        b"//evil.test/message",
        b"///evil.test/message",
        b"/\\evil.test/message",
        b"\\\\evil.test/message",
        b"\\/evil.test/message",
        b" //evil.test/message",
        b"/\t/evil.test/message",
        b"\x0c//evil.test/message",
        b"http:\\\\evil.test\\message",
        b"http://backend.test:8080@evil.test/message",
        b"http://evil.test#@backend.test:8080/message",
        b"HTTP://EVIL.TEST/message",
        b"javascript:alert(1)",
        b"data:text/plain,x",
        b"file:///etc/passwd",
        b"mailto:x@backend.test",
    ];
    for value in hostile {
        let stream = endpoint_stream(value);
        let shown = String::from_utf8_lossy(value);
        for at in [0, 10, 20, stream.len() / 2, stream.len()] {
            let (a, b) = stream.split_at(at);
            let (why, released) = refused(&[a, b]);
            assert!(
                matches!(
                    why,
                    EndpointRefused::ForeignOrigin | EndpointRefused::Invalid
                ),
                "{shown}: {why:?}"
            );
            // Nothing of the endpoint's data line, and so no event, reached the client.
            assert!(
                released.len() <= b"event: endpoint\n".len(),
                "{shown} split at {at}: released {:?}",
                String::from_utf8_lossy(&released)
            );
        }
    }
}

#[test]
fn invalid_endpoint_uris_are_refused() {
    for value in [
        &b"/m\xff?sessionId=1"[..],
        b"http://[::1/m",
        b"http://backend.test:8080//evil.test/m",
        b"/..//evil.test/m",
    ] {
        let (why, _) = refused(&[&endpoint_stream(value)]);
        assert_eq!(
            why,
            EndpointRefused::Invalid,
            "{}",
            String::from_utf8_lossy(value)
        );
    }
}

#[test]
fn same_origin_endpoints_are_sent_path_absolute_in_the_public_space() {
    for (value, want) in [
        (
            &b"/message?sessionId=1"[..],
            &b"/v1/everything/message?sessionId=1"[..],
        ),
        (
            b"message?sessionId=1",
            b"/v1/everything/message?sessionId=1",
        ),
        (
            b"./messages/?session_id=ab",
            b"/v1/everything/messages/?session_id=ab",
        ),
        (b"/a/../message", b"/v1/everything/message"),
        (b"/a/%2e%2e/message", b"/v1/everything/message"),
        (
            b"http://backend.test:8080/message?sessionId=1",
            b"/v1/everything/message?sessionId=1",
        ),
        (b"HTTP://Backend.Test:8080/m", b"/v1/everything/m"),
        (b"http://backend.test:8080/m#frag", b"/v1/everything/m"),
        // Same scheme without `//`: a relative path for WHATWG parsers, so never another host.
        (
            b"http:message?sessionId=1",
            b"/v1/everything/message?sessionId=1",
        ),
        (b"?sessionId=1", b"/v1/everything/sse?sessionId=1"),
        (b"  /m  ", b"/v1/everything/m"),
    ] {
        assert_eq!(
            run_concat(&[&endpoint_stream(value)]),
            endpoint_stream(want),
            "{}",
            String::from_utf8_lossy(value)
        );
    }
}

#[test]
fn without_a_public_prefix_endpoints_are_still_checked_and_normalised() {
    let base = url::Url::parse(BASE).expect("test base URL");
    let mut s = EndpointScanner::new(EndpointPolicy::new(base, None), None);
    let out = s
        .feed(&Bytes::from(endpoint_stream(
            b"http://backend.test:8080/message?sessionId=1",
        )))
        .expect("same origin");
    assert_eq!(&out[..], &endpoint_stream(b"/message?sessionId=1")[..]);
    let mut s = EndpointScanner::new(
        EndpointPolicy::new(url::Url::parse(BASE).expect("test base URL"), None),
        None,
    );
    assert_eq!(
        s.feed(&Bytes::from(endpoint_stream(b"//evil.test/m"))),
        Err(EndpointRefused::ForeignOrigin)
    );
}

#[test]
fn overlong_endpoint_data_is_refused_and_overlong_event_lines_pass() {
    let long_value = format!("/{}", "a".repeat(MAX_DATA_LINE));
    let stream = format!("event: endpoint\ndata: {long_value}\n\n");
    let bytes = stream.as_bytes();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let (why, released) = refused(&[a, b]);
    assert_eq!(why, EndpointRefused::TooLong(MAX_DATA_LINE));
    assert_eq!(released, b"event: endpoint\n");

    let long_event = format!("event: {}\ndata: /m\n\n", "e".repeat(100));
    assert_eq!(run_concat(&[long_event.as_bytes()]), long_event.as_bytes());
}

#[test]
fn other_events_are_released_as_they_arrive() {
    // A data line of an ordinary event is not held, even unfinished.
    let (outs, rest) = run(&[b"event: message\ndata: {\"partial\":", b"1}\n\n"]).expect("passes");
    assert_eq!(&outs[0][..], b"event: message\ndata: {\"partial\":");
    assert_eq!(&outs[1][..], b"1}\n\n");
    assert!(rest.is_empty());
}

#[test]
fn only_the_endpoint_line_is_held() {
    let (outs, rest) = run(&[
        b"event: endpoint\ndata: /mess",
        b"age\n\nevent: message\ndata: {}",
        b"\n\n",
    ])
    .expect("same origin");
    assert_eq!(&outs[0][..], b"event: endpoint\n");
    assert_eq!(
        &outs[1][..],
        b"data: /v1/everything/message\n\nevent: message\ndata: {}"
    );
    assert_eq!(&outs[2][..], b"\n\n");
    assert!(rest.is_empty());
}

#[test]
fn untouched_chunks_are_not_copied() {
    let chunk = Bytes::from_static(b"event: message\ndata: {\"jsonrpc\":\"2.0\"}\n\n");
    let mut s = scanner();
    let out = s.feed(&chunk).expect("not an endpoint");
    assert_eq!(out, chunk);
    assert_eq!(
        out.as_ptr(),
        chunk.as_ptr(),
        "released as a slice of the input"
    );
}

#[test]
fn unterminated_stream_is_released_unchanged_at_the_end() {
    let (outs, rest) = run(&[b"event: message\ndata: {\"partial\":"]).expect("not an endpoint");
    assert!(outs[0].is_empty() || rest.is_empty());
    let mut all = outs[0].to_vec();
    all.extend_from_slice(&rest);
    assert_eq!(all, b"event: message\ndata: {\"partial\":");
}

#[test]
fn an_unchecked_endpoint_pending_at_the_end_is_refused() {
    // A client that dispatches at the end of the stream must not see it.
    let (why, released) = refused(&[b"event: endpoint\ndata: //evil.test/m"]);
    assert_eq!(why, EndpointRefused::Malformed);
    assert_eq!(released, b"event: endpoint\n");
    let (why, _) = refused(&[b"data: //evil.test/m\nevent: endpoint\n"]);
    assert_eq!(why, EndpointRefused::Malformed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// However the stream is cut into chunks, the output is the same.
    #[test]
    fn any_chunking_gives_the_same_output(cuts in prop::collection::vec(0..LEGACY.len(), 0..12)) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut from = 0;
        for cut in cuts {
            chunks.push(&LEGACY[from..cut]);
            from = cut;
        }
        chunks.push(&LEGACY[from..]);
        assert_eq!(run_concat(&chunks), LEGACY_REWRITTEN);
    }

    /// However a hostile stream is cut, its foreign endpoint never gets out and the event is
    /// never dispatched.
    #[test]
    fn any_chunking_never_releases_a_foreign_endpoint(
        cuts in prop::collection::vec(0..HOSTILE.len(), 0..12),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut from = 0;
        for cut in cuts {
            chunks.push(&HOSTILE[from..cut]);
            from = cut;
        }
        chunks.push(&HOSTILE[from..]);
        let (why, released) = refused(&chunks);
        assert_eq!(why, EndpointRefused::ForeignOrigin);
        let before = b"event: message\ndata: {}\n\nevent: endpoint\n";
        assert!(before.starts_with(&released), "released {:?}", String::from_utf8_lossy(&released));
    }

    /// Arbitrary bytes in arbitrary chunks never panic.
    #[test]
    fn arbitrary_streams_never_panic(
        chunks in prop::collection::vec(prop::collection::vec(
            prop::sample::select(b"event:endpoint data/\\ \r\n:?x.\xff".to_vec()), 0..40), 0..8),
    ) {
        let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let _ = run(&chunks);
    }
}

const HOSTILE: &[u8] = b"event: message\ndata: {}\n\n\
event: endpoint\ndata: http://127.0.0.2:1/steal?sessionId=x\n\n";
