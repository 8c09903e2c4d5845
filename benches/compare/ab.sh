#!/usr/bin/env bash
# Interleaved A/B of two smcp-server binaries on the same machine, config, harness and backend:
# echo-8x16 (stdio) and http-8x16, three rounds, base then head in each round.
#
# Usage: bash benches/compare/ab.sh BASE_BIN_DIR HEAD_BIN_DIR
#   each directory holds an smcp-server; HEAD_BIN_DIR also smcp-load, echo-mcp-stdio and
#   echo-mcp-http (from `cargo build --release -p smcp-server -p smcp-benches --bins`).
# Output: one line per round and variant (calls/s, smcp's CPU per call); JSON in $AB_OUT.
# Bounded: every load is 1 s + 5 s; every process is stopped (its process group) at the end.
set -uo pipefail
BASE="${1:?base binary directory}"
H="${2:?head binary directory}"
out="${AB_OUT:-target/ab}"; mkdir -p "$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for i in $(seq 1 100); do curl -fs "http://127.0.0.1:$1/ready" >/dev/null && return 0; sleep 0.1; done; return 1; }
bport=$(free_port)
setsid "$H/echo-mcp-http" --listen "127.0.0.1:$bport" > "$out/backend.log" 2>&1 &
bpid=$!
sleep 0.5
for round in 1 2 3; do
  for variant in base head; do
    if [[ $variant == base ]]; then bin="$BASE"; else bin="$H"; fi
    port=$(free_port)
    cat > "$out/$variant.yml" <<YML
server:
  host: 127.0.0.1
  port: $port
  shutdown_timeout: 1s
mcp:
  backends:
    - id: echo
      transport: stdio
      path: /v1/echo
      max_sessions: 200
      stdio:
        command: $H/echo-mcp-stdio
    - id: http-echo
      transport: http
      path: /v1/http
      url: "http://127.0.0.1:$bport/mcp"
YML
    setsid "$bin/smcp-server" --config "$out/$variant.yml" > "$out/$variant-server.log" 2>&1 &
    spid=$!
    wait_ready "$port" || { echo "$variant not ready"; kill -KILL -- -$spid; continue; }
    e=$("$H/smcp-load" http --label "echo/$variant" --url "http://127.0.0.1:$port/v1/echo/mcp" -s 8 -c 16 -w 1s -d 5s --pid $spid 2>>"$out/load.log")
    h=$("$H/smcp-load" http --label "http/$variant" --url "http://127.0.0.1:$port/v1/http" -s 8 -c 16 -w 1s -d 5s --pid $spid 2>>"$out/load.log")
    echo "round $round $variant echo: $(echo "$e" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(round(d["calls_per_s"]), "calls/s", round(d["cpu_us_per_call"] or 0,1), "us cpu/call")' 2>/dev/null || echo "$e" | head -c 300)"
    echo "round $round $variant http: $(echo "$h" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(round(d["calls_per_s"]), "calls/s", round(d["cpu_us_per_call"] or 0,1), "us cpu/call")' 2>/dev/null || echo "$h" | head -c 300)"
    echo "$e" >> "$out/results.jsonl"; echo "$h" >> "$out/results.jsonl"
    kill -TERM -- -$spid; sleep 0.3; kill -TERM -- -$spid 2>/dev/null; wait $spid 2>/dev/null
  done
done
kill -KILL -- -$bpid 2>/dev/null
