//! The HL7/MLLP parser on its own: a connection of ORU^R01 vital-sign
//! messages (20 OBX each, ~1.3 KB) answered by ACKs, fed in 1448-byte
//! chunks as TCP delivers them (messages/s and MB/s), and one 4 MiB ORU
//! carrying an embedded report (MB/s through the framer's skip path).
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a panic is a failure report

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use medtap::proto::hl7::Conversation;
use std::hint::black_box;

const MSS: usize = 1448;

fn oru(i: usize) -> Vec<u8> {
    let mut m = format!(
        "\x0bMSH|^~\\&|MONITOR|ICU3|LIS|HOSP|20241101120000||ORU^R01^ORU_R01|M{i:08}|P|2.5.1\r\
         PID|1||{i}^^^HOSP^MR||ZZPHANTOM^MEDTAPTEST||19700101|M\rPV1|1|I|ICU3^12^1\r\
         OBR|1|||VITALS^Vital signs|||20241101120000\r"
    );
    for k in 0..20 {
        m.push_str(&format!(
            "OBX|{k}|NM|8867-4^Heart rate^LN||{}|/min^beats per minute^UCUM|||||F|||20241101120000\r",
            60 + k
        ));
    }
    m.push_str("\x1c\r");
    m.into_bytes()
}

fn ack(i: usize) -> Vec<u8> {
    format!(
        "\x0bMSH|^~\\&|LIS|HOSP|MONITOR|ICU3|20241101120001||ACK^R01|A{i:08}|P|2.5.1\rMSA|AA|M{i:08}\r\x1c\r"
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let n = 1000;
    let (mut client, mut server) = (Vec::new(), Vec::new());
    for i in 0..n {
        client.extend_from_slice(&oru(i));
        server.extend_from_slice(&ack(i));
    }
    let mut g = c.benchmark_group("hl7");
    g.throughput(Throughput::Elements(2 * n as u64));
    g.bench_function("oru_ack_messages", |b| {
        b.iter_batched(
            Conversation::default,
            |mut conv| {
                // Interleave as on the wire: each message's chunks, then its ACK.
                let per_msg = client.len() / n;
                let per_ack = server.len() / n;
                for i in 0..n {
                    for chunk in client[i * per_msg..(i + 1) * per_msg].chunks(MSS) {
                        conv.data(true, chunk, i as i64, &mut |_, _| {});
                    }
                    conv.data(
                        false,
                        &server[i * per_ack..(i + 1) * per_ack],
                        i as i64,
                        &mut |_, _| {},
                    );
                    black_box(conv.take_messages().count());
                }
                conv
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Bytes((client.len() + server.len()) as u64));
    g.bench_function("oru_ack_bytes", |b| {
        b.iter_batched(
            Conversation::default,
            |mut conv| {
                for chunk in client.chunks(MSS) {
                    conv.data(true, chunk, 0, &mut |_, _| {});
                }
                for chunk in server.chunks(MSS) {
                    conv.data(false, chunk, 0, &mut |_, _| {});
                }
                black_box(conv.take_messages().count());
                conv
            },
            BatchSize::LargeInput,
        )
    });
    let mut big = b"\x0bMSH|^~\\&|RIS|HOSP|EMR|HOSP|2024||ORU^R01|PDF1|P|2.5\rOBX|1|ED|PDF^Report||^AP^PDF^Base64^".to_vec();
    big.extend(std::iter::repeat_n(b'Q', 4 << 20));
    big.extend_from_slice(b"\r\x1c\r");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("embedded_report_4MiB", |b| {
        b.iter_batched(
            Conversation::default,
            |mut conv| {
                for chunk in big.chunks(MSS) {
                    conv.data(true, chunk, 0, &mut |_, _| {});
                }
                conv
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
