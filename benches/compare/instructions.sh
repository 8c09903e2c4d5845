#!/usr/bin/env bash
# Instructions smcp-server executes per call, counted by valgrind's callgrind: a deterministic
# A/B for a machine too noisy for calls/s (the same binary's count moves by well under 1%
# between runs, where its calls/s moved by 30%). User space only: the kernel's share (the TCP
# work, about half of smcp's CPU per call) is not counted, and callgrind counts each iteration
# of a `rep movsb` copy, so large memcpys weigh more here than on the CPU.
#
# Usage: bash benches/compare/instructions.sh HARNESS_DIR SMCP_SERVER...
#   HARNESS_DIR holds smcp-load, echo-mcp-http and echo-mcp-stdio (from
#   `cargo build --release -p smcp-benches --bins`); each SMCP_SERVER is a binary to measure.
# For each binary and group (http: an HTTP backend, echo: a stdio backend), 2 sessions x 4 in
# flight: a 3 s warm-up, the counters zeroed, 6 s of load, the counters dumped; the line is
# instructions / calls in that window. Output also in $INSTR_OUT (default target/instructions).
# INSTR_ECHO_EXTRA and INSTR_TOP_EXTRA name files of YAML added to the stdio backend's entry
# (indented for it: `      policy: ...`) and to the top level (`audit: ...`): to count what a
# feature costs per call (issue 13's governance: policy, rate limit and audit).
# Bounded: every process is stopped (its process group) at the end.
set -uo pipefail
H="${1:?harness directory}"; shift
[[ $# -ge 1 ]] || { echo "usage: $0 HARNESS_DIR SMCP_SERVER..." >&2; exit 64; }
command -v valgrind > /dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 69; }
out="${INSTR_OUT:-target/instructions}"; mkdir -p "$out"; out="$(cd "$out" && pwd)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done; }
trap cleanup EXIT

bport=$(free_port)
setsid "$H/echo-mcp-http" --listen "127.0.0.1:$bport" > "$out/backend.log" 2>&1 &
pids+=($!)
n=0
for bin in "$@"; do
  n=$((n + 1))
  for group in http echo; do
    dir="$out/$n-$group"; rm -rf "$dir"; mkdir -p "$dir"
    port=$(free_port)
    cat > "$dir/config.yml" <<YML
server:
  host: 127.0.0.1
  port: $port
  shutdown_timeout: 1s
mcp:
  backends:
    - id: http-echo
      transport: http
      path: /v1/http
      url: "http://127.0.0.1:$bport/mcp"
    - id: echo
      transport: stdio
      path: /v1/echo
      stdio:
        command: $H/echo-mcp-stdio
YML
    if [[ -n "${INSTR_ECHO_EXTRA:-}" ]]; then cat "$INSTR_ECHO_EXTRA" >> "$dir/config.yml"; fi
    if [[ -n "${INSTR_TOP_EXTRA:-}" ]]; then cat "$INSTR_TOP_EXTRA" >> "$dir/config.yml"; fi
    setsid valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$dir/callgrind.%p" \
      "$bin" --config "$dir/config.yml" > "$dir/server.log" 2>&1 &
    spid=$!; pids+=($spid)
    for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/ready" && break; sleep 0.2; done
    url="http://127.0.0.1:$port/v1/$group"; [[ $group == echo ]] && url="$url/mcp"
    "$H/smcp-load" http --url "$url" -s 2 -c 4 -w 1s -d 3s > "$dir/warm.json" 2>> "$dir/load.log"
    callgrind_control -z "$spid" > /dev/null 2>&1
    "$H/smcp-load" http --url "$url" -s 2 -c 4 -w 0s -d 6s > "$dir/load.json" 2>> "$dir/load.log"
    callgrind_control -d "$spid" > /dev/null 2>&1
    sleep 1
    kill -TERM -- "-$spid" 2>/dev/null; sleep 2; kill -KILL -- "-$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    python3 - "$dir" "$bin" "$group" <<'PY' | tee -a "$out/results.txt"
import glob, json, re, sys
d, binary, group = sys.argv[1:]
calls = json.load(open(f"{d}/load.json"))["calls"]
# The dump after `callgrind_control -d` is the `.1` part: exactly the measured window.
part = [f for f in glob.glob(f"{d}/callgrind.*") if f.endswith(".1")]
ir = int(re.search(r"^summary:\s+(\d+)", open(part[0]).read(), re.M).group(1))
print(f"{group}\t{binary}\t{calls} calls\t{ir / calls:,.0f} instructions/call")
PY
  done
done
