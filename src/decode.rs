//! Zero-copy decoding of one captured frame into a [`PacketView`].
//!
//! etherparse's lax slicer does the header walking (it keeps whatever it
//! could decode when a snaplen or a lying length field cuts a packet short);
//! this module adds the link types libpcap hands us (Ethernet, Linux cooked
//! v1/v2, raw IP, BSD loopback), picks out the fields the flow table and the
//! identity work need, and classifies every frame it cannot use into a
//! [`DecodeErrorKind`] so nothing is dropped silently.

use crate::net::Mac;
use etherparse::err::packet::SliceError;
use etherparse::err::Layer;
use etherparse::{
    EtherType, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Link-layer framing of a capture, from its libpcap DLT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB (1).
    Ethernet,
    /// DLT_LINUX_SLL (113), 16-byte cooked header.
    LinuxSll,
    /// DLT_LINUX_SLL2 (276), 20-byte cooked header.
    LinuxSll2,
    /// DLT_RAW (12/14) and LINKTYPE_RAW (101), LINKTYPE_IPV4/IPV6 (228/229).
    RawIp,
    /// DLT_NULL (0) and DLT_LOOP (108): 4-byte address family, then IP.
    Null,
}

impl LinkType {
    /// Maps a libpcap DLT value; `None` for link types medtap does not decode.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            0 | 108 => LinkType::Null,
            _ => return None,
        })
    }
}

/// Why a frame could not be used (or could be used only in part).
///
/// The names returned by [`DecodeErrorKind::name`] are stable: they are
/// stored in `capture_stats` and shown by `medtap status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DecodeErrorKind {
    /// Shorter than the link header (Ethernet, cooked or null).
    LinkTruncated,
    /// A cooked (SLL/SLL2) or null header that makes no sense.
    LinkInvalid,
    /// A VLAN/MACsec tag cut short.
    VlanTruncated,
    /// IPv4 header cut short.
    Ipv4Truncated,
    /// IPv4 header with a bad version, IHL or total length.
    Ipv4Invalid,
    /// IPv6 header cut short.
    Ipv6Truncated,
    /// IPv6 header that makes no sense.
    Ipv6Invalid,
    /// IPv4 options/auth or IPv6 extension headers cut short or invalid.
    IpExtInvalid,
    /// TCP header cut short.
    TcpTruncated,
    /// TCP data offset below 5 words.
    TcpInvalid,
    /// UDP header cut short.
    UdpTruncated,
    /// ICMP or ICMPv6 header cut short.
    IcmpTruncated,
    /// ARP packet cut short or not Ethernet/IPv4.
    ArpInvalid,
    /// Anything else etherparse refused.
    Other,
}

impl DecodeErrorKind {
    /// Number of kinds, for fixed-size counter arrays.
    pub const COUNT: usize = 14;

    /// Every kind, in discriminant order.
    pub const ALL: [DecodeErrorKind; Self::COUNT] = [
        Self::LinkTruncated,
        Self::LinkInvalid,
        Self::VlanTruncated,
        Self::Ipv4Truncated,
        Self::Ipv4Invalid,
        Self::Ipv6Truncated,
        Self::Ipv6Invalid,
        Self::IpExtInvalid,
        Self::TcpTruncated,
        Self::TcpInvalid,
        Self::UdpTruncated,
        Self::IcmpTruncated,
        Self::ArpInvalid,
        Self::Other,
    ];

    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::LinkTruncated => "link_truncated",
            Self::LinkInvalid => "link_invalid",
            Self::VlanTruncated => "vlan_truncated",
            Self::Ipv4Truncated => "ipv4_truncated",
            Self::Ipv4Invalid => "ipv4_invalid",
            Self::Ipv6Truncated => "ipv6_truncated",
            Self::Ipv6Invalid => "ipv6_invalid",
            Self::IpExtInvalid => "ip_ext_invalid",
            Self::TcpTruncated => "tcp_truncated",
            Self::TcpInvalid => "tcp_invalid",
            Self::UdpTruncated => "udp_truncated",
            Self::IcmpTruncated => "icmp_truncated",
            Self::ArpInvalid => "arp_invalid",
            Self::Other => "other",
        }
    }

    /// Classifies the error that stopped the slicer; `base` is the slice it
    /// was given (to tell IPv4 from IPv6 where etherparse says "IP").
    fn from_stop(err: &SliceError, layer: Layer, base: &[u8]) -> DecodeErrorKind {
        let truncated = matches!(err, SliceError::Len(_));
        let layer = match (layer, err) {
            (Layer::IpHeader, SliceError::Len(l))
                if ip_version(&base[l.layer_start_offset.min(base.len())..]) == 6 =>
            {
                Layer::Ipv6Header
            }
            _ => layer,
        };
        match (layer, truncated) {
            (Layer::LinuxSllHeader, _) => Self::LinkInvalid,
            (Layer::Ethernet2Header | Layer::EtherPayload, _) => Self::LinkTruncated,
            (Layer::VlanHeader | Layer::MacsecHeader | Layer::MacsecPacket, _) => {
                Self::VlanTruncated
            }
            (Layer::IpHeader | Layer::Ipv4Header | Layer::Ipv4Packet, true) => Self::Ipv4Truncated,
            (Layer::IpHeader | Layer::Ipv4Header | Layer::Ipv4Packet, false) => Self::Ipv4Invalid,
            (Layer::Ipv6Header | Layer::Ipv6Packet, true) => Self::Ipv6Truncated,
            (Layer::Ipv6Header | Layer::Ipv6Packet, false) => Self::Ipv6Invalid,
            (
                Layer::IpAuthHeader
                | Layer::Ipv6ExtHeader
                | Layer::Ipv6HopByHopHeader
                | Layer::Ipv6DestOptionsHeader
                | Layer::Ipv6RouteHeader
                | Layer::Ipv6FragHeader,
                _,
            ) => Self::IpExtInvalid,
            (Layer::TcpHeader, true) => Self::TcpTruncated,
            (Layer::TcpHeader, false) => Self::TcpInvalid,
            (Layer::UdpHeader | Layer::UdpPayload, _) => Self::UdpTruncated,
            (
                Layer::Icmpv4
                | Layer::Icmpv4Timestamp
                | Layer::Icmpv4TimestampReply
                | Layer::Icmpv6,
                _,
            ) => Self::IcmpTruncated,
            (Layer::Arp, _) => Self::ArpInvalid,
            _ => Self::Other,
        }
    }
}

/// TCP flag bits as on the wire (byte 13 of the header).
pub mod tcp_flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
    /// URG
    pub const URG: u8 = 0x20;
    /// ECE
    pub const ECE: u8 = 0x40;
    /// CWR
    pub const CWR: u8 = 0x80;
}

/// A TCP segment, borrowing its payload from the frame.
#[derive(Clone, Copy, Debug)]
pub struct Tcp<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits, see [`tcp_flags`].
    pub flags: u8,
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload length the IP header announces (more than `payload.len()`
    /// when the snaplen cut the packet).
    pub payload_len: u32,
}

/// The transport layer of an IP packet.
#[derive(Clone, Copy, Debug)]
pub enum Transport<'a> {
    /// TCP.
    Tcp(Tcp<'a>),
    /// UDP with its payload.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Payload bytes present in the capture.
        payload: &'a [u8],
    },
    /// ICMP (v4 or v6) type and code.
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
    /// A non-first IPv4/IPv6 fragment, or a protocol medtap does not decode.
    Opaque,
}

/// An IP packet.
#[derive(Clone, Copy, Debug)]
pub struct Ip<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the payload (after IPv6 extension headers).
    pub proto: u8,
    /// Part of a fragmented datagram (not reassembled).
    pub fragment: bool,
    /// What the payload turned out to be.
    pub transport: Transport<'a>,
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply, other values kept as sent.
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: Mac,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: Mac,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// The network layer of a frame.
#[derive(Clone, Copy, Debug)]
pub enum Network<'a> {
    /// IPv4 or IPv6.
    Ip(Ip<'a>),
    /// ARP.
    Arp(Arp),
    /// Not IP or ARP (LLDP, STP, ...): counted, not decoded.
    Other,
}

/// Everything medtap reads from one frame, borrowing from the frame's bytes.
#[derive(Clone, Copy, Debug)]
pub struct PacketView<'a> {
    /// Source MAC (Ethernet, or the cooked header's address).
    pub src_mac: Option<Mac>,
    /// Destination MAC (Ethernet only).
    pub dst_mac: Option<Mac>,
    /// Outermost 802.1Q VLAN id.
    pub vlan: Option<u16>,
    /// Network layer.
    pub network: Network<'a>,
    /// Set when part of the frame could not be decoded; the layers above
    /// the failing one are then absent (`Network::Other` or `Transport::Opaque`).
    pub error: Option<DecodeErrorKind>,
}

/// Decodes one frame. Never panics, whatever the bytes.
///
/// `Err` means nothing usable was found (not even a network layer); a frame
/// that decoded partly comes back `Ok` with [`PacketView::error`] set.
pub fn decode(link: LinkType, data: &[u8]) -> Result<PacketView<'_>, DecodeErrorKind> {
    let mut cooked_src = None;
    // The bytes handed to etherparse, for error classification.
    let mut base = data;
    let sliced = match link {
        LinkType::Ethernet => {
            LaxSlicedPacket::from_ethernet(data).map_err(|_| DecodeErrorKind::LinkTruncated)?
        }
        LinkType::LinuxSll => {
            // SLL: type(2) arphrd(2) addr_len(2) addr(8) protocol(2), RFC-less
            // but documented in pcap-linktype(7).
            let hdr = data.get(..16).ok_or(DecodeErrorKind::LinkTruncated)?;
            cooked_src = cooked_mac(u16::from_be_bytes([hdr[4], hdr[5]]), &hdr[6..14]);
            let proto = u16::from_be_bytes([hdr[14], hdr[15]]);
            base = &data[16..];
            LaxSlicedPacket::from_ether_type(EtherType(proto), base)
        }
        LinkType::LinuxSll2 => {
            // SLL2: protocol(2) reserved(2) ifindex(4) arphrd(2) type(1)
            // addr_len(1) addr(8).
            let hdr = data.get(..20).ok_or(DecodeErrorKind::LinkTruncated)?;
            cooked_src = cooked_mac(u16::from(hdr[11]), &hdr[12..20]);
            let proto = u16::from_be_bytes([hdr[0], hdr[1]]);
            base = &data[20..];
            LaxSlicedPacket::from_ether_type(EtherType(proto), base)
        }
        LinkType::RawIp => from_ip(data)?,
        LinkType::Null => {
            let family = data.get(..4).ok_or(DecodeErrorKind::LinkTruncated)?;
            // The family is in the byte order of the machine that wrote the
            // file (DLT_NULL) or big-endian (DLT_LOOP): accept either.
            let le = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
            let be = u32::from_be_bytes([family[0], family[1], family[2], family[3]]);
            // AF_INET = 2 everywhere; AF_INET6 = 10 Linux, 24 NetBSD/OpenBSD,
            // 28 FreeBSD, 30 macOS.
            let known = |f: u32| matches!(f, 2 | 10 | 24 | 28 | 30);
            if !known(le) && !known(be) {
                return Err(DecodeErrorKind::LinkInvalid);
            }
            base = &data[4..];
            from_ip(base)?
        }
    };
    Ok(view_of(&sliced, cooked_src, base))
}

fn from_ip(data: &[u8]) -> Result<LaxSlicedPacket<'_>, DecodeErrorKind> {
    LaxSlicedPacket::from_ip(data).map_err(|e| {
        use etherparse::err::ip::LaxHeaderSliceError as E;
        match (e, ip_version(data)) {
            (E::Len(_), 6) => DecodeErrorKind::Ipv6Truncated,
            (E::Len(_), _) => DecodeErrorKind::Ipv4Truncated,
            (E::Content(_), 6) => DecodeErrorKind::Ipv6Invalid,
            (E::Content(_), _) => DecodeErrorKind::Ipv4Invalid,
        }
    })
}

/// The IP version nibble, 0 for an empty slice.
fn ip_version(b: &[u8]) -> u8 {
    b.first().map_or(0, |v| v >> 4)
}

/// Address of a cooked header when it is an Ethernet MAC (ARPHRD_ETHER = 1
/// with a six-byte address); loopback and tunnels have none.
fn cooked_mac(addr_len_or_hatype: u16, addr: &[u8]) -> Option<Mac> {
    (addr_len_or_hatype == 6)
        .then(|| Mac::from_slice(addr))
        .flatten()
        .filter(|m| !m.is_zero())
}

fn view_of<'a>(p: &LaxSlicedPacket<'a>, cooked_src: Option<Mac>, base: &[u8]) -> PacketView<'a> {
    let (src_mac, dst_mac) = match &p.link {
        Some(LinkSlice::Ethernet2(eth)) => (Some(Mac(eth.source())), Some(Mac(eth.destination()))),
        _ => (cooked_src, None),
    };
    let vlan = p.link_exts.iter().find_map(|ext| match ext {
        LaxLinkExtSlice::Vlan(v) => Some(v.vlan_identifier().value()),
        LaxLinkExtSlice::Macsec(_) => None,
    });
    let error = p
        .stop_err
        .as_ref()
        .map(|(e, layer)| DecodeErrorKind::from_stop(e, *layer, base));
    let network = match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let payload = v4.payload();
            let header_len = usize::from(h.ihl()) * 4;
            let total = usize::from(h.total_len());
            // A total length below the header length is bogus (Wireshark
            // stops there too); 0 is what TSO senders capture, so it is
            // taken as "as long as the capture".
            if total != 0 && total < header_len {
                return PacketView {
                    src_mac,
                    dst_mac,
                    vlan,
                    network: Network::Ip(Ip {
                        src: IpAddr::V4(h.source_addr()),
                        dst: IpAddr::V4(h.destination_addr()),
                        proto: payload.ip_number.0,
                        fragment: payload.fragmented,
                        transport: Transport::Opaque,
                    }),
                    error: Some(DecodeErrorKind::Ipv4Invalid),
                };
            }
            let announced = if total == 0 {
                payload.payload.len()
            } else {
                total.saturating_sub(
                    header_len + v4.extensions().auth.map_or(0, |a| a.slice().len()),
                )
            };
            // The first fragment carries the transport header: read it (as
            // tshark does without reassembly); later fragments stay opaque.
            let transport = if payload.fragmented && h.fragments_offset().value() == 0 {
                first_fragment_transport(payload.ip_number.0, payload.payload, announced)
            } else {
                transport_of(p, announced)
            };
            Network::Ip(Ip {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                proto: payload.ip_number.0,
                fragment: payload.fragmented,
                transport,
            })
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let payload = v6.payload();
            // Payload length 0 means a jumbogram or a TSO capture: as captured.
            let announced = match usize::from(h.payload_length()) {
                0 => payload.payload.len(),
                n => n.saturating_sub(v6.extensions().slice().len()),
            };
            Network::Ip(Ip {
                src: IpAddr::V6(Ipv6Addr::from(h.source())),
                dst: IpAddr::V6(Ipv6Addr::from(h.destination())),
                proto: payload.ip_number.0,
                fragment: payload.fragmented,
                transport: transport_of(p, announced),
            })
        }
        Some(LaxNetSlice::Arp(arp)) => match arp_of(arp) {
            Some(a) => Network::Arp(a),
            None => {
                return PacketView {
                    src_mac,
                    dst_mac,
                    vlan,
                    network: Network::Other,
                    error: Some(DecodeErrorKind::ArpInvalid),
                }
            }
        },
        None => Network::Other,
    };
    PacketView {
        src_mac,
        dst_mac,
        vlan,
        network,
        error,
    }
}

/// `ip_payload_len` is the transport length the IP header announces.
fn transport_of<'a>(p: &LaxSlicedPacket<'a>, ip_payload_len: usize) -> Transport<'a> {
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let payload = t.payload();
            // The lax slicer cuts the IP payload at the capture's end; the
            // announced length tells how much the wire carried.
            let announced = ip_payload_len.saturating_sub(t.header_len());
            Transport::Tcp(Tcp {
                src_port: t.source_port(),
                dst_port: t.destination_port(),
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                flags: t.header_slice().get(13).copied().unwrap_or(0),
                payload,
                payload_len: u32::try_from(announced.max(payload.len())).unwrap_or(u32::MAX),
            })
        }
        Some(TransportSlice::Udp(u)) => Transport::Udp {
            src_port: u.source_port(),
            dst_port: u.destination_port(),
            payload: u.payload(),
        },
        Some(TransportSlice::Icmpv4(i)) => Transport::Icmp {
            icmp_type: i.type_u8(),
            code: i.code_u8(),
        },
        Some(TransportSlice::Icmpv6(i)) => Transport::Icmp {
            icmp_type: i.type_u8(),
            code: i.code_u8(),
        },
        _ => Transport::Opaque,
    }
}

/// Transport header of a first IPv4 fragment, whose payload etherparse
/// leaves unsliced. Ports and flags only matter here; a header that does
/// not fit stays opaque.
fn first_fragment_transport(proto: u8, payload: &[u8], announced: usize) -> Transport<'_> {
    match proto {
        6 => match etherparse::TcpSlice::from_slice(payload) {
            Ok(t) => Transport::Tcp(Tcp {
                src_port: t.source_port(),
                dst_port: t.destination_port(),
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                flags: t.header_slice().get(13).copied().unwrap_or(0),
                payload: t.payload(),
                payload_len: u32::try_from(announced.saturating_sub(t.header_len()))
                    .unwrap_or(u32::MAX),
            }),
            Err(_) => Transport::Opaque,
        },
        17 => match payload.get(..8) {
            Some(h) => Transport::Udp {
                src_port: u16::from_be_bytes([h[0], h[1]]),
                dst_port: u16::from_be_bytes([h[2], h[3]]),
                payload: &payload[8..],
            },
            None => Transport::Opaque,
        },
        1 => match payload.get(..2) {
            Some(h) => Transport::Icmp {
                icmp_type: h[0],
                code: h[1],
            },
            None => Transport::Opaque,
        },
        _ => Transport::Opaque,
    }
}

fn arp_of(arp: &etherparse::ArpPacketSlice<'_>) -> Option<Arp> {
    if arp.hw_addr_size() != 6 || arp.proto_addr_size() != 4 {
        return None;
    }
    let ip = |b: &[u8]| -> Option<Ipv4Addr> {
        let a: [u8; 4] = b.try_into().ok()?;
        Some(Ipv4Addr::from(a))
    };
    Some(Arp {
        operation: arp.operation().0,
        sender_mac: Mac::from_slice(arp.sender_hw_addr())?,
        sender_ip: ip(arp.sender_protocol_addr())?,
        target_mac: Mac::from_slice(arp.target_hw_addr())?,
        target_ip: ip(arp.target_protocol_addr())?,
    })
}

#[cfg(test)]
mod tests;
