//! Forwarding of plain requests: header rules both ways, path joining, status and body
//! pass-through.

use std::time::Duration;

use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
use tokio::sync::mpsc;

use super::support::{backend, collect, ctx, get, serve};
use crate::body::{self, Body};
use crate::http::HttpBackend;

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn backend_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<HttpBackend>();
}

#[tokio::test]
async fn request_and_response_header_rules() {
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(Version, Uri, HeaderMap)>();
    let server = serve(move |req| {
        let seen_tx = seen_tx.clone();
        async move {
            seen_tx
                .send((req.version(), req.uri().clone(), req.headers().clone()))
                .unwrap();
            Response::builder()
                .header("connection", "x-resp-hop")
                .header("x-resp-hop", "1")
                .header("keep-alive", "timeout=5")
                .header("proxy-authenticate", "Basic")
                .header("trailer", "x-t")
                .header("mcp-session-id", "sess-1")
                .header("content-type", "application/json")
                .header("x-resp-custom", "kept")
                .body(body::full(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#))
                .unwrap()
        }
    })
    .await;
    let port = server.addr.port();
    let backend = backend(&format!("http://127.0.0.1:{port}/mcp"), TIMEOUT);

    let payload = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let req = Request::builder()
        .method(Method::POST)
        .uri("https://public.example/v1/x/tools?x=1")
        // The client spoke HTTP/2 to the proxy; the backend only speaks HTTP/1.1.
        .version(Version::HTTP_2)
        .header("host", "public.example")
        .header("connection", "x-hop, keep-alive")
        .header("x-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("te", "trailers, deflate")
        .header("trailer", "x-t")
        .header("transfer-encoding", "chunked")
        .header("upgrade", "websocket")
        .header("proxy-authorization", "Basic abc")
        .header("authorization", "Bearer secret-token")
        .header("dpop", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.c2ln")
        .header("x-subject", "mallory")
        .header("x-email", "mallory@example.com")
        .header("x_subject", "mallory")
        .header("X_Email", "mallory@example.com")
        .header("x-real-ip", "6.6.6.6")
        .header("x_forwarded_for", "6.6.6.6")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "ftp")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "for=6.6.6.6")
        .header("mcp-session-id", "sess-1")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .header("last-event-id", "42")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("x-custom", "kept")
        .body(body::full(payload))
        .unwrap();
    let mut forward_ctx = ctx("/tools?x=1");
    forward_ctx.client_addr = crate::http::ClientAddr::new("203.0.113.7".parse().unwrap());
    forward_ctx.client_scheme = "https";
    forward_ctx.client_host = Some(HeaderValue::from_static("public.example"));
    forward_ctx.strip_headers = std::sync::Arc::from([
        HeaderName::from_static("x-subject"),
        HeaderName::from_static("x-email"),
    ]);
    forward_ctx
        .set_headers
        .insert("x-subject", HeaderValue::from_static("alice"));

    let resp = backend.forward(req, forward_ctx).await.unwrap();

    // What the backend saw.
    let (version, uri, h) = seen_rx.recv().await.unwrap();
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(
        uri, "/mcp/tools?x=1",
        "origin-form, joined onto the url's path"
    );
    assert_eq!(h["host"], format!("127.0.0.1:{port}").as_str());
    for gone in [
        "connection",
        "x-hop",
        "keep-alive",
        "proxy-connection",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "authorization",
        "dpop",
        "x-email",
        "forwarded",
        "x_subject",
        "x_email",
        "x-real-ip",
        "x_forwarded_for",
    ] {
        assert!(!h.contains_key(gone), "{gone} must not reach the backend");
    }
    assert_eq!(h["te"], "trailers");
    let subjects: Vec<_> = h.get_all("x-subject").iter().collect();
    assert_eq!(
        subjects,
        ["alice"],
        "the proxy's identity, not the client's"
    );
    assert_eq!(h["x-forwarded-for"], "203.0.113.7");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "public.example");
    for (name, value) in [
        ("mcp-session-id", "sess-1"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
        ("last-event-id", "42"),
        ("accept", "application/json, text/event-stream"),
        ("content-type", "application/json"),
        ("x-custom", "kept"),
    ] {
        assert_eq!(h[name], value, "{name} passes unchanged");
    }
    assert_eq!(h["content-length"], payload.len().to_string().as_str());

    // What the client gets back.
    assert_eq!(resp.status(), StatusCode::OK);
    let rh = resp.headers();
    for gone in [
        "connection",
        "x-resp-hop",
        "keep-alive",
        "proxy-authenticate",
        "trailer",
        "transfer-encoding",
    ] {
        assert!(!rh.contains_key(gone), "{gone} must not reach the client");
    }
    assert_eq!(rh["mcp-session-id"], "sess-1");
    assert_eq!(rh["content-type"], "application/json");
    assert_eq!(rh["x-resp-custom"], "kept");
    assert_eq!(
        collect(resp.into_body()).await,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
    );
}

#[tokio::test]
async fn without_client_host_no_forwarded_host_is_sent() {
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<HeaderMap>();
    let server = serve(move |req| {
        let seen_tx = seen_tx.clone();
        async move {
            seen_tx.send(req.headers().clone()).unwrap();
            Response::new(body::empty())
        }
    })
    .await;
    let backend = backend(&format!("http://{}", server.addr), TIMEOUT);
    let req = Request::builder()
        .header("x-forwarded-host", "evil.example")
        .body(body::empty())
        .unwrap();
    let mut forward_ctx = ctx("/");
    forward_ctx.client_host = None;
    backend.forward(req, forward_ctx).await.unwrap();
    let h = seen_rx.recv().await.unwrap();
    assert!(!h.contains_key("x-forwarded-host"));
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
}

/// A server answering with the request target it saw.
async fn echo_uri_server() -> super::support::Server {
    serve(|req| async move { Response::new(body::full(req.uri().to_string())) }).await
}

#[tokio::test]
async fn routed_path_is_joined_onto_the_url_path() {
    let server = echo_uri_server().await;
    let addr = server.addr;
    let cases = [
        ("/mcp", "/", "/mcp"),
        ("/mcp", "/?a=1", "/mcp?a=1"),
        ("/mcp/", "/", "/mcp/"),
        ("/mcp", "/sse", "/mcp/sse"),
        ("", "/message?sessionId=abc", "/message?sessionId=abc"),
        ("/mcp?tenant=a", "/x?y=1", "/mcp/x?tenant=a&y=1"),
    ];
    for (url_path, routed, expected) in cases {
        let backend = backend(&format!("http://{addr}{url_path}"), TIMEOUT);
        let resp = backend.forward(get(), ctx(routed)).await.unwrap();
        assert_eq!(
            collect(resp.into_body()).await,
            expected,
            "url path {url_path:?}, routed {routed:?}"
        );
    }
}

#[tokio::test]
async fn error_statuses_and_bodies_pass_through() {
    // A backend's JSON-RPC error must reach the client as is: clients fall back between
    // protocol versions on it.
    const ERROR_BODY: &str =
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#;
    let server = serve(|req| async move {
        let status = match req.uri().path() {
            "/bad" => StatusCode::BAD_REQUEST,
            "/gone" => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body::full(ERROR_BODY))
            .unwrap()
    })
    .await;
    let backend = backend(&format!("http://{}", server.addr), TIMEOUT);
    for (path, status) in [
        ("/bad", StatusCode::BAD_REQUEST),
        ("/gone", StatusCode::NOT_FOUND),
        ("/boom", StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let resp: Response<Body> = backend.forward(get(), ctx(path)).await.unwrap();
        assert_eq!(resp.status(), status);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(collect(resp.into_body()).await, ERROR_BODY);
    }
}
