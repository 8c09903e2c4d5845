//! Each backend's effective policy as text, for `smcp-server check`: the rules in the order
//! they are tried, what each decides, the default, the rate limits, and the scope hierarchy. Claim values are
//! shown (they are configuration, not secrets); nothing of a token is.

use std::fmt::Write as _;

use smcp_policy::{DefaultEffect, LimitSpec, Policy, Requirement};

use super::model::Config;

impl Config {
    /// The policies of the backends that have one (sorted by path), then the scope hierarchy;
    /// empty when no backend has a policy and no hierarchy is set.
    pub fn describe_policies(&self) -> String {
        let mut out = String::new();
        let mut backends: Vec<_> = self
            .mcp
            .backends
            .iter()
            .filter_map(|backend| backend.policy.as_ref().map(|policy| (backend, policy)))
            .collect();
        backends.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        for (backend, policy) in backends {
            let _ = writeln!(out, "\npolicy of {} ({}):", backend.id, backend.path);
            describe(&mut out, policy, &backend.rate_limits);
        }
        let hierarchy = &self.oidc.scope_hierarchy;
        if !hierarchy.is_empty() {
            let _ = writeln!(
                out,
                "\nscope hierarchy (a granted scope implies, transitively):"
            );
            for (scope, implied) in hierarchy.pairs() {
                let _ = writeln!(out, "  {scope} -> {}", implied.join(", "));
            }
        }
        out
    }
}

fn describe(out: &mut String, policy: &Policy, limits: &LimitSpec) {
    for (i, rule) in policy.rules().iter().enumerate() {
        let patterns: Vec<&str> = rule
            .selector
            .patterns()
            .iter()
            .map(|g| g.as_str())
            .collect();
        let effect = match &rule.requirement {
            Requirement::Allow => "allow".to_owned(),
            Requirement::Deny => "deny (hidden)".to_owned(),
            Requirement::Token { scopes, claims } => {
                let mut needs = Vec::new();
                if !scopes.is_empty() {
                    needs.push(format!("scopes {} (else step-up 403)", scopes.join(" ")));
                }
                let claims: Vec<String> = claims
                    .rules()
                    .map(|(name, rule)| {
                        let values: Vec<String> =
                            rule.values().iter().map(ToString::to_string).collect();
                        format!("{name} = {}", values.join(" | "))
                    })
                    .collect();
                if !claims.is_empty() {
                    needs.push(format!("claims {} (else 403)", claims.join(", ")));
                }
                needs.join(" and ")
            }
        };
        let limit = limits
            .rule_limit(i)
            .map(|limit| format!("; at most {limit} per caller"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}. {} {}: {effect}{limit}",
            i + 1,
            rule.selector.kind(),
            patterns.join(", ")
        );
    }
    let default = match policy.default_effect() {
        DefaultEffect::Allow => "allow",
        DefaultEffect::Deny => {
            "deny (hidden; initialize, ping, notifications and */list always pass)"
        }
    };
    let _ = writeln!(out, "  otherwise: {default}");
    if let Some(limit) = limits.per_principal {
        let _ = writeln!(
            out,
            "  rate limit: {limit} per caller (at most {} callers tracked)",
            limits.max_callers
        );
    }
    for (pattern, limit) in &limits.tools {
        let _ = writeln!(
            out,
            "  tool rate limit: {} at {limit} per caller",
            pattern.as_str()
        );
    }
}
