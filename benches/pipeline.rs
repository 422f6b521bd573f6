//! Throughput of the hot path over an in-memory synthetic mix (many TCP and
//! UDP flows, 60..1514-byte frames): decode alone, and decode + flow
//! tracking + device inventory. criterion reports packets/s (Melem/s) and
//! bytes/s (multiply by 8 for bit/s).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

#[path = "../tests/common/traffic.rs"]
mod traffic;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use medtap::capture::Frame;
use medtap::decode::{decode, LinkType};
use medtap::pipeline::{Pipeline, PipelineOptions};
use medtap::record::{channel, Backpressure};
use medtap::time::SECOND;
use std::hint::black_box;

fn frames() -> Vec<traffic::Frame> {
    traffic::mix(100_000, 500, 1_700_000_000 * SECOND, 42)
}

fn pipeline() -> Pipeline {
    // The writer is not part of the hot path: records go to a channel whose
    // receiver is gone, which costs one failed try_send each.
    let (tx, _rx) = channel(1 << 16, Backpressure::Drop);
    let opts = PipelineOptions {
        max_flows: 262_144,
        timeouts: medtap::flow::Timeouts::default(),
        max_devices: 65_536,
        local_networks: medtap::config::IdentityConfig::default().networks(),
        device_flush_every: 60 * SECOND,
        first_flow_id: 1,
        reassembly_bytes: 64 << 20,
    };
    Pipeline::new(&opts, tx)
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    let n = frames.len() as u64;
    eprintln!(
        "mix: {n} frames, {bytes} bytes, mean {} bytes/frame",
        bytes / n
    );

    let mut g = c.benchmark_group("packets");
    g.throughput(Throughput::Elements(n));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for f in &frames {
                let _ = black_box(decode(LinkType::Ethernet, black_box(&f.data)));
            }
        })
    });
    g.bench_function("decode+flow+device", |b| {
        b.iter_batched(
            pipeline,
            |mut p| {
                for f in &frames {
                    p.process(
                        LinkType::Ethernet,
                        &Frame {
                            ts: f.ts,
                            wire_len: f.data.len() as u32,
                            data: &f.data,
                        },
                    );
                }
                p
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("bytes");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("decode+flow+device", |b| {
        b.iter_batched(
            pipeline,
            |mut p| {
                for f in &frames {
                    p.process(
                        LinkType::Ethernet,
                        &Frame {
                            ts: f.ts,
                            wire_len: f.data.len() as u32,
                            data: &f.data,
                        },
                    );
                }
                p
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
