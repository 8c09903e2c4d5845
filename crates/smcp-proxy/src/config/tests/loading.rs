//! Defaults, the routing-table report and the convenience entry points.

use std::time::Duration;

use super::yaml;
use crate::config::{AuthMode, Config, LogFormat};

/// No file (or an empty one) gives every documented default.
#[test]
fn config_defaults() {
    let loaded = yaml("", &[]).unwrap();
    let config = loaded.config;
    let s = &config.server;
    assert_eq!(s.host, "127.0.0.1", "safer than the Go project's 0.0.0.0");
    assert_eq!(s.port, 8080);
    assert_eq!(s.read_timeout, Duration::from_secs(30));
    assert_eq!(s.write_timeout, Duration::from_secs(30));
    assert_eq!(s.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(s.public_url, None);
    assert!(s.allowed_origins.is_empty());
    assert_eq!(s.max_request_body, 4_194_304);
    assert_eq!(s.max_connections, 10_000);
    assert!(s.allowed_hosts.is_empty());
    assert_eq!(s.session_idle_timeout, Duration::from_secs(1800));
    assert_eq!(s.sse_keepalive, Duration::from_secs(15));
    assert_eq!(s.workers, 0);
    assert_eq!(config.auth.mode, AuthMode::None);
    assert_eq!(config.mcp.timeout, Duration::from_secs(60));
    assert!(config.mcp.backends.is_empty());
    assert!(config.oidc.issuers.is_empty());
    assert!(config.oidc.audiences.is_empty());
    assert_eq!(config.oidc.leeway, Duration::from_secs(60));
    assert_eq!(
        config.oidc.jwks_refresh_min_interval,
        Duration::from_secs(30)
    );
    assert_eq!(config.tls, None);
    assert!(config.metrics.enabled);
    assert_eq!(config.metrics.path, "/metrics");
    assert_eq!(config.log.level, "info");
    assert_eq!(config.log.format, LogFormat::Text);
}

#[test]
fn config_stdio_defaults() {
    let text = "mcp:\n  timeout: 20s\n  backends:\n    - {id: s, transport: stdio, path: /s, timeout: 5s, stdio: {command: cat}}\n    - {id: t, transport: stdio, path: /t, max_sessions: 4, stdio: {command: cat}}\n    - {id: u, transport: stdio, path: /u, max_sessions_per_principal: 100, stdio: {command: cat}}\n";
    let config = Config::from_yaml_str(text).unwrap();
    let stdio = |i: usize| match &config.mcp.backends[i].transport {
        crate::config::Transport::Stdio(stdio) => stdio.clone(),
        crate::config::Transport::Http(_) => panic!("stdio expected"),
    };
    let s = stdio(0);
    assert!(s.args.is_empty() && s.env.is_empty());
    assert_eq!(
        s.stdio_timeout,
        Duration::from_secs(5),
        "defaults to the backend's timeout"
    );
    assert!(!s.inherit_env);
    assert_eq!(s.max_line_bytes, 16 * 1024 * 1024);
    assert_eq!(s.max_sessions, 100);
    assert_eq!(s.max_sessions_per_principal, 10);
    assert_eq!(
        stdio(1).max_sessions_per_principal,
        4,
        "the default never exceeds max_sessions"
    );
    assert_eq!(stdio(2).max_sessions_per_principal, 100);
    assert_eq!(
        stdio(1).stdio_timeout,
        Duration::from_secs(20),
        "then to mcp.timeout"
    );
}

/// The Go schema's vestigial `model` and `max_tokens` keys load and are kept.
#[test]
fn config_vestigial_keys_load() {
    let text = "mcp:\n  backends:\n    - id: opus\n      name: Opus\n      transport: http\n      url: http://127.0.0.1:9000\n      path: /v1/opus\n      model: claude-3-opus-20240229\n      max_tokens: 4096\n";
    let config = Config::from_yaml_str(text).unwrap();
    let backend = &config.mcp.backends[0];
    assert_eq!(backend.model.as_deref(), Some("claude-3-opus-20240229"));
    assert_eq!(backend.max_tokens, Some(4096));
}

#[test]
fn config_describe_routes() {
    let text = r#"
auth:
  mode: oidc
oidc:
  issuers: ["https://idp.example"]
  audience: api
mcp:
  timeout: 90s
  backends:
    - id: search
      transport: http
      url: "https://robot:hunter2@search.internal:8443/mcp"
      path: /v1/search
      strip_path: true
      timeout: 2m
    - id: memory
      transport: stdio
      path: /v1/memory/
      stdio:
        command: npx
        args: ["-y", "@modelcontextprotocol/server-memory@2026.8.31", "--note=two words"]
        env: {SECRET: do-not-show}
    - id: status
      transport: http
      url: "http://127.0.0.1:9100"
      path: /public/status
      auth: {mode: none}
"#;
    let config = Config::from_yaml_str(text).unwrap();
    let expected = "\
PATH            ID      TRANSPORT  TARGET                                                                   STRIP_PATH  TIMEOUT  AUTH
/public/status  status  http       http://127.0.0.1:9100/                                                   false       1m 30s   none
/v1/memory      memory  stdio      npx -y @modelcontextprotocol/server-memory@2026.8.31 '--note=two words'  false       1m 30s   oidc
/v1/search      search  http       https://search.internal:8443/mcp                                         true        2m       oidc
";
    let table = config.describe_routes();
    assert_eq!(table, expected, "\n{table}");
    assert!(!table.contains("hunter2") && !table.contains("robot"));
    assert!(!table.contains("do-not-show"));
    let empty = Config::from_yaml_str("").unwrap();
    assert_eq!(empty.describe_routes(), "no backends configured\n");
    assert_eq!(empty.describe_policies(), "");
}

#[test]
fn config_describe_policies() {
    let text = r#"
auth:
  mode: oidc
oidc:
  issuers: ["https://idp.example"]
  audience: api
  scope_hierarchy: {"mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"]}
mcp:
  backends:
    - id: everything
      transport: stdio
      path: /v1/everything
      stdio: {command: cat}
      policy:
        default: deny
        rate_limit: {per_principal: "600/min", burst: 50}
        tool_rate_limits: {"trigger-long-running-operation": "10/min"}
        rules:
          - tools: ["echo", "get-*"]
            allow: true
          - tools: ["trigger-*"]
            scopes: ["mcp:write"]
            rate_limit: "1/s"
          - tools: ["*-admin"]
            claims: {roles: admin, tier: [1, 2]}
          - methods: ["logging/*"]
            deny: true
    - id: plain
      transport: stdio
      path: /v1/plain
      stdio: {command: cat}
"#;
    let config = Config::from_yaml_str(text).unwrap();
    let expected = "
policy of everything (/v1/everything):
  1. tools echo, get-*: allow
  2. tools trigger-*: scopes mcp:write (else step-up 403); at most 1/s (burst 1) per caller
  3. tools *-admin: claims roles = \"admin\", tier = 1 | 2 (else 403)
  4. methods logging/*: deny (hidden)
  otherwise: deny (hidden; initialize, ping, notifications and */list always pass)
  rate limit: 600/min (burst 50) per caller (at most 10000 callers tracked)
  tool rate limit: trigger-long-running-operation at 10/min (burst 10) per caller

scope hierarchy (a granted scope implies, transitively):
  mcp:admin -> mcp:write
  mcp:write -> mcp:read
";
    let described = config.describe_policies();
    assert_eq!(described, expected, "\n{described}");
}

#[test]
fn config_error_display_is_one_problem_per_line() {
    let err = Config::from_yaml_str("server:\n  port: x\nmetrics:\n  path: y\n").unwrap_err();
    assert_eq!(err.problems().len(), 2);
    assert_eq!(err.to_string().lines().count(), 2);
}
