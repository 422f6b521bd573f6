//! Content probes for remote-access protocols and for TLS, so that remote
//! maintenance (DB3205/T A.3 d)) is seen on any port, and cleartext can be
//! told from encrypted sessions. Each probe is a pure function of a flow's
//! first bytes in one direction: `Some(true)` a match, `Some(false)` no
//! match, `None` more bytes needed. A probe decides on a prefix of at most
//! [`PROBE_LEN`] bytes and never changes its mind on a longer input (a
//! match on a prefix stays a match), so the verdict is the same wherever
//! TCP splits the bytes. None of these protocols is parsed: a match labels
//! the flow and its content is not read.
//!
//! Which side may speak first (what `detect` asks of each side):
//!
//! | probe | client first | server first |
//! |---|---|---|
//! | [`ssh`] | yes | yes (OpenSSH and dropbear servers send first) |
//! | [`vnc`] | yes (its ProtocolVersion reply) | yes (RFB: the server opens) |
//! | [`telnet`] | yes | yes |
//! | [`teamviewer`] | yes | yes (same framing both ways) |
//! | [`rdp`] | yes (only the client opens) | no |
//! | [`tls`], [`anydesk`] | yes (ClientHello) | no |

/// Most bytes any probe here reads: the TLS probe's window into a
/// ClientHello, where AnyDesk's ALPN must appear to be seen (the other
/// probes need 19 bytes or fewer).
pub const PROBE_LEN: usize = TLS_WINDOW;

/// How far into a ClientHello the TLS probe looks for the ALPN extension.
/// OpenSSL-built clients put ALPN after SNI, point formats, groups and the
/// session ticket, some 200 to 300 bytes in; 512 leaves room for a resumed
/// session's ticket. Past this the flow is `Tls` (a buffer of this size is
/// held only for flows whose first client segment is shorter).
const TLS_WINDOW: usize = 512;

/// Whether `b` starts with `want`, as far as `b` goes: `Some(true)` when it
/// does and is complete, `None` when `b` is a proper prefix of `want`.
fn prefix(b: &[u8], want: &[u8]) -> Option<bool> {
    let n = b.len().min(want.len());
    if b[..n] != want[..n] {
        Some(false)
    } else if n < want.len() {
        None
    } else {
        Some(true)
    }
}

/// SSH identification string (RFC 4253 4.2): `SSH-protoversion-...`, with
/// a protocol version of one digit, a dot and one or two digits ("2.0",
/// "1.99" for servers that also speak SSH 1 (RFC 4253 5.1), "1.5").
/// Either side may send it first.
///
/// Limit: RFC 4253 4.2 lets a server send other lines before its
/// identification string; such a server is not recognised by its own
/// bytes, only by its client's (which `detect` still probes).
pub fn ssh(b: &[u8]) -> Option<bool> {
    if !prefix(b, b"SSH-")? {
        return Some(false);
    }
    // "SSH-" D "." D ["D"] "-"
    let rest = &b[4..];
    let shape: [fn(u8) -> bool; 3] = [
        |c| c.is_ascii_digit(),
        |c| c == b'.',
        |c| c.is_ascii_digit(),
    ];
    for (i, ok) in shape.iter().enumerate() {
        match rest.get(i) {
            None => return None,
            Some(&c) if !ok(c) => return Some(false),
            Some(_) => {}
        }
    }
    match rest.get(3) {
        None => None,
        Some(b'-') => Some(true),
        Some(c) if c.is_ascii_digit() => rest.get(4).map(|&c| c == b'-'),
        Some(_) => Some(false),
    }
}

/// RFB ProtocolVersion (RFC 6143 7.1.1): exactly 12 bytes, `RFB xxx.yyy\n`
/// with three decimal digits each side of the dot ("RFB 003.008\n"; Apple
/// and RealVNC send other numbers, so any digits will do). The server sends
/// it first; the client answers with the same format, which is also taken
/// (a capture that missed the server's segment still shows VNC).
pub fn vnc(b: &[u8]) -> Option<bool> {
    if !prefix(b, b"RFB ")? {
        return Some(false);
    }
    for (i, &c) in b.iter().enumerate().take(12).skip(4) {
        let ok = match i {
            7 => c == b'.',
            11 => c == b'\n',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return Some(false);
        }
    }
    if b.len() < 12 {
        None
    } else {
        Some(true)
    }
}

/// Telnet commands (RFC 854, "TELNET COMMAND STRUCTURE").
mod telnet_cmd {
    /// Interpret As Command.
    pub const IAC: u8 = 255;
    /// WILL (251), WONT (252), DO (253), DONT (254): option negotiation
    /// (RFC 854, RFC 855).
    pub const NEGOTIATION: std::ops::RangeInclusive<u8> = 251..=254;
}

/// Whether `opt` is a Telnet option code in IANA's registry ("Telnet
/// Options": 0-49, 138-140 and 255 EXOPL, RFC 861): real software
/// negotiates nothing else, and the check makes three random bytes far
/// less likely to pass.
fn telnet_option(opt: u8) -> bool {
    matches!(opt, 0..=49 | 138..=140 | 255)
}

/// Telnet option negotiation (RFC 854, RFC 855): IAC, then WILL, WONT, DO
/// or DONT, then a registered option code. Either side may open with it
/// (servers such as busybox telnetd and inetutils telnetd do; clients do on
/// port 23).
///
/// Limits: a Telnet session in which neither side negotiates (a bare
/// text login prompt) is not recognised: without IAC it is plain text. The
/// signature is 3 bytes: about one uniformly random binary stream in 78,000
/// would pass (4 commands times 54 options in 2^24).
pub fn telnet(b: &[u8]) -> Option<bool> {
    match b {
        [] => None,
        [iac, ..] if *iac != telnet_cmd::IAC => Some(false),
        [_] => None,
        [_, cmd, ..] if !telnet_cmd::NEGOTIATION.contains(cmd) => Some(false),
        [_, _] => None,
        [_, _, opt, ..] => Some(telnet_option(*opt)),
    }
}

/// TeamViewer's packet header: a two-byte magic, 0x17 0x24 (protocol 2)
/// or 0x11 0x30 (protocol 1), then a command code. There is no public
/// specification: the magic is the one nDPI's TeamViewer dissector and
/// bettercap's parser look for, and the command codes are those bettercap
/// lists (CMD_IDENTIFY = 10 ... CMD_FLUSHSENDBUFFER = 113). The same header
/// opens packets both ways.
///
/// Limits: nDPI waits for several such packets (or port 5938) before it
/// decides; this probe decides on the first packet's 3 bytes, so about one
/// uniformly random binary stream in 100,000 would pass (2 magics times 80
/// commands in 2^24). TeamViewer over HTTP(S)
/// fallback and its UDP transport are not recognised.
pub fn teamviewer(b: &[u8]) -> Option<bool> {
    match b {
        [] => None,
        [m, ..] if *m != 0x17 && *m != 0x11 => Some(false),
        [_] => None,
        [0x17, 0x24, ..] | [0x11, 0x30, ..] => b.get(2).map(|&cmd| teamviewer_command(cmd)),
        _ => Some(false),
    }
}

/// A TeamViewer command code bettercap's list names.
fn teamviewer_command(cmd: u8) -> bool {
    matches!(cmd, 10..=11 | 13..=63 | 70..=72 | 90..=113)
}

/// TPKT version 3 (RFC 1006 6).
const TPKT_VERSION: u8 = 3;
/// X.224 Connection Request TPDU code (ISO 8073 13.3.1: CR 1110, CDT 0000).
const X224_CR: u8 = 0xe0;
/// TPKT header (4) plus the X.224 Connection Request's fixed part (7).
const RDP_FIXED_LEN: usize = 11;
/// What an RDP Connection Request may carry after its fixed part
/// ([MS-RDPBCGR] 2.2.1.1): a routing token or cookie, both sent as
/// "Cookie: ..." ...
const RDP_COOKIE: &[u8] = b"Cookie: ";
/// ... or straight away an RDP_NEG_REQ: type 1, flags, length 8 (LE).
const RDP_NEG_REQ_TYPE: u8 = 0x01;

/// RDP's first client PDU ([MS-RDPBCGR] 2.2.1.1 Client X.224 Connection
/// Request): a TPKT header (version 3, reserved 0, length ≥ 11) around an
/// X.224 Connection Request TPDU whose length indicator fits the TPKT
/// length, code 0xE0, destination reference 0 and class 0; after the fixed
/// 11 bytes, if the PDU is longer, a "Cookie: " (routing token or
/// mstshash cookie) or an RDP_NEG_REQ (type 1, length 8). Only the client
/// opens an RDP connection.
///
/// The variable part is what tells RDP from other ISO-on-TCP (RFC 1006)
/// users of the same Connection Request, such as S7comm and IEC 61850 MMS
/// on port 102: theirs carries TSAP parameters (0xC1, 0xC2) there. A bare
/// 11-byte request (old clients) is taken as RDP.
pub fn rdp(b: &[u8]) -> Option<bool> {
    let tpkt_len = b
        .get(2..4)
        .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])));
    let fixed_ok = b.first().is_none_or(|&v| v == TPKT_VERSION)
        && b.get(1).is_none_or(|&r| r == 0)
        && tpkt_len.is_none_or(|l| l >= RDP_FIXED_LEN)
        // Length indicator: the TPDU header's length without itself.
        && b.get(4).is_none_or(|&li| Some(usize::from(li) + 5) == tpkt_len)
        && b.get(5).is_none_or(|&c| c == X224_CR)
        && b.get(6..8).is_none_or(|d| d == [0, 0])
        // Class 0, no options (the high nibble is the class).
        && b.get(10).is_none_or(|&c| c & 0xf0 == 0);
    if !fixed_ok {
        return Some(false);
    }
    let total = tpkt_len?;
    if b.len() < RDP_FIXED_LEN {
        return None;
    }
    if total == RDP_FIXED_LEN {
        return Some(true);
    }
    // The variable part, as far as the PDU goes: bytes past it belong to
    // the next PDU.
    let var = &b[RDP_FIXED_LEN..b.len().min(total)];
    let verdict = match var.first() {
        None => None,
        Some(b'C') => prefix(var, RDP_COOKIE),
        // Flags (var[1]) are not checked: new ones keep being defined.
        Some(&RDP_NEG_REQ_TYPE) => var.get(2..4).map(|len| len == [8, 0]),
        Some(_) => Some(false),
    };
    match verdict {
        // The PDU ended before the part that would tell.
        None if b.len() >= total => Some(false),
        v => v,
    }
}

/// What a TLS ClientHello is, as far as the probe reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hello {
    /// Not a TLS ClientHello record.
    NotTls,
    /// A ClientHello, not AnyDesk's.
    Tls,
    /// A ClientHello whose first ALPN protocol is "anydesk/...".
    AnyDesk,
}

/// TLS record content type handshake (RFC 8446 5.1, RFC 5246 6.2.1).
const TLS_HANDSHAKE: u8 = 0x16;
/// Handshake type client_hello (RFC 8446 4, RFC 5246 7.4).
const CLIENT_HELLO: u8 = 1;
/// Largest TLSPlaintext fragment (RFC 8446 5.1: "MUST NOT exceed 2^14").
const MAX_RECORD: usize = 1 << 14;
/// Smallest ClientHello body: version 2, random 32, session id length 1,
/// one cipher suite 2+2, one compression method 1+1.
const MIN_CLIENT_HELLO: usize = 41;
/// Extension type application_layer_protocol_negotiation (RFC 7301 3.1).
const EXT_ALPN: u16 = 16;
/// AnyDesk's ALPN protocol names start with this (e.g.
/// "anydesk/6.2.0/linux"; nDPI's TLS dissector matches the same prefix).
const ANYDESK_ALPN: &[u8] = b"anydesk/";

/// A legacy TLS version 3.0 (SSL 3) to 3.4 (TLS 1.3): 0x03 0x00..=0x04.
fn tls_version(major: u8, minor: u8) -> bool {
    major == 3 && minor <= 4
}

/// Reads a TLS ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2) as far as
/// its ALPN extension (RFC 7301 3.1). `None` while the record header, the
/// handshake header and the client version (11 bytes) are incomplete, and
/// while the ClientHello is cut before the ALPN extension inside the
/// probe's window; the decision depends only on the bytes up to the end of
/// the first record or of the window, whichever comes first.
fn client_hello(b: &[u8]) -> Option<Hello> {
    let header_ok = b.first().is_none_or(|&t| t == TLS_HANDSHAKE)
        && b.get(1..3).is_none_or(|v| tls_version(v[0], v[1]))
        && b.get(3..5).is_none_or(|l| {
            let l = usize::from(u16::from_be_bytes([l[0], l[1]]));
            (4..=MAX_RECORD).contains(&l)
        })
        && b.get(5).is_none_or(|&t| t == CLIENT_HELLO)
        && b.get(6..9).is_none_or(|l| {
            let l = (usize::from(l[0]) << 16) | (usize::from(l[1]) << 8) | usize::from(l[2]);
            l >= MIN_CLIENT_HELLO
        })
        && b.get(9..11).is_none_or(|v| tls_version(v[0], v[1]));
    if !header_ok {
        return Some(Hello::NotTls);
    }
    if b.len() < 11 {
        return None;
    }
    let record_end = 5 + usize::from(u16::from_be_bytes([b[3], b[4]]));
    let end = record_end.min(TLS_WINDOW);
    let seen = &b[..b.len().min(end)];
    match alpn_is_anydesk(&seen[9..]) {
        Some(true) => Some(Hello::AnyDesk),
        Some(false) => Some(Hello::Tls),
        // Cut short: the window or the record holds no more, or more bytes
        // will come.
        None if seen.len() == end => Some(Hello::Tls),
        None => None,
    }
}

/// Walks a ClientHello body (from client_version) to its ALPN extension:
/// `Some(true)` when the first protocol name starts with "anydesk/",
/// `Some(false)` when it does not, when there is no ALPN extension or when
/// the body does not parse, `None` when `body` ends first.
fn alpn_is_anydesk(body: &[u8]) -> Option<bool> {
    let mut r = Reader { b: body, at: 0 };
    r.skip(2 + 32)?; // client_version, random
    let sid = r.u8()?;
    if sid > 32 {
        return Some(false);
    }
    r.skip(usize::from(sid))?;
    let suites = r.u16()?;
    r.skip(usize::from(suites))?;
    let methods = r.u8()?;
    r.skip(usize::from(methods))?;
    // No extensions at all (SSL 3 style) ends the hello here.
    let ext_len = usize::from(r.u16()?);
    let ext_end = r.at + ext_len;
    while r.at + 4 <= ext_end {
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        if ty != EXT_ALPN {
            r.skip(len)?;
            continue;
        }
        // ProtocolNameList: u16 length, then u8-prefixed names.
        let _list = r.u16()?;
        let name_len = usize::from(r.u8()?);
        let name = r.take(name_len.min(ANYDESK_ALPN.len()))?;
        return Some(name_len >= ANYDESK_ALPN.len() && name == ANYDESK_ALPN);
    }
    Some(false)
}

/// A cursor over bytes that answers `None` at their end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let v = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(v)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|v| v[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|v| u16::from_be_bytes([v[0], v[1]]))
    }
}

/// A TLS ClientHello (RFC 8446 4.1.2): handshake record (0x16), version
/// 0x0300..=0x0304, a length of 4..=2^14, handshake type client_hello with
/// a plausible length, and a legacy client version 0x0300..=0x0304 — and
/// not AnyDesk's (see [`anydesk`]). Only the client opens TLS.
///
/// Limit: an SSL 2 compatible ClientHello (RFC 5246 E.2) is not taken.
pub fn tls(b: &[u8]) -> Option<bool> {
    client_hello(b).map(|h| h == Hello::Tls)
}

/// AnyDesk: a TLS ClientHello whose first ALPN protocol starts with
/// "anydesk/" (AnyDesk 6 and later announce "anydesk/<version>/<os>"; nDPI
/// classifies AnyDesk by the same ALPN prefix).
///
/// Limits: AnyDesk versions that send no ALPN, and an ALPN extension past
/// the first 512 bytes of the ClientHello, are seen as `Tls`; nDPI also
/// recognises AnyDesk by its relay certificate ("AnyNet Relay"), which
/// comes from the server later and is not read here; its UDP transport is
/// not recognised.
pub fn anydesk(b: &[u8]) -> Option<bool> {
    client_hello(b).map(|h| h == Hello::AnyDesk)
}

#[cfg(test)]
mod tests;
