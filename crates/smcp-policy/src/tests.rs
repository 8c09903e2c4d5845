//! The example policy, decided for callers with different tokens.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use smcp_auth::{ClaimRule, ClaimRules};

use super::{
    Caller, Decision, DefaultEffect, Glob, Policy, Requirement, Rule, ScopeHierarchy, Selector,
    Target,
};

fn globs(patterns: &[&str]) -> Vec<Glob> {
    patterns.iter().map(|p| Glob::new(p)).collect()
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn example(default: DefaultEffect) -> Policy {
    let admin = ClaimRules::new()
        .with("roles", ClaimRule::one("admin").unwrap())
        .unwrap();
    Policy::new(
        default,
        vec![
            Rule::new(
                Selector::Tools(globs(&["echo", "get-*"])),
                Requirement::Allow,
            ),
            Rule::new(
                Selector::Tools(globs(&["trigger-*"])),
                Requirement::token(scopes(&["mcp:write"]), ClaimRules::new()),
            ),
            Rule::new(
                Selector::Tools(globs(&["*-admin"])),
                Requirement::token(Vec::new(), admin),
            ),
            Rule::new(
                Selector::Prompts(globs(&["*"])),
                Requirement::token(scopes(&["mcp:read"]), ClaimRules::new()),
            ),
            Rule::new(
                Selector::Resources(globs(&["file:///public/*"])),
                Requirement::Allow,
            ),
            Rule::new(Selector::Tools(globs(&["dangerous"])), Requirement::Deny),
        ],
    )
}

fn hierarchy() -> ScopeHierarchy {
    ScopeHierarchy::from_map(BTreeMap::from([
        ("mcp:admin".to_owned(), scopes(&["mcp:write"])),
        ("mcp:write".to_owned(), scopes(&["mcp:read"])),
    ]))
}

fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("an object"),
    }
}

#[test]
fn the_first_matching_rule_decides_and_scopes_follow_the_hierarchy() {
    let policy = example(DefaultEffect::Allow);
    let h = hierarchy();
    let none = claims(json!({}));
    let admin_claims = claims(json!({"roles": ["user", "admin"]}));
    let read = scopes(&["mcp:read"]);
    let top = scopes(&["mcp:admin"]);
    let reader = Caller {
        scopes: &read,
        claims: Some(&none),
    };
    let admin = Caller {
        scopes: &top,
        claims: Some(&admin_claims),
    };
    let tool = |name: &str| Target::Tool(name.to_owned().into());

    assert_eq!(
        policy.decide(&tool("echo"), &reader, &h),
        Decision::Allow { rule: Some(0) }
    );
    assert_eq!(
        policy.decide(&tool("get-sum"), &reader, &h),
        Decision::Allow { rule: Some(0) }
    );
    assert_eq!(
        policy.decide(&tool("trigger-long-running-operation"), &reader, &h),
        Decision::StepUp {
            rule: 1,
            scopes: scopes(&["mcp:write"])
        }
    );
    // mcp:admin implies mcp:write.
    assert_eq!(
        policy.decide(&tool("trigger-long-running-operation"), &admin, &h),
        Decision::Allow { rule: Some(1) }
    );
    assert_eq!(
        policy.decide(&tool("user-admin"), &reader, &h),
        Decision::Forbidden { rule: 2 }
    );
    assert_eq!(
        policy.decide(&tool("user-admin"), &admin, &h),
        Decision::Allow { rule: Some(2) }
    );
    // mcp:admin implies mcp:read through mcp:write.
    assert_eq!(
        policy.decide(&Target::Prompt("p".into()), &admin, &h),
        Decision::Allow { rule: Some(3) }
    );
    assert_eq!(
        policy.decide(
            &Target::Resource("file:///public/a.txt".into()),
            &reader,
            &h
        ),
        Decision::Allow { rule: Some(4) }
    );
    assert_eq!(
        policy.decide(&tool("dangerous"), &admin, &h),
        Decision::Hidden { rule: Some(5) }
    );
    // Nothing matches: the default.
    assert_eq!(
        policy.decide(&tool("other"), &reader, &h),
        Decision::Allow { rule: None }
    );
    assert_eq!(
        policy.decide(&Target::Resource("file:///private/x".into()), &reader, &h),
        Decision::Allow { rule: None }
    );
}

#[test]
fn default_deny_hides_what_no_rule_allows_but_never_the_lifecycle() {
    let policy = example(DefaultEffect::Deny);
    let h = ScopeHierarchy::new();
    let anonymous = Caller {
        scopes: &[],
        claims: None,
    };
    assert_eq!(
        policy.decide(&Target::Tool("other".into()), &anonymous, &h),
        Decision::Hidden { rule: None }
    );
    assert_eq!(
        policy.decide(&Target::Method("resources/subscribe"), &anonymous, &h),
        Decision::Hidden { rule: None }
    );
    for method in [
        "initialize",
        "ping",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "notifications/initialized",
    ] {
        assert_eq!(
            policy.decide(&Target::Method(method), &anonymous, &h),
            Decision::Allow { rule: None },
            "{method}"
        );
    }
    // An anonymous caller has no claims: a claims rule refuses it, a scopes rule asks.
    assert_eq!(
        policy.decide(&Target::Tool("user-admin".into()), &anonymous, &h),
        Decision::Forbidden { rule: 2 }
    );
    assert!(matches!(
        policy.decide(&Target::Tool("trigger-x".into()), &anonymous, &h),
        Decision::StepUp { .. }
    ));
}

#[test]
fn visibility_and_labels() {
    assert!(Decision::Allow { rule: None }.is_visible());
    assert!(
        Decision::StepUp {
            rule: 0,
            scopes: Vec::new()
        }
        .is_visible()
    );
    assert!(!Decision::Forbidden { rule: 0 }.is_visible());
    assert!(!Decision::Hidden { rule: None }.is_visible());
    assert_eq!(Decision::Hidden { rule: None }.label(), "default_deny");
    assert_eq!(Decision::Hidden { rule: Some(1) }.label(), "deny");
    let policy = example(DefaultEffect::Allow);
    let scopes: Vec<&str> = policy.scopes().collect();
    assert_eq!(scopes, ["mcp:write", "mcp:read"]);
}

#[test]
fn a_methods_rule_matches_any_request_by_its_method() {
    let policy = Policy::new(
        DefaultEffect::Allow,
        vec![Rule::new(
            Selector::Methods(globs(&["resources/subscribe", "logging/*"])),
            Requirement::Deny,
        )],
    );
    let h = ScopeHierarchy::new();
    let anonymous = Caller {
        scopes: &[],
        claims: None,
    };
    assert!(
        !policy
            .decide(&Target::Method("logging/setLevel"), &anonymous, &h)
            .is_allowed()
    );
    assert!(
        policy
            .decide(&Target::Tool("echo".into()), &anonymous, &h)
            .is_allowed()
    );
}
