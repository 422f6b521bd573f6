//! Flow table behaviour: direction, TCP states, timeouts, reuse, eviction.

use super::*;
use crate::decode::tcp_flags::PSH;

const CLIENT: (&str, u16) = ("10.0.0.5", 40123);
const SERVER: (&str, u16) = ("10.0.0.9", 104);

fn ep(e: (&str, u16)) -> (IpAddr, u16) {
    (e.0.parse().unwrap(), e.1)
}

fn tcp(ts_s: i64, from: (&str, u16), to: (&str, u16), flags: u8, payload: u32) -> FlowPacket {
    FlowPacket {
        ts: ts_s * SECOND,
        src: ep(from),
        dst: ep(to),
        proto: 6,
        vlan: None,
        src_mac: Some(Mac([0xaa, 0, 0, 0, 0, from.1 as u8])),
        dst_mac: Some(Mac([0xaa, 0, 0, 0, 0, to.1 as u8])),
        wire_len: 54 + payload,
        payload_len: payload,
        tcp_flags: Some(flags),
        icmp: None,
    }
}

fn udp(ts_s: i64, from: (&str, u16), to: (&str, u16)) -> FlowPacket {
    FlowPacket {
        proto: 17,
        tcp_flags: None,
        ..tcp(ts_s, from, to, 0, 10)
    }
}

struct Harness {
    table: FlowTable,
    ended: Vec<FlowRecord>,
}

impl Harness {
    fn new(max: usize) -> Harness {
        Harness {
            table: FlowTable::new(max, Timeouts::default(), 1),
            ended: Vec::new(),
        }
    }
    fn feed(&mut self, p: FlowPacket) -> FlowRef {
        let ended = &mut self.ended;
        self.table.update(&p, &mut |_, r| ended.push(r))
    }
    fn expire(&mut self, ts_s: i64) {
        let ended = &mut self.ended;
        self.table.expire(ts_s * SECOND, &mut |_, r| ended.push(r));
    }
    fn drain(&mut self) {
        let ended = &mut self.ended;
        self.table.drain(&mut |_, r| ended.push(r));
    }
}

#[test]
fn handshake_data_fin_closes_after_grace_with_counts_per_direction() {
    let mut h = Harness::new(16);
    let r = h.feed(tcp(0, CLIENT, SERVER, SYN, 0));
    assert!(r.to_server);
    assert!(!h.feed(tcp(0, SERVER, CLIENT, SYN | ACK, 0)).to_server);
    h.feed(tcp(0, CLIENT, SERVER, ACK, 0));
    h.feed(tcp(1, CLIENT, SERVER, ACK | PSH, 100));
    h.feed(tcp(1, SERVER, CLIENT, ACK | PSH, 2000));
    h.feed(tcp(2, CLIENT, SERVER, FIN | ACK, 0));
    h.feed(tcp(2, SERVER, CLIENT, FIN | ACK, 0));
    h.feed(tcp(2, CLIENT, SERVER, ACK, 0));
    h.expire(3);
    assert!(h.ended.is_empty(), "still inside the FIN grace");
    h.expire(2 + 5);
    assert_eq!(h.ended.len(), 1);
    let f = h.ended[0];
    assert_eq!((f.src_ip, f.src_port), ep(CLIENT));
    assert_eq!((f.dest_ip, f.dest_port), ep(SERVER));
    assert_eq!(f.dirs[0].pkts, 5);
    assert_eq!(f.dirs[1].pkts, 3);
    assert_eq!(f.dirs[0].payload_bytes, 100);
    assert_eq!(f.dirs[1].payload_bytes, 2000);
    assert_eq!(f.dirs[0].bytes, 5 * 54 + 100);
    assert_eq!(f.state, FlowState::ClosedFin);
    assert_eq!(f.reason, EndReason::Fin);
    assert_eq!(f.src_mac, Some(Mac([0xaa, 0, 0, 0, 0, CLIENT.1 as u8])));
    assert_eq!(f.dest_mac, Some(Mac([0xaa, 0, 0, 0, 0, SERVER.1 as u8])));
    assert_eq!((f.start, f.end), (0, 2 * SECOND));
    assert_eq!(h.table.counters().active, 0);
}

#[test]
fn syn_ack_seen_first_makes_its_receiver_the_initiator() {
    let mut h = Harness::new(16);
    h.feed(tcp(0, SERVER, CLIENT, SYN | ACK, 0));
    h.drain();
    assert_eq!((h.ended[0].src_ip, h.ended[0].src_port), ep(CLIENT));
    assert_eq!(h.ended[0].dirs[1].pkts, 1);
}

#[test]
fn midstream_flow_uses_the_higher_port_as_client_and_becomes_established() {
    let mut h = Harness::new(16);
    h.feed(tcp(0, SERVER, CLIENT, ACK | PSH, 10));
    h.feed(tcp(0, CLIENT, SERVER, ACK, 0));
    h.drain();
    let f = h.ended[0];
    assert_eq!(f.src_port, CLIENT.1);
    assert_eq!(f.state, FlowState::Established);
    assert_eq!(f.reason, EndReason::Shutdown);
}

#[test]
fn rst_closes_and_a_new_syn_on_the_same_tuple_starts_a_new_flow() {
    let mut h = Harness::new(16);
    let first = h.feed(tcp(0, CLIENT, SERVER, SYN, 0));
    h.feed(tcp(0, SERVER, CLIENT, RST | ACK, 0));
    // A retransmitted RST-side ACK does not reopen anything...
    h.feed(tcp(1, SERVER, CLIENT, RST, 0));
    // ...but a fresh SYN does.
    let second = h.feed(tcp(2, CLIENT, SERVER, SYN, 0));
    assert_ne!(first.flow_id, second.flow_id);
    assert_eq!(h.ended.len(), 1);
    assert_eq!(h.ended[0].state, FlowState::ClosedRst);
    assert_eq!(h.ended[0].reason, EndReason::Reused);
    assert_eq!(h.ended[0].dirs[1].pkts, 2);
}

#[test]
fn idle_timeouts_depend_on_protocol_and_state() {
    let mut h = Harness::new(16);
    h.feed(udp(0, CLIENT, ("10.0.0.9", 53)));
    h.feed(tcp(0, CLIENT, SERVER, SYN, 0)); // never answered: tcp_new (30 s)
    h.expire(29);
    assert!(h.ended.is_empty());
    h.expire(30);
    assert_eq!(h.ended.len(), 1);
    assert_eq!(h.ended[0].proto, 6);
    assert_eq!(h.ended[0].reason, EndReason::Timeout);
    h.expire(120);
    assert_eq!(h.ended.len(), 2);
    assert_eq!(h.ended[1].proto, 17);
    assert_eq!(h.table.counters().timed_out, 2);
}

#[test]
fn a_packet_keeps_its_flow_alive() {
    let mut h = Harness::new(16);
    for t in 0..10 {
        h.feed(udp(t * 100, CLIENT, ("10.0.0.9", 53)));
        h.expire(t * 100 + 99);
    }
    assert!(h.ended.is_empty());
}

#[test]
fn full_table_evicts_the_least_recently_seen_flow() {
    let mut h = Harness::new(2);
    let a = h.feed(udp(0, ("10.0.0.1", 1000), ("10.0.0.9", 53)));
    let b = h.feed(udp(1, ("10.0.0.2", 1000), ("10.0.0.9", 53)));
    h.feed(udp(2, ("10.0.0.1", 1000), ("10.0.0.9", 53))); // a is now newer than b
    let c = h.feed(udp(3, ("10.0.0.3", 1000), ("10.0.0.9", 53)));
    assert_eq!(h.ended.len(), 1);
    assert_eq!(h.ended[0].flow_id, b.flow_id);
    assert_eq!(h.ended[0].reason, EndReason::Evicted);
    assert_eq!(h.table.counters().evicted, 1);
    h.drain();
    let ids: Vec<u64> = h.ended[1..].iter().map(|f| f.flow_id).collect();
    assert!(ids.contains(&a.flow_id) && ids.contains(&c.flow_id));
}

#[test]
fn vlan_separates_flows_and_ids_are_sequential() {
    let mut h = Harness::new(16);
    let mut p = udp(0, CLIENT, SERVER);
    let a = h.feed(p);
    p.vlan = Some(7);
    let b = h.feed(p);
    assert_eq!((a.flow_id, b.flow_id), (1, 2));
    h.drain();
    assert_eq!(h.ended.iter().filter(|f| f.vlan == Some(7)).count(), 1);
}

#[test]
fn slots_are_reused_without_growing() {
    let mut h = Harness::new(4);
    for i in 0..1000u16 {
        h.feed(udp(i64::from(i), ("10.0.0.1", 1000 + i), SERVER));
    }
    assert!(h.table.slots.len() <= 4);
    assert_eq!(h.table.counters().active, 4);
    assert_eq!(h.table.counters().evicted, 996);
}

#[test]
fn interim_records_cover_old_flows_with_new_packets_only() {
    let mut h = Harness::new(16);
    let other = ("10.0.0.6", 5000);
    h.feed(tcp(0, CLIENT, SERVER, SYN, 0));
    h.feed(tcp(0, SERVER, CLIENT, SYN | ACK, 0));
    h.feed(udp(50, other, SERVER));
    let mut out = Vec::new();
    h.table
        .interim(60 * SECOND, 60 * SECOND, &mut |r| out.push(r));
    assert_eq!(out.len(), 1, "only the flow open for 60 s: {out:?}");
    assert_eq!(out[0].reason, EndReason::Interim);
    assert_eq!(out[0].dirs[1].pkts, 1);
    // Nothing new on it: no second interim record.
    out.clear();
    h.table
        .interim(120 * SECOND, 60 * SECOND, &mut |r| out.push(r));
    assert_eq!(out.len(), 1, "the UDP flow is old enough now: {out:?}");
    assert_eq!(out[0].proto, 17);
    out.clear();
    h.feed(tcp(130, CLIENT, SERVER, ACK | PSH, 100));
    h.table
        .interim(180 * SECOND, 60 * SECOND, &mut |r| out.push(r));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dirs[0].payload_bytes, 100);
    // The final record still comes when the flow ends, with its own reason.
    h.drain();
    assert!(h
        .ended
        .iter()
        .all(|r| r.reason == EndReason::Shutdown && r.flow_id >= 1));
    assert_eq!(
        h.table.counters().created,
        2,
        "interim records create nothing"
    );
}
