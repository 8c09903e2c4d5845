//! Construction errors: each names the offending prefix as given and its index.

use smcp_router::{RouteTable, RouteTableError};

fn build(prefixes: &[&str]) -> Result<RouteTable<usize>, RouteTableError> {
    RouteTable::new(prefixes.iter().enumerate().map(|(i, p)| (*p, i)))
}

#[test]
fn invalid_prefixes_name_prefix_and_index() {
    let err = build(&["/ok", "relative"]).unwrap_err();
    assert_eq!(
        err,
        RouteTableError::NotAbsolute {
            index: 1,
            prefix: "relative".into()
        }
    );
    assert_eq!(
        err.to_string(),
        r#"route prefix #1 "relative" must start with '/'"#
    );

    let err = build(&["/ok", "/a", "/q?x=1"]).unwrap_err();
    assert_eq!(
        err,
        RouteTableError::QueryOrFragment {
            index: 2,
            prefix: "/q?x=1".into()
        }
    );

    let err = build(&["/a b"]).unwrap_err();
    assert!(matches!(err, RouteTableError::InvalidChar { index: 0, .. }));

    let err = build(&["/a", "/b//c"]).unwrap_err();
    assert_eq!(
        err,
        RouteTableError::EmptySegment {
            index: 1,
            prefix: "/b//c".into()
        }
    );
    assert!(err.to_string().contains("\"/b//c\""), "{err}");

    let err = build(&["/a/../b"]).unwrap_err();
    assert_eq!(
        err,
        RouteTableError::DotSegment {
            index: 0,
            prefix: "/a/../b".into()
        }
    );
    assert!(err.to_string().contains("#0"), "{err}");
}

#[test]
fn duplicates_after_normalisation_are_refused() {
    let err = build(&["/v1/opus", "/v1", "/v1/opus/"]).unwrap_err();
    assert_eq!(
        err,
        RouteTableError::Duplicate {
            index: 2,
            prefix: "/v1/opus/".into(),
            first_index: 0,
            normalized: "/v1/opus".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        r#"route prefix #2 "/v1/opus/" duplicates prefix #0 (both are "/v1/opus")"#
    );

    let err = build(&["/", "/a", "/"]).unwrap_err();
    assert!(matches!(
        err,
        RouteTableError::Duplicate {
            index: 2,
            first_index: 0,
            ..
        }
    ));

    let err = build(&["/same", "/same"]).unwrap_err();
    assert!(matches!(
        err,
        RouteTableError::Duplicate {
            index: 1,
            first_index: 0,
            ..
        }
    ));
}

#[test]
fn the_first_problem_is_reported() {
    let err = build(&["/a", "bad", "/a"]).unwrap_err();
    assert!(matches!(err, RouteTableError::NotAbsolute { index: 1, .. }));
}

#[test]
fn near_duplicates_are_distinct_routes() {
    // Case, also of percent-escapes, is significant: these are four different prefixes.
    let table = build(&["/a", "/A", "/%2A", "/a/a"]).expect("distinct prefixes");
    assert_eq!(table.len(), 4);
    assert_eq!(table.lookup("/A/x").map(|r| *r.value()), Some(1));
    assert_eq!(table.lookup("/%2A").map(|r| *r.value()), Some(2));
}

#[test]
fn prefixes_outside_request_path_normal_form_are_refused() {
    use smcp_router::{PathRefusal, PrefixRefusal, normalize_prefix};
    let cases = [
        ("/a;b", PathRefusal::Semicolon),
        ("/a\\b", PathRefusal::Backslash),
        ("/%2e%2e", PathRefusal::EncodedUnreserved),
        ("/v1/%41/", PathRefusal::EncodedUnreserved),
        ("/a%2Fb", PathRefusal::EncodedDelimiter),
        ("/a%2", PathRefusal::BadEscape),
        ("/a%C0%AE", PathRefusal::InvalidUtf8),
        ("/caf\u{e9}", PathRefusal::Unprintable),
    ];
    for (prefix, refusal) in cases {
        assert_eq!(
            build(&["/ok", prefix]).unwrap_err(),
            RouteTableError::NotNormalForm {
                index: 1,
                prefix: prefix.to_owned(),
                refusal
            },
            "{prefix:?}"
        );
        assert_eq!(
            normalize_prefix(prefix),
            Err(PrefixRefusal::NotNormalForm(refusal)),
            "{prefix:?}"
        );
    }
    let err = build(&["/a;b"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"route prefix #0 "/a;b" is not in request-path normal form: the path may not contain ';'"#
    );
    for prefix in ["/caf%C3%A9/", "/a%20b", "/%2A", "/x-y_z.~/v1"] {
        assert!(build(&[prefix]).is_ok(), "{prefix:?}");
    }
}
