# smcp-server container image.
#
# Build:  docker build -t smcp .
# Run:    docker run -p 8080:8080 -v "$PWD/configs:/etc/smcp:ro" smcp --config /etc/smcp/smcp-server.yml
#
# The image also carries smcp-client (`--entrypoint smcp-client`).
# The runtime image carries Node.js and Python so that the common stdio MCP servers
# (`npx @modelcontextprotocol/server-memory`, `uvx mcp-server-time`, ...) can be spawned
# inside it. Use a slimmer base if you only front HTTP backends.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p smcp-server -p smcp-client \
 && install -D target/release/smcp-server /out/smcp-server \
 && install -D target/release/smcp-client /out/smcp-client

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates nodejs npm python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /home/smcp smcp
COPY --from=build /out/smcp-server /usr/local/bin/smcp-server
COPY --from=build /out/smcp-client /usr/local/bin/smcp-client
COPY configs/ /etc/smcp/
USER smcp
WORKDIR /home/smcp
EXPOSE 8080
# The server listens on 127.0.0.1 by default; in a container it must listen on all interfaces.
# With auth.mode none it will warn loudly: enable OIDC for anything reachable from outside.
ENV SMCP_PROXY_SERVER_HOST=0.0.0.0
ENTRYPOINT ["/usr/local/bin/smcp-server"]
CMD ["--config", "/etc/smcp/quickstart.yml"]
