//! Where environment variables come from: the process, or a map in tests.
//!
//! Loading reads the environment for two things, `${VAR}` expansion and `SMCP_PROXY_*`
//! overrides, always through this trait so that tests never touch the process environment.

use std::collections::{BTreeMap, HashMap};

/// A source of environment variables.
pub trait Env {
    /// The value of `name`, or `None` when it is unset (or not valid UTF-8).
    fn var(&self, name: &str) -> Option<String>;

    /// Every variable whose name starts with `prefix`, as `(name, value)` pairs, sorted by
    /// name.
    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)>;
}

/// The environment of the running process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| name.starts_with(prefix))
            .collect();
        vars.sort();
        vars
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = self
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        vars.sort();
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::Env;
    use std::collections::{BTreeMap, HashMap};

    #[test]
    fn maps_are_environments() {
        let pairs = [("SMCP_PROXY_B", "2"), ("SMCP_PROXY_A", "1"), ("HOME", "/h")];
        let btree: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let hash: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let expected = vec![
            ("SMCP_PROXY_A".to_string(), "1".to_string()),
            ("SMCP_PROXY_B".to_string(), "2".to_string()),
        ];
        for env in [&btree as &dyn Env, &hash as &dyn Env] {
            assert_eq!(env.var("HOME").as_deref(), Some("/h"));
            assert_eq!(env.var("NOPE"), None);
            assert_eq!(env.vars_with_prefix("SMCP_PROXY_"), expected);
        }
    }
}
