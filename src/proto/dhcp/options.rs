//! DHCPv4 options (RFC 2132 §2): the walk over one area of a message and
//! the values medtap keeps, borrowed from the message.
//!
//! An option is `code | len | len bytes`, except Pad (0, one byte) and End
//! (255, one byte, ends the area). Options may sit in three areas: the
//! options field after the magic cookie, and — when option 52 (overload)
//! says so — the `file` and `sname` fields of the fixed header. They are
//! walked in the order of RFC 2131 §4.1: options field, then `file`, then
//! `sname`; the first instance of a code wins wherever it is.

use super::issues::Issues;
use crate::proto::text;
use std::fmt;
use std::net::Ipv4Addr;

/// How many option codes [`OptionOrder`] keeps in wire order; further
/// options are only counted (and flagged [`Issues::MANY_OPTIONS`]). Real
/// clients send 5 to 20.
pub const MAX_ORDER: usize = 64;

/// Option codes medtap reads (RFC 2132 unless noted).
pub mod code {
    /// Pad: one byte, no length.
    pub const PAD: u8 = 0;
    /// Host name (the client's).
    pub const HOSTNAME: u8 = 12;
    /// Domain name (from the server).
    pub const DOMAIN_NAME: u8 = 15;
    /// Requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// IP address lease time, seconds.
    pub const LEASE_TIME: u8 = 51;
    /// Option overload: 1 `file`, 2 `sname`, 3 both hold options.
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_ID: u8 = 54;
    /// Parameter request list.
    pub const PARAM_LIST: u8 = 55;
    /// Maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Vendor class identifier.
    pub const VENDOR_CLASS: u8 = 60;
    /// Client identifier.
    pub const CLIENT_ID: u8 = 61;
    /// User class (RFC 3004).
    pub const USER_CLASS: u8 = 77;
    /// Client FQDN (RFC 4702).
    pub const CLIENT_FQDN: u8 = 81;
    /// Relay agent information (RFC 3046).
    pub const RELAY_AGENT: u8 = 82;
    /// End: one byte, ends the area.
    pub const END: u8 = 255;
}

/// DHCP message types (option 53; RFC 2132 §9.6). Codes 9 and up
/// (FORCERENEW, the leasequery family of RFC 4388/6926/7724, DHCPTLS) are
/// kept as [`MessageType::Unknown`]: medtap does not interpret them, but
/// [`MessageType::name`] still names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1: a client looks for servers.
    Discover,
    /// 2: a server offers an address.
    Offer,
    /// 3: a client requests (or renews) an address.
    Request,
    /// 4: a client says the address is already in use.
    Decline,
    /// 5: a server grants the address.
    Ack,
    /// 6: a server refuses.
    Nak,
    /// 7: a client gives the address back.
    Release,
    /// 8: a client with an address asks for configuration only.
    Inform,
    /// Any other code, as sent.
    Unknown(u8),
}

impl MessageType {
    /// The type for an option 53 value.
    pub fn from_code(c: u8) -> MessageType {
        match c {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            other => MessageType::Unknown(other),
        }
    }

    /// The option 53 value.
    pub fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(c) => c,
        }
    }

    /// Upper-case name without the `DHCP` prefix ("DISCOVER", ...); the
    /// IANA name for registered codes above 8, "unknown" otherwise.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 19] = [
            "unknown",
            "DISCOVER",
            "OFFER",
            "REQUEST",
            "DECLINE",
            "ACK",
            "NAK",
            "RELEASE",
            "INFORM",
            "FORCERENEW",
            "LEASEQUERY",
            "LEASEUNASSIGNED",
            "LEASEUNKNOWN",
            "LEASEACTIVE",
            "BULKLEASEQUERY",
            "LEASEQUERYDONE",
            "ACTIVELEASEQUERY",
            "LEASEQUERYSTATUS",
            "TLS",
        ];
        NAMES
            .get(usize::from(self.code()))
            .copied()
            .unwrap_or("unknown")
    }
}

/// Client FQDN (option 81, RFC 4702 §2): flags, the two obsolete RCODE
/// bytes, and the name as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fqdn<'a> {
    /// Flags: [`Fqdn::S`], [`Fqdn::O`], [`Fqdn::E`], [`Fqdn::N`].
    pub flags: u8,
    /// RCODE1 (deprecated; servers send 255).
    pub rcode1: u8,
    /// RCODE2 (deprecated; servers send 255).
    pub rcode2: u8,
    /// The name: DNS wire format when [`Fqdn::E`] is set, else ASCII
    /// (deprecated). Raw bytes; see [`Fqdn::write_name`].
    pub name: &'a [u8],
}

impl Fqdn<'_> {
    /// S: the server should do the A record update.
    pub const S: u8 = 0x01;
    /// O: the server overrode the client's S.
    pub const O: u8 = 0x02;
    /// E: the name is in DNS wire format.
    pub const E: u8 = 0x04;
    /// N: the server should do no update.
    pub const N: u8 = 0x08;

    /// Whether the name is in DNS wire format (flag E).
    pub fn is_wire(&self) -> bool {
        self.flags & Fqdn::E != 0
    }

    /// Whether the name parses: always for ASCII; in wire format, labels of
    /// at most 63 bytes inside the option, nothing after the root label. A
    /// partial name without the root label is allowed (RFC 4702 §2.3.1).
    pub fn name_ok(&self) -> bool {
        !self.is_wire() || wire_name_ok(self.name)
    }

    /// Writes the name as text to `out`, allocating nothing: wire-format
    /// labels joined with `.` (no trailing dot), ASCII names as sent; every
    /// byte as [`text::write_kept`] keeps it (a `.` inside a label is not
    /// escaped). A wire-format name is written up to its first bad label.
    pub fn write_name(&self, out: &mut impl fmt::Write) -> fmt::Result {
        if self.is_wire() {
            write_wire_name(self.name, out)
        } else {
            text::write_kept(out, self.name)
        }
    }
}

/// Whether a DNS wire-format name parses: labels of at most 63 bytes that
/// end inside `name`, nothing after the root label (the root label itself
/// may be missing: a partial name, RFC 4702 §2.3.1, RFC 4704 §4.2).
pub(crate) fn wire_name_ok(name: &[u8]) -> bool {
    let mut labels = Labels::new(name);
    labels.by_ref().for_each(drop);
    !labels.bad
}

/// Writes a DNS wire-format name as dotted text (see [`Fqdn::write_name`]).
pub(crate) fn write_wire_name(name: &[u8], out: &mut impl fmt::Write) -> fmt::Result {
    for (i, label) in Labels::new(name).enumerate() {
        if i > 0 {
            out.write_char('.')?;
        }
        text::write_kept(out, label)?;
    }
    Ok(())
}

/// The labels of a DNS wire-format name (RFC 1035 §3.1), without
/// compression (RFC 4702 §2.3.1 forbids it), up to the root label or the
/// end of the bytes. `bad` is set when the name stops at something else.
struct Labels<'a> {
    rest: &'a [u8],
    bad: bool,
}

impl<'a> Labels<'a> {
    fn new(name: &'a [u8]) -> Labels<'a> {
        Labels {
            rest: name,
            bad: false,
        }
    }
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, after) = self.rest.split_first()?;
        let len = usize::from(len);
        // 0: the root label ends the name; 64 and up: a pointer or an
        // extended label type, not allowed here.
        let label = match len {
            0 => {
                self.bad |= !after.is_empty();
                None
            }
            1..=63 => after.get(..len),
            _ => None,
        };
        match label {
            Some(l) => {
                self.rest = after.get(len..).unwrap_or_default();
                Some(l)
            }
            None => {
                self.bad |= len != 0;
                self.rest = &[];
                None
            }
        }
    }
}

/// Relay agent information (option 82, RFC 3046 §2.0): the two
/// sub-options that identify where the client is plugged in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayInfo<'a> {
    /// Sub-option 1, agent circuit ID (switch port, VLAN, ...).
    pub circuit_id: Option<&'a [u8]>,
    /// Sub-option 2, agent remote ID (the relay itself, a modem, ...).
    pub remote_id: Option<&'a [u8]>,
}

/// Where an option was found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Region {
    /// The options field after the magic cookie.
    #[default]
    Options,
    /// The `file` field (option 52 value 1 or 3).
    File,
    /// The `sname` field (option 52 value 2 or 3).
    Sname,
}

/// The option codes of a message in the order they were walked (options
/// field, `file`, `sname`), each with its area; Pad and End are not listed.
/// The first [`MAX_ORDER`] are kept inline, the rest only counted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OptionOrder {
    codes: [u8; MAX_ORDER],
    regions: [Region; MAX_ORDER],
    len: u8,
    extra: u32,
}

impl Default for OptionOrder {
    fn default() -> OptionOrder {
        OptionOrder {
            codes: [0; MAX_ORDER],
            regions: [Region::Options; MAX_ORDER],
            len: 0,
            extra: 0,
        }
    }
}

impl OptionOrder {
    /// The kept codes, in order.
    pub fn codes(&self) -> &[u8] {
        &self.codes[..usize::from(self.len)]
    }

    /// The kept codes with the area each was found in.
    pub fn iter(&self) -> impl Iterator<Item = (u8, Region)> + '_ {
        self.codes()
            .iter()
            .copied()
            .zip(self.regions.iter().copied())
    }

    /// Options seen beyond the first [`MAX_ORDER`].
    pub fn extra(&self) -> u32 {
        self.extra
    }

    /// Whether no option was seen.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the kept codes as `53,61,50,55` (nothing when empty).
    pub fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write_codes(out, self.codes().iter().map(|&c| u16::from(c)))
    }

    /// Appends a code; false when the list is full (the code is counted).
    fn push(&mut self, code: u8, region: Region) -> bool {
        let i = usize::from(self.len);
        if i < MAX_ORDER {
            self.codes[i] = code;
            self.regions[i] = region;
            self.len += 1;
            true
        } else {
            self.extra = self.extra.saturating_add(1);
            false
        }
    }
}

impl fmt::Debug for OptionOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OptionOrder")
            .field("codes", &self.codes())
            .field("extra", &self.extra)
            .finish()
    }
}

/// Writes option codes as decimal numbers joined by commas, one
/// `write_str` per code (with its comma), so a bounded writer cuts the
/// list between codes.
pub(crate) fn write_codes(
    out: &mut impl fmt::Write,
    codes: impl IntoIterator<Item = u16>,
) -> fmt::Result {
    for (i, c) in codes.into_iter().enumerate() {
        // ",65535" at most.
        let mut buf = [0u8; 6];
        let mut at = buf.len();
        let mut n = c;
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if i > 0 {
            at -= 1;
            buf[at] = b',';
        }
        out.write_str(std::str::from_utf8(&buf[at..]).unwrap_or_default())?;
    }
    Ok(())
}

/// What medtap reads from a message's options, borrowed from the message.
/// Each field is the first instance of its option in any area; `None` when
/// absent or when its length was wrong ([`Issues::BAD_LENGTH`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options<'a> {
    /// Option 53.
    pub message_type: Option<MessageType>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 51, seconds.
    pub lease_secs: Option<u32>,
    /// Option 12, as sent without trailing NULs (RFC 2132 §2).
    pub hostname: Option<&'a [u8]>,
    /// Option 15, as sent without trailing NULs.
    pub domain_name: Option<&'a [u8]>,
    /// Option 57.
    pub max_message_size: Option<u16>,
    /// Option 60, as sent.
    pub vendor_class: Option<&'a [u8]>,
    /// Option 55: the requested option codes, in order.
    pub param_list: Option<&'a [u8]>,
    /// Option 61: type byte and identifier, as sent.
    pub client_id: Option<&'a [u8]>,
    /// Option 81.
    pub fqdn: Option<Fqdn<'a>>,
    /// Option 77, as sent (RFC 3004 instances: `len | data`, repeated).
    pub user_class: Option<&'a [u8]>,
    /// Option 82.
    pub relay: Option<RelayInfo<'a>>,
    /// Option 52 as sent when it is one byte in the options field (only
    /// 1..=3 make medtap read `file`/`sname`).
    pub overload: Option<u8>,
    /// Every option code in the order walked.
    pub order: OptionOrder,
}

/// An NVT ASCII value without its trailing NULs: RFC 2132 §2 says senders
/// should not add them and receivers must delete them (sv_eve_extended's
/// `nas1\0`; tshark shows `nas1`).
fn nvt(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &v[..end]
}

/// The walk over the areas of one message: what was read so far, the
/// issues found, and which codes were already seen (first instance wins).
pub(crate) struct Walk<'a> {
    pub(crate) options: Options<'a>,
    pub(crate) issues: Issues,
    seen: [u64; 4],
}

impl<'a> Walk<'a> {
    pub(crate) fn new() -> Walk<'a> {
        Walk {
            options: Options::default(),
            issues: Issues::empty(),
            seen: [0; 4],
        }
    }

    /// The areas option 52 adds (bit 0 `file`, bit 1 `sname`), once the
    /// options field was walked.
    pub(crate) fn overloaded(&self) -> u8 {
        self.options
            .overload
            .filter(|v| (1..=3).contains(v))
            .unwrap_or(0)
    }

    /// Walks one area: options until End, the end of the area, or an
    /// option that does not fit.
    pub(crate) fn area(&mut self, area: &'a [u8], region: Region) {
        let mut at = 0usize;
        loop {
            let Some(&c) = area.get(at) else {
                self.issues |= Issues::NO_END;
                return;
            };
            match c {
                code::PAD => {
                    at += 1;
                    continue;
                }
                code::END => {
                    // Trailing bytes of `file`/`sname` are their old
                    // contents; only the options field should be all Pad.
                    let rest = area.get(at + 1..).unwrap_or_default();
                    if region == Region::Options && rest.iter().any(|&b| b != 0) {
                        self.issues |= Issues::DATA_AFTER_END;
                    }
                    return;
                }
                _ => {}
            }
            let Some(&len) = area.get(at + 1) else {
                self.issues |= Issues::TRUNCATED_OPTION;
                return;
            };
            // Listed even when its value is cut, as tshark lists it.
            if !self.options.order.push(c, region) {
                self.issues |= Issues::MANY_OPTIONS;
            }
            let end = at + 2 + usize::from(len);
            let Some(value) = area.get(at + 2..end) else {
                self.issues |= Issues::TRUNCATED_OPTION;
                return;
            };
            self.option(c, value, region);
            at = end;
        }
    }

    /// Marks `c` seen; true the first time.
    fn first(&mut self, c: u8) -> bool {
        let (word, bit) = (usize::from(c / 64), 1u64 << (c % 64));
        let fresh = self.seen[word] & bit == 0;
        self.seen[word] |= bit;
        fresh
    }

    /// Reads one whole option.
    fn option(&mut self, c: u8, v: &'a [u8], region: Region) {
        if c == code::OVERLOAD && region != Region::Options {
            // RFC 2131 §4.1: only the options field may overload.
            self.issues |= Issues::BAD_OVERLOAD;
            return;
        }
        if !self.first(c) {
            self.issues |= Issues::DUPLICATE_OPTION;
            return;
        }
        match c {
            code::MESSAGE_TYPE => {
                self.options.message_type = self.exact::<1>(v).map(|[t]| MessageType::from_code(t));
            }
            code::REQUESTED_IP => self.options.requested_ip = self.exact(v).map(Ipv4Addr::from),
            code::SERVER_ID => self.options.server_id = self.exact(v).map(Ipv4Addr::from),
            code::LEASE_TIME => self.options.lease_secs = self.exact(v).map(u32::from_be_bytes),
            code::MAX_MESSAGE_SIZE => {
                self.options.max_message_size = self.exact(v).map(u16::from_be_bytes);
            }
            code::HOSTNAME => self.options.hostname = self.at_least(nvt(v), 1),
            code::DOMAIN_NAME => self.options.domain_name = self.at_least(nvt(v), 1),
            code::VENDOR_CLASS => self.options.vendor_class = self.at_least(v, 1),
            code::PARAM_LIST => self.options.param_list = self.at_least(v, 1),
            code::CLIENT_ID => self.options.client_id = self.at_least(v, 2),
            code::USER_CLASS => self.options.user_class = self.at_least(v, 1),
            code::CLIENT_FQDN => self.options.fqdn = self.fqdn(v),
            code::RELAY_AGENT => self.options.relay = self.relay(v),
            code::OVERLOAD => match *v {
                [x] => {
                    self.options.overload = Some(x);
                    if !(1..=3).contains(&x) {
                        self.issues |= Issues::BAD_OVERLOAD;
                    }
                }
                _ => self.issues |= Issues::BAD_OVERLOAD,
            },
            _ => {}
        }
    }

    /// The value when it is exactly `N` bytes, else [`Issues::BAD_LENGTH`].
    fn exact<const N: usize>(&mut self, v: &[u8]) -> Option<[u8; N]> {
        let r = v.try_into().ok();
        if r.is_none() {
            self.issues |= Issues::BAD_LENGTH;
        }
        r
    }

    /// The value when it is at least `n` bytes, else [`Issues::BAD_LENGTH`].
    fn at_least(&mut self, v: &'a [u8], n: usize) -> Option<&'a [u8]> {
        if v.len() >= n {
            Some(v)
        } else {
            self.issues |= Issues::BAD_LENGTH;
            None
        }
    }

    fn fqdn(&mut self, v: &'a [u8]) -> Option<Fqdn<'a>> {
        let Some((&[flags, rcode1, rcode2], name)) = v.split_first_chunk::<3>() else {
            self.issues |= Issues::BAD_LENGTH;
            return None;
        };
        let f = Fqdn {
            flags,
            rcode1,
            rcode2,
            name,
        };
        if !f.name_ok() {
            self.issues |= Issues::BAD_FQDN;
        }
        Some(f)
    }

    /// Sub-options `sub | len | data` (RFC 3046 §2.0); the first circuit
    /// and remote IDs are kept. One that runs past the option ends the
    /// walk ([`Issues::BAD_LENGTH`]); those before it are kept.
    fn relay(&mut self, v: &'a [u8]) -> Option<RelayInfo<'a>> {
        if v.len() < 2 {
            self.issues |= Issues::BAD_LENGTH;
            return None;
        }
        let mut r = RelayInfo::default();
        let mut at = 0usize;
        while let Some(&sub) = v.get(at) {
            let data = v.get(at + 1).and_then(|&len| {
                let end = at + 2 + usize::from(len);
                v.get(at + 2..end).map(|d| (d, end))
            });
            let Some((data, end)) = data else {
                self.issues |= Issues::BAD_LENGTH;
                break;
            };
            match sub {
                1 => r.circuit_id = r.circuit_id.or(Some(data)),
                2 => r.remote_id = r.remote_id.or(Some(data)),
                _ => {}
            }
            at = end;
        }
        Some(r)
    }
}
