//! The scope hierarchy (`oidc.scope_hierarchy`): a granted scope implies others, transitively.
//! `{"mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"]}` makes a token with `mcp:admin`
//! pass a rule that needs `mcp:read`. The 2026-07-28 authorization rules make honouring such
//! hierarchies a MUST; a challenge still names the scopes a rule lists, not their parents.

use std::collections::{BTreeMap, BTreeSet};

/// Which scopes each scope implies. Cycles are allowed (they make scopes equivalent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeHierarchy {
    implies: BTreeMap<String, Vec<String>>,
}

impl ScopeHierarchy {
    /// No scope implies another.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hierarchy from `scope -> implied scopes` pairs.
    pub fn from_map(implies: BTreeMap<String, Vec<String>>) -> Self {
        Self { implies }
    }

    /// Each scope and the scopes it implies directly, sorted by scope.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.implies
            .iter()
            .map(|(scope, implied)| (scope.as_str(), implied.as_slice()))
    }

    /// Whether no scope implies another.
    pub fn is_empty(&self) -> bool {
        self.implies.is_empty()
    }

    /// Every scope named in the hierarchy, as a parent or as an implied scope.
    pub fn scopes(&self) -> BTreeSet<&str> {
        self.implies
            .iter()
            .flat_map(|(parent, children)| {
                std::iter::once(parent.as_str()).chain(children.iter().map(String::as_str))
            })
            .collect()
    }

    /// `granted` and everything it implies, transitively.
    pub fn expand<'a>(&'a self, granted: &'a [String]) -> BTreeSet<&'a str> {
        let mut all: BTreeSet<&str> = BTreeSet::new();
        let mut queue: Vec<&str> = granted.iter().map(String::as_str).collect();
        while let Some(scope) = queue.pop() {
            if all.insert(scope)
                && let Some(children) = self.implies.get(scope)
            {
                queue.extend(children.iter().map(String::as_str));
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::ScopeHierarchy;

    fn hierarchy(pairs: &[(&str, &[&str])]) -> ScopeHierarchy {
        ScopeHierarchy::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn a_granted_scope_implies_its_children_transitively_and_cycles_end() {
        let h = hierarchy(&[("mcp:admin", &["mcp:write"]), ("mcp:write", &["mcp:read"])]);
        let granted = vec!["mcp:admin".to_owned()];
        let all = h.expand(&granted);
        assert!(all.contains("mcp:read") && all.contains("mcp:write") && all.contains("mcp:admin"));
        let read_only = vec!["mcp:read".to_owned()];
        assert_eq!(h.expand(&read_only).len(), 1, "implication goes down only");

        let cycle = hierarchy(&[("a", &["b"]), ("b", &["a"])]);
        let granted = vec!["a".to_owned()];
        assert_eq!(cycle.expand(&granted).len(), 2);
    }
}
