//! DHCPv4 parser tests: per-field byte arrays of real message shapes, the
//! issue cases one by one, every truncation point, and property tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use super::options::code;
use super::record::{MAX_CLIENT_ID, MAX_HOSTNAME, MAX_RELAY_ID};
use super::*;
use crate::net::Mac;
use proptest::prelude::*;
use std::net::Ipv4Addr;

// --- building messages --------------------------------------------------------

/// The fixed header up to `chaddr`'s end (44 bytes) of a client's DISCOVER.
const DISCOVER_HEAD: [u8; 44] = [
    0x01, // op: BOOTREQUEST
    0x01, // htype: Ethernet
    0x06, // hlen: 6
    0x00, // hops
    0x00, 0x00, 0x3d, 0x1d, // xid 0x3d1d
    0x00, 0x00, // secs
    0x80, 0x00, // flags: broadcast
    0, 0, 0, 0, // ciaddr 0.0.0.0
    0, 0, 0, 0, // yiaddr
    0, 0, 0, 0, // siaddr
    0, 0, 0, 0, // giaddr
    0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42, // chaddr: the client's MAC
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // chaddr padding to 16 bytes
];

/// The DISCOVER's options field, after `sname` and `file` (all zeros).
const DISCOVER_OPTIONS: &[u8] = &[
    0x63, 0x82, 0x53, 0x63, // magic cookie
    53, 1, 1, // message type: DISCOVER
    61, 7, 1, 0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42, // client id: type 1 (Ethernet), MAC
    50, 4, 192, 168, 0, 10, // requested IP 192.168.0.10
    55, 4, 1, 3, 6, 42,  // parameter request list: 1, 3, 6, 42
    255, // End
    0, 0, 0, // padding
];

const MAC: Mac = Mac([0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42]);

/// `head` (44 bytes), `sname` and `file` zero-padded to 64 and 128 bytes,
/// then `tail` (cookie and options).
fn message(head: &[u8; 44], sname: &[u8], file: &[u8], tail: &[u8]) -> Vec<u8> {
    assert!(sname.len() <= 64 && file.len() <= 128);
    let mut m = head.to_vec();
    m.extend_from_slice(sname);
    m.resize(44 + 64, 0);
    m.extend_from_slice(file);
    m.resize(v4::HEADER_LEN, 0);
    m.extend_from_slice(tail);
    m
}

/// A DISCOVER header with `options` after the cookie.
fn with_options(options: &[u8]) -> Vec<u8> {
    let mut tail = v4::COOKIE.to_vec();
    tail.extend_from_slice(options);
    message(&DISCOVER_HEAD, &[], &[], &tail)
}

fn discover() -> Vec<u8> {
    message(&DISCOVER_HEAD, &[], &[], DISCOVER_OPTIONS)
}

/// A REQUEST carrying every client option medtap keeps.
fn request() -> Vec<u8> {
    let mut head = DISCOVER_HEAD;
    head[4..8].copy_from_slice(&[0xe0, 0x1c, 0xc7, 0x18]); // xid 0xe01cc718
    let tail: &[u8] = &[
        0x63, 0x82, 0x53, 0x63, // magic cookie
        53, 1, 3, // message type: REQUEST
        61, 7, 1, 0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42, // client id
        50, 4, 10, 1, 2, 3, // requested IP 10.1.2.3
        54, 4, 10, 1, 0, 1, // server id 10.1.0.1
        12, 9, b'm', b'o', b'n', b'i', b't', b'o', b'r', b'-', b'7', // host name "monitor-7"
        60, 18, b'P', b'h', b'i', b'l', b'i', b'p', b's', b' ', // vendor class
        b'I', b'n', b't', b'e', b'l', b'l', b'i', b'V', b'u', b'e', //   "Philips IntelliVue"
        55, 7, 1, 3, 6, 15, 28, 51, 58, // parameter request list
        81, 23, 0x05, 0, 0, // FQDN: flags S|E (wire format), rcode1, rcode2
        9, b'm', b'o', b'n', b'i', b't', b'o', b'r', b'-', b'7', // label "monitor-7"
        3, b'i', b'c', b'u', // label "icu"
        4, b'h', b'o', b's', b'p', // label "hosp"
        0,    // root label
        77, 11, // user class (RFC 3004): two instances
        4, b'w', b'a', b'r', b'd', // "ward"
        5, b'b', b'e', b'd', b'1', b'2', // "bed12"
        255,  // End
    ];
    message(&head, &[], &[], tail)
}

/// A relayed ACK: lease time, server id, relay agent information.
fn ack() -> Vec<u8> {
    let head: [u8; 44] = [
        0x02, // op: BOOTREPLY
        0x01, // htype: Ethernet
        0x06, // hlen
        0x01, // hops: one relay
        0x00, 0x00, 0x3d, 0x1e, // xid
        0x00, 0x00, // secs
        0x00, 0x00, // flags
        0, 0, 0, 0, // ciaddr
        192, 168, 0, 10, // yiaddr: the address given
        192, 168, 0, 1, // siaddr: next server
        10, 10, 0, 1, // giaddr: the relay
        0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42, // chaddr
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // chaddr padding
    ];
    let tail: &[u8] = &[
        0x63, 0x82, 0x53, 0x63, // magic cookie
        53, 1, 5, // message type: ACK
        54, 4, 192, 168, 0, 1, // server id
        51, 4, 0x00, 0x00, 0x0e, 0x10, // lease time 3600 s
        1, 4, 255, 255, 255, 0, // subnet mask
        15, 4, b'h', b'o', b's', b'p', // domain name "hosp"
        82, 16, // relay agent information
        1, 6, b'e', b't', b'h', b'0', b'/', b'3', // circuit id "eth0/3"
        2, 6, 0x00, 0x1b, 0x63, 0x84, 0x45, 0xe6, // remote id: a MAC (binary)
        255,  // End
    ];
    message(&head, &[], &[], tail)
}

fn parse(b: &[u8]) -> Message<'_> {
    parse_v4(b).unwrap_or_else(|e| panic!("{e}: {b:02x?}"))
}

fn fp(m: &Message<'_>) -> String {
    let mut s = String::new();
    m.fingerprint(&mut s).unwrap();
    s
}

fn name(f: &Fqdn<'_>) -> String {
    let mut s = String::new();
    f.write_name(&mut s).unwrap();
    s
}

// --- whole messages -----------------------------------------------------------

#[test]
fn discover_fields() {
    let b = discover();
    let m = parse(&b);
    assert_eq!((m.op, m.htype, m.hlen, m.hops), (1, 1, 6, 0));
    assert_eq!((m.xid, m.secs, m.flags), (0x3d1d, 0, 0x8000));
    assert_eq!(m.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.chaddr, &MAC.0);
    assert_eq!(m.client_mac, Some(MAC));
    let o = &m.options;
    assert_eq!(o.message_type, Some(MessageType::Discover));
    assert_eq!(o.requested_ip, Some(Ipv4Addr::new(192, 168, 0, 10)));
    assert_eq!(
        o.client_id,
        Some(&[1, 0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42][..])
    );
    assert_eq!(o.param_list, Some(&[1, 3, 6, 42][..]));
    assert_eq!(o.order.codes(), [53, 61, 50, 55]);
    assert_eq!(o.order.extra(), 0);
    assert!(o.order.iter().all(|(_, r)| r == Region::Options));
    assert_eq!((o.server_id, o.lease_secs, o.hostname), (None, None, None));
    assert_eq!(fp(&m), "1,3,6,42");
    assert!(m.issues.is_empty(), "{:?}", m.issues);
}

#[test]
fn request_fields() {
    let b = request();
    let m = parse(&b);
    let o = &m.options;
    assert_eq!(m.xid, 0xe01cc718);
    assert_eq!(o.message_type, Some(MessageType::Request));
    assert_eq!(o.requested_ip, Some(Ipv4Addr::new(10, 1, 2, 3)));
    assert_eq!(o.server_id, Some(Ipv4Addr::new(10, 1, 0, 1)));
    assert_eq!(o.hostname, Some(&b"monitor-7"[..]));
    assert_eq!(o.vendor_class, Some(&b"Philips IntelliVue"[..]));
    assert_eq!(fp(&m), "1,3,6,15,28,51,58");
    let f = o.fqdn.unwrap();
    assert_eq!((f.flags, f.rcode1, f.rcode2), (Fqdn::S | Fqdn::E, 0, 0));
    assert!(f.is_wire() && f.name_ok());
    assert_eq!(name(&f), "monitor-7.icu.hosp");
    assert_eq!(o.user_class, Some(&b"\x04ward\x05bed12"[..]));
    assert_eq!(o.order.codes(), [53, 61, 50, 54, 12, 60, 55, 81, 77]);
    assert!(m.issues.is_empty(), "{:?}", m.issues);

    let r = MessageRecord::from_message(7, &m);
    assert_eq!(r.ts, 7);
    assert_eq!(r.message_type.map(MessageType::name), Some("REQUEST"));
    assert_eq!(r.client_mac, Some(MAC));
    assert_eq!(r.hostname.as_deref(), Some("monitor-7"));
    assert_eq!(r.vendor_class.as_deref(), Some("Philips IntelliVue"));
    assert_eq!(r.fingerprint.as_deref(), Some("1,3,6,15,28,51,58"));
    assert_eq!(r.client_id.as_deref(), Some("01000b8201fc42"));
    assert_eq!(r.fqdn.as_deref(), Some("monitor-7.icu.hosp"));
    assert_eq!(r.user_class.as_deref(), Some("ward,bed12"));
    assert_eq!(
        r.option_order.as_deref(),
        Some("53,61,50,54,12,60,55,81,77")
    );
    assert_eq!((r.relay_circuit_id, r.relay_remote_id), (None, None));
}

#[test]
fn ack_fields_and_relay_info() {
    let b = ack();
    let m = parse(&b);
    let o = &m.options;
    assert_eq!((m.op, m.hops), (2, 1));
    assert_eq!(m.yiaddr, Ipv4Addr::new(192, 168, 0, 10));
    assert_eq!(m.siaddr, Ipv4Addr::new(192, 168, 0, 1));
    assert_eq!(m.giaddr, Ipv4Addr::new(10, 10, 0, 1));
    assert_eq!(o.message_type, Some(MessageType::Ack));
    assert_eq!(o.server_id, Some(Ipv4Addr::new(192, 168, 0, 1)));
    assert_eq!(o.lease_secs, Some(3600));
    assert_eq!(o.domain_name, Some(&b"hosp"[..]));
    let relay = o.relay.unwrap();
    assert_eq!(relay.circuit_id, Some(&b"eth0/3"[..]));
    assert_eq!(
        relay.remote_id,
        Some(&[0x00, 0x1b, 0x63, 0x84, 0x45, 0xe6][..])
    );
    assert_eq!(fp(&m), "", "no parameter request list");
    assert!(m.issues.is_empty(), "{:?}", m.issues);

    let r = MessageRecord::from_message(0, &m);
    assert_eq!(r.lease_secs, Some(3600));
    assert_eq!(r.relay_circuit_id.as_deref(), Some("eth0/3"));
    assert_eq!(r.relay_remote_id.as_deref(), Some("0x001b638445e6"));
    assert_eq!(r.domain_name.as_deref(), Some("hosp"));
    assert_eq!(r.fingerprint, None);
    assert_eq!(r.giaddr, Ipv4Addr::new(10, 10, 0, 1));
}

// --- fatal errors and the header ---------------------------------------------

#[test]
fn short_header_and_bad_op_are_fatal() {
    let b = discover();
    assert_eq!(parse_v4(&b[..235]), Err(Malformed::TooShort));
    assert_eq!(parse_v4(&[]), Err(Malformed::TooShort));
    for op in [0u8, 3, 0x42, 0xff] {
        let mut x = b.clone();
        x[0] = op;
        assert_eq!(parse_v4(&x), Err(Malformed::BadOp(op)));
    }
    assert_eq!(Malformed::TooShort.name(), "too_short");
    assert_eq!(Malformed::BadOp(9).name(), "bad_op");
    assert_eq!(
        Malformed::TooShort.to_string(),
        "shorter than the fixed header"
    );
}

#[test]
fn header_alone_is_bootp_with_a_bad_cookie() {
    let b = discover();
    // 236..239 bytes: no room for a cookie.
    for n in 236..240 {
        let m = parse(&b[..n]);
        assert_eq!(m.issues, Issues::BAD_COOKIE, "{n}");
        assert_eq!(m.client_mac, Some(MAC));
        assert!(m.options.order.is_empty());
    }
}

#[test]
fn wrong_cookie_keeps_the_header_and_reads_no_option() {
    // zeek's dhcp_bad_cookie: BOOTP with zeros where the cookie goes; tshark
    // shows xid, MAC and addresses, no option.
    let mut b = discover();
    b[236..240].copy_from_slice(&[0, 0, 0, 0]);
    let m = parse(&b);
    assert_eq!(m.issues, Issues::BAD_COOKIE);
    assert_eq!((m.xid, m.client_mac), (0x3d1d, Some(MAC)));
    assert_eq!(m.options, Options::default());
}

#[test]
fn hlen_bounds_chaddr_and_decides_the_mac() {
    let mut b = discover();
    b[2] = 17;
    let m = parse(&b);
    assert_eq!(m.chaddr.len(), 16);
    assert_eq!(m.client_mac, None);
    assert_eq!(m.issues, Issues::BAD_HLEN);
    b[2] = 255;
    assert_eq!(parse(&b).chaddr.len(), 16);
    b[2] = 4;
    let m = parse(&b);
    assert_eq!((m.chaddr, m.client_mac), (&MAC.0[..4], None));
    assert!(m.issues.is_empty());
    // IEEE 802 (6) with 6 bytes is a MAC too; another type is not.
    b[2] = 6;
    b[1] = 6;
    assert_eq!(parse(&b).client_mac, Some(MAC));
    b[1] = 0;
    assert_eq!(parse(&b).client_mac, None);
}

// --- option areas, Pad and End ------------------------------------------------

#[test]
fn pads_are_skipped_and_end_stops_the_walk() {
    let b = with_options(&[
        0, 0, // pads
        53, 1, 3, // REQUEST
        0, // pad
        12, 2, b'h', b'1', // host name
        255,  // End
        12, 2, b'x', b'x', // after End: not read
    ]);
    let m = parse(&b);
    assert_eq!(m.options.order.codes(), [53, 12]);
    assert_eq!(m.options.hostname, Some(&b"h1"[..]));
    assert_eq!(m.issues, Issues::DATA_AFTER_END);
    // Only pads after End: fine.
    let bytes_m2 = with_options(&[53, 1, 3, 255, 0, 0, 0]);
    let m2 = parse(&bytes_m2);
    assert!(m2.issues.is_empty());
}

#[test]
fn trailing_nuls_of_nvt_ascii_names_are_dropped() {
    // sv_eve_extended: host name "nas1\0", domain name "unx.ca\0".
    let b = with_options(&[12, 5, b'n', b'a', b's', b'1', 0, 15, 3, b'a', 0, 0, 255]);
    let m = parse(&b);
    assert_eq!(m.options.hostname, Some(&b"nas1"[..]));
    assert_eq!(m.options.domain_name, Some(&b"a"[..]));
    assert!(m.issues.is_empty());
    // Only NULs: nothing left.
    let b = with_options(&[12, 2, 0, 0, 255]);
    let m = parse(&b);
    assert_eq!(m.options.hostname, None);
    assert_eq!(m.issues, Issues::BAD_LENGTH);
}

#[test]
fn missing_end_is_flagged_but_everything_is_read() {
    let b = with_options(&[53, 1, 1, 12, 2, b'h', b'1']);
    let m = parse(&b);
    assert_eq!(m.options.message_type, Some(MessageType::Discover));
    assert_eq!(m.options.hostname, Some(&b"h1"[..]));
    assert_eq!(m.issues, Issues::NO_END);
    // An empty options field too (cookie, then nothing).
    assert_eq!(parse(&with_options(&[])).issues, Issues::NO_END);
}

/// The option areas of an overloaded OFFER: 52 = `value` in the options
/// field, a domain name in `file` and `sname`.
fn overloaded(value: u8) -> Vec<u8> {
    let mut head = DISCOVER_HEAD;
    head[0] = 2; // BOOTREPLY
    let sname: &[u8] = &[
        6, 4, 10, 0, 0, 53, // DNS server 10.0.0.53
        15, 5, b's', b'n', b'a', b'm', b'e', // domain name "sname"
        255,  // End
    ];
    let file: &[u8] = &[
        3, 4, 10, 0, 0, 1, // router
        12, 4, b'f', b'i', b'l', b'e', // host name "file"
        15, 4, b'f', b'i', b'l', b'e', // domain name "file" (first: file before sname)
        255,  // End
    ];
    let tail: &[u8] = &[
        0x63, 0x82, 0x53, 0x63, // cookie
        53, 1, 2, // OFFER
        52, 1, value, // overload
        54, 4, 10, 0, 0, 1,   // server id
        255, // End
    ];
    message(&head, sname, file, tail)
}

#[test]
fn overload_reads_file_then_sname() {
    // 1: file only.
    let b = overloaded(1);
    let m = parse(&b);
    assert_eq!(m.options.overload, Some(1));
    assert_eq!(m.options.hostname, Some(&b"file"[..]));
    assert_eq!(m.options.domain_name, Some(&b"file"[..]));
    assert_eq!(m.options.order.codes(), [53, 52, 54, 3, 12, 15]);
    assert!(m.issues.is_empty(), "{:?}", m.issues);
    // 2: sname only.
    let b = overloaded(2);
    let m = parse(&b);
    assert_eq!(m.options.hostname, None);
    assert_eq!(m.options.domain_name, Some(&b"sname"[..]));
    assert_eq!(m.options.order.codes(), [53, 52, 54, 6, 15]);
    assert!(m.issues.is_empty(), "{:?}", m.issues);
    // 3: both, file first (RFC 2131 §4.1): its domain name wins, sname's
    // is a duplicate.
    let b = overloaded(3);
    let m = parse(&b);
    assert_eq!(m.options.domain_name, Some(&b"file"[..]));
    assert_eq!(m.options.hostname, Some(&b"file"[..]));
    let regions: Vec<_> = m.options.order.iter().collect();
    assert_eq!(
        regions,
        [
            (53, Region::Options),
            (52, Region::Options),
            (54, Region::Options),
            (3, Region::File),
            (12, Region::File),
            (15, Region::File),
            (6, Region::Sname),
            (15, Region::Sname),
        ]
    );
    assert_eq!(m.issues, Issues::DUPLICATE_OPTION);
}

#[test]
fn bad_overload_values_read_no_other_area() {
    for v in [0u8, 4, 0xff] {
        let b = overloaded(v);
        let m = parse(&b);
        assert_eq!(m.options.overload, Some(v));
        assert_eq!(m.options.order.codes(), [53, 52, 54], "{v}");
        assert_eq!(m.issues, Issues::BAD_OVERLOAD, "{v}");
    }
    // Two bytes long: ignored.
    let bytes_m = with_options(&[52, 2, 1, 1, 255]);
    let m = parse(&bytes_m);
    assert_eq!(m.options.overload, None);
    assert_eq!(m.issues, Issues::BAD_OVERLOAD);
}

#[test]
fn overload_inside_an_overloaded_area_is_ignored() {
    let mut b = overloaded(1);
    // file: 52 = 2 (would add sname), then End.
    b[108..112].copy_from_slice(&[52, 1, 2, 255]);
    let m = parse(&b);
    assert_eq!(m.options.overload, Some(1));
    assert_eq!(m.options.domain_name, None, "sname was not read");
    assert_eq!(m.options.order.codes(), [53, 52, 54, 52]);
    assert_eq!(m.issues, Issues::BAD_OVERLOAD);
}

#[test]
fn overloaded_area_with_garbage() {
    // sname full of non-zero garbage: an option running out of the field
    // (not into `file`), and no End.
    let mut b = overloaded(2);
    b[44..108].fill(0x41);
    let m = parse(&b);
    assert_eq!(m.options.domain_name, None);
    assert_eq!(m.options.order.codes(), [53, 52, 54, 0x41]);
    assert!(
        m.issues.contains(Issues::TRUNCATED_OPTION),
        "{:?}",
        m.issues
    );
    // sname of pads only: no End.
    b[44..108].fill(0);
    assert_eq!(parse(&b).issues, Issues::NO_END);
}

// --- duplicates, lying lengths, truncation ------------------------------------

#[test]
fn duplicates_keep_the_first() {
    let b = with_options(&[
        53, 1, 1, // DISCOVER
        12, 2, b'h', b'1', // host name
        53, 1, 3, // REQUEST: duplicate
        12, 2, b'h', b'2', // host name: duplicate
        255,
    ]);
    let m = parse(&b);
    assert_eq!(m.options.message_type, Some(MessageType::Discover));
    assert_eq!(m.options.hostname, Some(&b"h1"[..]));
    assert_eq!(m.options.order.codes(), [53, 12, 53, 12]);
    assert_eq!(m.issues, Issues::DUPLICATE_OPTION);
}

#[test]
fn wrong_lengths_are_ignored_not_misread() {
    type Absent = fn(&Options<'_>) -> bool;
    let cases: &[(&[u8], Absent)] = &[
        (&[53, 2, 1, 1], |o| o.message_type.is_none()),
        (&[53, 0], |o| o.message_type.is_none()),
        (&[50, 3, 10, 0, 0], |o| o.requested_ip.is_none()),
        (&[54, 5, 10, 0, 0, 1, 9], |o| o.server_id.is_none()),
        (&[51, 2, 0, 1], |o| o.lease_secs.is_none()),
        (&[57, 1, 2], |o| o.max_message_size.is_none()),
        (&[12, 0], |o| o.hostname.is_none()),
        (&[15, 0], |o| o.domain_name.is_none()),
        (&[55, 0], |o| o.param_list.is_none()),
        (&[60, 0], |o| o.vendor_class.is_none()),
        (&[61, 1, 1], |o| o.client_id.is_none()),
        (&[77, 0], |o| o.user_class.is_none()),
        (&[81, 2, 0, 0], |o| o.fqdn.is_none()),
        (&[82, 1, 1], |o| o.relay.is_none()),
    ];
    for (opt, absent) in cases {
        let mut v = opt.to_vec();
        v.push(255);
        let b = with_options(&v);
        let m = parse(&b);
        assert!(absent(&m.options), "{opt:?}: {:?}", m.options);
        assert_eq!(m.issues, Issues::BAD_LENGTH, "{opt:?}");
        assert_eq!(m.options.order.codes(), [opt[0]]);
    }
}

#[test]
fn relay_sub_option_past_its_option_keeps_the_ones_before() {
    let b = with_options(&[
        82, 9, // relay agent information, 9 bytes
        1, 3, b'p', b'1', b'0', // circuit id "p10"
        2, 9, 1, 2, // remote id claims 9 bytes, 2 left
        255,
    ]);
    let m = parse(&b);
    let r = m.options.relay.unwrap();
    assert_eq!(r.circuit_id, Some(&b"p10"[..]));
    assert_eq!(r.remote_id, None);
    assert_eq!(m.issues, Issues::BAD_LENGTH);
}

#[test]
fn truncated_options() {
    // A value past the end of the options field: listed, not taken.
    let bytes_m = with_options(&[53, 1, 1, 60, 49, b'M', b'S', b'F', b'T']);
    let m = parse(&bytes_m);
    assert_eq!(m.options.vendor_class, None);
    assert_eq!(m.options.message_type, Some(MessageType::Discover));
    assert_eq!(m.options.order.codes(), [53, 60]);
    assert_eq!(m.issues, Issues::TRUNCATED_OPTION);
    // A code without its length byte: not listed (tshark neither).
    let bytes_m = with_options(&[53, 1, 1, 12]);
    let m = parse(&bytes_m);
    assert_eq!(m.options.order.codes(), [53]);
    assert_eq!(m.issues, Issues::TRUNCATED_OPTION);
}

#[test]
fn lying_length_cannot_read_past_the_datagram() {
    // 255 bytes claimed, 3 present: nothing is read, whatever follows.
    let b = with_options(&[12, 255, b'a', b'b', b'c']);
    let m = parse(&b);
    assert_eq!(m.options.hostname, None);
    assert_eq!(m.issues, Issues::TRUNCATED_OPTION);
}

/// Every field of the options, as comparable text.
fn fields(m: &Message<'_>) -> Vec<(&'static str, Option<String>)> {
    let o = &m.options;
    let s = |v: Option<&[u8]>| v.map(|b| format!("{b:?}"));
    vec![
        ("message_type", o.message_type.map(|t| t.name().into())),
        ("requested_ip", o.requested_ip.map(|a| a.to_string())),
        ("server_id", o.server_id.map(|a| a.to_string())),
        ("lease", o.lease_secs.map(|l| l.to_string())),
        ("hostname", s(o.hostname)),
        ("domain", s(o.domain_name)),
        ("max_size", o.max_message_size.map(|l| l.to_string())),
        ("vendor_class", s(o.vendor_class)),
        ("param_list", s(o.param_list)),
        ("client_id", s(o.client_id)),
        ("fqdn", o.fqdn.map(|f| format!("{f:?}"))),
        ("user_class", s(o.user_class)),
        ("relay", o.relay.map(|r| format!("{r:?}"))),
        ("overload", o.overload.map(|v| v.to_string())),
    ]
}

#[test]
fn every_truncation_point_gives_an_error_or_an_issue_never_a_wrong_value() {
    for full in [discover(), request(), ack(), overloaded(3)] {
        let whole = parse(&full);
        let want = fields(&whole);
        // The last option's End: cutting after it loses nothing.
        let end = full.iter().rposition(|&b| b == 255).unwrap();
        for n in 0..full.len() {
            let cut = &full[..n];
            let Ok(m) = parse_v4(cut) else {
                assert!(n < 236, "{n}");
                continue;
            };
            for ((what, got), (_, full_value)) in fields(&m).into_iter().zip(&want) {
                if got.is_some() {
                    assert_eq!(&got, full_value, "cut at {n}: {what}");
                }
            }
            if n <= end {
                let flagged = Issues::BAD_COOKIE | Issues::TRUNCATED_OPTION | Issues::NO_END;
                assert!(
                    m.issues.bits() & flagged.bits() != 0,
                    "cut at {n}: {:?}",
                    m.issues
                );
            } else {
                assert_eq!(m.issues, whole.issues, "cut at {n}");
            }
        }
    }
}

#[test]
fn many_options_are_counted_past_the_order_list() {
    let mut opts = Vec::new();
    for i in 0..100u8 {
        opts.extend_from_slice(&[100 + i, 0]);
    }
    opts.push(255);
    let bytes_m = with_options(&opts);
    let m = parse(&bytes_m);
    assert_eq!(m.options.order.codes().len(), MAX_ORDER);
    assert_eq!(m.options.order.extra(), 100 - MAX_ORDER as u32);
    assert_eq!(m.issues, Issues::MANY_OPTIONS);
    let r = MessageRecord::from_message(0, &m);
    assert!(r.option_order.unwrap().starts_with("100,101,"));
}

// --- FQDN ----------------------------------------------------------------------

#[test]
fn fqdn_ascii_and_wire_names() {
    let f = |flags, name: &'static [u8]| Fqdn {
        flags,
        rcode1: 0,
        rcode2: 0,
        name,
    };
    // ASCII (E clear): as sent, kept text for bytes that are not UTF-8.
    assert_eq!(name(&f(0, b"NicksMacBook")), "NicksMacBook");
    assert_eq!(name(&f(0, b"a\xffb")), "a\\xffb");
    // Wire: labels joined with dots, root label optional.
    assert_eq!(name(&f(Fqdn::E, b"\x01a\x02bc\x00")), "a.bc");
    assert_eq!(name(&f(Fqdn::E, b"\x01a\x02bc")), "a.bc");
    assert_eq!(name(&f(Fqdn::E, b"\x00")), "");
    assert_eq!(name(&f(Fqdn::E, b"")), "");
    assert!(f(Fqdn::E, b"\x01a\x02bc").name_ok());
    // Bad: a label past the end, a compression pointer, bytes after root.
    for (bad, shown) in [
        (&b"\x01a\x05bc"[..], "a"),
        (&b"\x01a\xc0\x0c"[..], "a"),
        (&b"\x01a\x00\x01b"[..], "a"),
        (&b"\x40aaaa"[..], ""),
    ] {
        let x = f(Fqdn::E, bad);
        assert!(!x.name_ok(), "{bad:?}");
        assert_eq!(name(&x), shown);
    }
    // In a message: flagged, still kept.
    let bytes_m = with_options(&[81, 6, 0x04, 0, 0, 5, b'a', b'b', 255]);
    let m = parse(&bytes_m);
    assert_eq!(m.issues, Issues::BAD_FQDN);
    assert!(m.options.fqdn.is_some());
}

#[test]
fn fqdn_renders_into_a_bounded_writer_without_a_cut_escape() {
    struct Cap(String, usize);
    impl std::fmt::Write for Cap {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if self.0.len() + s.len() > self.1 {
                return Err(std::fmt::Error);
            }
            self.0.push_str(s);
            Ok(())
        }
    }
    let f = Fqdn {
        flags: 0,
        rcode1: 0,
        rcode2: 0,
        name: b"ab\xff\xff",
    };
    let mut c = Cap(String::new(), 7);
    assert!(f.write_name(&mut c).is_err());
    assert_eq!(c.0, "ab\\xff");
}

// --- records --------------------------------------------------------------------

#[test]
fn record_keeps_hostile_strings_bounded_and_reversible() {
    let mut host = b"evil\x1b[2J\xff".to_vec();
    host.resize(255, b'h');
    let mut opts = vec![12, 255];
    opts.extend_from_slice(&host);
    opts.extend_from_slice(&[61, 255]);
    opts.extend_from_slice(&[0xab; 255]);
    opts.extend_from_slice(&[82, 255, 1, 253]);
    opts.extend_from_slice(&[0xcd; 253]);
    opts.push(255);
    let bytes_m = with_options(&opts);
    let m = parse(&bytes_m);
    assert!(m.issues.is_empty(), "{:?}", m.issues);
    let r = MessageRecord::from_message(0, &m);
    let h = r.hostname.unwrap();
    assert!(h.len() <= MAX_HOSTNAME);
    assert!(h.starts_with("evil\u{1b}[2J\\xff"));
    assert!(host.starts_with(&crate::proto::text::unescape(&h)));
    let c = r.client_id.unwrap();
    assert_eq!(c.len(), MAX_CLIENT_ID);
    assert!(c.bytes().all(|b| b == b'a' || b == b'b'));
    let relay = r.relay_circuit_id.unwrap();
    assert!(relay.len() <= MAX_RELAY_ID && relay.starts_with("0xcdcd"));
    // Whole bytes only: "0x" and an even number of digits.
    assert_eq!(relay.len() % 2, 0);
}

#[test]
fn user_class_record_instances_or_plain_text() {
    // Microsoft's variant: plain text, not RFC 3004 instances.
    let bytes_m = with_options(&[
        77, 14, b'R', b'R', b'A', b'S', b'.', b'M', b'i', b'c', b'r', b'o', b's', b'o', b'f', b't',
        255,
    ]);
    let m = parse(&bytes_m);
    let r = MessageRecord::from_message(0, &m);
    assert_eq!(r.user_class.as_deref(), Some("RRAS.Microsoft"));
    let bytes_m = with_options(&[77, 4, 3, b'a', 0xff, b',', 255]);
    let m = parse(&bytes_m);
    let r = MessageRecord::from_message(0, &m);
    assert_eq!(r.user_class.as_deref(), Some("a\\xff,"));
}

#[test]
fn bootp_record_has_no_options() {
    let mut b = discover();
    b[236] = 0;
    let m = parse(&b);
    let r = MessageRecord::from_message(5, &m);
    assert_eq!(r.message_type, None);
    assert_eq!(r.option_order, None);
    assert_eq!(r.issues, Issues::BAD_COOKIE);
    assert_eq!(r.client_mac, Some(MAC));
}

// --- names ------------------------------------------------------------------------

#[test]
fn message_type_codes_and_names() {
    let names = [
        "unknown", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM",
    ];
    for c in 0..=255u8 {
        let t = MessageType::from_code(c);
        assert_eq!(t.code(), c);
        if (1..=8).contains(&c) {
            assert_eq!(t.name(), names[usize::from(c)]);
            assert!(!matches!(t, MessageType::Unknown(_)));
        } else {
            assert_eq!(t, MessageType::Unknown(c));
        }
    }
    assert_eq!(MessageType::Unknown(10).name(), "LEASEQUERY");
    assert_eq!(MessageType::Unknown(18).name(), "TLS");
    assert_eq!(MessageType::Unknown(106).name(), "unknown");
}

#[test]
fn issue_names_are_stable_and_unique() {
    let names: Vec<_> = Issues::ALL.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        names,
        [
            "bad_cookie",
            "truncated_option",
            "no_end",
            "bad_length",
            "duplicate_option",
            "bad_overload",
            "bad_hlen",
            "bad_fqdn",
            "data_after_end",
            "many_options",
        ]
    );
    for (i, (f, _)) in Issues::ALL.iter().enumerate() {
        assert_eq!(f.bits(), 1 << i);
    }
    let two = Issues::NO_END | Issues::BAD_COOKIE;
    assert_eq!(two.names().collect::<Vec<_>>(), ["bad_cookie", "no_end"]);
    assert_eq!(format!("{two:?}"), "Issues(bad_cookie | no_end)");
    assert_eq!(Issues::from_bits(0xffff).names().count(), Issues::ALL.len());
    assert!(Issues::empty().is_empty());
    assert_eq!(code::END, 255);
}

// --- properties -------------------------------------------------------------------

/// Whether `inner` lies inside `outer` (same allocation range).
fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    o.start <= i.start && i.end <= o.end
}

/// Checks the invariants of any parse: slices inside the input, bounded
/// `chaddr`, a record that builds, names that render.
fn check_invariants(b: &[u8]) {
    let Ok(m) = parse_v4(b) else {
        return;
    };
    assert!(m.chaddr.len() <= 16);
    for s in m.borrowed() {
        assert!(inside(b, s));
    }
    let o = &m.options;
    assert!(o.order.codes().len() <= MAX_ORDER);
    let r = MessageRecord::from_message(0, &m);
    assert!(r.hostname.is_none_or(|h| h.len() <= MAX_HOSTNAME));
    assert!(r.fqdn.is_none_or(|h| h.len() <= record::MAX_FQDN));
    let _ = fp(&m);
}

/// A message to generate: what medtap should read back.
#[derive(Clone, Debug)]
struct Spec {
    op: u8,
    xid: u32,
    mac: [u8; 6],
    yiaddr: [u8; 4],
    message_type: u8,
    requested_ip: Option<[u8; 4]>,
    lease: Option<u32>,
    hostname: Option<Vec<u8>>,
    vendor_class: Option<Vec<u8>>,
    param_list: Option<Vec<u8>>,
    client_id: Option<Vec<u8>>,
    circuit_id: Option<Vec<u8>>,
    /// Pads after each option.
    pads: Vec<u8>,
}

fn bytes(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), min..=max)
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            1u8..=2,
            any::<u32>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
        ),
        (
            proptest::option::of(any::<[u8; 4]>()),
            proptest::option::of(any::<u32>()),
            // Host names without trailing NULs (those are dropped: tested above).
            proptest::option::of(bytes(1, 255).prop_map(|mut h| {
                if let Some(last) = h.last_mut().filter(|b| **b == 0) {
                    *last = b'x';
                }
                h
            })),
            proptest::option::of(bytes(1, 255)),
        ),
        (
            proptest::option::of(bytes(1, 255)),
            proptest::option::of(bytes(2, 255)),
            proptest::option::of(bytes(0, 253)),
            proptest::collection::vec(0u8..3, 10),
        ),
    )
        .prop_map(
            |(
                (op, xid, mac, yiaddr, message_type),
                (requested_ip, lease, hostname, vendor_class),
                (param_list, client_id, circuit_id, pads),
            )| Spec {
                op,
                xid,
                mac,
                yiaddr,
                message_type,
                requested_ip,
                lease,
                hostname,
                vendor_class,
                param_list,
                client_id,
                circuit_id,
                pads,
            },
        )
}

/// The options of `s`, in an order given by `perm` (indices into them).
fn build(s: &Spec, perm: &[usize]) -> Vec<u8> {
    let mut opts: Vec<Vec<u8>> = vec![vec![53, 1, s.message_type]];
    let mut push = |c: u8, v: &[u8]| {
        let mut o = vec![c, v.len() as u8];
        o.extend_from_slice(v);
        opts.push(o);
    };
    if let Some(a) = s.requested_ip {
        push(50, &a);
    }
    if let Some(l) = s.lease {
        push(51, &l.to_be_bytes());
    }
    for (c, v) in [
        (12, &s.hostname),
        (60, &s.vendor_class),
        (55, &s.param_list),
        (61, &s.client_id),
    ] {
        if let Some(v) = v {
            push(c, v);
        }
    }
    if let Some(c) = &s.circuit_id {
        let mut v = vec![1, c.len() as u8];
        v.extend_from_slice(c);
        push(82, &v);
    }
    let mut head = DISCOVER_HEAD;
    head[0] = s.op;
    head[4..8].copy_from_slice(&s.xid.to_be_bytes());
    head[16..20].copy_from_slice(&s.yiaddr);
    head[28..34].copy_from_slice(&s.mac);
    let mut tail = v4::COOKIE.to_vec();
    for (k, &i) in perm.iter().filter(|&&i| i < opts.len()).enumerate() {
        tail.extend_from_slice(&opts[i]);
        tail.extend(std::iter::repeat_n(
            0,
            usize::from(s.pads[k % s.pads.len()]),
        ));
    }
    tail.push(255);
    message(&head, &[], &[], &tail)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(b in bytes(0, 700)) {
        check_invariants(&b);
    }

    #[test]
    fn arbitrary_options_after_a_good_header_never_panic(opts in bytes(0, 600), sname in bytes(0, 64), file in bytes(0, 128), over in 0u8..5) {
        let mut tail = v4::COOKIE.to_vec();
        tail.extend_from_slice(&[52, 1, over]);
        tail.extend_from_slice(&opts);
        check_invariants(&message(&DISCOVER_HEAD, &sname, &file, &tail));
    }

    #[test]
    fn any_prefix_of_a_valid_message_never_panics(s in spec(), cut in any::<prop::sample::Index>()) {
        let perm: Vec<usize> = (0..10).collect();
        let b = build(&s, &perm);
        let n = cut.index(b.len() + 1);
        check_invariants(&b[..n]);
        if n >= 236 {
            let m = parse_v4(&b[..n]).unwrap();
            prop_assert_eq!(m.xid, s.xid);
        } else {
            prop_assert_eq!(parse_v4(&b[..n]), Err(Malformed::TooShort));
        }
    }

    #[test]
    fn generated_messages_round_trip(s in spec(), perm in Just((0..10).collect::<Vec<usize>>()).prop_shuffle()) {
        let b = build(&s, &perm);
        let m = parse_v4(&b).unwrap();
        prop_assert!(m.issues.is_empty(), "{:?}", m.issues);
        prop_assert_eq!(m.op, s.op);
        prop_assert_eq!(m.xid, s.xid);
        prop_assert_eq!(m.client_mac, Some(Mac(s.mac)));
        prop_assert_eq!(m.yiaddr, Ipv4Addr::from(s.yiaddr));
        let o = &m.options;
        prop_assert_eq!(o.message_type.map(MessageType::code), Some(s.message_type));
        prop_assert_eq!(o.requested_ip, s.requested_ip.map(Ipv4Addr::from));
        prop_assert_eq!(o.lease_secs, s.lease);
        prop_assert_eq!(o.hostname, s.hostname.as_deref());
        prop_assert_eq!(o.vendor_class, s.vendor_class.as_deref());
        prop_assert_eq!(o.param_list, s.param_list.as_deref());
        prop_assert_eq!(o.client_id, s.client_id.as_deref());
        prop_assert_eq!(o.relay.and_then(|r| r.circuit_id), s.circuit_id.as_deref());
        let r = MessageRecord::from_message(0, &m);
        let fp_want = s.param_list.as_ref().map(|p| p.iter().map(u8::to_string).collect::<Vec<_>>().join(","));
        prop_assert_eq!(r.fingerprint.as_deref(), fp_want.as_deref());
        if let Some(h) = &s.hostname {
            let kept = r.hostname.unwrap();
            prop_assert!(h.starts_with(&crate::proto::text::unescape(&kept)));
        }
    }
}

// --- DHCPv6 ---------------------------------------------------------------------

/// A SOLICIT from a Windows-style client.
const SOLICIT: &[u8] = &[
    0x01, // msg-type: SOLICIT
    0x5a, 0x7c, 0x31, // transaction-id
    0x00, 0x01, 0x00, 0x0e, // option 1 CLIENTID, 14 bytes
    0x00, 0x01, 0x00, 0x01, // DUID-LLT, hardware type Ethernet
    0x2b, 0x3c, 0x4d, 0x5e, // time
    0x00, 0x0c, 0x29, 0x1f, 0x74, 0x06, // link-layer address
    0x00, 0x08, 0x00, 0x02, 0x00, 0x00, // option 8 ELAPSED_TIME: 0
    0x00, 0x03, 0x00, 0x0c, // option 3 IA_NA, 12 bytes
    0x0e, 0x00, 0x0c, 0x29, // IAID
    0, 0, 0, 0, 0, 0, 0, 0, // T1, T2
    0x00, 0x27, 0x00, 0x0e, // option 39 CLIENT_FQDN, 14 bytes
    0x01, // flags: S
    7, b'm', b'o', b'n', b'i', b't', b'o', b'r', // label "monitor"
    3, b'i', b'c', b'u', // label "icu"
    0,    // root
    0x00, 0x10, 0x00, 0x0e, // option 16 VENDOR_CLASS, 14 bytes
    0x00, 0x00, 0x01, 0x37, // enterprise 311 (Microsoft)
    0x00, 0x08, b'M', b'S', b'F', b'T', b' ', b'5', b'.', b'0', // "MSFT 5.0"
    0x00, 0x06, 0x00, 0x08, // option 6 ORO, 8 bytes
    0x00, 0x11, 0x00, 0x17, 0x00, 0x18, 0x00, 0x27, // 17, 23, 24, 39
];

/// A REPLY giving an address.
const REPLY: &[u8] = &[
    0x07, // msg-type: REPLY
    0x5a, 0x7c, 0x31, // transaction-id
    0x00, 0x02, 0x00, 0x0a, // option 2 SERVERID, 10 bytes
    0x00, 0x03, 0x00, 0x01, // DUID-LL, Ethernet
    0x02, 0x00, 0x00, 0x77, 0x00, 0x02, // link-layer address
    0x00, 0x03, 0x00, 0x28, // option 3 IA_NA, 40 bytes
    0x0e, 0x00, 0x0c, 0x29, // IAID
    0, 0, 0x0e, 0x10, 0, 0, 0x15, 0x18, // T1 3600, T2 5400
    0x00, 0x05, 0x00, 0x18, // option 5 IAADDR, 24 bytes
    0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x23, // fd77::123
    0, 0, 0x1c, 0x20, 0, 0, 0x2a, 0x30, // preferred, valid lifetimes
];

/// `inner` wrapped in a RELAY-FORW from `peer` with an interface ID.
fn relay_forw(inner: &[u8], peer: u8) -> Vec<u8> {
    let mut m = vec![12, 0]; // RELAY-FORW, hop-count
    m.extend([0x20, 0x01, 0x0d, 0xb8]); // link-address 2001:db8::
    m.extend([0; 12]);
    m.extend([0xfe, 0x80]); // peer-address fe80::<peer>
    m.extend([0; 13]);
    m.push(peer);
    m.extend([0x00, 0x12, 0x00, 0x04]); // option 18 INTERFACE_ID
    m.extend(b"ge-3");
    m.extend([0x00, 0x09]); // option 9 RELAY_MSG
    m.extend((inner.len() as u16).to_be_bytes());
    m.extend_from_slice(inner);
    m
}

fn fp6(m: &MessageV6<'_>) -> String {
    let mut s = String::new();
    m.fingerprint(&mut s).unwrap();
    s
}

#[test]
fn v6_solicit_fields() {
    let m = parse_v6(SOLICIT).unwrap();
    assert_eq!(m.msg_type.name(), "SOLICIT");
    assert_eq!(m.xid, 0x5a7c31);
    assert_eq!(m.relay_hops, 0);
    assert_eq!(m.client_duid.unwrap().len(), 14);
    let f = m.fqdn.unwrap();
    assert_eq!(f.flags, 1);
    let mut name = String::new();
    f.write_name(&mut name).unwrap();
    assert_eq!(name, "monitor.icu");
    let v = m.vendor_class.unwrap();
    assert_eq!((v.enterprise, v.data), (311, &b"MSFT 5.0"[..]));
    assert_eq!(fp6(&m), "17,23,24,39");
    assert_eq!(m.ia_address, None, "a SOLICIT's IA_NA has no address");
    assert!(m.issues.is_empty(), "{:?}", m.issues);
    let r = MessageRecordV6::from_message(3, &m);
    assert_eq!(
        r.client_duid.as_deref(),
        Some("000100012b3c4d5e000c291f7406")
    );
    assert_eq!(r.fingerprint.as_deref(), Some("17,23,24,39"));
    assert_eq!(r.vendor_enterprise, Some(311));
    assert_eq!(r.vendor_class.as_deref(), Some("MSFT 5.0"));
    assert_eq!(r.fqdn.as_deref(), Some("monitor.icu"));
}

#[test]
fn v6_reply_gives_the_ia_na_address() {
    let m = parse_v6(REPLY).unwrap();
    assert_eq!(m.msg_type.name(), "REPLY");
    assert_eq!(m.server_duid, Some(&REPLY[8..18]));
    assert_eq!(m.ia_address, Some("fd77::123".parse().unwrap()));
    assert!(m.issues.is_empty(), "{:?}", m.issues);
    assert_eq!(fp6(&m), "");
}

#[test]
fn v6_relays_are_unwrapped_to_the_clients_message() {
    let once = relay_forw(SOLICIT, 7);
    let m = parse_v6(&once).unwrap();
    assert_eq!(m.msg_type.name(), "SOLICIT");
    assert_eq!((m.relay_hops, m.xid), (1, 0x5a7c31));
    assert_eq!(m.relay_peer, Some("fe80::7".parse().unwrap()));
    assert_eq!(m.relay_interface_id, Some(&b"ge-3"[..]));
    assert_eq!(fp6(&m), "17,23,24,39");
    // Innermost relay's peer: the client's.
    let twice = relay_forw(&relay_forw(SOLICIT, 9), 1);
    let m = parse_v6(&twice).unwrap();
    assert_eq!(m.relay_hops, 2);
    assert_eq!(m.relay_peer, Some("fe80::9".parse().unwrap()));
    // Eight relays are allowed (RFC 8415 HOP_COUNT_LIMIT), nine are not.
    let mut deep = SOLICIT.to_vec();
    for _ in 0..v6::MAX_RELAY_DEPTH {
        deep = relay_forw(&deep, 1);
    }
    assert_eq!(parse_v6(&deep).unwrap().relay_hops, 8);
    assert_eq!(
        parse_v6(&relay_forw(&deep, 1)),
        Err(Malformed::RelayTooDeep)
    );
    // A relay message without a relayed message.
    let empty = &once[..34];
    let m = parse_v6(empty).unwrap();
    assert_eq!((m.msg_type.name(), m.client_duid), ("RELAY-FORW", None));
}

#[test]
fn v6_fatal_and_issues() {
    assert_eq!(parse_v6(&[]), Err(Malformed::TooShort));
    assert_eq!(parse_v6(&[1, 0, 0]), Err(Malformed::TooShort));
    assert_eq!(parse_v6(&[0, 0, 0, 0]), Err(Malformed::BadOp(0)));
    assert_eq!(parse_v6(&[12; 33]), Err(Malformed::TooShort));
    assert!(parse_v6(&[1, 0, 0, 0]).unwrap().issues.is_empty());
    // An option past the end: flagged, the ones before kept.
    let cut = &SOLICIT[..SOLICIT.len() - 3];
    let m = parse_v6(cut).unwrap();
    assert_eq!(m.issues, Issues::TRUNCATED_OPTION);
    assert_eq!(m.oro, None);
    assert!(m.vendor_class.is_some());
    // A duplicate client id, an odd ORO, an empty FQDN, a bad wire name.
    let mut b = vec![3, 0, 0, 1];
    b.extend([0, 1, 0, 2, 0xaa, 0xbb, 0, 1, 0, 1, 0xcc]);
    let m = parse_v6(&b).unwrap();
    assert_eq!(m.client_duid, Some(&[0xaa, 0xbb][..]));
    assert_eq!(m.issues, Issues::DUPLICATE_OPTION);
    let m = parse_v6(&[3, 0, 0, 1, 0, 6, 0, 3, 0, 1, 2]).unwrap();
    assert_eq!((m.oro, m.issues), (None, Issues::BAD_LENGTH));
    let m = parse_v6(&[3, 0, 0, 1, 0, 39, 0, 0]).unwrap();
    assert_eq!((m.fqdn, m.issues), (None, Issues::BAD_LENGTH));
    let m = parse_v6(&[3, 0, 0, 1, 0, 39, 0, 3, 0, 5, b'a']).unwrap();
    assert_eq!(m.issues, Issues::BAD_FQDN);
    assert_eq!(Malformed::RelayTooDeep.name(), "relay_too_deep");
}

#[test]
fn v6_every_truncation_point_gives_an_error_or_an_issue() {
    for full in [SOLICIT.to_vec(), REPLY.to_vec(), relay_forw(SOLICIT, 2)] {
        let whole = parse_v6(&full).unwrap();
        for n in 0..full.len() {
            match parse_v6(&full[..n]) {
                Err(e) => assert_eq!(e, Malformed::TooShort, "{n}"),
                Ok(m) => {
                    for (a, b) in [
                        (m.client_duid, whole.client_duid),
                        (m.server_duid, whole.server_duid),
                        (m.oro, whole.oro),
                    ] {
                        assert!(a.is_none() || a == b, "cut at {n}");
                    }
                    assert!(m.vendor_class.is_none() || m.vendor_class == whole.vendor_class);
                    assert!(m.ia_address.is_none() || m.ia_address == whole.ia_address);
                }
            }
        }
    }
}

/// fuzz/regressions/dhcp/crash-8f02…: a vendor class of only an
/// enterprise number gave an empty data slice that pointed nowhere near the
/// message (`&[]`), breaking "every slice lies inside the input".
#[test]
fn v6_vendor_class_without_data_points_into_the_message() {
    let b = [
        0x05, 0x01, 0x06, 0x00, // RENEW, transaction id
        0x66, 0x00, 0x00, 0x00, // option 0x6600, empty
        0x00, 0x10, 0x00, 0x04, // option 16 VENDOR_CLASS, 4 bytes
        0x00, 0x00, 0xab, 0xe0, // enterprise number, no data item
    ];
    let m = parse_v6(&b).unwrap();
    let v = m.vendor_class.unwrap();
    assert_eq!((v.enterprise, v.data), (0xabe0, &[][..]));
    assert!(inside(&b, v.data));
    assert!(m.issues.is_empty());
}

/// fuzz/regressions/dhcp/crash-451e…: an ORO longer than the record's cap
/// was cut inside a code, leaving a trailing comma.
#[test]
fn v6_long_oro_is_cut_between_codes() {
    let mut b = vec![1, 0, 0, 1, 0, 6, 0x02, 0x58]; // SOLICIT, ORO of 600 bytes
    b.extend(std::iter::repeat_n([0xff, 0xff], 300).flatten());
    let m = parse_v6(&b).unwrap();
    let r = MessageRecordV6::from_message(0, &m);
    let f = r.fingerprint.unwrap();
    assert!(f.len() <= record::MAX_FINGERPRINT);
    assert!(f.starts_with("65535,65535") && f.ends_with("65535"), "{f}");
    assert_eq!(f.len(), 170 * 6 - 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn v6_arbitrary_bytes_never_panic(b in bytes(0, 600), relay in any::<bool>()) {
        let b = if relay { relay_forw(&b, 3) } else { b };
        if let Ok(m) = parse_v6(&b) {
            for s in [m.client_duid, m.server_duid, m.oro, m.relay_interface_id, m.relay_remote_id, m.fqdn.map(|f| f.name), m.vendor_class.map(|v| v.data)].into_iter().flatten() {
                prop_assert!(inside(&b, s));
            }
            let r = MessageRecordV6::from_message(0, &m);
            prop_assert!(r.fingerprint.is_none_or(|f| f.len() <= record::MAX_FINGERPRINT));
        }
    }
}
