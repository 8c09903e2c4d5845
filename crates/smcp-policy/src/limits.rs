//! A backend's rate limits: one per caller (`policy.rate_limit`), one per caller and tool
//! pattern (`policy.tool_rate_limits`), one per caller and rule (a rule's `rate_limit`).
//!
//! A caller is a `u64` key the proxy derives (a keyed hash of the token's issuer and subject,
//! or of the client address for an anonymous caller), so a bucket costs the same whatever a
//! stranger puts in a token. A tool pattern's bucket is shared by every tool it matches (one
//! budget per pattern, so a glob cannot be used to multiply buckets); a tool several patterns
//! match takes from each.

use std::time::{Duration, Instant};

use crate::Glob;
use crate::Target;
use crate::rate::{Limit, RateLimiter};

/// Which limit a request went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// `policy.rate_limit`.
    Principal,
    /// An entry of `policy.tool_rate_limits`.
    Tool,
    /// A rule's `rate_limit`.
    Rule,
}

impl LimitKind {
    /// The `limit` label of smcp's rate-limit metrics: `principal`, `tool` or `rule`.
    pub fn label(self) -> &'static str {
        match self {
            LimitKind::Principal => "principal",
            LimitKind::Tool => "tool",
            LimitKind::Rule => "rule",
        }
    }
}

/// A request over one of its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    /// Which limit.
    pub kind: LimitKind,
    /// Its shape.
    pub limit: Limit,
    /// When the caller may try again.
    pub retry_after: Duration,
}

/// How checking a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitCheck {
    /// Allowed, or the first limit it went over.
    pub result: Result<(), Exceeded>,
    /// Some bucket was full of callers and this one shared the overflow bucket.
    pub overflowed: bool,
}

/// What a backend's rate limits are (the configuration): [`Limits`] are built from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    /// Per caller (`policy.rate_limit`).
    pub per_principal: Option<Limit>,
    /// Per caller and tool pattern (`policy.tool_rate_limits`).
    pub tools: Vec<(Glob, Limit)>,
    /// Per caller and rule: the rule's index and its limit.
    pub rules: Vec<(usize, Limit)>,
    /// How many callers each limit tracks at most (`policy.rate_limit.max_principals`).
    pub max_callers: usize,
}

/// The default bound on callers tracked per limit.
pub const DEFAULT_MAX_CALLERS: usize = 10_000;

impl Default for LimitSpec {
    fn default() -> Self {
        Self {
            per_principal: None,
            tools: Vec::new(),
            rules: Vec::new(),
            max_callers: DEFAULT_MAX_CALLERS,
        }
    }
}

impl LimitSpec {
    /// Whether there is no limit at all.
    pub fn is_empty(&self) -> bool {
        self.per_principal.is_none() && self.tools.is_empty() && self.rules.is_empty()
    }

    /// The limit of rule `rule`, if it has one.
    pub fn rule_limit(&self, rule: usize) -> Option<Limit> {
        self.rules
            .iter()
            .find(|(index, _)| *index == rule)
            .map(|(_, limit)| *limit)
    }
}

/// A backend's rate limits and their buckets; empty when it has none.
#[derive(Debug, Default)]
pub struct Limits {
    per_principal: Option<RateLimiter<u64>>,
    tools: Vec<(Glob, RateLimiter<u64>)>,
    rules: Vec<(usize, RateLimiter<u64>)>,
}

impl Limits {
    /// Buckets for every limit of `spec`, none used yet.
    pub fn new(spec: &LimitSpec) -> Self {
        let limiter = |limit: &Limit| RateLimiter::new(*limit, spec.max_callers);
        Self {
            per_principal: spec.per_principal.as_ref().map(limiter),
            tools: spec
                .tools
                .iter()
                .map(|(glob, limit)| (glob.clone(), limiter(limit)))
                .collect(),
            rules: spec
                .rules
                .iter()
                .map(|(rule, limit)| (*rule, limiter(limit)))
                .collect(),
        }
    }

    /// Whether there is no limit at all.
    pub fn is_empty(&self) -> bool {
        self.per_principal.is_none() && self.tools.is_empty() && self.rules.is_empty()
    }

    /// How many buckets exist now, over every limit.
    pub fn tracked(&self) -> usize {
        let tools = self.tools.iter().map(|(_, limiter)| limiter);
        let rules = self.rules.iter().map(|(_, limiter)| limiter);
        self.per_principal
            .iter()
            .chain(tools)
            .chain(rules)
            .map(RateLimiter::tracked)
            .sum()
    }

    /// Takes one request of `caller` for `target`, decided by `rule`, from every limit that
    /// applies, in order: the caller's, the tool patterns', the rule's. Stops at the first one
    /// it is over (the ones before it have counted the request).
    pub fn check(
        &self,
        caller: u64,
        target: &Target<'_>,
        rule: Option<usize>,
        now: Instant,
    ) -> LimitCheck {
        let mut overflowed = false;
        let tool = match target {
            Target::Tool(name) => Some(name.as_ref()),
            _ => None,
        };
        let applicable = self
            .per_principal
            .iter()
            .map(|limiter| (LimitKind::Principal, limiter))
            .chain(
                self.tools
                    .iter()
                    .filter(|(glob, _)| tool.is_some_and(|name| glob.matches(name)))
                    .map(|(_, limiter)| (LimitKind::Tool, limiter)),
            )
            .chain(
                self.rules
                    .iter()
                    .filter(|(index, _)| Some(*index) == rule)
                    .map(|(_, limiter)| (LimitKind::Rule, limiter)),
            );
        for (kind, limiter) in applicable {
            let checked = limiter.check(caller, now);
            overflowed |= checked.overflowed;
            if let Err(limited) = checked.result {
                return LimitCheck {
                    result: Err(Exceeded {
                        kind,
                        limit: limiter.limit(),
                        retry_after: limited.retry_after,
                    }),
                    overflowed,
                };
            }
        }
        LimitCheck {
            result: Ok(()),
            overflowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> Limit {
        Limit::new(text.parse().unwrap(), None)
    }

    fn tool(name: &str) -> Target<'_> {
        Target::Tool(name.into())
    }

    #[test]
    fn the_first_limit_a_request_is_over_answers() {
        let limits = Limits::new(&LimitSpec {
            per_principal: Some(limit("3/min")),
            tools: vec![(Glob::new("trigger-*"), limit("1/min"))],
            ..LimitSpec::default()
        });
        let now = Instant::now();
        assert!(
            limits
                .check(1, &tool("trigger-x"), None, now)
                .result
                .is_ok()
        );
        let second = limits.check(1, &tool("trigger-y"), None, now).result;
        assert_eq!(second.unwrap_err().kind, LimitKind::Tool);
        // Other tools still pass until the caller's own limit.
        assert!(limits.check(1, &tool("echo"), None, now).result.is_ok());
        let fourth = limits.check(1, &tool("echo"), None, now).result;
        assert_eq!(fourth.unwrap_err().kind, LimitKind::Principal);
        // Another caller is not affected.
        assert!(
            limits
                .check(2, &tool("trigger-x"), None, now)
                .result
                .is_ok()
        );
    }

    #[test]
    fn a_rule_limit_applies_to_what_that_rule_decides() {
        let spec = LimitSpec {
            rules: vec![(1, limit("1/min"))],
            ..LimitSpec::default()
        };
        let limits = Limits::new(&spec);
        let now = Instant::now();
        let read = Target::Resource("file:///a".into());
        assert!(limits.check(1, &read, Some(1), now).result.is_ok());
        let again = limits.check(1, &read, Some(1), now).result.unwrap_err();
        assert_eq!(
            (again.kind, again.retry_after),
            (LimitKind::Rule, Duration::from_secs(60))
        );
        assert!(limits.check(1, &read, Some(0), now).result.is_ok());
        assert!(limits.check(1, &read, None, now).result.is_ok());
        assert_eq!(spec.rule_limit(1), Some(limit("1/min")));
        assert_eq!(limits.tracked(), 1);
    }

    #[test]
    fn no_limits_allow_everything() {
        let limits = Limits::new(&LimitSpec::default());
        assert!(limits.is_empty());
        let check = limits.check(1, &tool("x"), Some(0), Instant::now());
        assert_eq!((check.result, check.overflowed), (Ok(()), false));
    }
}
