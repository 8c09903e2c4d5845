//! SSE framing (`smcp_transport::sse`): encoding one event and decoding a stream of events.
//!
//! The payloads are JSON-RPC responses of 1 KB and 1 MB, as smcp writes them on a POST's SSE
//! answer. Decoding is measured on the whole stream at once and fed in 4 KiB chunks (the
//! typical read size), so line reassembly across chunk boundaries is included.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use smcp_transport::sse::{self, Decoder, Event};

/// A single-line JSON-RPC response of `size` bytes.
fn payload(size: usize) -> Bytes {
    let head = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":""#;
    let tail = r#""}]}}"#;
    let mut body = String::with_capacity(size);
    body.push_str(head);
    while body.len() < size - tail.len() {
        body.push('a');
    }
    body.push_str(tail);
    Bytes::from(body)
}

fn event(size: usize) -> Event {
    Event {
        id: Some("0123456789abcdef/17".to_owned()),
        event: Some("message".to_owned()),
        data: payload(size),
        retry: None,
    }
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse_encode");
    for (name, size) in [("1KB", 1024), ("1MB", 1024 * 1024)] {
        let ev = event(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &ev, |b, ev| {
            b.iter(|| sse::encode(black_box(ev)).len());
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse_decode");
    for (name, size) in [("1KB", 1024), ("1MB", 1024 * 1024)] {
        let wire = sse::encode(&event(size));
        let check = match Decoder::new().feed(&wire) {
            Ok(events) => events,
            Err(err) => unreachable!("encoded event decodes: {err}"),
        };
        assert_eq!(check.len(), 1);
        assert_eq!(check[0].data.len(), size);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::new("whole", name), &wire, |b, wire| {
            b.iter(|| {
                let mut decoder = Decoder::new();
                decoder.feed(black_box(wire)).map(|events| events.len())
            });
        });
        group.bench_with_input(BenchmarkId::new("chunks_4KiB", name), &wire, |b, wire| {
            b.iter(|| {
                let mut decoder = Decoder::new();
                let mut events = 0;
                for chunk in black_box(wire).chunks(4096) {
                    events += decoder.feed(chunk).map_or(0, |e| e.len());
                }
                events
            });
        });
    }
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
