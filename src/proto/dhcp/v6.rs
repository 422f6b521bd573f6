//! DHCPv6 messages (RFC 8415 §8–9, §21): the message type, transaction
//! ID and the options that say who the client is — DUID, FQDN, vendor
//! class, the options it asks for (ORO) — and the address it is given
//! (IA_NA → IAADDR). Relay messages are unwrapped down to the client's
//! message, keeping the innermost relay's peer address and IDs.

use super::issues::Issues;
use super::options::{wire_name_ok, write_codes, write_wire_name};
use super::record::{
    bounded, hex_text, MAX_CLIENT_ID, MAX_FINGERPRINT, MAX_FQDN, MAX_VENDOR_CLASS,
};
use super::v4::Malformed;
use crate::proto::text;
use crate::time::Micros;
use std::fmt;
use std::net::Ipv6Addr;

/// Relay messages nested deeper than this are refused
/// ([`Malformed::RelayTooDeep`]); RFC 8415 §7.6 limits relays to 8 hops.
pub const MAX_RELAY_DEPTH: usize = 8;

/// RELAY-FORW and RELAY-REPL message types.
const RELAY_FORW: u8 = 12;
const RELAY_REPL: u8 = 13;

/// Option codes medtap reads (RFC 8415 §21 unless noted).
pub mod code {
    /// Client identifier (a DUID).
    pub const CLIENTID: u16 = 1;
    /// Server identifier (a DUID).
    pub const SERVERID: u16 = 2;
    /// Identity association for non-temporary addresses.
    pub const IA_NA: u16 = 3;
    /// An address inside an IA.
    pub const IAADDR: u16 = 5;
    /// Option request option: the codes the client asks for.
    pub const ORO: u16 = 6;
    /// The relayed message inside a relay message.
    pub const RELAY_MSG: u16 = 9;
    /// Vendor class.
    pub const VENDOR_CLASS: u16 = 16;
    /// Relay agent interface ID.
    pub const INTERFACE_ID: u16 = 18;
    /// Relay agent remote ID (RFC 4649).
    pub const REMOTE_ID: u16 = 37;
    /// Client FQDN (RFC 4704).
    pub const CLIENT_FQDN: u16 = 39;
}

/// A DHCPv6 message type (RFC 8415 §7.3), as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageTypeV6(pub u8);

impl MessageTypeV6 {
    /// Upper-case name ("SOLICIT", ..., "RELAY-FORW"); "unknown" for codes
    /// medtap does not name.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 14] = [
            "unknown",
            "SOLICIT",
            "ADVERTISE",
            "REQUEST",
            "CONFIRM",
            "RENEW",
            "REBIND",
            "REPLY",
            "RELEASE",
            "DECLINE",
            "RECONFIGURE",
            "INFORMATION-REQUEST",
            "RELAY-FORW",
            "RELAY-REPL",
        ];
        NAMES.get(usize::from(self.0)).copied().unwrap_or("unknown")
    }
}

/// Vendor class (option 16, RFC 8415 §21.16): the enterprise number and
/// the first vendor-class-data item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VendorClass<'a> {
    /// IANA private enterprise number.
    pub enterprise: u32,
    /// The first opaque data item (often text), empty when there is none.
    pub data: &'a [u8],
}

/// Client FQDN (option 39, RFC 4704 §4): flags and a wire-format name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FqdnV6<'a> {
    /// Flags: S (0x01), O (0x02), N (0x04).
    pub flags: u8,
    /// The name in DNS wire format, as sent.
    pub name: &'a [u8],
}

impl FqdnV6<'_> {
    /// Writes the name as dotted text, allocating nothing (as
    /// [`super::Fqdn::write_name`] for a wire-format name).
    pub fn write_name(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write_wire_name(self.name, out)
    }
}

/// One DHCPv6 message, borrowed from the UDP payload: the client's or
/// server's message, unwrapped from any relay messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageV6<'a> {
    /// The message type (of the innermost message).
    pub msg_type: MessageTypeV6,
    /// Transaction ID (24 bits); 0 for a relay message without one inside.
    pub xid: u32,
    /// Relay messages around it (0: sent directly).
    pub relay_hops: u8,
    /// Peer address of the innermost relay: the client's address.
    pub relay_peer: Option<Ipv6Addr>,
    /// Interface ID of the innermost relay (option 18).
    pub relay_interface_id: Option<&'a [u8]>,
    /// Remote ID of the innermost relay (option 37, enterprise number first).
    pub relay_remote_id: Option<&'a [u8]>,
    /// Option 1: the client's DUID.
    pub client_duid: Option<&'a [u8]>,
    /// Option 2: the server's DUID.
    pub server_duid: Option<&'a [u8]>,
    /// Option 6: requested option codes, 2 bytes each.
    pub oro: Option<&'a [u8]>,
    /// Option 16, the first instance.
    pub vendor_class: Option<VendorClass<'a>>,
    /// Option 39.
    pub fqdn: Option<FqdnV6<'a>>,
    /// The first address of an IA_NA (option 3 → 5).
    pub ia_address: Option<Ipv6Addr>,
    /// Non-fatal problems found (`truncated_option`, `bad_length`,
    /// `duplicate_option`, `bad_fqdn`).
    pub issues: Issues,
}

impl MessageV6<'_> {
    /// Writes the ORO as `23,24,39`: the DHCPv6 fingerprint; nothing
    /// without one. One whole code per write (a bounded writer cuts
    /// between codes).
    pub fn fingerprint(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let Some(oro) = self.oro else {
            return Ok(());
        };
        write_codes(
            out,
            oro.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
    }
}

/// The options `code(2) | len(2) | data` of one level, in order; a header
/// or value past the end stops them and sets `cut`.
struct Options6<'a> {
    rest: &'a [u8],
    cut: bool,
}

impl<'a> Iterator for Options6<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.rest.split_first_chunk::<4>().and_then(|(h, after)| {
            let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let (value, next) = after.split_at_checked(len)?;
            Some((u16::from_be_bytes([h[0], h[1]]), value, next))
        });
        match item {
            Some((c, value, next)) => {
                self.rest = next;
                Some((c, value))
            }
            None => {
                self.cut = true;
                self.rest = &[];
                None
            }
        }
    }
}

fn options6(b: &[u8]) -> Options6<'_> {
    Options6 {
        rest: b,
        cut: false,
    }
}

fn ipv6(b: &[u8]) -> Option<Ipv6Addr> {
    b.get(..16)
        .and_then(|a| <[u8; 16]>::try_from(a).ok())
        .map(Ipv6Addr::from)
}

/// Parses a DHCPv6 message (the UDP payload of a datagram on port 546 or
/// 547). Fatal only when a header is short, the type is 0, or relays nest
/// deeper than [`MAX_RELAY_DEPTH`]. Allocates nothing, never panics.
pub fn parse_v6(payload: &[u8]) -> Result<MessageV6<'_>, Malformed> {
    let mut m = MessageV6 {
        msg_type: MessageTypeV6(0),
        xid: 0,
        relay_hops: 0,
        relay_peer: None,
        relay_interface_id: None,
        relay_remote_id: None,
        client_duid: None,
        server_duid: None,
        oro: None,
        vendor_class: None,
        fqdn: None,
        ia_address: None,
        issues: Issues::empty(),
    };
    let mut msg = payload;
    loop {
        let (&t, _) = msg.split_first().ok_or(Malformed::TooShort)?;
        if t == 0 {
            return Err(Malformed::BadOp(0));
        }
        m.msg_type = MessageTypeV6(t);
        if t != RELAY_FORW && t != RELAY_REPL {
            break;
        }
        // msg-type, hop-count, link-address, peer-address (RFC 8415 §9).
        let opts = msg.get(34..).ok_or(Malformed::TooShort)?;
        if usize::from(m.relay_hops) == MAX_RELAY_DEPTH {
            return Err(Malformed::RelayTooDeep);
        }
        m.relay_hops += 1;
        m.relay_peer = ipv6(msg.get(18..34).unwrap_or_default());
        let mut inner = None;
        let mut it = options6(opts);
        for (c, v) in it.by_ref() {
            match c {
                code::RELAY_MSG => inner = inner.or(Some(v)),
                code::INTERFACE_ID => m.relay_interface_id = Some(v),
                code::REMOTE_ID => m.relay_remote_id = Some(v),
                _ => {}
            }
        }
        if it.cut {
            m.issues |= Issues::TRUNCATED_OPTION;
        }
        match inner {
            Some(i) => msg = i,
            // A relay message without the message it relays.
            None => return Ok(m),
        }
    }
    let (head, opts) = msg.split_first_chunk::<4>().ok_or(Malformed::TooShort)?;
    m.xid = u32::from_be_bytes([0, head[1], head[2], head[3]]);
    let mut seen = 0u64;
    let mut it = options6(opts);
    for (c, v) in it.by_ref() {
        // Options that come once per message (IA_NA and vendor classes may
        // repeat). Bits of the codes below 64 medtap reads.
        if matches!(
            c,
            code::CLIENTID | code::SERVERID | code::ORO | code::CLIENT_FQDN
        ) {
            let bit = 1u64 << c;
            if seen & bit != 0 {
                m.issues |= Issues::DUPLICATE_OPTION;
                continue;
            }
            seen |= bit;
        }
        match c {
            code::CLIENTID => m.client_duid = nonempty(v, &mut m.issues),
            code::SERVERID => m.server_duid = nonempty(v, &mut m.issues),
            code::ORO => {
                m.oro = Some(v).filter(|v| v.len() % 2 == 0);
                if m.oro.is_none() {
                    m.issues |= Issues::BAD_LENGTH;
                }
            }
            code::VENDOR_CLASS if m.vendor_class.is_none() => {
                m.vendor_class = vendor_class(v, &mut m.issues);
            }
            code::CLIENT_FQDN => {
                m.fqdn = v.split_first().map(|(&flags, name)| FqdnV6 { flags, name });
                match m.fqdn {
                    None => m.issues |= Issues::BAD_LENGTH,
                    Some(f) if !wire_name_ok(f.name) => m.issues |= Issues::BAD_FQDN,
                    Some(_) => {}
                }
            }
            code::IA_NA if m.ia_address.is_none() => {
                m.ia_address = ia_na_address(v, &mut m.issues);
            }
            _ => {}
        }
    }
    if it.cut {
        m.issues |= Issues::TRUNCATED_OPTION;
    }
    Ok(m)
}

fn nonempty<'a>(v: &'a [u8], issues: &mut Issues) -> Option<&'a [u8]> {
    if v.is_empty() {
        *issues |= Issues::BAD_LENGTH;
        None
    } else {
        Some(v)
    }
}

/// Enterprise number, then `len(2) | data` items (RFC 8415 §21.16).
fn vendor_class<'a>(v: &'a [u8], issues: &mut Issues) -> Option<VendorClass<'a>> {
    let Some((e, items)) = v.split_first_chunk::<4>() else {
        *issues |= Issues::BAD_LENGTH;
        return None;
    };
    let data = match items.split_first_chunk::<2>() {
        // No item: the empty slice at the end of the option, so that every
        // slice medtap hands out still points into the message.
        None if items.is_empty() => items,
        None => {
            *issues |= Issues::BAD_LENGTH;
            return None;
        }
        Some((len, rest)) => {
            let Some(d) = rest.get(..usize::from(u16::from_be_bytes(*len))) else {
                *issues |= Issues::BAD_LENGTH;
                return None;
            };
            d
        }
    };
    Some(VendorClass {
        enterprise: u32::from_be_bytes(*e),
        data,
    })
}

/// The first IAADDR of an IA_NA: IAID, T1, T2, then options (§21.4–21.6).
fn ia_na_address(v: &[u8], issues: &mut Issues) -> Option<Ipv6Addr> {
    let Some(opts) = v.get(12..) else {
        *issues |= Issues::BAD_LENGTH;
        return None;
    };
    let mut it = options6(opts);
    let addr = it
        .by_ref()
        .find(|(c, _)| *c == code::IAADDR)
        .and_then(|(_, a)| {
            // address, preferred and valid lifetimes
            let r = ipv6(a).filter(|_| a.len() >= 24);
            if r.is_none() {
                *issues |= Issues::BAD_LENGTH;
            }
            r
        });
    if it.cut {
        *issues |= Issues::BAD_LENGTH;
    }
    addr
}

/// One DHCPv6 message as medtap records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecordV6 {
    /// Capture time of the datagram.
    pub ts: Micros,
    /// Message type.
    pub msg_type: MessageTypeV6,
    /// Transaction ID.
    pub xid: u32,
    /// Relay messages around it.
    pub relay_hops: u8,
    /// Peer address of the innermost relay.
    pub relay_peer: Option<Ipv6Addr>,
    /// Client DUID in lower-case hex.
    pub client_duid: Option<Box<str>>,
    /// Server DUID in lower-case hex.
    pub server_duid: Option<Box<str>>,
    /// ORO as `23,24`.
    pub fingerprint: Option<Box<str>>,
    /// Vendor class enterprise number.
    pub vendor_enterprise: Option<u32>,
    /// Vendor class first data item as kept text.
    pub vendor_class: Option<Box<str>>,
    /// Client FQDN as dotted text.
    pub fqdn: Option<Box<str>>,
    /// First IA_NA address.
    pub ia_address: Option<Ipv6Addr>,
    /// Non-fatal problems found.
    pub issues: Issues,
}

impl MessageRecordV6 {
    /// The record of `m`, seen at `ts`.
    pub fn from_message(ts: Micros, m: &MessageV6<'_>) -> MessageRecordV6 {
        MessageRecordV6 {
            ts,
            msg_type: m.msg_type,
            xid: m.xid,
            relay_hops: m.relay_hops,
            relay_peer: m.relay_peer,
            client_duid: m.client_duid.map(|d| hex_text(d, MAX_CLIENT_ID)),
            server_duid: m.server_duid.map(|d| hex_text(d, MAX_CLIENT_ID)),
            fingerprint: m
                .oro
                .map(|_| bounded(MAX_FINGERPRINT, |b| m.fingerprint(b))),
            vendor_enterprise: m.vendor_class.map(|v| v.enterprise),
            vendor_class: m
                .vendor_class
                .map(|v| text::kept(v.data, MAX_VENDOR_CLASS).into_boxed_str()),
            fqdn: m.fqdn.map(|f| bounded(MAX_FQDN, |b| f.write_name(b))),
            ia_address: m.ia_address,
            issues: m.issues,
        }
    }
}
