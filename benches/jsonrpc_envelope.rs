//! JSON-RPC envelope parsing (`smcp_transport::jsonrpc::parse`) of a 1 KB and a 1 MB message.
//!
//! smcp reads only the envelope (kind, `id`, `method`, progress token) and skips `params` and
//! `result` without building a value tree. Each size is measured as a request (big `params`)
//! and as a response (big `result`, the usual shape of a large tool result), next to a full
//! `serde_json::Value` parse of the same bytes as the reference a naive proxy would pay.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use smcp_transport::jsonrpc;

/// A `tools/call` request whose `params` make the message exactly `size` bytes.
fn request(size: usize) -> Bytes {
    let head = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":"p-42"},"arguments":{"message":""#;
    let tail = r#""}}}"#;
    padded(head, tail, size)
}

/// A `tools/call` result whose text content makes the message exactly `size` bytes.
fn response(size: usize) -> Bytes {
    let head = r#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":""#;
    let tail = r#""}],"isError":false}}"#;
    padded(head, tail, size)
}

/// `head` + filler text (with a few escapes, as real text has) + `tail`, `size` bytes long.
fn padded(head: &str, tail: &str, size: usize) -> Bytes {
    let fill = size - head.len() - tail.len();
    let pattern = "lorem ipsum dolor sit amet, \\\"quoted\\\" \\n next line; ";
    let mut body = String::with_capacity(size);
    body.push_str(head);
    while body.len() + pattern.len() <= head.len() + fill {
        body.push_str(pattern);
    }
    while body.len() < head.len() + fill {
        body.push('x');
    }
    body.push_str(tail);
    debug_assert_eq!(body.len(), size);
    Bytes::from(body)
}

fn envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("jsonrpc_envelope");
    for (size_name, size) in [("1KB", 1024), ("1MB", 1024 * 1024)] {
        for (shape, bytes) in [("request", request(size)), ("response", response(size))] {
            let parsed = match jsonrpc::parse(bytes.clone()) {
                Ok(message) => message,
                Err(err) => unreachable!("generated message parses: {err}"),
            };
            assert_eq!(parsed.bytes().len(), size);
            assert!(parsed.id().is_some());
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("smcp_parse/{shape}"), size_name),
                &bytes,
                |b, bytes| {
                    b.iter(|| {
                        jsonrpc::parse(black_box(bytes.clone()))
                            .map(|m| (m.kind(), m.method().map(str::len)))
                    });
                },
            );
            group.bench_with_input(
                BenchmarkId::new(format!("serde_json_value/{shape}"), size_name),
                &bytes,
                |b, bytes| {
                    b.iter(|| {
                        serde_json::from_slice::<serde_json::Value>(black_box(bytes)).is_ok()
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);
