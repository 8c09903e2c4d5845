//! smcp-client as a new user runs it, against both kinds of identity provider: the Go
//! proxy's README commands, unchanged, with oidc-provider in its strict profile (Entra ID and
//! Okta: only the API's scopes for client_credentials, resource indicators decide `aud`) and
//! its permissive one (Auth0 and Keycloak: `openid` allowed, `audience` decides `aud`), in
//! front of smcp-server configured as the Go README's (`oidc.audience` a plain name, two stdio
//! backends behind one listener).
//!
//! - The README's flags (no `--oidc-scopes`, no `--oidc-audience`, a server root URL): HTTP
//!   mode reaches both backends (one token per backend's resource) and stdio mode its one, with
//!   either provider. A strict provider refuses the default `openid`; smcp-client asks again
//!   without a scope and says so.
//! - The README's environment (`SMCP_OIDC_AUDIENCE`): the audience is not replaced by a
//!   resource, so the token's `aud` is the one the server expects, as `check` shows.
//! - Scopes the operator chose and a strict provider refuses: a 502 naming `invalid_scope`,
//!   and `check` names the cause and the fix.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "client_fixture.rs"]
mod client_fixture;

use client_fixture::{
    client_command, echo_through, host_launches_client, http, metric, spawn_http_client,
    stdio_backend, wait_ready,
};
use serde_json::Value;
use smcp_e2e::oidc::RS256_CLIENT;
use smcp_e2e::{
    OidcProvider, ProviderProfile, SmcpServer, everything_stdio, run_py_client,
    spawn_oidc_provider_profile,
};

/// The Go README's server: oidc with one issuer and a plain-name audience, no scopes, and two
/// backends.
async fn go_readme_server(provider: &OidcProvider, audience: &str) -> SmcpServer {
    let backends = [
        stdio_backend("everything", "/v1/everything", &everything_stdio()),
        stdio_backend("second", "/v1/second", &everything_stdio()),
    ]
    .concat();
    let yaml = format!(
        r#"server:
  host: "127.0.0.1"
  port: 0
  shutdown_timeout: "5s"
auth:
  mode: oidc
oidc:
  issuers: ["{issuer}"]
  audience: "{audience}"
  jwks_refresh_min_interval: "1s"
mcp:
  backends:
{backends}"#,
        issuer = provider.issuer()
    );
    let smcp = SmcpServer::start(&yaml).await;
    wait_ready(&smcp).await;
    smcp
}

/// The README's client command: `--auth-mode=oidc --server-url=... --oidc-issuer=...
/// --oidc-client-id=... --oidc-client-secret=... --log-level=debug`.
fn go_readme_flags(provider: &OidcProvider, server_url: &str) -> Vec<String> {
    [
        "--auth-mode=oidc".to_owned(),
        format!("--server-url={server_url}"),
        format!("--oidc-issuer={}", provider.issuer()),
        format!("--oidc-client-id={RS256_CLIENT}"),
        format!("--oidc-client-secret={}", provider.secret_of(RS256_CLIENT)),
        "--log-level=debug".to_owned(),
    ]
    .to_vec()
}

/// The README's environment, with `scopes` as `SMCP_OIDC_SCOPES` when given.
fn go_readme_env(
    provider: &OidcProvider,
    server_url: &str,
    audience: &str,
    scopes: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("SMCP_SERVER_URL", server_url.to_owned()),
        ("SMCP_AUTH_MODE", "oidc".to_owned()),
        ("SMCP_OIDC_ISSUER", provider.issuer().to_owned()),
        ("SMCP_OIDC_CLIENT_ID", RS256_CLIENT.to_owned()),
        (
            "SMCP_OIDC_CLIENT_SECRET",
            provider.secret_of(RS256_CLIENT).to_owned(),
        ),
        ("SMCP_OIDC_AUDIENCE", audience.to_owned()),
    ];
    if let Some(scopes) = scopes {
        env.push(("SMCP_OIDC_SCOPES", scopes.to_owned()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `smcp-client check` with `env`: its exit code and stdout.
async fn check(env: &[(String, String)]) -> (Option<i32>, String) {
    let output = client_command(&["check".to_owned()], env)
        .output()
        .await
        .expect("check");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test]
async fn the_go_readme_client_flags_work_with_every_provider() {
    for profile in ProviderProfile::ALL {
        let provider = spawn_oidc_provider_profile(profile).await;
        let smcp = go_readme_server(&provider, "your-api-audience").await;

        // HTTP mode on the server's root: each backend is its own resource, with its own token.
        let client = spawn_http_client(&go_readme_flags(&provider, &smcp.url("/")), &[]).await;
        echo_through(&client, "/v1/everything").await;
        echo_through(&client, "/v1/second").await;
        echo_through(&client, "/v1/everything").await;
        let metrics = client.metrics().await;
        assert_eq!(
            metric(
                &metrics,
                r#"smcp_client_resource_lookups_total{outcome="found"}"#
            ),
            2.0,
            "{profile:?}: one lookup per backend\n{metrics}"
        );
        let logs = client.guard.logs();
        let requests = provider.token_requests().await;
        match profile {
            ProviderProfile::Strict => {
                assert!(
                    logs.contains("refuses the default scopes"),
                    "{profile:?}: {logs}"
                );
                // Per resource: `openid` refused, then a token without a scope.
                assert_eq!(requests, 4, "{profile:?}");
            }
            ProviderProfile::Permissive => {
                assert!(!logs.contains("refuses the default scopes"), "{logs}");
                assert_eq!(requests, 2, "{profile:?}: one token per resource");
            }
        }
        assert!(
            !logs.contains(provider.secret_of(RS256_CLIENT)),
            "the secret is logged"
        );
        drop(client);

        // stdio mode, launched by a real host, with the same flags and the endpoint's URL.
        let flags = go_readme_flags(&provider, &smcp.url("/v1/everything"));
        let mut args = host_launches_client(&flags, &[]);
        args.extend(["--scenario", "basic"].map(str::to_owned));
        let out = run_py_client(args).await;
        assert_eq!(
            out["echo"], "Echo: hello from py_client",
            "{profile:?}: {out}"
        );
        smcp.stop().await;
    }
}

#[tokio::test]
async fn the_go_readme_environment_keeps_its_audience_with_every_provider() {
    for profile in ProviderProfile::ALL {
        let provider = spawn_oidc_provider_profile(profile).await;
        // What each kind of provider puts in `aud` for an audience-style client: Auth0 the
        // `audience` asked for; Entra ID and Okta their configured API identifier, whatever
        // the client sends (here the provider's default resource).
        let (audience, scopes) = match profile {
            ProviderProfile::Permissive => ("your-api-audience", Some("openid,profile,email")),
            ProviderProfile::Strict => ("urn:smcp:default", None),
        };
        let smcp = go_readme_server(&provider, audience).await;
        let env = go_readme_env(&provider, &smcp.url("/"), audience, scopes);
        let client = spawn_http_client(&[], &env).await;
        echo_through(&client, "/v1/everything").await;
        drop(client);

        let env = go_readme_env(&provider, &smcp.url("/v1/everything"), audience, scopes);
        let (code, out) = check(&env).await;
        assert_eq!(code, Some(0), "{profile:?}: {out}");
        for want in [
            format!("token audience: {audience}"),
            "OK: the server accepts this client.".to_owned(),
        ] {
            assert!(
                out.contains(&want),
                "{profile:?}: missing {want:?} in\n{out}"
            );
        }
        smcp.stop().await;
    }
}

#[tokio::test]
async fn scopes_a_strict_provider_refuses_are_a_502_and_check_names_the_fix() {
    let provider = spawn_oidc_provider_profile(ProviderProfile::Strict).await;
    let smcp = go_readme_server(&provider, "urn:smcp:default").await;
    // The Go README's SMCP_OIDC_SCOPES: an explicit choice, so it is not dropped.
    let scopes = Some("openid,profile,email");
    let env = go_readme_env(&provider, &smcp.url("/"), "urn:smcp:default", scopes);
    let client = spawn_http_client(&[], &env).await;
    let response = http()
        .post(client.url("/v1/everything"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#)
        .send()
        .await
        .expect("ping");
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.expect("JSON-RPC error");
    assert_eq!(body["id"], 7, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("invalid_scope"), "{message}");
    drop(client);

    let env = go_readme_env(
        &provider,
        &smcp.url("/v1/everything"),
        "urn:smcp:default",
        scopes,
    );
    let (code, out) = check(&env).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("refuses the requested scopes for client_credentials")
            && out.contains("--oidc-scopes"),
        "{out}"
    );
    smcp.stop().await;
}
