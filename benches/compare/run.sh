#!/usr/bin/env bash
# bench-compare: the same MCP load, in one run, against smcp-server and the gateways people use
# today (supergateway, mcp-proxy, nginx), on loopback; writes docs/benchmarks.md and
# docs/benchmarks.png from that run. `just bench-compare` is a thin call to this script.
#
# Usage: bash benches/compare/run.sh [--no-install] [--no-criterion] [--only GROUP[,GROUP]]
#   --no-install    do not install anything (fail instead when something is missing)
#   --no-criterion  skip the short criterion run (the page then lists no micro-benchmarks)
#   --only GROUPS   run only these groups: echo-8x16, echo-1x1, everything-8x16, http-8x16,
#                   http-8x16-20k, http-1x1, scale-1000x1 (the page is still written, from
#                   those rows)
# Environment: BENCH_WARMUP (1s), BENCH_DURATION (5s), BENCH_SCALE_DURATION (4s),
#              BENCH_SCALE_SESSIONS (1000), BENCH_PACED_RATE (20000), BENCH_OUT
#              (target/bench-compare).
#
# Bounded: every load has a fixed duration and a timeout, every server is started by this script
# in its own process group and stopped (SIGTERM, then SIGKILL, children included) before the next
# row and on any exit. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root="$PWD"
here="$root/benches/compare"
peers="$root/tests/peers"

install=1
criterion=1
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-install) install=0 ;;
    --no-criterion) criterion=0 ;;
    --only) only=",$2,"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

WARMUP="${BENCH_WARMUP:-1s}"
DURATION="${BENCH_DURATION:-5s}"
SCALE_DURATION="${BENCH_SCALE_DURATION:-4s}"
SCALE_SESSIONS="${BENCH_SCALE_SESSIONS:-1000}"
PACED_RATE="${BENCH_PACED_RATE:-20000}"
out="${BENCH_OUT:-$root/target/bench-compare}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/release"
started_at=$SECONDS
loadavg_start="$(cut -d' ' -f1-3 /proc/loadavg)"

log() { printf '[bench %3ds] %s\n' "$((SECONDS - started_at))" "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
want() { [[ -z "$only" || "$only" == *",$1,"* ]]; }

# --- process bookkeeping --------------------------------------------------------------------
# Every server is started with setsid (its own process group); `stop` ends the group and every
# descendant recorded while it ran (supergateway and smcp put their children in groups of their
# own, so the group alone is not enough).
declare -a running=()
alive() { local s; s="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1; [[ "$s" != Z* ]]; }
descendants() {
  local pid="$1" kid
  for kid in $(pgrep -P "$pid" 2>/dev/null || true); do
    echo "$kid"
    descendants "$kid"
  done
}
stop() {
  local pid="$1" kids i
  kids="$(descendants "$pid" | tr '\n' ' ')"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  for kid in $kids; do kill -KILL "$kid" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
  local rest=()
  for p in "${running[@]}"; do [[ "$p" != "$pid" ]] && rest+=("$p"); done
  running=("${rest[@]+"${rest[@]}"}")
}
cleanup() {
  local pid
  for pid in "${running[@]+"${running[@]}"}"; do stop "$pid"; done
  exec 7>&- 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... : runs CMD in its own process group, output to $out/logs/NAME.log; sets $pid.
start() {
  local name="$1"; shift
  echo "$name: $*" >> "$out/commands.txt"
  setsid "$@" > "$out/logs/$name.log" 2>&1 < /dev/null &
  pid=$!
  running+=("$pid")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL [STATUS]: until URL answers (any status, or STATUS), at most 30 s.
wait_http() {
  local url="$1" want_status="${2:-}" code i
  for ((i = 0; i < 300; i++)); do
    alive "$pid" || return 1
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null || true)"
    if [[ "$code" != "000" && ( -z "$want_status" || "$code" == "$want_status" ) ]]; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

skip() { printf '%s\t%s\n' "$1" "$2" >> "$out/skipped.tsv"; log "skipped $1: $2"; }

# load LABEL MODE ARGS... : one smcp-load run, its JSON line appended to results.jsonl.
load() {
  local label="$1" mode="$2"; shift 2
  echo "$label: smcp-load $mode --label $label $*" >> "$out/commands.txt"
  log "run $label"
  local line
  if line="$(timeout 600 "$bin/smcp-load" "$mode" --label "$label" "$@" 2>> "$out/logs/load.log")" \
     && [[ -n "$line" ]]; then
    echo "$line" >> "$out/results.jsonl"
    tail -n 1 "$out/logs/load.log" >&2
  else
    skip "$label" "smcp-load failed: $(tail -n 1 "$out/logs/load.log")"
  fi
}

# --- installs -------------------------------------------------------------------------------
ensure_apt() {
  local missing=()
  command -v nginx > /dev/null || missing+=(nginx-light)
  [[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
  command -v curl > /dev/null || missing+=(curl)
  command -v setsid > /dev/null || missing+=(util-linux)
  command -v pgrep > /dev/null || missing+=(procps)
  [[ ${#missing[@]} -eq 0 ]] && return
  [[ $install -eq 1 ]] || die "missing Debian packages: ${missing[*]} (run without --no-install)"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -q > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" > /dev/null
}

# mcp-proxy needs an mcp 1.x SDK (tests/peers has 2.3.0): its own venv, from hashed pins.
ensure_mcp_proxy() {
  local venv="$here/.venv" stamp="$here/.stamp-venv" want
  want="$(sha256sum "$here/requirements-mcp-proxy.txt"; python3 --version)"
  if [[ -x "$venv/bin/mcp-proxy" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  [[ $install -eq 1 ]] || die "mcp-proxy venv missing (run without --no-install)"
  log "installing mcp-proxy into $venv"
  rm -rf "$venv" "$stamp"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes --no-deps --only-binary=:all: -r "$here/requirements-mcp-proxy.txt"
  "$venv/bin/python" -m pip check > /dev/null
  printf '%s\n' "$want" > "$stamp"
}

mkdir -p "$out/logs"
rm -f "$out/results.jsonl" "$out/commands.txt" "$out/skipped.tsv" "$out/logs/"*.log
: > "$out/results.jsonl"
: > "$out/skipped.tsv"

ensure_apt
if [[ $install -eq 1 ]]; then
  bash "$peers/install.sh" >&2
fi
ensure_mcp_proxy
[[ -f "$peers/node_modules/supergateway/dist/index.js" ]] || die "supergateway missing: bash tests/peers/install.sh"
everything_js="$peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
[[ -f "$everything_js" ]] || die "server-everything missing: bash tests/peers/install.sh"

# 1000 sessions need thousands of descriptors (sockets, and three pipes per child).
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"

log "building smcp-server and smcp-benches (release)"
t=$SECONDS
cargo build --release --locked -q -p smcp-server -p smcp-benches --bins
build_s=$((SECONDS - t))

if [[ $criterion -eq 1 ]]; then
  log "criterion benches (short: 0.3 s warm-up, 1 s measurement, 20 samples each)"
  rm -rf "$target_dir/criterion"
  cargo bench --locked -q -p smcp-benches --bench route_lookup --bench token_validation \
    --bench jsonrpc_envelope --bench sse_codec --bench policy --bench dpop -- --warm-up-time 0.3 --measurement-time 1 --sample-size 20 \
    --noplot > "$out/logs/criterion.log" 2>&1 || skip "criterion" "cargo bench failed (see logs/criterion.log)"
fi

echo_stdio="$bin/echo-mcp-stdio"
common=(-w "$WARMUP" -d "$DURATION")

# --- the servers ----------------------------------------------------------------------------
# smcp-server on a config with the two stdio backends and, when given, an HTTP backend.
# AUTH: none, oidc, or governed (auth none, and on the echo backend a 20-rule policy whose last
# rule allows echo, a per-caller rate limit that is never hit, and the audit trail to a file).
smcp_config() { # FILE PORT AUTH [HTTP_URL]
  local file="$1" port="$2" auth="$3" http_url="${4:-}" i
  {
    echo "server:"
    echo "  host: 127.0.0.1"
    echo "  port: $port"
    # The drain window after SIGTERM (the listener stays open that long): short, so that the
    # next row does not wait for it.
    echo "  shutdown_timeout: 1s"
    if [[ "$auth" == oidc || "$auth" == dpop ]]; then
      echo "auth:"
      echo "  mode: oidc"
      echo "oidc:"
      echo "  issuers: [\"$issuer_url\"]"
      echo "  audience: smcp-bench"
    fi
    # DPoP required: every call carries a DPoP-bound token and a proof (issue 16).
    [[ "$auth" == dpop ]] && echo "  dpop: required"
    if [[ "$auth" == governed ]]; then
      echo "audit:"
      echo "  enabled: true"
      echo "  sink: \"${file%.yml}-audit.jsonl\""
    fi
    echo "mcp:"
    echo "  backends:"
    echo "    - id: echo"
    echo "      transport: stdio"
    echo "      path: /v1/echo"
    echo "      max_sessions: $((SCALE_SESSIONS + 100))"
    # Every session of the load comes from one address (one anonymous caller).
    echo "      max_sessions_per_principal: $((SCALE_SESSIONS + 100))"
    echo "      stdio:"
    echo "        command: $echo_stdio"
    if [[ "$auth" == governed ]]; then
      echo "      policy:"
      echo "        default: deny"
      echo "        rules:"
      for ((i = 0; i < 8; i++)); do echo "          - {tools: [\"tool-0$i\"], allow: true}"; done
      for ((i = 0; i < 4; i++)); do echo "          - {tools: [\"admin-$i-*\"], deny: true}"; done
      for ((i = 0; i < 4; i++)); do echo "          - {prompts: [\"prompt-$i*\"], allow: true}"; done
      echo "          - {resources: [\"file:///private/*\"], deny: true}"
      echo "          - {methods: [\"logging/*\"], deny: true}"
      echo "          - {tools: [\"*-dangerous\"], deny: true}"
      echo "          - {tools: [\"echo\"], allow: true}"
      echo "        rate_limit: {per_principal: \"1000000000/s\"}"
    fi
    echo "    - id: everything"
    echo "      transport: stdio"
    echo "      path: /v1/everything"
    echo "      stdio:"
    echo "        command: node"
    echo "        args: [\"$everything_js\", \"stdio\"]"
    if [[ -n "$http_url" ]]; then
      echo "    - id: http-echo"
      echo "      transport: http"
      echo "      path: /v1/http"
      echo "      url: \"$http_url\""
    fi
  } > "$file"
}

start_smcp() { # NAME AUTH [HTTP_URL]; sets pid, port
  port="$(free_port)"
  smcp_config "$out/$1.yml" "$port" "$2" "${3:-}"
  start "$1" "$bin/smcp-server" --config "$out/$1.yml"
  wait_http "http://127.0.0.1:$port/ready" 200 || { stop "$pid"; return 1; }
}

start_supergateway() { # NAME CMD-STRING; sets pid, port
  port="$(free_port)"
  start "$1" node "$peers/node_modules/supergateway/dist/index.js" --stdio "$2" \
    --outputTransport streamableHttp --stateful --port "$port" --logLevel none
  wait_http "http://127.0.0.1:$port/mcp" || { stop "$pid"; return 1; }
}

start_mcp_proxy() { # NAME CMD ARGS...; sets pid, port
  local name="$1"; shift
  port="$(free_port)"
  start "$name" "$here/.venv/bin/mcp-proxy" --host 127.0.0.1 --port "$port" \
    --log-level WARNING "$@"
  wait_http "http://127.0.0.1:$port/mcp" || { stop "$pid"; return 1; }
}

# The OIDC issuer (the project's test issuer) for the smcp-oidc rows: one RS256 key, one token.
issuer_url=""
token=""
dpop_token=""
dpop_eddsa_token=""
start_issuer() {
  rm -f "$out/issuer.in"
  mkfifo "$out/issuer.in"
  echo "issuer: $bin/bench-issuer --audience smcp-bench --dpop-key-out $out/dpop.pem --dpop-eddsa-key-out $out/dpop-eddsa.pem" >> "$out/commands.txt"
  setsid "$bin/bench-issuer" --audience smcp-bench --dpop-key-out "$out/dpop.pem" \
    --dpop-eddsa-key-out "$out/dpop-eddsa.pem" \
    < "$out/issuer.in" > "$out/issuer.json" \
    2> "$out/logs/issuer.log" &
  issuer_pid=$!
  running+=("$issuer_pid")
  exec 7> "$out/issuer.in"
  local i
  # Until the line is whole: a file that is not empty yet may still be half written.
  for ((i = 0; i < 100; i++)); do
    issuer_url="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuer"])' "$out/issuer.json" 2>/dev/null)" \
      && [[ -n "$issuer_url" ]] && break
    sleep 0.1
  done
  [[ -n "$issuer_url" ]] || return 1
  token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$out/issuer.json")"
  dpop_token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dpop_token"])' "$out/issuer.json")"
  dpop_eddsa_token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dpop_eddsa_token"])' "$out/issuer.json")"
}

# stdio_group GROUP PATH SESSIONS CONCURRENCY CMD...: raw floor, smcp (auth off, OIDC),
# supergateway and mcp-proxy against the same stdio server.
stdio_group() {
  local group="$1" path="$2" s="$3" c="$4"; shift 4
  local cmd=("$@")
  want "$group" || return 0
  load "$group/raw-stdio" raw-stdio -s "$s" -c "$c" "${common[@]}" -- "${cmd[@]}"
  if start_smcp "$group-smcp" none; then
    load "$group/smcp" http --url "http://127.0.0.1:$port$path/mcp" -s "$s" -c "$c" "${common[@]}" --pid "$pid"
    stop "$pid"
  else skip "$group/smcp" "smcp-server did not become ready (logs/$group-smcp.log)"; fi
  if [[ -n "$token" ]] && start_smcp "$group-smcp-oidc" oidc; then
    SMCP_LOAD_TOKEN="$token" load "$group/smcp-oidc" http --url "http://127.0.0.1:$port$path/mcp" \
      -s "$s" -c "$c" "${common[@]}" --pid "$pid"
    stop "$pid"
  else skip "$group/smcp-oidc" "smcp-server with auth.mode oidc did not become ready (logs/$group-smcp-oidc.log)"; fi
  # DPoP required, on the echo server only: the proofs are made before the run (DPOP_PROOFS,
  # enough for the window at this machine's rates), so the load generator's signing does not
  # take the cores from the proxy; the proxy checks each one in full.
  if [[ "$path" == /v1/echo && -n "$dpop_token" ]]; then
    if start_smcp "$group-smcp-oidc-dpop" dpop; then
      SMCP_LOAD_TOKEN="$dpop_token" load "$group/smcp-oidc-dpop" http --url "http://127.0.0.1:$port$path/mcp" \
        -s "$s" -c "$c" "${common[@]}" --pid "$pid" --dpop-key "$out/dpop.pem" --dpop-proofs "${DPOP_PROOFS:-300000}"
      stop "$pid"
    else skip "$group/smcp-oidc-dpop" "smcp-server with oidc.dpop required did not become ready (logs/$group-smcp-oidc-dpop.log)"; fi
    # The same with EdDSA proofs (smcp-client --oidc-dpop-alg EdDSA).
    if start_smcp "$group-smcp-oidc-dpop-eddsa" dpop; then
      SMCP_LOAD_TOKEN="$dpop_eddsa_token" load "$group/smcp-oidc-dpop-eddsa" http --url "http://127.0.0.1:$port$path/mcp" \
        -s "$s" -c "$c" "${common[@]}" --pid "$pid" --dpop-key "$out/dpop-eddsa.pem" --dpop-proofs "${DPOP_PROOFS:-300000}"
      stop "$pid"
    else skip "$group/smcp-oidc-dpop-eddsa" "smcp-server with oidc.dpop required did not become ready (logs/$group-smcp-oidc-dpop-eddsa.log)"; fi
  fi
  # Governance on the echo server only (its policy names echo): policy, limits and audit.
  if [[ "$path" == /v1/echo ]]; then
    if start_smcp "$group-smcp-governed" governed; then
      load "$group/smcp-governed" http --url "http://127.0.0.1:$port$path/mcp" -s "$s" -c "$c" "${common[@]}" --pid "$pid"
      stop "$pid"
      # The audit trail's size, then gone: a few hundred MB at full speed.
      wc -l < "$out/$group-smcp-governed-audit.jsonl" > "$out/logs/$group-smcp-governed-audit.lines" 2>/dev/null || true
      rm -f "$out/$group-smcp-governed-audit.jsonl"
    else skip "$group/smcp-governed" "smcp-server with a policy did not become ready (logs/$group-smcp-governed.log)"; fi
  fi
  if start_supergateway "$group-supergateway" "${cmd[*]}"; then
    load "$group/supergateway" http --url "http://127.0.0.1:$port/mcp" -s "$s" -c "$c" "${common[@]}" --pid "$pid"
    stop "$pid"
  else skip "$group/supergateway" "supergateway did not start (logs/$group-supergateway.log)"; fi
  if start_mcp_proxy "$group-mcp-proxy" "${cmd[@]}"; then
    load "$group/mcp-proxy" http --url "http://127.0.0.1:$port/mcp" -s "$s" -c "$c" "${common[@]}" --pid "$pid"
    stop "$pid"
  else skip "$group/mcp-proxy" "mcp-proxy did not start (logs/$group-mcp-proxy.log)"; fi
}

# http_group GROUP SESSIONS CONCURRENCY [SMCP-LOAD ARGS...]: echo-mcp-http direct, through smcp,
# through nginx; extra arguments (such as --rate) go to every load of the group.
http_group() {
  local group="$1" s="$2" c="$3" backend_pid backend_port
  shift 3
  local extra=("$@")
  want "$group" || return 0
  backend_port="$(free_port)"
  start "$group-backend" "$bin/echo-mcp-http" --listen "127.0.0.1:$backend_port"
  backend_pid=$pid
  wait_http "http://127.0.0.1:$backend_port/mcp" || { skip "$group" "echo-mcp-http did not start"; stop "$backend_pid"; return 0; }
  load "$group/direct" http --url "http://127.0.0.1:$backend_port/mcp" -s "$s" -c "$c" "${common[@]}" "${extra[@]}" --pid "$backend_pid"
  if start_smcp "$group-smcp" none "http://127.0.0.1:$backend_port/mcp"; then
    load "$group/smcp" http --url "http://127.0.0.1:$port/v1/http" -s "$s" -c "$c" "${common[@]}" "${extra[@]}" --pid "$pid"
    stop "$pid"
  else skip "$group/smcp" "smcp-server did not become ready (logs/$group-smcp.log)"; fi
  port="$(free_port)"
  mkdir -p "$out/nginx-$group"
  sed -e "s|@PORT@|$port|g" -e "s|@BACKEND@|127.0.0.1:$backend_port|g" -e "s|@DIR@|$out/nginx-$group|g" \
    "$here/nginx.conf" > "$out/nginx-$group/nginx.conf"
  start "$group-nginx" nginx -e stderr -p "$out/nginx-$group" -c "$out/nginx-$group/nginx.conf"
  if wait_http "http://127.0.0.1:$port/mcp"; then
    # The master forks the workers that do the work: measure them all, summed.
    local master=$pid worker pid_args=(--pid "$pid")
    for worker in $(pgrep -P "$master"); do pid_args+=(--pid "$worker"); done
    load "$group/nginx" http --url "http://127.0.0.1:$port/mcp" -s "$s" -c "$c" "${common[@]}" "${extra[@]}" "${pid_args[@]}"
    stop "$master"
  else skip "$group/nginx" "nginx did not start (logs/$group-nginx.log)"; stop "$pid"; fi
  stop "$backend_pid"
}

# scale: many sessions with one call in flight each on the fast echo server.
scale_group() {
  local group="scale-${SCALE_SESSIONS}x1" s="$SCALE_SESSIONS"
  want "scale-1000x1" || want "$group" || return 0
  local scale=(-w 1s -d "$SCALE_DURATION" --timeout 30s --open-parallelism 32)
  if start_smcp "$group-smcp" none; then
    load "$group/smcp" http --url "http://127.0.0.1:$port/v1/echo/mcp" -s "$s" -c 1 "${scale[@]}" --pid "$pid"
    stop "$pid"
  else skip "$group/smcp" "smcp-server did not become ready"; fi
  if start_supergateway "$group-supergateway" "$echo_stdio"; then
    load "$group/supergateway" http --url "http://127.0.0.1:$port/mcp" -s "$s" -c 1 "${scale[@]}" --pid "$pid"
    stop "$pid"
  else skip "$group/supergateway" "supergateway did not start"; fi
  if start_mcp_proxy "$group-mcp-proxy" "$echo_stdio"; then
    load "$group/mcp-proxy" http --url "http://127.0.0.1:$port/mcp" -s "$s" -c 1 "${scale[@]}" --pid "$pid"
    stop "$pid"
  else skip "$group/mcp-proxy" "mcp-proxy did not start"; fi
}

# --- the run --------------------------------------------------------------------------------
date_utc="$(date -u +%Y-%m-%dT%H:%MZ)"
start_issuer || skip "smcp-oidc" "the test issuer did not start"

stdio_group echo-8x16 /v1/echo 8 16 "$echo_stdio"
stdio_group echo-1x1 /v1/echo 1 1 "$echo_stdio"
stdio_group everything-8x16 /v1/everything 8 16 node "$everything_js" stdio
http_group http-8x16 8 16
# The same sessions at a fixed offered load well below saturation: what each proxy adds to a
# call's latency when it is not queueing behind a CPU the three processes share.
http_group "http-8x16-$((PACED_RATE / 1000))k" 8 16 --rate "$PACED_RATE"
http_group http-1x1 1 1
scale_group

# --- metadata and the page ------------------------------------------------------------------
python3 - "$out/meta.json" <<EOF
import json, os, sys
def sh(cmd):
    import subprocess
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""
def pkg(path):
    try:
        return json.load(open(path))["version"]
    except Exception:
        return "?"
mem_kb = int(open("/proc/meminfo").read().split()[1])
meta = {
  "date": "$date_utc",
  "machine": [
    ["CPU", sh("lscpu | sed -n 's/^Model name: *//p'") or "?"],
    ["cores", sh("nproc")],
    ["memory", f"{mem_kb / 1024 / 1024:.1f} GiB"],
    ["kernel", sh("uname -sr")],
    ["OS", sh(". /etc/os-release && echo \$PRETTY_NAME")],
  ],
  "versions": [
    ["smcp", sh("git -C '$root' describe --always --dirty") or "${SMCP_VERSION:-unknown (not a git checkout)}"],
    ["rustc", sh("rustc --version")],
    ["node", sh("node --version")],
    ["supergateway (npm)", pkg("$peers/node_modules/supergateway/package.json")],
    ["server-everything (npm)", pkg("$peers/node_modules/@modelcontextprotocol/server-everything/package.json")],
    ["mcp-proxy (PyPI)", sh("'$here/.venv/bin/python' -m pip show mcp-proxy | sed -n 's/^Version: //p'")],
    ["mcp, its SDK (PyPI)", sh("'$here/.venv/bin/python' -m pip show mcp | sed -n 's/^Version: //p'")],
    ["python", sh("'$here/.venv/bin/python' --version")],
    ["nginx", sh("nginx -v 2>&1")],
  ],
  "settings": [
    ["warm-up, measured window", "$WARMUP, $DURATION (scale: 1s, $SCALE_DURATION)"],
    ["load generator", "smcp-load, 1 thread, one keep-alive HTTP/1.1 connection per in-flight call"],
    ["paced HTTP group", "--rate $PACED_RATE calls/s over the 128 slots, each slot sending on its own schedule"],
    ["release build time", "${build_s} s"],
    ["load average (1, 5, 15 min) at start / end", "$loadavg_start / $(cut -d' ' -f1-3 /proc/loadavg)"],
  ],
  "elapsed_s": $((SECONDS - started_at)),
  "skipped": [l.split("\t", 1) for l in open("$out/skipped.tsv").read().splitlines() if "\t" in l],
  "commands": [l.replace("$target_dir/", "target/").replace("$out/", "target/bench-compare/").replace("$root/", "").split(": ", 1)
               for l in open("$out/commands.txt").read().splitlines() if ": " in l],
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF

log "writing docs/benchmarks.md and docs/benchmarks.png"
"$bin/bench-report" --results "$out/results.jsonl" --meta "$out/meta.json" \
  --criterion "$target_dir/criterion" --analysis "$here/analysis.md" \
  --out "$root/docs/benchmarks.md" --chart "$root/docs/benchmarks.png"
log "done in $((SECONDS - started_at)) s (results: $out/results.jsonl)"
