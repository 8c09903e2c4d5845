//! Which entries of a `*/list` result a caller sees: what they may use or may step up to
//! ([`crate::Decision::is_visible`]). The proxy finds the list reply and its bytes; this module
//! judges the entries of one parsed `result`, so that the rule lives with the decisions.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{Caller, Policy, ScopeHierarchy, Target};

/// Which list a request asks for: the member of `result` that holds it, and the field of an
/// entry that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `tools/list`: `result.tools[].name`.
    Tools,
    /// `prompts/list`: `result.prompts[].name`.
    Prompts,
    /// `resources/list`: `result.resources[].uri`.
    Resources,
    /// `resources/templates/list`: `result.resourceTemplates[].uriTemplate`.
    ResourceTemplates,
}

impl ListKind {
    /// Every kind, in the order a reply's shape is tried.
    pub const ALL: [ListKind; 4] = [
        ListKind::Tools,
        ListKind::Prompts,
        ListKind::Resources,
        ListKind::ResourceTemplates,
    ];

    /// The list `method` asks for, if it is one of the list methods.
    pub fn of(method: &str) -> Option<Self> {
        Some(match method {
            "tools/list" => Self::Tools,
            "prompts/list" => Self::Prompts,
            "resources/list" => Self::Resources,
            "resources/templates/list" => Self::ResourceTemplates,
            _ => return None,
        })
    }

    /// The member of `result` that holds the list.
    pub fn member(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Prompts => "prompts",
            Self::Resources => "resources",
            Self::ResourceTemplates => "resourceTemplates",
        }
    }

    /// The field of an entry that names it.
    pub fn key(self) -> &'static str {
        match self {
            Self::Tools | Self::Prompts => "name",
            Self::Resources => "uri",
            Self::ResourceTemplates => "uriTemplate",
        }
    }

    /// What a call of the entry `name` would ask for.
    pub fn target(self, name: &str) -> Target<'_> {
        match self {
            Self::Tools => Target::Tool(name.into()),
            Self::Prompts => Target::Prompt(name.into()),
            Self::Resources | Self::ResourceTemplates => Target::Resource(name.into()),
        }
    }
}

impl Policy {
    /// The JSON-RPC response `bytes` with its `kind` list (`None`: whichever list its
    /// `result` holds, judged by shape) cut to what `caller` may see: entries hidden (`deny`,
    /// `default: deny`), refused on claims, or without a string name (they cannot be judged)
    /// are removed. `None` when nothing is removed, or `bytes` is not such a response: the
    /// reply then passes as it is.
    ///
    /// Entries that stay are copied as the backend wrote them; only the objects around the
    /// list (the response and its `result`) are written anew, their members in sorted order
    /// (`nextCursor` and everything else kept). Nothing but the entries' names is parsed
    /// into values, so the cost is one scan of the reply.
    pub fn filter_response(
        &self,
        bytes: &[u8],
        kind: Option<ListKind>,
        caller: &Caller<'_>,
        hierarchy: &ScopeHierarchy,
    ) -> Option<Vec<u8>> {
        let response: Members<'_> = serde_json::from_slice(bytes).ok()?;
        let result_raw = *response.get("result")?;
        let result: Members<'_> = serde_json::from_str(result_raw.get()).ok()?;
        let kind = match kind {
            Some(kind) => kind,
            None => ListKind::ALL.into_iter().find(|kind| {
                result
                    .get(kind.member())
                    .is_some_and(|list| list.get().starts_with('['))
            })?,
        };
        let list: Vec<&RawValue> = serde_json::from_str(result.get(kind.member())?.get()).ok()?;
        let kept: Vec<&RawValue> = list
            .iter()
            .copied()
            .filter(|entry| {
                entry_name(entry, kind).is_some_and(|name| {
                    self.decide(&kind.target(&name), caller, hierarchy)
                        .is_visible()
                })
            })
            .collect();
        if kept.len() == list.len() {
            return None;
        }
        let mut out = Vec::with_capacity(bytes.len());
        write_object(&mut out, &response, |out, key, _| {
            if key != "result" {
                return false;
            }
            write_object(out, &result, |out, key, _| {
                if key != kind.member() {
                    return false;
                }
                out.push(b'[');
                for (i, entry) in kept.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(entry.get().as_bytes());
                }
                out.push(b']');
                true
            });
            true
        });
        Some(out)
    }
}

/// An object's members, values left as their JSON text.
type Members<'a> = BTreeMap<String, &'a RawValue>;

/// Writes `members` as an object; `replace` may write a member's value itself (and say so)
/// instead of its JSON text being copied.
fn write_object(
    out: &mut Vec<u8>,
    members: &Members<'_>,
    mut replace: impl FnMut(&mut Vec<u8>, &str, &RawValue) -> bool,
) {
    out.push(b'{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // A string key always serialises.
        let _ = serde_json::to_writer(&mut *out, key);
        out.push(b':');
        if !replace(out, key, value) {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    out.push(b'}');
}

/// The name of a list entry (`name`, `uri` or `uriTemplate`), when it is a string.
fn entry_name<'a>(entry: &'a RawValue, kind: ListKind) -> Option<Cow<'a, str>> {
    #[derive(Deserialize)]
    struct Entry<'a> {
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        uri: Option<Cow<'a, str>>,
        #[serde(borrow, rename = "uriTemplate")]
        uri_template: Option<Cow<'a, str>>,
    }
    let entry: Entry<'a> = serde_json::from_str(entry.get()).ok()?;
    match kind {
        ListKind::Tools | ListKind::Prompts => entry.name,
        ListKind::Resources => entry.uri,
        ListKind::ResourceTemplates => entry.uri_template,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::ListKind;
    use crate::{
        Caller, ClaimRules, DefaultEffect, Glob, Policy, Requirement, Rule, ScopeHierarchy,
        Selector,
    };

    #[test]
    fn only_what_may_be_used_or_stepped_up_to_stays_listed() {
        let policy = Policy::new(
            DefaultEffect::Deny,
            vec![
                Rule::new(Selector::Tools(vec![Glob::new("echo")]), Requirement::Allow),
                Rule::new(
                    Selector::Tools(vec![Glob::new("write-*")]),
                    Requirement::token(vec!["mcp:write".into()], ClaimRules::new()),
                ),
            ],
        );
        let reply = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}},{"name":"write-file"},{"name":"secret"},{"title":"no name"},{"name":"wri\u0074e-x"}],"nextCursor":"c2"}}"#;
        let caller = Caller {
            scopes: &[],
            claims: None,
        };
        let hierarchy = ScopeHierarchy::new();
        let filtered = policy
            .filter_response(reply, Some(ListKind::Tools), &caller, &hierarchy)
            .unwrap();
        let filtered: serde_json::Value = serde_json::from_slice(&filtered).unwrap();
        assert_eq!(
            filtered,
            json!({"jsonrpc": "2.0", "id": 3, "result": {"tools": [
                {"name": "echo", "inputSchema": {"type": "object"}},
                {"name": "write-file"}, {"name": "write-x"}], "nextCursor": "c2"}})
        );
        // By shape, the same; nothing to remove, or no list: the reply passes as it is.
        assert!(
            policy
                .filter_response(reply, None, &caller, &hierarchy)
                .is_some()
        );
        let clean = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"echo"}]}}"#;
        assert_eq!(
            policy.filter_response(clean, None, &caller, &hierarchy),
            None
        );
        let other = br#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#;
        assert_eq!(
            policy.filter_response(other, None, &caller, &hierarchy),
            None
        );
        assert_eq!(
            policy.filter_response(b"not json", None, &caller, &hierarchy),
            None
        );
        assert_eq!(
            ListKind::of("resources/templates/list"),
            Some(ListKind::ResourceTemplates)
        );
        assert_eq!(ListKind::of("tools/call"), None);
    }
}
