//! Token source tests against a scriptable fake IdP on loopback: what is sent for each client
//! authentication method, the three ways to find the endpoint, reuse and refresh timing (paused
//! clock), single flight, retries, error reporting, and scope step-up.

mod discovery;
mod idp;
mod per_resource;
mod scopes;
mod step_up;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;
use smcp_test_support::issuer::SigningKey;
use url::Url;

use self::idp::{FakeIdp, Req, Resp};
use super::{
    AssertionKey, ClientAuth, EndpointSource, Secret, TokenError, TokenSource, TokenSourceConfig,
};

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn token_ok(n: usize, expires_in: u64) -> Resp {
    Resp::json(
        200,
        &json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": expires_in}),
    )
}

/// An IdP whose `/token` issues `tok-<n>` valid for `expires_in` seconds.
async fn simple_idp(expires_in: u64) -> FakeIdp {
    FakeIdp::start(move |req, n| match req.path.as_str() {
        "/token" => token_ok(n, expires_in),
        _ => Resp::json(404, &json!({})),
    })
    .await
}

fn config_for(idp: &FakeIdp, auth: ClientAuth) -> TokenSourceConfig {
    TokenSourceConfig::new(
        EndpointSource::TokenUrl(Url::parse(&idp.url("/token")).unwrap()),
        "client:one",
        auth,
    )
}

fn basic(secret: &str) -> ClientAuth {
    ClientAuth::SecretBasic(Secret::new(secret))
}

#[tokio::test]
async fn client_secret_basic_sends_form_encoded_credentials_and_parameters() {
    let idp = simple_idp(300).await;
    let mut config = config_for(&idp, basic("s3cr:t/+ é"));
    config.scopes = Some(vec!["mcp:read".into(), "mcp:write".into()]);
    config.audience = Some("my-api".into());
    config.resource = Some("https://mcp.example.com/v1/memory".into());
    let source = TokenSource::new(config, http());
    let token = source.token().await.unwrap();
    assert_eq!(token.secret(), "tok-0");
    assert_eq!(token.authorization(), "Bearer tok-0");

    let requests = idp.requests_to("/token");
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    let auth = req.header("authorization").unwrap();
    let decoded = String::from_utf8(
        STANDARD
            .decode(auth.strip_prefix("Basic ").unwrap())
            .unwrap(),
    )
    .unwrap();
    // RFC 6749 §2.3.1: both halves form-encoded before base64.
    assert_eq!(decoded, "client%3Aone:s3cr%3At%2F%2B+%C3%A9");
    let form = req.form();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], "mcp:read mcp:write");
    assert_eq!(form["audience"], "my-api");
    assert_eq!(form["resource"], "https://mcp.example.com/v1/memory");
    assert!(!form.contains_key("client_secret"));
    assert!(!form.contains_key("client_id"));
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn client_secret_post_puts_credentials_in_the_body() {
    let idp = simple_idp(300).await;
    let source = TokenSource::new(
        config_for(&idp, ClientAuth::SecretPost(Secret::new("p4ss"))),
        http(),
    );
    source.token().await.unwrap();
    let req = &idp.requests_to("/token")[0];
    assert_eq!(req.header("authorization"), None);
    let form = req.form();
    assert_eq!(form["client_id"], "client:one");
    assert_eq!(form["client_secret"], "p4ss");
    // No scopes, audience or resource configured: none sent.
    assert!(!form.contains_key("scope"));
    assert!(!form.contains_key("audience"));
    assert!(!form.contains_key("resource"));
}

#[tokio::test]
async fn private_key_jwt_signs_an_assertion_for_the_issuer() {
    let key = SigningKey::rsa("k1");
    let idp = Arc::new(std::sync::OnceLock::<String>::new());
    let base = Arc::clone(&idp);
    let server = FakeIdp::start(move |req, n| {
        let issuer = base.get().cloned().unwrap_or_default();
        match req.path.as_str() {
            "/.well-known/openid-configuration" => Resp::json(
                200,
                &json!({"issuer": issuer, "token_endpoint": format!("{issuer}/token")}),
            ),
            "/token" => token_ok(n, 300),
            _ => Resp::json(404, &json!({})),
        }
    })
    .await;
    idp.set(server.base.clone()).unwrap();
    let signer =
        AssertionKey::from_pem(key.private_key_pem().as_bytes(), None, Some("k1".into())).unwrap();
    let config = TokenSourceConfig::new(
        EndpointSource::Issuer(server.base.clone()),
        "jwt-client",
        ClientAuth::PrivateKeyJwt(signer),
    );
    let source = TokenSource::new(config, http());
    source.token().await.unwrap();
    let form = server.requests_to("/token")[0].form();
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(form["client_id"], "jwt-client");
    assert!(!form.contains_key("client_secret"));
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[server.base.as_str()]);
    validation.set_issuer(&["jwt-client"]);
    let decoding = DecodingKey::from_rsa_pem(key.public_key_pem().as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &form["client_assertion"],
        &decoding,
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "jwt-client");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn tokens_are_reused_until_exp_minus_delta() {
    let idp = simple_idp(60).await;
    let mut config = config_for(&idp, basic("s"));
    config.ttl_delta = Duration::from_secs(10);
    let source = TokenSource::new(config, http());
    for _ in 0..5 {
        assert_eq!(source.token().await.unwrap().secret(), "tok-0");
    }
    tokio::time::advance(Duration::from_secs(49)).await;
    assert_eq!(source.token().await.unwrap().secret(), "tok-0");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(source.token().await.unwrap().secret(), "tok-1");
    assert_eq!(idp.requests_to("/token").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn cache_ttl_bounds_reuse_and_short_tokens_keep_half_their_life() {
    let idp = simple_idp(3600).await;
    let mut config = config_for(&idp, basic("s"));
    config.cache_ttl = Duration::from_secs(20);
    let source = TokenSource::new(config, http());
    assert_eq!(source.token().await.unwrap().secret(), "tok-0");
    tokio::time::advance(Duration::from_secs(21)).await;
    assert_eq!(source.token().await.unwrap().secret(), "tok-1");

    // A 3-second token with the default 30 s delta: reused for 1.5 s, not refetched per call.
    let short = simple_idp(3).await;
    let source = TokenSource::new(config_for(&short, basic("s")), http());
    let first = source.token().await.unwrap();
    assert_eq!(first.expires_in(), Some(Duration::from_secs(3)));
    tokio::time::advance(Duration::from_millis(1400)).await;
    assert_eq!(source.token().await.unwrap().secret(), "tok-0");
    tokio::time::advance(Duration::from_millis(200)).await;
    assert_eq!(source.token().await.unwrap().secret(), "tok-1");
}

#[tokio::test(start_paused = true)]
async fn jwt_exp_is_used_when_expires_in_is_missing() {
    let key = SigningKey::ec_p256("k");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = smcp_test_support::issuer::mint(&key, &json!({"sub": "c", "exp": now + 100}));
    let idp = FakeIdp::start(move |_, _| {
        Resp::json(200, &json!({"access_token": jwt, "token_type": "Bearer"}))
    })
    .await;
    let mut config = config_for(&idp, basic("s"));
    config.ttl_delta = Duration::from_secs(20);
    let source = TokenSource::new(config, http());
    let token = source.token().await.unwrap();
    assert_eq!(token.unverified_claims().unwrap()["sub"], "c");
    let left = token.expires_in().unwrap();
    assert!(
        left <= Duration::from_secs(100) && left >= Duration::from_secs(98),
        "{left:?}"
    );
    tokio::time::advance(Duration::from_secs(75)).await;
    source.token().await.unwrap();
    assert_eq!(idp.requests_to("/token").len(), 1);
    tokio::time::advance(Duration::from_secs(10)).await;
    source.token().await.unwrap();
    assert_eq!(idp.requests_to("/token").len(), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let idp = simple_idp(300).await;
    let source = TokenSource::new(config_for(&idp, basic("s")), http());
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.token().await.unwrap().secret().to_owned() })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), "tok-0");
    }
    assert_eq!(idp.requests_to("/token").len(), 1);

    // Twenty requests refused with the same token: one replacement.
    let old = source.token().await.unwrap();
    let refreshes: Vec<_> = (0..20)
        .map(|_| {
            let source = source.clone();
            let old = old.clone();
            tokio::spawn(async move {
                source
                    .refresh_rejected(&old)
                    .await
                    .unwrap()
                    .secret()
                    .to_owned()
            })
        })
        .collect();
    for refresh in refreshes {
        assert_eq!(refresh.await.unwrap(), "tok-1");
    }
    assert_eq!(idp.requests_to("/token").len(), 2);
    // A late report about the old token does not cause another fetch.
    assert_eq!(
        source.refresh_rejected(&old).await.unwrap().secret(),
        "tok-1"
    );
    assert_eq!(idp.requests_to("/token").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff() {
    let idp = FakeIdp::start(|req: &Req, n| match (req.path.as_str(), n) {
        ("/token", 0) => Resp::json(503, &json!({"error": "temporarily_unavailable"})),
        ("/token", 1) => Resp::json(429, &json!({})).with_header("retry-after", "2"),
        ("/token", _) => token_ok(n, 300),
        _ => Resp::json(404, &json!({})),
    })
    .await;
    let source = TokenSource::new(config_for(&idp, basic("s")), http());
    let started = tokio::time::Instant::now();
    assert_eq!(source.token().await.unwrap().secret(), "tok-2");
    assert_eq!(idp.requests_to("/token").len(), 3);
    // 200 ms (+ jitter) backoff, then the IdP's Retry-After of 2 s.
    assert!(
        started.elapsed() >= Duration::from_millis(2200),
        "{:?}",
        started.elapsed()
    );

    let down = FakeIdp::start(|_, _| Resp::json(502, &json!({}))).await;
    let mut config = config_for(&down, basic("s"));
    config.retries = 2;
    let error = TokenSource::new(config, http()).token().await.unwrap_err();
    assert_eq!(error, TokenError::Status { status: 502 });
    assert_eq!(down.requests_to("/token").len(), 3);
}

#[tokio::test]
async fn a_refused_client_is_reported_with_the_idp_words_and_not_retried() {
    let idp = FakeIdp::start(|_, _| {
        Resp::json(
            401,
            &json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        )
    })
    .await;
    let source = TokenSource::new(config_for(&idp, basic("wrong")), http());
    let error = source.token().await.unwrap_err();
    assert_eq!(error.oauth_error(), Some("invalid_client"));
    assert!(
        error
            .to_string()
            .contains("invalid_client: client authentication failed"),
        "{error}"
    );
    assert_eq!(idp.requests_to("/token").len(), 1);
    // Waiters of a failed flight share its error; a later call tries again.
    assert!(source.token().await.is_err());
    assert_eq!(idp.requests_to("/token").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_unexpired_token() {
    let idp = FakeIdp::start(|_, n| {
        if n == 0 {
            token_ok(0, 100)
        } else {
            Resp::json(500, &json!({}))
        }
    })
    .await;
    let mut config = config_for(&idp, basic("s"));
    config.ttl_delta = Duration::from_secs(30);
    config.retries = 0;
    let source = TokenSource::new(config, http());
    source.token().await.unwrap();
    tokio::time::advance(Duration::from_secs(80)).await;
    // Refresh due (after 70 s) but failing: the token is still valid for 20 s.
    assert_eq!(source.token().await.unwrap().secret(), "tok-0");
    tokio::time::advance(Duration::from_secs(25)).await;
    assert_eq!(
        source.token().await.unwrap_err(),
        TokenError::Status { status: 500 }
    );
    // A refused token is never handed out again, even unexpired.
    let idp = FakeIdp::start(|_, n| {
        if n == 0 {
            token_ok(0, 100)
        } else {
            Resp::json(500, &json!({}))
        }
    })
    .await;
    let mut config = config_for(&idp, basic("s"));
    config.retries = 0;
    let source = TokenSource::new(config, http());
    let token = source.token().await.unwrap();
    assert!(source.refresh_rejected(&token).await.is_err());
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let mut config = TokenSourceConfig::new(
        EndpointSource::TokenUrl(Url::parse("https://idp/token").unwrap()),
        "c",
        ClientAuth::SecretPost(Secret::new("hunter2")),
    );
    config.audience = Some("aud".into());
    let text = format!("{config:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("<redacted>"));
}
