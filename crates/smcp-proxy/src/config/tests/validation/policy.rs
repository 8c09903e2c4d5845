//! Rule cases of `mcp.backends[].policy` and `oidc.scope_hierarchy`, and one policy that
//! loads into the rules it says.

use smcp_policy::{DefaultEffect, Requirement, Selector};

use super::super::yaml;
use super::case;

fn oidc_backend(policy: &str) -> String {
    format!(
        "auth:\n  mode: oidc\noidc:\n  issuers: [\"https://idp.example\"]\n  audience: api\nmcp:\n  backends:\n    - id: s\n      transport: stdio\n      path: /v1/s\n      stdio:\n        command: cat\n      policy:\n{policy}"
    )
}

pub(super) fn cases() -> Vec<(String, String)> {
    let key = "mcp.backends[0].policy";
    vec![
        case(
            oidc_backend("        default: maybe\n"),
            &format!("{key}.default: must be \"allow\" or \"deny\" (got \"maybe\")"),
        ),
        case(
            oidc_backend("        rules:\n          - allow: true\n"),
            &format!(
                "{key}.rules[0]: a rule needs one selector: tools, prompts, resources or methods"
            ),
        ),
        case(
            oidc_backend(
                "        rules:\n          - tools: [a]\n            prompts: [b]\n            allow: true\n",
            ),
            &format!(
                "{key}.rules[0]: a rule has one selector, this one has tools and prompts: split it into one rule each"
            ),
        ),
        case(
            oidc_backend("        rules:\n          - tools: []\n            allow: true\n"),
            &format!("{key}.rules[0].tools: must list at least one pattern"),
        ),
        case(
            oidc_backend("        rules:\n          - tools: [a]\n"),
            &format!(
                "{key}.rules[0]: a rule needs one effect: allow: true, deny: true, or scopes and/or claims"
            ),
        ),
        case(
            oidc_backend(
                "        rules:\n          - tools: [a]\n            allow: true\n            scopes: [x]\n",
            ),
            &format!(
                "{key}.rules[0]: a rule has one effect: allow: true, deny: true, or scopes and/or claims (not several)"
            ),
        ),
        case(
            oidc_backend("        rules:\n          - tools: [a]\n            allow: false\n"),
            &format!(
                "{key}.rules[0].allow: only `allow: true` means something; remove it, or use `deny: true`"
            ),
        ),
        case(
            oidc_backend(
                "        rules:\n          - tools: [a]\n            scopes: [\"two words\"]\n",
            ),
            &format!("{key}.rules[0].scopes[0]: must not contain whitespace (got \"two words\")"),
        ),
        case(
            oidc_backend("        rate_limit: {per_principal: \"600/fortnight\"}\n"),
            &format!(
                "{key}.rate_limit.per_principal: must be <count>/<unit>, like \"600/min\" (units: s, min, h, day)"
            ),
        ),
        case(
            oidc_backend("        rate_limit: {burst: 5}\n"),
            &format!(
                "{key}.rate_limit.per_principal: is required: the rate each caller may send requests at, like \"600/min\""
            ),
        ),
        case(
            oidc_backend("        rate_limit: {per_principal: \"0/s\"}\n"),
            &format!(
                "{key}.rate_limit.per_principal: the count must be a whole number from 1 to 1000000000"
            ),
        ),
        case(
            oidc_backend("        rate_limit: {per_principal: \"1/s\", max_principals: 0}\n"),
            &format!("{key}.rate_limit.max_principals: must be at least 1 (got 0)"),
        ),
        case(
            oidc_backend("        tool_rate_limits: {\"trigger-*\": 10}\n"),
            &format!(
                "{key}.tool_rate_limits.trigger-*: must be a rate like \"600/min\" (units: s, min, h, day)"
            ),
        ),
        case(
            oidc_backend(
                "        rules:\n          - tools: [a]\n            allow: true\n            rate_limit: often\n",
            ),
            &format!(
                "{key}.rules[0].rate_limit: must be <count>/<unit>, like \"600/min\" (units: s, min, h, day)"
            ),
        ),
        case(
            oidc_backend(
                "        rules:\n          - tools: [a]\n            scopes: [\"mcp:wirte\"]\n",
            )
            .replace(
                "  audience: api\n",
                "  audience: api\n  scope_hierarchy: {\"mcp:admin\": [\"mcp:write\"]}\n",
            ),
            &format!(
                "{key}.rules[0].scopes[0]: \"mcp:wirte\" is not in oidc.scope_hierarchy, so the hierarchy cannot reach it (a typo?); add it there (as a scope or as one a scope implies) or fix the name"
            ),
        ),
        case(
            oidc_backend("        rules:\n          - tools: [a]\n            colour: red\n"),
            "mcp.backends[0].policy.rules[0].colour: unknown field `colour`, expected one of tools, prompts, resources, methods, allow, deny, scopes, claims, rate_limit (line 16, column 13 of <yaml>)",
        ),
        // Anonymous callers carry no token: a rule on one could never pass.
        case(
            "mcp:\n  backends:\n    - id: s\n      transport: stdio\n      path: /v1/s\n      stdio:\n        command: cat\n      policy:\n        rules:\n          - tools: [a]\n            scopes: [x]\n",
            &format!(
                "{key}.rules[0]: needs scopes or claims, but this backend's callers are anonymous (auth.mode none): no token could pass it"
            ),
        ),
        case(
            "auth:\n  mode: oidc\noidc:\n  issuers: [\"https://idp.example\"]\n  audience: api\n  scope_hierarchy: {\"mcp:admin\": []}\n",
            "oidc.scope_hierarchy.mcp:admin: must list at least one implied scope",
        ),
    ]
}

#[test]
fn a_policy_loads_into_its_rules_in_order() {
    let text = oidc_backend(
        "        default: deny\n        rules:\n          - tools: [\"echo\", \"get-*\"]\n            allow: true\n          - tools: [\"trigger-*\"]\n            scopes: [\"mcp:write\"]\n          - prompts: [\"*\"]\n            claims: {roles: admin}\n          - resources: [\"file:///public/*\"]\n            allow: true\n          - methods: [\"logging/*\"]\n            deny: true\n",
    )
    .replace(
        "  audience: api\n",
        "  audience: api\n  scope_hierarchy: {\"mcp:admin\": [\"mcp:write\"], \"mcp:write\": [\"mcp:read\"]}\n",
    );
    let loaded = yaml(&text, &[]).expect("loads");
    let policy = loaded.config.mcp.backends[0]
        .policy
        .as_ref()
        .expect("a policy");
    assert_eq!(policy.default_effect(), DefaultEffect::Deny);
    let kinds: Vec<&str> = policy.rules().iter().map(|r| r.selector.kind()).collect();
    assert_eq!(kinds, ["tools", "tools", "prompts", "resources", "methods"]);
    assert!(matches!(policy.rules()[0].requirement, Requirement::Allow));
    assert!(matches!(
        &policy.rules()[1].requirement,
        Requirement::Token { scopes, .. } if scopes == &["mcp:write".to_owned()]
    ));
    assert!(matches!(
        &policy.rules()[2].requirement,
        Requirement::Token { claims, scopes } if scopes.is_empty() && claims.get("roles").is_some()
    ));
    assert!(matches!(policy.rules()[4].requirement, Requirement::Deny));
    assert!(matches!(&policy.rules()[0].selector, Selector::Tools(globs) if globs.len() == 2));
    let hierarchy = &loaded.config.oidc.scope_hierarchy;
    let granted = vec!["mcp:admin".to_owned()];
    assert!(hierarchy.expand(&granted).contains("mcp:read"));
}

#[test]
fn rate_limits_load_per_caller_per_tool_pattern_and_per_rule() {
    let text = oidc_backend(
        "        rate_limit: {per_principal: \"600/min\", burst: 50, max_principals: 500}\n        tool_rate_limits: {\"trigger-*\": \"10/min\"}\n        rules:\n          - tools: [echo]\n            allow: true\n          - resources: [\"*\"]\n            allow: true\n            rate_limit: \"5/s\"\n",
    );
    let loaded = yaml(&text, &[]).expect("loads");
    let limits = &loaded.config.mcp.backends[0].rate_limits;
    let per_principal = limits.per_principal.expect("a per-caller limit");
    assert_eq!(per_principal.to_string(), "600/min (burst 50)");
    assert_eq!(limits.max_callers, 500);
    assert_eq!(limits.tools.len(), 1);
    assert_eq!(limits.tools[0].0.as_str(), "trigger-*");
    assert_eq!(limits.tools[0].1.to_string(), "10/min (burst 10)");
    assert_eq!(limits.rule_limit(0), None);
    assert_eq!(
        limits.rule_limit(1).map(|l| l.to_string()).as_deref(),
        Some("5/s (burst 5)")
    );
}
