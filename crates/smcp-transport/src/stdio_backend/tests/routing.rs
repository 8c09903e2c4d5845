//! Paths, methods, headers and the errors that never reach a child.

use ::http::{Method, Request, StatusCode};
use serde_json::json;

use super::{
    ACCEPT_BOTH, backend, backend_with, call, ctx, ctx_as, delete, get, initialize,
    initialize_body, json_body, options, post, settle,
};
use crate::body;
use crate::owner::SessionOwner;

#[tokio::test(start_paused = true)]
async fn initialize_creates_a_session_with_a_long_random_id() {
    let (backend, fake) = backend();
    let a = initialize(&backend).await;
    let b = initialize(&backend).await;
    for id in [&a, &b] {
        assert!(id.len() >= 32, "{id}");
        assert!(id.bytes().all(|c| (0x21..=0x7e).contains(&c)), "{id}");
    }
    assert_ne!(a, b);
    assert_eq!(backend.active_sessions(), 2);
    assert_eq!(fake.all().len(), 2, "one backend per session");
}

#[tokio::test(start_paused = true)]
async fn endpoints_answer_under_every_alias() {
    let (backend, _fake) = backend();
    for path in ["/", "/mcp", "/mcp/", ""] {
        let response = backend
            .handle(post(&initialize_body(1), None), ctx(path))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_paths_get_404_json() {
    let (backend, _fake) = backend();
    for path in ["/other", "/mcp/x", "/ssex"] {
        let response = backend
            .handle(post(&initialize_body(1), None), ctx(path))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body = json_body(response).await;
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test(start_paused = true)]
async fn wrong_methods_get_405_with_allow() {
    let (backend, _fake) = backend();
    let cases = [
        (Method::PUT, "/mcp", "GET, POST, DELETE"),
        (Method::PATCH, "/", "GET, POST, DELETE"),
        (Method::POST, "/sse", "GET"),
        (Method::GET, "/message", "POST"),
    ];
    for (method, path, allow) in cases {
        let req = Request::builder()
            .method(method.clone())
            .uri(path)
            .body(body::empty())
            .unwrap();
        let response = backend.handle(req, ctx(path)).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow);
    }
}

#[tokio::test(start_paused = true)]
async fn unacceptable_accept_headers_get_406() {
    let (backend, _fake) = backend();
    let mut req = post(&initialize_body(1), None);
    req.headers_mut()
        .insert("accept", "text/html".parse().unwrap());
    let response = backend.handle(req, ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);

    let session = initialize(&backend).await;
    let mut req = get(&session, None);
    req.headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    let response = backend.handle(req, ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);

    // No Accept header at all is fine.
    let mut req = post(&initialize_body(2), None);
    req.headers_mut().remove("accept");
    let response = backend.handle(req, ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn requests_without_a_session_get_400_with_a_json_rpc_error() {
    let (backend, fake) = backend();
    let response = backend
        .handle(post(&call(5, "echo", json!({})), None), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json_body(response).await;
    assert_eq!(body["id"], 5);
    assert!(body["error"]["code"].is_i64());

    // A 2026-07-28 client probing with server/discover falls back on this error.
    let mut req = post(
        &json!({"jsonrpc":"2.0","id":"d1","method":"server/discover","params":{}}),
        None,
    );
    req.headers_mut()
        .insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    let response = backend.handle(req, ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json_body(response).await;
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], "d1");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Mcp-Session-Id")
    );
    assert!(fake.all().is_empty(), "no child for a refused request");

    let response = backend.handle(get("", None), ctx("/mcp")).await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "an empty id is an unknown id"
    );
}

#[tokio::test(start_paused = true)]
async fn initialize_with_a_session_id_is_refused() {
    let (backend, _fake) = backend();
    let session = initialize(&backend).await;
    let response = backend
        .handle(post(&initialize_body(3), Some(&session)), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(response).await["id"], 3);
}

#[tokio::test(start_paused = true)]
async fn unknown_and_foreign_sessions_get_404() {
    let (backend, fake) = backend();
    let session = initialize(&backend).await;
    let response = backend
        .handle(
            post(
                &call(1, "echo", json!({"text":"x"})),
                Some("0123456789abcdef0123456789abcdef"),
            ),
            ctx("/mcp"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let mallory = SessionOwner::from_principal("https://issuer.test", "mallory");
    for req in [
        post(&call(1, "echo", json!({"text":"x"})), Some(&session)),
        get(&session, None),
        delete(&session),
    ] {
        let response = backend.handle(req, ctx_as("/mcp", mallory.clone())).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        backend.active_sessions(),
        1,
        "a foreign DELETE ends nothing"
    );
    assert_eq!(
        fake.last()
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    let anonymous = SessionOwner::anonymous();
    let response = backend
        .handle(
            post(&call(1, "echo", json!({"text":"x"})), Some(&session)),
            ctx_as("/mcp", anonymous),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn unsupported_protocol_versions_get_400() {
    let (backend, _fake) = backend();
    let session = initialize(&backend).await;
    let mut req = post(&call(1, "echo", json!({"text":"x"})), Some(&session));
    req.headers_mut()
        .insert("mcp-protocol-version", "1999-01-01".parse().unwrap());
    let response = backend.handle(req, ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json_body(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1999-01-01")
    );

    for version in [None, Some("2025-03-26"), Some("2025-11-25")] {
        let mut req = post(&call(2, "echo", json!({"text":"x"})), Some(&session));
        match version {
            Some(v) => req
                .headers_mut()
                .insert("mcp-protocol-version", v.parse().unwrap()),
            None => req.headers_mut().remove("mcp-protocol-version"),
        };
        let response = backend.handle(req, ctx("/mcp")).await;
        assert_eq!(response.status(), StatusCode::OK, "{version:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn malformed_bodies_and_batches_get_400_json_rpc_errors() {
    let (backend, _fake) = backend();
    let session = initialize(&backend).await;
    let req = |text: &str| {
        Request::builder()
            .method(Method::POST)
            .header("accept", ACCEPT_BOTH)
            .header("mcp-session-id", session.as_str())
            .body(body::full(text.to_owned()))
            .unwrap()
    };
    let response = backend.handle(req("{not json"), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(response).await["error"]["code"], -32700);

    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#;
    let response = backend.handle(req(batch), ctx("/mcp")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json_body(response).await;
    assert_eq!(body["error"]["code"], -32600);
    assert!(body["error"]["message"].as_str().unwrap().contains("batch"));

    let response = backend
        .handle(req(r#"{"id":1,"method":"ping"}"#), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(response).await["error"]["code"], -32600);
}

#[tokio::test(start_paused = true)]
async fn session_limit_gives_503_with_retry_after() {
    let (backend, _fake) = backend_with(crate::stdio_backend::StdioBackendOptions {
        max_sessions: 2,
        ..options()
    });
    // Both sessions busy (an idle one would be ended to make room, see `limits`).
    let mut running = Vec::new();
    for _ in 0..2 {
        let session = initialize(&backend).await;
        let backend = backend.clone();
        running.push(tokio::spawn(async move {
            backend
                .handle(
                    post(&call(1, "slow", json!({})), Some(&session)),
                    ctx("/mcp"),
                )
                .await
        }));
    }
    settle().await;
    let response = backend
        .handle(post(&initialize_body(9), None), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json_body(response).await["id"], 9);
    let legacy = backend
        .handle(
            Request::get("/sse").body(body::empty()).unwrap(),
            ctx("/sse"),
        )
        .await;
    assert_eq!(legacy.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(start_paused = true)]
async fn spawn_failure_gives_502_naming_the_command() {
    let (backend, fake) = backend();
    fake.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let response = backend
        .handle(post(&initialize_body(4), None), ctx("/mcp"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = json_body(response).await;
    assert_eq!(body["id"], 4);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"fake\"")
    );
    assert_eq!(backend.active_sessions(), 0);
    // The slot is free again.
    fake.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    initialize(&backend).await;
}
