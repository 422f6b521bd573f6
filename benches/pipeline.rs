//! Throughput of the hot path over an in-memory synthetic mix (many TCP and
//! UDP flows, 60..1514-byte frames): decode alone, and decode + flow
//! tracking + device inventory. criterion reports packets/s (Melem/s) and
//! bytes/s (multiply by 8 for bit/s).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

#[path = "../tests/common/traffic.rs"]
mod traffic;

mod support;
use support::{feed, sensor};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use medtap::decode::{decode, LinkType};
use medtap::time::SECOND;
use std::hint::black_box;

fn frames() -> Vec<traffic::Frame> {
    traffic::mix(100_000, 500, 1_700_000_000 * SECOND, 42)
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    let n = frames.len() as u64;
    eprintln!(
        "mix: {n} frames, {bytes} bytes, mean {} bytes/frame",
        bytes / n
    );

    // The same run reported two ways: packets/s and bytes/s.
    for (group, throughput) in [
        ("packets", Throughput::Elements(n)),
        ("bytes", Throughput::Bytes(bytes)),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(throughput);
        if group == "packets" {
            g.bench_function("decode", |b| {
                b.iter(|| {
                    for f in &frames {
                        let _ = black_box(decode(LinkType::Ethernet, black_box(&f.data)));
                    }
                })
            });
        }
        g.bench_function("decode+flow+device", |b| {
            b.iter_batched(
                sensor,
                |mut p| {
                    feed(&mut p, frames.iter().map(|f| (f.ts, &f.data[..])), 0);
                    p
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
