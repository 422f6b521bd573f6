//! MQTT 3.1, 3.1.1 and 5.0 over TCP: detection and a session parser.
//!
//! Metadata only: protocol version, client id, the presence (never the
//! values) of user name and password, will topic and QoS, the v5 session
//! properties, the broker's answer, topics published to (aggregated, with
//! message and byte counts), subscriptions with what the broker granted,
//! unsubscriptions and the disconnect reason. Payloads, passwords, user
//! names, will messages, authentication data and user-property keys and
//! values are never copied into a record.
//!
//! Structure, as for DICOM: `stream` frames one direction (fixed header,
//! remaining length) and hands on packets in place when they lie whole in
//! the delivered bytes; `packet` reads the fields of a packet as checked,
//! borrowed views; `session` keeps what medtap records. PUBLISH payloads
//! (and the will message, user name and password at the end of a CONNECT)
//! are skipped by count, never buffered.
//!
//! # Versions
//!
//! The protocol level of the CONNECT decides how the rest of the connection
//! is read (5.0: properties and reason codes). Without a CONNECT (mid-stream
//! pickup) packets are read as 3.1.1: no guessing from later packets. A
//! second CONNECT on the same connection is counted but does not change
//! the record or the version.
//!
//! # Anomalies
//!
//! | kind | when | detail |
//! | --- | --- | --- |
//! | `MqttMalformedRemainingLength` | a 4th remaining-length byte with the continuation bit; that direction stops | — |
//! | `MqttReservedPacketType` | type 0, or 15 before 5.0; skipped by count | "type 0", "type 15 before MQTT 5.0" |
//! | `MqttInvalidQos` | QoS 3 in PUBLISH flags, will QoS or subscription options | "PUBLISH", "will", "subscription" |
//! | `MqttPacketBeforeConnect` | the first client packet is not CONNECT, unless the flow was picked up mid-stream ([`Session::set_midstream`], or a gap before the client's first byte) | the packet type |
//! | `MqttMalformedPacket` | a string, property block or field past the packet end, an unknown property, fixed-header flags of SUBSCRIBE/UNSUBSCRIBE/PUBREL other than 0010, the reserved CONNECT flag, will QoS/retain without a will, an empty topic without a topic alias, a list without entries, a packet type from the wrong side (CONNACK from the client, SUBSCRIBE from the broker, ...; not recorded). Invalid UTF-8 is not malformed: it is kept, escaped reversibly as `\xhh` (`proto::text`) | why |
//! | `MqttPacketOverHardCap` | a packet (PUBLISH, CONNECT: its head) over [`MAX_PACKET`]; skipped by count | the packet type |
//! | `MqttConnackRefused` | CONNACK code non-zero (3.x) or >= 0x80 (5.0) | the reason's name |
//! | `MqttWildcardSubscription` | a client subscribes to exactly `#` or `$SYS/#` | the filter |
//! | `MqttPublishToSystemTopic` | a client PUBLISH topic starts with `$` | — |
//! | `MqttLostSync` | bytes lost outside a payload; that direction stops | — |
//! | `MqttTruncatedPacket` | the flow ended inside a packet (capture stopped, flow evicted); it is not counted: a cut PUBLISH adds no message ([`Session::finish`]) | the packet type |
//!
//! Bytes lost inside a PUBLISH payload, a CONNECT's will message, user name
//! or password, or a packet being skipped are skipped by count: framing is
//! known there. `MqttAuthBruteForce` needs the sensor's view across
//! connections: see [`Session::take_auth_failure`].

mod index;
mod packet;
mod session;
mod stream;

pub use session::{PublishRecord, Session, SessionRecord, SubscribeRecord};
pub use stream::MAX_PACKET;

/// Bytes of client data [`probe`] may need: the fixed header byte, a
/// remaining length of up to 4 bytes, the protocol name ("MQIsdp" with its
/// 2-byte length) and the protocol level.
pub const PROBE_LEN: usize = 14;

/// MQTT control packet types (MQTT 5.0 §2.1.2; AUTH is 5.0 only).
pub mod packet_type {
    /// Reserved (never valid).
    pub const RESERVED: u8 = 0;
    /// Client request to connect.
    pub const CONNECT: u8 = 1;
    /// Connect acknowledgment.
    pub const CONNACK: u8 = 2;
    /// Publish message.
    pub const PUBLISH: u8 = 3;
    /// Publish acknowledgment (QoS 1).
    pub const PUBACK: u8 = 4;
    /// Publish received (QoS 2, part 1).
    pub const PUBREC: u8 = 5;
    /// Publish release (QoS 2, part 2).
    pub const PUBREL: u8 = 6;
    /// Publish complete (QoS 2, part 3).
    pub const PUBCOMP: u8 = 7;
    /// Subscribe request.
    pub const SUBSCRIBE: u8 = 8;
    /// Subscribe acknowledgment.
    pub const SUBACK: u8 = 9;
    /// Unsubscribe request.
    pub const UNSUBSCRIBE: u8 = 10;
    /// Unsubscribe acknowledgment.
    pub const UNSUBACK: u8 = 11;
    /// Ping request.
    pub const PINGREQ: u8 = 12;
    /// Ping response.
    pub const PINGRESP: u8 = 13;
    /// Disconnect notification.
    pub const DISCONNECT: u8 = 14;
    /// Authentication exchange (5.0); reserved before 5.0.
    pub const AUTH: u8 = 15;
}

/// Upper-case name of a packet type ("CONNECT", ..., "AUTH"; 0 is "RESERVED").
pub fn packet_type_name(t: u8) -> &'static str {
    const NAMES: [&str; 16] = [
        "RESERVED",
        "CONNECT",
        "CONNACK",
        "PUBLISH",
        "PUBACK",
        "PUBREC",
        "PUBREL",
        "PUBCOMP",
        "SUBSCRIBE",
        "SUBACK",
        "UNSUBSCRIBE",
        "UNSUBACK",
        "PINGREQ",
        "PINGRESP",
        "DISCONNECT",
        "AUTH",
    ];
    NAMES.get(usize::from(t)).copied().unwrap_or("unknown")
}

/// Whether the first client bytes of a TCP flow are an MQTT CONNECT: type
/// 1 with zero flags (0x10), a remaining length of at most 4 bytes, then
/// protocol name "MQTT" with level 4 or 5, or "MQIsdp" with level 3 (the
/// level may carry the 0x80 bridge bit that Mosquitto bridges set).
/// `Some(false)` as soon as a byte rules MQTT out; `None`: too few bytes yet
/// (only while `first.len() < PROBE_LEN`).
pub fn probe(first: &[u8]) -> Option<bool> {
    match first.first() {
        None => return None,
        Some(&0x10) => {}
        Some(_) => return Some(false),
    }
    // Remaining length: 1 to 4 bytes, the last without the continuation bit.
    let mut at = 1;
    let mut remaining = 0u32;
    loop {
        let &b = first.get(at)?;
        remaining |= u32::from(b & 0x7f) << (7 * (at - 1));
        at += 1;
        if b & 0x80 == 0 {
            break;
        }
        if at == 5 {
            return Some(false);
        }
    }
    // Smallest CONNECT: name length, "MQTT", level, flags, keep alive and
    // an empty client id.
    if remaining < 12 {
        return Some(false);
    }
    const NAMES: [(&[u8], u8); 2] = [(b"\x00\x04MQTT", 0), (b"\x00\x06MQIsdp", 3)];
    let rest = &first[at..];
    let mut need_more = false;
    for (name, level) in NAMES {
        let n = rest.len().min(name.len());
        if rest[..n] != name[..n] {
            continue;
        }
        match rest.get(name.len()) {
            None => need_more = true,
            Some(&l) => {
                let l = l & 0x7f;
                let ok = if level == 0 {
                    l == 4 || l == 5
                } else {
                    l == level
                };
                if ok {
                    return Some(true);
                }
            }
        }
    }
    if need_more {
        None
    } else {
        Some(false)
    }
}

/// Name of a 3.1/3.1.1 CONNACK return code (or of a 5.0 CONNACK reason
/// code when `version` is 5); unknown codes are "unknown".
pub fn connack_reason_name(version: u8, code: u8) -> &'static str {
    if version & 0x7f == 5 {
        return reason_code_name(packet_type::CONNACK, code);
    }
    match code {
        0 => "connection accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown",
    }
}

/// Name of an MQTT 5.0 reason code (§2.4). Code 0 means "success", except in
/// DISCONNECT ("normal disconnection") and SUBACK ("granted QoS 0"), which is
/// why the packet type is asked for. Unknown codes are "unknown".
pub fn reason_code_name(packet_type: u8, code: u8) -> &'static str {
    match code {
        0x00 => match packet_type {
            packet_type::DISCONNECT => "normal disconnection",
            packet_type::SUBACK => "granted QoS 0",
            _ => "success",
        },
        0x01 => "granted QoS 1",
        0x02 => "granted QoS 2",
        0x04 => "disconnect with will message",
        0x10 => "no matching subscribers",
        0x11 => "no subscription existed",
        0x18 => "continue authentication",
        0x19 => "re-authenticate",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x84 => "unsupported protocol version",
        0x85 => "client identifier not valid",
        0x86 => "bad user name or password",
        0x87 => "not authorized",
        0x88 => "server unavailable",
        0x89 => "server busy",
        0x8A => "banned",
        0x8B => "server shutting down",
        0x8C => "bad authentication method",
        0x8D => "keep alive timeout",
        0x8E => "session taken over",
        0x8F => "topic filter invalid",
        0x90 => "topic name invalid",
        0x91 => "packet identifier in use",
        0x92 => "packet identifier not found",
        0x93 => "receive maximum exceeded",
        0x94 => "topic alias invalid",
        0x95 => "packet too large",
        0x96 => "message rate too high",
        0x97 => "quota exceeded",
        0x98 => "administrative action",
        0x99 => "payload format invalid",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9C => "use another server",
        0x9D => "server moved",
        0x9E => "shared subscriptions not supported",
        0x9F => "connection rate exceeded",
        0xA0 => "maximum connect time",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => "unknown",
    }
}

/// Name of a 3.1/3.1.1 SUBACK return code: 0..2 granted QoS, 0x80 failure.
pub fn suback_code_name(version: u8, code: u8) -> &'static str {
    if version & 0x7f == 5 {
        return reason_code_name(packet_type::SUBACK, code);
    }
    match code {
        0 => "granted QoS 0",
        1 => "granted QoS 1",
        2 => "granted QoS 2",
        0x80 => "failure",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests;
