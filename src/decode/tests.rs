//! Decoder tests: every link type, every layer, every truncation, lying
//! length fields, and arbitrary bytes.

use super::*;
use etherparse::PacketBuilder;
use proptest::prelude::*;

const SRC_MAC: [u8; 6] = [0x00, 0x1b, 0x63, 0x84, 0x45, 0xe6];
const DST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

/// Ethernet + 802.1Q(vlan 20) + IPv4 10.0.0.1 → 10.0.0.2 + TCP 40000 → 104 SYN|ACK... with payload.
fn tcp_v4_vlan(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .single_vlan(20.try_into().unwrap())
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 104, 1000, 65535)
        .ack(77)
        .psh();
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn udp_v6(payload: &[u8]) -> Vec<u8> {
    let src = "fd77::1".parse::<Ipv6Addr>().unwrap().octets();
    let dst = "fd77::2".parse::<Ipv6Addr>().unwrap().octets();
    let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv6(src, dst, 64)
        .udp(5353, 53);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// The IP part of a frame built above (after 14 bytes of Ethernet, no VLAN).
fn ip_part(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

#[test]
fn ethernet_vlan_ipv4_tcp_fields() {
    let f = tcp_v4_vlan(b"hello");
    let v = decode(LinkType::Ethernet, &f).unwrap();
    assert_eq!(v.src_mac, Some(Mac(SRC_MAC)));
    assert_eq!(v.dst_mac, Some(Mac(DST_MAC)));
    assert_eq!(v.vlan, Some(20));
    assert!(v.error.is_none());
    let Network::Ip(ip) = v.network else {
        panic!("not IP")
    };
    assert_eq!(ip.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(ip.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(ip.proto, 6);
    assert!(!ip.fragment);
    let Transport::Tcp(t) = ip.transport else {
        panic!("not TCP")
    };
    assert_eq!(
        (t.src_port, t.dst_port, t.seq, t.ack),
        (40000, 104, 1000, 77)
    );
    assert_eq!(t.flags, tcp_flags::ACK | tcp_flags::PSH);
    assert_eq!(t.payload, b"hello");
    assert_eq!(t.payload_len, 5);
}

#[test]
fn ipv6_udp_fields() {
    let f = udp_v6(b"q");
    let v = decode(LinkType::Ethernet, &f).unwrap();
    assert_eq!(v.vlan, None);
    let Network::Ip(ip) = v.network else { panic!() };
    assert_eq!(ip.src, "fd77::1".parse::<IpAddr>().unwrap());
    assert_eq!(ip.proto, 17);
    let Transport::Udp {
        src_port,
        dst_port,
        payload,
    } = ip.transport
    else {
        panic!()
    };
    assert_eq!((src_port, dst_port, payload), (5353, 53, &b"q"[..]));
}

#[test]
fn arp_reply_fields() {
    // Ethernet header, then ARP: htype 1, ptype 0x0800, hlen 6, plen 4, op 2.
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&SRC_MAC); // sender MAC
    f.extend_from_slice(&[192, 168, 1, 10]); // sender IP
    f.extend_from_slice(&DST_MAC); // target MAC
    f.extend_from_slice(&[192, 168, 1, 1]); // target IP
    let v = decode(LinkType::Ethernet, &f).unwrap();
    let Network::Arp(a) = v.network else {
        panic!("{:?}", v.network)
    };
    assert_eq!(a.operation, 2);
    assert_eq!(a.sender_mac, Mac(SRC_MAC));
    assert_eq!(a.sender_ip, Ipv4Addr::new(192, 168, 1, 10));
    assert_eq!(a.target_ip, Ipv4Addr::new(192, 168, 1, 1));
    // Cut inside the ARP body: counted, not decoded.
    let cut = decode(LinkType::Ethernet, &f[..30]).unwrap();
    assert!(matches!(cut.network, Network::Other));
    assert_eq!(cut.error, Some(DecodeErrorKind::ArpInvalid));
}

#[test]
fn cooked_raw_and_null_link_types() {
    let eth = udp_v6(b"x");
    let ip = ip_part(&eth);
    // SLL: packet type 0, ARPHRD_ETHER 1, addr len 6, addr (8), protocol 0x86dd.
    let mut sll = vec![0, 0, 0, 1, 0, 6];
    sll.extend_from_slice(&SRC_MAC);
    sll.extend_from_slice(&[0, 0, 0x86, 0xdd]);
    sll.extend_from_slice(ip);
    // SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, addr len, addr (8).
    let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
    sll2.extend_from_slice(&SRC_MAC);
    sll2.extend_from_slice(&[0, 0]);
    sll2.extend_from_slice(ip);
    // DLT_NULL little-endian AF_INET6 (Linux 10) and big-endian macOS (30).
    let mut null_le = 10u32.to_le_bytes().to_vec();
    null_le.extend_from_slice(ip);
    let mut null_be = 30u32.to_be_bytes().to_vec();
    null_be.extend_from_slice(ip);
    for (link, frame, mac) in [
        (LinkType::LinuxSll, &sll, Some(Mac(SRC_MAC))),
        (LinkType::LinuxSll2, &sll2, Some(Mac(SRC_MAC))),
        (LinkType::RawIp, &ip.to_vec(), None),
        (LinkType::Null, &null_le, None),
        (LinkType::Null, &null_be, None),
    ] {
        let v = decode(link, frame).unwrap_or_else(|e| panic!("{link:?}: {e:?}"));
        assert_eq!(v.src_mac, mac, "{link:?}");
        assert_eq!(v.dst_mac, None, "{link:?}");
        let Network::Ip(p) = v.network else {
            panic!("{link:?}")
        };
        assert!(
            matches!(p.transport, Transport::Udp { dst_port: 53, .. }),
            "{link:?}"
        );
    }
    let mut bad_family = 99u32.to_le_bytes().to_vec();
    bad_family.extend_from_slice(ip);
    assert_eq!(
        decode(LinkType::Null, &bad_family).unwrap_err(),
        DecodeErrorKind::LinkInvalid
    );
    assert_eq!(
        decode(LinkType::LinuxSll2, &sll2[..19]).unwrap_err(),
        DecodeErrorKind::LinkTruncated
    );
}

#[test]
fn dlt_mapping() {
    assert_eq!(LinkType::from_dlt(1), Some(LinkType::Ethernet));
    assert_eq!(LinkType::from_dlt(113), Some(LinkType::LinuxSll));
    assert_eq!(LinkType::from_dlt(276), Some(LinkType::LinuxSll2));
    assert_eq!(LinkType::from_dlt(101), Some(LinkType::RawIp));
    assert_eq!(LinkType::from_dlt(0), Some(LinkType::Null));
    assert_eq!(LinkType::from_dlt(105), None, "802.11 is not decoded");
}

#[test]
fn every_truncation_is_classified_never_panics() {
    let f = tcp_v4_vlan(b"payload bytes");
    // 14 Ethernet + 4 VLAN + 20 IPv4 + 20 TCP + 13 payload.
    assert_eq!(f.len(), 71);
    for len in 0..=f.len() {
        let r = decode(LinkType::Ethernet, &f[..len]);
        let expect = match len {
            0..=13 => Err(DecodeErrorKind::LinkTruncated),
            14..=17 => Ok(Some(DecodeErrorKind::VlanTruncated)),
            18..=37 => Ok(Some(DecodeErrorKind::Ipv4Truncated)),
            38..=57 => Ok(Some(DecodeErrorKind::TcpTruncated)),
            _ => Ok(None),
        };
        match (r, expect) {
            (Err(a), Err(b)) => assert_eq!(a, b, "len {len}"),
            (Ok(v), Ok(e)) => assert_eq!(v.error, e, "len {len}"),
            (r, e) => panic!("len {len}: got {r:?}, expected {e:?}"),
        }
    }
    // Snaplen cut inside the payload: TCP decodes, the announced length survives.
    let v = decode(LinkType::Ethernet, &f[..60]).unwrap();
    let Network::Ip(ip) = v.network else { panic!() };
    let Transport::Tcp(t) = ip.transport else {
        panic!()
    };
    assert_eq!(t.payload, b"pa");
    assert_eq!(t.payload_len, 13);
}

#[test]
fn lying_ipv4_and_tcp_length_fields() {
    let good = tcp_v4_vlan(b"abc");
    let ip_at = 18;
    // IHL 4 (< 5 words).
    let mut f = good.clone();
    f[ip_at] = 0x44;
    assert_eq!(
        decode(LinkType::Ethernet, &f).unwrap().error,
        Some(DecodeErrorKind::Ipv4Invalid)
    );
    // Total length smaller than the header.
    let mut f = good.clone();
    f[ip_at + 2..ip_at + 4].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::Ethernet, &f).unwrap().error,
        Some(DecodeErrorKind::Ipv4Invalid)
    );
    // Total length far beyond the frame: decoded laxly, payload as captured.
    let mut f = good.clone();
    f[ip_at + 2..ip_at + 4].copy_from_slice(&9000u16.to_be_bytes());
    let v = decode(LinkType::Ethernet, &f).unwrap();
    let Network::Ip(ip) = v.network else { panic!() };
    let Transport::Tcp(t) = ip.transport else {
        panic!()
    };
    assert_eq!(t.payload, b"abc");
    assert_eq!(t.payload_len, 9000 - 40);
    // TCP data offset 4 (< 5 words).
    let mut f = good.clone();
    f[ip_at + 20 + 12] = 0x40;
    let v = decode(LinkType::Ethernet, &f).unwrap();
    assert_eq!(v.error, Some(DecodeErrorKind::TcpInvalid));
    assert!(matches!(
        v.network,
        Network::Ip(Ip {
            transport: Transport::Opaque,
            ..
        })
    ));
    // TCP data offset 15 words, more than the segment holds.
    let mut f = good;
    f[ip_at + 20 + 12] = 0xf0;
    assert_eq!(
        decode(LinkType::Ethernet, &f).unwrap().error,
        Some(DecodeErrorKind::TcpTruncated)
    );
}

#[test]
fn ipv4_fragments_are_flagged_without_transport() {
    let mut f = tcp_v4_vlan(b"abcdefgh");
    let ip_at = 18;
    // Second fragment: offset 8 bytes (1 unit), more fragments clear.
    f[ip_at + 6..ip_at + 8].copy_from_slice(&1u16.to_be_bytes());
    let v = decode(LinkType::Ethernet, &f).unwrap();
    let Network::Ip(ip) = v.network else { panic!() };
    assert!(ip.fragment);
    assert!(matches!(ip.transport, Transport::Opaque));
}

#[test]
fn non_ip_ethertype_is_other_without_error() {
    let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&[0x88, 0xcc, 1, 2, 3]); // LLDP
    let v = decode(LinkType::Ethernet, &f).unwrap();
    assert!(matches!(v.network, Network::Other));
    assert!(v.error.is_none());
}

#[test]
fn error_kind_names_are_unique_and_complete() {
    let names: std::collections::HashSet<_> =
        DecodeErrorKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names.len(), DecodeErrorKind::COUNT);
    for (i, k) in DecodeErrorKind::ALL.iter().enumerate() {
        assert_eq!(*k as usize, i, "ALL must be in discriminant order");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1600), dlt in prop::sample::select(vec![1, 113, 276, 101, 0])) {
        let link = LinkType::from_dlt(dlt).unwrap();
        let _ = decode(link, &data);
    }

    #[test]
    fn mutated_real_frames_never_panic(pos in 0usize..71, byte in any::<u8>(), cut in 0usize..=71) {
        let mut f = tcp_v4_vlan(b"payload bytes");
        f[pos] = byte;
        f.truncate(cut);
        if let Ok(v) = decode(LinkType::Ethernet, &f) {
            if let Network::Ip(Ip { transport: Transport::Tcp(t), .. }) = v.network {
                prop_assert!(t.payload.len() <= f.len());
                prop_assert!(t.payload_len as usize >= t.payload.len());
            }
        }
    }
}

#[test]
fn first_ipv4_fragment_keeps_its_transport_header() {
    // Regression: tcpdump_bootp_asan_malformed.pcap, a first fragment (MF
    // set, offset 0) whose UDP header tshark counts in the conversation.
    let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv4([18, 0, 0, 15], [107, 95, 83, 32], 64)
        .udp(16896, 68);
    let mut f = Vec::new();
    b.write(&mut f, &[7u8; 40]).unwrap();
    f[14 + 6] = 0x20; // MF, offset 0
    let v = decode(LinkType::Ethernet, &f).unwrap();
    let Network::Ip(ip) = v.network else { panic!() };
    assert!(ip.fragment);
    assert!(matches!(
        ip.transport,
        Transport::Udp {
            src_port: 16896,
            dst_port: 68,
            ..
        }
    ));
}
