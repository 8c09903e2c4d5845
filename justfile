# Task runner shortcuts (https://github.com/casey/just). Every recipe is a plain command you can
# also type yourself; the README's quick start does not need `just`.

# Run smcp-server on the quick-start config (two stdio backends via npx).
run:
    cargo run --release -p smcp-server -- --config configs/quickstart.yml

# The whole test suite, exactly as CI runs it (installs the test peers first).
test:
    bash tests/run.sh

# Install the real MCP peers used by the end-to-end tests.
peers:
    bash tests/peers/install.sh

# Format, lint.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Validate a config file and print its routing table.
check config="configs/quickstart.yml":
    cargo run -q -p smcp-server -- check --config {{config}}

# criterion benchmarks of the hot paths.
bench:
    cargo bench -p smcp-benches

# Side-by-side load comparison (smcp vs supergateway, mcp-proxy, nginx) on loopback; writes
# docs/benchmarks.md and docs/benchmarks.png. Same as `bash benches/compare/run.sh`.
bench-compare *args:
    bash benches/compare/run.sh {{args}}

# Instructions per call of smcp-server builds under callgrind (a deterministic A/B for noisy
# machines): just bench-instructions HARNESS_DIR BIN... (see benches/compare/instructions.sh).
bench-instructions *args:
    bash benches/compare/instructions.sh {{args}}
