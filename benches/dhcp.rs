//! The DHCPv4 parser on its own: a realistic REQUEST from a Windows-style
//! client (client id, requested IP, server id, host name, FQDN, vendor
//! class `MSFT 5.0`, a 14-entry parameter request list; 300 bytes as
//! sent, padded), parsed in place (messages/s), and the same message made
//! into its owned record (what the pipeline does once per message).
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a panic is a failure report

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medtap::proto::dhcp::{parse_v4, MessageRecord};
use std::hint::black_box;

fn request() -> Vec<u8> {
    let mut m = vec![1, 1, 6, 0]; // op, htype, hlen, hops
    m.extend([0xe0, 0x1c, 0xc7, 0x18]); // xid
    m.extend([0, 0, 0, 0]); // secs, flags
    m.extend([0; 16]); // ciaddr, yiaddr, siaddr, giaddr
    m.extend([0x28, 0xcf, 0xda, 0xdc, 0x8d, 0x76]); // chaddr
    m.resize(236, 0); // chaddr padding, sname, file
    m.extend([99, 130, 83, 99]); // cookie
    m.extend([53, 1, 3]); // REQUEST
    m.extend([61, 7, 1, 0x28, 0xcf, 0xda, 0xdc, 0x8d, 0x76]);
    m.extend([50, 4, 192, 168, 1, 111]);
    m.extend([54, 4, 192, 168, 1, 1]);
    m.extend([12, 12]);
    m.extend(b"ICU-WS-BED12");
    m.extend([81, 15, 0, 0, 0]);
    m.extend(b"ICU-WS-BED12");
    m.extend([60, 8]);
    m.extend(b"MSFT 5.0");
    m.extend([
        55, 14, 1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252,
    ]);
    m.push(255);
    m.resize(300, 0);
    m
}

fn bench(c: &mut Criterion) {
    let req = request();
    assert!(parse_v4(&req).unwrap().issues.is_empty());
    let mut g = c.benchmark_group("dhcp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_v4_request", |b| {
        b.iter(|| parse_v4(black_box(&req)).unwrap().options.message_type)
    });
    g.bench_function("parse_v4_request_record", |b| {
        b.iter(|| MessageRecord::from_message(0, &parse_v4(black_box(&req)).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
