//! A fake stdio MCP server for smcp's tests; see `smcp_test_support::fake_mcp`.

fn main() {
    std::process::exit(smcp_test_support::fake_mcp::server::run(
        std::env::args().skip(1),
    ));
}
