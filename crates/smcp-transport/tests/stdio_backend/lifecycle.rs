//! Shutdown and load against real children.

use std::path::Path;

use http::StatusCode;
use serde_json::json;

use crate::support::{
    Sse, call, ctx, fixture, fixture_with, get, initialize, initialize_body, json_body, options,
    post,
};

#[tokio::test]
async fn shutdown_leaves_no_child_behind() {
    let fx = fixture();
    let a = initialize(&fx.backend).await;
    let _b = initialize(&fx.backend).await;
    let mut stream = Sse::new(fx.backend.handle(get(&a), ctx("/mcp")).await);
    let slow = {
        let backend = fx.backend.clone();
        let a = a.clone();
        tokio::spawn(async move {
            backend
                .handle(
                    post(&call(1, "slow", json!({"ms": 300})), Some(&a)),
                    ctx("/mcp"),
                )
                .await
        })
    };
    let pids = fx.children();
    assert_eq!(pids.len(), 2, "one child per session");

    fx.backend.begin_shutdown();
    assert!(stream.next().await.is_none(), "GET streams end at once");
    let response = fx
        .backend
        .handle(post(&initialize_body(2), None), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The running request is allowed to finish.
    let body = json_body(slow.await.unwrap()).await;
    assert_eq!(body["id"], 1);
    assert_eq!(body["result"]["content"][0]["text"], "slept 300 ms");

    fx.backend.shutdown().await;
    assert_eq!(fx.backend.active_sessions(), 0);
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} still exists"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_twenty_calls_each_every_reply_to_its_caller() {
    let fx = fixture_with(smcp_transport::stdio_backend::StdioBackendOptions {
        max_sessions: 50,
        ..options()
    });
    let mut sessions = Vec::new();
    for s in 0..50 {
        let backend = fx.backend.clone();
        sessions.push(tokio::spawn(async move {
            let session = initialize(&backend).await;
            let mut calls = Vec::new();
            for c in 0..20 {
                let backend = backend.clone();
                let session = session.clone();
                calls.push(tokio::spawn(async move {
                    let id = i64::from(s * 1000 + c);
                    let payload =
                        json!({"session": s, "call": c, "pad": "x".repeat(c as usize * 50)});
                    let response = backend
                        .handle(
                            post(&call(id, "echo", payload.clone()), Some(&session)),
                            ctx("/mcp"),
                        )
                        .await;
                    let body = json_body(response).await;
                    assert_eq!(body["id"], id);
                    assert_eq!(body["result"]["structuredContent"], payload);
                }));
            }
            for call in calls {
                call.await.unwrap();
            }
        }));
    }
    for session in sessions {
        session.await.unwrap();
    }
    assert_eq!(fx.backend.active_sessions(), 50);
    let pids = fx.children();
    assert_eq!(pids.len(), 50);
    fx.backend.shutdown().await;
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} still exists"
        );
    }
}
