//! Legacy HTTP+SSE against a real child.

use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use smcp_transport::body::{self, Body};

use crate::support::{Sse, call, ctx, eventually, fixture, initialize_body};

fn message(body: &Value) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .header("content-type", "application/json")
        .body(body::full(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn endpoint_event_messages_and_close() {
    let fx = fixture();
    let open = Request::get("/v1/fake/sse")
        .header("accept", "text/event-stream")
        .body(body::empty())
        .unwrap();
    let mut sse = Sse::new(fx.backend.handle(open, ctx("/sse")).await);
    let endpoint = sse.next().await.unwrap();
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    let uri = String::from_utf8(endpoint.data.to_vec()).unwrap();
    let path = uri.strip_prefix("/v1/fake").unwrap().to_owned();
    assert!(path.starts_with("/message?sessionId="));
    assert_eq!(fx.children().len(), 1);

    let response = fx
        .backend
        .handle(message(&initialize_body(1)), ctx(&path))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let init = sse.next_json().await;
    assert_eq!(init["id"], 1);
    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let response = fx.backend.handle(message(&initialized), ctx(&path)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = fx
        .backend
        .handle(message(&call(2, "echo", json!({"x":1}))), ctx(&path))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let echo = sse.next_json().await;
    assert_eq!(echo["id"], 2);
    assert_eq!(echo["result"]["structuredContent"]["x"], 1);

    let pids = fx.children();
    drop(sse);
    let backend = fx.backend.clone();
    eventually("the session ended", || backend.active_sessions() == 0).await;
    eventually("the child was reaped", || {
        pids.iter()
            .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    })
    .await;
    let response = fx
        .backend
        .handle(message(&call(3, "echo", json!({}))), ctx(&path))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
