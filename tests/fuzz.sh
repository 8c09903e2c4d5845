#!/usr/bin/env bash
# Coverage-guided fuzzing of smcp's parsers, as run by CI after the test suite (tests/run.sh).
#
# The targets live in fuzz/ (a standalone crate, outside the workspace, with its own
# Cargo.lock); docs/security.md says what each one asserts. This script
#
# 1. builds every target on the STABLE toolchain: libFuzzer comes from the libfuzzer-sys
#    crate, and SanitizerCoverage from the `-Cpasses=sancov-module` codegen flags below (what
#    `cargo fuzz build --sanitizer none` passes, without needing cargo-fuzz or nightly). It is a
#    release build with debug assertions and overflow checks on; `--target` is explicit so
#    that build scripts and proc macros are not instrumented;
# 2. runs each target for SMCP_FUZZ_SECONDS (default 30) on a temporary copy of its seed
#    corpus in fuzz/corpus/<target>/ (the repository is never written to), with libFuzzer's
#    -rss_limit_mb=2048 and -timeout=10;
# 3. exits non-zero if any target found a crash (a panic, so also a failed assertion), a
#    timeout or an out-of-memory, or left any other artifact, naming the reproducer. Artifacts
#    are kept in a temporary directory that is printed. (Leaks would count too, but finding
#    them needs LeakSanitizer, which this stable, sanitizer-free build does not link.)
#
# To reproduce a finding locally, run the same build (bash tests/fuzz.sh, or the cargo
# command below) and give the artifact to the target:
#     fuzz/target/x86_64-unknown-linux-gnu/release/<target> <artifact>
# To fuzz longer: SMCP_FUZZ_SECONDS=3600 bash tests/fuzz.sh, or run one target by hand on a
# corpus directory of your own: fuzz/target/x86_64-unknown-linux-gnu/release/<target> DIR.
# SMCP_FUZZ_TARGETS="a b" limits the run to those targets.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${SMCP_FUZZ_SECONDS:-30}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
targets="${SMCP_FUZZ_TARGETS:-path_normalise route_lookup jsonrpc_parse sse_decode}"

step() { printf '\n== %s\n' "$*"; }

step "build fuzz targets (stable, sancov, release + debug assertions)"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cdebug-assertions -Coverflow-checks"
(cd fuzz && cargo build --release --locked --target "$triple" --bins)
bin_dir="fuzz/target/$triple/release"

work="$(mktemp -d "${TMPDIR:-/tmp}/smcp-fuzz.XXXXXX")"
failed=()
for target in $targets; do
    step "fuzz $target for ${seconds}s"
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    cp -R "fuzz/corpus/$target/." "$corpus/"
    status=0
    "$bin_dir/$target" "$corpus" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 \
        >"$work/$target.log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|Done |stat::number_of_executed_units|stat::average_exec_per_sec)' \
        "$work/$target.log" || true
    reproducers=("$artifacts"/*)
    if [ "$status" -ne 0 ] || [ -e "${reproducers[0]}" ]; then
        tail -n 60 "$work/$target.log"
        printf '\nFAIL %s (exit %s); log %s\n' "$target" "$status" "$work/$target.log"
        for reproducer in "${reproducers[@]}"; do
            [ -e "$reproducer" ] || continue
            printf 'reproducer: %s\n  run: %s/%s %s\n' "$reproducer" "$bin_dir" "$target" "$reproducer"
        done
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    printf '\nfuzzing found problems in: %s\nartifacts and logs: %s\n' "${failed[*]}" "$work"
    exit 1
fi
printf '\nfuzzing: %s ran %ss each, no findings (logs in %s)\n' "$targets" "$seconds" "$work"
