//! Failures: unreachable, silent and broken backends, failing request bodies, bad options.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::support::{backend, ctx, get, serve};
use crate::body::{self, BoxError};
use crate::http::{ForwardError, HttpBackend, HttpBackendError, HttpBackendOptions};

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    // Bind, note the port, and close it again: nothing listens there now.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let backend = backend(&format!("http://{addr}/mcp"), Duration::from_secs(30));
    let err = backend.forward(get(), ctx("/")).await.unwrap_err();
    assert!(matches!(err, ForwardError::Connect { .. }), "{err:?}");
    assert_eq!(err.kind(), "connect");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn silent_backend_times_out() {
    // A backend that accepts and reads the request but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (got_request_tx, mut got_request) = mpsc::unbounded_channel::<()>();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        got_request_tx.send(()).unwrap();
        // Hold the connection open, silently, until the test ends.
        std::future::pending::<()>().await;
    });

    let timeout = Duration::from_secs(30);
    let backend = backend(&format!("http://{addr}/mcp"), timeout);
    let forwarding = tokio::spawn(async move { backend.forward(get(), ctx("/")).await });
    got_request.recv().await.unwrap();
    // The request is provably with the backend: now let the timeout pass.
    tokio::time::pause();
    tokio::time::advance(timeout + Duration::from_secs(1)).await;

    let err = forwarding.await.unwrap().unwrap_err();
    assert!(
        matches!(err, ForwardError::Timeout { after } if after == timeout),
        "{err:?}"
    );
    assert_eq!(err.kind(), "timeout");
    assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
    server.abort();
}

#[tokio::test]
async fn backend_speaking_garbage_is_a_protocol_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = tcp.read(&mut buf).await.unwrap();
        tcp.write_all(b"this is not HTTP\r\n\r\n").await.unwrap();
        tcp.shutdown().await.unwrap();
    });
    let backend = backend(&format!("http://{addr}"), Duration::from_secs(30));
    let err = backend.forward(get(), ctx("/")).await.unwrap_err();
    assert_eq!(err.kind(), "protocol", "{err:?}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
    server.await.unwrap();
}

/// A server that reads whole request bodies before answering.
async fn body_reading_server() -> super::support::Server {
    serve(|req: Request<hyper::body::Incoming>| async move {
        let _ = req.into_body().collect().await;
        http::Response::new(body::empty())
    })
    .await
}

#[tokio::test]
async fn failing_request_body_is_a_body_error() {
    let server = body_reading_server().await;
    let backend = backend(&format!("http://{}", server.addr), Duration::from_secs(30));
    let frames = stream::iter([
        Ok(Frame::data(Bytes::from_static(b"{\"jsonrpc\":"))),
        Err::<Frame<Bytes>, BoxError>("client went away".into()),
    ]);
    let req = Request::builder()
        .method(Method::POST)
        .body(body::boxed(StreamBody::new(frames)))
        .unwrap();
    let err = backend.forward(req, ctx("/")).await.unwrap_err();
    assert!(
        matches!(&err, ForwardError::Body { too_large: false, detail } if detail == "client went away"),
        "{err:?}"
    );
    assert_eq!(err.kind(), "body");
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn request_body_over_a_limit_is_too_large() {
    let server = body_reading_server().await;
    let backend = backend(&format!("http://{}", server.addr), Duration::from_secs(30));
    let limited = Limited::new(Full::new(Bytes::from(vec![b'x'; 1024])), 16);
    let req = Request::builder()
        .method(Method::POST)
        .body(body::boxed(limited))
        .unwrap();
    let err = backend.forward(req, ctx("/")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ForwardError::Body {
                too_large: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

fn options(url: &str, ca_file: Option<&std::path::Path>) -> HttpBackendOptions {
    HttpBackendOptions {
        backend_id: Arc::from("test"),
        url: url::Url::parse(url).unwrap(),
        timeout: Duration::from_secs(1),
        ca_file: ca_file.map(ToOwned::to_owned),
        trusted_cas: None,
    }
}

#[test]
fn bad_options_are_rejected() {
    let err = HttpBackend::new(options("ftp://h/x", None)).unwrap_err();
    assert!(matches!(err, HttpBackendError::UnsupportedScheme { ref scheme } if scheme == "ftp"));

    let err = HttpBackend::new(options("http://user:secret@h/x", None)).unwrap_err();
    assert!(matches!(err, HttpBackendError::CredentialsInUrl));
    assert!(!err.to_string().contains("secret"));

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = HttpBackend::new(options("http://h/x", Some(&missing))).unwrap_err();
    assert!(
        matches!(err, HttpBackendError::CaFileRead { .. }),
        "{err:?}"
    );

    let empty = dir.path().join("empty.pem");
    std::fs::File::create(&empty)
        .unwrap()
        .write_all(b"no certificates here\n")
        .unwrap();
    let err = HttpBackend::new(options("https://h/x", Some(&empty))).unwrap_err();
    assert!(
        matches!(err, HttpBackendError::CaFileEmpty { .. }),
        "{err:?}"
    );

    let broken = dir.path().join("broken.pem");
    std::fs::File::create(&broken)
        .unwrap()
        .write_all(b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n")
        .unwrap();
    let err = HttpBackend::new(options("https://h/x", Some(&broken))).unwrap_err();
    assert!(matches!(err, HttpBackendError::CaFilePem { .. }), "{err:?}");
}
