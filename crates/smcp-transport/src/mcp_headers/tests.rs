//! The header rule on each kind of body, and the value encoding both ways.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use super::{HeaderMismatch, check, decode, encode};
use crate::request_body::RequestBody;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn verdict(pairs: &[(&'static str, &str)], body: &str) -> Result<(), HeaderMismatch> {
    let body = RequestBody::from_bytes(Bytes::from(body.to_owned()));
    check(&headers(pairs), &body)
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
const MODERN: (&str, &str) = ("mcp-protocol-version", "2026-07-28");

#[test]
fn matching_headers_pass_and_2025_requests_need_none() {
    assert_eq!(
        verdict(
            &[MODERN, ("mcp-method", "tools/call"), ("mcp-name", "echo")],
            CALL
        ),
        Ok(())
    );
    assert_eq!(
        verdict(&[("mcp-protocol-version", "2025-06-18")], CALL),
        Ok(())
    );
    assert_eq!(verdict(&[], CALL), Ok(()));
    let read =
        r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a b"}}"#;
    assert_eq!(
        verdict(
            &[
                MODERN,
                ("mcp-method", "resources/read"),
                ("mcp-name", &encode("file:///a b"))
            ],
            read
        ),
        Ok(())
    );
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#;
    assert_eq!(
        verdict(&[MODERN, ("mcp-method", "tools/list")], list),
        Ok(())
    );
}

#[test]
fn a_header_that_names_another_call_is_refused_whatever_the_version() {
    let differs = |header| Err(HeaderMismatch::Differs { header });
    // The smuggling case: a policy or balancer reading the header would see another tool.
    assert_eq!(
        verdict(
            &[MODERN, ("mcp-method", "tools/call"), ("mcp-name", "safe")],
            CALL
        ),
        differs("Mcp-Name")
    );
    assert_eq!(verdict(&[("mcp-name", "safe")], CALL), differs("Mcp-Name"));
    assert_eq!(
        verdict(&[("mcp-method", "prompts/get")], CALL),
        differs("Mcp-Method")
    );
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#;
    assert_eq!(
        verdict(&[("mcp-method", "tools/list"), ("mcp-name", "echo")], list),
        differs("Mcp-Name")
    );
    let response = r#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
    assert_eq!(
        verdict(&[("mcp-method", "tools/call")], response),
        differs("Mcp-Method")
    );
    // A name that is not a string in the body matches nothing.
    let odd = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#;
    assert_eq!(verdict(&[("mcp-name", "7")], odd), differs("Mcp-Name"));
}

#[test]
fn a_2026_request_without_its_headers_is_refused() {
    let missing = |header| Err(HeaderMismatch::Missing { header });
    assert_eq!(verdict(&[MODERN], CALL), missing("Mcp-Method"));
    assert_eq!(
        verdict(&[MODERN, ("mcp-method", "tools/call")], CALL),
        missing("Mcp-Name")
    );
    assert_eq!(
        verdict(
            &[
                ("mcp-protocol-version", "2027-01-01"),
                ("mcp-method", "tools/call")
            ],
            CALL
        ),
        missing("Mcp-Name")
    );
}

#[test]
fn batches_carry_neither_header_and_unreadable_values_are_refused() {
    let batch = format!("[{CALL}]");
    assert_eq!(
        verdict(&[("mcp-method", "tools/call")], &batch),
        Err(HeaderMismatch::Batch {
            header: "Mcp-Method"
        })
    );
    assert_eq!(verdict(&[], &batch), Ok(()));
    assert_eq!(
        verdict(&[("mcp-name", "=?base64?!!!?=")], CALL),
        Err(HeaderMismatch::Unreadable { header: "Mcp-Name" })
    );
    // Not JSON-RPC at all: the server refuses it, not this rule.
    assert_eq!(verdict(&[("mcp-method", "x")], "not json"), Ok(()));
}

#[test]
fn values_round_trip_through_the_header_encoding() {
    for value in [
        "echo",
        "get time",
        " edge ",
        "naïve",
        "=?base64?x?=",
        "",
        "a\u{7f}b",
    ] {
        let encoded = encode(value);
        assert!(HeaderValue::from_str(&encoded).is_ok(), "{encoded:?}");
        assert_eq!(
            decode(encoded.as_bytes()).as_deref(),
            Some(value),
            "{value:?}"
        );
    }
    assert_eq!(encode("echo"), "echo");
    assert_eq!(encode("naïve"), "=?base64?bmHDr3Zl?=");
    assert_eq!(decode(b"=?base64?bmHDr3Zl?="), Some("naïve".to_owned()));
    assert_eq!(decode(b"=?base64?/w==?="), None, "not UTF-8");
    assert_eq!(decode(b"\xff"), None);
}
