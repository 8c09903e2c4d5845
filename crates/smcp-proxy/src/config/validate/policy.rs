//! Validation of `mcp.backends[].policy` and `oidc.scope_hierarchy`: every rule has exactly one
//! selector (`tools`, `prompts`, `resources` or `methods`) with non-empty patterns, and exactly
//! one effect (`allow: true`, `deny: true`, or `scopes` and/or `claims`); claims use the
//! language of `oidc.required_claims`; a rule that needs a token is refused on a backend whose
//! callers are anonymous (no token could ever pass it).

use std::collections::BTreeMap;

use smcp_policy::{DefaultEffect, Glob, Policy, Requirement, Rule, ScopeHierarchy, Selector};

use super::fields::boolean;
use super::oidc::{claims, strings};
use crate::config::error::Report;
use crate::config::file::{FilePolicy, FilePolicyRule};

/// The backend's policy, or `None` without a `policy:` block. `anonymous` is whether the
/// backend's callers carry no token (auth.mode none, or the backend's own mode none).
pub(super) fn policy(
    report: &mut Report,
    key: &str,
    file: Option<&FilePolicy>,
    anonymous: bool,
) -> Option<Policy> {
    let file = file?;
    let default = match file.default.as_deref().map(str::trim) {
        None | Some("allow") => DefaultEffect::Allow,
        Some("deny") => DefaultEffect::Deny,
        Some(other) => {
            report.error(
                format!("{key}.default"),
                format!("must be \"allow\" or \"deny\" (got {other:?})"),
            );
            DefaultEffect::Allow
        }
    };
    let limits = [
        ("rate_limit", file.rate_limit.is_some()),
        ("tool_rate_limits", file.tool_rate_limits.is_some()),
    ];
    for (name, set) in limits {
        if set {
            // A limit that is accepted and not enforced would be worse than none.
            report.error(
                format!("{key}.{name}"),
                "rate limits are not supported by this version of smcp-server yet",
            );
        }
    }
    let mut rules = Vec::new();
    for (i, item) in file.rules.iter().flatten().enumerate() {
        if let Some(rule) = rule(report, &format!("{key}.rules[{i}]"), item, anonymous) {
            rules.push(rule);
        }
    }
    Some(Policy::new(default, rules))
}

fn rule(report: &mut Report, key: &str, file: &FilePolicyRule, anonymous: bool) -> Option<Rule> {
    let selectors = [
        ("tools", file.tools.as_ref()),
        ("prompts", file.prompts.as_ref()),
        ("resources", file.resources.as_ref()),
        ("methods", file.methods.as_ref()),
    ];
    let given: Vec<_> = selectors
        .iter()
        .filter_map(|(name, patterns)| patterns.map(|p| (*name, p)))
        .collect();
    let selector = match given.as_slice() {
        [] => {
            report.error(
                key,
                "a rule needs one selector: tools, prompts, resources or methods",
            );
            None
        }
        [(name, patterns)] => {
            let patterns = strings(report, &format!("{key}.{name}"), Some(patterns), false);
            if patterns.is_empty() {
                report.error(format!("{key}.{name}"), "must list at least one pattern");
                None
            } else {
                let globs = patterns.iter().map(|p| Glob::new(p)).collect();
                Some(match *name {
                    "tools" => Selector::Tools(globs),
                    "prompts" => Selector::Prompts(globs),
                    "resources" => Selector::Resources(globs),
                    _ => Selector::Methods(globs),
                })
            }
        }
        _ => {
            let names: Vec<&str> = given.iter().map(|(name, _)| *name).collect();
            report.error(
                key,
                format!(
                    "a rule has one selector, this one has {}: split it into one rule each",
                    names.join(" and ")
                ),
            );
            None
        }
    };
    let allow = boolean(report, &format!("{key}.allow"), file.allow.as_ref(), false);
    let deny = boolean(report, &format!("{key}.deny"), file.deny.as_ref(), false);
    let scopes = strings(report, &format!("{key}.scopes"), file.scopes.as_ref(), true);
    let claim_rules = claims(report, &format!("{key}.claims"), file.claims.as_ref());
    let needs_token = !scopes.is_empty() || !claim_rules.is_empty();
    if file.allow.is_some() && !allow {
        report.error(
            format!("{key}.allow"),
            "only `allow: true` means something; remove it, or use `deny: true`",
        );
    }
    if file.deny.is_some() && !deny {
        report.error(
            format!("{key}.deny"),
            "only `deny: true` means something; remove it, or use `allow: true`",
        );
    }
    let requirement = match (allow, deny, needs_token) {
        (true, false, false) => Requirement::Allow,
        (false, true, false) => Requirement::Deny,
        (false, false, true) => Requirement::token(scopes, claim_rules),
        (false, false, false) => {
            report.error(
                key,
                "a rule needs one effect: allow: true, deny: true, or scopes and/or claims",
            );
            return None;
        }
        _ => {
            report.error(
                key,
                "a rule has one effect: allow: true, deny: true, or scopes and/or claims (not several)",
            );
            return None;
        }
    };
    if anonymous && matches!(requirement, Requirement::Token { .. }) {
        report.error(
            key,
            "needs scopes or claims, but this backend's callers are anonymous (auth.mode none): no token could pass it",
        );
        return None;
    }
    Some(Rule::new(selector?, requirement))
}

/// `oidc.scope_hierarchy`: scope names are tokens (no whitespace), each implies a non-empty
/// list.
pub(super) fn scope_hierarchy(
    report: &mut Report,
    file: Option<&BTreeMap<String, Vec<String>>>,
) -> ScopeHierarchy {
    let mut implies = BTreeMap::new();
    for (scope, children) in file.into_iter().flatten() {
        let key = format!("oidc.scope_hierarchy.{scope}");
        if scope.trim().is_empty() || scope.chars().any(char::is_whitespace) {
            report.error(
                "oidc.scope_hierarchy",
                format!("{scope:?} is not a scope name (no spaces, not empty)"),
            );
            continue;
        }
        let children = strings(report, &key, Some(children), true);
        if children.is_empty() {
            report.error(key, "must list at least one implied scope");
            continue;
        }
        implies.insert(scope.clone(), children);
    }
    ScopeHierarchy::from_map(implies)
}
