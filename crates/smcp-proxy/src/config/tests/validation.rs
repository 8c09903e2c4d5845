//! Every validation rule, table-style: a small file and the problem line it must produce.

use super::{Files, problems, warnings, yaml};

mod backends;
mod policy;
mod sections;

/// One rule case: a file and the exact problem line it must produce.
fn case(text: impl Into<String>, expected: &str) -> (String, String) {
    (text.into(), expected.to_owned())
}

/// Each case: a file (with `{CERT}`-style placeholders, see `Files::fill`) and a line that
/// must be among the problems, exactly.
fn cases() -> Vec<(String, String)> {
    let mut cases = sections::cases();
    cases.extend(backends::cases());
    cases.extend(policy::cases());
    cases
}

#[test]
fn config_every_rule_reports_its_key_and_problem() {
    let files = Files::new();
    let mut failures = Vec::new();
    for (text, expected) in cases() {
        let text = files.fill(&text);
        let expected = files.fill(&expected);
        let found = problems(&text, &[]);
        if !found.contains(&expected) {
            failures.push(format!(
                "--- file:\n{text}--- expected:\n{expected}\n--- got:\n{}\n",
                found.join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The problems of a bad file are all reported at once, one per line, in file order.
#[test]
fn config_collects_every_problem() {
    let text = "
server:
  port: 99999
  read_timeout: 30
auth:
  mode: oidc
mcp:
  backends:
    - id: memory
      transport: stdio
      path: /v1/memory
      stdio: {command: npx}
    - id: x
      transport: stdio
      path: v1/x
      stdio: {command: cat}
    - id: memory
      transport: http
      path: /v1/memory/
metrics:
  path: nope
";
    let err = super::yaml(text, &[]).unwrap_err();
    let expected = [
        "server.port: expected a port number from 0 to 65535 (got 99999)",
        "server.read_timeout: 30 has no unit: write a duration like \"30s\" or \"30ms\"",
        "metrics.path: must start with \"/\" (got \"nope\")",
        "mcp.backends[1].path: must start with \"/\" (got \"v1/x\")",
        "mcp.backends[2].id: duplicate id \"memory\" (also mcp.backends[0])",
        "mcp.backends[2].path: duplicate path \"/v1/memory\" (also mcp.backends[0])",
        "mcp.backends[2].url: is required",
        "oidc.issuers: at least one issuer is required when auth.mode is \"oidc\"",
        "oidc.audience: at least one audience is required when auth.mode is \"oidc\"",
    ];
    assert_eq!(err.to_string(), expected.join("\n"));
}

#[test]
fn config_valid_files_pass_every_rule() {
    let files = Files::new();
    let ok = [
        // A root backend is allowed; the operations endpoints shadow part of it (warning).
        "mcp:\n  backends:\n    - {id: root, transport: http, url: \"http://127.0.0.1:1\", path: /}\n",
        // /metrics is free when metrics are disabled.
        "metrics:\n  enabled: false\nmcp:\n  backends:\n    - {id: m, transport: stdio, path: /metrics, stdio: {command: cat}}\n",
        // Per-issuer audiences satisfy the audience rule without a global one.
        "auth:\n  mode: oidc\noidc:\n  issuers:\n    - issuer: https://a.example\n      audiences: [a]\n",
        // Paths that only look like the operations endpoints.
        "mcp:\n  backends:\n    - {id: a, transport: stdio, path: /healthz, stdio: {command: cat}}\n    - {id: b, transport: stdio, path: /api/model, stdio: {command: cat}}\n",
        // Everything that reads files, given good files.
        "tls:\n  enabled: true\n  cert_file: {CERT}\n  key_file: {KEY}\nmcp:\n  backends:\n    - {id: h, transport: http, url: \"https://u:p@h.example\", path: /h, ca_file: {CA}}\n    - id: s\n      transport: stdio\n      path: /s\n      stdio: {command: cat, working_dir: {DIR}}\n",
        // TLS files are not checked while TLS is disabled.
        "tls:\n  enabled: false\n  cert_file: /nowhere/cert.pem\n",
        // Port 0 asks the OS for a free port.
        "server:\n  port: 0\n",
    ];
    for text in ok {
        let text = files.fill(text);
        warnings(&text, &[]);
    }
}

#[test]
fn config_warnings() {
    let cases = [
        (
            "server:\n  host: 0.0.0.0\n",
            "server.host: listening on \"0.0.0.0\" with auth.mode \"none\": anyone who can reach this port can use every backend",
        ),
        (
            "",
            "mcp.backends: no backends are configured: every request will get 404",
        ),
        (
            "mcp:\n  backends:\n    - {id: api, transport: stdio, path: /api, stdio: {command: cat}}\n",
            "mcp.backends[0].path: requests to \"/api/models\" are answered by smcp itself, not by the backend at \"/api\"",
        ),
        (
            "mcp:\n  backends:\n    - id: s\n      transport: stdio\n      path: /s\n      stdio: {command: cat}\n      auth: {required_scopes: [read]}\n",
            "mcp.backends[0].auth: required_claims and required_scopes are ignored because auth.mode is \"none\"",
        ),
    ];
    for (text, expected) in cases {
        let found = warnings(text, &[]);
        assert!(found.contains(&expected.to_owned()), "{text:?}: {found:#?}");
    }
    let quiet =
        "mcp:\n  backends:\n    - {id: s, transport: stdio, path: /s, stdio: {command: cat}}\n";
    assert_eq!(warnings(quiet, &[]), Vec::<String>::new());
}

/// Route prefixes follow `smcp-router`'s rule, including its request-path normal form: a
/// prefix no routable request can match is refused at load, with the key path.
#[test]
fn route_prefixes_in_request_path_normal_form() {
    let backend = |path: &str| {
        format!(
            "mcp:\n  backends:\n    - {{id: s, transport: stdio, path: '{path}', stdio: {{command: cat}}}}\n"
        )
    };
    let refused = [
        ("/a;b", "may not contain ';'"),
        ("/a\\b", "may not contain '\\'"),
        ("/%2e%2e", "may not percent-encode letters"),
        ("/v1/%41", "may not percent-encode letters"),
        ("/a%2Fb", "may not percent-encode '/'"),
        ("/a%zz", "not followed by two hex digits"),
        ("/a%C0%AE", "not valid UTF-8"),
        ("/caf\u{e9}", "only printable ASCII"),
        ("/a//b", "empty segment"),
        ("/a/..", "\"..\" segments"),
    ];
    for (path, needle) in refused {
        let found = problems(&backend(path), &[]);
        assert!(
            found
                .iter()
                .any(|line| line.starts_with("mcp.backends[0].path: ") && line.contains(needle)),
            "{path:?}: {found:#?}"
        );
    }
    for path in ["/v1/caf%C3%A9", "/a%20b/", "/v1/x-y_z.~", "/"] {
        let loaded = yaml(&backend(path), &[]).unwrap_or_else(|err| panic!("{path:?}: {err}"));
        assert_eq!(loaded.config.mcp.backends.len(), 1, "{path:?}");
    }
    let metrics = problems("metrics:\n  path: '/m;x'\n", &[]);
    assert!(
        metrics
            .iter()
            .any(|line| line.starts_with("metrics.path: ") && line.contains("';'")),
        "{metrics:#?}"
    );
}
