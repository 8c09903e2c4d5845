//! Rule cases of `mcp.backends[]`.

use super::case;

/// A stdio backend that passes every rule, placed before the one under test (so that one
/// is always `mcp.backends[1]`).
const GOOD_STDIO: &str = "
    - id: good
      transport: stdio
      path: /v1/good
      stdio:
        command: cat
";

/// Identity, routing, transports, per-backend auth and identity headers.
pub(super) fn cases() -> Vec<(String, String)> {
    let backends = |items: &str| format!("mcp:\n  backends:{GOOD_STDIO}{items}");
    let http = |extra: &str| {
        backends(&format!(
            "    - id: h\n      transport: http\n      url: http://127.0.0.1:9000\n      path: /v1/h\n{extra}"
        ))
    };
    let stdio = |extra: &str, stdio_extra: &str| {
        backends(&format!(
            "    - id: s\n      transport: stdio\n      path: /v1/s\n{extra}      stdio:\n        command: cat\n{stdio_extra}"
        ))
    };
    vec![
        // backends: id, name, transport, path
        case(
            backends("    - transport: stdio\n      path: /x\n      stdio: {command: cat}\n"),
            "mcp.backends[1].id: is required",
        ),
        case(
            backends(
                "    - id: \"\"\n      transport: stdio\n      path: /x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].id: must not be empty",
        ),
        case(
            backends(
                "    - id: \"my backend\"\n      transport: stdio\n      path: /x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].id: may only contain letters, digits, \"_\", \".\" and \"-\" (got \"my backend\")",
        ),
        case(
            backends(
                "    - id: x/y\n      transport: stdio\n      path: /x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].id: may only contain letters, digits, \"_\", \".\" and \"-\" (got \"x/y\")",
        ),
        case(
            backends(
                "    - id: good\n      transport: stdio\n      path: /x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].id: duplicate id \"good\" (also mcp.backends[0])",
        ),
        case(
            backends("    - id: t\n      path: /x\n      stdio: {command: cat}\n"),
            "mcp.backends[1].transport: is required",
        ),
        case(
            backends("    - id: t\n      transport: grpc\n      path: /x\n"),
            "mcp.backends[1].transport: must be \"http\" or \"stdio\" (got \"grpc\")",
        ),
        case(
            backends("    - id: p\n      transport: stdio\n      stdio: {command: cat}\n"),
            "mcp.backends[1].path: is required",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: v1/x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: must start with \"/\" (got \"v1/x\")",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /v1/x?a=1\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: must not contain \"?\" or \"#\" (got \"/v1/x?a=1\")",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /v1#x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: must not contain \"?\" or \"#\" (got \"/v1#x\")",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /v1//x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: must not contain an empty segment \"//\" (got \"/v1//x\")",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /v1/../x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: must not contain \".\" or \"..\" segments (got \"/v1/../x\")",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /v1/good/\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: duplicate path \"/v1/good\" (also mcp.backends[0])",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /health\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: \"/health\" collides with smcp's own endpoint \"/health\": choose another path",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /ready/\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: \"/ready\" collides with smcp's own endpoint \"/ready\": choose another path",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /metrics\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: \"/metrics\" collides with smcp's own endpoint \"/metrics\": choose another path",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /api/models/x\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: \"/api/models/x\" collides with smcp's own endpoint \"/api/models\": choose another path",
        ),
        case(
            backends(
                "    - id: p\n      transport: stdio\n      path: /.well-known/oauth-protected-resource\n      stdio: {command: cat}\n",
            ),
            "mcp.backends[1].path: \"/.well-known/oauth-protected-resource\" collides with smcp's own endpoint \"/.well-known\": choose another path",
        ),
        case(
            format!(
                "metrics:\n  path: /ops/prom\n{}",
                backends(
                    "    - id: p\n      transport: stdio\n      path: /ops/prom\n      stdio: {command: cat}\n"
                )
            ),
            "mcp.backends[1].path: \"/ops/prom\" collides with smcp's own endpoint \"/ops/prom\": choose another path",
        ),
        // backends: common fields
        case(
            stdio("      strip_path: sometimes\n", ""),
            "mcp.backends[1].strip_path: expected true or false (got \"sometimes\")",
        ),
        case(
            stdio("      timeout: 5\n", ""),
            "mcp.backends[1].timeout: 5 has no unit: write a duration like \"5s\" or \"5ms\"",
        ),
        case(
            stdio("      max_tokens: lots\n", ""),
            "mcp.backends[1].max_tokens: expected a whole number (got \"lots\")",
        ),
        // http backends
        case(
            backends("    - id: h\n      transport: http\n      path: /h\n"),
            "mcp.backends[1].url: is required",
        ),
        case(
            http("").replace("http://127.0.0.1:9000", "localhost:9000"),
            "mcp.backends[1].url: must be an http or https URL (got \"localhost:9000\")",
        ),
        case(
            http("").replace("http://127.0.0.1:9000", "127.0.0.1:9000"),
            "mcp.backends[1].url: invalid URL \"127.0.0.1:9000\": relative URL without a base",
        ),
        case(
            http("").replace("http://127.0.0.1:9000", "http://127.0.0.1:9000/mcp?x=1"),
            "mcp.backends[1].url: must not have a query (got \"http://127.0.0.1:9000/mcp?x=1\")",
        ),
        case(
            http("").replace("http://127.0.0.1:9000", "http://127.0.0.1:9000/#f"),
            "mcp.backends[1].url: must not have a fragment (got \"http://127.0.0.1:9000/#f\")",
        ),
        case(
            http("").replace("http://127.0.0.1:9000", "ws://127.0.0.1:9000"),
            "mcp.backends[1].url: must be an http or https URL (got \"ws://127.0.0.1:9000\")",
        ),
        case(
            http("      stdio:\n        command: cat\n"),
            "mcp.backends[1].stdio: is only valid for stdio backends (transport is \"http\")",
        ),
        case(
            http("      max_sessions: 5\n"),
            "mcp.backends[1].max_sessions: is only valid for stdio backends (transport is \"http\")",
        ),
        case(
            http("      max_sessions_per_principal: 5\n"),
            "mcp.backends[1].max_sessions_per_principal: is only valid for stdio backends (transport is \"http\")",
        ),
        case(
            http("      ca_file: {MISSING}\n"),
            "mcp.backends[1].ca_file: cannot read CA file {MISSING}: No such file or directory (os error 2)",
        ),
        case(
            http("      ca_file: {NOTPEM}\n"),
            "mcp.backends[1].ca_file: CA file {NOTPEM} holds no certificate",
        ),
        case(
            http("      ca_file: {KEY}\n"),
            "mcp.backends[1].ca_file: CA file {KEY} holds no certificate",
        ),
        // PEM that parses but that rustls would refuse as a trust anchor: refused by
        // validation (so by `check`), not first at startup when the backend is built.
        case(
            http("      ca_file: {CERT}\n"),
            "mcp.backends[1].ca_file: CA file {CERT}: certificate rejected: invalid peer certificate: BadEncoding",
        ),
        // stdio backends
        case(
            backends("    - id: s\n      transport: stdio\n      path: /s\n"),
            "mcp.backends[1].stdio: is required for stdio backends",
        ),
        case(
            stdio("      url: http://127.0.0.1:9000\n", ""),
            "mcp.backends[1].url: must not be set for stdio backends (transport is \"stdio\")",
        ),
        case(
            stdio("      ca_file: {CERT}\n", ""),
            "mcp.backends[1].ca_file: is only valid for http backends (transport is \"stdio\")",
        ),
        case(
            stdio("      max_sessions: 0\n", ""),
            "mcp.backends[1].max_sessions: must be at least 1 (got 0)",
        ),
        case(
            stdio("      max_sessions_per_principal: 0\n", ""),
            "mcp.backends[1].max_sessions_per_principal: must be at least 1 (got 0)",
        ),
        case(
            stdio(
                "      max_sessions: 4\n      max_sessions_per_principal: 5\n",
                "",
            ),
            "mcp.backends[1].max_sessions_per_principal: must not exceed max_sessions (4) (got 5)",
        ),
        case(
            backends(
                "    - id: s\n      transport: stdio\n      path: /s\n      stdio:\n        args: [x]\n",
            ),
            "mcp.backends[1].stdio.command: is required",
        ),
        case(
            backends(
                "    - id: s\n      transport: stdio\n      path: /s\n      stdio:\n        command: \"  \"\n",
            ),
            "mcp.backends[1].stdio.command: must not be empty",
        ),
        case(
            stdio("", "        working_dir: {MISSING}\n"),
            "mcp.backends[1].stdio.working_dir: cannot use \"{MISSING}\": No such file or directory",
        ),
        case(
            stdio("", "        working_dir: {CERT}\n"),
            "mcp.backends[1].stdio.working_dir: \"{CERT}\" is not a directory",
        ),
        case(
            stdio("", "        stdio_timeout: 0s\n"),
            "mcp.backends[1].stdio.stdio_timeout: must be greater than zero",
        ),
        case(
            stdio("", "        inherit_env: maybe\n"),
            "mcp.backends[1].stdio.inherit_env: expected true or false (got \"maybe\")",
        ),
        case(
            stdio("", "        max_line_bytes: 100\n"),
            "mcp.backends[1].stdio.max_line_bytes: must be at least 1024 (got 100)",
        ),
        case(
            stdio("", "        max_line_bytes: huge\n"),
            "mcp.backends[1].stdio.max_line_bytes: invalid size \"huge\": write a number of bytes or a size like \"4MiB\" or \"512KiB\"",
        ),
        case(
            stdio("", "        env:\n          \"A=B\": x\n"),
            "mcp.backends[1].stdio.env: invalid variable name \"A=B\": must be non-empty without \"=\" or NUL",
        ),
        // per-backend auth
        case(
            stdio("      auth:\n        mode: private\n", ""),
            "mcp.backends[1].auth.mode: must be \"inherit\" or \"none\" (got \"private\")",
        ),
        case(
            stdio(
                "      auth:\n        mode: none\n        required_scopes: [read]\n",
                "",
            ),
            "mcp.backends[1].auth.mode: is \"none\" (public), so required_claims and required_scopes could never be checked: remove them or the mode",
        ),
        case(
            stdio(
                "      auth:\n        required_claims:\n          groups: []\n",
                "",
            ),
            "mcp.backends[1].auth.required_claims.groups: must list at least one value",
        ),
        case(
            stdio(
                "      auth:\n        required_scopes: [\"read write\"]\n",
                "",
            ),
            "mcp.backends[1].auth.required_scopes[0]: must not contain whitespace (got \"read write\")",
        ),
        case(
            stdio("      auth:\n        required_scopes: [\"\"]\n", ""),
            "mcp.backends[1].auth.required_scopes[0]: must not be empty",
        ),
        // identity headers
        case(
            stdio(
                "      identity_headers:\n        subject_header: \"X Subject\"\n",
                "",
            ),
            "mcp.backends[1].identity_headers.subject_header: invalid header name \"X Subject\"",
        ),
        case(
            stdio(
                "      identity_headers:\n        email_header: Authorization\n",
                "",
            ),
            "mcp.backends[1].identity_headers.email_header: \"Authorization\" is a header smcp or HTTP already uses",
        ),
        case(
            stdio(
                "      identity_headers:\n        subject_header: X-User\n        email_header: x-user\n",
                "",
            ),
            "mcp.backends[1].identity_headers.email_header: must differ from subject_header (both are \"x-user\")",
        ),
        case(
            stdio("      identity_headers:\n        enabled: perhaps\n", ""),
            "mcp.backends[1].identity_headers.enabled: expected true or false (got \"perhaps\")",
        ),
    ]
}
