"""A legacy HTTP+SSE (2024-11-05) MCP server built on the Python SDK, for smcp's end-to-end tests.

Run with the peers' venv: `.venv/bin/python harness/py_sse_server.py`. It serves the SDK's own
`MCPServer.sse_app()` (GET /sse, POST /messages/?session_id=<uuid hex>) with one tool, `whoami`,
which answers with the SSE session the call ran in, so a test can tell whose session a message
reached. It listens on 127.0.0.1 on a port the OS picks and prints
`SMCP_PEER_LISTENING 127.0.0.1 <port>` on stderr once it accepts connections (the same readiness
line as harness/preload.cjs). It exits when its parent dies.

Why this peer: the SDK parses `session_id` with `uuid.UUID(hex=...)`, which accepts upper case,
hyphens, `{...}` and `urn:uuid:` spellings of one id; smcp must not let a second principal reach
the first one's session by respelling it.
"""

import asyncio
import os
import socket
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("py-sse-peer")


@server.tool()
async def whoami(ctx: Context) -> str:
    """The id of the SSE session this call arrived in (the SDK's session object)."""
    return f"session-object-{id(ctx.session)}"


async def watch_parent(parent: int) -> None:
    # The test binary may die without killing us; do not outlive it.
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)


async def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    app = server.sse_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    asyncio.get_running_loop().create_task(watch_parent(os.getppid()))
    serving = asyncio.get_running_loop().create_task(uv.serve(sockets=[sock]))
    while not uv.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.01)
    print(f"SMCP_PEER_LISTENING 127.0.0.1 {port}", file=sys.stderr, flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main())
