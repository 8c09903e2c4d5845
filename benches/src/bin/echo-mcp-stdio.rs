//! `echo-mcp-stdio`: a minimal, fast stdio MCP server (`initialize`, `tools/list`, `tools/call`
//! of `echo`), so that benchmarks measure the proxy in front of it, not the server.
//!
//! Reads newline-delimited JSON-RPC from stdin and writes replies to stdout, flushing whenever
//! no more input is already buffered (so pipelined requests share writes). Exits on EOF.

use std::fs::File;
use std::io::{self, BufRead as _, BufReader, BufWriter, Write as _};
use std::os::fd::AsFd as _;

use smcp_benches::echo::{self, Outcome};

fn main() -> io::Result<()> {
    // Plain files over duplicated descriptors: one buffer each, no std locking per call.
    let input = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let output = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut writer = BufWriter::with_capacity(64 * 1024, output);
    let mut line = Vec::with_capacity(4096);
    let mut reply = Vec::with_capacity(4096);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let message = line.trim_ascii();
        if message.is_empty() {
            continue;
        }
        reply.clear();
        if echo::answer(message, &mut reply) != Outcome::Nothing {
            reply.push(b'\n');
            writer.write_all(&reply)?;
        }
        if reader.buffer().is_empty() {
            writer.flush()?;
        }
    }
    writer.flush()
}
