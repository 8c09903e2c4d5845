//! smcp-server with `auth.mode: oidc` against the in-process test issuer
//! (`smcp_test_support::issuer`, keys generated at test time, discovery and JWKS on
//! 127.0.0.1:0): the 401/403/503 answers and their `WWW-Authenticate` challenges, every forged
//! token, tokens in the query string, claim and scope rules, the open endpoints, RFC 9728
//! metadata, the identity hand-off to HTTP backends, the IdP being down at startup.
//!
//! The HTTP backend is a small hyper server written here that echoes what it received (so the
//! tests see which headers smcp forwarded) and hands out `Mcp-Session-Id`s like an MCP server.
//! Session binding lives in `auth_sessions.rs`.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "auth_fixture.rs"]
mod fixture;

use serde_json::{Value, json};
use smcp_test_support::issuer::{SigningKey, TestIssuer, mint, mint_hmac, mint_unsigned, unix_now};

use fixture::{AUDIENCE, Fixture, assert_refused, body_json, config, wait_ready, www_authenticate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_token_get_401_with_resource_metadata() {
    let f = Fixture::start().await;
    let meta = f.smcp.url("/.well-known/oauth-protected-resource/echo");

    let response = f.post("/echo/mcp", None, &[]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        www_authenticate(&response),
        format!("Bearer resource_metadata=\"{meta}\"")
    );
    let body = body_json(response).await;
    assert_eq!(body["error"]["code"], -32001, "{body}");
    assert_eq!(body["error"]["data"]["resource_metadata"], meta.as_str());

    // An empty bearer token is no token at all.
    let response = f
        .post("/echo/mcp", None, &[("authorization", "Bearer ")])
        .await;
    assert_eq!(
        www_authenticate(&response),
        format!("Bearer resource_metadata=\"{meta}\"")
    );
    // Another scheme is refused as an invalid token.
    let response = f
        .post(
            "/echo/mcp",
            None,
            &[("authorization", "Basic dXNlcjpwdw==")],
        )
        .await;
    assert_refused(response, 401, "invalid_token", "must use the Bearer scheme").await;
    // So are two Authorization headers, even if both are valid.
    let token = f.token("alice", &[]);
    let bearer = format!("Bearer {token}");
    let response = f
        .post(
            "/echo/mcp",
            None,
            &[("authorization", &bearer), ("authorization", &bearer)],
        )
        .await;
    assert_refused(response, 401, "invalid_token", "exactly one Authorization").await;

    // /api/models lists the backends: it needs a token too, checked for the server itself.
    let response = f.get("/api/models", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        www_authenticate(&response),
        format!(
            "Bearer resource_metadata=\"{}\"",
            f.smcp.url("/.well-known/oauth-protected-resource")
        )
    );
    let response = f.get("/api/models", Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        f.echo.requests(),
        0,
        "no refused request reached the backend"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused_with_invalid_token() {
    let f = Fixture::start().await;
    let now = unix_now();
    let claims = f.claims("mallory", &[]);
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    let valid = mint(&f.key, &claims);
    let foreign = SigningKey::rsa(f.key.kid()); // same kid, another key
    let rsa_public_pem = f.key.public_key_pem();
    let header_hs = json!({"alg": "HS256", "typ": "JWT", "kid": f.key.kid()});
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "expired",
            mint(&f.key, &with(json!({"iat": now - 7200, "exp": now - 3600}))),
            "expired",
            "the token has expired",
        ),
        (
            "not yet valid",
            mint(&f.key, &with(json!({"nbf": now + 3600}))),
            "not_yet_valid",
            "the token is not yet valid",
        ),
        (
            "wrong audience",
            mint(&f.key, &with(json!({"aud": "another-api"}))),
            "wrong_audience",
            "the token was not issued for this resource",
        ),
        (
            "wrong issuer",
            mint(&f.key, &with(json!({"iss": "http://127.0.0.1:1/other"}))),
            "wrong_issuer",
            "the token issuer is not accepted",
        ),
        (
            "foreign key under a known kid",
            mint(&foreign, &claims),
            "bad_signature",
            "the token signature is invalid",
        ),
        (
            "unknown kid",
            mint(&SigningKey::rsa("k-unknown"), &claims),
            "unknown_key",
            "the token was signed with an unknown key",
        ),
        (
            "alg none",
            mint_unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims),
            "algorithm_not_allowed",
            "the token's signature algorithm is not accepted",
        ),
        (
            "HS256 keyed with the RSA public key",
            mint_hmac(rsa_public_pem.as_bytes(), &header_hs, &claims),
            "algorithm_not_allowed",
            "the token's signature algorithm is not accepted",
        ),
        (
            "garbage",
            "not.a.jwt".to_owned(),
            "malformed",
            "the token is malformed",
        ),
        (
            "truncated",
            truncated_signature(&valid),
            "malformed",
            "the token is malformed",
        ),
        (
            "100 KB",
            format!("{valid}{}", "A".repeat(100 * 1024)),
            "malformed",
            "the token is malformed",
        ),
    ];
    let mut seen = Vec::new();
    for (name, token, reason, description) in &cases {
        let response = f.post("/echo/mcp", Some(token), &[]).await;
        let status = response.status().as_u16();
        let challenge = www_authenticate(&response);
        assert_eq!(status, 401, "{name}: {challenge}");
        assert!(
            challenge.contains("error=\"invalid_token\"")
                && challenge.contains(&format!("error_description=\"{description}\"")),
            "{name}: {challenge}"
        );
        seen.push(format!("{name}: {status} {reason}"));
    }
    assert_eq!(f.echo.requests(), 0, "no forged token reached the backend");
    // The reasons are counted per backend.
    let metrics = f.text("/metrics").await;
    for (name, _, reason, _) in &cases {
        assert!(
            metrics
                .lines()
                .any(|line| line.starts_with("smcp_auth_outcomes_total{")
                    && line.contains("backend=\"echo\"")
                    && line.contains("outcome=\"rejected\"")
                    && line.contains(&format!("reason=\"{reason}\""))),
            "{name}: no smcp_auth_outcomes_total line with reason {reason}"
        );
    }
    println!("forged tokens refused:\n  {}", seen.join("\n  "));
    // And the valid token of the same claims passes.
    assert_eq!(f.post("/echo/mcp", Some(&valid), &[]).await.status(), 200);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_the_query_string_are_refused() {
    let f = Fixture::start().await;
    let token = f.token("alice", &[]);
    let response = f
        .post(&format!("/echo/mcp?access_token={token}"), None, &[])
        .await;
    assert_refused(
        response,
        401,
        "invalid_token",
        "in the URL query are refused",
    )
    .await;
    // Even next to a valid Authorization header.
    let response = f
        .post(
            &format!("/echo/mcp?x=1&access_token={token}"),
            Some(&token),
            &[],
        )
        .await;
    assert_refused(
        response,
        401,
        "invalid_token",
        "even with an Authorization header",
    )
    .await;
    assert_eq!(f.echo.requests(), 0);
    // Other query parameters are fine.
    let response = f.post("/echo/mcp?x=1", Some(&token), &[]).await;
    assert_eq!(response.status(), 200);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_reaches_http_backends_as_identity_headers_only() {
    let f = Fixture::start().await;
    let token = f.token("alice", &[("email", json!("alice@example.com"))]);
    let spoof = [
        ("x-subject", "root"),
        ("x-email", "root@example.com"),
        ("x-user", "root"),
    ];
    let response = f.post("/echo/mcp", Some(&token), &spoof).await;
    assert_eq!(response.status(), 200);
    let seen = body_json(response).await;
    let headers = &seen["headers"];
    assert_eq!(seen["path"], "/mcp", "strip_path still applies");
    assert_eq!(headers["x-subject"], json!(["alice"]), "{seen}");
    assert_eq!(headers["x-email"], json!(["alice@example.com"]), "{seen}");
    assert!(
        headers.get("authorization").is_none(),
        "token forwarded: {seen}"
    );
    // The spoofed header smcp does not own for this backend passes untouched.
    assert_eq!(headers["x-user"], json!(["root"]));

    // Custom header names: smcp owns x-user / x-user-email there.
    let seen = body_json(f.post("/custom/mcp", Some(&token), &spoof).await).await;
    let headers = &seen["headers"];
    assert_eq!(headers["x-user"], json!(["alice"]), "{seen}");
    assert_eq!(headers["x-user-email"], json!(["alice@example.com"]));
    assert_eq!(headers["x-subject"], json!(["root"]), "not owned here");

    // Identity headers off: nothing set, and the spoofed copies are still removed.
    let seen = body_json(f.post("/noident/mcp", Some(&token), &spoof).await).await;
    let headers = &seen["headers"];
    assert!(headers.get("x-subject").is_none(), "{seen}");
    assert!(headers.get("x-email").is_none(), "{seen}");
    assert!(headers.get("authorization").is_none(), "{seen}");

    // Without an email claim, no X-Email (and the spoofed one is gone).
    let plain = f.token("bob", &[]);
    let seen = body_json(f.post("/echo/mcp", Some(&plain), &spoof).await).await;
    assert_eq!(seen["headers"]["x-subject"], json!(["bob"]));
    assert!(seen["headers"].get("x-email").is_none(), "{seen}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backends_public_url_is_an_accepted_audience() {
    let f = Fixture::start().await;
    let echo_url = f.smcp.url("/echo");
    let for_echo = f.token("alice", &[("aud", json!(echo_url))]);
    assert_eq!(
        f.post("/echo/mcp", Some(&for_echo), &[]).await.status(),
        200
    );
    let with_slash = f.token("alice", &[("aud", json!([format!("{echo_url}/")]))]);
    assert_eq!(f.post("/echo", Some(&with_slash), &[]).await.status(), 200);
    // A token for one backend is not a token for another.
    let response = f.post("/custom/mcp", Some(&for_echo), &[]).await;
    assert_refused(
        response,
        401,
        "invalid_token",
        "not issued for this resource",
    )
    .await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scopes_and_claims_are_403() {
    let f = Fixture::start().await;
    let tools = f.token("alice", &[("scope", json!("openid mcp:tools"))]);
    let response = f.post("/scoped/mcp", Some(&tools), &[]).await;
    assert_eq!(response.status(), 403);
    let challenge = www_authenticate(&response);
    assert_eq!(
        challenge,
        format!(
            "Bearer resource_metadata=\"{}\", error=\"insufficient_scope\", error_description=\"the token lacks the required scope\", scope=\"mcp:admin\"",
            f.smcp.url("/.well-known/oauth-protected-resource/scoped")
        )
    );
    let admin = f.token("alice", &[("scp", json!(["mcp:tools", "mcp:admin"]))]);
    assert_eq!(f.post("/scoped/mcp", Some(&admin), &[]).await.status(), 200);

    let sales = f.token("alice", &[("department", json!("sales"))]);
    let response = f.post("/claims/mcp", Some(&sales), &[]).await;
    assert_eq!(response.status(), 403);
    assert!(
        response.headers().get("www-authenticate").is_none(),
        "no OAuth error code fits a claim rule"
    );
    let body = body_json(response).await;
    assert_eq!(
        body["error"]["message"],
        "the token does not carry the required claims"
    );
    assert!(!body.to_string().contains("sales"), "no claim value echoed");
    let missing = f.token("alice", &[]);
    assert_eq!(
        f.post("/claims/mcp", Some(&missing), &[]).await.status(),
        403
    );
    let eng = f.token("alice", &[("department", json!(["eng", "ops"]))]);
    assert_eq!(f.post("/claims/mcp", Some(&eng), &[]).await.status(), 200);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_and_metadata_need_no_token() {
    let f = Fixture::start().await;
    for path in ["/health", "/ready", "/metrics"] {
        assert_eq!(f.get(path, None).await.status(), 200, "{path}");
    }
    let ready = body_json(f.get("/ready", None).await).await;
    assert_eq!(ready["auth"], true, "{ready}");
    // A backend that is public on purpose.
    assert_eq!(f.post("/public/mcp", None, &[]).await.status(), 200);

    let issuer = f.issuer.issuer().to_owned();
    let root = body_json(f.get("/.well-known/oauth-protected-resource", None).await).await;
    assert_eq!(
        root,
        json!({
            "resource": f.smcp.url("/"),
            "authorization_servers": [issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["mcp:tools"],
        })
    );
    let echo = body_json(
        f.get("/.well-known/oauth-protected-resource/echo", None)
            .await,
    )
    .await;
    assert_eq!(
        echo,
        json!({
            "resource": f.smcp.url("/echo"),
            "resource_name": "Echo backend",
            "authorization_servers": [issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["mcp:tools"],
        })
    );
    let scoped = body_json(
        f.get("/.well-known/oauth-protected-resource/scoped", None)
            .await,
    )
    .await;
    assert_eq!(scoped["resource"], f.smcp.url("/scoped"));
    assert_eq!(
        scoped["scopes_supported"],
        json!(["mcp:tools", "mcp:admin"])
    );
    // The endpoint path below a backend resolves to that backend's document.
    let deeper = body_json(
        f.get("/.well-known/oauth-protected-resource/echo/mcp", None)
            .await,
    )
    .await;
    assert_eq!(deeper["resource"], f.smcp.url("/echo"));
    for path in [
        "/.well-known/oauth-protected-resource/public",
        "/.well-known/oauth-protected-resource/nothing-here",
        "/.well-known/oauth-protected-resourcex",
        "/.well-known/openid-configuration",
    ] {
        assert_eq!(f.get(path, None).await.status(), 404, "{path}");
    }
    let response = f
        .http
        .post(f.smcp.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 405);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_shapes_resources_and_metadata_urls() {
    let f = Fixture::start_with("  public_url: \"https://mcp.example.com/gw\"\n").await;
    let response = f.post("/echo/mcp", None, &[]).await;
    assert_eq!(
        www_authenticate(&response),
        "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/gw/echo\""
    );
    for path in [
        "/.well-known/oauth-protected-resource/gw/echo",
        "/.well-known/oauth-protected-resource/echo",
    ] {
        let doc = body_json(f.get(path, None).await).await;
        assert_eq!(doc["resource"], "https://mcp.example.com/gw/echo", "{path}");
    }
    let public = f.token(
        "alice",
        &[("aud", json!("https://mcp.example.com/gw/echo"))],
    );
    assert_eq!(f.post("/echo/mcp", Some(&public), &[]).await.status(), 200);
    // With public_url set, the Host header no longer names an accepted audience.
    let by_host = f.token("alice", &[("aud", json!(f.smcp.url("/echo")))]);
    let response = f.post("/echo/mcp", Some(&by_host), &[]).await;
    assert_refused(
        response,
        401,
        "invalid_token",
        "not issued for this resource",
    )
    .await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_down_at_startup_keeps_ready_503_until_keys_load() {
    let key = SigningKey::ec_p256("k1");
    let issuer = TestIssuer::builder()
        .key(key.clone())
        .down()
        .start()
        .await
        .expect("issuer");
    let f = Fixture::start_on(issuer, key, "").await;
    let response = f.get("/ready", None).await;
    assert_eq!(response.status(), 503);
    let ready = body_json(response).await;
    assert_eq!(ready["auth"], false, "{ready}");
    assert_eq!(ready["status"], "not_ready", "{ready}");

    let token = f.token("alice", &[]);
    let response = f.post("/echo/mcp", Some(&token), &[]).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body = body_json(response).await;
    assert_eq!(
        body["error"]["message"],
        "the token cannot be verified right now"
    );
    assert_eq!(f.echo.requests(), 0);

    f.issuer.set_down(false);
    wait_ready(&f.http, &f.smcp).await;
    assert_eq!(f.post("/echo/mcp", Some(&token), &[]).await.status(), 200);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_mode_none_serves_no_metadata() {
    let echo = fixture::Echo::start().await;
    let yaml = format!(
        "server:\n  host: \"127.0.0.1\"\n  port: 0\nmcp:\n  backends:\n    - id: echo\n      transport: http\n      url: \"http://{}\"\n      path: /echo\n",
        echo.addr()
    );
    let smcp = smcp_e2e::SmcpServer::start(&yaml).await;
    let http = fixture::client();
    let response = http
        .get(smcp.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 404);
    let ready = body_json(http.get(smcp.url("/ready")).send().await.expect("ready")).await;
    assert!(ready.get("auth").is_none(), "{ready}");
    smcp.stop().await;
}

#[test]
fn the_fixture_config_loads() {
    let yaml = config(
        "http://127.0.0.1:9",
        "127.0.0.1:9".parse().expect("addr"),
        "",
    );
    smcp_proxy::config::Config::from_yaml_str(&yaml).expect("config");
    assert!(yaml.contains(AUDIENCE));
}

/// `token` with its signature cut to a length no base64url text has (1 more than a multiple
/// of 4), so it can never decode: cutting a fixed number of characters instead decodes now
/// and then (when the last character's unused bits happen to be zero), and the token is then
/// "signature invalid", not "malformed".
fn truncated_signature(token: &str) -> String {
    let signature_at = token.rfind('.').expect("a JWT has three segments") + 1;
    let signature = token.len() - signature_at;
    let keep = (signature - 20) / 4 * 4 + 1;
    token[..signature_at + keep].to_owned()
}
