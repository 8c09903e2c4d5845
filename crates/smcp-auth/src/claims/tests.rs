//! Unit tests for claim rule parsing and matching.

use serde_json::{Map, Value, json};

use super::{ClaimRule, ClaimRuleError, ClaimRules, lookup, token_scopes};
use crate::error::{AuthError, ClaimProblem};

fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn rules(value: Value) -> ClaimRules {
    serde_json::from_value(value).unwrap()
}

fn mismatch(claim: &str) -> AuthError {
    AuthError::Claims {
        claim: claim.into(),
        problem: ClaimProblem::Mismatch,
    }
}

fn missing(claim: &str) -> AuthError {
    AuthError::Claims {
        claim: claim.into(),
        problem: ClaimProblem::Missing,
    }
}

#[test]
fn string_rule() {
    let r = rules(json!({"tenant": "acme"}));
    assert_eq!(r.check_required(&claims(json!({"tenant": "acme"}))), Ok(()));
    assert_eq!(
        r.check_required(&claims(json!({"tenant": "evil"}))),
        Err(mismatch("tenant"))
    );
    assert_eq!(r.check_required(&claims(json!({}))), Err(missing("tenant")));
    // No substring or case folding.
    assert!(
        r.check_required(&claims(json!({"tenant": "acme-corp"})))
            .is_err()
    );
    assert!(
        r.check_required(&claims(json!({"tenant": "ACME"})))
            .is_err()
    );
}

#[test]
fn list_rule_is_any_of() {
    let r = rules(json!({"tenant": ["acme", "globex"]}));
    assert_eq!(
        r.check_required(&claims(json!({"tenant": "globex"}))),
        Ok(())
    );
    assert_eq!(
        r.check_required(&claims(json!({"tenant": "initech"}))),
        Err(mismatch("tenant"))
    );
}

#[test]
fn array_claim_contains_any() {
    let r = rules(json!({"roles": "admin"}));
    assert_eq!(
        r.check_required(&claims(json!({"roles": ["user", "admin"]}))),
        Ok(())
    );
    assert_eq!(
        r.check_required(&claims(json!({"roles": ["user"]}))),
        Err(mismatch("roles"))
    );
    assert_eq!(
        r.check_required(&claims(json!({"roles": []}))),
        Err(mismatch("roles"))
    );
    let any = rules(json!({"roles": ["admin", "ops"]}));
    assert_eq!(
        any.check_required(&claims(json!({"roles": ["ops", "dev"]}))),
        Ok(())
    );
}

#[test]
fn scope_string_is_split_but_other_strings_are_not() {
    let r = rules(json!({"scope": "mcp:write"}));
    assert_eq!(
        r.check_required(&claims(json!({"scope": "openid mcp:write  email"}))),
        Ok(())
    );
    assert!(
        r.check_required(&claims(json!({"scope": "openid mcp:writer"})))
            .is_err()
    );
    let plain = rules(json!({"group": "a"}));
    assert!(
        plain
            .check_required(&claims(json!({"group": "a b"})))
            .is_err()
    );
}

#[test]
fn scp_array_and_string() {
    let r = rules(json!({"scp": ["tools.read", "tools.all"]}));
    assert_eq!(
        r.check_required(&claims(json!({"scp": ["x", "tools.read"]}))),
        Ok(())
    );
    assert_eq!(
        r.check_required(&claims(json!({"scp": "x tools.all"}))),
        Ok(())
    );
    assert!(r.check_required(&claims(json!({"scp": ["x"]}))).is_err());
}

#[test]
fn numbers() {
    let r = rules(json!({"level": 3}));
    assert_eq!(r.check_required(&claims(json!({"level": 3}))), Ok(()));
    assert_eq!(r.check_required(&claims(json!({"level": 3.0}))), Ok(()));
    assert!(r.check_required(&claims(json!({"level": 4}))).is_err());
    assert!(r.check_required(&claims(json!({"level": "3x"}))).is_err());
    // A string from an environment override matches the number with the same text.
    let text = rules(json!({"level": "3"}));
    assert_eq!(text.check_required(&claims(json!({"level": 3}))), Ok(()));
    let neg = rules(json!({"offset": -2}));
    assert_eq!(neg.check_required(&claims(json!({"offset": -2}))), Ok(()));
}

#[test]
fn booleans() {
    let r = rules(json!({"email_verified": true}));
    assert_eq!(
        r.check_required(&claims(json!({"email_verified": true}))),
        Ok(())
    );
    assert_eq!(
        r.check_required(&claims(json!({"email_verified": false}))),
        Err(mismatch("email_verified"))
    );
    // A boolean rule never matches the string "true" in a token (the token's type is kept).
    assert!(
        r.check_required(&claims(json!({"email_verified": "true"})))
            .is_err()
    );
    let text = rules(json!({"email_verified": "true"}));
    assert_eq!(
        text.check_required(&claims(json!({"email_verified": true}))),
        Ok(())
    );
}

#[test]
fn nested_dotted_paths() {
    let r = rules(json!({"realm_access.roles": "mcp-user"}));
    let ok = claims(json!({"realm_access": {"roles": ["offline", "mcp-user"]}}));
    assert_eq!(r.check_required(&ok), Ok(()));
    let bad = claims(json!({"realm_access": {"roles": ["offline"]}}));
    assert_eq!(r.check_required(&bad), Err(mismatch("realm_access.roles")));
    assert_eq!(
        r.check_required(&claims(json!({"realm_access": "x"}))),
        Err(missing("realm_access.roles"))
    );
    // Keys containing dots, at the top level and nested (Keycloak client ids).
    let url = rules(json!({"https://example.com/tier": "gold"}));
    assert_eq!(
        url.check_required(&claims(json!({"https://example.com/tier": "gold"}))),
        Ok(())
    );
    let client = rules(json!({"resource_access.my.client.roles": "reader"}));
    let nested = claims(json!({"resource_access": {"my.client": {"roles": ["reader"]}}}));
    assert_eq!(client.check_required(&nested), Ok(()));
}

#[test]
fn optional_rules_only_apply_when_present() {
    let r = rules(json!({"tenant": "acme", "realm_access.roles": "x"}));
    assert_eq!(r.check_optional(&claims(json!({}))), Ok(()));
    assert_eq!(r.check_optional(&claims(json!({"tenant": null}))), Ok(()));
    assert_eq!(r.check_optional(&claims(json!({"tenant": "acme"}))), Ok(()));
    assert_eq!(
        r.check_optional(&claims(json!({"tenant": "evil"}))),
        Err(mismatch("tenant"))
    );
    let nested = claims(json!({"realm_access": {"roles": ["y"]}}));
    assert_eq!(
        r.check_optional(&nested),
        Err(mismatch("realm_access.roles"))
    );
}

#[test]
fn required_scopes_need_all() {
    let r = ClaimRules::new().require_scopes(["tools:read", "tools:call"]);
    let needed = AuthError::InsufficientScope {
        needed: vec!["tools:read".into(), "tools:call".into()],
    };
    assert_eq!(
        r.check_required(&claims(json!({"scope": "tools:call tools:read"}))),
        Ok(())
    );
    assert_eq!(
        r.check_required(&claims(json!({"scp": ["tools:read", "tools:call"]}))),
        Ok(())
    );
    assert_eq!(
        r.check_required(&claims(
            json!({"scope": "tools:read", "scp": ["tools:call"]})
        )),
        Ok(())
    );
    assert_eq!(
        r.check_required(&claims(json!({"scope": "tools:read"}))),
        Err(needed.clone())
    );
    assert_eq!(r.check_required(&claims(json!({}))), Err(needed.clone()));
    // Optional: no scope claim at all is fine, a scope claim without them is not.
    assert_eq!(r.check_optional(&claims(json!({}))), Ok(()));
    assert_eq!(
        r.check_optional(&claims(json!({"scope": "openid"}))),
        Err(needed)
    );
}

#[test]
fn token_scopes_merge_and_dedupe() {
    let c = claims(json!({"scope": "a b  a", "scp": ["b", "c d"]}));
    assert_eq!(token_scopes(&c), vec!["a", "b", "c", "d"]);
    assert!(token_scopes(&claims(json!({"scope": 5}))).is_empty());
}

#[test]
fn parse_errors() {
    let empty: Result<ClaimRules, _> = serde_json::from_value(json!({"roles": []}));
    assert!(empty.unwrap_err().to_string().contains("roles"));
    let object = ClaimRules::from_values([("a".to_owned(), json!({"x": 1}))]);
    assert_eq!(object, Err(ClaimRuleError::Unsupported("a".into())));
    let nested = ClaimRules::from_values([("a".to_owned(), json!([["x"]]))]);
    assert_eq!(nested, Err(ClaimRuleError::Unsupported("a".into())));
    let null = ClaimRules::from_values([("a".to_owned(), Value::Null)]);
    assert_eq!(null, Err(ClaimRuleError::Unsupported("a".into())));
    let name = ClaimRules::new().with("a..b", ClaimRule::one("x").unwrap());
    assert_eq!(name, Err(ClaimRuleError::BadName("a..b".into())));
    // An empty YAML section deserialises to an empty set.
    let none: ClaimRules = serde_json::from_value(Value::Null).unwrap();
    assert!(none.is_empty());
}

#[test]
fn builders() {
    let r = ClaimRules::new()
        .with("tenant", ClaimRule::any_of(["a", "b"]).unwrap())
        .unwrap()
        .with("level", ClaimRule::one(2).unwrap())
        .unwrap();
    assert_eq!(r.rules().count(), 2);
    assert_eq!(
        r.check_required(&claims(json!({"tenant": "b", "level": 2}))),
        Ok(())
    );
}

#[test]
fn lookup_treats_null_as_absent() {
    let c = claims(json!({"a": null, "b": {"c": null}}));
    assert!(lookup(&c, "a").is_none());
    assert!(lookup(&c, "b.c").is_none());
    assert!(lookup(&c, "b").is_some());
}
