//! The stdio child's life: spawn failures, early exits, crashes mid-call, bad output, a
//! flooded stderr, the environment it gets, and stopping (EOF, SIGTERM, SIGKILL to the group,
//! drop) without leaving a process behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

#[path = "stdio_support/helpers.rs"]
mod helpers;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helpers::{
    GUARD, all, call, connect, fake_spec, group_members, json_of, proc_exists, run_tool, wait_gone,
};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use serde_json::json;
use smcp_transport::jsonrpc::INTERNAL_ERROR;
use smcp_transport::stdio::{ChildSpec, RequestError, SpawnError, StdioConnection, StopPolicy};

#[tokio::test]
async fn crash_mid_call_fails_every_request_in_flight() {
    let conn = connect(fake_spec(&[])).await;
    let mut unsolicited = conn.take_unsolicited().unwrap();
    let mut slow = conn
        .request(call(json!(1), "slow", json!({"ms": 60_000})))
        .unwrap();
    let mut crash = conn
        .request(call(json!("boom"), "crash", json!({})))
        .unwrap();

    for (stream, id) in [(&mut slow, json!(1)), (&mut crash, json!("boom"))] {
        let got = all(stream).await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            json_of(&got[0]),
            json!({"jsonrpc":"2.0","id":id,"error":{"code":INTERNAL_ERROR,"message":"backend process exited"}})
        );
    }
    let exit = tokio::time::timeout(GUARD, conn.closed()).await.unwrap();
    assert_eq!(exit.code, Some(3));
    assert_eq!(conn.in_flight(), 0);
    assert!(conn.is_closed());
    assert_eq!(
        conn.request(call(json!(2), "echo", json!({}))).unwrap_err(),
        RequestError::Closed
    );
    assert!(
        unsolicited.recv().await.is_none(),
        "the unsolicited channel ends with the child"
    );
    conn.stop().await;
}

#[test]
fn garbage_and_oversize_lines_are_skipped_and_counted() {
    let capture = Capture::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&capture, || {
        rt.block_on(async {
            let mut spec = fake_spec(&[]);
            spec.max_line_bytes = 64 * 1024;
            let conn = connect(spec).await;
            let got = run_tool(&conn, 1, "garbage", json!({"bytes": 300_000})).await;
            assert_eq!(got.len(), 1);
            assert_eq!(
                json_of(&got[0])["result"]["content"][0]["text"],
                "after the garbage"
            );
            // The session goes on.
            let got = run_tool(&conn, 2, "echo", json!({"still": "here"})).await;
            assert_eq!(
                json_of(&got[0])["result"]["structuredContent"],
                json!({"still": "here"})
            );
            conn.stop().await;
        });
    });
    let c = |k: &str| capture.get(k);
    assert_eq!(
        c("smcp_stdio_skipped_lines_total{backend=fake,reason=oversize}"),
        1
    );
    assert_eq!(
        c("smcp_stdio_skipped_lines_total{backend=fake,reason=invalid}"),
        1
    );
    // initialize, initialized, garbage, echo.
    assert_eq!(
        c("smcp_jsonrpc_messages_total{backend=fake,direction=to_child}"),
        4
    );
    // Three replies.
    assert_eq!(
        c("smcp_jsonrpc_messages_total{backend=fake,direction=from_child}"),
        3
    );
    assert_eq!(c("smcp_child_spawns_total{backend=fake,outcome=ok}"), 1);
    assert_eq!(c("smcp_child_exits_total{backend=fake,outcome=stopped}"), 1);
}

#[tokio::test]
async fn a_flooded_stderr_does_not_stall_the_child() {
    let conn = connect(fake_spec(&[])).await;
    // About 10 MB of stderr: far more than a pipe holds.
    let got = run_tool(&conn, 1, "stderr_flood", json!({"lines": 200_000})).await;
    assert_eq!(
        json_of(&got[0])["result"]["content"][0]["text"],
        "200000 stderr lines"
    );
    let got = run_tool(&conn, 2, "echo", json!({})).await;
    assert_eq!(got.len(), 1);
    conn.stop().await;
}

#[tokio::test]
async fn spawn_failures_name_the_command() {
    async fn spawn(spec: ChildSpec) -> SpawnError {
        StdioConnection::spawn(Arc::new(spec), "s", StopPolicy::default())
            .await
            .expect_err("spawn must fail")
    }

    let err = spawn(ChildSpec::new("b", "/nonexistent/smcp-no-such-command")).await;
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("/nonexistent/smcp-no-such-command"),
        "{err}"
    );

    let err = spawn(ChildSpec::new("b", "smcp-no-such-command-on-path")).await;
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("smcp-no-such-command-on-path"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let not_exec = dir.path().join("not-executable");
    std::fs::write(&not_exec, "#!/bin/sh\n").unwrap();
    let err = spawn(ChildSpec::new("b", not_exec.to_string_lossy())).await;
    assert!(
        matches!(err, SpawnError::PermissionDenied { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not-executable"), "{err}");

    let mut spec = fake_spec(&[]);
    spec.working_dir = Some(dir.path().join("missing"));
    let err = spawn(spec).await;
    assert!(matches!(err, SpawnError::WorkingDir { .. }), "{err:?}");
    assert!(err.to_string().contains("fake-mcp-server"), "{err}");
}

#[tokio::test]
async fn a_child_exiting_at_once_is_a_spawn_error() {
    let mut spec = fake_spec(&["--exit-immediately=5"]);
    // Generous: the check returns as soon as the child exits.
    spec.startup_check = GUARD;
    let err = StdioConnection::spawn(Arc::new(spec), "s", StopPolicy::default())
        .await
        .expect_err("exits at once");
    let SpawnError::ExitedAtOnce {
        command,
        exit,
        stderr_tail,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(command.ends_with("fake-mcp-server"));
    assert_eq!(exit.code, Some(5));
    assert!(
        stderr_tail.iter().any(|l| l.contains("exiting at once")),
        "{stderr_tail:?}"
    );
    assert!(err.to_string().contains("fake-mcp-server"), "{err}");
    assert!(err.to_string().contains("exit code 5"), "{err}");
}

#[tokio::test]
async fn without_the_startup_check_an_early_exit_closes_the_connection() {
    let mut spec = fake_spec(&["--exit-immediately=4"]);
    spec.startup_check = Duration::ZERO;
    let conn = StdioConnection::spawn(Arc::new(spec), "s", StopPolicy::default())
        .await
        .unwrap();
    let exit = tokio::time::timeout(GUARD, conn.closed()).await.unwrap();
    assert_eq!(exit.code, Some(4));
    match conn.request(call(json!(1), "echo", json!({}))) {
        Err(e) => assert_eq!(e, RequestError::Closed),
        // The exit may not have reached the reader yet: the request then fails on its stream.
        Ok(mut stream) => {
            let got = all(&mut stream).await;
            assert_eq!(json_of(&got[0])["error"]["code"], INTERNAL_ERROR);
        }
    }
    conn.stop().await;
}

/// Set in the environment of the re-executed test binary (see below).
const LEAK: &str = "SMCP_SECRET_FOR_TEST";
const PARENT_ONLY: &str = "STDIO_TEST_PARENT_ONLY";

/// The child environment test needs SMCP_* variables in smcp's own environment, which a test
/// cannot set on itself (`set_var` is unsafe), so it runs `child_env_inner` in a copy of this
/// test binary started with them.
#[test]
fn child_environment_is_minimal_and_never_has_smcp_variables() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--ignored", "--exact", "child_env_inner", "--nocapture"])
        .env(LEAK, "hunter2")
        .env(PARENT_ONLY, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}

#[tokio::test]
#[ignore = "run by child_environment_is_minimal_and_never_has_smcp_variables"]
async fn child_env_inner() {
    assert_eq!(
        std::env::var(LEAK).as_deref(),
        Ok("hunter2"),
        "run through the outer test"
    );
    let configured: BTreeMap<String, String> = [
        ("CONFIGURED_Key", "yes"),
        ("SMCP_CONFIGURED", "dropped too"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();

    let mut spec = fake_spec(&[]);
    spec.env = configured.clone();
    let env = child_env_of(spec).await;
    let allowed = [
        "PATH",
        "HOME",
        "USER",
        "LANG",
        "TZ",
        "TMPDIR",
        "CONFIGURED_Key",
    ];
    for name in env.keys() {
        assert!(
            allowed.contains(&name.as_str()) || name.starts_with("LC_"),
            "unexpected variable {name} in the child"
        );
    }
    assert_eq!(env["CONFIGURED_Key"], "yes");
    assert_eq!(env.get("PATH"), std::env::var("PATH").ok().as_ref());

    let mut spec = fake_spec(&[]);
    spec.env = configured;
    spec.inherit_env = true;
    let env = child_env_of(spec).await;
    assert_eq!(env[PARENT_ONLY], "1", "inherited");
    assert_eq!(env["CONFIGURED_Key"], "yes");
    assert!(env.contains_key("CARGO_MANIFEST_DIR") || std::env::var("CARGO_MANIFEST_DIR").is_err());
    assert!(!env.keys().any(|k| k.starts_with("SMCP_")), "{env:?}");
}

async fn child_env_of(spec: ChildSpec) -> HashMap<String, String> {
    let conn = connect(spec).await;
    let got = run_tool(&conn, 1, "env", json!({})).await;
    conn.stop().await;
    serde_json::from_value(json_of(&got[0])["result"]["structuredContent"].clone()).unwrap()
}

/// Processes of the group other than zombies (which only their parent can remove: for a
/// grandchild that is init, not smcp).
fn live_members(pgid: u32) -> Vec<(u32, char)> {
    group_members(pgid)
        .into_iter()
        .filter(|(_, s)| *s != 'Z')
        .collect()
}

#[tokio::test]
async fn stop_closes_stdin_reaps_the_child_and_fails_requests_in_flight() {
    let conn = connect(fake_spec(&[])).await;
    let pid = conn.pid();
    assert!(proc_exists(pid));
    let mut held = conn.request(call(json!(1), "silent", json!({}))).unwrap();

    conn.stop().await;
    assert!(!proc_exists(pid), "reaped: not even a zombie");
    assert!(live_members(pid).is_empty());
    let exit = conn.closed().await;
    assert_eq!(exit.code, Some(0), "left on EOF");
    let got = all(&mut held).await;
    assert_eq!(json_of(&got[0])["error"]["code"], INTERNAL_ERROR);

    // Idempotent, and concurrent callers all return.
    tokio::join!(conn.stop(), conn.stop());
}

#[tokio::test]
async fn stop_sends_sigterm_when_eof_is_ignored() {
    let spec = fake_spec(&["--ignore-eof"]);
    let policy = StopPolicy {
        stdin_grace: Duration::from_millis(200),
        term_grace: GUARD,
    };
    let conn = StdioConnection::spawn(Arc::new(spec), "s", policy)
        .await
        .unwrap();
    let pid = conn.pid();
    conn.stop().await;
    assert!(!proc_exists(pid));
    assert_eq!(conn.closed().await.signal, Some(15));
}

#[tokio::test]
async fn stop_kills_the_whole_group_when_sigterm_is_ignored() {
    // A shell that ignores SIGTERM (and so does the `sleep` it starts, which inherits that)
    // and never reads stdin: only SIGKILL to the group ends both.
    let mut spec = ChildSpec::new("sh", "/bin/sh");
    spec.args = vec![
        "-c".into(),
        "trap '' TERM; sleep 1000 & wait; sleep 1000".into(),
    ];
    let policy = StopPolicy {
        stdin_grace: Duration::from_millis(100),
        term_grace: Duration::from_millis(300),
    };
    let conn = StdioConnection::spawn(Arc::new(spec), "s", policy)
        .await
        .unwrap();
    let pid = conn.pid();
    // Wait until the grandchild exists, so the test really covers it.
    let deadline = tokio::time::Instant::now() + GUARD;
    while group_members(pid).len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sleep never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let grandchild = group_members(pid)
        .into_iter()
        .find(|(p, _)| *p != pid)
        .unwrap()
        .0;

    conn.stop().await;
    assert_eq!(conn.closed().await.signal, Some(9));
    assert!(!proc_exists(pid));
    assert!(live_members(pid).is_empty(), "{:?}", group_members(pid));
    assert!(!live_members(pid).iter().any(|(p, _)| *p == grandchild));
}

#[tokio::test]
async fn dropping_the_last_handle_kills_the_group() {
    let conn = connect(fake_spec(&[])).await;
    let pid = conn.pid();
    let clone = conn.clone();
    drop(conn);
    assert!(proc_exists(pid), "a clone still holds it");
    drop(clone);
    wait_gone(pid).await;
}

#[tokio::test]
async fn a_cancelled_spawn_leaves_no_child() {
    // A unique argument marks this test's child in /proc.
    let marker = "987654";
    let mut spec = fake_spec(&["--startup-delay-ms", marker]);
    spec.startup_check = GUARD;
    let mut spawn = Box::pin(StdioConnection::spawn(
        Arc::new(spec),
        "s",
        StopPolicy::default(),
    ));
    let deadline = tokio::time::Instant::now() + GUARD;
    let pid = loop {
        tokio::select! {
            r = &mut spawn => panic!("spawn returned during its startup check: {r:?}"),
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        if let Some(pid) = find_by_arg(marker) {
            break pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "child never appeared"
        );
    };
    drop(spawn);
    wait_gone(pid).await;
}

/// The pid of a process whose command line has `arg` as one of its arguments.
fn find_by_arg(arg: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            cmdline
                .split(|b| *b == 0)
                .any(|a| a == arg.as_bytes())
                .then_some(pid)
        })
}

/// A metrics recorder that keeps counters, keyed `name{label=value,...}` with labels sorted.
#[derive(Default, Clone)]
struct Capture(Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>);

impl Capture {
    fn get(&self, key: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let cell = self.0.lock().unwrap().entry(name).or_default().clone();
        Counter::from_arc(cell)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}
