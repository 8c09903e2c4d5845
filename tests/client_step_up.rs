//! smcp-client follows scope step-up, in HTTP mode and in stdio mode: smcp-server (in-process)
//! in front of server-everything over stdio with a policy where
//! `trigger-long-running-operation` needs `mcp:admin`, tokens from the real OpenID provider,
//! smcp-client (the binary) configured with `--oidc-scopes mcp:tools`:
//!
//! - `smcp-limited` (may get `mcp:admin` when it asks): `echo` needs no step-up; the long
//!   operation gets the server's 403, one token request for `mcp:tools mcp:admin` and one
//!   resend, and succeeds; the next call uses the wider token without asking again;
//! - `smcp-narrow` (may never get `mcp:admin`): the IdP's `invalid_scope` is logged and the
//!   server's 403 reaches the application unchanged (HTTP mode: status, challenge, JSON-RPC
//!   error with the request id; stdio mode: the JSON-RPC error with the host's id), and the
//!   refusal is not asked again for the same token.
//!
//! Token requests are counted at the provider (`/admin/stats`), step-ups on smcp-client's
//! `/metrics` (`smcp_client_step_ups_total{outcome}`) in HTTP mode and in its log in stdio mode.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "client_fixture.rs"]
mod client_fixture;

use std::time::Duration;

use client_fixture::{
    HttpClient, READY_TIMEOUT, client_command, http, metric, oidc_args, secret_env,
    spawn_http_client, wait_ready,
};
use serde_json::{Value, json};
use smcp_e2e::exchange::{call, initialize, open_session, post};
use smcp_e2e::oidc::{LIMITED_CLIENT, NARROW_CLIENT};
use smcp_e2e::process::{ChildGuard, Stream};
use smcp_e2e::yaml::{oidc_server_config, stdio_backend};
use smcp_e2e::{OidcProvider, SmcpServer, everything_stdio, spawn_oidc_provider};
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;

/// `echo` for anyone, the long operation for `mcp:admin` only.
const POLICY: &str = r#"      policy:
        rules:
          - tools: ["trigger-long-running-operation"]
            scopes: ["mcp:admin"]
"#;

const LONG: &str = "trigger-long-running-operation";

fn long_arguments() -> Value {
    json!({"duration": 1, "steps": 1})
}

/// smcp-server with server-everything (stdio) at `/v1/everything` under [`POLICY`], ready.
async fn everything_behind_policy(provider: &OidcProvider) -> SmcpServer {
    let backend = stdio_backend(
        "everything",
        "/v1/everything",
        &everything_stdio(),
        "client-step-up",
    ) + POLICY;
    let smcp = SmcpServer::start(&oidc_server_config(provider.issuer(), "", &[backend])).await;
    wait_ready(&smcp).await;
    smcp
}

/// smcp-client's arguments and environment for `client_id` with `--oidc-scopes mcp:tools`.
fn client_setup(
    smcp: &SmcpServer,
    provider: &OidcProvider,
    client_id: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut args = vec!["--server-url".to_owned(), smcp.url("/v1/everything")];
    args.extend(oidc_args(provider.issuer(), client_id));
    (args, secret_env(provider.secret_of(client_id)))
}

async fn http_client(smcp: &SmcpServer, provider: &OidcProvider, client_id: &str) -> HttpClient {
    let (args, env) = client_setup(smcp, provider, client_id);
    spawn_http_client(&args, &env).await
}

fn step_ups(metrics: &str, outcome: &str) -> f64 {
    metric(
        metrics,
        &format!(r#"smcp_client_step_ups_total{{outcome="{outcome}"}}"#),
    )
}

fn echo_text(message: &Value) -> &str {
    message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no echo in {message}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_steps_up_once_and_keeps_the_wider_token() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_behind_policy(&provider).await;
    let client = http_client(&smcp, &provider, LIMITED_CLIENT).await;
    let http = http();
    let url = client.url("/");
    let session = open_session(&http, &url, None).await;
    let session = Some(session.as_str());

    let echo = post(
        &http,
        &url,
        None,
        session,
        &call(1, "echo", json!({"message": "hi"})),
    )
    .await;
    assert_eq!(echo.status, 200, "{}", echo.message);
    assert_eq!(echo_text(&echo.message), "Echo: hi");
    let metrics = client.metrics().await;
    assert!(
        !metrics.contains("smcp_client_step_ups_total{"),
        "{metrics}"
    );

    let before = provider.token_requests().await;
    let ran = post(&http, &url, None, session, &call(2, LONG, long_arguments())).await;
    assert_eq!(ran.status, 200, "{}\n{}", ran.message, client.guard.logs());
    assert_eq!(ran.message["id"], 2, "{}", ran.message);
    assert!(ran.message["result"].is_object(), "{}", ran.message);
    assert_eq!(
        provider.token_requests().await - before,
        1,
        "one token request for the step-up"
    );
    let metrics = client.metrics().await;
    assert_eq!(step_ups(&metrics, "succeeded"), 1.0, "{metrics}");

    // The wider token is the one in use now: no 403, no token request, no step-up.
    let again = post(&http, &url, None, session, &call(3, LONG, long_arguments())).await;
    assert_eq!(again.status, 200, "{}", again.message);
    assert!(again.message["result"].is_object(), "{}", again.message);
    let echo = post(
        &http,
        &url,
        None,
        session,
        &call(4, "echo", json!({"message": "still"})),
    )
    .await;
    assert_eq!(echo_text(&echo.message), "Echo: still");
    assert_eq!(provider.token_requests().await - before, 1);
    let metrics = client.metrics().await;
    assert_eq!(step_ups(&metrics, "succeeded"), 1.0, "{metrics}");
    assert_eq!(step_ups(&metrics, "still_forbidden"), 0.0, "{metrics}");
    assert_eq!(
        metric(
            &metrics,
            r#"smcp_client_token_fetches_total{outcome="success"}"#
        ),
        2.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("# HELP smcp_client_step_ups_total"),
        "{metrics}"
    );
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_passes_the_servers_403_on_when_the_idp_refuses_the_scope() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_behind_policy(&provider).await;
    let client = http_client(&smcp, &provider, NARROW_CLIENT).await;
    let http = http();
    let url = client.url("/");
    let session = open_session(&http, &url, None).await;
    let session = Some(session.as_str());

    let before = provider.token_requests().await;
    for id in [2, 3] {
        let refused = post(
            &http,
            &url,
            None,
            session,
            &call(id, LONG, long_arguments()),
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.message);
        let challenge = refused.challenge.unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ")
                && challenge.contains(r#"error="insufficient_scope""#)
                && challenge.contains(r#"scope="mcp:admin""#),
            "{challenge}"
        );
        assert_eq!(refused.message["id"], id, "{}", refused.message);
        assert!(refused.message["error"].is_object(), "{}", refused.message);
    }
    // One refused token request: the refusal is remembered for the current token.
    assert_eq!(provider.token_requests().await - before, 1);
    let metrics = client.metrics().await;
    assert_eq!(step_ups(&metrics, "refused_by_idp"), 2.0, "{metrics}");
    assert_eq!(step_ups(&metrics, "succeeded"), 0.0, "{metrics}");

    // The narrow token still serves what it may.
    let echo = post(
        &http,
        &url,
        None,
        session,
        &call(4, "echo", json!({"message": "narrow"})),
    )
    .await;
    assert_eq!(echo_text(&echo.message), "Echo: narrow");
    let logs = client.guard.logs();
    assert!(
        logs.contains("the identity provider does not grant them")
            && logs.contains("invalid_scope"),
        "{logs}"
    );
    smcp.stop().await;
}

/// smcp-client in stdio mode, driven over its stdin like a desktop host.
struct StdioHost {
    guard: ChildGuard,
    stdin: Option<ChildStdin>,
}

impl StdioHost {
    async fn start(smcp: &SmcpServer, provider: &OidcProvider, client_id: &str) -> StdioHost {
        let (args, env) = client_setup(smcp, provider, client_id);
        let mut all = vec!["stdio".to_owned()];
        all.extend(args);
        let (guard, stdin) =
            ChildGuard::spawn_with_stdin("smcp-client stdio", client_command(&all, &env))
                .unwrap_or_else(|e| panic!("cannot start smcp-client stdio: {e}"));
        let mut host = StdioHost {
            guard,
            stdin: Some(stdin),
        };
        let opened = host.request(0, &initialize()).await;
        assert!(opened["result"].is_object(), "{opened}");
        host.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        host
    }

    async fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).expect("JSON");
        line.push(b'\n');
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(&line).await.expect("write to smcp-client");
        stdin.flush().await.expect("flush");
    }

    /// Sends request `id` and returns its answer (a result or an error with that id).
    async fn request(&mut self, id: u64, message: &Value) -> Value {
        self.send(message).await;
        let is_answer = |line: &smcp_e2e::process::LogLine| {
            line.stream == Stream::Stdout
                && serde_json::from_str::<Value>(&line.text).is_ok_and(|m| {
                    m["id"] == id && (m.get("result").is_some() || m.get("error").is_some())
                })
        };
        let line = self
            .guard
            .wait_for_line(READY_TIMEOUT, is_answer)
            .await
            .unwrap_or_else(|e| panic!("no answer to {id} ({e:?}):\n{}", self.guard.logs()));
        serde_json::from_str(&line.text).expect("JSON answer")
    }

    /// Closes stdin and waits for smcp-client to end the session and exit.
    async fn close(mut self) -> String {
        drop(self.stdin.take());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.guard.try_status() {
                assert!(status.success(), "{status}\n{}", self.guard.logs());
                return self.guard.logs();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "smcp-client stdio did not exit:\n{}",
                self.guard.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_mode_steps_up_once_and_keeps_the_wider_token() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_behind_policy(&provider).await;
    let mut host = StdioHost::start(&smcp, &provider, LIMITED_CLIENT).await;

    let echo = host
        .request(1, &call(1, "echo", json!({"message": "hi"})))
        .await;
    assert_eq!(echo_text(&echo), "Echo: hi");
    let before = provider.token_requests().await;
    let ran = host.request(2, &call(2, LONG, long_arguments())).await;
    assert!(ran["result"].is_object(), "{ran}\n{}", host.guard.logs());
    assert_eq!(provider.token_requests().await - before, 1);
    let again = host.request(3, &call(3, LONG, long_arguments())).await;
    assert!(again["result"].is_object(), "{again}");
    assert_eq!(provider.token_requests().await - before, 1);

    let logs = host.close().await;
    assert_eq!(
        logs.matches("stepped up to a token with the scopes the server asks for")
            .count(),
        1,
        "{logs}"
    );
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_mode_answers_the_host_with_the_servers_error_when_the_idp_refuses_the_scope() {
    let provider = spawn_oidc_provider().await;
    let smcp = everything_behind_policy(&provider).await;
    let mut host = StdioHost::start(&smcp, &provider, NARROW_CLIENT).await;

    let before = provider.token_requests().await;
    let refused = host.request(7, &call(7, LONG, long_arguments())).await;
    assert_eq!(refused["id"], 7, "{refused}");
    assert_eq!(refused["jsonrpc"], "2.0");
    let error = &refused["error"];
    assert!(error["code"].is_i64(), "{refused}");
    assert_eq!(
        error["data"]["oauth_error"], "insufficient_scope",
        "{refused}"
    );
    assert_eq!(provider.token_requests().await - before, 1);
    let echo = host
        .request(8, &call(8, "echo", json!({"message": "narrow"})))
        .await;
    assert_eq!(echo_text(&echo), "Echo: narrow");

    let logs = host.close().await;
    assert!(
        logs.contains("the identity provider does not grant them")
            && logs.contains("invalid_scope"),
        "{logs}"
    );
    smcp.stop().await;
}
