//! MCP-aware policy for smcp: which tools, prompts, resources and methods of a backend a caller
//! may use, decided per JSON-RPC request from what the request names and what the caller's
//! token grants.
//!
//! A [`Policy`] is an ordered list of [`Rule`]s and a default. The first rule whose selector
//! matches the request's [`Target`] decides: `allow` (anyone who passed authentication),
//! `deny` (hidden: answered as if it did not exist), or requirements on the token (claims in
//! the language of `oidc.required_claims`, and scopes, honouring a [`ScopeHierarchy`]). When
//! no rule matches, the default decides; `default: deny` never refuses the lifecycle of a
//! session ([`is_lifecycle`]: `initialize`, `ping`, the `*/list` calls), since a client that
//! cannot list cannot ask for what it may use.
//!
//! List replies are filtered with [`Policy::retain_visible`] (what a caller may use or step up
//! to stays listed).
//!
//! Rate limits ([`Limits`]) are token buckets per caller, per caller and tool pattern, and per
//! caller and rule, with a bound on the callers tracked ([`RateLimiter`]).
//!
//! What this crate does not do: read HTTP, authenticate, or answer. The proxy parses the
//! JSON-RPC envelope, builds the [`Target`] and the [`Caller`], and turns a [`Decision`] into
//! its reply (a step-up challenge for missing scopes, 403 for claims, "unknown" for hidden).
//!
//! ```
//! use smcp_policy::{Caller, ClaimRules, Decision, DefaultEffect, Glob, Policy, Requirement,
//!     Rule, ScopeHierarchy, Selector, Target};
//!
//! let policy = Policy::new(DefaultEffect::Deny, vec![
//!     Rule::new(Selector::Tools(vec![Glob::new("echo")]), Requirement::Allow),
//!     Rule::new(Selector::Tools(vec![Glob::new("trigger-*")]),
//!         Requirement::token(vec!["mcp:write".into()], ClaimRules::new())),
//! ]);
//! let hierarchy = ScopeHierarchy::new();
//! let scopes = vec!["mcp:read".to_owned()];
//! let caller = Caller { scopes: &scopes, claims: None };
//! let decide = |target| policy.decide(&target, &caller, &hierarchy);
//!
//! assert_eq!(decide(Target::Tool("echo".into())), Decision::Allow { rule: Some(0) });
//! assert_eq!(
//!     decide(Target::Tool("trigger-long".into())),
//!     Decision::StepUp { rule: 1, scopes: vec!["mcp:write".into()] },
//! );
//! assert_eq!(decide(Target::Tool("other".into())), Decision::Hidden { rule: None });
//! assert_eq!(decide(Target::Method("tools/list")), Decision::Allow { rule: None });
//! ```

mod glob;
mod limits;
mod lists;
mod rate;
mod scopes;
mod target;

use serde_json::{Map, Value};
pub use smcp_auth::ClaimRules;

pub use glob::Glob;
pub use limits::{DEFAULT_MAX_CALLERS, Exceeded, LimitCheck, LimitKind, LimitSpec, Limits};
pub use lists::ListKind;
pub use rate::{Checked, Limit, Limited, Rate, RateError, RateLimiter};
pub use scopes::ScopeHierarchy;
pub use target::{Target, TargetError};

/// What happens to a request no rule matches (`policy.default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultEffect {
    /// Forwarded.
    Allow,
    /// Hidden (answered as unknown), except the lifecycle of a session ([`is_lifecycle`]).
    Deny,
}

/// What a rule applies to: names matched by [`Glob`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `tools/call` of a tool whose name matches.
    Tools(Vec<Glob>),
    /// `prompts/get` of a prompt whose name matches.
    Prompts(Vec<Glob>),
    /// `resources/read` of a URI that matches.
    Resources(Vec<Glob>),
    /// Any request whose JSON-RPC method matches (`resources/subscribe`, `logging/*`, ...).
    Methods(Vec<Glob>),
}

impl Selector {
    /// Whether `target` is one this selector names.
    pub fn matches(&self, target: &Target<'_>) -> bool {
        let any = |globs: &[Glob], name: &str| globs.iter().any(|g| g.matches(name));
        match (self, target) {
            (Selector::Tools(globs), Target::Tool(name))
            | (Selector::Prompts(globs), Target::Prompt(name))
            | (Selector::Resources(globs), Target::Resource(name)) => any(globs, name),
            (Selector::Methods(globs), target) => any(globs, target.method()),
            _ => false,
        }
    }

    /// The patterns, whatever they select.
    pub fn patterns(&self) -> &[Glob] {
        match self {
            Selector::Tools(globs)
            | Selector::Prompts(globs)
            | Selector::Resources(globs)
            | Selector::Methods(globs) => globs,
        }
    }

    /// The config key of this kind of selector: `tools`, `prompts`, `resources` or `methods`.
    pub fn kind(&self) -> &'static str {
        match self {
            Selector::Tools(_) => "tools",
            Selector::Prompts(_) => "prompts",
            Selector::Resources(_) => "resources",
            Selector::Methods(_) => "methods",
        }
    }
}

/// What a matching rule decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// Allowed to anyone who passed authentication.
    Allow,
    /// Refused and hidden.
    Deny,
    /// Allowed to a token whose claims match `claims` (else 403) and that was granted every
    /// one of `scopes`, directly or through the hierarchy (else a step-up challenge).
    Token {
        /// Scopes the call needs.
        scopes: Vec<String>,
        /// Claim rules (value rules only; scopes are the field above).
        claims: ClaimRules,
    },
}

impl Requirement {
    /// [`Requirement::Token`].
    pub fn token(scopes: Vec<String>, claims: ClaimRules) -> Self {
        Requirement::Token { scopes, claims }
    }
}

/// One rule: a selector and what it requires.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// What the rule applies to.
    pub selector: Selector,
    /// What it decides.
    pub requirement: Requirement,
}

impl Rule {
    /// A rule.
    pub fn new(selector: Selector, requirement: Requirement) -> Self {
        Self {
            selector,
            requirement,
        }
    }
}

/// The caller as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Scopes the token was granted (none for an anonymous caller).
    pub scopes: &'a [String],
    /// The token's verified claims (`None` for an anonymous caller: every claim rule fails).
    pub claims: Option<&'a Map<String, Value>>,
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it. `rule` is the index of the rule that allowed it (`None`: the default, or a
    /// lifecycle message under `default: deny`).
    Allow {
        /// The deciding rule.
        rule: Option<usize>,
    },
    /// The token lacks scopes the rule needs: answer with a step-up challenge naming
    /// `scopes` (every scope of the rule, as the MCP authorization spec asks).
    StepUp {
        /// The deciding rule.
        rule: usize,
        /// The scopes to ask for.
        scopes: Vec<String>,
    },
    /// The token's claims do not match the rule: 403, no challenge (another token of the same
    /// caller would not do better).
    Forbidden {
        /// The deciding rule.
        rule: usize,
    },
    /// Denied by a `deny` rule (`rule`) or by `default: deny` (`None`): answer as if the tool,
    /// prompt, resource or method did not exist.
    Hidden {
        /// The deciding rule.
        rule: Option<usize>,
    },
}

impl Decision {
    /// The `decision` label of smcp's policy metrics: `allow`, `step_up`, `claims`, `deny` or
    /// `default_deny`.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Allow { .. } => "allow",
            Decision::StepUp { .. } => "step_up",
            Decision::Forbidden { .. } => "claims",
            Decision::Hidden { rule: Some(_) } => "deny",
            Decision::Hidden { rule: None } => "default_deny",
        }
    }

    /// Whether the request goes to the backend.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// Whether a list should show the entry: what the caller may use or may step up to.
    pub fn is_visible(&self) -> bool {
        matches!(self, Decision::Allow { .. } | Decision::StepUp { .. })
    }
}

/// Methods `default: deny` never refuses: the lifecycle of a session and the listings (which a
/// proxy filters instead of refusing).
pub fn is_lifecycle(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "ping"
            | "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
    ) || method.starts_with("notifications/")
}

/// A backend's policy: rules in order, then the default.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    default: DefaultEffect,
    rules: Vec<Rule>,
}

impl Policy {
    /// A policy; the first rule that matches a request decides it.
    pub fn new(default: DefaultEffect, rules: Vec<Rule>) -> Self {
        Self { default, rules }
    }

    /// The default.
    pub fn default_effect(&self) -> DefaultEffect {
        self.default
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every scope a rule names (for `scopes_supported` in protected-resource metadata).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .flat_map(|rule| match &rule.requirement {
                Requirement::Token { scopes, .. } => scopes.as_slice(),
                _ => &[],
            })
            .map(String::as_str)
    }

    /// Decides one request.
    pub fn decide(
        &self,
        target: &Target<'_>,
        caller: &Caller<'_>,
        hierarchy: &ScopeHierarchy,
    ) -> Decision {
        let Some((index, rule)) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.selector.matches(target))
        else {
            return match self.default {
                DefaultEffect::Allow => Decision::Allow { rule: None },
                DefaultEffect::Deny if is_lifecycle(target.method()) => {
                    Decision::Allow { rule: None }
                }
                DefaultEffect::Deny => Decision::Hidden { rule: None },
            };
        };
        match &rule.requirement {
            Requirement::Allow => Decision::Allow { rule: Some(index) },
            Requirement::Deny => Decision::Hidden { rule: Some(index) },
            Requirement::Token { scopes, claims } => {
                let claims_match = match caller.claims {
                    Some(token) => claims.claims_match(token),
                    None => claims.rules().next().is_none(),
                };
                if !claims_match {
                    return Decision::Forbidden { rule: index };
                }
                let granted = hierarchy.expand(caller.scopes);
                if scopes.iter().all(|scope| granted.contains(scope.as_str())) {
                    Decision::Allow { rule: Some(index) }
                } else {
                    Decision::StepUp {
                        rule: index,
                        scopes: scopes.clone(),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
