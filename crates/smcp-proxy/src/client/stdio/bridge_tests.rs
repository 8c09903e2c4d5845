//! The bridge in-process, over in-memory pipes: every host request gets an answer even when
//! the server or the IdP cannot be reached, malformed input gets JSON-RPC errors, and the
//! bridge ends when stdin does.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::StdioBridge;
use crate::client::ClientConfig;
use crate::client::options::Sources;

/// A loopback port nothing listens on (bound, read, released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn bridge(flags: &[(&str, String)]) -> StdioBridge {
    let flags: BTreeMap<String, String> = flags
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let env = BTreeMap::<String, String>::new();
    let (config, _) = ClientConfig::resolve(&Sources::new(flags, &env)).unwrap();
    StdioBridge::new(&config).unwrap()
}

/// Sends `lines` to a bridge, closes stdin, and returns every message it wrote.
async fn exchange(bridge: StdioBridge, lines: &[&str]) -> Vec<Value> {
    let (mut host_in, bridge_in) = tokio::io::duplex(64 * 1024);
    let (bridge_out, host_out) = tokio::io::duplex(64 * 1024);
    let run = tokio::spawn(bridge.run(bridge_in, bridge_out));
    for line in lines {
        host_in.write_all(line.as_bytes()).await.unwrap();
        host_in.write_all(b"\n").await.unwrap();
    }
    drop(host_in);
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the bridge ends with stdin")
        .unwrap();
    let mut out = Vec::new();
    let mut reader = BufReader::new(host_out).lines();
    while let Some(line) = reader.next_line().await.unwrap() {
        out.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    out
}

#[tokio::test]
async fn an_unreachable_server_answers_every_request_with_an_error() {
    let port = closed_port();
    let bridge = bridge(&[("server-url", format!("http://127.0.0.1:{port}/v1/x"))]);
    let out = exchange(
        bridge,
        &[
            r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        ],
    )
    .await;
    // Two answers (the notification gets none), each naming the request and the cause.
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["id"], "init");
    assert_eq!(out[1]["id"], 2);
    for answer in &out {
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("cannot reach the server"), "{message}");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    }
}

#[tokio::test]
async fn no_token_is_an_error_naming_the_idp_problem() {
    let idp = closed_port();
    let bridge = bridge(&[
        ("server-url", "http://127.0.0.1:9/v1/x".to_owned()),
        ("auth-mode", "oidc".to_owned()),
        ("oidc-client-id", "c".to_owned()),
        ("oidc-client-secret", "s".to_owned()),
        ("oidc-token-url", format!("http://127.0.0.1:{idp}/token")),
    ]);
    let out = exchange(
        bridge,
        &[r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#],
    )
    .await;
    assert_eq!(out.len(), 1, "{out:?}");
    let message = out[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not obtain an access token"),
        "{message}"
    );
    assert!(
        message.contains("cannot reach the identity provider"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_input_gets_json_rpc_errors() {
    let bridge = bridge(&[("server-url", format!("http://127.0.0.1:{}/", closed_port()))]);
    let out = exchange(
        bridge,
        &[
            "not json",
            "",
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            r#"{"id":3}"#,
        ],
    )
    .await;
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0]["error"]["code"], -32700);
    assert_eq!(out[1]["error"]["code"], -32600);
    assert!(
        out[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batches")
    );
    assert_eq!(out[2]["error"]["code"], -32600);
    for answer in &out {
        assert_eq!(answer["id"], Value::Null);
    }
}
