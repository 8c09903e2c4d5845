//! Tests of the endpoint scanner: rewriting, line endings, chunk splits and pass-through.

use bytes::Bytes;
use proptest::prelude::{ProptestConfig, prop, proptest};

use super::{EndpointScanner, MAX_DATA_LINE};
use crate::http::endpoint::EndpointRewrite;

fn scanner() -> EndpointScanner {
    EndpointScanner::new(Some(EndpointRewrite::new("/", "/v1/everything")), None)
}

/// Feeds `chunks` in order and returns what came out of each, then what `finish` released.
fn run(chunks: &[&[u8]]) -> (Vec<Bytes>, Bytes) {
    let mut s = scanner();
    let outs = chunks
        .iter()
        .map(|c| s.feed(&Bytes::copy_from_slice(c)))
        .collect();
    (outs, s.finish())
}

fn run_concat(chunks: &[&[u8]]) -> Vec<u8> {
    let (outs, rest) = run(chunks);
    let mut all: Vec<u8> = outs.iter().flat_map(|b| b.iter().copied()).collect();
    all.extend_from_slice(&rest);
    all
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
fn only_the_first_data_line_of_one_endpoint_event_is_rewritten() {
    let stream = b"event: endpoint\ndata: /a\ndata: /b\n\ndata: /c\n\nevent: other\ndata: /d\n\n";
    assert_eq!(
        run_concat(&[stream]),
        b"event: endpoint\ndata: /v1/everything/a\ndata: /b\n\ndata: /c\n\nevent: other\ndata: /d\n\n"
    );
}

#[test]
fn data_before_event_line_and_absolute_uris_pass_unchanged() {
    let stream: &[u8] = b"data: /x\nevent: endpoint\n\n\
event: endpoint\ndata: http://h/message\n\n\
event: endpointx\ndata: /y\n\nevent\ndata: /z\n\n";
    assert_eq!(run_concat(&[stream]), stream);
}

#[test]
fn overlong_lines_pass_unchanged() {
    let long_value = format!("/{}", "a".repeat(MAX_DATA_LINE));
    let stream = format!("event: endpoint\ndata: {long_value}\n\n");
    let bytes = stream.as_bytes();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    assert_eq!(run_concat(&[a, b]), bytes);

    let long_event = format!("event: {}\ndata: /m\n\n", "e".repeat(100));
    assert_eq!(run_concat(&[long_event.as_bytes()]), long_event.as_bytes());
}

#[test]
fn other_events_are_released_as_they_arrive() {
    // A data line of an ordinary event is not held, even unfinished.
    let (outs, rest) = run(&[b"event: message\ndata: {\"partial\":", b"1}\n\n"]);
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
    ]);
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
    let out = s.feed(&chunk);
    assert_eq!(out, chunk);
    assert_eq!(
        out.as_ptr(),
        chunk.as_ptr(),
        "released as a slice of the input"
    );
}

#[test]
fn unterminated_stream_is_released_unchanged_at_the_end() {
    let (outs, rest) = run(&[b"event: endpoint\ndata: /mess"]);
    assert_eq!(&outs[0][..], b"event: endpoint\n");
    assert_eq!(&rest[..], b"data: /mess");
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
}
