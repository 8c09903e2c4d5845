//! Unit tests for envelope parsing and the synthesized messages.

use bytes::Bytes;

use super::{
    INTERNAL_ERROR, INVALID_REQUEST, Kind, Message, PARSE_ERROR, ParseError, RequestId,
    cancelled_notification, error_response, parse, parse_batch,
};

fn p(s: &str) -> Result<Message, ParseError> {
    parse(Bytes::copy_from_slice(s.as_bytes()))
}

fn ok(s: &str) -> Message {
    match p(s) {
        Ok(m) => m,
        Err(e) => panic!("{s}: {e}"),
    }
}

#[test]
fn request_keeps_bytes_and_reads_envelope() {
    let text = r#"{ "jsonrpc" : "2.0", "id": 7, "method": "tools/call", "params": {"name":"x","arguments":{"a":[1,2,{"b":null}]}} }"#;
    let m = ok(text);
    assert_eq!(m.bytes().as_ref(), text.as_bytes());
    assert_eq!(m.kind(), Kind::Request);
    assert!(m.is_request());
    assert_eq!(m.id(), Some(&RequestId::Number(7)));
    assert_eq!(m.method(), Some("tools/call"));
    assert_eq!(m.progress_token(), None);
}

#[test]
fn notification_and_responses() {
    let n = ok(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    assert_eq!(n.kind(), Kind::Notification);
    assert_eq!(n.id(), None);

    let r = ok(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#);
    assert_eq!(r.kind(), Kind::Response);
    assert!(!r.is_error_response());
    assert_eq!(r.id(), Some(&RequestId::from("a")));
    assert_eq!(r.method(), None);

    let e = ok(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#);
    assert!(e.is_error_response());
    assert_eq!(e.id(), None);

    // `result: null` is still a result.
    let r = ok(r#"{"jsonrpc":"2.0","id":1,"result":null}"#);
    assert_eq!(r.kind(), Kind::Response);
}

#[test]
fn id_types_compare_as_json() {
    let num = ok(r#"{"jsonrpc":"2.0","id":1,"method":"m"}"#);
    let string = ok(r#"{"jsonrpc":"2.0","id":"1","method":"m"}"#);
    assert_ne!(num.id(), string.id());
    assert_eq!(num.id(), Some(&RequestId::Number(1)));
    assert_eq!(string.id(), Some(&RequestId::from("1")));

    // Escapes are decoded: "\u0061" is the id "a".
    let escaped = ok(r#"{"jsonrpc":"2.0","id":"\u0061","method":"m"}"#);
    assert_eq!(escaped.id(), Some(&RequestId::from("a")));

    let neg = ok(r#"{"jsonrpc":"2.0","id":-42,"method":"m"}"#);
    assert_eq!(neg.id(), Some(&RequestId::Number(-42)));

    let big = ok(r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"m"}"#);
    assert_eq!(
        big.id().map(RequestId::to_json).as_deref(),
        Some("18446744073709551615")
    );
    let frac = ok(r#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#);
    assert_eq!(frac.id().map(RequestId::to_json).as_deref(), Some("1.5"));
    assert_ne!(frac.id(), Some(&RequestId::Number(1)));

    // Hashable: usable as a map key.
    let mut set = std::collections::HashSet::new();
    set.insert(num.id().cloned());
    assert!(!set.contains(&string.id().cloned()));
    assert!(set.contains(&Some(RequestId::Number(1))));
}

#[test]
fn string_id_is_json_escaped_when_written() {
    let id = RequestId::from("a\"b\\c");
    assert_eq!(id.to_json(), r#""a\"b\\c""#);
    assert_eq!(id.to_string(), r#""a\"b\\c""#);
}

#[test]
fn bad_ids_are_refused() {
    for text in [
        r#"{"jsonrpc":"2.0","id":true,"method":"m"}"#,
        r#"{"jsonrpc":"2.0","id":{},"method":"m"}"#,
        r#"{"jsonrpc":"2.0","id":[1],"method":"m"}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"m"}"#,
    ] {
        let err = p(text).err().unwrap_or_else(|| panic!("accepted {text}"));
        assert_eq!(err.code(), INVALID_REQUEST, "{text}");
    }
}

#[test]
fn progress_tokens() {
    let req = ok(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":{"_meta":{"progressToken":"wrong"}},"_meta":{"other":{"progressToken":9},"progressToken":"tok"}}}"#,
    );
    assert_eq!(req.progress_token(), Some(&RequestId::from("tok")));

    let numeric =
        ok(r#"{"jsonrpc":"2.0","id":3,"method":"m","params":{"_meta":{"progressToken":5}}}"#);
    assert_eq!(numeric.progress_token(), Some(&RequestId::Number(5)));

    // On a request, a top-level params.progressToken is not the MCP progress token.
    let top = ok(r#"{"jsonrpc":"2.0","id":3,"method":"m","params":{"progressToken":5}}"#);
    assert_eq!(top.progress_token(), None);

    let progress = ok(
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":1,"total":2}}"#,
    );
    assert_eq!(progress.kind(), Kind::Notification);
    assert_eq!(progress.progress_token(), Some(&RequestId::from("tok")));

    // Other notifications carry no progress token even with the member present.
    let other =
        ok(r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"progressToken":1}}"#);
    assert_eq!(other.progress_token(), None);

    // Tokens of the wrong type are ignored, not fatal.
    let weird =
        ok(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"_meta":{"progressToken":{}}}}"#);
    assert_eq!(weird.progress_token(), None);

    // Positional params and a non-object _meta are skipped.
    let positional = ok(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1,{"_meta":1}]}"#);
    assert_eq!(positional.progress_token(), None);
    let meta_scalar = ok(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"_meta":"x"}}"#);
    assert_eq!(meta_scalar.progress_token(), None);
}

#[test]
fn cancelled_request_id() {
    let c = ok(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r-1","reason":"bored"}}"#,
    );
    assert_eq!(c.cancelled_request_id(), Some(&RequestId::from("r-1")));
    let other = ok(r#"{"jsonrpc":"2.0","method":"notifications/x","params":{"requestId":1}}"#);
    assert_eq!(other.cancelled_request_id(), None);
}

#[test]
fn malformed_json_is_a_parse_error() {
    for text in [
        "",
        "   ",
        "{",
        r#"{"jsonrpc":"2.0","id":1,"method":"m""#,
        "{]",
        "nul",
        "{\"a\":1} x",
    ] {
        let err = p(text).err().unwrap_or_else(|| panic!("accepted {text:?}"));
        assert!(matches!(err, ParseError::Json(_)), "{text:?}: {err:?}");
        assert_eq!(err.code(), PARSE_ERROR);
    }
}

/// Found by the `jsonrpc_parse` fuzz target: a non-UTF-8 byte in a value the envelope skips
/// (an unknown member, `params`, `result`) was accepted, and the message forwarded as valid.
#[test]
fn invalid_utf8_anywhere_is_a_parse_error() {
    for bytes in [
        &b"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"extra\":\"\xff\"}"[..],
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"a\":[\"\xc0\xae\"]}}",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\xed\xa0\x80\"}",
        b"[{\"jsonrpc\":\"2.0\",\"m\xacthod\":\"m\"}]",
        b"\"\xff\"",
    ] {
        let err = parse(Bytes::copy_from_slice(bytes))
            .err()
            .unwrap_or_else(|| panic!("accepted {bytes:?}"));
        assert!(matches!(err, ParseError::Json(_)), "{bytes:?}: {err:?}");
        assert_eq!(err.code(), PARSE_ERROR);
        assert!(
            parse_batch(Bytes::copy_from_slice(bytes)).is_err(),
            "{bytes:?}"
        );
    }
    // Non-ASCII UTF-8 is still fine, in skipped values and in read ones.
    let message = ok(
        "{\"jsonrpc\":\"2.0\",\"id\":\"\u{e9}\",\"method\":\"m\",\"params\":{\"a\":\"\u{20ac}\"}}",
    );
    assert_eq!(message.method(), Some("m"));
}

#[test]
fn non_objects_are_refused() {
    for text in ["1", "\"x\"", "null", "true"] {
        assert!(matches!(p(text), Err(ParseError::NotObject)), "{text}");
    }
    assert!(matches!(
        p(r#"[{"jsonrpc":"2.0","method":"m"}]"#),
        Err(ParseError::Batch)
    ));
    // A malformed array is a JSON error, not a batch.
    assert!(matches!(p("[1,"), Err(ParseError::Json(_))));
}

#[test]
fn invalid_envelopes_are_refused() {
    for text in [
        r#"{"id":1,"method":"m"}"#,                              // missing jsonrpc
        r#"{"jsonrpc":"1.0","id":1,"method":"m"}"#,              // wrong version
        r#"{"jsonrpc":2.0,"id":1,"method":"m"}"#,                // version not a string
        r#"{"jsonrpc":"2.0","id":1,"method":5}"#,                // method not a string
        r#"{"jsonrpc":"2.0"}"#,                                  // nothing
        r#"{"jsonrpc":"2.0","id":1}"#,                           // response without result
        r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,     // both
        r#"{"jsonrpc":"2.0","id":1,"method":"m","result":1}"#,   // request with result
        r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"m"}"#,       // duplicate id
        r#"{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}"#, // duplicate method
        r#"{"jsonrpc":"2.0","result":{}}"#,                      // response without id
    ] {
        let err = p(text).err().unwrap_or_else(|| panic!("accepted {text}"));
        assert_eq!(err.code(), INVALID_REQUEST, "{text}: {err}");
    }
}

#[test]
fn unknown_members_are_ignored_and_kept() {
    let text = r#"{"x":{"deep":[1,2,3]},"jsonrpc":"2.0","method":"m","id":"q","extra":"\u00e9"}"#;
    let m = ok(text);
    assert_eq!(m.kind(), Kind::Request);
    assert_eq!(m.bytes().as_ref(), text.as_bytes());
}

#[test]
fn batches_split_into_exact_elements() {
    let text =
        r#"[ {"jsonrpc":"2.0","id":1,"method":"a"} , {"jsonrpc":"2.0","method":"b"}, 5, [] ]"#;
    let parts = parse_batch(Bytes::copy_from_slice(text.as_bytes())).unwrap();
    assert_eq!(parts.len(), 4);
    let first = parts[0].as_ref().unwrap();
    assert_eq!(
        first.bytes().as_ref(),
        br#"{"jsonrpc":"2.0","id":1,"method":"a"}"#
    );
    assert_eq!(parts[1].as_ref().unwrap().kind(), Kind::Notification);
    assert!(matches!(parts[2], Err(ParseError::NotObject)));
    assert!(matches!(parts[3], Err(ParseError::Invalid(_))));

    assert!(matches!(
        parse_batch(Bytes::from_static(b"[]")),
        Err(ParseError::EmptyBatch)
    ));
    assert!(parse_batch(Bytes::from_static(br#"{"jsonrpc":"2.0","method":"m"}"#)).is_err());
    assert!(matches!(
        parse_batch(Bytes::from_static(b"[")),
        Err(ParseError::Json(_))
    ));
}

#[test]
fn error_response_shapes() {
    let with_id = error_response(
        Some(&RequestId::Number(4)),
        INTERNAL_ERROR,
        "backend \"x\" died",
    );
    assert_eq!(
        with_id.as_ref(),
        br#"{"jsonrpc":"2.0","id":4,"error":{"code":-32603,"message":"backend \"x\" died"}}"#
    );
    let without = error_response(None, PARSE_ERROR, "bad");
    assert_eq!(
        without.as_ref(),
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}"#
    );
    let string_id = error_response(Some(&RequestId::from("a")), -32000, "m");
    let reparsed = parse(string_id).unwrap();
    assert!(reparsed.is_error_response());
    assert_eq!(reparsed.id(), Some(&RequestId::from("a")));

    let synthesized = Message::error(Some(&RequestId::Number(9)), INTERNAL_ERROR, "gone");
    let reparsed = parse(synthesized.bytes().clone()).unwrap();
    assert_eq!(reparsed.id(), synthesized.id());
    assert_eq!(reparsed.kind(), synthesized.kind());
    assert!(synthesized.is_error_response());
}

#[test]
fn cancelled_notification_shape() {
    let bytes = cancelled_notification(&RequestId::from("r\"1"), "client went away");
    let m = parse(bytes.clone()).unwrap();
    assert_eq!(m.method(), Some("notifications/cancelled"));
    assert_eq!(m.cancelled_request_id(), Some(&RequestId::from("r\"1")));
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["params"]["reason"], "client went away");
}

#[test]
fn single_line_only_copies_when_needed() {
    let m = ok("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}\r\n");
    let line = m.single_line();
    assert_eq!(line.as_ref(), b"{\"jsonrpc\":\"2.0\",\"method\":\"m\"}");
    assert_eq!(
        line.as_ptr(),
        m.bytes().as_ptr(),
        "no copy for a plain message"
    );

    let pretty = ok("{\n  \"jsonrpc\": \"2.0\",\r\n  \"method\": \"m\\n\"\n}\n");
    let line = pretty.single_line();
    assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
    let again = parse(line).unwrap();
    assert_eq!(again.method(), Some("m\n"));
}

#[test]
fn ids_share_the_line_buffer() {
    let m = ok(r#"{"jsonrpc":"2.0","id":"abc","method":"tools/list"}"#);
    let Some(RequestId::String(s)) = m.id() else {
        panic!("string id")
    };
    let base = m.bytes().as_ptr() as usize;
    let p = s.as_str().as_ptr() as usize;
    assert!(p >= base && p < base + m.bytes().len());
}

mod properties {
    //! Hostile input: arbitrary bytes never panic the parser, and ids survive parsing exactly.

    use bytes::Bytes;
    use proptest::prelude::{ProptestConfig, Strategy, any, prop, prop_oneof, proptest};
    use serde_json::{Value, json};

    use super::super::{Kind, parse, parse_batch};

    /// Bytes that look enough like JSON-RPC to reach the deeper parsing paths.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"{"[..],
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"\"jsonrpc\"",
            b"\"2.0\"",
            b"\"id\"",
            b"\"method\"",
            b"\"params\"",
            b"\"result\"",
            b"\"error\"",
            b"\"progressToken\"",
            b"\"_meta\"",
            b"\"requestId\"",
            b"null",
            b"1",
            b"-0.5e3",
            b"18446744073709551616",
            b"\"\\ud800\"",
            b"\"\\u0000\"",
            b"\"x\"",
            b" ",
            b"\n",
            b"\xff",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    fn id_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
            any::<u64>().prop_map(Value::from),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(Bytes::from(bytes.clone()));
            let _ = parse_batch(Bytes::from(bytes));
        }

        #[test]
        fn jsonish_bytes_never_panic(bytes in jsonish()) {
            if let Ok(message) = parse(Bytes::from(bytes.clone())) {
                let _ = (message.kind(), message.id(), message.method(), message.single_line());
                let _ = (message.progress_token(), message.cancelled_request_id());
            }
            let _ = parse_batch(Bytes::from(bytes));
        }

        /// A valid request's id (number, string, any other JSON number) comes back exactly:
        /// as read, and as written into a response.
        #[test]
        fn a_valid_requests_id_round_trips(id in id_value(), method in "[a-z/]{1,12}") {
            let text = json!({"jsonrpc": "2.0", "id": id, "method": method}).to_string();
            let message = parse(Bytes::from(text.clone())).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(format!("{text}: {e}"))
            })?;
            proptest::prop_assert_eq!(message.kind(), Kind::Request);
            proptest::prop_assert_eq!(message.method(), Some(method.as_str()));
            let written = message.id().map(|id| id.to_json());
            if id.is_string() {
                // Escapes may be spelt differently: compare the strings.
                let read: Option<Value> = written.as_deref().and_then(|s| serde_json::from_str(s).ok());
                proptest::prop_assert_eq!(read.as_ref(), Some(&id), "{}", text);
            } else {
                // Numbers are kept as their exact JSON text.
                proptest::prop_assert_eq!(written, Some(id.to_string()), "{}", text);
            }
            // The same id in a batch, and in a response, is the same id.
            let batch = format!("[{text}]");
            let batch = parse_batch(Bytes::from(batch)).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(e.to_string())
            })?;
            let in_batch = batch.first().and_then(|m| m.as_ref().ok()).and_then(|m| m.id().cloned());
            proptest::prop_assert_eq!(in_batch.as_ref(), message.id());
            let response = json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string();
            let response = parse(Bytes::from(response)).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(e.to_string())
            })?;
            proptest::prop_assert_eq!(response.id(), message.id());
        }
    }
}
