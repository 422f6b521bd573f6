//! The owned record of one DHCPv4 message, for the event channel: built
//! once per message, every attacker-controlled string kept as sent
//! (`proto::text`) and bounded by a named cap.

use super::issues::Issues;
use super::options::MessageType;
use super::v4::Message;
use crate::net::Mac;
use crate::proto::text;
use crate::time::Micros;
use std::fmt::{self, Write as _};
use std::net::Ipv4Addr;

/// Longest text kept of one option's bytes: a DHCPv4 option holds at
/// most 255 bytes, and a byte that is not UTF-8 is kept as the four
/// characters `\xHH`, so 4 × 255 keeps every option whole: what was sent
/// is stored, never cut.
const MAX_OPTION_TEXT: usize = 4 * 255;
/// Longest host name kept (bytes of kept text): all of option 12.
pub const MAX_HOSTNAME: usize = MAX_OPTION_TEXT;
/// Longest vendor class kept.
pub const MAX_VENDOR_CLASS: usize = MAX_OPTION_TEXT;
/// Longest domain name kept.
pub const MAX_DOMAIN_NAME: usize = MAX_OPTION_TEXT;
/// Longest client FQDN kept.
pub const MAX_FQDN: usize = MAX_OPTION_TEXT;
/// Longest user class kept.
pub const MAX_USER_CLASS: usize = MAX_OPTION_TEXT;
/// Longest relay circuit or remote ID kept (text, or `0x` and hex of a
/// whole 255-byte sub-option).
pub const MAX_RELAY_ID: usize = MAX_OPTION_TEXT;
/// Longest client identifier kept, in hex digits: all of a 255-byte option.
pub const MAX_CLIENT_ID: usize = 510;
/// Longest fingerprint: 255 codes of up to 3 digits with commas (1019)
/// fits, so a DHCPv4 one is never cut; a DHCPv6 ORO over it is cut
/// between codes.
pub const MAX_FINGERPRINT: usize = 1024;
/// Longest option order text: [`super::MAX_ORDER`] codes fit.
pub const MAX_OPTION_ORDER: usize = 256;

/// One DHCPv4 message as medtap records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// Capture time of the datagram.
    pub ts: Micros,
    /// 1 BOOTREQUEST, 2 BOOTREPLY.
    pub op: u8,
    /// Option 53 (`None`: BOOTP, or a bad option).
    pub message_type: Option<MessageType>,
    /// Transaction ID.
    pub xid: u32,
    /// Client MAC from `chaddr` (Ethernet, 6 bytes).
    pub client_mac: Option<Mac>,
    /// Client IP address.
    pub ciaddr: Ipv4Addr,
    /// Address given by the server.
    pub yiaddr: Ipv4Addr,
    /// Next server address.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 51, seconds.
    pub lease_secs: Option<u32>,
    /// Option 12, at most [`MAX_HOSTNAME`] bytes.
    pub hostname: Option<Box<str>>,
    /// Option 60, at most [`MAX_VENDOR_CLASS`] bytes.
    pub vendor_class: Option<Box<str>>,
    /// Option 55 as `1,3,6,15`.
    pub fingerprint: Option<Box<str>>,
    /// Option 61 in lower-case hex (type byte first).
    pub client_id: Option<Box<str>>,
    /// Option 81's name as text ([`super::Fqdn::write_name`]).
    pub fqdn: Option<Box<str>>,
    /// Option 77: RFC 3004 instances joined by `,`, or the whole value when
    /// it is not made of instances (Microsoft's variant is plain text).
    pub user_class: Option<Box<str>>,
    /// Option 82 sub-option 1: as text when printable ASCII, else `0x` and
    /// lower-case hex.
    pub relay_circuit_id: Option<Box<str>>,
    /// Option 82 sub-option 2, as the circuit ID.
    pub relay_remote_id: Option<Box<str>>,
    /// Option 15 (from servers), at most [`MAX_DOMAIN_NAME`] bytes.
    pub domain_name: Option<Box<str>>,
    /// The option codes in the order walked (`53,61,50,55`; Pad and End
    /// left out); `None` without options.
    pub option_order: Option<Box<str>>,
    /// Non-fatal problems found.
    pub issues: Issues,
}

/// A `fmt::Write` that keeps at most `max` bytes and refuses the first
/// piece that would pass it (and all after), so text is cut at a whole
/// piece ([`text::write_kept`] writes a character or an escape at a time).
pub(crate) struct Bounded {
    text: String,
    max: usize,
    full: bool,
}

impl Bounded {
    fn new(max: usize) -> Bounded {
        Bounded {
            text: String::new(),
            max,
            full: false,
        }
    }

    fn done(self) -> Box<str> {
        self.text.into_boxed_str()
    }
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.full || self.text.len() + s.len() > self.max {
            self.full = true;
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// Renders with `f` into at most `max` bytes; a cut is not an error.
pub(crate) fn bounded(max: usize, f: impl FnOnce(&mut Bounded) -> fmt::Result) -> Box<str> {
    let mut b = Bounded::new(max);
    // An error only means the text reached `max`: what fits is kept.
    let _ = f(&mut b);
    b.done()
}

fn kept(b: &[u8], max: usize) -> Box<str> {
    text::kept(b, max).into_boxed_str()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex, two digits per `write_str`: a bounded writer cuts at a
/// whole byte.
fn write_hex(out: &mut impl fmt::Write, b: &[u8]) -> fmt::Result {
    for &x in b {
        let pair = [HEX[usize::from(x >> 4)], HEX[usize::from(x & 0xf)]];
        out.write_str(std::str::from_utf8(&pair).unwrap_or("??"))?;
    }
    Ok(())
}

/// `b` in lower-case hex, at most `max` digits (whole bytes).
pub(crate) fn hex_text(b: &[u8], max: usize) -> Box<str> {
    bounded(max, |o| write_hex(o, b))
}

/// A relay agent ID: printable ASCII as it is, anything else as hex.
fn relay_id(b: &[u8]) -> Box<str> {
    if !b.is_empty() && b.iter().all(|c| (0x20..0x7f).contains(c)) {
        kept(b, MAX_RELAY_ID)
    } else {
        bounded(MAX_RELAY_ID, |o| {
            o.write_str("0x")?;
            write_hex(o, b)
        })
    }
}

/// The instances of an RFC 3004 user class, when the value is made of them.
fn user_class_instances(v: &[u8]) -> Option<impl Iterator<Item = &[u8]>> {
    let mut at = 0;
    while at < v.len() {
        let len = usize::from(v[at]);
        if len == 0 || at + 1 + len > v.len() {
            return None;
        }
        at += 1 + len;
    }
    let mut rest = v;
    Some(std::iter::from_fn(move || {
        let (&len, after) = rest.split_first()?;
        let (data, next) = after.split_at_checked(usize::from(len))?;
        rest = next;
        Some(data)
    }))
}

fn user_class(v: &[u8]) -> Box<str> {
    match user_class_instances(v) {
        Some(instances) => bounded(MAX_USER_CLASS, |o| {
            for (i, data) in instances.enumerate() {
                if i > 0 {
                    o.write_char(',')?;
                }
                text::write_kept(o, data)?;
            }
            Ok(())
        }),
        None => kept(v, MAX_USER_CLASS),
    }
}

impl MessageRecord {
    /// The record of `m`, seen at `ts`.
    pub fn from_message(ts: Micros, m: &Message<'_>) -> MessageRecord {
        let o = &m.options;
        let relay = o.relay.unwrap_or_default();
        MessageRecord {
            ts,
            op: m.op,
            message_type: o.message_type,
            xid: m.xid,
            client_mac: m.client_mac,
            ciaddr: m.ciaddr,
            yiaddr: m.yiaddr,
            siaddr: m.siaddr,
            giaddr: m.giaddr,
            requested_ip: o.requested_ip,
            server_id: o.server_id,
            lease_secs: o.lease_secs,
            hostname: o.hostname.map(|h| kept(h, MAX_HOSTNAME)),
            vendor_class: o.vendor_class.map(|v| kept(v, MAX_VENDOR_CLASS)),
            fingerprint: o
                .param_list
                .map(|_| bounded(MAX_FINGERPRINT, |b| m.fingerprint(b))),
            client_id: o.client_id.map(|c| hex_text(c, MAX_CLIENT_ID)),
            fqdn: o.fqdn.map(|f| bounded(MAX_FQDN, |b| f.write_name(b))),
            user_class: o.user_class.map(user_class),
            relay_circuit_id: relay.circuit_id.map(relay_id),
            relay_remote_id: relay.remote_id.map(relay_id),
            domain_name: o.domain_name.map(|d| kept(d, MAX_DOMAIN_NAME)),
            option_order: (!o.order.is_empty())
                .then(|| bounded(MAX_OPTION_ORDER, |b| o.order.write(b))),
            issues: m.issues,
        }
    }
}
