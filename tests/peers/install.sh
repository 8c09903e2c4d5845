#!/usr/bin/env bash
# Installs the real MCP peers used by smcp's end-to-end tests and benchmarks, from the lockfiles
# in this folder only (nothing is fetched at test time):
#   - npm:  package.json + package-lock.json -> node_modules/   (`npm ci`)
#   - PyPI: requirements.txt (exact pins + hashes) -> .venv/    (`python3 -m venv`, `pip install`)
#
# Idempotent and fast when already installed: each half is skipped while its stamp file
# (.stamp-npm / .stamp-py) records the same lockfile hashes and tool versions, and the installed
# tree is still there. The Rust helpers (tests/support/peers.rs) read the same stamps to tell a
# missing or stale install apart from a broken test.
#
# Usage: bash tests/peers/install.sh [--force]
#   --force   reinstall both halves even when the stamps match.
# Environment: PYTHON (default python3), NODE (default node), NPM (default npm).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

PYTHON="${PYTHON:-python3}"
NODE="${NODE:-node}"
NPM="${NPM:-npm}"

log() { printf '[peers] %s\n' "$*"; }
die() { printf '[peers] error: %s\n' "$*" >&2; exit 1; }

for tool in "$NODE" "$NPM" "$PYTHON" sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH (need Node >= 20, npm, Python 3.11)"
done

node_version="$("$NODE" --version)"
npm_version="$("$NPM" --version)"
python_version="$("$PYTHON" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')"
log "tools: node $node_version, npm $npm_version, python $python_version"

start_all=$SECONDS

# --- npm half -------------------------------------------------------------------------------
# The stamp is the lockfiles' sha256 lines plus the Node version (a different Node may need a
# different install). `npm ci` wipes node_modules and installs exactly the lockfile; install
# scripts stay off (npm 11 skips unapproved ones anyway, and none of these peers needs one).
npm_stamp=".stamp-npm"
npm_want="$(sha256sum package.json package-lock.json; echo "node $node_version")"
if [[ $force -eq 0 && -f "$npm_stamp" && -f node_modules/.package-lock.json \
      && "$(cat "$npm_stamp")" == "$npm_want" ]]; then
  log "npm: node_modules up to date with package-lock.json (stamp $npm_stamp), skipping"
else
  log "npm: installing node_modules from package-lock.json (npm ci)"
  rm -f "$npm_stamp"
  t=$SECONDS
  "$NPM" ci --ignore-scripts --no-audit --no-fund --loglevel=warn
  [[ -f node_modules/@modelcontextprotocol/server-everything/dist/index.js ]] \
    || die "npm ci finished but server-everything is missing"
  printf '%s\n' "$npm_want" > "$npm_stamp"
  log "npm: done in $((SECONDS - t))s"
fi

# --- Python half ----------------------------------------------------------------------------
# A fresh venv each time the requirements change, so no package outlives its pin. Hashes are
# required, and --no-deps makes a missing transitive pin an error instead of a silent fetch.
py_stamp=".stamp-py"
py_want="$(sha256sum requirements.txt; echo "python $python_version")"
if [[ $force -eq 0 && -f "$py_stamp" && -x .venv/bin/python \
      && "$(cat "$py_stamp")" == "$py_want" ]]; then
  log "python: .venv up to date with requirements.txt (stamp $py_stamp), skipping"
else
  log "python: creating .venv and installing requirements.txt (pip --require-hashes)"
  rm -f "$py_stamp"
  rm -rf .venv
  t=$SECONDS
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes --no-deps --only-binary=:all: -r requirements.txt
  .venv/bin/python -m pip check
  .venv/bin/python -c 'import mcp, mcp_server_time' \
    || die "pip install finished but mcp / mcp_server_time do not import"
  printf '%s\n' "$py_want" > "$py_stamp"
  log "python: done in $((SECONDS - t))s"
fi

log "peers ready in $((SECONDS - start_all))s: $here/node_modules, $here/.venv"
