//! `decode` on arbitrary bytes: must never panic, and every payload slice it
//! hands back must borrow from the input frame.
//!
//! Input layout: byte 0 picks the link type (`% 5` over DLT 1, 113, 276, 101,
//! 0), the rest is the captured frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::decode::{decode, LinkType, Network, Transport};
use std::hint::black_box;

/// DLTs the first byte chooses from (index = byte % 5).
const DLTS: [i32; 5] = [1, 113, 276, 101, 0];

/// Panics unless `inner` lies within `outer` (same allocation, in bounds).
fn assert_within(outer: &[u8], inner: &[u8]) {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    assert!(
        inner.is_empty() || (o.start <= i.start && i.end <= o.end),
        "payload slice {:?} escapes the frame {:?}",
        i,
        o
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let link = LinkType::from_dlt(DLTS[usize::from(sel) % DLTS.len()])
        .expect("every DLT in DLTS is supported");
    let view = match decode(link, frame) {
        Ok(v) => v,
        Err(kind) => {
            black_box(kind.name());
            return;
        }
    };
    black_box((
        view.src_mac,
        view.dst_mac,
        view.vlan,
        view.error.map(|k| k.name()),
    ));
    match view.network {
        Network::Ip(ip) => {
            black_box((ip.src, ip.dst, ip.proto, ip.fragment));
            match ip.transport {
                Transport::Tcp(t) => {
                    assert_within(frame, t.payload);
                    black_box((t.src_port, t.dst_port, t.seq, t.ack, t.flags, t.payload_len));
                    black_box(t.payload.iter().fold(0u8, |a, b| a ^ b));
                }
                Transport::Udp {
                    src_port,
                    dst_port,
                    payload,
                } => {
                    assert_within(frame, payload);
                    black_box((src_port, dst_port));
                    black_box(payload.iter().fold(0u8, |a, b| a ^ b));
                }
                Transport::Icmp { icmp_type, code } => {
                    black_box((icmp_type, code));
                }
                Transport::Opaque => {}
            }
        }
        Network::Arp(arp) => {
            black_box(arp);
        }
        Network::Other => {}
    }
});
