//! Per-tool policy (`mcp.backends[].policy`) against real peers: server-everything over stdio
//! and over Streamable HTTP behind smcp-server in oidc mode, tokens from the real OpenID
//! provider (`tests/peers/oidc`, which grants `mcp:tools` and `mcp:admin`). The same policy on
//! both backends, decided at the seam for both kinds:
//!
//! - allowed tools reach the server and come back unchanged;
//! - a tool that needs `mcp:admin` gets a step-up 403 (`insufficient_scope`, the scope, the
//!   metadata URL, the request's id in the JSON-RPC error) for a `mcp:tools` token, and runs
//!   for a `mcp:admin` token in the same session;
//! - the scope hierarchy: `mcp:admin` implies `mcp:tools`, which a rule needs;
//! - a claims rule refuses with a 403 and no challenge;
//! - a denied tool and, under `default: deny`, a tool no rule names, answer as unknown tools;
//!   `tools/list` (lifecycle) is never refused, and its reply lists only what may be called or
//!   stepped up to (whether the backend answers with JSON or SSE);
//! - every decision is counted, and the metadata lists the scopes the rules use;
//! - rate limits: per caller and per tool, 429 with `Retry-After` and the request's id, a
//!   caller's buckets its own;
//! - Python and TypeScript SDK clients list only what they may call or step up to;
//! - the TypeScript SDK's own step-up handling: it follows the challenge once (discovery, a
//!   new token, one retry) and does not loop;
//! - a 2026-07-28 `Mcp-Name` that names another tool than the body: 400;
//! - the audit trail: one record per JSON-RPC request and per denial, with who, where, what,
//!   the decision and rule, and the outcome read from the backend's answer; no token, no
//!   arguments, no session id in clear.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

use std::time::Duration;

use serde_json::{Value, json};
use smcp_e2e::exchange::{call, open_session, post};
use smcp_e2e::expect::{driver_args, http_trace};
use smcp_e2e::oidc::RS256_CLIENT;
use smcp_e2e::yaml::{http_backend, oidc_server_config, stdio_backend};
use smcp_e2e::{
    HttpMode, SmcpServer, everything_stdio, run_py_client, run_ts_client, spawn_everything_http,
    spawn_oidc_provider,
};

const POLICY: &str = r#"      policy:
        default: deny
        rules:
          - tools: ["get-env"]
            deny: true
          - tools: ["echo"]
            allow: true
          - tools: ["get-*"]
            scopes: ["mcp:tools"]
          - tools: ["trigger-long-running-operation"]
            scopes: ["mcp:admin"]
          - prompts: ["*"]
            claims: {client_id: "nobody-has-this-client-id"}
"#;

/// Rate limits on top of [`POLICY`]: a caller may send 4 requests at once, then one a minute;
/// `get-sum` once a minute.
const RATE_LIMITS: &str = r#"        rate_limit: {per_principal: "1/min", burst: 4}
        tool_rate_limits: {"get-sum": "1/min"}
"#;

fn config(issuer: &str, everything_port: u16, policy: &str) -> String {
    let backends = [
        http_backend(
            "everything-http",
            "/v1/everything",
            &format!("http://127.0.0.1:{everything_port}/mcp"),
        ) + policy,
        stdio_backend(
            "everything-stdio",
            "/v1/local",
            &everything_stdio(),
            "policy",
        ) + policy,
    ];
    oidc_server_config(
        issuer,
        "  scope_hierarchy: {\"mcp:admin\": [\"mcp:tools\"]}\n",
        &backends,
    )
}

/// The OpenID provider, server-everything over HTTP, and smcp-server with [`config`] in front
/// of it (and of server-everything over stdio), each with `policy`, ready; and an HTTP client.
async fn start(
    policy: &str,
) -> (
    smcp_e2e::OidcProvider,
    smcp_e2e::ChildGuard,
    SmcpServer,
    reqwest::Client,
) {
    start_with(policy, "").await
}

/// [`start`] with `top_level` YAML (whole top-level blocks) added to the configuration.
async fn start_with(
    policy: &str,
    top_level: &str,
) -> (
    smcp_e2e::OidcProvider,
    smcp_e2e::ChildGuard,
    SmcpServer,
    reqwest::Client,
) {
    let provider = spawn_oidc_provider().await;
    let (everything, port) = spawn_everything_http(HttpMode::StreamableHttp).await;
    let yaml = config(provider.issuer(), port, policy) + top_level;
    let smcp = SmcpServer::start(&yaml).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while http
        .get(smcp.url("/ready"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(tokio::time::Instant::now() < deadline, "not ready in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (provider, everything, smcp, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_policy_decides_for_stdio_and_http_backends_with_step_up_and_hidden_tools() {
    let (provider, everything, smcp, http) = start(POLICY).await;

    for (backend, base) in [
        ("everything-stdio", smcp.url("/v1/local")),
        ("everything-http", smcp.url("/v1/everything")),
    ] {
        // The stdio backend serves Streamable HTTP at its path, the HTTP route strips it.
        let url = base.clone();
        let tools = provider
            .client_credentials_token(RS256_CLIENT, Some(&base), Some("mcp:tools"))
            .await;
        let admin = provider
            .client_credentials_token(RS256_CLIENT, Some(&base), Some("mcp:admin"))
            .await;
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "policy-test", "version": "1"}}});
        let opened = post(&http, &url, Some(&tools), None, &initialize).await;
        assert_eq!(opened.status, 200, "{backend}: {}", opened.message);
        let session = opened.session.expect("a session id");
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let sent = post(&http, &url, Some(&tools), Some(&session), &initialized).await;
        assert_eq!(sent.status, 202, "{backend}");
        let session = Some(session.as_str());

        // Allowed: the server's own answer.
        let echo = post(
            &http,
            &url,
            Some(&tools),
            session,
            &call(1, "echo", json!({"message": "hi"})),
        )
        .await;
        assert_eq!(echo.status, 200, "{backend}");
        assert_eq!(
            echo.message["result"]["content"][0]["text"], "Echo: hi",
            "{backend}: {}",
            echo.message
        );

        // Needs mcp:tools, granted directly, and through the hierarchy to an mcp:admin token.
        for token in [&tools, &admin] {
            let sum = post(
                &http,
                &url,
                Some(token),
                session,
                &call(2, "get-sum", json!({"a": 1, "b": 2})),
            )
            .await;
            assert_eq!(sum.status, 200, "{backend}");
            assert!(
                sum.message["result"].is_object(),
                "{backend}: {}",
                sum.message
            );
        }

        // Needs mcp:admin: a step-up challenge for the mcp:tools token ...
        let long = call(
            3,
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 1}),
        );
        let refused = post(&http, &url, Some(&tools), session, &long).await;
        assert_eq!(refused.status, 403, "{backend}: {}", refused.message);
        let challenge = refused.challenge.expect("a WWW-Authenticate challenge");
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(challenge.contains("scope=\"mcp:admin\""), "{challenge}");
        let path = base.trim_start_matches(&smcp.url(""));
        let metadata_url = smcp.url(&format!("/.well-known/oauth-protected-resource{path}"));
        assert!(
            challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
            "{challenge}"
        );
        assert_eq!(
            refused.message["id"], 3,
            "the request's id: {}",
            refused.message
        );
        assert_eq!(refused.message["error"]["data"]["scope"], "mcp:admin");
        // ... and the call runs with the stepped-up token, in the same session.
        let ran = post(&http, &url, Some(&admin), session, &long).await;
        assert_eq!(ran.status, 200, "{backend}: {}", ran.message);
        assert!(
            ran.message["result"].is_object(),
            "{backend}: {}",
            ran.message
        );

        // A claims rule: 403 without a challenge (another token would not do better).
        let prompt = json!({"jsonrpc": "2.0", "id": 4, "method": "prompts/get",
                            "params": {"name": "simple-prompt"}});
        let forbidden = post(&http, &url, Some(&admin), session, &prompt).await;
        assert_eq!(forbidden.status, 403, "{backend}: {}", forbidden.message);
        assert!(forbidden.challenge.is_none(), "{backend}");
        assert_eq!(forbidden.message["id"], 4);

        // Denied, and not named by any rule under default: deny: unknown tools.
        for (id, tool) in [(5, "get-env"), (6, "trigger-sampling-request")] {
            let hidden = post(
                &http,
                &url,
                Some(&admin),
                session,
                &call(id, tool, json!({})),
            )
            .await;
            assert_eq!(hidden.status, 200, "{backend} {tool}");
            assert_eq!(hidden.message["id"], id);
            assert_eq!(
                hidden.message["error"]["code"], -32602,
                "{}",
                hidden.message
            );
            assert_eq!(
                hidden.message["error"]["message"],
                format!("Unknown tool: {tool}")
            );
        }

        // The lifecycle is never refused by default: deny.
        let list = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"});
        let listed = post(&http, &url, Some(&tools), session, &list).await;
        assert_eq!(listed.status, 200, "{backend}");
        // ... and its reply is filtered: what may be called or stepped up to stays.
        let names: Vec<&str> = listed.message["result"]["tools"]
            .as_array()
            .expect("a tool list")
            .iter()
            .filter_map(|tool| tool["name"].as_str())
            .collect();
        for shown in ["echo", "get-sum", "trigger-long-running-operation"] {
            assert!(
                names.contains(&shown),
                "{backend}: {shown} missing from {names:?}"
            );
        }
        for hidden in [
            "get-env",
            "trigger-sampling-request",
            "trigger-elicitation-request",
        ] {
            assert!(
                !names.contains(&hidden),
                "{backend}: {hidden} listed in {names:?}"
            );
        }
        // Prompts are all behind a claims rule this caller fails: none is listed.
        let prompts = json!({"jsonrpc": "2.0", "id": 8, "method": "prompts/list"});
        let listed = post(&http, &url, Some(&admin), session, &prompts).await;
        assert_eq!(listed.status, 200, "{backend}");
        assert_eq!(
            listed.message["result"]["prompts"],
            json!([]),
            "{}",
            listed.message
        );

        // The metadata names the scopes the rules use.
        let metadata: Value = http
            .get(&metadata_url)
            .send()
            .await
            .expect("metadata")
            .json()
            .await
            .expect("metadata JSON");
        let scopes = metadata["scopes_supported"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            scopes.contains(&json!("mcp:admin")) && scopes.contains(&json!("mcp:tools")),
            "{metadata}"
        );

        let metrics = smcp.metrics().await;
        for decision in ["allow", "step_up", "claims", "deny", "default_deny"] {
            let series = format!(
                "smcp_policy_decisions_total{{backend=\"{backend}\",decision=\"{decision}\"}}"
            );
            assert!(metrics.contains(&series), "{series} missing");
        }
        println!("{backend}: allowed, stepped up, refused on claims, hidden: as the policy says");
    }
    smcp.stop().await;
    drop(everything);
    drop(provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_per_caller_and_per_tool_on_both_backend_kinds() {
    let (provider, everything, smcp, http) = start(&format!("{POLICY}{RATE_LIMITS}")).await;
    for (backend, url) in [
        ("everything-stdio", smcp.url("/v1/local")),
        ("everything-http", smcp.url("/v1/everything")),
    ] {
        let token = provider
            .client_credentials_token(RS256_CLIENT, Some(&url), Some("mcp:tools"))
            .await;
        // Request 1 of the burst of 4: initialize (a notification takes nothing).
        let session_id = open_session(&http, &url, Some(&token)).await;
        let session = Some(session_id.as_str());
        let sum = call(2, "get-sum", json!({"a": 1, "b": 2}));
        let first = post(&http, &url, Some(&token), session, &sum).await;
        assert_eq!(first.status, 200, "{backend}: {}", first.message);
        // The tool's own limit: once a minute.
        let again = post(
            &http,
            &url,
            Some(&token),
            session,
            &call(3, "get-sum", json!({"a": 1, "b": 2})),
        )
        .await;
        assert_eq!(again.status, 429, "{backend}: {}", again.message);
        assert_eq!(again.message["id"], 3, "{}", again.message);
        assert_eq!(again.message["error"]["code"], -32010, "{}", again.message);
        let text = again.message["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains("1/min per caller on this tool"), "{text}");
        // Another tool passes while the caller's burst of 4 lasts (that refusal took one) ...
        let echo = post(
            &http,
            &url,
            Some(&token),
            session,
            &call(4, "echo", json!({"message": "x"})),
        )
        .await;
        assert_eq!(echo.status, 200, "{backend}: {}", echo.message);
        // ... and then the caller's own limit answers.
        let spent = post(
            &http,
            &url,
            Some(&token),
            session,
            &call(5, "echo", json!({"message": "x"})),
        )
        .await;
        assert_eq!(
            spent.status, 429,
            "{backend}: the burst is spent: {}",
            spent.message
        );
        assert!(
            spent.message["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("1/min per caller is reached")),
            "{}",
            spent.message
        );
        // Retry-After is whole seconds, up to the minute the bucket needs.
        let response = http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("mcp-session-id", &session_id)
            .body(call(6, "echo", json!({"message": "x"})).to_string())
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 429);
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("whole seconds");
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        // Another caller (another client of the provider) has its own buckets.
        let other = provider
            .client_credentials_token(smcp_e2e::oidc::ES256_CLIENT, Some(&url), Some("mcp:tools"))
            .await;
        let other_session = open_session(&http, &url, Some(&other)).await;
        let theirs = post(
            &http,
            &url,
            Some(&other),
            Some(&other_session),
            &call(7, "get-sum", json!({"a": 1, "b": 2})),
        )
        .await;
        assert_eq!(theirs.status, 200, "{backend}: {}", theirs.message);

        let metrics = smcp.metrics().await;
        for limit in ["tool", "principal"] {
            let series =
                format!("smcp_rate_limited_total{{backend=\"{backend}\",limit=\"{limit}\"}}");
            assert!(metrics.contains(&series), "{series} missing");
        }
        assert!(
            metrics.contains(&format!(
                "smcp_rate_limit_buckets{{backend=\"{backend}\"}} 4"
            )),
            "two callers, each with a caller bucket and a get-sum bucket"
        );
    }
    smcp.stop().await;
    drop(everything);
    drop(provider);
}

/// The next event named `event` whose data satisfies `wanted` (see
/// [`smcp_e2e::sse::next_event`]).
async fn next_event(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    event: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    smcp_e2e::sse::next_event(stream, buffer, event, Duration::from_secs(30), wanted).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_session_gets_its_tool_list_filtered_on_the_stream() {
    // Legacy HTTP+SSE: the reply to a POSTed tools/list comes on the GET stream, so the
    // stream is filtered too.
    let (provider, everything, smcp, http) = start(POLICY).await;
    let base = smcp.url("/v1/local");
    let token = provider
        .client_credentials_token(RS256_CLIENT, Some(&base), Some("mcp:tools"))
        .await;
    let mut stream = http
        .get(format!("{base}/sse"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /sse");
    assert_eq!(stream.status(), 200);
    let mut buffer = String::new();
    let endpoint = next_event(&mut stream, &mut buffer, "endpoint", |_| true).await;
    let send = |body: Value| {
        http.post(smcp.url(&endpoint))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "policy-legacy", "version": "0"}}});
    assert_eq!(send(initialize).await.expect("initialize").status(), 202);
    next_event(&mut stream, &mut buffer, "message", |d| {
        d.contains("\"id\":1")
    })
    .await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(send(initialized).await.expect("initialized").status(), 202);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(send(list).await.expect("tools/list").status(), 202);
    let reply = next_event(&mut stream, &mut buffer, "message", |d| {
        d.contains("\"id\":2")
    })
    .await;
    let reply: Value = serde_json::from_str(&reply).expect("JSON-RPC");
    let names: Vec<&str> = reply["result"]["tools"]
        .as_array()
        .expect("a tool list")
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"trigger-long-running-operation"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"get-env") && !names.contains(&"trigger-sampling-request"),
        "{names:?}"
    );
    drop(stream);
    smcp.stop().await;
    drop(everything);
    drop(provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_records_every_call_and_denial_on_both_backend_kinds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    let audit = format!(
        "audit:\n  enabled: true\n  sink: \"{}\"\n  arguments_digest: true\n",
        path.display()
    );
    let (provider, everything, smcp, http) = start_with(POLICY, &audit).await;
    let mut tokens = Vec::new();
    for url in [smcp.url("/v1/local"), smcp.url("/v1/everything")] {
        let token = provider
            .client_credentials_token(RS256_CLIENT, Some(&url), Some("mcp:tools"))
            .await;
        let session_id = open_session(&http, &url, Some(&token)).await;
        let session = Some(session_id.as_str());
        let echo = call(2, "echo", json!({"message": "words nobody may read"}));
        assert_eq!(
            post(&http, &url, Some(&token), session, &echo).await.status,
            200
        );
        let hidden = call(3, "get-env", json!({}));
        assert_eq!(
            post(&http, &url, Some(&token), session, &hidden)
                .await
                .status,
            200
        );
        let admin = call(
            4,
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 1}),
        );
        assert_eq!(
            post(&http, &url, Some(&token), session, &admin)
                .await
                .status,
            403
        );
        let anonymous = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(call(5, "echo", json!({})).to_string())
            .send()
            .await
            .expect("post");
        assert_eq!(anonymous.status(), 401);
        // 2026-07-28: a header naming one tool over a body calling another is smuggling.
        let smuggled = http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo")
            .body(call(6, "get-env", json!({})).to_string())
            .send()
            .await
            .expect("post");
        assert_eq!(smuggled.status(), 400);
        let refusal: Value = smuggled.json().await.expect("a JSON-RPC error");
        assert_eq!(refusal["id"], 6, "{refusal}");
        assert_eq!(refusal["error"]["code"], -32600, "{refusal}");
        assert!(
            refusal["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Mcp-Name")),
            "{refusal}"
        );
        tokens.push((token, session_id));
    }
    // A clean stop writes every queued record.
    smcp.stop().await;
    drop(everything);

    let text = std::fs::read_to_string(&path).expect("the audit file");
    for (token, session) in &tokens {
        assert!(!text.contains(token.as_str()), "a token in the trail");
        assert!(!text.contains(session.as_str()), "a session id in clear");
    }
    assert!(
        !text.contains("words nobody may read"),
        "arguments in the trail"
    );
    let records: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    for backend in ["everything-stdio", "everything-http"] {
        let of = |id: u64| {
            records
                .iter()
                .find(|r| r["backend"] == backend && r["jsonrpc_id"] == id)
                .unwrap_or_else(|| panic!("{backend}: no record of request {id}: {text}"))
        };
        let initialize = of(0);
        assert_eq!(initialize["method"], "initialize");
        assert_eq!(initialize["outcome"], "result", "{initialize}");
        assert_eq!(
            initialize["principal"]["client_id"], RS256_CLIENT,
            "{initialize}"
        );
        assert!(initialize["principal"]["sub"].is_string());
        assert_eq!(initialize["client"], "127.0.0.1");
        let echo = of(2);
        assert_eq!(
            (
                &echo["tool"],
                &echo["decision"],
                &echo["rule"],
                &echo["outcome"],
                &echo["is_error"]
            ),
            (
                &json!("echo"),
                &json!("allow"),
                &json!(1),
                &json!("result"),
                &json!(false)
            ),
            "{echo}"
        );
        assert_eq!(echo["status"], 200);
        // The digest covers the arguments as sent (serde_json sends them compact).
        let sent = json!({"message": "words nobody may read"}).to_string();
        assert_eq!(echo["arguments"]["bytes"], sent.len(), "{echo}");
        assert_eq!(echo["arguments"]["sha256"].as_str().map(str::len), Some(64));
        assert_eq!(echo["session"].as_str().map(str::len), Some(16), "{echo}");
        assert_eq!(echo["protocol_version"], "2025-06-18");
        let hidden = of(3);
        assert_eq!(
            (
                &hidden["decision"],
                &hidden["rule"],
                &hidden["outcome"],
                &hidden["error_code"]
            ),
            (&json!("deny"), &json!(0), &json!("denied"), &json!(-32602)),
            "{hidden}"
        );
        let step_up = of(4);
        assert_eq!(
            (
                &step_up["decision"],
                &step_up["rule"],
                &step_up["outcome"],
                &step_up["status"]
            ),
            (&json!("step_up"), &json!(3), &json!("denied"), &json!(403)),
            "{step_up}"
        );
        assert_eq!(step_up["session"], echo["session"], "one session, one hash");
        let refused = records
            .iter()
            .find(|r| r["backend"] == backend && r["decision"] == "unauthenticated")
            .unwrap_or_else(|| panic!("{backend}: no record of the 401: {text}"));
        assert_eq!(refused["status"], 401);
        assert!(refused.get("principal").is_none());
        assert!(
            !records
                .iter()
                .any(|r| r["backend"] == backend && r["method"] == "notifications/initialized")
        );
    }
}

/// The TypeScript SDK (1.32.2) answers smcp's step-up challenge itself: it reads the
/// challenge, runs discovery again from its `resource_metadata`, gets a new token and retries
/// once, and does not loop when the retry is refused. Its ClientCredentialsProvider asks for
/// its configured scope rather than the challenged one (the SDK's fetchToken uses
/// clientMetadata.scope), so for a client-credentials client the retry cannot succeed; that
/// is the SDK's, and smcp-client's own step-up (tests/client_step_up.rs) does widen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_follows_the_step_up_challenge_once_on_both_backend_kinds() {
    let (provider, everything, smcp, _http) = start(POLICY).await;
    for url in [smcp.url("/v1/local"), smcp.url("/v1/everything")] {
        let before = provider.token_requests().await;
        let mut args = driver_args(&url, "streamable", "step-up");
        args.extend(
            [
                "--oauth-client-id",
                RS256_CLIENT,
                "--oauth-client-secret",
                "smcp-rs256-secret",
                "--oauth-scope",
                "mcp:tools",
                "--long-duration",
                "1",
                "--long-steps",
                "1",
            ]
            .map(str::to_owned),
        );
        let ts = run_ts_client(&args).await;
        assert_eq!(ts["echo"], "Echo: hello from ts_client", "{url}: {ts}");
        assert!(
            ts["step_up_error"]
                .as_str()
                .is_some_and(|e| e.contains("after trying upscoping")),
            "{url}: {ts}"
        );
        // The first token, and one after the challenge; no loop.
        assert_eq!(provider.token_requests().await, before + 2, "{url}: {ts}");
        let trace = http_trace(&ts);
        let refused: Vec<usize> = trace
            .iter()
            .enumerate()
            .filter(|(_, e)| e["status"] == 403 && e["rpc"] == "tools/call")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            refused.len(),
            2,
            "{url}: challenge and one retry: {trace:?}"
        );
        let metadata_path = format!(
            "/.well-known/oauth-protected-resource{}",
            url.trim_start_matches(&smcp.url(""))
        );
        for &i in &refused {
            let challenge = trace[i]["www-authenticate"].as_str().unwrap_or_default();
            assert!(
                challenge.contains("error=\"insufficient_scope\"")
                    && challenge.contains("scope=\"mcp:admin\"")
                    && challenge
                        .contains(&format!("resource_metadata=\"{}", smcp.url(&metadata_path))),
                "{challenge}"
            );
        }
        // Between them: discovery from the challenge's metadata URL, then the token endpoint.
        let between: Vec<&str> = trace[refused[0] + 1..refused[1]]
            .iter()
            .filter_map(|e| e["path"].as_str())
            .collect();
        assert!(
            between.contains(&metadata_path.as_str()) && between.contains(&"/token"),
            "{url}: {between:?}"
        );
    }
    smcp.stop().await;
    drop(everything);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_typescript_sdk_clients_see_the_filtered_tool_list() {
    let (provider, everything, smcp, _http) = start(POLICY).await;
    // Under POLICY: echo is allowed, get-* need mcp:tools, trigger-long-running-operation can
    // be stepped up to; get-env is denied and everything else falls to `default: deny`.
    let visible = |name: &str| {
        name == "echo"
            || name == "trigger-long-running-operation"
            || (name.starts_with("get-") && name != "get-env")
    };
    for url in [smcp.url("/v1/local"), smcp.url("/v1/everything")] {
        let token = provider
            .client_credentials_token(RS256_CLIENT, Some(&url), Some("mcp:tools"))
            .await;
        let mut args = driver_args(&url, "streamable", "basic");
        args.extend([
            "--header".to_owned(),
            format!("Authorization: Bearer {token}"),
        ]);
        for (sdk, out) in [
            ("python", run_py_client(&args).await),
            ("typescript", run_ts_client(&args).await),
        ] {
            let names: Vec<&str> = out["tools"]
                .as_array()
                .unwrap_or_else(|| panic!("{sdk} {url}: no tool list: {out}"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                names.iter().all(|name| visible(name)),
                "{sdk} {url}: {names:?}"
            );
            for shown in ["echo", "get-sum", "trigger-long-running-operation"] {
                assert!(
                    names.contains(&shown),
                    "{sdk} {url}: {shown} missing: {names:?}"
                );
            }
            assert!(
                out["echo"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("Echo: ")),
                "{sdk} {url}: {out}"
            );
        }
    }
    smcp.stop().await;
    drop(everything);
}
