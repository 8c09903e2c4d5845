//! Route lookup plus strip (`smcp-router`) at 10, 100 and 1,000 backends.
//!
//! Backends are `/v1/svc{i}`, and every tenth also has a nested `/v1/svc{i}/admin`, so
//! longest-prefix matching is exercised. Paths cover a shallow hit, a deep hit with a query,
//! a nested (longest) hit, a hit whose stripped path must be allocated (`/?q`), a near miss
//! (`/v1/svc5x`), a deep miss, and a 2 KiB miss that checks the work stays bounded.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use smcp_router::RouteTable;

/// A table with `backends` routes (plus the nested admin ones); values are the indices.
fn table(backends: usize) -> RouteTable<usize> {
    let mut prefixes = Vec::with_capacity(backends + backends / 10);
    for i in 0..backends {
        prefixes.push(format!("/v1/svc{i}"));
        if i % 10 == 0 {
            prefixes.push(format!("/v1/svc{i}/admin"));
        }
    }
    match RouteTable::new(prefixes.into_iter().enumerate().map(|(i, p)| (p, i))) {
        Ok(table) => table,
        Err(err) => unreachable!("generated prefixes are valid: {err}"),
    }
}

/// `(name, path_and_query, expected to match)` for a table of `backends` routes.
fn paths(backends: usize) -> Vec<(&'static str, String, bool)> {
    let mid = backends / 2;
    let nested = (backends / 20) * 10;
    vec![
        ("hit_shallow", format!("/v1/svc{mid}/mcp"), true),
        (
            "hit_deep_query",
            format!("/v1/svc{mid}/a/b/c/d/e/f?cursor=abc&x=1"),
            true,
        ),
        ("hit_nested", format!("/v1/svc{nested}/admin/users/7"), true),
        ("hit_exact_query_alloc", format!("/v1/svc{mid}?q=1"), true),
        ("miss_near", format!("/v1/svc{mid}x/mcp"), false),
        ("miss_deep", "/v2/a/b/c/d/e/f/g/h/i/j".to_owned(), false),
        (
            "miss_long_2k",
            format!("/v2{}", "/segment".repeat(256)),
            false,
        ),
    ]
}

fn route_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup_strip");
    for backends in [10, 100, 1_000] {
        let table = table(backends);
        for (name, path, hits) in paths(backends) {
            assert_eq!(table.lookup(&path).is_some(), hits, "{name} at {backends}");
            group.bench_with_input(BenchmarkId::new(name, backends), &path, |b, path| {
                b.iter(|| {
                    table
                        .lookup(black_box(path))
                        .map(|route| route.forward_path(true).len())
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, route_lookup);
criterion_main!(benches);
