//! A synthetic traffic mix for benchmarks and the allocation test: many
//! TCP connections (handshake, data of 60..1500-byte frames, FIN) and UDP
//! exchanges between a few hundred hosts, plus ARP. Deterministic.
//!
//! Shared by `benches/pipeline.rs`, `examples/gen_capture.rs` and the
//! tests through `#[path]`, so the same mix is measured everywhere.

use etherparse::PacketBuilder;

/// One frame with its capture time in microseconds.
pub struct Frame {
    /// Capture time (µs since the epoch).
    pub ts: i64,
    /// Ethernet frame bytes.
    pub data: Vec<u8>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn mac(host: u32) -> [u8; 6] {
    let b = host.to_be_bytes();
    [0x02, 0x42, b[0], b[1], b[2], b[3]]
}

fn ip(host: u32) -> [u8; 4] {
    let b = host.to_be_bytes();
    [10, b[1], b[2], b[3]]
}

#[allow(clippy::too_many_arguments)] // one argument per header field keeps the call sites readable
fn tcp_frame(
    from: u32,
    to: u32,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(mac(from), mac(to))
        .ipv4(ip(from), ip(to), 64)
        .tcp(sport, dport, seq, 64240);
    if flags & 0x02 != 0 {
        b = b.syn();
    }
    if flags & 0x10 != 0 {
        b = b.ack(ack);
    }
    if flags & 0x01 != 0 {
        b = b.fin();
    }
    if flags & 0x08 != 0 {
        b = b.psh();
    }
    let mut out = Vec::with_capacity(64 + payload.len());
    b.write(&mut out, payload).expect("build TCP frame");
    out
}

fn udp_frame(from: u32, to: u32, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(mac(from), mac(to))
        .ipv4(ip(from), ip(to), 64)
        .udp(sport, dport);
    let mut out = Vec::with_capacity(64 + payload.len());
    b.write(&mut out, payload).expect("build UDP frame");
    out
}

/// An ARP request (`op` 1, broadcast, "who has `to`'s address") or reply
/// (`op` 2, from `from` to `to`).
fn arp_frame(op: u8, from: u32, to: u32) -> Vec<u8> {
    let dst = if op == 1 { [0xff; 6] } else { mac(to) };
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst); // destination
    f.extend_from_slice(&mac(from)); // source
    f.extend_from_slice(&[0x08, 0x06]); // EtherType ARP
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, op]); // Ethernet/IPv4, operation
    f.extend_from_slice(&mac(from)); // sender MAC
    f.extend_from_slice(&ip(from)); // sender IP
    f.extend_from_slice(&if op == 1 { [0; 6] } else { mac(to) }); // target MAC
    f.extend_from_slice(&ip(to)); // target IP
    f.resize(60, 0); // Ethernet minimum frame (padding)
    f
}

/// Roughly `target_packets` frames over `hosts` hosts, starting at `start_ts`.
pub fn mix(target_packets: usize, hosts: u32, start_ts: i64, seed: u64) -> Vec<Frame> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(target_packets + 64);
    let payload = vec![0x5au8; 1500];
    let mut ts = start_ts;
    let mut conn = 0u32;
    while out.len() < target_packets {
        conn += 1;
        let client = 1 + rng.below(u64::from(hosts)) as u32;
        let server = 1 + rng.below(u64::from(hosts)) as u32;
        if client == server {
            continue;
        }
        let sport = 32768 + (conn % 28000) as u16;
        let mut step = |out: &mut Vec<Frame>, data: Vec<u8>, rng: &mut Rng| {
            ts += 10 + rng.below(200) as i64;
            out.push(Frame { ts, data });
        };
        if conn.is_multiple_of(8) {
            // The client resolves the server's address first (ARP request
            // and reply), as hosts do every few minutes.
            step(&mut out, arp_frame(1, client, server), &mut rng);
            step(&mut out, arp_frame(2, server, client), &mut rng);
        }
        if rng.below(4) == 0 {
            // UDP request/response pairs (DNS-, syslog-, HL7-over-UDP-like).
            let dport = [53u16, 514, 161, 5353][rng.below(4) as usize];
            for _ in 0..1 + rng.below(4) {
                let q = 20 + rng.below(200) as usize;
                step(
                    &mut out,
                    udp_frame(client, server, sport, dport, &payload[..q]),
                    &mut rng,
                );
                let r = 40 + rng.below(600) as usize;
                step(
                    &mut out,
                    udp_frame(server, client, dport, sport, &payload[..r]),
                    &mut rng,
                );
            }
            continue;
        }
        let dport = [104u16, 11112, 2575, 1883, 443, 80][rng.below(6) as usize];
        let (mut cseq, mut sseq) = (rng.next() as u32, rng.next() as u32);
        step(
            &mut out,
            tcp_frame(client, server, sport, dport, cseq, 0, 0x02, &[]),
            &mut rng,
        );
        step(
            &mut out,
            tcp_frame(server, client, dport, sport, sseq, cseq + 1, 0x12, &[]),
            &mut rng,
        );
        cseq += 1;
        sseq += 1;
        step(
            &mut out,
            tcp_frame(client, server, sport, dport, cseq, sseq, 0x10, &[]),
            &mut rng,
        );
        for _ in 0..2 + rng.below(20) {
            // Frame sizes 60..1514: payload 6..1460 bytes.
            let n = 6 + rng.below(1455) as usize;
            if rng.below(3) == 0 {
                step(
                    &mut out,
                    tcp_frame(
                        client,
                        server,
                        sport,
                        dport,
                        cseq,
                        sseq,
                        0x18,
                        &payload[..n],
                    ),
                    &mut rng,
                );
                cseq = cseq.wrapping_add(n as u32);
            } else {
                step(
                    &mut out,
                    tcp_frame(
                        server,
                        client,
                        dport,
                        sport,
                        sseq,
                        cseq,
                        0x18,
                        &payload[..n],
                    ),
                    &mut rng,
                );
                sseq = sseq.wrapping_add(n as u32);
            }
        }
        step(
            &mut out,
            tcp_frame(client, server, sport, dport, cseq, sseq, 0x11, &[]),
            &mut rng,
        );
        step(
            &mut out,
            tcp_frame(server, client, dport, sport, sseq, cseq + 1, 0x11, &[]),
            &mut rng,
        );
        step(
            &mut out,
            tcp_frame(client, server, sport, dport, cseq + 1, sseq + 1, 0x10, &[]),
            &mut rng,
        );
    }
    out
}
