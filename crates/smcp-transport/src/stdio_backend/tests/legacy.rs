//! Legacy HTTP+SSE (2024-11-05).

use ::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::{Sse, backend, call, ctx, ctx_as, initialize_body, settle};
use crate::body;
use crate::owner::SessionOwner;

fn open() -> Request<crate::body::Body> {
    Request::builder()
        .method(Method::GET)
        .uri("/sse")
        .header("accept", "text/event-stream")
        .body(body::empty())
        .unwrap()
}

fn message(body: &Value) -> Request<crate::body::Body> {
    Request::builder()
        .method(Method::POST)
        .header("content-type", "application/json")
        .body(body::full(body.to_string()))
        .unwrap()
}

/// Opens a legacy session: its stream and the POST path (without the public prefix).
async fn connect(backend: &super::StdioBackend) -> (Sse, String) {
    let response = backend.handle(open(), ctx("/sse")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut sse = Sse::new(response);
    let endpoint = sse.next().await.unwrap();
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    let uri = String::from_utf8(endpoint.data.to_vec()).unwrap();
    let path = uri
        .strip_prefix("/v1/fake")
        .expect("the endpoint carries the public prefix");
    assert!(path.starts_with("/message?sessionId="), "{uri}");
    (sse, path.to_owned())
}

#[tokio::test(start_paused = true)]
async fn endpoint_event_then_messages_on_the_stream() {
    let (backend, fake) = backend();
    let (mut sse, path) = connect(&backend).await;
    assert_eq!(backend.active_sessions(), 1);

    let response = backend
        .handle(message(&initialize_body(1)), ctx(&path))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let event = sse.next().await.unwrap();
    assert_eq!(event.event.as_deref(), Some("message"));
    let value: Value = serde_json::from_slice(&event.data).unwrap();
    assert_eq!(value["id"], 1);
    assert_eq!(value["result"]["serverInfo"]["name"], "fake");

    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let response = backend.handle(message(&initialized), ctx(&path)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(fake.last().received()[0], initialized);

    let response = backend
        .handle(message(&call(2, "notify_first", json!({}))), ctx(&path))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let (_, note) = sse.next_json().await;
    assert_eq!(note["method"], "notifications/message");
    let (_, answer) = sse.next_json().await;
    assert_eq!(answer["id"], 2);

    let unsolicited = json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"});
    fake.last().push_unsolicited(unsolicited.clone()).await;
    assert_eq!(sse.next_json().await.1, unsolicited);

    // A second initialize would confuse the child: refused.
    let response = backend
        .handle(message(&initialize_body(3)), ctx(&path))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(start_paused = true)]
async fn closing_the_stream_ends_the_session() {
    let (backend, fake) = backend();
    let (sse, path) = connect(&backend).await;
    drop(sse);
    settle().await;
    assert_eq!(backend.active_sessions(), 0);
    assert!(
        fake.last()
            .stopped
            .load(std::sync::atomic::Ordering::SeqCst)
    );
    let response = backend
        .handle(message(&initialize_body(1)), ctx(&path))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn unknown_foreign_and_missing_session_ids() {
    let (backend, _fake) = backend();
    let (_sse, path) = connect(&backend).await;
    let response = backend
        .handle(message(&initialize_body(1)), ctx("/message?sessionId=nope"))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let mallory = SessionOwner::from_principal("https://issuer.test", "mallory");
    let response = backend
        .handle(message(&initialize_body(1)), ctx_as(&path, mallory))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = backend
        .handle(message(&initialize_body(1)), ctx("/message"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A legacy session id is no Streamable HTTP session, and the other way round.
    let session = path.rsplit('=').next().unwrap();
    let response = backend
        .handle(
            super::post(&call(1, "echo", json!({})), Some(session)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
