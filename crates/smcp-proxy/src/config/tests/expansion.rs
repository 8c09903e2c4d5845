//! `${VAR}` expansion through the whole pipeline: where it applies, what it reports.

use std::time::Duration;

use super::{problems, yaml};
use crate::config::Transport;

const FILE: &str = r#"
server:
  host: "${HOST:-127.0.0.1}"
  port: "${PORT:-8080}"
  read_timeout: "${READ_TIMEOUT:-30s}"
  public_url: "https://${DOMAIN}/"
auth:
  mode: "${AUTH_MODE:-none}"
mcp:
  backends:
    - id: memory
      name: "Memory for ${TEAM}"
      transport: stdio
      path: "/v1/${TEAM}/memory"
      strip_path: "${STRIP:-true}"
      stdio:
        command: "${NPX:-npx}"
        args: ["-y", "${PACKAGE}", "--price=$$5", "cost: $5", 8080]
        env:
          MEMORY_FILE_PATH: "${TMPDIR:-/tmp}/smcp-memory.jsonl"
          API_TOKEN: "${TOKEN}"
          LITERAL: "$${NOT_EXPANDED}"
          DEBUG: true
          PORT: 9000
oidc:
  issuers:
    - "https://${DOMAIN}/idp"
  audience: "${AUDIENCE:-api}"
  required_claims:
    tenant: "${TENANT:-acme}"
    groups: ["${GROUP_A}", "fixed"]
"#;

#[test]
fn config_expands_every_string_value() {
    let env = [
        ("DOMAIN", "mcp.example.com"),
        ("TEAM", "red"),
        ("PACKAGE", "@modelcontextprotocol/server-memory@2026.8.31"),
        ("TOKEN", "t0k3n"),
        ("GROUP_A", "admins"),
        ("PORT", "9443"),
        ("TMPDIR", ""),
    ];
    let config = yaml(FILE, &env).unwrap().config;
    assert_eq!(config.server.host, "127.0.0.1");
    assert_eq!(config.server.port, 9443);
    assert_eq!(config.server.read_timeout, Duration::from_secs(30));
    assert_eq!(
        config.server.public_url.unwrap().as_str(),
        "https://mcp.example.com/"
    );
    let backend = &config.mcp.backends[0];
    assert_eq!(backend.name, "Memory for red");
    assert_eq!(backend.path, "/v1/red/memory");
    assert!(backend.strip_path);
    let Transport::Stdio(stdio) = &backend.transport else {
        panic!("stdio expected");
    };
    assert_eq!(stdio.command, "npx");
    assert_eq!(
        stdio.args,
        [
            "-y",
            "@modelcontextprotocol/server-memory@2026.8.31",
            "--price=$5",
            "cost: $5",
            "8080"
        ]
    );
    let env_value = |name: &str| stdio.env.get(name).map(String::as_str);
    // TMPDIR is set but empty, so the default applies.
    assert_eq!(
        env_value("MEMORY_FILE_PATH"),
        Some("/tmp/smcp-memory.jsonl")
    );
    assert_eq!(env_value("API_TOKEN"), Some("t0k3n"));
    assert_eq!(env_value("LITERAL"), Some("${NOT_EXPANDED}"));
    assert_eq!(env_value("DEBUG"), Some("true"));
    assert_eq!(env_value("PORT"), Some("9000"));
    assert_eq!(config.oidc.issuers[0].issuer, "https://mcp.example.com/idp");
    assert_eq!(config.oidc.audiences, ["api"]);
    let claim = |name: &str| {
        config
            .oidc
            .required_claims
            .get(name)
            .map(|rule| rule.values().to_vec())
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(claim("tenant"), ["\"acme\""]);
    assert_eq!(claim("groups"), ["\"admins\"", "\"fixed\""]);
}

#[test]
fn config_unset_variables_name_the_key_and_the_variable() {
    let found = problems(FILE, &[("TEAM", "red"), ("GROUP_A", "a")]);
    let hint = |name: &str| {
        format!(
            "environment variable {name} is not set (referenced as \"${{{name}}}\"; use \"${{{name}:-default}}\" to give a default)"
        )
    };
    let expected = [
        format!("server.public_url: {}", hint("DOMAIN")),
        format!("mcp.backends[0].stdio.args[1]: {}", hint("PACKAGE")),
        format!("mcp.backends[0].stdio.env.API_TOKEN: {}", hint("TOKEN")),
        format!("oidc.issuers[0]: {}", hint("DOMAIN")),
    ];
    assert_eq!(found, expected);
}

#[test]
fn config_expansion_syntax_errors_are_reported() {
    let found = problems(
        "server:\n  host: \"${HOST\"\nmetrics:\n  path: \"/${}\"\n",
        &[],
    );
    assert_eq!(
        found,
        [
            "server.host: unterminated \"${\" in \"${HOST\" (write \"$$\" for a literal \"$\")",
            "metrics.path: invalid variable reference \"${}\": write ${NAME} or ${NAME:-default} (and \"$$\" for a literal \"$\")",
        ]
    );
}

/// A value that failed to expand is reported once, without follow-up complaints about the
/// unexpanded text; and a value overridden by the environment need not expand at all.
#[test]
fn config_failed_expansion_is_reported_once_and_overrides_make_it_moot() {
    let text = "server:\n  port: \"${PORT}\"\n";
    let found = problems(text, &[]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("server.port: environment variable PORT is not set"));
    let loaded = yaml(text, &[("SMCP_PROXY_SERVER_PORT", "9999")]).unwrap();
    assert_eq!(loaded.config.server.port, 9999);
}

#[test]
fn config_expanded_values_are_validated() {
    let found = problems("server:\n  port: \"${PORT}\"\n", &[("PORT", "eighty")]);
    assert_eq!(
        found,
        ["server.port: expected a port number from 0 to 65535 (got eighty)"]
    );
}

/// Expansion runs once: a variable whose value contains `${...}` is not expanded again.
#[test]
fn config_expansion_is_not_recursive() {
    let text = "mcp:\n  backends:\n    - id: a\n      transport: stdio\n      path: /a\n      stdio:\n        command: cat\n        args: [\"${ONE}\"]\n";
    let loaded = yaml(text, &[("ONE", "${TWO}"), ("TWO", "2")]).unwrap();
    let Transport::Stdio(stdio) = &loaded.config.mcp.backends[0].transport else {
        panic!("stdio expected");
    };
    assert_eq!(stdio.args, ["${TWO}"]);
}

/// Env keys keep their case (the Go project lower-cased them), and are not expanded.
#[test]
fn config_env_keys_keep_their_case() {
    let text = "mcp:\n  backends:\n    - id: a\n      transport: stdio\n      path: /a\n      stdio:\n        command: cat\n        env:\n          MixedCase: 1\n          lower: 2\n          UPPER_CASE: 3\n          ${NOT_A_VAR}: 4\n";
    let loaded = yaml(text, &[]).unwrap();
    let Transport::Stdio(stdio) = &loaded.config.mcp.backends[0].transport else {
        panic!("stdio expected");
    };
    let keys: Vec<&str> = stdio.env.keys().map(String::as_str).collect();
    assert_eq!(keys, ["${NOT_A_VAR}", "MixedCase", "UPPER_CASE", "lower"]);
}
