//! Writes `docs/benchmarks.md`: targets first, then every load row grouped by scenario, the
//! criterion estimates, the machine and versions, the commands, and the hand-written analysis
//! (`benches/compare/analysis.md`), all from one run.

use std::fmt::Write as _;

use super::model::Inputs;
use super::targets::{self, human_ns};
use crate::load::Report;

/// What each scenario group is.
const GROUPS: &[(&str, &str)] = &[
    (
        "echo-8x16",
        "stdio backend, the fast echo server (`echo-mcp-stdio`): 8 sessions x 16 `tools/call` in flight",
    ),
    (
        "echo-1x1",
        "stdio backend, the fast echo server: 1 session x 1 call in flight (latency)",
    ),
    (
        "everything-8x16",
        "stdio backend, npm `@modelcontextprotocol/server-everything` (`echo` tool): 8 sessions x 16 in flight",
    ),
    (
        "http-8x16",
        "HTTP backend, the fast echo server over Streamable HTTP (`echo-mcp-http`): 8 sessions x 16 in flight",
    ),
    (
        "http-8x16-20k",
        "HTTP backend, `echo-mcp-http`: 8 sessions x 16 slots, paced to a fixed 20,000 calls/s in \
         all (about a third of what the fastest proxy here sustains): latency added without queueing",
    ),
    (
        "http-1x1",
        "HTTP backend, `echo-mcp-http`: 1 session x 1 call in flight (latency)",
    ),
    (
        "scale-1000x1",
        "scale: 1,000 concurrent sessions x 1 call in flight on the fast echo server (stdio)",
    ),
];

/// What each target is.
const TARGETS: &[(&str, &str)] = &[
    (
        "raw-stdio",
        "the harness writes to the server's stdin itself: no HTTP, no proxy (the floor)",
    ),
    ("smcp", "smcp-server, `auth.mode: none`"),
    (
        "smcp-oidc",
        "smcp-server, `auth.mode: oidc`, an RS256 bearer token on every request",
    ),
    (
        "smcp-governed",
        "smcp-server, `auth.mode: none`, on the echo backend a 20-rule `policy` (the last rule allows `echo`), a per-caller rate limit that is never hit, and `audit` to a file",
    ),
    (
        "supergateway",
        "npm supergateway, `--outputTransport streamableHttp --stateful` (one child per session)",
    ),
    (
        "mcp-proxy",
        "PyPI mcp-proxy, server mode at `/mcp` (one shared child for all sessions)",
    ),
    ("direct", "the harness calls `echo-mcp-http` directly"),
    (
        "nginx",
        "nginx-light as a plain reverse proxy (keep-alive upstream, buffering off)",
    ),
];

fn describe<'a>(table: &'a [(&str, &str)], key: &str) -> &'a str {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, v)| *v)
}

fn split(label: &str) -> (&str, &str) {
    label.split_once('/').unwrap_or((label, ""))
}

fn kb(v: Option<u64>) -> String {
    v.map_or("-".to_owned(), |kb| {
        format!("{:.1} MiB", kb as f64 / 1024.0)
    })
}

fn ms(us: f64) -> String {
    if us >= 100_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else if us >= 1_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.0} us")
    }
}

/// The whole page.
pub fn render(inputs: &Inputs, chart_file: &str, analysis: &str) -> String {
    let mut md = String::new();
    let meta = &inputs.meta;
    let _ = writeln!(md, "# smcp benchmarks\n");
    let _ = writeln!(
        md,
        "Every number on this page comes from one run of `bash benches/compare/run.sh` \
         (`just bench-compare`) on {}, on the machine described [below](#machine-and-versions). \
         The page is generated: rerun the script instead of editing it.\n",
        if meta.date.is_empty() {
            "an unrecorded date"
        } else {
            &meta.date
        }
    );
    let _ = writeln!(
        md,
        "![calls/s and p99 latency of every run]({chart_file})\n"
    );

    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "Ratios are between rows of this same run.\n");
    let _ = writeln!(md, "| target | bound | measured | met |");
    let _ = writeln!(md, "|---|---|---|---|");
    for check in targets::checks(inputs) {
        let met = match check.met {
            _ if check.info => "(reported)",
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            check.target, check.bound, check.measured, met
        );
    }
    md.push('\n');

    let _ = writeln!(md, "## Load results\n");
    let _ = writeln!(
        md,
        "`smcp-load` opens the sessions (`initialize`, `notifications/initialized`), then each \
         in-flight slot POSTs `tools/call` of `echo` on its own keep-alive connection (raw-stdio: \
         writes lines to the child). Calls sent during the warm-up are not recorded. Latency is \
         from sending to the complete reply (JSON or SSE). \"Proxy\" figures are the measured \
         process's own (`/proc/<pid>`: `VmHWM`, `utime+stime`), children excluded; children are \
         counted apart. \"Peak private\" is the highest `RssAnon` (heap, stacks: the memory the \
         process itself holds) sampled every 20 ms over warm-up and window; the rest of the peak \
         RSS is file pages of the executable and libraries, shared and evictable. MB are 10^6 \
         bytes, MiB 2^20.\n"
    );
    for (key, text) in TARGETS {
        let _ = writeln!(md, "- **{key}**: {text}");
    }
    md.push('\n');
    let mut groups: Vec<&str> = Vec::new();
    for run in &inputs.runs {
        let (group, _) = split(&run.label);
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    for group in groups {
        let _ = writeln!(md, "### {group}\n");
        let text = describe(GROUPS, group);
        if !text.is_empty() {
            let _ = writeln!(md, "{text}.\n");
        }
        let scale = group.starts_with("scale");
        if scale {
            let _ = writeln!(
                md,
                "| target | calls/s | p50 | p99 | max | errors | setup | proxy RSS: before -> connections open -> sessions open | per connection | per idle session | proxy peak RSS | children (RSS) |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        } else {
            let _ = writeln!(
                md,
                "| target | calls/s | p50 | p90 | p99 | max | errors | proxy peak RSS (peak private) | proxy CPU / call | children (RSS) |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
        }
        for run in inputs.runs.iter().filter(|r| split(&r.label).0 == group) {
            row(&mut md, run, scale);
        }
        md.push('\n');
    }
    if !meta.skipped.is_empty() {
        let _ = writeln!(md, "Not measured in this run:\n");
        for (label, why) in &meta.skipped {
            let _ = writeln!(md, "- `{label}`: {why}");
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Micro-benchmarks (criterion)\n");
    if inputs.criterion.is_empty() {
        let _ = writeln!(md, "No criterion estimates were found for this run.\n");
    } else {
        let _ = writeln!(md, "| benchmark | mean | median | throughput |");
        let _ = writeln!(md, "|---|---|---|---|");
        for e in inputs.criterion.values() {
            let throughput = e.bytes.map_or("-".to_owned(), |b| {
                format!(
                    "{:.0} MiB/s",
                    b as f64 / (e.mean_ns / 1e9) / (1024.0 * 1024.0)
                )
            });
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} |",
                e.id,
                human_ns(e.mean_ns),
                human_ns(e.median_ns),
                throughput
            );
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Machine and versions\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (k, v) in meta
        .machine
        .iter()
        .chain(&meta.versions)
        .chain(&meta.settings)
    {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    if let Some(elapsed) = meta.elapsed_s {
        let _ = writeln!(md, "| whole run | {elapsed:.0} s |");
    }
    md.push('\n');

    let _ = writeln!(md, "## Commands\n");
    let _ = writeln!(
        md,
        "```sh\nbash benches/compare/run.sh     # or: just bench-compare\n```\n\n\
         The script installs what is missing (Debian nginx-light and fonts-dejavu-core, the npm \
         peers pinned in `tests/peers/`, mcp-proxy into `benches/compare/.venv` from the hashed \
         pins of `benches/compare/requirements-mcp-proxy.txt`), builds `smcp-server` and \
         `smcp-benches` in release mode, runs the criterion benches briefly, then every row above, \
         one server at a time, stopping each process it started before the next row. \
         `--only GROUP` reruns some groups; `BENCH_DURATION` and `BENCH_WARMUP` change the window. \
         The commands of this run, in order (paths shortened to the repository):\n"
    );
    if !meta.commands.is_empty() {
        let _ = writeln!(
            md,
            "<details><summary>every command of this run</summary>\n\n```text"
        );
        for (name, command) in &meta.commands {
            let _ = writeln!(md, "{name}: {command}");
        }
        let _ = writeln!(md, "```\n\n</details>\n");
    }

    if !analysis.trim().is_empty() {
        md.push_str(analysis.trim_end());
        md.push('\n');
    }
    md
}

fn row(md: &mut String, run: &Report, scale: bool) {
    let (_, target) = split(&run.label);
    let children = match (run.children, run.children_rss_kb) {
        (Some(n), Some(rss)) => format!("{n} ({:.0} MiB)", rss as f64 / 1024.0),
        (Some(n), None) => n.to_string(),
        _ => "-".to_owned(),
    };
    let errors = if run.errors == 0 {
        "0".to_owned()
    } else {
        format!(
            "**{}** ({})",
            run.errors,
            run.errors_by_kind
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if scale {
        let per = |v: Option<f64>| v.map_or("-".to_owned(), |k| format!("{k:.1} KiB"));
        let _ = writeln!(
            md,
            "| {target} | {:.0} | {} | {} | {} | {errors} | {:.1} s | {} -> {} -> {} | {} | {} | {} | {children} |",
            run.calls_per_s,
            ms(run.p50_us),
            ms(run.p99_us),
            ms(run.max_us),
            run.setup_s,
            kb(run.rss_before_kb),
            kb(run.rss_conns_kb),
            kb(run.rss_open_kb),
            per(run.per_connection_kb),
            per(run.per_session_kb),
            kb(run.rss_peak_kb),
        );
    } else {
        let cpu = run
            .cpu_us_per_call
            .map_or("-".to_owned(), |us| format!("{us:.1} us"));
        let _ = writeln!(
            md,
            "| {target} | {:.0} | {} | {} | {} | {} | {errors} | {} | {cpu} | {children} |",
            run.calls_per_s,
            ms(run.p50_us),
            ms(run.p90_us),
            ms(run.p99_us),
            ms(run.max_us),
            peak_and_anon(run),
        );
    }
}

/// `20.3 MiB (8.5 MiB)`: peak resident set, and the peak of its private (anonymous) part.
fn peak_and_anon(run: &Report) -> String {
    match run.rss_anon_peak_kb.or(run.rss_anon_end_kb) {
        Some(anon) if run.rss_peak_kb.is_some() => {
            format!("{} ({})", kb(run.rss_peak_kb), kb(Some(anon)))
        }
        _ => kb(run.rss_peak_kb),
    }
}
