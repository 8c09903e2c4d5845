//! The policy stage's hot paths (`smcp-policy`): deciding one `tools/call` against a 20-rule
//! policy (the rule that allows it is the last, so every rule is tried), a rate-limit check
//! that is not hit, and filtering a 1,000-tool `tools/list` reply (parse, decide each entry,
//! serialise: the work the proxy does per list reply).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use smcp_policy::{
    Caller, ClaimRules, DefaultEffect, Glob, Limit, LimitSpec, Limits, ListKind, Policy, Rate,
    Requirement, Rule, ScopeHierarchy, Selector, Target,
};

/// 19 rules that do not match `echo` (names, globs, scope and claim rules, other selectors),
/// then the one that allows it.
fn twenty_rules() -> Policy {
    let mut rules = Vec::with_capacity(20);
    for i in 0..8 {
        rules.push(Rule::new(
            Selector::Tools(vec![Glob::new(&format!("tool-{i:02}"))]),
            Requirement::Allow,
        ));
    }
    for i in 0..4 {
        rules.push(Rule::new(
            Selector::Tools(vec![Glob::new(&format!("admin-{i}-*"))]),
            Requirement::token(vec!["mcp:admin".into()], ClaimRules::new()),
        ));
    }
    for i in 0..4 {
        rules.push(Rule::new(
            Selector::Prompts(vec![Glob::new(&format!("prompt-{i}*"))]),
            Requirement::Allow,
        ));
    }
    rules.push(Rule::new(
        Selector::Resources(vec![Glob::new("file:///private/*")]),
        Requirement::Deny,
    ));
    rules.push(Rule::new(
        Selector::Methods(vec![Glob::new("logging/*")]),
        Requirement::Deny,
    ));
    rules.push(Rule::new(
        Selector::Tools(vec![Glob::new("*-dangerous")]),
        Requirement::Deny,
    ));
    rules.push(Rule::new(
        Selector::Tools(vec![Glob::new("echo")]),
        Requirement::Allow,
    ));
    assert_eq!(rules.len(), 20);
    Policy::new(DefaultEffect::Deny, rules)
}

/// A `tools/list` reply with `n` tools, a third of them hidden by [`twenty_rules`]
/// (`default: deny`, no rule names them).
fn list_reply(n: usize) -> Vec<u8> {
    let tools: Vec<Value> = (0..n)
        .map(|i| {
            let name = match i % 3 {
                0 => format!("tool-{:02}", i % 8),
                1 => format!("admin-{}-op{i}", i % 4),
                _ => format!("unlisted-{i}"),
            };
            json!({"name": name, "description": "A tool of the benchmark list",
                   "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}}})
        })
        .collect();
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": tools}}))
        .unwrap_or_default()
}

fn policy(c: &mut Criterion) {
    let policy = twenty_rules();
    let hierarchy = ScopeHierarchy::new();
    let scopes = vec!["mcp:tools".to_owned()];
    let caller = Caller {
        scopes: &scopes,
        claims: None,
    };
    let mut group = c.benchmark_group("policy");
    group.bench_function("decide_20_rules_last_matches", |b| {
        b.iter(|| policy.decide(black_box(&Target::Tool("echo".into())), &caller, &hierarchy));
    });

    let rate = |text: &str| match text.parse::<Rate>() {
        Ok(rate) => rate,
        Err(error) => unreachable!("{text}: {error}"),
    };
    let spec = LimitSpec {
        per_principal: Some(Limit::new(rate("1000000000/s"), None)),
        tools: vec![(Glob::new("echo"), Limit::new(rate("1000000000/s"), None))],
        ..LimitSpec::default()
    };
    // A billion a second: never hit, however fast the loop runs.
    let limits = Limits::new(&spec);
    group.bench_function("rate_limits_not_hit", |b| {
        b.iter(|| {
            let check = limits.check(
                black_box(42),
                &Target::Tool("echo".into()),
                Some(19),
                Instant::now(),
            );
            assert!(check.result.is_ok());
            check
        });
    });

    let reply = list_reply(1_000);
    group.bench_function("filter_tools_list/1000", |b| {
        b.iter(|| {
            let filtered = policy.filter_response(
                black_box(&reply),
                Some(ListKind::Tools),
                &caller,
                &hierarchy,
            );
            assert!(filtered.as_ref().is_some_and(|f| f.len() < reply.len()));
            filtered
        });
    });
    group.finish();
}

criterion_group!(benches, policy);
criterion_main!(benches);
