//! Streamable HTTP: answer shapes, streams, unsolicited routing, resumption, timeouts.

use std::time::Duration;

use ::http::StatusCode;
use serde_json::{Value, json};

use super::{
    Sse, backend, backend_with, call, content_type, ctx, get, initialize, json_body, options, post,
    settle,
};
use crate::jsonrpc::RequestId;

#[tokio::test(start_paused = true)]
async fn a_direct_response_is_plain_json() {
    let (backend, _fake) = backend();
    let session = initialize(&backend).await;
    let response = backend
        .handle(
            post(&call(7, "echo", json!({"text":"hello"})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_body(response).await;
    assert_eq!(body["id"], 7);
    assert_eq!(body["result"]["content"][0]["text"], "hello");
}

#[tokio::test(start_paused = true)]
async fn related_messages_make_the_answer_an_event_stream() {
    let (backend, _fake) = backend();
    let session = initialize(&backend).await;
    let response = backend
        .handle(
            post(&call(8, "notify_first", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut sse = Sse::new(response);
    let (first, note) = sse.next_json().await;
    assert_eq!(first.event.as_deref(), Some("message"));
    assert_eq!(note["method"], "notifications/message");
    let (second, answer) = sse.next_json().await;
    assert_eq!(answer["id"], 8);
    assert_eq!(answer["result"]["content"][0]["text"], "after notification");
    let (a, b) = (first.id.unwrap(), second.id.unwrap());
    assert_ne!(a, b);
    assert_eq!(a.split('-').next(), b.split('-').next(), "same stream");
    assert!(
        sse.next().await.is_none(),
        "the stream ends after the response"
    );
}

#[tokio::test(start_paused = true)]
async fn notifications_and_responses_get_202() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let response = backend
        .handle(
            post(
                &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
                Some(&session),
            ),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(content_type(&response), "");
    let received = fake.last().received();
    assert_eq!(received[0]["method"], "notifications/initialized");
}

#[tokio::test(start_paused = true)]
async fn sampling_round_trip_over_the_post_stream() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let response = backend
        .handle(
            post(&call(9, "sample", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let mut sse = Sse::new(response);
    let (_, sampling) = sse.next_json().await;
    assert_eq!(sampling["method"], "sampling/createMessage");
    let reply = json!({"jsonrpc":"2.0","id":sampling["id"].clone(),
        "result":{"role":"assistant","content":{"type":"text","text":"pong"},"model":"m"}});
    let response = backend
        .handle(post(&reply, Some(&session)), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let (_, answer) = sse.next_json().await;
    assert_eq!(answer["id"], 9);
    assert_eq!(answer["result"]["content"][0]["text"], "sampled: pong");
    assert!(sse.next().await.is_none());
    // The child saw the client's response byte for byte.
    assert_eq!(fake.last().received()[0], reply);
}

#[tokio::test(start_paused = true)]
async fn the_get_stream_carries_unsolicited_messages() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let response = backend.handle(get(&session, None), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut sse = Sse::new(response);
    let note = json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"});
    fake.last().push_unsolicited(note.clone()).await;
    let (event, value) = sse.next_json().await;
    assert_eq!(value, note);
    assert!(event.id.is_some());
    // A second GET stream is allowed; the newest one gets the next message, exactly once.
    let mut newer = Sse::new(backend.handle(get(&session, None), ctx("/mcp")).await);
    let ping = json!({"jsonrpc":"2.0","id":"p1","method":"ping"});
    fake.last().push_unsolicited(ping.clone()).await;
    assert_eq!(newer.next_json().await.1, ping);
    // Deleting the session ends both streams, with nothing more on the first.
    let response = backend.handle(super::delete(&session), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(sse.next().await.is_none());
    assert!(newer.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn without_a_get_stream_unsolicited_messages_ride_the_oldest_running_request() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let handle = {
        let backend = backend.clone();
        let session = session.clone();
        tokio::spawn(async move {
            backend
                .handle(
                    post(&call(10, "slow", json!({})), Some(&session)),
                    ctx("/mcp"),
                )
                .await
        })
    };
    let conn = fake.last();
    settle().await;
    assert_eq!(conn.pending().len(), 1);
    let note = json!({"jsonrpc":"2.0","method":"notifications/resources/list_changed"});
    conn.push_unsolicited(note.clone()).await;
    let mut sse = Sse::new(handle.await.unwrap());
    assert_eq!(sse.next_json().await.1, note);
    conn.respond(&RequestId::from(10), json!({"content":[]}));
    assert_eq!(sse.next_json().await.1["id"], 10);
    assert!(sse.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn unsolicited_messages_wait_for_the_next_stream() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let note = json!({"jsonrpc":"2.0","method":"notifications/prompts/list_changed"});
    fake.last().push_unsolicited(note.clone()).await;
    // Nothing can take it yet; the next stream to open does, first.
    let mut sse = Sse::new(backend.handle(get(&session, None), ctx("/mcp")).await);
    assert_eq!(sse.next_json().await.1, note);
    // The same happens with the next request's answer when no GET stream is open.
    drop(sse);
    let later = json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"});
    fake.last().push_unsolicited(later.clone()).await;
    settle().await;
    let response = backend
        .handle(
            post(&call(11, "echo", json!({"text":"x"})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let mut sse = Sse::new(response);
    assert_eq!(sse.next_json().await.1, later);
    assert_eq!(sse.next_json().await.1["id"], 11);
    assert!(sse.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn last_event_id_replays_what_a_post_stream_missed() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let response = backend
        .handle(
            post(&call(12, "sample", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let mut sse = Sse::new(response);
    let (first, sampling) = sse.next_json().await;
    // The client goes away; that is not a cancellation.
    drop(sse);
    let reply = json!({"jsonrpc":"2.0","id":sampling["id"].clone(),
        "result":{"role":"assistant","content":{"type":"text","text":"late"},"model":"m"}});
    let response = backend
        .handle(post(&reply, Some(&session)), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    settle().await;
    assert!(fake.last().pending().is_empty());
    let first_id = first.id.unwrap();
    let response = backend
        .handle(get(&session, Some(&first_id)), ctx("/mcp"))
        .await;
    let mut resumed = Sse::new(response);
    let (event, answer) = resumed.next_json().await;
    assert_eq!(answer["id"], 12);
    assert_eq!(answer["result"]["content"][0]["text"], "sampled: late");
    assert_ne!(event.id.unwrap(), first_id);
    assert!(
        resumed.next().await.is_none(),
        "a finished POST stream ends after the replay"
    );
}

#[tokio::test(start_paused = true)]
async fn last_event_id_resumes_a_get_stream() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let mut sse = Sse::new(backend.handle(get(&session, None), ctx("/mcp")).await);
    let conn = fake.last();
    let one = json!({"jsonrpc":"2.0","method":"notifications/message","params":{"data":1}});
    let two = json!({"jsonrpc":"2.0","method":"notifications/message","params":{"data":2}});
    conn.push_unsolicited(one.clone()).await;
    conn.push_unsolicited(two.clone()).await;
    let (first, value) = sse.next_json().await;
    assert_eq!(value, one);
    // Wait until the second event is written to the (unread) stream, then disconnect.
    let (second, _) = sse.next_json().await;
    drop(sse);
    let first_id = first.id.unwrap();
    let mut resumed = Sse::new(
        backend
            .handle(get(&session, Some(&first_id)), ctx("/mcp"))
            .await,
    );
    let (event, value) = resumed.next_json().await;
    assert_eq!(value, two);
    assert_eq!(event.id, second.id);
    // ...and the resumed stream continues live.
    let three = json!({"jsonrpc":"2.0","method":"notifications/message","params":{"data":3}});
    conn.push_unsolicited(three.clone()).await;
    assert_eq!(resumed.next_json().await.1, three);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_last_event_id_opens_a_fresh_stream() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    for last in ["999-3", "garbage"] {
        let response = backend.handle(get(&session, Some(last)), ctx("/mcp")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut sse = Sse::new(response);
        let note = json!({"jsonrpc":"2.0","method":"notifications/message","params":{"l":last}});
        fake.last().push_unsolicited(note.clone()).await;
        assert_eq!(sse.next_json().await.1, note);
    }
}

#[tokio::test(start_paused = true)]
async fn delete_ends_the_session_and_its_child() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let response = backend.handle(super::delete(&session), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(backend.active_sessions(), 0);
    let response = backend
        .handle(
            post(&call(1, "echo", json!({"text":"x"})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = backend.handle(super::delete(&session), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    backend.shutdown().await;
    assert!(
        fake.last()
            .stopped
            .load(std::sync::atomic::Ordering::SeqCst)
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_crash_fails_requests_in_flight_then_the_session_is_gone() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let handle = {
        let backend = backend.clone();
        let session = session.clone();
        tokio::spawn(async move {
            backend
                .handle(
                    post(&call(13, "slow", json!({})), Some(&session)),
                    ctx("/mcp"),
                )
                .await
        })
    };
    let conn = fake.last();
    settle().await;
    assert_eq!(conn.pending().len(), 1);
    conn.crash();
    let body = json_body(handle.await.unwrap()).await;
    assert_eq!(body["id"], 13);
    assert_eq!(body["error"]["code"], -32603);
    settle().await;
    assert_eq!(backend.active_sessions(), 0);
    let response = backend
        .handle(
            post(&call(14, "echo", json!({"text":"x"})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn a_request_past_its_timeout_gets_an_error_and_the_child_a_cancellation() {
    let (backend, fake) = backend_with(super::StdioBackendOptions {
        stdio_timeout: Duration::from_secs(5),
        ..options()
    });
    let session = initialize(&backend).await;
    let started = tokio::time::Instant::now();
    let response = backend
        .handle(
            post(&call(15, "slow", json!({})), Some(&session)),
            ctx("/mcp"),
        )
        .await;
    let body = json_body(response).await;
    assert_eq!(body["id"], 15);
    assert_eq!(body["error"]["code"], -32001);
    assert_eq!(body["error"]["message"], "request timed out");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let received = fake.last().received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["method"], "notifications/cancelled");
    assert_eq!(received[0]["params"]["requestId"], 15);
    assert!(fake.last().pending().is_empty());
}

#[tokio::test(start_paused = true)]
async fn progress_restarts_the_timeout() {
    let (backend, _fake) = backend_with(super::StdioBackendOptions {
        stdio_timeout: Duration::from_millis(100),
        ..options()
    });
    let session = initialize(&backend).await;
    let mut request = call(16, "progress", json!({"steps":5,"every_ms":60}));
    request["params"]["_meta"] = json!({"progressToken":"tok"});
    let started = tokio::time::Instant::now();
    let response = backend
        .handle(post(&request, Some(&session)), ctx("/mcp"))
        .await;
    let mut sse = Sse::new(response);
    let mut progress = 0;
    let answer: Value = loop {
        let (_, value) = sse.next_json().await;
        if value["method"] == "notifications/progress" {
            assert_eq!(value["params"]["progressToken"], "tok");
            progress += 1;
        } else {
            break value;
        }
    };
    assert_eq!(progress, 5);
    assert_eq!(answer["id"], 16);
    assert_eq!(answer["result"]["content"][0]["text"], "progress done");
    assert!(
        started.elapsed() > Duration::from_millis(300),
        "ran well past one timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn a_message_over_the_body_limit_is_a_413_that_never_reaches_the_child() {
    let (backend, fake) = backend_with(super::StdioBackendOptions {
        max_message_bytes: 256,
        ..options()
    });
    let session = initialize(&backend).await;
    let big = call(17, "echo", json!({"text": "x".repeat(1024)}));
    let response = backend
        .handle(post(&big, Some(&session)), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "built by the one reply builder"
    );
    let body = json_body(response).await;
    assert_eq!(body["error"]["code"], -32600);
    assert_eq!(
        body["error"]["message"],
        "Payload Too Large: the request body exceeds the limit of 256 bytes (server.max_request_body)"
    );
    settle().await;
    assert!(
        fake.last().received().is_empty(),
        "nothing of it reached the child"
    );
    // A message within the limit still goes through.
    let small = call(18, "echo", json!({"text": "x"}));
    let response = backend
        .handle(post(&small, Some(&session)), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
