//! `smcp_transport::jsonrpc::parse` and `parse_batch`, which read the envelope of every
//! message a client or backend sends.
//!
//! The proxy routes on the envelope (kind, `id`, `method`, progress token, cancelled id) but
//! forwards the bytes unchanged, so the two must never disagree: if smcp's hand-written
//! visitors read a message differently from the JSON the backend parses, a response could be
//! matched to the wrong request or a method could slip past a rule. For any input this checks
//! that nothing panics; that an accepted message's bytes are the input unchanged; that its
//! kind, id, method, progress token and cancelled id are what `serde_json::Value` reads from the
//! same bytes under the JSON-RPC 2.0 rules; that `single_line()` has no CR/LF or trailing
//! whitespace and parses again to the same envelope and value; that refusals are of the right
//! class (syntax errors are `Json`, arrays `Batch`, other values `NotObject`); and that each
//! element `parse_batch` accepts is the exact slice of the input for that array element.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use serde_json::value::RawValue;
use smcp_transport::jsonrpc::{
    Kind, Message, PARSE_ERROR, ParseError, RequestId, parse, parse_batch,
};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let value = serde_json::from_slice::<Value>(data);
    if value.as_ref().is_err_and(|e| no_oracle(e, data)) {
        let _ = parse(bytes.clone()).map(|m| assert_eq!(m.bytes(), data));
        let _ = parse_batch(bytes);
        return;
    }
    match parse(bytes.clone()) {
        Ok(message) => {
            assert_eq!(message.bytes(), data, "bytes are forwarded unchanged");
            let value = value.unwrap_or_else(|e| panic!("accepted but serde_json says {e}"));
            check_envelope(&message, &value);
            check_single_line(&message, &value);
            assert!(parse_batch(bytes).is_err(), "an object is not a batch");
        }
        Err(error) => {
            match &error {
                ParseError::Json(_) => {
                    assert_eq!(error.code(), PARSE_ERROR);
                    assert!(value.is_err(), "refused as invalid JSON: {error}");
                }
                ParseError::Batch => assert!(matches!(value, Ok(Value::Array(_)))),
                ParseError::NotObject => assert!(
                    value
                        .as_ref()
                        .is_ok_and(|v| !v.is_object() && !v.is_array()),
                    "{value:?}"
                ),
                _ => {}
            }
            check_batch(bytes, data, value.ok());
        }
    }
});

/// Inputs that are JSON by RFC 8259's grammar but that `Value` cannot hold: a number beyond
/// f64 (`1e999`), or a `\u` escape of a lone surrogate (`"\uD800"`; serde_json refuses it
/// when it decodes a string, and skips it unchecked in a value it ignores). For those there is
/// no oracle, and the target only checks that nothing panics. Invalid UTF-8 is not among them:
/// it is never JSON, and `parse` must refuse it.
fn no_oracle(error: &serde_json::Error, data: &[u8]) -> bool {
    let message = error.to_string();
    message.starts_with("number out of range")
        || message.contains("surrogate")
        || message.contains("hex escape")
        || (message.starts_with("invalid unicode code point") && std::str::from_utf8(data).is_ok())
}

/// Whether `id` is the JSON value `value` (a string, or a number compared as JSON text).
fn same_id(id: &RequestId, value: &Value) -> bool {
    match id {
        RequestId::Number(n) => value.as_i64() == Some(*n) && !value.is_f64(),
        RequestId::String(s) => value.as_str() == Some(s.as_str()),
        RequestId::OtherNumber(text) => {
            value.is_number()
                && serde_json::from_str::<Value>(text.as_str()).ok().as_ref() == Some(value)
        }
    }
}

/// A progress token or request id as read from a `Value`: strings and numbers count.
fn token(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| v.is_string() || v.is_number())
}

fn same_token(got: Option<&RequestId>, want: Option<&Value>) -> bool {
    match (got, token(want)) {
        (None, None) => true,
        (Some(id), Some(value)) => same_id(id, value),
        _ => false,
    }
}

fn check_envelope(message: &Message, value: &Value) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("accepted {value}"));
    assert_eq!(object.get("jsonrpc"), Some(&Value::from("2.0")));
    let method = object.get("method");
    let id = object.get("id");
    let (has_result, has_error) = (object.contains_key("result"), object.contains_key("error"));
    assert_eq!(message.method(), method.and_then(Value::as_str));
    let expected_kind = match (method, id) {
        (Some(_), Some(id)) if !id.is_null() => Kind::Request,
        (Some(_), None) => Kind::Notification,
        (None, Some(_)) if has_result != has_error => Kind::Response,
        _ => panic!("accepted {value} as {:?}", message.kind()),
    };
    assert_eq!(message.kind(), expected_kind, "{value}");
    if method.is_some() {
        assert!(!has_result && !has_error);
    }
    assert_eq!(message.is_error_response(), has_error);
    match (message.id(), id) {
        (Some(got), Some(want)) => assert!(same_id(got, want), "id {got:?} vs {want}"),
        (None, None) => {}
        (None, Some(want)) => assert!(want.is_null(), "id {want} lost"),
        (Some(got), None) => panic!("id {got:?} from nowhere"),
    }
    let params = object.get("params");
    let method = message.method().unwrap_or_default();
    let (progress, cancelled) = match message.kind() {
        Kind::Request => (
            params
                .and_then(|p| p.get("_meta"))
                .and_then(|m| m.get("progressToken")),
            None,
        ),
        Kind::Notification if method == "notifications/progress" => {
            (params.and_then(|p| p.get("progressToken")), None)
        }
        Kind::Notification if method == "notifications/cancelled" => {
            (None, params.and_then(|p| p.get("requestId")))
        }
        _ => (None, None),
    };
    // `Value::get` on a non-object returns `None`, as the envelope skips positional params.
    assert!(
        same_token(message.progress_token(), progress),
        "progress token of {value}"
    );
    assert!(
        same_token(message.cancelled_request_id(), cancelled),
        "cancelled id of {value}"
    );
}

fn check_single_line(message: &Message, value: &Value) {
    let line = message.single_line();
    assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
    assert!(line.last().is_none_or(|b| !b.is_ascii_whitespace()));
    let again = parse(line.clone()).unwrap_or_else(|e| panic!("single_line refused: {e}"));
    assert_eq!(again.kind(), message.kind());
    assert_eq!(again.id(), message.id());
    assert_eq!(again.method(), message.method());
    assert_eq!(again.progress_token(), message.progress_token());
    assert_eq!(again.cancelled_request_id(), message.cancelled_request_id());
    assert_eq!(
        serde_json::from_slice::<Value>(&line).ok().as_ref(),
        Some(value)
    );
}

fn check_batch(bytes: Bytes, data: &[u8], value: Option<Value>) {
    let range = bytes.as_ptr_range();
    let Ok(elements) = parse_batch(bytes) else {
        return;
    };
    let Some(Value::Array(values)) = value else {
        panic!("parse_batch accepted a non-array");
    };
    let raws: Vec<&RawValue> =
        serde_json::from_slice(data).unwrap_or_else(|e| panic!("batch but not an array: {e}"));
    assert!(!elements.is_empty());
    assert_eq!(elements.len(), values.len());
    assert_eq!(elements.len(), raws.len());
    for ((element, value), raw) in elements.iter().zip(&values).zip(&raws) {
        let Ok(message) = element else {
            continue;
        };
        assert_eq!(message.bytes(), raw.get().as_bytes(), "element bytes");
        let inner = message.bytes().as_ptr_range();
        assert!(
            range.start <= inner.start && inner.end <= range.end,
            "a slice of the input"
        );
        check_envelope(message, value);
        check_single_line(message, value);
    }
}
