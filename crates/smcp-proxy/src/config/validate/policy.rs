//! Validation of `mcp.backends[].policy` and `oidc.scope_hierarchy`: every rule has exactly one
//! selector (`tools`, `prompts`, `resources` or `methods`) with non-empty patterns, and exactly
//! one effect (`allow: true`, `deny: true`, or `scopes` and/or `claims`); claims use the
//! language of `oidc.required_claims`; a rule that needs a token is refused on a backend whose
//! callers are anonymous (no token could ever pass it). Rate limits (`rate_limit`,
//! `tool_rate_limits`, a rule's `rate_limit`) are rates like `"600/min"`.

use std::collections::BTreeMap;

use smcp_policy::{
    DEFAULT_MAX_CALLERS, DefaultEffect, Glob, Limit, LimitSpec, Policy, Rate, Requirement, Rule,
    ScopeHierarchy, Selector,
};

use super::fields::{boolean, whole};
use super::oidc::{claims, strings};
use crate::config::error::Report;
use crate::config::file::{FileBackend, FilePolicy, FilePolicyRule};
use crate::config::scalar::Scalar;

/// The backend's policy (`None` without a `policy:` block) and its rate limits. `anonymous` is
/// whether the backend's callers carry no token (auth.mode none, or the backend's own mode
/// none).
pub(super) fn policy(
    report: &mut Report,
    key: &str,
    file: Option<&FilePolicy>,
    anonymous: bool,
) -> (Option<Policy>, LimitSpec) {
    let Some(file) = file else {
        return (None, LimitSpec::default());
    };
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
    let mut limits = LimitSpec::default();
    if let Some(block) = &file.rate_limit {
        let key = format!("{key}.rate_limit");
        let burst = block
            .burst
            .as_ref()
            .map(|burst| whole(report, &format!("{key}.burst"), Some(burst), 1, 1));
        let burst = burst.map(|burst| u32::try_from(burst).unwrap_or(u32::MAX));
        limits.max_callers = whole(
            report,
            &format!("{key}.max_principals"),
            block.max_principals.as_ref(),
            DEFAULT_MAX_CALLERS as u64,
            1,
        )
        .try_into()
        .unwrap_or(usize::MAX);
        match &block.per_principal {
            Some(value) => {
                if let Some(rate) = rate(report, &format!("{key}.per_principal"), value) {
                    limits.per_principal = Some(Limit::new(rate, burst));
                }
            }
            None => report.error(
                format!("{key}.per_principal"),
                "is required: the rate each caller may send requests at, like \"600/min\"",
            ),
        }
    }
    for (pattern, value) in file.tool_rate_limits.iter().flatten() {
        let key = format!("{key}.tool_rate_limits.{pattern}");
        if pattern.trim().is_empty() {
            report.error(key, "a tool name pattern cannot be empty");
            continue;
        }
        if let Some(rate) = rate(report, &key, value) {
            limits
                .tools
                .push((Glob::new(pattern), Limit::new(rate, None)));
        }
    }
    let mut rules = Vec::new();
    for (i, item) in file.rules.iter().flatten().enumerate() {
        let key = format!("{key}.rules[{i}]");
        let limit = item
            .rate_limit
            .as_ref()
            .and_then(|value| rate(report, &format!("{key}.rate_limit"), value));
        if let Some(rule) = rule(report, &key, item, anonymous) {
            if let Some(rate) = limit {
                limits.rules.push((rules.len(), Limit::new(rate, None)));
            }
            rules.push(rule);
        }
    }
    (Some(Policy::new(default, rules)), limits)
}

/// A rate (`"600/min"`).
fn rate(report: &mut Report, key: &str, value: &Scalar) -> Option<Rate> {
    let parsed = match value {
        Scalar::Str(text) => text.parse::<Rate>().map_err(|error| error.to_string()),
        _ => Err("must be a rate like \"600/min\" (units: s, min, h, day)".to_owned()),
    };
    parsed.map_err(|message| report.error(key, message)).ok()
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

/// With a scope hierarchy set, a scope a rule needs must be part of it (as a scope that implies
/// others or as one implied): the hierarchy then describes every scope the policy uses, and a
/// misspelt scope (`mcp:wirte`), which no token would ever be granted and no parent would
/// reach, is caught here rather than by a caller stuck on a step-up challenge.
/// (Checked once the hierarchy is read, which the file lists after the backends.)
pub(super) fn unreachable_scopes(
    report: &mut Report,
    backends: Option<&Vec<FileBackend>>,
    hierarchy: &ScopeHierarchy,
) {
    if hierarchy.is_empty() {
        return;
    }
    let known = hierarchy.scopes();
    for (b, backend) in backends.into_iter().flatten().enumerate() {
        let rules = backend.policy.iter().flat_map(|p| p.rules.iter().flatten());
        for (r, rule) in rules.enumerate() {
            for (s, scope) in rule.scopes.iter().flatten().enumerate() {
                let scope = scope.trim();
                if !scope.is_empty() && !known.contains(scope) {
                    report.error(
                        format!("mcp.backends[{b}].policy.rules[{r}].scopes[{s}]"),
                        format!(
                            "{scope:?} is not in oidc.scope_hierarchy, so the hierarchy cannot reach it (a typo?); \
                             add it there (as a scope or as one a scope implies) or fix the name"
                        ),
                    );
                }
            }
        }
    }
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
