//! The MQTT session parser on its own (the integrator's pipeline benches
//! add decode, flows and reassembly): a realistic telemetry session —
//! CONNECT, then QoS 1 PUBLISHes of ~200-byte payloads over a few topics,
//! each acknowledged — delivered in 1448-byte TCP segments that split
//! packets anywhere (messages/s and MB/s); a gateway session publishing
//! round-robin to many topics, so that nearly every PUBLISH looks its
//! topic up among many kept ones (messages/s); and a stream of 1 MiB
//! PUBLISHes whose payloads are skipped by count (MB/s).
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a panic is a failure report

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medtap::proto::mqtt::Session;
use std::hint::black_box;

/// Segment size the streams are cut into (a full Ethernet MSS with timestamps).
const MSS: usize = 1448;
/// Messages in the telemetry session.
const MESSAGES: usize = 2000;
/// Topics of the gateway session (under `MAX_PUBLISHED`, 256: all kept).
const GATEWAY_TOPICS: usize = 200;
/// Messages in the gateway session (20 per topic).
const GATEWAY_MESSAGES: usize = 4000;

fn varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    varint(body.len(), &mut v);
    v.extend_from_slice(body);
    v
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.extend((s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn connect() -> Vec<u8> {
    let mut b = Vec::new();
    string(b"MQTT", &mut b);
    b.extend([4, 0xC2, 0, 60]); // 3.1.1, user name, password, clean; keep alive 60
    string(b"monitor-icu-bed-04", &mut b);
    string(b"device", &mut b);
    string(b"secret", &mut b);
    packet(0x10, &b)
}

fn publish(qos: u8, topic: &[u8], id: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    string(topic, &mut b);
    if qos > 0 {
        b.extend(id.to_be_bytes());
    }
    b.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &b)
}

/// (client bytes, broker bytes) of the telemetry session.
fn telemetry() -> (Vec<u8>, Vec<u8>) {
    let topics: [&[u8]; 4] = [
        b"hospital/icu/bed04/vitals/hr",
        b"hospital/icu/bed04/vitals/spo2",
        b"hospital/icu/bed04/pump/rate",
        b"hospital/icu/bed04/alarms",
    ];
    let mut client = connect();
    let mut broker = vec![0x20, 2, 0, 0];
    for i in 0..MESSAGES {
        let id = (i % 65535 + 1) as u16;
        let payload = vec![b'0' + (i % 10) as u8; 190 + i % 21];
        client.extend(publish(1, topics[i % topics.len()], id, &payload));
        broker.extend([0x40, 2]);
        broker.extend(id.to_be_bytes());
    }
    client.extend([0xE0, 0]);
    (client, broker)
}

/// (client bytes, broker bytes) of a gateway relaying a ward's monitors:
/// QoS 0 PUBLISHes of ~60-byte payloads to [`GATEWAY_TOPICS`] topics that
/// share long prefixes, visited round-robin (the last topic is never the
/// next one), and a subscription to the ward's alarms.
fn gateway() -> (Vec<u8>, Vec<u8>) {
    const METRICS: [&str; 8] = [
        "hr", "spo2", "nibp", "temp", "resp", "etco2", "ibp", "alarms",
    ];
    let topics: Vec<String> = (0..GATEWAY_TOPICS)
        .map(|i| {
            let metric = METRICS[i % METRICS.len()];
            format!(
                "stmarys/icu/bed{:02}/monitor/vitals/{metric}",
                i / METRICS.len()
            )
        })
        .collect();
    let mut client = connect();
    let mut sub = vec![0, 1];
    string(b"stmarys/icu/+/monitor/alarms", &mut sub);
    sub.push(1);
    client.extend(packet(0x82, &sub));
    let broker = vec![0x20, 2, 0, 0, 0x90, 3, 0, 1, 1];
    for i in 0..GATEWAY_MESSAGES {
        let payload = vec![b'0' + (i % 10) as u8; 50 + i % 21];
        client.extend(publish(0, topics[i % topics.len()].as_bytes(), 0, &payload));
    }
    client.extend([0xE0, 0]);
    (client, broker)
}

fn run(s: &mut Session, client: &[u8], broker: &[u8]) {
    s.reset();
    // The two directions interleave as a capture delivers them.
    let mut b = broker.chunks(MSS);
    for seg in client.chunks(MSS) {
        s.data(true, seg, &mut |_, _| {});
        if let Some(seg) = b.next() {
            s.data(false, seg, &mut |_, _| {});
        }
    }
    for seg in b {
        s.data(false, seg, &mut |_, _| {});
    }
    black_box(s.take_record());
}

fn bench(c: &mut Criterion) {
    let (client, broker) = telemetry();
    let mut s = Session::default();
    run(&mut s, &client, &broker);
    let mut g = c.benchmark_group("mqtt");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.bench_function("qos1_telemetry_messages", |bch| {
        bch.iter(|| run(&mut s, &client, &broker))
    });
    g.throughput(Throughput::Bytes((client.len() + broker.len()) as u64));
    g.bench_function("qos1_telemetry_bytes", |bch| {
        bch.iter(|| run(&mut s, &client, &broker))
    });

    let (client, broker) = gateway();
    // Every topic kept, 20 messages each: the case measures what it says.
    s.reset();
    for seg in client.chunks(MSS) {
        s.data(true, seg, &mut |_, _| {});
    }
    let rec = s.take_record();
    assert_eq!(rec.published.len(), GATEWAY_TOPICS);
    assert!(rec.published.iter().all(|p| p.count == 20));
    g.throughput(Throughput::Elements(GATEWAY_MESSAGES as u64));
    g.bench_function("qos0_gateway_200_topics_messages", |bch| {
        bch.iter(|| run(&mut s, &client, &broker))
    });

    // 64 PUBLISHes of 1 MiB (imaging exports, firmware images), in TCP segments.
    let mut big = connect();
    let payload = vec![0xA5; 1 << 20];
    for i in 0..64u16 {
        big.extend(publish(1, b"radiology/ct02/export", i + 1, &payload));
    }
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("publish_1MiB_payloads", |bch| {
        bch.iter(|| {
            s.reset();
            for seg in big.chunks(MSS) {
                s.data(true, seg, &mut |_, _| {});
            }
            black_box(s.take_record());
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
