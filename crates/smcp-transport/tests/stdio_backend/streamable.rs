//! Streamable HTTP against real children.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;

use crate::support::{
    Sse, call, content_type, ctx, eventually, fixture, fixture_with, get, initialize, json_body,
    options, post,
};

#[tokio::test]
async fn json_and_sse_answers_from_a_real_child() {
    let fx = fixture();
    let session = initialize(&fx.backend).await;

    let response = fx
        .backend
        .handle(
            post(&call(1, "echo", json!({"text":"hi"})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let body = json_body(response).await;
    assert_eq!(body["id"], 1);
    assert_eq!(body["result"]["structuredContent"]["text"], "hi");

    let response = fx
        .backend
        .handle(
            post(&call(2, "notify_first", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let mut sse = Sse::new(response);
    assert_eq!(sse.next_json().await["method"], "notifications/message");
    let answer = sse.next_json().await;
    assert_eq!(answer["id"], 2);
    assert!(sse.next().await.is_none());

    // The child saw the client's bytes unchanged, and exactly one initialize.
    let response = fx
        .backend
        .handle(
            post(&call(3, "received", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let lines = json_body(response).await["result"]["structuredContent"]["lines"].clone();
    let lines: Vec<String> = serde_json::from_value(lines).unwrap();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("\"initialize\""))
            .count(),
        1
    );
    assert!(lines.contains(&call(1, "echo", json!({"text":"hi"})).to_string()));
    fx.backend.shutdown().await;
}

#[tokio::test]
async fn sampling_round_trip_with_a_real_child() {
    let fx = fixture();
    let session = initialize(&fx.backend).await;
    let response = fx
        .backend
        .handle(
            post(&call(4, "sample", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let mut sse = Sse::new(response);
    let request = sse.next_json().await;
    assert_eq!(request["method"], "sampling/createMessage");
    let reply = json!({"jsonrpc":"2.0","id":request["id"].clone(),
        "result":{"role":"assistant","content":{"type":"text","text":"hello"},"model":"m"}});
    let response = fx
        .backend
        .handle(post(&reply, Some(&session)), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let answer = sse.next_json().await;
    assert_eq!(answer["id"], 4);
    assert_eq!(
        answer["result"]["structuredContent"]["content"]["text"],
        "hello"
    );
    assert!(sse.next().await.is_none());
    fx.backend.shutdown().await;
}

#[tokio::test]
async fn with_two_requests_running_child_notifications_reach_the_get_stream() {
    let fx = fixture();
    let session = initialize(&fx.backend).await;
    let mut stream = Sse::new(fx.backend.handle(get(&session), ctx("/mcp")).await);
    // One request stays in flight, so the connection cannot tell whose the next
    // notification is: it is unsolicited, and goes out on the GET stream.
    let silent = {
        let backend = fx.backend.clone();
        let session = session.clone();
        tokio::spawn(async move {
            backend
                .handle(
                    post(&call(5, "silent", json!({})), Some(&session)),
                    ctx("/mcp"),
                )
                .await
        })
    };
    let response = fx
        .backend
        .handle(
            post(&call(6, "notify_first", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(json_body(response).await["id"], 6);
    let note = stream.next_json().await;
    assert_eq!(note["method"], "notifications/message");
    // Ending the session answers the silent request and ends the stream.
    let response = fx.backend.handle(delete(&session), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let body = json_body(silent.await.unwrap()).await;
    assert_eq!(body["error"]["code"], -32603);
    assert!(stream.next().await.is_none());
    fx.backend.shutdown().await;
}

fn delete(session: &str) -> http::Request<smcp_transport::body::Body> {
    http::Request::delete("/v1/fake/mcp")
        .header("mcp-session-id", session)
        .body(smcp_transport::body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_crashing_child_fails_its_request_then_the_session_is_gone() {
    let fx = fixture();
    let session = initialize(&fx.backend).await;
    let response = fx
        .backend
        .handle(
            post(&call(7, "crash", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let body = json_body(response).await;
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32603);
    let backend = fx.backend.clone();
    eventually("the session ended", || backend.active_sessions() == 0).await;
    let response = fx
        .backend
        .handle(
            post(&call(8, "echo", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    fx.backend.shutdown().await;
}

#[tokio::test]
async fn a_silent_child_times_out_and_is_told_to_cancel() {
    let fx = fixture_with(smcp_transport::stdio_backend::StdioBackendOptions {
        stdio_timeout: Duration::from_millis(300),
        ..options()
    });
    let session = initialize(&fx.backend).await;
    let response = fx
        .backend
        .handle(
            post(&call(9, "silent", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let body = json_body(response).await;
    assert_eq!(body["id"], 9);
    assert_eq!(body["error"]["code"], -32001);
    let response = fx
        .backend
        .handle(
            post(&call(10, "received", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let lines = json_body(response).await["result"]["structuredContent"]["lines"].clone();
    let cancelled: Vec<serde_json::Value> = serde_json::from_value::<Vec<String>>(lines)
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|m: &serde_json::Value| m["method"] == "notifications/cancelled")
        .collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["params"]["requestId"], 9);
    fx.backend.shutdown().await;
}

#[tokio::test]
async fn a_command_that_does_not_exist_gives_502() {
    let mut opts = options();
    opts.spec = std::sync::Arc::new(smcp_transport::stdio::ChildSpec::new(
        "fake",
        "/nonexistent/smcp-no-such-mcp-server",
    ));
    let backend = smcp_transport::stdio_backend::StdioBackend::new(opts);
    let response = backend
        .handle(
            post(&crate::support::initialize_body(11), None),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = json_body(response).await;
    assert_eq!(body["id"], 11);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("/nonexistent/smcp-no-such-mcp-server"),
        "{message}"
    );
    assert_eq!(backend.active_sessions(), 0);
}

/// A child line that is not UTF-8 never reaches a client (it would be served as
/// `application/json`): it is skipped like any other line that is not JSON-RPC, and the call's
/// own answer still comes back as JSON.
#[tokio::test]
async fn a_child_line_that_is_not_utf8_is_skipped() {
    let fx = fixture();
    let session = initialize(&fx.backend).await;
    let response = fx
        .backend
        .handle(
            post(&call(1, "bad_utf8", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "application/json");
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = std::str::from_utf8(&bytes).expect("the answer is UTF-8");
    assert!(
        !text.contains("notifications/message"),
        "the bad line was forwarded: {text}"
    );
    let body: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["id"], 1);
    assert_eq!(
        body["result"]["content"][0]["text"], "after the bad bytes",
        "{body}"
    );
    fx.backend.shutdown().await;
}

/// `Accept: application/json` alone: a single answer is JSON; an answer that needs a stream
/// (progress first) is a 406 with a JSON-RPC error, never `text/event-stream`.
#[tokio::test]
async fn accept_json_only_gets_json_or_406() {
    let fx = fixture();
    let session = initialize(&fx.backend).await;
    let json_only = |body: serde_json::Value| {
        let mut request = post(&body, Some(&session));
        request.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        request
    };
    let response = fx
        .backend
        .handle(
            json_only(call(1, "echo", json!({"text":"hi"}))),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(json_body(response).await["id"], 1);

    let mut streaming = call(2, "progress", json!({"count": 2}));
    streaming["params"]["_meta"] = json!({"progressToken": "p"});
    let response = fx.backend.handle(json_only(streaming), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    assert_ne!(content_type(&response), "text/event-stream");
    let body = json_body(response).await;
    assert!(body["error"]["code"].is_i64(), "{body}");
    fx.backend.shutdown().await;
}
