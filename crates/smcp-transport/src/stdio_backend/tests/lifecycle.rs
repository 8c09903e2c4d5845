//! Idle reaping, shutdown, and many sessions at once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ::http::StatusCode;
use serde_json::json;

use super::{
    Sse, backend, backend_with, call, ctx, get, initialize, initialize_body, json_body, options,
    post, settle,
};
use crate::jsonrpc::RequestId;

#[tokio::test(start_paused = true)]
async fn idle_sessions_are_reaped_busy_ones_are_not() {
    let (backend, fake) = backend_with(super::StdioBackendOptions {
        session_idle_timeout: Duration::from_secs(60),
        ..options()
    });
    let idle = initialize(&backend).await;
    let idle_conn = fake.last();
    let streaming = initialize(&backend).await;
    let stream = Sse::new(backend.handle(get(&streaming, None), ctx("/mcp")).await);
    let streaming_conn = fake.last();

    tokio::time::sleep(Duration::from_secs(59)).await;
    // Traffic restarts the clock.
    let response = backend
        .handle(
            post(&call(1, "echo", json!({"text":"x"})), Some(&idle)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(backend.active_sessions(), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(backend.active_sessions(), 1, "the quiet session is gone");
    assert!(idle_conn.stopped.load(Ordering::SeqCst));
    let response = backend
        .handle(
            post(&call(2, "echo", json!({"text":"x"})), Some(&idle)),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // An open stream keeps its session; closing it starts the clock.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(backend.active_sessions(), 1);
    drop(stream);
    tokio::time::sleep(Duration::from_secs(61)).await;
    settle().await;
    assert_eq!(backend.active_sessions(), 0);
    assert!(streaming_conn.stopped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_running_request_keeps_its_session() {
    let (backend, fake) = backend_with(super::StdioBackendOptions {
        session_idle_timeout: Duration::from_secs(10),
        stdio_timeout: Duration::from_secs(3600),
        ..options()
    });
    let session = initialize(&backend).await;
    let call = {
        let backend = backend.clone();
        let session = session.clone();
        tokio::spawn(async move {
            backend
                .handle(
                    post(&call(5, "slow", json!({})), Some(&session)),
                    ctx("/mcp"),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(backend.active_sessions(), 1);
    fake.last()
        .respond(&RequestId::from(5), json!({"content":[]}));
    assert_eq!(json_body(call.await.unwrap()).await["id"], 5);
    tokio::time::sleep(Duration::from_secs(11)).await;
    settle().await;
    assert_eq!(backend.active_sessions(), 0);
}

#[tokio::test(start_paused = true)]
async fn begin_shutdown_ends_streams_and_refuses_sessions_but_lets_requests_finish() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let mut stream = Sse::new(backend.handle(get(&session, None), ctx("/mcp")).await);
    let running = {
        let backend = backend.clone();
        let session = session.clone();
        tokio::spawn(async move {
            backend
                .handle(
                    post(&call(6, "slow", json!({})), Some(&session)),
                    ctx("/mcp"),
                )
                .await
        })
    };
    settle().await;
    backend.begin_shutdown();
    assert!(stream.next().await.is_none(), "GET streams end");
    let response = backend
        .handle(post(&initialize_body(7), None), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = backend.handle(get(&session, None), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    fake.last()
        .respond(&RequestId::from(6), json!({"content":[]}));
    assert_eq!(json_body(running.await.unwrap()).await["id"], 6);

    backend.shutdown().await;
    assert_eq!(backend.active_sessions(), 0);
    assert!(fake.all().iter().all(|c| c.stopped.load(Ordering::SeqCst)));
}

#[tokio::test(start_paused = true)]
async fn shutdown_fails_requests_in_flight_and_stops_every_child() {
    let (backend, fake) = backend();
    let mut calls = Vec::new();
    for n in 0..3 {
        let session = initialize(&backend).await;
        let backend = backend.clone();
        calls.push(tokio::spawn(async move {
            backend
                .handle(
                    post(&call(n, "slow", json!({})), Some(&session)),
                    ctx("/mcp"),
                )
                .await
        }));
    }
    settle().await;
    backend.shutdown().await;
    for call in calls {
        let body = json_body(call.await.unwrap()).await;
        assert_eq!(body["error"]["code"], -32603);
    }
    assert_eq!(fake.all().len(), 3);
    assert!(
        fake.all()
            .iter()
            .all(|c| c.stopped.load(Ordering::SeqCst) && c.is_gone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_many_calls_every_reply_reaches_its_caller() {
    let (backend, _fake) = backend_with(super::StdioBackendOptions {
        max_sessions: 64,
        // One caller holds all fifty.
        max_sessions_per_principal: 64,
        ..options()
    });
    let mut tasks = Vec::new();
    for s in 0..50 {
        let backend = backend.clone();
        tasks.push(tokio::spawn(async move {
            let session = initialize(&backend).await;
            let mut calls = Vec::new();
            for c in 0..20 {
                let backend = backend.clone();
                let session = session.clone();
                calls.push(tokio::spawn(async move {
                    let text = format!("s{s}-c{c}");
                    let id = i64::from(s * 100 + c);
                    let response = backend
                        .handle(
                            post(&call(id, "echo", json!({"text": text})), Some(&session)),
                            ctx("/mcp"),
                        )
                        .await;
                    let body = json_body(response).await;
                    assert_eq!(body["id"], id);
                    assert_eq!(body["result"]["content"][0]["text"], text);
                }));
            }
            for call in calls {
                call.await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(backend.active_sessions(), 50);
    backend.shutdown().await;
    assert_eq!(backend.active_sessions(), 0);
}
