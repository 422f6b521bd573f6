//! The RFC 5424 text of one alert or anomaly, without framing (the link
//! to the server adds it for streams).
//!
//! What a field holds and how it is written:
//! - PRI: the configured facility and the alert's severity (high →
//!   critical 2, medium → warning 4, low → notice 5, info →
//!   informational 6; an anomaly is a notice); RFC 5424 §6.2.1.
//! - TIMESTAMP: the alert's own first occurrence (an anomaly's time), UTC
//!   with microseconds and `Z` (§6.2.3); `-` (NILVALUE) for a time
//!   outside years 0000-9999, which only a hostile capture header gives.
//! - HOSTNAME: the machine's name, each character outside PRINTUSASCII
//!   (§6.2.4, `!`..`~`) replaced by `_`, at most 255 bytes, `-` if empty.
//! - APP-NAME `medtap`, PROCID our pid, MSGID the rule id (`ANOMALY` for
//!   an anomaly).
//! - STRUCTURED-DATA: one element `[medtap@PEN ...]`. A parameter with no
//!   value (no peer, no flow, an empty name, ...) is left out rather than
//!   written empty: `peer=""` would say "a peer with an empty name".
//! - MSG: the alert's message, preceded by the UTF-8 BOM only when it
//!   holds a character outside ASCII (§6.4 asks for the BOM on UTF-8;
//!   pure ASCII is the same octets as MSG-ANY, and leaving the BOM off
//!   keeps an invisible U+FEFF out of most SIEM message fields; rsyslog
//!   reads both).
//!
//! Attacker-controlled text (AE titles, MQTT topics, host names, in
//! messages, details and names) never reaches the wire raw: every
//! character that must not reach a terminal raw (C0 and C1 controls, DEL,
//! bidirectional and line or paragraph separators, invisible formatting,
//! [`is_unsafe`]) is written as `\xhh` per UTF-8 byte (lower-case hex), in
//! MSG and in PARAM-VALUEs. That is medtap's "kept text" convention
//! ([`crate::proto::text`]): the text is kept text before and after, and
//! [`crate::proto::text::unescape`] of what the receiver reads gives back
//! the bytes that were sent on the network. No CR, LF or NUL reaches the
//! wire, so neither newline framing nor a receiver's line handling can be
//! broken by a value. Inside a PARAM-VALUE, `"`, `\` and `]` are then
//! escaped with a backslash as RFC 5424 §6.3.3 requires, the backslash of
//! a `\xhh` escape included (written `\\xhh`): so the value decodes the
//! same in a strict parser and in one that drops the backslash of every
//! escape, as some do.
//!
//! Every PARAM-VALUE is at most [`MAX_VALUE`] bytes and the whole message
//! at most [`MAX_MESSAGE`] bytes as written; a text cut short ends at a
//! whole character or escape (a kept text's own `\xhh` included), followed
//! by `...`.

use super::SyslogOptions;
use crate::alert::{AlertRecord, Party};
use crate::event::AnomalyRecord;
use crate::kinds::Severity;
use crate::net::MacText;
use crate::time::Micros;
use chrono::{DateTime, Datelike, Utc};
use std::fmt::{self, Display, Write as _};
use std::net::IpAddr;

/// The longest PARAM-VALUE written, in bytes as written (escapes counted).
pub const MAX_VALUE: usize = 1024;

/// The longest message written, in bytes before framing: under rsyslog's
/// default `maxMessageSize` (8 KiB), which truncates longer ones, and one
/// UDP datagram (RFC 5426 §3.2).
pub const MAX_MESSAGE: usize = 8000;

/// Room always left for MSG: structured data stops short of it.
const MIN_MSG: usize = 256;

/// RFC 5424 §6.2.4: HOSTNAME is at most 255 PRINTUSASCII.
const MAX_HOSTNAME: usize = 255;

/// What ends a text cut short.
const CUT: &str = "...";

/// APP-NAME (§6.2.5).
const APP_NAME: &str = "medtap";

/// MSGID of an anomaly.
const ANOMALY_MSGID: &str = "ANOMALY";

/// RFC 5424 §6.2.1 severity of an anomaly: notice (a protocol broken,
/// not yet an incident; policy turns the ones that matter into alerts).
const ANOMALY_SEVERITY: u8 = 5;

/// RFC 5424 §6.2.1 severity of an alert of severity `s`. High is
/// critical (2), not alert (1): "action must be taken immediately" is
/// kept for the sensor's own failures in most sites' routing.
pub fn severity_code(s: Severity) -> u8 {
    match s {
        Severity::High => 2,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// The RFC 5424 message for one alert (no framing), appended to `out`.
pub fn format_alert(a: &AlertRecord, opts: &SyslogOptions, out: &mut String) {
    let start = out.len();
    header(
        out,
        opts,
        severity_code(a.severity),
        a.first_seen,
        a.rule.id(),
    );
    let mut sd = Sd::open(out, start, opts.enterprise);
    sd.param("alert_id", a.alert_id);
    sd.param("rule", a.rule.id());
    sd.param("severity", a.severity.name());
    sd.param("clause", a.rule.clause());
    party(&mut sd, "device", &a.device);
    party(&mut sd, "peer", &a.peer);
    sd.param("detail", &a.detail);
    if let Some(f) = &a.flow {
        sd.param("flow_id", f.flow_id);
        if let Some(p) = f.app_proto {
            sd.param("app_proto", p.name());
        }
        // Community ID v1 (seed 0, ports for TCP, UDP and SCTP only), as
        // the database and EVE give it: the SIEM joins on it.
        let ports = matches!(f.proto, 6 | 17 | 132);
        let community = community_id::calculate_community_id(
            0,
            f.src.0,
            f.dest.0,
            ports.then_some(f.src.1),
            ports.then_some(f.dest.1),
            f.proto,
            Default::default(),
        );
        if let Ok(c) = community {
            sd.param("community_id", c);
        }
    }
    sd.param("sensor", &opts.sensor_name);
    sd.close();
    msg(out, start, &a.message, needs_bom(&a.message));
}

/// The RFC 5424 message for one protocol anomaly (no framing), appended
/// to `out`: MSGID `ANOMALY`, `[medtap@PEN anomaly= detail= flow_id=
/// sensor=]`.
pub fn format_anomaly(r: &AnomalyRecord, opts: &SyslogOptions, out: &mut String) {
    let start = out.len();
    let name = r.anomaly.name();
    header(out, opts, ANOMALY_SEVERITY, r.ts, ANOMALY_MSGID);
    let mut sd = Sd::open(out, start, opts.enterprise);
    sd.param("anomaly", name);
    if let Some(d) = r.detail {
        sd.param("detail", d);
    }
    let f = &r.flow;
    sd.param("flow_id", f.flow_id);
    sd.param("src_ip", f.src.0);
    sd.param("src_port", f.src.1);
    sd.param("dest_ip", f.dest.0);
    sd.param("dest_port", f.dest.1);
    sd.param("proto", f.proto);
    sd.param("sensor", &opts.sensor_name);
    sd.close();
    let detail = r.detail.unwrap_or_default();
    let (open, close) = if detail.is_empty() {
        ("", "")
    } else {
        (" (", ")")
    };
    let bom = needs_bom(name) || needs_bom(detail);
    msg(
        out,
        start,
        format_args!(
            "protocol anomaly {name}{open}{detail}{close} on flow {} {}:{} -> {}:{}",
            f.flow_id, f.src.0, f.src.1, f.dest.0, f.dest.1
        ),
        bom,
    );
}

pub use crate::proto::text::is_unsafe;

/// Whether MSG `text` gets the BOM: it holds a character outside ASCII
/// that is written as itself.
fn needs_bom(text: &str) -> bool {
    text.chars().any(|c| !c.is_ascii() && !is_unsafe(c))
}

/// HEADER and the space after it (§6.2).
fn header(out: &mut String, opts: &SyslogOptions, severity: u8, ts: Micros, msgid: &str) {
    // §6.2.1: facilities are 0..=23; a larger one would make an invalid PRI.
    let pri = u16::from(opts.facility.min(23)) * 8 + u16::from(severity);
    // Writing to a String cannot fail.
    let _ = write!(out, "<{pri}>1 ");
    timestamp(out, ts);
    out.push(' ');
    hostname(out, &opts.hostname);
    let _ = write!(out, " {APP_NAME} {} {msgid} ", std::process::id());
}

/// TIMESTAMP (§6.2.3): RFC 3339 in UTC with six fractional digits.
fn timestamp(out: &mut String, t: Micros) {
    match DateTime::<Utc>::from_timestamp_micros(t) {
        // §6.2.3 / RFC 3339: a four-digit year.
        Some(d) if (0..=9999).contains(&d.year()) => {
            let _ = write!(out, "{}", d.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
        }
        _ => out.push('-'),
    }
}

/// HOSTNAME (§6.2.4).
fn hostname(out: &mut String, name: &str) {
    let start = out.len();
    for c in name.chars().take(MAX_HOSTNAME) {
        out.push(if ('!'..='~').contains(&c) { c } else { '_' });
    }
    if out.len() == start {
        out.push('-');
    }
}

/// A device or peer as parameters `ROLE` (its name, else its MAC, else
/// its address), `ROLE_mac`, `ROLE_ip`, and the class and grade (for the
/// device: `class`, `grade`; for the peer: `peer_class`, `peer_grade`).
fn party(sd: &mut Sd<'_>, role: &'static str, p: &Party) {
    let mac = p.mac.map(|m| m.text());
    let shown = match (p.name.as_deref().filter(|n| !n.is_empty()), &mac, p.ip) {
        (Some(name), _, _) => Some(Shown::Name(name)),
        (None, Some(m), _) => Some(Shown::Mac(m)),
        (None, None, Some(ip)) => Some(Shown::Ip(ip)),
        (None, None, None) => None,
    };
    let device = role == "device";
    let names = if device {
        ["device", "device_mac", "device_ip", "class", "grade"]
    } else {
        ["peer", "peer_mac", "peer_ip", "peer_class", "peer_grade"]
    };
    if let Some(s) = shown {
        sd.param(names[0], s);
    }
    if let Some(m) = &mac {
        sd.param(names[1], m.as_str());
    }
    if let Some(ip) = p.ip {
        sd.param(names[2], ip);
    }
    if let Some(c) = &p.class {
        sd.param(names[3], c);
    }
    if let Some(g) = p.grade {
        sd.param(names[4], g);
    }
}

/// How an end of an alert is named in its main parameter.
enum Shown<'a> {
    Name(&'a str),
    Mac(&'a MacText),
    Ip(IpAddr),
}

impl Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Name(n) => f.write_str(n),
            Shown::Mac(m) => f.write_str(m.as_str()),
            Shown::Ip(ip) => Display::fmt(ip, f),
        }
    }
}

/// One SD-ELEMENT being written (§6.3).
struct Sd<'a> {
    out: &'a mut String,
    /// Where no parameter may reach: MSG keeps [`MIN_MSG`] bytes.
    end: usize,
}

impl<'a> Sd<'a> {
    /// Opens `[medtap@PEN`; the message began at `start` in `out`.
    fn open(out: &'a mut String, start: usize, enterprise: u32) -> Sd<'a> {
        // §6.3.2: an SD-ID of our own is NAME@<private enterprise number>.
        let _ = write!(out, "[medtap@{enterprise}");
        Sd {
            out,
            end: start + MAX_MESSAGE - MIN_MSG,
        }
    }

    /// Writes ` NAME="VALUE"`, the value escaped and bounded. A parameter
    /// whose value is empty is left out, and so is one that would leave MSG
    /// less than its room (only reachable with hostile values near their
    /// bounds).
    fn param(&mut self, name: &'static str, value: impl Display) {
        // ` name="` + `...` + `"]`
        let room = self.out.len() + 1 + name.len() + 2 + CUT.len() + 2;
        if room > self.end {
            return;
        }
        let mark = self.out.len();
        let _ = write!(self.out, " {name}=\"");
        let body = self.out.len();
        let limit = (body + MAX_VALUE).min(self.end - 2);
        escape(self.out, value, true, limit);
        if self.out.len() == body {
            self.out.truncate(mark);
        } else {
            self.out.push('"');
        }
    }

    /// Closes the element.
    fn close(self) {
        self.out.push(']');
    }
}

/// ` MSG`, the whole message ending at most [`MAX_MESSAGE`] bytes after
/// `start` (nothing for an empty text).
fn msg(out: &mut String, start: usize, text: impl Display, bom: bool) {
    let mark = out.len();
    out.push(' ');
    if bom {
        out.push('\u{feff}');
    }
    let body = out.len();
    escape(out, text, false, start + MAX_MESSAGE);
    if out.len() == body {
        // No MSG: §6 makes it optional, so no trailing space either.
        out.truncate(mark);
    }
}

/// Writes `value` to `out` escaped as the module says (`in_value`: inside
/// a PARAM-VALUE), stopping before `out` would pass `limit` bytes: then
/// at the last whole piece that leaves room for [`CUT`], which follows.
fn escape(out: &mut String, value: impl Display, in_value: bool, limit: usize) {
    let mut e = Escaper {
        keep: out.len(),
        out,
        in_value,
        limit,
        cut: false,
    };
    let _ = write!(e, "{value}");
    if e.cut {
        e.out.truncate(e.keep);
        e.out.push_str(CUT);
    }
}

/// A bounded, escaping writer over `out` (see [`escape`]): values of any
/// `Display` type pass through it without a string of their own.
struct Escaper<'a> {
    out: &'a mut String,
    in_value: bool,
    limit: usize,
    /// `out`'s length after the last piece that left room for [`CUT`].
    keep: usize,
    /// A piece did not fit.
    cut: bool,
}

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            // Fast path: a run of printable ASCII that needs no escape is
            // copied at once (most of every message) where it fits whole
            // with room for the cut mark; near the limit, and for anything
            // else, piece by piece.
            let plain = rest
                .bytes()
                .take_while(|&b| {
                    (0x20..0x7f).contains(&b)
                        && b != b'\\'
                        && !(self.in_value && (b == b'"' || b == b']'))
                })
                .count();
            if plain > 0 && self.out.len() + plain + CUT.len() <= self.limit {
                self.out.push_str(&rest[..plain]);
                self.keep = self.out.len();
                rest = &rest[plain..];
                continue;
            }
            // A kept text's own `\xhh` escape is one piece: a cut never
            // splits it into text that reads as something else.
            let kept_escape = rest.len() >= 4
                && rest.as_bytes()[..2] == *b"\\x"
                && rest.as_bytes()[2..4].iter().all(|b| HEX.contains(b));
            let piece = if kept_escape {
                &rest[..4]
            } else {
                &rest[..c.len_utf8()]
            };
            self.piece(piece, c, kept_escape)?;
            rest = &rest[piece.len()..];
        }
        Ok(())
    }
}

/// Lower-case hex digits, as kept text writes them.
const HEX: &[u8; 16] = b"0123456789abcdef";

impl Escaper<'_> {
    /// Writes one piece of input: the character `c`, or a kept text's
    /// `\xhh` escape (`kept_escape`; `c` is its backslash).
    fn piece(&mut self, piece: &str, c: char, kept_escape: bool) -> fmt::Result {
        // The backslash of a `\xhh` escape is itself escaped in a value.
        let slash = if self.in_value { "\\\\" } else { "\\" };
        let unsafe_char = !kept_escape && is_unsafe(c);
        let special = self.in_value && matches!(c, '"' | '\\' | ']');
        let len = if kept_escape {
            slash.len() + 3
        } else if unsafe_char {
            c.len_utf8() * (slash.len() + 3)
        } else if special {
            2
        } else {
            c.len_utf8()
        };
        if self.out.len() + len > self.limit {
            self.cut = true;
            return Err(fmt::Error);
        }
        if kept_escape {
            self.out.push_str(slash);
            self.out.push_str(&piece[1..]);
        } else if unsafe_char {
            let mut utf8 = [0u8; 4];
            for &b in c.encode_utf8(&mut utf8).as_bytes() {
                self.out.push_str(slash);
                self.out.push('x');
                self.out.push(char::from(HEX[usize::from(b >> 4)]));
                self.out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        } else if special {
            // RFC 5424 §6.3.3.
            self.out.push('\\');
            self.out.push(c);
        } else {
            self.out.push(c);
        }
        if self.out.len() + CUT.len() <= self.limit {
            self.keep = self.out.len();
        }
        Ok(())
    }
}
