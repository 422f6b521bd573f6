//! The DICOM path over real dcmtk captures (tests/data/dicom): a 3 MiB
//! C-STORE over 2491 frames (MB/s through decode + flow + reassembly +
//! DICOM parsing), and whole C-ECHO associations (associations/s).
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a panic is a failure report

mod support;
use support::{feed, sensor};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use medtap::time::SECOND;
use std::path::Path;

fn frames(name: &str) -> Vec<(i64, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dicom")
        .join(name);
    let mut cap = pcap::Capture::from_file(path).unwrap();
    let mut out = Vec::new();
    while let Ok(p) = cap.next_packet() {
        out.push((
            p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec,
            p.data.to_vec(),
        ));
    }
    out
}

fn bench(c: &mut Criterion) {
    let big = frames("store_large.pcap");
    let bytes: u64 = big.iter().map(|f| f.1.len() as u64).sum();
    let mut g = c.benchmark_group("dicom");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("c_store_3MiB", |b| {
        b.iter_batched(
            sensor,
            |mut p| {
                feed(&mut p, big.iter().map(|f| (f.0, &f.1[..])), 0);
                p.finish("bench")
            },
            BatchSize::LargeInput,
        )
    });
    let echo = frames("echo.pcap");
    let per_iter = 100u64;
    g.throughput(Throughput::Elements(per_iter));
    g.bench_function("c_echo_associations", |b| {
        b.iter_batched(
            sensor,
            |mut p| {
                // The same 5-tuple again each round: the closed flow is
                // reused by the next SYN, as a busy modality does.
                for i in 0..per_iter as i64 {
                    feed(
                        &mut p,
                        echo.iter().map(|f| (f.0, &f.1[..])),
                        i * 10 * SECOND,
                    );
                }
                p.finish("bench")
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
