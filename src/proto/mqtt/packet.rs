//! MQTT packet bodies (3.1.1 §3, 5.0 §3): checked, borrowed views.
//!
//! Every reader takes a packet body (after the fixed header), or a prefix of
//! one, and returns views that borrow from it. A field is checked in order
//! against the packet's remaining length first ([`Stop::Malformed`]), then
//! against [`MAX_PACKET`] ([`Stop::OverCap`]), then against the bytes present
//! ([`Stop::Need`]): so a prefix gives the same verdict whatever its length,
//! which is what keeps results independent of how TCP split the bytes.
//! Nothing here allocates or keeps a value it does not return.

use super::stream::MAX_PACKET;

/// Why reading stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The prefix ends before this many bytes (a head length).
    Need(u32),
    /// A field runs past the packet's end, or a value is invalid.
    Malformed(&'static str),
    /// The head runs past [`MAX_PACKET`].
    OverCap,
}

/// A cursor over a body or a prefix of one.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The packet's remaining length.
    limit: usize,
}

impl<'a> Reader<'a> {
    /// Over a prefix of a body of `remaining` bytes.
    pub fn new(prefix: &'a [u8], remaining: u32) -> Reader<'a> {
        Reader {
            buf: prefix,
            pos: 0,
            limit: remaining as usize,
        }
    }

    /// Over a whole body.
    pub fn whole(body: &'a [u8]) -> Reader<'a> {
        Reader {
            buf: body,
            pos: 0,
            limit: body.len(),
        }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes of the packet after the cursor.
    pub fn left(&self) -> usize {
        self.limit.saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, why: &'static str) -> Result<&'a [u8], Stop> {
        let end = self.pos.saturating_add(n);
        if end > self.limit {
            return Err(Stop::Malformed(why));
        }
        if end > MAX_PACKET as usize {
            return Err(Stop::OverCap);
        }
        let Some(s) = self.buf.get(self.pos..end) else {
            return Err(Stop::Need(end as u32));
        };
        self.pos = end;
        Ok(s)
    }

    /// The rest of the packet (whole bodies only: a prefix needs it all).
    pub fn rest(&mut self) -> Result<&'a [u8], Stop> {
        self.take(self.left(), "")
    }

    /// One byte.
    pub fn u8(&mut self, why: &'static str) -> Result<u8, Stop> {
        Ok(self.take(1, why)?[0])
    }

    /// A big-endian 16-bit integer.
    pub fn u16(&mut self, why: &'static str) -> Result<u16, Stop> {
        let b = self.take(2, why)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian 32-bit integer.
    pub fn u32(&mut self, why: &'static str) -> Result<u32, Stop> {
        let b = self.take(4, why)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A variable byte integer (1 to 4 bytes).
    pub fn varint(&mut self, why: &'static str) -> Result<u32, Stop> {
        let mut v = 0u32;
        for i in 0..4 {
            let b = self.u8(why)?;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Stop::Malformed("variable byte integer longer than 4 bytes"))
    }

    /// A 2-byte length and that many bytes (UTF-8 string or binary data).
    pub fn string(&mut self, why: &'static str) -> Result<&'a [u8], Stop> {
        let n = self.u16(why)?;
        self.take(usize::from(n), why)
    }
}

/// Properties medtap keeps (5.0 §2.2.2); the others are checked and skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Props<'a> {
    /// 0x11 Session Expiry Interval.
    pub session_expiry_interval: Option<u32>,
    /// 0x21 Receive Maximum.
    pub receive_maximum: Option<u16>,
    /// 0x27 Maximum Packet Size.
    pub maximum_packet_size: Option<u32>,
    /// 0x15 Authentication Method (a name such as "SCRAM-SHA-1").
    pub auth_method: Option<&'a [u8]>,
    /// 0x12 Assigned Client Identifier (CONNACK).
    pub assigned_client_id: Option<&'a [u8]>,
    /// 0x23 Topic Alias (PUBLISH).
    pub topic_alias: Option<u16>,
    /// 0x26 User Properties seen (their keys and values are not kept).
    pub user_properties: u32,
    /// The block is well framed but a property in it is not: an unknown
    /// identifier or a value running past the block (the rest of the block
    /// is skipped, the packet after it is still read).
    pub bad: Option<&'static str>,
}

const PROP_LEN: &str = "property length past the packet end";

/// A property block: its length and the properties in it.
pub fn props<'a>(r: &mut Reader<'a>) -> Result<Props<'a>, Stop> {
    let len = r.varint(PROP_LEN)?;
    let block = r.take(len as usize, PROP_LEN)?;
    let mut p = Props::default();
    if let Err(why) = read_props(block, &mut p) {
        p.bad = Some(why);
    }
    Ok(p)
}

fn read_props<'a>(block: &'a [u8], p: &mut Props<'a>) -> Result<(), &'static str> {
    const PAST: &str = "property value past the property block";
    let mut r = Reader::whole(block);
    let stop = |s: Stop| match s {
        Stop::Malformed(why) => why,
        // A whole block never needs more bytes, and it is within the cap.
        Stop::Need(_) | Stop::OverCap => PAST,
    };
    while r.left() > 0 {
        let id = r.varint(PAST).map_err(stop)?;
        match id {
            // Byte
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                r.u8(PAST).map_err(stop)?;
            }
            // Two Byte Integer
            0x13 | 0x22 => {
                r.u16(PAST).map_err(stop)?;
            }
            0x21 => p.receive_maximum = Some(r.u16(PAST).map_err(stop)?),
            0x23 => p.topic_alias = Some(r.u16(PAST).map_err(stop)?),
            // Four Byte Integer
            0x02 | 0x18 => {
                r.u32(PAST).map_err(stop)?;
            }
            0x11 => p.session_expiry_interval = Some(r.u32(PAST).map_err(stop)?),
            0x27 => p.maximum_packet_size = Some(r.u32(PAST).map_err(stop)?),
            // Variable Byte Integer: Subscription Identifier
            0x0B => {
                r.varint(PAST).map_err(stop)?;
            }
            // UTF-8 Encoded String
            0x03 | 0x08 | 0x1A | 0x1C | 0x1F => {
                r.string(PAST).map_err(stop)?;
            }
            0x12 => p.assigned_client_id = Some(r.string(PAST).map_err(stop)?),
            0x15 => p.auth_method = Some(r.string(PAST).map_err(stop)?),
            // Binary Data: Correlation Data, Authentication Data (skipped)
            0x09 | 0x16 => {
                r.string(PAST).map_err(stop)?;
            }
            // UTF-8 String Pair: counted, never read
            0x26 => {
                r.string(PAST).map_err(stop)?;
                r.string(PAST).map_err(stop)?;
                p.user_properties = p.user_properties.saturating_add(1);
            }
            _ => return Err("unknown property identifier"),
        }
    }
    Ok(())
}

/// The head of a CONNECT (3.1.1 §3.1, 5.0 §3.1), filled field by field so
/// that what came before a malformed field is still known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Protocol name ("MQTT", "MQIsdp").
    pub name: Option<&'a [u8]>,
    /// Protocol level (3, 4, 5; bit 7 set by bridges).
    pub level: Option<u8>,
    /// Connect flags.
    pub flags: Option<u8>,
    /// Keep alive, seconds.
    pub keep_alive: Option<u16>,
    /// CONNECT properties (5.0).
    pub props: Props<'a>,
    /// Client identifier.
    pub client_id: Option<&'a [u8]>,
    /// Will properties (5.0).
    pub will_props: Props<'a>,
    /// Will topic.
    pub will_topic: Option<&'a [u8]>,
    /// User name (3.1.1 §3.1.3.4), when the head held it. Never kept: the
    /// session keeps only a keyed hash of it.
    pub username: Option<&'a [u8]>,
}

/// Connect flag bits.
pub mod connect_flags {
    /// Reserved, must be 0.
    pub const RESERVED: u8 = 0x01;
    /// Clean session (3.x) / clean start (5.0).
    pub const CLEAN: u8 = 0x02;
    /// A will message follows.
    pub const WILL: u8 = 0x04;
    /// Will retain.
    pub const WILL_RETAIN: u8 = 0x20;
    /// A password follows.
    pub const PASSWORD: u8 = 0x40;
    /// A user name follows.
    pub const USER_NAME: u8 = 0x80;
}

/// Whether a protocol level is 5.0 (bridges set bit 7).
pub fn is_v5(level: u8) -> bool {
    level & 0x7f == 5
}

/// Reads a CONNECT head into `c`; returns how many length-prefixed fields
/// follow it (will message, user name, password).
pub fn connect<'a>(r: &mut Reader<'a>, c: &mut Connect<'a>) -> Result<u8, Stop> {
    const CUT: &str = "CONNECT field past the packet end";
    c.name = Some(r.string(CUT)?);
    let level = r.u8(CUT)?;
    c.level = Some(level);
    let flags = r.u8(CUT)?;
    c.flags = Some(flags);
    c.keep_alive = Some(r.u16(CUT)?);
    let v5 = is_v5(level);
    if v5 {
        c.props = props(r)?;
    }
    c.client_id = Some(r.string(CUT)?);
    if flags & connect_flags::WILL != 0 {
        if v5 {
            c.will_props = props(r)?;
        }
        c.will_topic = Some(r.string(CUT)?);
    }
    // The user name, when the head the stream holds reaches it (a CONNECT
    // is small; a huge will message may push it out): read on a copy, so
    // the stream still skips the tail fields by count as before.
    if flags & connect_flags::USER_NAME != 0 {
        let mut ahead = *r;
        let will = flags & connect_flags::WILL == 0 || ahead.string(CUT).is_ok();
        c.username = will.then(|| ahead.string(CUT).ok()).flatten();
    }
    Ok(u8::from(flags & connect_flags::WILL != 0)
        + u8::from(flags & connect_flags::USER_NAME != 0)
        + u8::from(flags & connect_flags::PASSWORD != 0))
}

/// The head of a PUBLISH (3.1.1 §3.3, 5.0 §3.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Topic name (empty when a v5 topic alias stands for it).
    pub topic: &'a [u8],
    /// Packet identifier (QoS > 0).
    pub packet_id: Option<u16>,
    /// Properties (5.0).
    pub props: Props<'a>,
}

/// Reads a PUBLISH head.
pub fn publish<'a>(r: &mut Reader<'a>, qos: u8, v5: bool) -> Result<Publish<'a>, Stop> {
    const CUT: &str = "PUBLISH field past the packet end";
    let topic = r.string(CUT)?;
    let packet_id = if qos > 0 { Some(r.u16(CUT)?) } else { None };
    let props = if v5 { props(r)? } else { Props::default() };
    Ok(Publish {
        topic,
        packet_id,
        props,
    })
}

/// A packet that starts with a packet identifier and, in 5.0, may carry a
/// reason code and properties: PUBACK, PUBREC, PUBREL, PUBCOMP (5.0 §3.4-3.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ack<'a> {
    /// Packet identifier.
    pub packet_id: u16,
    /// Reason code (5.0; 0 when absent).
    pub reason: u8,
    /// Properties (5.0).
    pub props: Props<'a>,
}

/// Reads PUBACK, PUBREC, PUBREL or PUBCOMP.
pub fn ack<'a>(body: &'a [u8], v5: bool) -> Result<Ack<'a>, Stop> {
    let mut r = Reader::whole(body);
    let packet_id = r.u16("packet identifier missing")?;
    let mut a = Ack {
        packet_id,
        ..Ack::default()
    };
    if v5 {
        if r.left() > 0 {
            a.reason = r.u8("")?;
        }
        if r.left() > 0 {
            a.props = props(&mut r)?;
        }
    }
    Ok(a)
}

/// A CONNACK (3.1.1 §3.2, 5.0 §3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connack<'a> {
    /// Session present (flags bit 0).
    pub session_present: bool,
    /// Return code (3.x) or reason code (5.0).
    pub code: u8,
    /// Properties (5.0).
    pub props: Props<'a>,
}

/// Reads a CONNACK.
pub fn connack<'a>(body: &'a [u8], v5: bool) -> Result<Connack<'a>, Stop> {
    const CUT: &str = "CONNACK shorter than 2 bytes";
    let mut r = Reader::whole(body);
    let flags = r.u8(CUT)?;
    let code = r.u8(CUT)?;
    // A 5.0 CONNACK always has properties; tolerate their absence.
    let props = if v5 && r.left() > 0 {
        props(&mut r)?
    } else {
        Props::default()
    };
    Ok(Connack {
        session_present: flags & 1 == 1,
        code,
        props,
    })
}

/// The start of a SUBSCRIBE, SUBACK, UNSUBSCRIBE or UNSUBACK: the packet
/// identifier and (5.0) the properties; the reader is left at the payload.
pub fn id_and_props<'a>(r: &mut Reader<'a>, v5: bool) -> Result<(u16, Props<'a>), Stop> {
    let id = r.u16("packet identifier missing")?;
    let props = if v5 { props(r)? } else { Props::default() };
    Ok((id, props))
}

/// The reason code and properties of a 5.0 DISCONNECT or AUTH (both may be
/// left out: code 0, no properties).
pub fn reason_and_props<'a>(body: &'a [u8]) -> Result<(u8, Props<'a>), Stop> {
    let mut r = Reader::whole(body);
    let mut code = 0;
    let mut p = Props::default();
    if r.left() > 0 {
        code = r.u8("")?;
    }
    if r.left() > 0 {
        p = props(&mut r)?;
    }
    Ok((code, p))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_prefix_gives_the_same_verdict_as_the_whole() {
        // topic "a/b", packet id 7, properties: topic alias 3, a user property.
        let body = [
            0, 3, b'a', b'/', b'b', 0, 7, 10, 0x23, 0, 3, 0x26, 0, 1, b'k', 0, 1, b'v', 0xAA,
        ];
        let whole = publish(&mut Reader::whole(&body), 1, true).unwrap();
        assert_eq!(whole.topic, b"a/b");
        assert_eq!(whole.packet_id, Some(7));
        assert_eq!(whole.props.topic_alias, Some(3));
        assert_eq!(whole.props.user_properties, 1);
        let mut need = 0;
        for n in 0..body.len() {
            let mut r = Reader::new(&body[..n], body.len() as u32);
            match publish(&mut r, 1, true) {
                Err(Stop::Need(k)) => {
                    assert!(k as usize > n && k >= need);
                    need = k;
                }
                Ok(p) => {
                    assert_eq!(p, whole);
                    assert_eq!(r.pos(), body.len() - 1);
                }
                other => panic!("{other:?} at {n}"),
            }
        }
    }

    #[test]
    fn lying_lengths_are_malformed_before_the_prefix_runs_out() {
        // Property length 4351 (0xff 0x21) in a 10-byte packet.
        let body = [0, 1, b't', 0xff, 0x21, 1, 2];
        let mut r = Reader::new(&body[..5], 10);
        assert_eq!(
            publish(&mut r, 0, true),
            Err(Stop::Malformed("property length past the packet end"))
        );
        // A topic longer than the cap in a packet long enough for it.
        let mut r = Reader::new(&[0xff, 0xff], 200_000);
        assert_eq!(publish(&mut r, 0, false), Err(Stop::OverCap));
        let mut r = Reader::new(&[0xff, 0xff], 100);
        assert!(matches!(publish(&mut r, 0, false), Err(Stop::Malformed(_))));
    }

    #[test]
    fn properties_are_checked_inside_their_block() {
        let mut r = Reader::whole(&[3, 0x7F, 0, 0, 0xEE]);
        let p = props(&mut r).unwrap();
        assert_eq!(p.bad, Some("unknown property identifier"));
        assert_eq!(r.pos(), 4, "the block is skipped as a whole");
        let mut r = Reader::whole(&[3, 0x11, 0, 0]);
        assert_eq!(
            props(&mut r).unwrap().bad,
            Some("property value past the property block")
        );
        let mut r = Reader::whole(&[0x80, 0x80, 0x80, 0x80, 0x01]);
        assert!(matches!(props(&mut r), Err(Stop::Malformed(_))));
        let mut r = Reader::whole(&[5, 0x11, 0, 0, 1, 0x2c]);
        assert_eq!(props(&mut r).unwrap().session_expiry_interval, Some(300));
    }

    #[test]
    fn short_fixed_fields_are_malformed() {
        assert!(matches!(ack(&[0], false), Err(Stop::Malformed(_))));
        assert!(matches!(connack(&[0], false), Err(Stop::Malformed(_))));
        assert_eq!(ack(&[0, 9, 0x10], false).unwrap().reason, 0);
        assert_eq!(ack(&[0, 9, 0x10], true).unwrap().reason, 0x10);
        assert_eq!(reason_and_props(&[]).unwrap(), (0, Props::default()));
    }
}
