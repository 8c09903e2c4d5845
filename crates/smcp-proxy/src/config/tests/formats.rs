//! YAML and TOML describe the same structure; durations, sizes and scalars may be spelled
//! several ways.

use std::time::Duration;

use super::{env, yaml};
use serde_json::json;

use crate::config::{CliOverrides, Config, Format, Transport, load_str};

const YAML: &str = r#"
server:
  host: "::1"
  port: 8443
  read_timeout: "15s"
  write_timeout: "1m"
  shutdown_timeout: "0s"
  public_url: "https://mcp.example.com/base"
  allowed_origins: ["https://app.example.com", "http://localhost:3000"]
  max_request_body: "512KiB"
  session_idle_timeout: "1h"
  sse_keepalive: "5s"
auth:
  mode: "oidc"
mcp:
  timeout: "90s"
  backends:
    - id: "search"
      name: "Search"
      transport: "http"
      url: "https://user:secret@search.internal:8443/mcp"
      path: "/v1/search/"
      strip_path: true
      timeout: "2m"
      model: "claude-3-opus"
      max_tokens: 4096
      auth:
        mode: "inherit"
        required_claims:
          groups: ["search", "admin"]
          level: 3
          ratio: 0.5
          staff: true
        required_scopes: ["search:read"]
      identity_headers:
        enabled: false
        subject_header: "X-User-Id"
        email_header: "X-User-Email"
    - id: "memory"
      transport: "stdio"
      path: "/v1/memory"
      max_sessions: 10
      max_sessions_per_principal: 3
      stdio:
        command: "npx"
        args: ["-y", "@modelcontextprotocol/server-memory@2026.8.31"]
        env:
          MEMORY_FILE_PATH: "/tmp/m.jsonl"
          Mixed_Case: "kept"
        stdio_timeout: "45s"
        inherit_env: true
        max_line_bytes: 1048576
    - id: "public"
      transport: "http"
      url: "http://127.0.0.1:9000"
      path: "/public"
      auth:
        mode: "none"
oidc:
  issuers:
    - "https://idp.example.com"
    - issuer: "https://partner.example/realms/x"
      jwks_uri: "https://partner.example/keys?v=2"
      audiences: ["partner-api"]
  audience: ["api", "api2"]
  required_claims:
    tenant: "acme"
  optional_claims:
    email_verified: true
  leeway: "30s"
  jwks_refresh_min_interval: "10s"
  scopes_supported: ["mcp", "search:read"]
metrics:
  enabled: true
  path: "/ops/metrics"
"#;

const TOML: &str = r#"
[server]
host = "::1"
port = 8443
read_timeout = "15s"
write_timeout = "1m"
shutdown_timeout = "0s"
public_url = "https://mcp.example.com/base"
allowed_origins = ["https://app.example.com", "http://localhost:3000"]
max_request_body = "512KiB"
session_idle_timeout = "1h"
sse_keepalive = "5s"

[auth]
mode = "oidc"

[mcp]
timeout = "90s"

[[mcp.backends]]
id = "search"
name = "Search"
transport = "http"
url = "https://user:secret@search.internal:8443/mcp"
path = "/v1/search/"
strip_path = true
timeout = "2m"
model = "claude-3-opus"
max_tokens = 4096

[mcp.backends.auth]
mode = "inherit"
required_scopes = ["search:read"]

[mcp.backends.auth.required_claims]
groups = ["search", "admin"]
level = 3
ratio = 0.5
staff = true

[mcp.backends.identity_headers]
enabled = false
subject_header = "X-User-Id"
email_header = "X-User-Email"

[[mcp.backends]]
id = "memory"
transport = "stdio"
path = "/v1/memory"
max_sessions = 10
max_sessions_per_principal = 3

[mcp.backends.stdio]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-memory@2026.8.31"]
stdio_timeout = "45s"
inherit_env = true
max_line_bytes = 1048576

[mcp.backends.stdio.env]
MEMORY_FILE_PATH = "/tmp/m.jsonl"
Mixed_Case = "kept"

[[mcp.backends]]
id = "public"
transport = "http"
url = "http://127.0.0.1:9000"
path = "/public"
auth = { mode = "none" }

[oidc]
issuers = [
  "https://idp.example.com",
  { issuer = "https://partner.example/realms/x", jwks_uri = "https://partner.example/keys?v=2", audiences = ["partner-api"] },
]
audience = ["api", "api2"]
leeway = "30s"
jwks_refresh_min_interval = "10s"
scopes_supported = ["mcp", "search:read"]

[oidc.required_claims]
tenant = "acme"

[oidc.optional_claims]
email_verified = true

[metrics]
enabled = true
path = "/ops/metrics"
"#;

fn load(text: &str, format: Format) -> Config {
    match load_str(text, format, &CliOverrides::default(), &env(&[])) {
        Ok(loaded) => loaded.config,
        Err(err) => panic!("{format:?}:\n{err}"),
    }
}

#[test]
fn config_yaml_and_toml_are_equivalent() {
    assert_eq!(load(YAML, Format::Yaml), load(TOML, Format::Toml));
}

/// Every value of the full file arrives typed and where it belongs.
#[test]
fn config_full_file_is_typed() {
    let config = load(YAML, Format::Yaml);
    let s = &config.server;
    assert_eq!(s.host, "::1");
    assert!(s.is_loopback());
    assert_eq!(s.port, 8443);
    assert_eq!(s.read_timeout, Duration::from_secs(15));
    assert_eq!(s.write_timeout, Duration::from_secs(60));
    assert_eq!(s.shutdown_timeout, Duration::ZERO);
    assert_eq!(
        s.public_url.as_ref().unwrap().as_str(),
        "https://mcp.example.com/base"
    );
    assert_eq!(s.allowed_origins.len(), 2);
    assert_eq!(s.max_request_body, 512 * 1024);
    assert_eq!(s.session_idle_timeout, Duration::from_secs(3600));
    assert_eq!(s.sse_keepalive, Duration::from_secs(5));
    assert_eq!(config.mcp.timeout, Duration::from_secs(90));

    let search = &config.mcp.backends[0];
    assert_eq!(
        (search.id.as_str(), search.name.as_str()),
        ("search", "Search")
    );
    assert_eq!(search.path, "/v1/search", "trailing slash normalised");
    assert!(search.strip_path);
    assert_eq!(search.timeout, Duration::from_secs(120));
    assert_eq!(search.model.as_deref(), Some("claude-3-opus"));
    assert_eq!(search.max_tokens, Some(4096));
    let Transport::Http(http) = &search.transport else {
        panic!("http expected");
    };
    assert_eq!(
        http.url.as_str(),
        "https://user:secret@search.internal:8443/mcp"
    );
    assert_eq!(http.ca_file, None);
    let values = |rules: &crate::config::ClaimRules, name: &str| {
        rules.get(name).map(|rule| rule.values().to_vec())
    };
    let claims = &search.auth.required_claims;
    assert_eq!(
        values(claims, "groups"),
        Some(vec![json!("search"), json!("admin")])
    );
    assert_eq!(values(claims, "level"), Some(vec![json!(3)]));
    assert_eq!(values(claims, "ratio"), Some(vec![json!(0.5)]));
    assert_eq!(values(claims, "staff"), Some(vec![json!(true)]));
    assert_eq!(search.auth.required_scopes, ["search:read"]);
    assert!(!search.identity_headers.enabled);
    assert_eq!(search.identity_headers.subject_header.as_str(), "x-user-id");
    assert_eq!(
        search.identity_headers.email_header.as_str(),
        "x-user-email"
    );

    let memory = &config.mcp.backends[1];
    assert_eq!(memory.name, "memory", "name defaults to id");
    assert_eq!(
        memory.timeout,
        Duration::from_secs(90),
        "timeout defaults to mcp.timeout"
    );
    assert!(!memory.strip_path);
    assert_eq!(memory.model, None);
    assert_eq!(memory.auth, Default::default());
    assert_eq!(memory.identity_headers, Default::default());
    let Transport::Stdio(stdio) = &memory.transport else {
        panic!("stdio expected");
    };
    assert_eq!(stdio.command, "npx");
    assert_eq!(stdio.env["Mixed_Case"], "kept");
    assert_eq!(stdio.stdio_timeout, Duration::from_secs(45));
    assert!(stdio.inherit_env);
    assert_eq!(stdio.max_line_bytes, 1 << 20);
    assert_eq!(stdio.max_sessions, 10);
    assert_eq!(stdio.max_sessions_per_principal, 3);
    assert_eq!(stdio.working_dir, None);
    assert_eq!(
        config.mcp.backends[2].auth.mode,
        crate::config::BackendAuthMode::None
    );

    let oidc = &config.oidc;
    assert_eq!(
        oidc.issuers[0].issuer, "https://idp.example.com",
        "kept exactly as written"
    );
    assert_eq!(oidc.audiences_for(&oidc.issuers[0]), ["api", "api2"]);
    assert_eq!(
        oidc.issuers[1].jwks_uri.as_ref().unwrap().as_str(),
        "https://partner.example/keys?v=2"
    );
    assert_eq!(oidc.audiences_for(&oidc.issuers[1]), ["partner-api"]);
    assert_eq!(
        values(&oidc.required_claims, "tenant"),
        Some(vec![json!("acme")])
    );
    assert_eq!(
        values(&oidc.optional_claims, "email_verified"),
        Some(vec![json!(true)])
    );
    assert_eq!(oidc.leeway, Duration::from_secs(30));
    assert_eq!(oidc.jwks_refresh_min_interval, Duration::from_secs(10));
    assert_eq!(oidc.scopes_supported, ["mcp", "search:read"]);
    assert_eq!(config.metrics.path, "/ops/metrics");
    assert_eq!(config.tls, None);
}

/// Durations, sizes, booleans and numbers may be written as strings, as numbers (where a
/// number makes sense) and in either format.
#[test]
fn config_scalar_spellings() {
    let cases = [
        ("server:\n  max_request_body: 1024\n", 1024),
        ("server:\n  max_request_body: \"1024\"\n", 1024),
        ("server:\n  max_request_body: 4MiB\n", 4 << 20),
        ("server:\n  max_request_body: 10 MB\n", 10_000_000),
    ];
    for (text, expected) in cases {
        let config = yaml(text, &[]).unwrap().config;
        assert_eq!(config.server.max_request_body, expected, "{text:?}");
    }
    let port = |text: &str, format| load(text, format).server.port;
    assert_eq!(port("server:\n  port: \"9000\"\n", Format::Yaml), 9000);
    assert_eq!(port("[server]\nport = \"9000\"\n", Format::Toml), 9000);
    let metrics = |text: &str| load(text, Format::Yaml).metrics.enabled;
    assert!(!metrics("metrics:\n  enabled: \"false\"\n"));
    assert!(!metrics("metrics:\n  enabled: false\n"));
    assert!(metrics("metrics:\n  enabled: \"1\"\n"));
    let timeout = |text: &str, format| load(text, format).mcp.timeout;
    assert_eq!(
        timeout("mcp:\n  timeout: 1h 30m\n", Format::Yaml),
        Duration::from_secs(5400)
    );
    assert_eq!(
        timeout("[mcp]\ntimeout = \"250ms\"\n", Format::Toml),
        Duration::from_millis(250)
    );
}

#[test]
fn config_toml_errors_name_the_key() {
    let err = load_str(
        "[[mcp.backends]]\nid = \"a\"\nmodle = \"x\"\n",
        Format::Toml,
        &CliOverrides::default(),
        &env(&[]),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("mcp.backends[0].modle: unknown field `modle`"),
        "{text}"
    );
    assert!(text.contains("line 3, column 1 of <toml>"), "{text}");
    let err = load_str(
        "[server]\nport = 8080\nport = 9090\n",
        Format::Toml,
        &CliOverrides::default(),
        &env(&[]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("duplicate key"), "{err}");
}

#[test]
fn config_yaml_duplicate_keys_are_errors() {
    let err = yaml("server:\n  port: 1\n  port: 2\n", &[]).unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("duplicate"),
        "{err}"
    );
}
