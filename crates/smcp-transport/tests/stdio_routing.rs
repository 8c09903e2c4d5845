//! The stdio connection as a JSON-RPC transport, against the fake MCP server: replies matched
//! by id, progress by token, related messages to the single request in flight, child requests
//! answered by the client, cancellation, and bytes forwarded unchanged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

#[path = "stdio_support/helpers.rs"]
mod helpers;

use helpers::{
    GUARD, all, call, call_with_token, connect, fake_spec, json_of, msg, next, raw, run_tool,
};
use serde_json::{Value, json};
use smcp_transport::jsonrpc::{Kind, REQUEST_CANCELLED, RequestId};
use smcp_transport::stdio::{RequestError, SendError};

#[tokio::test]
async fn slow_calls_are_matched_by_id_not_order() {
    let conn = connect(fake_spec(&[])).await;
    let mut long = conn
        .request(call(json!(1), "slow", json!({"ms": 600})))
        .unwrap();
    let mut short = conn
        .request(call(json!("1"), "slow", json!({"ms": 1})))
        .unwrap();
    assert_eq!(conn.in_flight(), 2);

    // Number 1 and string "1" are different requests.
    let short_reply = all(&mut short).await;
    let long_reply = all(&mut long).await;
    assert_eq!(short_reply.len(), 1);
    assert_eq!(long_reply.len(), 1);
    assert_eq!(short_reply[0].id(), Some(&RequestId::from("1")));
    assert_eq!(
        json_of(&short_reply[0])["result"]["content"][0]["text"],
        "slept 1 ms"
    );
    assert_eq!(long_reply[0].id(), Some(&RequestId::Number(1)));
    assert_eq!(
        json_of(&long_reply[0])["result"]["content"][0]["text"],
        "slept 600 ms"
    );
    assert_eq!(conn.in_flight(), 0);
    conn.stop().await;
}

#[tokio::test]
async fn replies_in_reverse_order_reach_their_requests() {
    // Deterministic reverse order: the first call cannot finish before the client answers the
    // elicitation it sends, and the client answers only after the second call's reply.
    let conn = connect(fake_spec(&[])).await;
    let mut unsolicited = conn.take_unsolicited().unwrap();
    // Keeps at least two requests in flight throughout, so the child's elicitation request
    // (whenever it comes) is attributable to none of them and goes to the unsolicited channel.
    let mut held = conn.request(call(json!(12), "silent", json!({}))).unwrap();
    let mut first = conn.request(call(json!(10), "elicit", json!({}))).unwrap();
    let mut second = conn
        .request(call(json!(11), "echo", json!({"n": 2})))
        .unwrap();

    let reply = all(&mut second).await;
    assert_eq!(reply.len(), 1);
    assert_eq!(
        json_of(&reply[0])["result"]["structuredContent"],
        json!({"n": 2})
    );

    // With two requests in flight the child's request belongs to neither: unsolicited.
    let ask = tokio::time::timeout(GUARD, unsolicited.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ask.kind(), Kind::Request);
    assert_eq!(ask.method(), Some("elicitation/create"));
    conn.send(msg(&json!({"jsonrpc":"2.0","id":json_of(&ask)["id"],
        "result":{"action":"accept","content":{"name":"Ada"}}})))
        .unwrap();

    let reply = all(&mut first).await;
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0].id(), Some(&RequestId::Number(10)));
    assert_eq!(
        json_of(&reply[0])["result"]["structuredContent"],
        json!({"action":"accept","content":{"name":"Ada"}})
    );
    conn.cancel(&RequestId::Number(12), "done");
    assert_eq!(all(&mut held).await.len(), 1);
    conn.stop().await;
}

#[tokio::test]
async fn progress_follows_its_token() {
    let conn = connect(fake_spec(&[])).await;
    let mut unsolicited = conn.take_unsolicited().unwrap();
    let mut other = conn
        .request(call_with_token(
            json!(1),
            "slow",
            json!({"ms": 300}),
            json!("other"),
        ))
        .unwrap();
    let mut counted = conn
        .request(call_with_token(
            json!(2),
            "progress",
            json!({"count": 3}),
            json!("tok"),
        ))
        .unwrap();

    let got = all(&mut counted).await;
    assert_eq!(got.len(), 4, "three progress notifications, then the reply");
    for (i, m) in got[..3].iter().enumerate() {
        assert_eq!(m.method(), Some("notifications/progress"));
        assert_eq!(m.progress_token(), Some(&RequestId::from("tok")));
        assert_eq!(json_of(m)["params"]["progress"], json!(i + 1));
    }
    assert_eq!(got[3].kind(), Kind::Response);
    assert_eq!(got[3].id(), Some(&RequestId::Number(2)));

    let got = all(&mut other).await;
    assert_eq!(got.len(), 1, "no progress leaked to the other request");
    conn.stop().await;
    assert!(
        unsolicited.recv().await.is_none(),
        "nothing went to the unsolicited channel"
    );
}

#[tokio::test]
async fn notification_before_the_reply_goes_to_the_single_request() {
    let conn = connect(fake_spec(&[])).await;
    let got = run_tool(&conn, 5, "notify_first", json!({})).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].kind(), Kind::Notification);
    assert_eq!(got[0].method(), Some("notifications/message"));
    assert_eq!(got[1].id(), Some(&RequestId::Number(5)));
    conn.stop().await;
}

#[tokio::test]
async fn related_messages_go_unsolicited_when_several_requests_are_in_flight() {
    let conn = connect(fake_spec(&[])).await;
    let mut unsolicited = conn.take_unsolicited().unwrap();
    assert!(conn.take_unsolicited().is_none(), "taken once");
    let mut held = conn.request(call(json!(1), "silent", json!({}))).unwrap();
    let got = run_tool(&conn, 2, "notify_first", json!({})).await;
    assert_eq!(
        got.len(),
        1,
        "only the reply: the notification is not attributable"
    );
    let note = tokio::time::timeout(GUARD, unsolicited.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(note.method(), Some("notifications/message"));
    conn.cancel(&RequestId::Number(1), "done");
    assert_eq!(all(&mut held).await.len(), 1);
    conn.stop().await;
}

#[tokio::test]
async fn child_request_is_delivered_and_the_client_answer_written_back() {
    let conn = connect(fake_spec(&[])).await;
    let mut stream = conn.request(call(json!(3), "sample", json!({}))).unwrap();
    let ask = next(&mut stream).await.unwrap();
    assert_eq!(ask.kind(), Kind::Request);
    assert_eq!(ask.method(), Some("sampling/createMessage"));
    let answer = json!({"role":"assistant","content":{"type":"text","text":"hi"},
        "model":"test-model","stopReason":"endTurn"});
    conn.send(msg(
        &json!({"jsonrpc":"2.0","id":json_of(&ask)["id"],"result":answer}),
    ))
    .unwrap();
    let reply = next(&mut stream).await.unwrap();
    assert_eq!(reply.id(), Some(&RequestId::Number(3)));
    assert_eq!(json_of(&reply)["result"]["structuredContent"], answer);
    assert!(next(&mut stream).await.is_none());
    conn.stop().await;
}

#[tokio::test]
async fn cancel_writes_notifications_cancelled_and_ends_the_stream() {
    let conn = connect(fake_spec(&[])).await;
    let mut stream = conn.request(call(json!(7), "silent", json!({}))).unwrap();
    assert_eq!(conn.in_flight(), 1);
    conn.cancel(&RequestId::Number(7), "user gave up");
    assert_eq!(conn.in_flight(), 0);
    let end = all(&mut stream).await;
    assert_eq!(end.len(), 1);
    let v = json_of(&end[0]);
    assert_eq!(v["id"], 7);
    assert_eq!(v["error"]["code"], REQUEST_CANCELLED);

    let lines = received(&conn, 8).await;
    let cancel = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["method"] == "notifications/cancelled")
        .expect("the child got notifications/cancelled");
    assert_eq!(
        cancel["params"],
        json!({"requestId": 7, "reason": "user gave up"})
    );

    // Cancelling what is not in flight writes nothing.
    conn.cancel(&RequestId::Number(99), "nothing");
    let again = received(&conn, 9).await;
    assert_eq!(
        again
            .iter()
            .filter(|l| l.contains("notifications/cancelled"))
            .count(),
        1
    );
    conn.stop().await;
}

#[tokio::test]
async fn client_cancellation_is_forwarded_verbatim_and_ends_the_stream() {
    let conn = connect(fake_spec(&[])).await;
    let mut stream = conn.request(call(json!("s"), "silent", json!({}))).unwrap();
    let text = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"s","reason":"client"}}"#;
    conn.send(raw(text)).unwrap();
    let end = all(&mut stream).await;
    assert_eq!(end.len(), 1);
    assert_eq!(json_of(&end[0])["error"]["code"], REQUEST_CANCELLED);
    let lines = received(&conn, 1).await;
    assert!(lines.iter().any(|l| l == text), "forwarded byte for byte");
    conn.stop().await;
}

#[tokio::test]
async fn bytes_reach_the_child_unchanged() {
    let conn = connect(fake_spec(&[])).await;
    let odd = r#"{ "id" :42,"jsonrpc":"2.0" , "method":"tools/call","params":{"name":"echo","arguments":{"é":"\u00e9","n":1.50}},"x-extra":[true]}"#;
    let mut stream = conn.request(raw(odd)).unwrap();
    assert_eq!(all(&mut stream).await.len(), 1);

    // Pretty-printed input is put on one line (its newlines are whitespace); nothing else changes.
    let pretty = "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 43,\n  \"method\": \"ping\"\n}\n";
    let mut stream = conn.request(raw(pretty)).unwrap();
    assert_eq!(json_of(&all(&mut stream).await[0])["result"], json!({}));

    let lines = received(&conn, 44).await;
    assert!(lines.iter().any(|l| l == odd), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "{   \"jsonrpc\": \"2.0\",   \"id\": 43,   \"method\": \"ping\" }")
    );
    conn.stop().await;
}

#[tokio::test]
async fn misuse_is_refused() {
    let conn = connect(fake_spec(&[])).await;
    let _held = conn.request(call(json!(1), "silent", json!({}))).unwrap();
    assert_eq!(
        conn.request(call(json!(1), "echo", json!({}))).unwrap_err(),
        RequestError::DuplicateId(RequestId::Number(1))
    );
    let note = msg(&json!({"jsonrpc":"2.0","method":"notifications/x"}));
    assert_eq!(
        conn.request(note).unwrap_err(),
        RequestError::NotARequest(Kind::Notification)
    );
    assert_eq!(
        conn.send(call(json!(2), "echo", json!({}))).unwrap_err(),
        SendError::IsRequest
    );
    conn.stop().await;
    assert_eq!(
        conn.request(call(json!(3), "echo", json!({}))).unwrap_err(),
        RequestError::Closed
    );
    assert_eq!(
        conn.send(msg(&json!({"jsonrpc":"2.0","method":"notifications/x"})))
            .unwrap_err(),
        SendError::Closed
    );
}

/// Every line the child has received so far, verbatim.
async fn received(conn: &smcp_transport::stdio::StdioConnection, id: i64) -> Vec<String> {
    let got = run_tool(conn, id, "received", json!({})).await;
    serde_json::from_value(json_of(&got[0])["result"]["structuredContent"]["lines"].clone())
        .unwrap()
}
