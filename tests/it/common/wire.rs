//! Hand-built conversations for tests that need exact bytes on the wire
//! (hostile strings no real client would send): TCP sessions with a
//! handshake, consistent sequence numbers, each segment acknowledged, and a
//! FIN exchange; UDP datagrams; all Ethernet/IPv4 frames with valid
//! checksums (etherparse's `PacketBuilder`), written to a classic pcap.

use super::garbage::PcapWriter;
use etherparse::PacketBuilder;
use std::path::Path;

/// One end: its MAC and IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    /// Its MAC.
    pub mac: [u8; 6],
    /// Its address.
    pub ip: [u8; 4],
}

impl Host {
    /// `mac` as "aa:bb:cc:dd:ee:ff".
    pub fn mac_text(&self) -> String {
        let m = self.mac;
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }

    /// `ip` as dotted quad.
    pub fn ip_text(&self) -> String {
        std::net::Ipv4Addr::from(self.ip).to_string()
    }
}

/// Frames with their capture times, one millisecond apart.
pub struct Capture {
    frames: Vec<(u64, Vec<u8>)>,
    ts: u64,
}

/// Largest TCP payload per segment (an Ethernet MTU's worth).
const MSS: usize = 1460;

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

#[allow(clippy::too_many_arguments)] // one argument per header field keeps the call sites readable
fn tcp_frame(
    from: Host,
    to: Host,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(from.mac, to.mac)
        .ipv4(from.ip, to.ip, 64)
        .tcp(sport, dport, seq, 64240);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(ack);
    }
    if flags & FIN != 0 {
        b = b.fin();
    }
    if flags & PSH != 0 {
        b = b.psh();
    }
    let mut out = Vec::with_capacity(64 + payload.len());
    b.write(&mut out, payload).expect("build TCP frame");
    out
}

impl Capture {
    /// An empty capture whose first frame is at `start_us`.
    pub fn new(start_us: u64) -> Capture {
        Capture {
            frames: Vec::new(),
            ts: start_us,
        }
    }

    fn push(&mut self, frame: Vec<u8>) {
        self.frames.push((self.ts, frame));
        self.ts += 1_000;
    }

    /// Moves the clock on by `us`.
    pub fn pause(&mut self, us: u64) {
        self.ts += us;
    }

    /// One TCP connection from `client:sport` to `server:dport`: the
    /// three-way handshake, each `(to_server, bytes)` in order (cut into
    /// segments of at most [`MSS`] bytes, each acknowledged by the other
    /// end), then FIN from the client, FIN+ACK from the server, last ACK.
    pub fn tcp(
        &mut self,
        client: Host,
        sport: u16,
        server: Host,
        dport: u16,
        exchange: &[(bool, &[u8])],
    ) {
        let (mut c, mut s) = (0x1000_0000u32, 0x7000_0000u32);
        self.push(tcp_frame(client, server, sport, dport, c, 0, SYN, &[]));
        self.push(tcp_frame(
            server,
            client,
            dport,
            sport,
            s,
            c + 1,
            SYN | ACK,
            &[],
        ));
        c += 1;
        s += 1;
        self.push(tcp_frame(client, server, sport, dport, c, s, ACK, &[]));
        for (to_server, bytes) in exchange {
            for seg in bytes.chunks(MSS) {
                let n = seg.len() as u32;
                if *to_server {
                    self.push(tcp_frame(
                        client,
                        server,
                        sport,
                        dport,
                        c,
                        s,
                        PSH | ACK,
                        seg,
                    ));
                    c = c.wrapping_add(n);
                    self.push(tcp_frame(server, client, dport, sport, s, c, ACK, &[]));
                } else {
                    self.push(tcp_frame(
                        server,
                        client,
                        dport,
                        sport,
                        s,
                        c,
                        PSH | ACK,
                        seg,
                    ));
                    s = s.wrapping_add(n);
                    self.push(tcp_frame(client, server, sport, dport, c, s, ACK, &[]));
                }
            }
        }
        self.push(tcp_frame(
            client,
            server,
            sport,
            dport,
            c,
            s,
            FIN | ACK,
            &[],
        ));
        self.push(tcp_frame(
            server,
            client,
            dport,
            sport,
            s,
            c + 1,
            FIN | ACK,
            &[],
        ));
        self.push(tcp_frame(
            client,
            server,
            sport,
            dport,
            c + 1,
            s + 1,
            ACK,
            &[],
        ));
    }

    /// One UDP datagram from `from:sport` to `to:dport`.
    pub fn udp(&mut self, from: Host, sport: u16, to: Host, dport: u16, payload: &[u8]) {
        let b = PacketBuilder::ethernet2(from.mac, to.mac)
            .ipv4(from.ip, to.ip, 64)
            .udp(sport, dport);
        let mut out = Vec::with_capacity(64 + payload.len());
        b.write(&mut out, payload).expect("build UDP frame");
        self.push(out);
    }

    /// Writes the frames to `path` (Ethernet pcap, µs timestamps).
    pub fn write(&self, path: &Path) {
        let mut w = PcapWriter::new(path, 1, 65535).expect("create pcap");
        for (ts, f) in &self.frames {
            w.write(*ts, f, f.len() as u32).expect("write frame");
        }
        w.finish().expect("flush pcap");
    }
}
