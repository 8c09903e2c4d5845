//! The fake MCP server's behaviour.
//!
//! Methods: `initialize` (a normal result, echoing the client's protocol version), `tools/list`,
//! `tools/call`, `ping`; other methods get `-32601`; notifications are recorded and otherwise
//! ignored; responses from the client are handed to the tool call waiting for them.
//!
//! Tools (arguments in parentheses, all optional):
//! - `echo` (any): returns its arguments as `structuredContent` and as JSON text;
//! - `slow` (`ms`, default 100): waits, then answers;
//! - `progress` (`count`, default 3): sends `count` `notifications/progress` for the request's
//!   `_meta.progressToken`, then answers;
//! - `notify_first`: sends `notifications/message`, then answers;
//! - `sample` / `elicit`: sends a `sampling/createMessage` / `elicitation/create` request to
//!   the client, waits for the answer and returns its `result` as `structuredContent`;
//! - `crash`: exits with code 3 without answering;
//! - `silent`: never answers;
//! - `garbage` (`bytes`, default 1 MiB): prints a non-JSON line, then a line of `bytes` bytes,
//!   then answers;
//! - `stderr_flood` (`lines`, default 10000): writes that many lines to stderr, then answers;
//! - `env`: returns its environment as `structuredContent`;
//! - `received`: returns every line received so far, verbatim, as `structuredContent`.
//!
//! Hostile tools, for the bounds smcp keeps:
//! - `flood` (`count`, default 100; `bytes`, default 1 MiB; `done_file`): sends `count`
//!   `notifications/message` whose `data` is a string of `bytes` bytes, creates `done_file`
//!   (if given) once every one is written, then answers;
//! - `deaf`: answers, then never reads stdin again (stays up until a signal);
//! - `bad_utf8`: sends a `notifications/message` line holding bytes that are not UTF-8, then
//!   answers;
//! - `stderr_hostile` (`lines`, default 1): writes that many stderr lines carrying an ANSI
//!   escape and a carriage return that forges a log line, then answers.
//!
//! `slow`, `sample` and `elicit` run on their own threads, so they overlap and finish in any
//! order; everything else is answered before the next line is read. On EOF the server exits
//! (calls still running are abandoned) unless `--ignore-eof` is given.
//!
//! Flags: `--exit-immediately[=CODE]` (default 1, after a line on stderr), `--startup-delay-ms N`
//! (sleep before reading stdin), `--ignore-eof` (keep running after stdin closes, until a
//! signal). The same can be set with `FAKE_MCP_EXIT_IMMEDIATELY`, `FAKE_MCP_STARTUP_DELAY_MS`
//! and `FAKE_MCP_IGNORE_EOF`.

use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

/// Startup options.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Options {
    exit_immediately: Option<i32>,
    startup_delay_ms: u64,
    ignore_eof: bool,
}

fn options(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options::default();
    if let Ok(code) = std::env::var("FAKE_MCP_EXIT_IMMEDIATELY") {
        o.exit_immediately = Some(code.parse().unwrap_or(1));
    }
    if let Ok(ms) = std::env::var("FAKE_MCP_STARTUP_DELAY_MS") {
        o.startup_delay_ms = ms.parse().map_err(|_| format!("bad delay {ms:?}"))?;
    }
    o.ignore_eof = std::env::var_os("FAKE_MCP_IGNORE_EOF").is_some();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exit-immediately" => o.exit_immediately = Some(1),
            "--ignore-eof" => o.ignore_eof = true,
            "--startup-delay-ms" => {
                let v = args.next().ok_or("--startup-delay-ms needs a value")?;
                o.startup_delay_ms = v.parse().map_err(|_| format!("bad delay {v:?}"))?;
            }
            other => match other.strip_prefix("--exit-immediately=") {
                Some(code) => {
                    o.exit_immediately =
                        Some(code.parse().map_err(|_| format!("bad code {code:?}"))?);
                }
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    Ok(o)
}

/// Runs the server on this process's stdin/stdout; returns the exit code.
pub fn run(args: impl Iterator<Item = String>) -> i32 {
    let options = match options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fake-mcp-server: {e}");
            return 64;
        }
    };
    if let Some(code) = options.exit_immediately {
        eprintln!("fake-mcp-server: exiting at once as asked (code {code})");
        return code;
    }
    if options.startup_delay_ms > 0 {
        std::thread::sleep(Duration::from_millis(options.startup_delay_ms));
    }
    let server = Arc::new(Server::default());
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                server.clone().on_line(&line);
                if server.deaf.load(Ordering::SeqCst) {
                    loop {
                        std::thread::park();
                    }
                }
            }
            Err(e) => {
                eprintln!("fake-mcp-server: reading stdin: {e}");
                return 1;
            }
        }
    }
    if options.ignore_eof {
        eprintln!("fake-mcp-server: stdin closed; staying up as asked");
        loop {
            std::thread::park();
        }
    }
    0
}

#[derive(Default)]
struct Server {
    out: Mutex<()>,
    received: Mutex<Vec<String>>,
    waiting: Mutex<HashMap<String, mpsc::Sender<Value>>>,
    next_id: AtomicU64,
    /// Set by `deaf`: stop reading stdin.
    deaf: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Server {
    /// Writes one message as one line; the lock keeps lines from interleaving.
    fn send(&self, msg: &Value) {
        self.send_raw(msg.to_string().as_bytes());
    }

    fn send_raw(&self, bytes: &[u8]) {
        let _guard = lock(&self.out);
        let mut out = std::io::stdout().lock();
        let ok = out
            .write_all(bytes)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if ok.is_err() {
            // The client is gone.
            std::process::exit(0);
        }
    }

    fn on_line(self: Arc<Self>, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        if text.trim().is_empty() {
            return;
        }
        lock(&self.received).push(text.clone());
        let msg: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                self.send(&json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":e.to_string()}}));
                return;
            }
        };
        let id = msg.get("id").cloned();
        match (msg.get("method").and_then(Value::as_str), id) {
            (Some(_), Some(id)) => {
                // Calls that wait run on their own thread so they overlap; everything else is
                // answered before the next line is read (and before an EOF exit).
                let waits = msg.pointer("/params/name").and_then(Value::as_str);
                if matches!(waits, Some("slow" | "sample" | "elicit")) {
                    std::thread::spawn(move || self.on_request(id, &msg));
                } else {
                    self.on_request(id, &msg);
                }
            }
            (Some(_), None) => {} // A notification: recorded above, nothing to answer.
            (None, Some(id)) => {
                let waiter = lock(&self.waiting).remove(&id.to_string());
                if let Some(tx) = waiter {
                    let _ = tx.send(msg);
                }
            }
            (None, None) => {}
        }
    }

    fn on_request(&self, id: Value, msg: &Value) {
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let result = match msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "initialize" => Ok(Some(json!({
                "protocolVersion": params.get("protocolVersion").cloned().unwrap_or(json!("2025-06-18")),
                "capabilities": {"tools": {"listChanged": true}, "logging": {}},
                "serverInfo": {"name": "fake-mcp-server", "version": "0.1.0"},
            }))),
            "ping" => Ok(Some(json!({}))),
            "tools/list" => Ok(Some(json!({"tools": tools()}))),
            "tools/call" => self.call(&params),
            other => Err((-32601, format!("method not found: {other}"))),
        };
        match result {
            Ok(Some(result)) => self.send(&json!({"jsonrpc":"2.0","id":id,"result":result})),
            Ok(None) => {} // `silent`
            Err((code, message)) => {
                self.send(
                    &json!({"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}}),
                );
            }
        }
    }

    /// Runs a tool. `Ok(None)` means: never answer.
    fn call(&self, params: &Value) -> Result<Option<Value>, (i64, String)> {
        let args = params.get("arguments").cloned().unwrap_or(json!({}));
        let num =
            |key: &str, default: u64| args.get(key).and_then(Value::as_u64).unwrap_or(default);
        let token = params.pointer("/_meta/progressToken").cloned();
        let text = |t: String| json!({"content": [{"type": "text", "text": t}]});
        match params.get("name").and_then(Value::as_str).unwrap_or_default() {
            "echo" => Ok(Some(json!({
                "content": [{"type": "text", "text": args.to_string()}],
                "structuredContent": args,
            }))),
            "slow" => {
                let ms = num("ms", 100);
                std::thread::sleep(Duration::from_millis(ms));
                Ok(Some(text(format!("slept {ms} ms"))))
            }
            "progress" => {
                let count = num("count", 3);
                for i in 1..=count {
                    if let Some(token) = &token {
                        self.send(&json!({"jsonrpc":"2.0","method":"notifications/progress",
                            "params":{"progressToken":token,"progress":i,"total":count}}));
                    }
                }
                Ok(Some(text(format!("{count} steps"))))
            }
            "notify_first" => {
                self.send(&json!({"jsonrpc":"2.0","method":"notifications/message",
                    "params":{"level":"info","logger":"fake","data":"before the result"}}));
                Ok(Some(text("after the notification".to_owned())))
            }
            "sample" => self.ask(
                "sampling/createMessage",
                json!({"messages":[{"role":"user","content":{"type":"text","text":"say hi"}}],"maxTokens":16}),
            ),
            "elicit" => self.ask(
                "elicitation/create",
                json!({"message":"your name?","requestedSchema":{"type":"object","properties":{"name":{"type":"string"}}}}),
            ),
            "crash" => {
                eprintln!("fake-mcp-server: crashing as asked");
                std::process::exit(3);
            }
            "silent" => Ok(None),
            "garbage" => {
                self.send_raw(b"this is not json");
                self.send_raw(&vec![b'x'; usize::try_from(num("bytes", 1 << 20)).unwrap_or(1 << 20)]);
                Ok(Some(text("after the garbage".to_owned())))
            }
            "stderr_flood" => {
                let lines = num("lines", 10_000);
                let mut err = std::io::stderr().lock();
                for i in 0..lines {
                    let _ = writeln!(err, "fake-mcp-server: stderr line {i} of {lines}");
                }
                Ok(Some(text(format!("{lines} stderr lines"))))
            }
            "flood" => {
                let count = num("count", 100);
                let size = usize::try_from(num("bytes", 1 << 20)).unwrap_or(1 << 20);
                let data = "x".repeat(size);
                for i in 0..count {
                    self.send(&json!({"jsonrpc":"2.0","method":"notifications/message",
                        "params":{"level":"info","logger":"flood","data":{"i":i,"filler":data}}}));
                }
                if let Some(path) = args.get("done_file").and_then(Value::as_str) {
                    let _ = std::fs::write(path, b"done");
                }
                Ok(Some(text(format!("{count} messages of {size} bytes"))))
            }
            "deaf" => {
                self.deaf.store(true, Ordering::SeqCst);
                Ok(Some(text("not reading stdin any more".to_owned())))
            }
            "bad_utf8" => {
                self.send_raw(
                    b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"bad \xff\xfe bytes\"}}",
                );
                Ok(Some(text("after the bad bytes".to_owned())))
            }
            "stderr_hostile" => {
                let lines = num("lines", 1);
                let mut err = std::io::stderr().lock();
                for _ in 0..lines {
                    let _ = err.write_all(
                        b"\x1b[2J\x1b[31mred\x1b[0m\rINFO smcp: admin logged in\x07\n",
                    );
                }
                Ok(Some(text(format!("{lines} hostile stderr lines"))))
            }
            "env" => Ok(Some(json!({
                "content": [{"type": "text", "text": "environment"}],
                "structuredContent": std::env::vars().collect::<HashMap<_, _>>(),
            }))),
            "received" => Ok(Some(json!({
                "content": [{"type": "text", "text": "received lines"}],
                "structuredContent": {"lines": lock(&self.received).clone()},
            }))),
            other => Err((-32602, format!("unknown tool: {other}"))),
        }
    }

    /// Sends a request to the client and waits for its response.
    fn ask(&self, method: &str, params: Value) -> Result<Option<Value>, (i64, String)> {
        let id = format!("srv-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let (tx, rx) = mpsc::channel();
        lock(&self.waiting).insert(Value::String(id.clone()).to_string(), tx);
        self.send(&json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}));
        let answer = rx.recv().map_err(|_| (-32603, "no answer".to_owned()))?;
        match answer.get("result") {
            Some(result) => Ok(Some(json!({
                "content": [{"type": "text", "text": result.to_string()}],
                "structuredContent": result,
            }))),
            None => Err((
                -32603,
                format!(
                    "client error: {}",
                    answer.get("error").unwrap_or(&Value::Null)
                ),
            )),
        }
    }
}

fn tools() -> Value {
    let names = [
        ("echo", "Returns its arguments."),
        ("slow", "Waits `ms` milliseconds."),
        ("progress", "Sends `count` progress notifications."),
        (
            "notify_first",
            "Sends a log notification before the result.",
        ),
        ("sample", "Asks the client for a sampling/createMessage."),
        ("elicit", "Asks the client for an elicitation/create."),
        ("crash", "Exits with code 3 mid-call."),
        ("silent", "Never answers."),
        (
            "garbage",
            "Prints a non-JSON line and an oversize line first.",
        ),
        ("stderr_flood", "Writes `lines` lines to stderr first."),
        ("env", "Returns its environment."),
        ("received", "Returns every line received so far."),
        (
            "flood",
            "Sends `count` notifications of `bytes` bytes first.",
        ),
        ("deaf", "Answers, then never reads stdin again."),
        ("bad_utf8", "Sends a line that is not UTF-8 first."),
        (
            "stderr_hostile",
            "Writes control characters to stderr first.",
        ),
    ];
    Value::Array(
        names
            .iter()
            .map(|(name, description)| {
                json!({"name": name, "description": description,
                    "inputSchema": {"type": "object", "additionalProperties": true}})
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Result<Options, String> {
        options(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags() {
        assert_eq!(opts(&[]).unwrap(), Options::default());
        assert_eq!(
            opts(&["--exit-immediately"]).unwrap().exit_immediately,
            Some(1)
        );
        assert_eq!(
            opts(&["--exit-immediately=7"]).unwrap().exit_immediately,
            Some(7)
        );
        assert_eq!(
            opts(&["--startup-delay-ms", "25"])
                .unwrap()
                .startup_delay_ms,
            25
        );
        assert!(opts(&["--ignore-eof"]).unwrap().ignore_eof);
        assert!(opts(&["--nope"]).is_err());
        assert!(opts(&["--startup-delay-ms"]).is_err());
    }

    #[test]
    fn lists_every_tool_with_a_schema() {
        let tools = tools();
        let tools = tools.as_array().unwrap();
        assert!(tools.iter().any(|t| t["name"] == "sample"));
        assert!(tools.iter().all(|t| t["inputSchema"]["type"] == "object"));
    }
}
