//! CORS for browser-based MCP clients, with `auth.mode: oidc` on: preflights are answered by
//! smcp-server without a token (204 for an allowed `Origin`, 403 otherwise) and never reach
//! the backend; actual responses to an allowed `Origin`, including the 401 challenge and the
//! protected-resource metadata, carry `Access-Control-Allow-Origin`; requests without
//! `Origin` get no CORS headers.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "auth_fixture.rs"]
mod fixture;

use fixture::Fixture;

/// The MCP Inspector's origin: loopback, allowed without configuration.
const INSPECTOR: &str = "http://localhost:6274";
const EVIL: &str = "https://evil.example.com";

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii").to_owned())
}

async fn preflight(f: &Fixture, path: &str, origin: &str) -> reqwest::Response {
    f.http
        .request(reqwest::Method::OPTIONS, f.smcp.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version",
        )
        .send()
        .await
        .expect("preflight")
}

fn assert_allowed(response: &reqwest::Response) {
    assert_eq!(
        header(response, "access-control-allow-origin").as_deref(),
        Some(INSPECTOR),
        "{response:?}"
    );
    assert_eq!(header(response, "vary").as_deref(), Some("Origin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_and_cors_headers_with_oidc_on() {
    let f = Fixture::start().await;
    let token = f.token("alice", &[]);

    // A preflight needs no token and never reaches the backend.
    for path in [
        "/echo/mcp",
        "/fake/mcp",
        "/.well-known/oauth-protected-resource/echo",
    ] {
        let allowed = preflight(&f, path, INSPECTOR).await;
        assert_eq!(allowed.status(), 204, "{path}");
        assert_allowed(&allowed);
        assert_eq!(
            header(&allowed, "access-control-allow-methods").as_deref(),
            Some("GET, POST, DELETE, OPTIONS")
        );
        let headers = header(&allowed, "access-control-allow-headers").expect("allow-headers");
        for name in ["authorization", "mcp-session-id", "mcp-protocol-version"] {
            assert!(headers.contains(name), "{headers}");
        }
        assert!(header(&allowed, "access-control-max-age").is_some());
        let refused = preflight(&f, path, EVIL).await;
        assert_eq!(refused.status(), 403, "{path}");
        assert!(header(&refused, "access-control-allow-origin").is_none());
    }
    assert_eq!(f.echo.requests(), 0, "no preflight reached the backend");

    // Actual responses to an allowed Origin carry CORS headers; without Origin, none.
    let with_origin = f
        .post("/echo/mcp", Some(&token), &[("origin", INSPECTOR)])
        .await;
    assert_eq!(with_origin.status(), 200);
    assert_allowed(&with_origin);
    assert_eq!(
        header(&with_origin, "access-control-expose-headers").as_deref(),
        Some("mcp-session-id, www-authenticate")
    );
    assert!(header(&with_origin, "mcp-session-id").is_some());
    let without = f.post("/echo/mcp", Some(&token), &[]).await;
    assert_eq!(without.status(), 200);
    assert!(header(&without, "access-control-allow-origin").is_none());
    assert!(header(&without, "access-control-expose-headers").is_none());

    // The 401 a browser client starts from is readable, challenge included.
    let challenge = f.post("/echo/mcp", None, &[("origin", INSPECTOR)]).await;
    assert_eq!(challenge.status(), 401);
    assert_allowed(&challenge);
    assert!(header(&challenge, "www-authenticate").is_some());
    // So is the protected-resource metadata it leads to.
    let metadata = f
        .http
        .get(f.smcp.url("/.well-known/oauth-protected-resource/echo"))
        .header("origin", INSPECTOR)
        .send()
        .await
        .expect("metadata");
    assert_eq!(metadata.status(), 200);
    assert_allowed(&metadata);

    // A disallowed Origin is still refused on actual requests, without CORS headers.
    let evil = f.post("/echo/mcp", Some(&token), &[("origin", EVIL)]).await;
    assert_eq!(evil.status(), 403);
    assert!(header(&evil, "access-control-allow-origin").is_none());
    f.stop().await;
}
