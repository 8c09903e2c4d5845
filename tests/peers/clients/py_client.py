"""MCP client driver on the Python SDK (mcp 2.3.0) for smcp's end-to-end tests.

Connects to one MCP server, runs one scenario and prints ONE JSON line on stdout:
  {"ok": true, "client": "python", "protocol_version": ..., "session_id": ..., "http": [...], ...}
On failure it prints {"ok": false, "error": ..., "http": [...]} on stdout as well, the error on
stderr, and exits 1 (2 for bad usage). "http" is a trace of every HTTP exchange (method, path,
JSON-RPC method, MCP headers, status, WWW-Authenticate) because the SDK reports e.g. a 401 only
as "Server returned an error response".

The connection uses the SDK's default `Client` path (mode "auto"): it first POSTs
`server/discover` (protocol 2026-07-28) and falls back to `initialize` on a JSON-RPC error.
`--mode legacy` skips the probe.

Usage:
  py_client.py --url http://127.0.0.1:PORT/mcp --transport streamable --scenario basic
  py_client.py --url http://127.0.0.1:PORT/sse --transport sse --header 'Authorization: Bearer T'
  py_client.py --transport stdio --command node --arg server.js --arg stdio --scenario everything

Scenarios (see SCENARIOS below): basic, everything, memory, time, connect.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
import mcp.types as types
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

# Request headers worth recording: the MCP ones a proxy must forward unchanged.
TRACED_REQUEST_HEADERS = ("mcp-protocol-version", "mcp-method", "mcp-name", "mcp-session-id", "last-event-id")
TRACED_RESPONSE_HEADERS = ("content-type", "mcp-session-id", "www-authenticate")


class HttpTrace:
    """Records every HTTP exchange through httpx2 event hooks, plus the session id seen."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self.session_id: str | None = None

    async def on_request(self, request: httpx2.Request) -> None:
        entry: dict[str, Any] = {"method": request.method, "path": request.url.raw_path.decode()}
        for name in TRACED_REQUEST_HEADERS:
            if name in request.headers:
                entry[name] = request.headers[name]
        if request.method == "POST":
            try:
                body = json.loads(request.content)
                if isinstance(body, dict):
                    entry["rpc"] = body.get("method", "response" if "result" in body or "error" in body else None)
            except (ValueError, httpx2.RequestNotRead):
                pass
        request.extensions["smcp_trace_index"] = len(self.exchanges)
        self.exchanges.append(entry)

    async def on_response(self, response: httpx2.Response) -> None:
        index = response.request.extensions.get("smcp_trace_index")
        if index is None:
            return
        entry = self.exchanges[index]
        entry["status"] = response.status_code
        for name in TRACED_RESPONSE_HEADERS:
            if name in response.headers:
                entry[name] = response.headers[name]
        if sid := response.headers.get("mcp-session-id"):
            self.session_id = sid

    def client(self, headers: dict[str, str] | None, timeout: httpx2.Timeout, auth: Any = None) -> httpx2.AsyncClient:
        # trust_env=False: never route loopback test traffic through an environment proxy.
        return httpx2.AsyncClient(
            headers=headers,
            timeout=timeout,
            auth=auth,
            trust_env=False,
            event_hooks={"request": [self.on_request], "response": [self.on_response]},
        )


class Recorder:
    """Counts what the server sent us: progress, sampling and elicitation requests, logs."""

    def __init__(self) -> None:
        self.progress: list[dict[str, Any]] = []
        self.sampling_requests = 0
        self.elicitation_requests = 0
        self.log_messages = 0

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append({"progress": progress, "total": total})

    async def sampling(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.sampling_requests += 1
        prompt = ""
        for message in params.messages:
            content = message.content
            if isinstance(content, types.TextContent):
                prompt = content.text
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"smcp-sampled: {prompt}"),
            model="smcp-test-model",
            stop_reason="endTurn",
        )

    async def elicitation(self, context: Any, params: Any) -> types.ElicitResult:
        self.elicitation_requests += 1
        return types.ElicitResult(action="accept", content={"name": "smcp tester", "check": True})

    async def logging(self, params: types.LoggingMessageNotificationParams) -> None:
        self.log_messages += 1


def text_of(result: types.CallToolResult) -> str:
    """Concatenated text content of a tool result; raises if the tool reported an error."""
    text = "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
    if result.is_error:
        raise RuntimeError(f"tool returned isError: {text}")
    return text


def parse_json_text(result: types.CallToolResult) -> Any:
    """A tool's structured content, else its text parsed as JSON, else the raw text."""
    if result.structured_content is not None:
        return result.structured_content
    text = text_of(result)
    try:
        return json.loads(text)
    except ValueError:
        return text


async def scenario_connect(client: Client, args: argparse.Namespace, rec: Recorder) -> dict[str, Any]:
    return {}


async def scenario_basic(client: Client, args: argparse.Namespace, rec: Recorder) -> dict[str, Any]:
    tools = await client.list_tools()
    names = sorted(t.name for t in tools.tools)
    echo = text_of(await client.call_tool("echo", {"message": args.message}))
    return {"tools": names, "echo": echo}


async def scenario_everything(client: Client, args: argparse.Namespace, rec: Recorder) -> dict[str, Any]:
    out = await scenario_basic(client, args, rec)
    out["sum"] = text_of(await client.call_tool("get-sum", {"a": 2, "b": 3}))
    out["long_running"] = text_of(
        await client.call_tool(
            "trigger-long-running-operation",
            {"duration": args.long_duration, "steps": args.long_steps},
            progress_callback=rec.on_progress,
        )
    )
    out["progress"] = rec.progress
    # server-everything registers these two only for clients that declared the capability.
    if "trigger-sampling-request" in out["tools"]:
        out["sampling"] = text_of(
            await client.call_tool("trigger-sampling-request", {"prompt": "hello sampling", "maxTokens": 16})
        )
    else:
        out["sampling"] = None
    if "trigger-elicitation-request" in out["tools"]:
        out["elicitation"] = text_of(await client.call_tool("trigger-elicitation-request", {}))
    else:
        out["elicitation"] = None
    out["sampling_requests"] = rec.sampling_requests
    out["elicitation_requests"] = rec.elicitation_requests
    return out


async def scenario_memory(client: Client, args: argparse.Namespace, rec: Recorder) -> dict[str, Any]:
    tools = await client.list_tools()
    entity = {"name": args.entity, "entityType": "test", "observations": [args.message]}
    created = parse_json_text(await client.call_tool("create_entities", {"entities": [entity]}))
    graph = parse_json_text(await client.call_tool("read_graph", {}))
    return {"tools": sorted(t.name for t in tools.tools), "created": created, "graph": graph}


async def scenario_time(client: Client, args: argparse.Namespace, rec: Recorder) -> dict[str, Any]:
    tools = await client.list_tools()
    now = parse_json_text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
    return {"tools": sorted(t.name for t in tools.tools), "time": now}


SCENARIOS = {
    "connect": scenario_connect,  # handshake only (auth tests)
    "basic": scenario_basic,  # tools/list + echo (any server with an `echo` tool)
    "everything": scenario_everything,  # server-everything: sum, progress, sampling, elicitation
    "memory": scenario_memory,  # server-memory: create_entities + read_graph
    "time": scenario_time,  # mcp-server-time: get_current_time(UTC)
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="MCP endpoint (streamable: .../mcp, sse: .../sse)")
    p.add_argument("--transport", choices=("streamable", "sse", "stdio"), default="streamable")
    p.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="basic")
    p.add_argument("--mode", choices=("auto", "legacy"), default="auto", help="SDK connect mode (default auto)")
    p.add_argument("--message", default="hello from py_client", help="text for echo / observations")
    p.add_argument("--entity", default="smcp-e2e-entity", help="memory scenario: entity name")
    p.add_argument("--long-duration", type=float, default=0.5, help="seconds for trigger-long-running-operation")
    p.add_argument("--long-steps", type=int, default=5, help="steps (= progress notifications) for it")
    p.add_argument("--timeout", type=float, default=60.0, help="overall deadline in seconds")
    p.add_argument("--command", help="stdio: executable to launch")
    p.add_argument("--arg", action="append", default=[], help="stdio: argument, repeatable")
    p.add_argument("--env", action="append", default=[], help="stdio: KEY=VALUE, repeatable")
    args = p.parse_args(argv)
    if args.transport == "stdio" and not args.command:
        p.error("--transport stdio needs --command")
    if args.transport != "stdio" and not args.url:
        p.error("--url is required for streamable and sse")
    return args


def parse_headers(raw: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"bad --header {item!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


async def run(args: argparse.Namespace, trace: HttpTrace, out: dict[str, Any]) -> None:
    rec = Recorder()
    headers = args.headers
    async with AsyncExitStack() as stack:
        if args.transport == "streamable":
            http = await stack.enter_async_context(trace.client(headers, httpx2.Timeout(30.0, read=300.0)))
            transport: Any = streamable_http_client(args.url, http_client=http)
        elif args.transport == "sse":

            def on_session(sid: str) -> None:
                trace.session_id = sid

            transport = sse_client(
                args.url,
                headers=headers,
                timeout=30.0,
                httpx_client_factory=lambda headers=None, timeout=None, auth=None: trace.client(headers, timeout, auth),
                on_session_created=on_session,
            )
        else:
            env = dict(os.environ)
            env.update(kv.split("=", 1) for kv in args.env)
            transport = StdioServerParameters(command=args.command, args=args.arg, env=env)
        client = Client(
            transport,
            mode=args.mode,
            read_timeout_seconds=args.timeout,
            sampling_callback=rec.sampling,
            elicitation_callback=rec.elicitation,
            logging_callback=rec.logging,
            client_info=types.Implementation(name="smcp-e2e-py-client", version="1.0.0"),
            cache=None,
        )
        await stack.enter_async_context(client)
        out["protocol_version"] = client.protocol_version
        info = client.server_info
        out["server_info"] = {"name": info.name, "version": info.version} if info else None
        out.update(await SCENARIOS[args.scenario](client, args, rec))
        out["log_messages"] = rec.log_messages
    out["session_id"] = trace.session_id


def describe(exc: BaseException) -> str:
    """Flatten exception groups (the SDK runs in task groups) into one readable line."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    text = f"{type(exc).__name__}: {exc}"
    if exc.__cause__ is not None:
        text += f" (caused by {describe(exc.__cause__)})"
    return text


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.headers = parse_headers(args.header)
    trace = HttpTrace()
    out: dict[str, Any] = {
        "ok": False,
        "client": "python",
        "sdk": "mcp 2.3.0",
        "transport": args.transport,
        "scenario": args.scenario,
        "mode": args.mode,
    }

    async def bounded() -> None:
        with anyio.fail_after(args.timeout):
            await run(args, trace, out)

    try:
        anyio.run(bounded)
        out["ok"] = True
        code = 0
    except BaseException as exc:  # noqa: BLE001 - report everything, including groups
        if isinstance(exc, KeyboardInterrupt):
            raise
        out["error"] = describe(exc)
        print(f"py_client: {out['error']}", file=sys.stderr)
        if os.environ.get("SMCP_CLIENT_TRACEBACK"):
            traceback.print_exception(exc, file=sys.stderr)
        code = 1
    out["http"] = trace.exchanges
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
