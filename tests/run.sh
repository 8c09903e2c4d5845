#!/usr/bin/env bash
# smcp's whole test suite, as run by CI (.ci/run) and by the README's quick start.
#
# 1. installs the real test peers (npm and PyPI packages pinned in tests/peers/) when missing;
# 2. checks formatting and lints (warnings are errors);
# 3. builds the benchmarks without running them;
# 4. runs every test in the workspace (unit, service, and end-to-end against the real peers),
#    and the smcp-client suites again against the permissive OpenID provider profile;
# 5. fuzzes the parsers for a bounded time (tests/fuzz.sh: SMCP_FUZZ_SECONDS per target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "test peers (tests/peers/install.sh)"
bash tests/peers/install.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo bench --no-run"
cargo bench --workspace --locked --no-run

step "cargo test"
cargo test --workspace --locked

# Real identity providers differ where smcp-client's defaults matter: its suites ran against
# oidc-provider's strict profile (Entra ID / Okta-like) above, and again here against the
# permissive one (Auth0 / Keycloak-like). tests/client_providers.rs runs both itself.
step "smcp-client suites against the permissive provider profile"
SMCP_E2E_OIDC_PROFILE=permissive cargo test --locked -p smcp-e2e \
  --test client_http --test client_stdio --test client_step_up --test dpop

step "fuzz (tests/fuzz.sh, ${SMCP_FUZZ_SECONDS:-30}s per target)"
bash tests/fuzz.sh
