//! DHCPv4/BOOTP messages (RFC 951, RFC 2131 §2): the fixed header and the
//! options of every area, read in place.

use super::issues::Issues;
use super::options::{write_codes, Options, Region, Walk};
use crate::net::Mac;
use std::fmt;
use std::net::Ipv4Addr;

/// Bytes of the fixed header, up to the end of `file` (RFC 2131 §2).
pub const HEADER_LEN: usize = 236;
/// The magic cookie 99.130.83.99 that starts the options (RFC 2131 §3).
pub const COOKIE: [u8; 4] = [99, 130, 83, 99];
/// `chaddr`: offset and size.
const CHADDR: (usize, usize) = (28, 16);
/// `sname`: the server host name field, 64 bytes at 44.
const SNAME: std::ops::Range<usize> = 44..108;
/// `file`: the boot file name field, 128 bytes at 108.
const FILE: std::ops::Range<usize> = 108..236;
/// Where the options field starts, after the cookie.
const OPTIONS_AT: usize = HEADER_LEN + COOKIE.len();

/// Why a datagram on the DHCP ports is not a message medtap can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Shorter than the fixed header (236 bytes in DHCPv4; 4 in DHCPv6, 34
    /// for a relay message).
    #[error("shorter than the fixed header")]
    TooShort,
    /// DHCPv4 `op` neither 1 (BOOTREQUEST) nor 2 (BOOTREPLY): nothing else
    /// in the header can be trusted to mean what BOOTP says. DHCPv6:
    /// message type 0 (reserved).
    #[error("op is neither 1 (BOOTREQUEST) nor 2 (BOOTREPLY), or DHCPv6 message type 0")]
    BadOp(u8),
    /// DHCPv6 relay messages nested deeper than [`super::v6::MAX_RELAY_DEPTH`].
    #[error("DHCPv6 relay messages nested too deep")]
    RelayTooDeep,
}

impl Malformed {
    /// Stable short name (the detail of a `dhcp.malformed` anomaly).
    pub fn name(self) -> &'static str {
        match self {
            Malformed::TooShort => "too_short",
            Malformed::BadOp(_) => "bad_op",
            Malformed::RelayTooDeep => "relay_too_deep",
        }
    }
}

/// One DHCPv4 or BOOTP message, borrowed from the UDP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// 1 BOOTREQUEST (client to server), 2 BOOTREPLY.
    pub op: u8,
    /// Hardware address type (1 Ethernet; ARP hardware types).
    pub htype: u8,
    /// Hardware address length as sent (may exceed 16: [`Issues::BAD_HLEN`]).
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction ID.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags (bit 15: broadcast).
    pub flags: u16,
    /// Client IP address (when it already has one).
    pub ciaddr: Ipv4Addr,
    /// "Your" address: what the server gives the client.
    pub yiaddr: Ipv4Addr,
    /// Next server (TFTP) address.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// The client hardware address: the first `hlen` bytes of `chaddr`,
    /// at most 16.
    pub chaddr: &'a [u8],
    /// The client MAC, when the hardware type is Ethernet (1) or IEEE 802
    /// (6) with a 6-byte address — the cases tshark shows as a MAC.
    pub client_mac: Option<Mac>,
    /// What the options say (all areas, overload included).
    pub options: Options<'a>,
    /// Non-fatal problems found.
    pub issues: Issues,
}

impl<'a> Message<'a> {
    /// Every slice of the datagram the message borrows: `chaddr` and the
    /// option values it keeps (the fuzz target and the tests check that
    /// each lies inside the input).
    pub fn borrowed(&self) -> impl Iterator<Item = &'a [u8]> {
        let o = &self.options;
        [
            Some(self.chaddr),
            o.hostname,
            o.domain_name,
            o.vendor_class,
            o.param_list,
            o.client_id,
            o.user_class,
            o.fqdn.map(|f| f.name),
            o.relay.and_then(|r| r.circuit_id),
            o.relay.and_then(|r| r.remote_id),
        ]
        .into_iter()
        .flatten()
    }

    /// Writes the parameter request list (option 55) as `1,3,6,15,28`, the
    /// usual DHCP fingerprint (Fingerbank, Satori); nothing without one.
    pub fn fingerprint(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self.options.param_list {
            Some(codes) => write_codes(out, codes.iter().map(|&c| u16::from(c))),
            None => Ok(()),
        }
    }
}

fn u16_at(p: &[u8], at: usize) -> u16 {
    p.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_be_bytes)
}

fn u32_at(p: &[u8], at: usize) -> u32 {
    p.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

/// Parses a DHCPv4/BOOTP message (the UDP payload of a datagram on port
/// 67 or 68). Fatal only when the fixed header is short or `op` is not 1
/// or 2; everything else is read as far as it goes and flagged in
/// [`Message::issues`]. Allocates nothing, never panics.
pub fn parse_v4(payload: &[u8]) -> Result<Message<'_>, Malformed> {
    let p = payload;
    let Some(header) = p.get(..HEADER_LEN) else {
        return Err(Malformed::TooShort);
    };
    let op = header[0];
    if op != 1 && op != 2 {
        return Err(Malformed::BadOp(op));
    }
    let (htype, hlen) = (header[1], header[2]);
    let mut issues = Issues::empty();
    if usize::from(hlen) > CHADDR.1 {
        issues |= Issues::BAD_HLEN;
    }
    let chaddr = &header[CHADDR.0..CHADDR.0 + usize::from(hlen).min(CHADDR.1)];
    let client_mac = if matches!(htype, 1 | 6) && hlen == 6 {
        Mac::from_slice(chaddr)
    } else {
        None
    };
    let addr = |at| Ipv4Addr::from(u32_at(header, at));
    let mut walk = Walk::new();
    walk.issues = issues;
    if p.get(HEADER_LEN..OPTIONS_AT) == Some(&COOKIE[..]) {
        walk.area(p.get(OPTIONS_AT..).unwrap_or_default(), Region::Options);
        // RFC 2131 §4.1: the options field, then `file`, then `sname`.
        let over = walk.overloaded();
        if over & 1 != 0 {
            walk.area(&header[FILE], Region::File);
        }
        if over & 2 != 0 {
            walk.area(&header[SNAME], Region::Sname);
        }
    } else {
        walk.issues |= Issues::BAD_COOKIE;
    }
    Ok(Message {
        op,
        htype,
        hlen,
        hops: header[3],
        xid: u32_at(header, 4),
        secs: u16_at(header, 8),
        flags: u16_at(header, 10),
        ciaddr: addr(12),
        yiaddr: addr(16),
        siaddr: addr(20),
        giaddr: addr(24),
        chaddr,
        client_mac,
        options: walk.options,
        issues: walk.issues,
    })
}
