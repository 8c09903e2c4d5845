//! smcp-server: parse the command line, load the configuration, run the server.

fn main() {}
