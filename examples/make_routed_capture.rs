//! Writes tests/data/identity/routed.pcap, what a SPAN port on a hospital
//! access switch sees behind a router: one router MAC (Cisco OUI) carries the
//! traffic of 50 off-subnet hosts to and from three local hosts that each have
//! their own MAC. A device inventory must bind the local addresses to their
//! MACs and must NOT bind the 50 remote addresses to the router's MAC (the
//! router has one address of its own: the gateway 192.168.10.1).
//!
//! `cargo run --example make_routed_capture -- [OUT.pcap]`
//! (default: tests/data/identity/routed.pcap). The output is the same on
//! every run: fixed timestamps, sequence numbers and addresses.
//!
//! Layout (tests/data/identity/README.md has the frame list):
//! - router 08:4f:a9:10:00:01 (Cisco Systems, Inc) = 192.168.10.1
//! - CT scanner 44:4b:5d:10:00:20 (GE Healthcare) = 192.168.10.20, DICOM :104
//! - HIS server 4c:d9:8f:10:00:30 (Dell Inc.) = 192.168.10.30
//! - patient monitor 00:09:5c:10:00:40 (Philips Medical Systems) = 192.168.10.40
//! - remote 198.51.100.10-29 open TCP to the CT's port 104 (SYN, SYN-ACK,
//!   ACK, RST from the remote);
//! - the HIS opens TCP to remote 203.0.113.10-29 port 443 (SYN, SYN-ACK,
//!   ACK, RST from the HIS);
//! - the monitor asks remote 198.51.100.200-204 and 203.0.113.200-204 for the
//!   time (NTP, UDP 123), twice each (request, response, request, response).
//!
//! Frames shorter than 60 bytes are zero-padded to 60, as a switch sends them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // generator: a panic is a failure report

use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, PacketBuilder};

const ROUTER: [u8; 6] = [0x08, 0x4f, 0xa9, 0x10, 0x00, 0x01];
const CT: [u8; 6] = [0x44, 0x4b, 0x5d, 0x10, 0x00, 0x20];
const HIS: [u8; 6] = [0x4c, 0xd9, 0x8f, 0x10, 0x00, 0x30];
const MON: [u8; 6] = [0x00, 0x09, 0x5c, 0x10, 0x00, 0x40];
const BROADCAST: [u8; 6] = [0xff; 6];
const IP_ROUTER: [u8; 4] = [192, 168, 10, 1];
const IP_CT: [u8; 4] = [192, 168, 10, 20];
const IP_HIS: [u8; 4] = [192, 168, 10, 30];
const IP_MON: [u8; 4] = [192, 168, 10, 40];
/// TTL of packets that crossed the router (sent with 64, several hops away).
const TTL_REMOTE: u8 = 57;
/// 2024-03-01T08:00:00Z, in microseconds.
const START_US: i64 = 1_709_280_000_000_000;

/// The frames, each with its timestamp (µs), in capture order.
pub(crate) struct Frames {
    now_us: i64,
    /// (timestamp in µs since the epoch, frame bytes), in capture order.
    pub(crate) out: Vec<(i64, Vec<u8>)>,
}

impl Frames {
    /// Appends a frame 1 ms after the previous one, padded to 60 bytes.
    fn push(&mut self, mut frame: Vec<u8>) {
        if frame.len() < 60 {
            frame.resize(60, 0);
        }
        self.now_us += 1_000;
        self.out.push((self.now_us, frame));
    }

    /// Leaves a gap (µs) before the next frame.
    fn pause(&mut self, us: i64) {
        self.now_us += us;
    }

    fn arp(
        &mut self,
        eth_dst: [u8; 6],
        op: ArpOperation,
        sha: [u8; 6],
        spa: [u8; 4],
        tha: [u8; 6],
        tpa: [u8; 4],
    ) {
        let arp = ArpPacket::new(
            ArpHardwareId::ETHERNET,
            EtherType::IPV4,
            op,
            &sha,
            &spa,
            &tha,
            &tpa,
        )
        .expect("valid ARP");
        let b = PacketBuilder::ethernet2(sha, eth_dst).arp(arp);
        let mut v = Vec::with_capacity(b.size());
        b.write(&mut v).expect("write ARP");
        self.push(v);
    }

    /// One TCP segment. `flags`: S (SYN), A (ACK), R (RST).
    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        (eth_src, eth_dst): ([u8; 6], [u8; 6]),
        (src, dst, ttl): ([u8; 4], [u8; 4], u8),
        (sport, dport): (u16, u16),
        seq: u32,
        ack: Option<u32>,
        flags: &str,
    ) {
        let mut b = PacketBuilder::ethernet2(eth_src, eth_dst)
            .ipv4(src, dst, ttl)
            .tcp(sport, dport, seq, 64240);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('R') {
            b = b.rst();
        }
        if let Some(a) = ack {
            b = b.ack(a);
        }
        let mut v = Vec::with_capacity(b.size(0));
        b.write(&mut v, &[]).expect("write TCP");
        self.push(v);
    }

    /// An ICMP echo request or reply (id 1, seq 1).
    fn icmp_echo(
        &mut self,
        (eth_src, eth_dst): ([u8; 6], [u8; 6]),
        (src, dst, ttl): ([u8; 4], [u8; 4], u8),
        reply: bool,
    ) {
        let b = PacketBuilder::ethernet2(eth_src, eth_dst).ipv4(src, dst, ttl);
        let b = if reply {
            b.icmpv4_echo_reply(1, 1)
        } else {
            b.icmpv4_echo_request(1, 1)
        };
        let payload = b"medtap routed test ping";
        let mut v = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut v, payload).expect("write ICMP");
        self.push(v);
    }

    fn udp(
        &mut self,
        (eth_src, eth_dst): ([u8; 6], [u8; 6]),
        (src, dst, ttl): ([u8; 4], [u8; 4], u8),
        (sport, dport): (u16, u16),
        payload: &[u8],
    ) {
        let b = PacketBuilder::ethernet2(eth_src, eth_dst)
            .ipv4(src, dst, ttl)
            .udp(sport, dport);
        let mut v = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut v, payload).expect("write UDP");
        self.push(v);
    }
}

/// A 48-byte NTPv4 packet: client request (mode 3) or server response (mode 4).
fn ntp(response: bool, n: u32) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = if response { 0x24 } else { 0x23 }; // LI 0, VN 4, mode 4 / 3
    if response {
        p[1] = 2; // stratum
        p[12..16].copy_from_slice(b"GPS\0");
    }
    // Transmit timestamp: seconds since 1900 of 2024-03-01 + n.
    p[40..44].copy_from_slice(&(3_918_268_800u32 + n).to_be_bytes());
    p
}

/// Every frame of routed.pcap (also used by tests/it/identity_captures.rs).
pub(crate) fn frames() -> Frames {
    let mut f = Frames {
        now_us: START_US,
        out: Vec::new(),
    };
    // The router announces its own address (gratuitous ARP), learns the CT's
    // MAC; the HIS and the monitor resolve their gateway; the HIS pings it.
    f.arp(
        BROADCAST,
        ArpOperation::REQUEST,
        ROUTER,
        IP_ROUTER,
        [0; 6],
        IP_ROUTER,
    );
    f.arp(
        BROADCAST,
        ArpOperation::REQUEST,
        ROUTER,
        IP_ROUTER,
        [0; 6],
        IP_CT,
    );
    f.arp(ROUTER, ArpOperation::REPLY, CT, IP_CT, ROUTER, IP_ROUTER);
    f.arp(
        BROADCAST,
        ArpOperation::REQUEST,
        HIS,
        IP_HIS,
        [0; 6],
        IP_ROUTER,
    );
    f.arp(HIS, ArpOperation::REPLY, ROUTER, IP_ROUTER, HIS, IP_HIS);
    f.arp(
        BROADCAST,
        ArpOperation::REQUEST,
        MON,
        IP_MON,
        [0; 6],
        IP_ROUTER,
    );
    f.arp(MON, ArpOperation::REPLY, ROUTER, IP_ROUTER, MON, IP_MON);
    f.icmp_echo((HIS, ROUTER), (IP_HIS, IP_ROUTER, 128), false);
    f.icmp_echo((ROUTER, HIS), (IP_ROUTER, IP_HIS, 255), true);

    // 20 remote DICOM clients -> CT :104.
    for i in 0..20u8 {
        f.pause(20_000);
        let remote = [198, 51, 100, 10 + i];
        let sport = 49_152 + u16::from(i);
        let (c, s) = (1_000_000 * u32::from(i) + 1, 500_000_000 + u32::from(i));
        let inbound = ((ROUTER, CT), (remote, IP_CT, TTL_REMOTE), (sport, 104));
        let outbound = ((CT, ROUTER), (IP_CT, remote, 64), (104, sport));
        f.tcp(inbound.0, inbound.1, inbound.2, c, None, "S");
        f.tcp(outbound.0, outbound.1, outbound.2, s, Some(c + 1), "SA");
        f.tcp(inbound.0, inbound.1, inbound.2, c + 1, Some(s + 1), "A");
        f.tcp(inbound.0, inbound.1, inbound.2, c + 1, Some(s + 1), "RA");
    }

    // The HIS -> 20 remote HTTPS servers.
    for i in 0..20u8 {
        f.pause(20_000);
        let remote = [203, 0, 113, 10 + i];
        let sport = 50_000 + u16::from(i);
        let (c, s) = (2_000_000 * u32::from(i) + 7, 700_000_000 + u32::from(i));
        let outbound = ((HIS, ROUTER), (IP_HIS, remote, 128), (sport, 443));
        let inbound = ((ROUTER, HIS), (remote, IP_HIS, TTL_REMOTE), (443, sport));
        f.tcp(outbound.0, outbound.1, outbound.2, c, None, "S");
        f.tcp(inbound.0, inbound.1, inbound.2, s, Some(c + 1), "SA");
        f.tcp(outbound.0, outbound.1, outbound.2, c + 1, Some(s + 1), "A");
        f.tcp(outbound.0, outbound.1, outbound.2, c + 1, Some(s + 1), "RA");
    }

    // The monitor asks 10 remote NTP servers, twice each.
    let ntp_servers = (0..5u8)
        .map(|i| [198, 51, 100, 200 + i])
        .chain((0..5u8).map(|i| [203, 0, 113, 200 + i]));
    for (i, remote) in ntp_servers.enumerate() {
        let n = u32::try_from(i).expect("small");
        for round in 0..2 {
            f.pause(20_000);
            f.udp(
                (MON, ROUTER),
                (IP_MON, remote, 64),
                (123, 123),
                &ntp(false, n * 2 + round),
            );
            f.udp(
                (ROUTER, MON),
                (remote, IP_MON, TTL_REMOTE),
                (123, 123),
                &ntp(true, n * 2 + round),
            );
        }
    }
    f
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/data/identity/routed.pcap".into());
    let f = frames();
    let cap = pcap::Capture::dead(pcap::Linktype::ETHERNET)?;
    let mut file = cap.savefile(&out)?;
    for (ts, data) in &f.out {
        let len = u32::try_from(data.len())?;
        let header = pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec: ts / 1_000_000,
                tv_usec: ts % 1_000_000,
            },
            caplen: len,
            len,
        };
        file.write(&pcap::Packet::new(&header, data));
    }
    file.flush()?;
    eprintln!("{out}: {} frames", f.out.len());
    Ok(())
}
