//! Claim rules: which claim values a token must (or, when present, may only) carry.
//!
//! A rule names a claim by a dotted path (`realm_access.roles`) and accepts one value or any of
//! a list. Matching understands strings, arrays (any element), space-separated `scope`/`scp`
//! strings, numbers and booleans. Required scopes are kept apart from value rules because their
//! failure is a different answer (`insufficient_scope`, all scopes needed, not any of).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value};
use thiserror::Error;

use crate::error::{AuthError, ClaimProblem};

/// A claim rule that cannot be built from its configuration value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClaimRuleError {
    /// The claim name (path) is empty or has an empty segment.
    #[error("claim name `{0}` is empty or has an empty path segment")]
    BadName(String),
    /// The rule's list of accepted values is empty (it could never match).
    #[error("claim `{0}`: the list of accepted values is empty")]
    EmptyList(String),
    /// A value is not a string, number or boolean (objects, nulls and nested lists are not
    /// accepted values).
    #[error("claim `{0}`: accepted values must be strings, numbers or booleans")]
    Unsupported(String),
}

/// The accepted values of one claim: one value, or a list of which any one suffices.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRule {
    accepted: Vec<Value>,
}

impl ClaimRule {
    /// A rule accepting exactly `value` (a string, number or boolean).
    pub fn one(value: impl Into<Value>) -> Result<Self, ClaimRuleError> {
        Self::from_value(&value.into())
    }

    /// A rule accepting any of `values`.
    pub fn any_of<V: Into<Value>>(
        values: impl IntoIterator<Item = V>,
    ) -> Result<Self, ClaimRuleError> {
        Self::from_value(&Value::Array(values.into_iter().map(Into::into).collect()))
    }

    /// Parses a configuration value: a scalar (one value) or a list of scalars (any of).
    pub fn from_value(value: &Value) -> Result<Self, ClaimRuleError> {
        let accepted = match value {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(ClaimRuleError::EmptyList(String::new()));
                }
                items.clone()
            }
            other => vec![other.clone()],
        };
        if accepted.iter().any(|v| !is_scalar(v)) {
            return Err(ClaimRuleError::Unsupported(String::new()));
        }
        Ok(ClaimRule { accepted })
    }

    /// The accepted values.
    pub fn values(&self) -> &[Value] {
        &self.accepted
    }

    /// Whether the claim value `actual` satisfies this rule. `split_spaces` treats strings as
    /// space-separated lists (for `scope`/`scp`).
    fn matches(&self, actual: &Value, split_spaces: bool) -> bool {
        match actual {
            Value::Array(items) => items
                .iter()
                .any(|item| self.matches_single(item, split_spaces)),
            other => self.matches_single(other, split_spaces),
        }
    }

    fn matches_single(&self, actual: &Value, split_spaces: bool) -> bool {
        match actual {
            Value::String(s) if split_spaces => s
                .split_whitespace()
                .any(|part| self.accepted.iter().any(|e| e.as_str() == Some(part))),
            other => self.accepted.iter().any(|e| scalar_eq(e, other)),
        }
    }
}

impl<'de> Deserialize<'de> for ClaimRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        ClaimRule::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// A set of claim rules plus the scopes a token must carry.
///
/// How a set is applied depends on where it is used: `required_claims` and per-call rules need
/// every claim present and matching; `optional_claims` only check claims that are present (and
/// their scopes only when the token has a `scope`/`scp` claim at all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimRules {
    rules: BTreeMap<String, ClaimRule>,
    required_scopes: Vec<String>,
}

impl ClaimRules {
    /// An empty set (accepts every token).
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from `(claim path, config value)` pairs, e.g. a parsed YAML map.
    pub fn from_values(
        values: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<Self, ClaimRuleError> {
        let mut rules = ClaimRules::new();
        for (claim, value) in values {
            let rule = ClaimRule::from_value(&value).map_err(|e| e.for_claim(&claim))?;
            rules.insert(claim, rule)?;
        }
        Ok(rules)
    }

    /// Adds (or replaces) the rule for `claim` (a dotted path).
    pub fn insert(
        &mut self,
        claim: impl Into<String>,
        rule: ClaimRule,
    ) -> Result<&mut Self, ClaimRuleError> {
        let claim = claim.into();
        if claim.is_empty() || claim.split('.').any(str::is_empty) {
            return Err(ClaimRuleError::BadName(claim));
        }
        self.rules.insert(claim, rule);
        Ok(self)
    }

    /// Builder form of [`ClaimRules::insert`].
    pub fn with(
        mut self,
        claim: impl Into<String>,
        rule: ClaimRule,
    ) -> Result<Self, ClaimRuleError> {
        self.insert(claim, rule)?;
        Ok(self)
    }

    /// Requires every one of `scopes` (from the token's `scope` or `scp` claim).
    pub fn require_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        for scope in scopes {
            let scope = scope.into();
            if !self.required_scopes.contains(&scope) {
                self.required_scopes.push(scope);
            }
        }
        self
    }

    /// The scopes this set requires.
    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// The value rules, by claim path.
    pub fn rules(&self) -> impl Iterator<Item = (&str, &ClaimRule)> {
        self.rules.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The rule for `claim` (a dotted path), if the set has one.
    pub fn get(&self, claim: &str) -> Option<&ClaimRule> {
        self.rules.get(claim)
    }

    /// Whether the set has neither rules nor scopes.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.required_scopes.is_empty()
    }

    /// Whether every value rule's claim is present in `claims` and matches (the required
    /// scopes are not looked at: a caller that decides on scopes itself, such as a per-tool
    /// policy with a scope hierarchy, checks them its own way).
    pub fn claims_match(&self, claims: &Map<String, Value>) -> bool {
        self.rules.iter().all(|(name, rule)| {
            lookup(claims, name).is_some_and(|actual| rule.matches(actual, is_scope_claim(name)))
        })
    }

    /// Every rule's claim must be present and match; every required scope must be granted.
    pub(crate) fn check_required(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        for (name, rule) in &self.rules {
            match lookup(claims, name) {
                None => {
                    return Err(AuthError::Claims {
                        claim: name.clone(),
                        problem: ClaimProblem::Missing,
                    });
                }
                Some(actual) if !rule.matches(actual, is_scope_claim(name)) => {
                    return Err(AuthError::Claims {
                        claim: name.clone(),
                        problem: ClaimProblem::Mismatch,
                    });
                }
                Some(_) => {}
            }
        }
        self.check_scopes(claims, true)
    }

    /// Every rule's claim, when present, must match; scopes are checked only when the token
    /// carries a `scope` or `scp` claim.
    pub(crate) fn check_optional(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        for (name, rule) in &self.rules {
            if let Some(actual) = lookup(claims, name)
                && !rule.matches(actual, is_scope_claim(name))
            {
                return Err(AuthError::Claims {
                    claim: name.clone(),
                    problem: ClaimProblem::Mismatch,
                });
            }
        }
        self.check_scopes(claims, false)
    }

    fn check_scopes(&self, claims: &Map<String, Value>, required: bool) -> Result<(), AuthError> {
        if self.required_scopes.is_empty() {
            return Ok(());
        }
        if !required && lookup(claims, "scope").is_none() && lookup(claims, "scp").is_none() {
            return Ok(());
        }
        let granted = token_scopes(claims);
        if self.required_scopes.iter().all(|s| granted.contains(s)) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                needed: self.required_scopes.clone(),
            })
        }
    }
}

impl<'de> Deserialize<'de> for ClaimRules {
    /// Deserializes a map of claim path to value or list; `null` (an empty YAML section) is an
    /// empty set.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Option::<BTreeMap<String, Value>>::deserialize(deserializer)?;
        ClaimRules::from_values(map.unwrap_or_default()).map_err(serde::de::Error::custom)
    }
}

impl ClaimRuleError {
    /// Fills in the claim name for errors raised before the name was known.
    fn for_claim(self, claim: &str) -> Self {
        match self {
            ClaimRuleError::EmptyList(_) => ClaimRuleError::EmptyList(claim.to_owned()),
            ClaimRuleError::Unsupported(_) => ClaimRuleError::Unsupported(claim.to_owned()),
            other => other,
        }
    }
}

/// The scopes granted by a token: `scope` and `scp`, each a space-separated string or an array
/// of strings, deduplicated in order.
pub(crate) fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for name in ["scope", "scp"] {
        let strings: Vec<&str> = match claims.get(name) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for part in strings.into_iter().flat_map(str::split_whitespace) {
            if !scopes.iter().any(|s| s == part) {
                scopes.push(part.to_owned());
            }
        }
    }
    scopes
}

/// Finds a claim by name: the exact top-level key first (claim names may contain dots, e.g.
/// URL-named claims), then a dotted path into nested objects, where a key may itself contain
/// dots (`resource_access.my.client.roles`). A `null` value counts as absent.
pub(crate) fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let found = walk(claims, path, 0)?;
    (!found.is_null()).then_some(found)
}

/// Nesting bound: configured paths are short, and this keeps the search trivially bounded.
const MAX_DEPTH: usize = 8;

fn walk<'a>(object: &'a Map<String, Value>, rest: &str, depth: usize) -> Option<&'a Value> {
    if let Some(value) = object.get(rest) {
        return Some(value);
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    for (i, _) in rest.match_indices('.') {
        if let Some(Value::Object(inner)) = object.get(&rest[..i])
            && let Some(found) = walk(inner, &rest[i + 1..], depth + 1)
        {
            return Some(found);
        }
    }
    None
}

fn is_scope_claim(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    last == "scope" || last == "scp"
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// Compares an accepted value with a claim value. A string accepted value also matches a number
/// or boolean with the same text, because environment overrides can only produce strings.
fn scalar_eq(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => number_eq(a, b),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::String(a), Value::Number(b)) => {
            a.trim().parse::<Number>().is_ok_and(|a| number_eq(&a, b))
        }
        (Value::String(a), Value::Bool(b)) => a.trim() == if *b { "true" } else { "false" },
        _ => false,
    }
}

fn number_eq(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
