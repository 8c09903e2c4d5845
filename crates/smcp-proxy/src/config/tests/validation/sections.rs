//! Rule cases of the sections other than `mcp.backends[]`.

use super::case;

/// `server`, `auth`, `mcp`, `oidc`, `tls` and `metrics`.
pub(super) fn cases() -> Vec<(String, String)> {
    let oidc = |section: &str| format!("auth:\n  mode: oidc\noidc:\n{section}");
    vec![
        // audit
        case(
            "audit:\n  enabled: true\n  sink: \"/nonexistent-dir/audit.jsonl\"\n",
            "audit.sink: the directory of /nonexistent-dir/audit.jsonl does not exist (the file is created there at startup)",
        ),
        case(
            "audit:\n  enabled: true\n  sink: \" \"\n",
            "audit.sink: must be \"stderr\" or a file path",
        ),
        case(
            "audit:\n  enabled: true\n  queue: 2000000\n",
            "audit.queue: must be at most 1000000 (got 2000000)",
        ),
        case(
            "audit:\n  enabled: yes-please\n",
            "audit.enabled: expected true or false (got \"yes-please\")",
        ),
        case(
            "audit:\n  enable: true\n",
            "audit.enable: unknown field `enable`, expected one of enabled, sink, arguments_digest, queue (line 2, column 3 of <yaml>)",
        ),
        // server
        case(
            "server:\n  port: 70000\n",
            "server.port: expected a port number from 0 to 65535 (got 70000)",
        ),
        case(
            "server:\n  port: http\n",
            "server.port: expected a port number from 0 to 65535 (got http)",
        ),
        case(
            "server:\n  port: -1\n",
            "server.port: expected a port number from 0 to 65535 (got -1)",
        ),
        case(
            "server:\n  host: \"http://0.0.0.0\"\n",
            "server.host: must be an IP address or a host name, without scheme or port (got \"http://0.0.0.0\")",
        ),
        case(
            "server:\n  host: \"localhost:8080\"\n",
            "server.host: must be an IP address or a host name, without scheme or port (got \"localhost:8080\")",
        ),
        case(
            "server:\n  read_timeout: 30\n",
            "server.read_timeout: 30 has no unit: write a duration like \"30s\" or \"30ms\"",
        ),
        case(
            "server:\n  read_timeout: \"30\"\n",
            "server.read_timeout: \"30\" has no unit: write a duration like \"30s\" or \"30ms\"",
        ),
        case(
            "server:\n  read_timeout: 0s\n",
            "server.read_timeout: must be greater than zero",
        ),
        case(
            "server:\n  write_timeout: soon\n",
            "server.write_timeout: invalid duration \"soon\" (expected number at 0): write a duration like \"30s\" or \"10m\"",
        ),
        case(
            "server:\n  shutdown_timeout: true\n",
            "server.shutdown_timeout: expected a duration like \"30s\" or \"10m\" (got true)",
        ),
        case(
            "server:\n  session_idle_timeout: 0m\n",
            "server.session_idle_timeout: must be greater than zero",
        ),
        case(
            "server:\n  sse_keepalive: 15\n",
            "server.sse_keepalive: 15 has no unit: write a duration like \"15s\" or \"15ms\"",
        ),
        case(
            "server:\n  public_url: /mcp\n",
            "server.public_url: invalid URL \"/mcp\": relative URL without a base",
        ),
        case(
            "server:\n  public_url: \"https://mcp.example.com/?x=1\"\n",
            "server.public_url: must not have a query (got \"https://mcp.example.com/?x=1\")",
        ),
        case(
            "server:\n  public_url: \"ftp://mcp.example.com\"\n",
            "server.public_url: must be an http or https URL (got \"ftp://mcp.example.com\")",
        ),
        case(
            "server:\n  allowed_origins: [\"https://ok.example\", \"https://app.example/x\"]\n",
            "server.allowed_origins[1]: an origin has no path: write \"https://app.example\" (got \"https://app.example/x\")",
        ),
        case(
            "server:\n  max_request_body: 4 parsecs\n",
            "server.max_request_body: invalid size \"4 parsecs\": write a number of bytes or a size like \"4MiB\" or \"512KiB\"",
        ),
        case(
            "server:\n  max_connections: 0\n",
            "server.max_connections: must be at least 1 (got 0)",
        ),
        case(
            "server:\n  allowed_hosts: [\"ok.example\", \"http://bad.example\"]\n",
            "server.allowed_hosts[1]: not a port number: write a host name with an optional port and an optional leading \"*.\" (\"mcp.example.com\", \"*.example.com:8443\"), or \"*\" for any host (got \"http://bad.example\")",
        ),
        case(
            "server:\n  max_request_body: 0\n",
            "server.max_request_body: must be at least 1 (got 0)",
        ),
        case(
            "server:\n  max_request_body: -5\n",
            "server.max_request_body: must not be negative (got -5)",
        ),
        // auth
        case(
            "auth:\n  mode: basic\n",
            "auth.mode: must be \"none\" or \"oidc\" (got \"basic\")",
        ),
        // mcp
        case(
            "mcp:\n  timeout: 0s\n",
            "mcp.timeout: must be greater than zero",
        ),
        case(
            "mcp:\n  timeout: 60\n",
            "mcp.timeout: 60 has no unit: write a duration like \"60s\" or \"60ms\"",
        ),
        // oidc
        case(
            oidc("  audience: api\n"),
            "oidc.issuers: at least one issuer is required when auth.mode is \"oidc\"",
        ),
        case(
            oidc("  issuers: []\n  audience: api\n"),
            "oidc.issuers: at least one issuer is required when auth.mode is \"oidc\"",
        ),
        case(
            oidc("  issuers: [\"https://idp.example\"]\n"),
            "oidc.audience: at least one audience is required when auth.mode is \"oidc\" (issuers without their own audiences: \"https://idp.example\")",
        ),
        case(
            oidc(
                "  issuers:\n    - https://a.example\n    - issuer: https://b.example\n      audiences: [b]\n",
            ),
            "oidc.audience: at least one audience is required when auth.mode is \"oidc\" (issuers without their own audiences: \"https://a.example\")",
        ),
        case(
            "auth:\n  mode: oidc\n",
            "oidc.audience: at least one audience is required when auth.mode is \"oidc\"",
        ),
        case(
            oidc("  issuers: [\"idp.example\"]\n  audience: api\n"),
            "oidc.issuers[0]: issuer `idp.example` is not an absolute URL",
        ),
        case(
            oidc("  issuers: [\"https://idp.example?tenant=1\"]\n  audience: api\n"),
            "oidc.issuers[0]: issuer `https://idp.example?tenant=1` must not have a query, a fragment, a user name or password, or a `|`",
        ),
        // The issuer rules are smcp-auth's, asked per entry: plain http to a remote host is
        // refused here with its key (it was refused only at startup before).
        case(
            oidc("  issuers: [\"http://idp.example\"]\n  audience: api\n"),
            "oidc.issuers[0]: `http://idp.example` must be an https URL (http only for localhost)",
        ),
        case(
            oidc(
                "  issuers:\n    - issuer: https://idp.example\n      jwks_uri: http://keys.example/jwks\n  audience: api\n",
            ),
            "oidc.issuers[0].jwks_uri: `http://keys.example/jwks` must be an https URL (http only for localhost)",
        ),
        case(
            oidc("  issuers:\n    - jwks_uri: https://idp.example/keys\n  audience: api\n"),
            "oidc.issuers[0].issuer: is required",
        ),
        case(
            oidc("  issuers:\n    - issuer: \"ldap://idp.example\"\n  audience: api\n"),
            "oidc.issuers[0].issuer: `ldap://idp.example` must be an https URL (http only for localhost)",
        ),
        case(
            oidc(
                "  issuers:\n    - issuer: https://idp.example\n      jwks_uri: /keys\n  audience: api\n",
            ),
            "oidc.issuers[0].jwks_uri: invalid URL \"/keys\": relative URL without a base",
        ),
        case(
            oidc(
                "  issuers:\n    - issuer: https://idp.example\n      audiences: [\"\"]\n  audience: api\n",
            ),
            "oidc.issuers[0].audiences[0]: must not be empty",
        ),
        case(
            oidc(
                "  issuers: [\"https://idp.example\", \"https://idp.example\"]\n  audience: api\n",
            ),
            "oidc.issuers[1]: duplicate issuer \"https://idp.example\" (also oidc.issuers[0])",
        ),
        case(
            oidc("  issuers: [\"https://idp.example\"]\n  audience: \"\"\n"),
            "oidc.audience: must not be empty",
        ),
        case(
            oidc("  issuers: [\"https://idp.example\"]\n  audience: [a, \"\"]\n"),
            "oidc.audience[1]: must not be empty",
        ),
        case(
            oidc("  issuers: [\"https://idp.example\"]\n  audience: api\n  leeway: 60\n"),
            "oidc.leeway: 60 has no unit: write a duration like \"60s\" or \"60ms\"",
        ),
        case(
            oidc(
                "  issuers: [\"https://idp.example\"]\n  audience: api\n  jwks_refresh_min_interval: often\n",
            ),
            "oidc.jwks_refresh_min_interval: invalid duration \"often\" (expected number at 0): write a duration like \"30s\" or \"10m\"",
        ),
        case(
            oidc(
                "  issuers: [\"https://idp.example\"]\n  audience: api\n  required_claims:\n    roles: []\n",
            ),
            "oidc.required_claims.roles: must list at least one value",
        ),
        case(
            oidc(
                "  issuers: [\"https://idp.example\"]\n  audience: api\n  optional_claims:\n    \"\": x\n",
            ),
            "oidc.optional_claims: claim names must not be empty",
        ),
        case(
            oidc(
                "  issuers: [\"https://idp.example\"]\n  audience: api\n  scopes_supported: [\"a b\"]\n",
            ),
            "oidc.scopes_supported[0]: must not contain whitespace (got \"a b\")",
        ),
        // tls
        case(
            "tls:\n  enabled: true\n",
            "tls.cert_file: is required when tls.enabled is true",
        ),
        case(
            "tls:\n  enabled: true\n",
            "tls.key_file: is required when tls.enabled is true",
        ),
        case(
            "tls:\n  enabled: maybe\n",
            "tls.enabled: expected true or false (got \"maybe\")",
        ),
        case(
            "tls:\n  enabled: true\n  cert_file: {MISSING}\n  key_file: {KEY}\n",
            "tls.cert_file: cannot read \"{MISSING}\": No such file or directory",
        ),
        case(
            "tls:\n  enabled: true\n  cert_file: {NOTPEM}\n  key_file: {KEY}\n",
            "tls.cert_file: \"{NOTPEM}\" contains no PEM certificate",
        ),
        case(
            "tls:\n  enabled: true\n  cert_file: {CERT}\n  key_file: {CERT}\n",
            "tls.key_file: \"{CERT}\" contains no PEM private key",
        ),
        case(
            "tls:\n  enabled: true\n  cert_file: {CERT}\n  key_file: {DIR}\n",
            "tls.key_file: cannot read \"{DIR}\": Is a directory",
        ),
        // metrics
        case(
            "metrics:\n  path: metrics\n",
            "metrics.path: must start with \"/\" (got \"metrics\")",
        ),
        case("metrics:\n  path: /\n", "metrics.path: must not be \"/\""),
        case(
            "metrics:\n  path: /health\n",
            "metrics.path: \"/health\" collides with smcp's own endpoint \"/health\"",
        ),
        case(
            "metrics:\n  path: /.well-known/metrics\n",
            "metrics.path: \"/.well-known/metrics\" collides with smcp's own endpoint \"/.well-known\"",
        ),
        case(
            "metrics:\n  enabled: 2\n",
            "metrics.enabled: expected true or false (got 2)",
        ),
    ]
}
