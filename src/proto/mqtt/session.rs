//! One MQTT connection: both directions' parsers plus what medtap keeps
//! about it, and the owned record written when the flow ends.

use super::index::RowIndex;
use super::packet::{self, connect_flags, Props, Reader, Stop};
use super::stream::{DirParser, Handler, Plan, Problem, Step};
use super::{connack_reason_name, packet_type as pt, packet_type_name};
use super::{reason_code_name, suback_code_name};
use crate::proto::{dir, Anomaly, Conversation, Emit, Fact, Output, Record, Side, TwoWay};
use crate::time::Micros;
use std::hash::BuildHasher;

/// Distinct (direction, topic, QoS, retain) rows kept per session.
pub const MAX_PUBLISHED: usize = 256;

/// Up to this many published rows, a lookup scans them before hashing.
const SCAN_ROWS: usize = 8;
/// Distinct subscription filters kept per session.
pub const MAX_SUBSCRIBED: usize = 256;
/// Distinct unsubscribed filters kept per session.
pub const MAX_UNSUBSCRIBED: usize = 64;
/// Longest string kept (topic, filter, client id, ...), in bytes; longer
/// ones are clipped at a character boundary.
pub const MAX_STRING: usize = 256;
/// Subscription filters remembered until their SUBACK (all outstanding
/// SUBSCRIBEs together).
pub const MAX_PENDING_FILTERS: usize = 256;
/// Topic aliases (5.0) remembered per direction.
pub const MAX_TOPIC_ALIASES: usize = 32;

/// Messages published to one topic in one direction with one QoS and
/// retain flag.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PublishRecord {
    /// Client → broker (else broker → client).
    pub to_server: bool,
    /// Topic name (clipped to 256 bytes, `MAX_STRING`; a 5.0 topic alias is resolved
    /// when its first use was seen, else the topic is "").
    pub topic: String,
    /// QoS from the fixed header (3, invalid, is kept as such).
    pub qos: u8,
    /// Retain flag.
    pub retain: bool,
    /// Messages that arrived whole (one cut off by the end of the flow is
    /// not counted: see `MqttTruncatedPacket`).
    pub count: u64,
    /// Payload bytes, summed (from the remaining lengths: bytes lost in
    /// capture gaps inside a message are counted).
    pub bytes: u64,
    /// Messages with the DUP flag (redeliveries).
    pub dup: u64,
}

/// One subscription filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SubscribeRecord {
    /// Topic filter (clipped to `MAX_STRING`).
    pub filter: String,
    /// Requested maximum QoS (5.0: subscription options bits 0-1).
    pub qos: u8,
    /// The SUBACK code for this filter: granted QoS 0/1/2, 0x80 failure
    /// (3.1.1) or a 5.0 reason code; null until the SUBACK is seen.
    pub granted: Option<u8>,
    /// Its name.
    pub granted_reason: Option<&'static str>,
}

/// What medtap keeps about one MQTT connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SessionRecord {
    /// "MQTT" or "MQIsdp" (from CONNECT).
    pub protocol_name: Option<String>,
    /// Protocol level from CONNECT as sent: 3 (3.1), 4 (3.1.1), 5 (5.0);
    /// Mosquitto bridges add 0x80.
    pub protocol_version: Option<u8>,
    /// Client identifier; `Some("")` for an empty one.
    pub client_id: Option<String>,
    /// A user name was sent (never its value).
    pub username_present: bool,
    /// A password was sent (never its value).
    pub password_present: bool,
    /// Clean session (3.x) / clean start (5.0).
    pub clean_start: Option<bool>,
    /// Keep alive, seconds.
    pub keep_alive: Option<u16>,
    /// Will topic (the will message is never kept).
    pub will_topic: Option<String>,
    /// Will QoS.
    pub will_qos: Option<u8>,
    /// Will retain.
    pub will_retain: Option<bool>,
    /// 5.0 CONNECT property: session expiry interval, seconds.
    pub session_expiry_interval: Option<u32>,
    /// 5.0 CONNECT property: receive maximum.
    pub receive_maximum: Option<u16>,
    /// 5.0 CONNECT property: maximum packet size the client accepts.
    pub maximum_packet_size: Option<u32>,
    /// 5.0 authentication method name (CONNECT, else the first AUTH);
    /// authentication data is never kept.
    pub auth_method: Option<String>,
    /// 5.0 user properties seen in any packet of the session, both
    /// directions (a count: keys and values are never kept).
    pub user_properties: u32,
    /// 5.0 CONNACK property: the client id the broker assigned (to a
    /// client that sent an empty one).
    pub assigned_client_id: Option<String>,
    /// CONNACK return code (3.x) or reason code (5.0).
    pub connack_code: Option<u8>,
    /// Its name.
    pub connack_reason: Option<&'static str>,
    /// CONNACK session present flag.
    pub session_present: Option<bool>,
    /// Messages published, aggregated by (direction, topic, QoS, retain).
    pub published: Vec<PublishRecord>,
    /// Subscriptions, one per distinct filter (a repeated filter updates it).
    pub subscribed: Vec<SubscribeRecord>,
    /// Distinct filters unsubscribed from.
    pub unsubscribed: Vec<String>,
    /// DISCONNECT reason code (3.x: always 0).
    pub disconnect_code: Option<u8>,
    /// Its name.
    pub disconnect_reason: Option<&'static str>,
    /// Packets client → broker (every fixed header read).
    pub packets_toserver: u64,
    /// Packets broker → client.
    pub packets_toclient: u64,
    /// PINGREQ packets.
    pub pings: u64,
    /// AUTH packets (5.0), both directions.
    pub auth_packets: u64,
    /// Publishes, filters and unsubscriptions not kept because their list
    /// was full.
    pub topics_dropped: u64,
}

/// 5.0 topic aliases of one direction: alias → row in `published`.
#[derive(Debug, Default)]
struct Aliases {
    slots: [(u16, u16); MAX_TOPIC_ALIASES],
    len: usize,
    /// Next slot to overwrite once full.
    next: usize,
}

impl Aliases {
    fn get(&self, alias: u16) -> Option<usize> {
        self.slots[..self.len]
            .iter()
            .find(|s| s.0 == alias)
            .map(|s| usize::from(s.1))
    }

    /// Maps `alias` to `row`, or forgets it (`None`).
    fn set(&mut self, alias: u16, row: Option<usize>) {
        let pos = self.slots[..self.len].iter().position(|s| s.0 == alias);
        match (pos, row) {
            (Some(p), Some(r)) => self.slots[p].1 = r as u16,
            (Some(p), None) => {
                self.slots.copy_within(p + 1..self.len, p);
                self.len -= 1;
                self.next = self.next.min(self.len);
            }
            (None, Some(r)) if self.len < MAX_TOPIC_ALIASES => {
                self.slots[self.len] = (alias, r as u16);
                self.len += 1;
            }
            (None, Some(r)) => {
                self.slots[self.next] = (alias, r as u16);
                self.next = (self.next + 1) % MAX_TOPIC_ALIASES;
            }
            (None, None) => {}
        }
    }
}

/// Marks a pending filter whose row was not kept.
const NO_ROW: u16 = u16::MAX;

/// A PUBLISH whose head was read, counted once its last byte arrives.
#[derive(Clone, Copy, Debug)]
struct Publishing {
    /// Its row in `published`, `None` when the list was full.
    row: Option<usize>,
    /// Payload bytes.
    payload: u32,
    /// DUP flag.
    dup: bool,
}

/// Hash indexes over the record's lists (see [`RowIndex`]), so a packet
/// finds its row without scanning them.
#[derive(Debug, Default)]
struct Indexes {
    /// Seeded per session, so topics cannot be chosen to collide.
    hasher: Hasher,
    /// `published`, keyed by (direction, topic, QoS, retain).
    published: RowIndex,
    /// `subscribed`, keyed by filter.
    subscribed: RowIndex,
    /// `unsubscribed`.
    unsubscribed: RowIndex,
}

impl Indexes {
    fn clear(&mut self) {
        self.published.clear();
        self.subscribed.clear();
        self.unsubscribed.clear();
    }
}

type Hasher = foldhash::fast::RandomState;

/// Hash of a `published` key; `topic` is its [`verbatim`] part.
fn publish_hash(h: &Hasher, to_server: bool, topic: &[u8], qos: u8, retain: bool) -> u64 {
    h.hash_one((to_server, topic, qos, retain))
}

/// Hash of a kept `published` row's key.
fn row_hash(h: &Hasher, r: &PublishRecord) -> u64 {
    publish_hash(
        h,
        r.to_server,
        verbatim(r.topic.as_bytes()),
        r.qos,
        r.retain,
    )
}

/// Hash of a subscription or unsubscription filter (raw or kept).
fn filter_hash(h: &Hasher, filter: &[u8]) -> u64 {
    h.hash_one(verbatim(filter))
}

/// A hash of an MQTT user name under a key drawn once per process
/// (SipHash-1-3 with random keys): equal names from two devices compare
/// equal within one sensor run, while neither the name nor a hash that
/// could be looked up elsewhere is ever kept or written.
pub fn username_hash(name: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    KEY.get_or_init(std::hash::RandomState::new).hash_one(name)
}

/// Live state of one MQTT connection.
#[derive(Debug, Default)]
pub struct Session {
    parsers: [DirParser; 2],
    rec: SessionRecord,
    /// Whether packets are read as 5.0 (learned from CONNECT).
    v5: bool,
    /// A CONNECT was read (later ones are counted, not recorded).
    connected: bool,
    /// The flow was picked up mid-stream: its first client packet need not
    /// be a CONNECT.
    midstream: bool,
    /// The first client packet was seen.
    client_started: bool,
    /// A refused CONNACK for an authentication failure, not yet taken.
    auth_failure: bool,
    /// Keyed hash of the CONNECT's user name ([`username_hash`]).
    username: Option<u64>,
    /// The CONNECT was reported by [`Conversation::take_output`].
    connect_reported: bool,
    /// Rows of `published` and `subscribed` reported by
    /// [`Conversation::take_output`].
    rows_reported: (usize, usize),
    /// The current packet's fixed header byte, per direction.
    current: [u8; 2],
    /// (SUBSCRIBE packet id, row in `subscribed` or [`NO_ROW`]) per filter
    /// awaiting its SUBACK, in order.
    pending: Vec<(u16, u16)>,
    aliases: [Aliases; 2],
    /// Row of the last PUBLISH per direction (most sessions repeat topics).
    last_row: [usize; 2],
    /// The PUBLISH being read, per direction.
    publishing: [Option<Publishing>; 2],
    indexes: Indexes,
}

impl Session {
    /// Clears everything for reuse (keeps buffer capacities).
    pub fn reset(&mut self) {
        for p in &mut self.parsers {
            p.reset();
        }
        self.rec = SessionRecord::default();
        self.v5 = false;
        self.connected = false;
        self.midstream = false;
        self.client_started = false;
        self.auth_failure = false;
        self.username = None;
        self.connect_reported = false;
        self.rows_reported = (0, 0);
        self.current = [0; 2];
        self.pending.clear();
        self.aliases = Default::default();
        self.last_row = [0; 2];
        self.publishing = [None; 2];
        self.indexes.clear();
    }

    /// The flow was picked up mid-stream (its start was not seen): a first
    /// client packet other than CONNECT is then no anomaly. Packets are read
    /// as 3.1.1 until a CONNECT says otherwise.
    pub fn set_midstream(&mut self) {
        self.midstream = true;
    }

    /// In-order bytes from the client (`to_server`) or the broker.
    pub fn data(&mut self, to_server: bool, bytes: &[u8], emit: Emit<'_>) {
        self.drive(to_server, emit, |p, h| p.feed(bytes, h));
    }

    /// `len` bytes lost in one direction. Inside a PUBLISH payload (or a
    /// skipped packet) they are skipped by count. Before the direction's
    /// first byte they mean the flow is picked up mid-stream: the next byte
    /// is taken as a packet start (as Wireshark and Suricata do) and, for
    /// the client, [`Session::set_midstream`] applies. Anywhere else framing
    /// is lost (`MqttLostSync`) and that direction stops.
    pub fn gap(&mut self, to_server: bool, len: u32, emit: Emit<'_>) {
        self.drive(to_server, emit, |p, h| p.gap(len, h));
    }

    /// True when both directions stopped parsing (lost framing).
    pub fn is_dead(&self) -> bool {
        self.parsers.iter().all(DirParser::is_dead)
    }

    /// True once per refused CONNACK whose reason is an authentication
    /// failure (3.x: 4 bad user name or password, 5 not authorized; 5.0:
    /// 0x86, 0x87, 0x8C bad authentication method); the call clears it.
    pub fn take_auth_failure(&mut self) -> bool {
        std::mem::take(&mut self.auth_failure)
    }

    /// The client id, once a CONNECT was read.
    pub fn client_id(&self) -> Option<&str> {
        self.rec.client_id.as_deref()
    }

    /// A copy of the record so far (tests look at it mid-stream).
    #[cfg(test)]
    pub fn record(&self) -> SessionRecord {
        self.rec.clone()
    }

    /// The flow ended: a packet cut off in either direction is reported
    /// (`MqttTruncatedPacket`) and not counted. A PUBLISH counts only once
    /// its last byte arrives, so a cut one adds no message, and a topic
    /// row that only it opened is dropped.
    pub fn finish(&mut self, emit: Emit<'_>) {
        for to_server in [true, false] {
            self.drive(to_server, emit, |p, h| p.finish(h));
        }
        // Every other row has counted a message. Rows after a dropped one
        // move up, which the index does not follow: nothing is read after
        // the flow's end.
        self.rec.published.retain(|p| p.count > 0);
        self.indexes.published.clear();
    }

    /// Moves the record out (at the end of the flow), leaving an empty one.
    pub fn take_record(&mut self) -> SessionRecord {
        // The indexes point into the lists that leave with the record.
        self.indexes.clear();
        std::mem::take(&mut self.rec)
    }

    /// Protocol level used for code names (3.1.1 until a CONNECT says otherwise).
    fn level(&self) -> u8 {
        if self.v5 {
            5
        } else {
            self.rec.protocol_version.unwrap_or(4)
        }
    }
}

impl Conversation for Session {
    fn feed(&mut self, to_server: bool, bytes: &[u8], _ts: Micros, emit: Emit<'_>) {
        self.data(to_server, bytes, emit);
    }

    fn lost(&mut self, to_server: bool, len: u32, _ts: Micros, emit: Emit<'_>) {
        self.gap(to_server, len, emit);
    }

    fn take_output(&mut self, out: &mut dyn FnMut(Output<'_>)) {
        if let (true, false, Some(code)) =
            (self.connected, self.connect_reported, self.rec.connack_code)
        {
            self.connect_reported = true;
            out(Output::Fact(Fact::MqttConnect {
                client_id: self.rec.client_id.as_deref().unwrap_or(""),
                username: self.username,
                password: self.rec.password_present,
                accepted: code == 0,
            }));
        }
        if self.take_auth_failure() {
            out(Output::Fact(Fact::AuthFailure));
        }
        let (p, f) = self.rows_reported;
        let published = self.rec.published.get(p..).into_iter().flatten();
        for row in published.filter(|r| r.to_server) {
            out(Output::Fact(Fact::MqttPublish(&row.topic)));
        }
        for row in self.rec.subscribed.get(f..).into_iter().flatten() {
            out(Output::Fact(Fact::MqttSubscribe(&row.filter)));
        }
        self.rows_reported = (self.rec.published.len(), self.rec.subscribed.len());
    }

    fn end(&mut self, _ts: Micros, emit: Emit<'_>) {
        self.finish(emit);
    }

    fn take_records(&mut self, out: &mut dyn FnMut(Record)) {
        out(Record::Mqtt(self.take_record()));
    }

    fn is_dead(&self) -> bool {
        Session::is_dead(self)
    }

    fn reset(&mut self) {
        Session::reset(self);
    }
}

impl TwoWay for Session {
    type Parser = DirParser;

    fn parsers(&mut self) -> &mut [DirParser; 2] {
        &mut self.parsers
    }
}

/// The session seen from one direction, as the parser's handler.
type Dir<'a, 'e> = Side<'a, 'e, Session>;

/// A string as kept in records: as sent, invalid UTF-8 (a malformed MQTT
/// string, MQTT 5.0 1.5.4) escaped reversibly, at most [`MAX_STRING`]
/// bytes (see [`crate::proto::text`]).
fn text(b: &[u8]) -> String {
    crate::proto::text::kept(b, MAX_STRING)
}

/// Whether `stored` is what [`text`] makes of `raw`, without allocating.
fn eq_text(stored: &str, raw: &[u8]) -> bool {
    crate::proto::text::eq_kept(stored, raw, MAX_STRING)
}

/// The leading part of a string that [`text`] keeps byte for byte: up to
/// the first byte it may escape (a byte of invalid UTF-8, or a backslash),
/// within [`MAX_STRING`] bytes and whole characters. `verbatim(raw)` and
/// `verbatim(text(raw).as_bytes())` are the same bytes, so it is a hash key
/// for kept strings computed from the raw bytes without allocating (two
/// strings differing only after it collide, and [`eq_text`] tells them
/// apart).
fn verbatim(raw: &[u8]) -> &[u8] {
    let raw = &raw[..raw.len().min(MAX_STRING)];
    let valid = match std::str::from_utf8(raw) {
        Ok(_) => raw,
        Err(e) => &raw[..e.valid_up_to()],
    };
    valid.split(|&b| b == b'\\').next().unwrap_or_default()
}

/// Who may send a packet type: (client, broker).
fn senders(t: u8, v5: bool, connected: bool) -> (bool, bool) {
    match t {
        pt::CONNECT | pt::SUBSCRIBE | pt::UNSUBSCRIBE | pt::PINGREQ => (true, false),
        pt::CONNACK | pt::SUBACK | pt::UNSUBACK | pt::PINGRESP => (false, true),
        // A broker DISCONNECT is new in 5.0 (accepted while the version is unknown).
        pt::DISCONNECT => (true, v5 || !connected),
        _ => (true, true),
    }
}

/// What a published topic refers to.
#[derive(Clone, Copy)]
enum Topic<'a> {
    /// Bytes from the packet.
    Raw(&'a [u8]),
    /// The topic of a row (a resolved alias).
    Row(usize),
}

impl Handler for Dir<'_, '_> {
    fn header(&mut self, first: u8, _remaining: u32) -> Plan {
        let t = first >> 4;
        let d = dir(self.to_server);
        self.c.current[d] = first;
        let rec = &mut self.c.rec;
        if self.to_server {
            rec.packets_toserver += 1;
            if !self.c.client_started {
                self.c.client_started = true;
                if !self.c.midstream && t != pt::CONNECT {
                    (self.emit)(Anomaly::MqttPacketBeforeConnect, Some(packet_type_name(t)));
                }
            }
        } else {
            rec.packets_toclient += 1;
        }
        match t {
            pt::RESERVED => {
                (self.emit)(Anomaly::MqttReservedPacketType, Some("type 0"));
                return Plan::Skip;
            }
            pt::AUTH if !self.c.v5 => {
                (self.emit)(
                    Anomaly::MqttReservedPacketType,
                    Some("type 15 before MQTT 5.0"),
                );
                return Plan::Skip;
            }
            _ => {}
        }
        let (client, broker) = senders(t, self.c.v5, self.c.connected);
        if !(if self.to_server { client } else { broker }) {
            (self.emit)(
                Anomaly::MqttMalformedPacket,
                Some(if self.to_server {
                    "broker packet type sent by the client"
                } else {
                    "client packet type sent by the broker"
                }),
            );
            return Plan::Skip;
        }
        match t {
            pt::CONNECT => Plan::Head,
            pt::PUBLISH => {
                if (first >> 1) & 3 == 3 {
                    (self.emit)(Anomaly::MqttInvalidQos, Some("PUBLISH"));
                }
                Plan::Head
            }
            pt::SUBSCRIBE | pt::UNSUBSCRIBE | pt::PUBREL => {
                if first & 0x0f != 0b0010 {
                    (self.emit)(
                        Anomaly::MqttMalformedPacket,
                        Some("fixed header flags are not 0010"),
                    );
                }
                Plan::Whole
            }
            pt::PINGREQ => {
                rec.pings += 1;
                Plan::Whole
            }
            pt::AUTH => {
                rec.auth_packets += 1;
                Plan::Whole
            }
            _ => Plan::Whole,
        }
    }

    fn whole(&mut self, first: u8, body: &[u8]) {
        let res = match first >> 4 {
            pt::CONNACK => self.connack(body),
            pt::PUBACK..=pt::PUBCOMP => packet::ack(body, self.c.v5).map(|a| self.props(&a.props)),
            pt::SUBSCRIBE => self.subscribe(body),
            pt::SUBACK => self.suback(body),
            pt::UNSUBSCRIBE => self.unsubscribe(body),
            pt::UNSUBACK => {
                let mut r = Reader::whole(body);
                packet::id_and_props(&mut r, self.c.v5).map(|(_, p)| self.props(&p))
            }
            pt::DISCONNECT => self.disconnect(body),
            pt::AUTH => self.auth(body),
            // PINGREQ, PINGRESP: nothing to read.
            _ => Ok(()),
        };
        self.stopped(res, first);
    }

    fn head(&mut self, first: u8, prefix: &[u8], remaining: u32) -> Step {
        let mut r = Reader::new(prefix, remaining);
        let res = if first >> 4 == pt::CONNECT {
            let mut c = packet::Connect::default();
            let res = packet::connect(&mut r, &mut c);
            if !matches!(res, Err(Stop::Need(_))) {
                self.connect(&c);
            }
            res
        } else {
            let qos = (first >> 1) & 3;
            packet::publish(&mut r, qos, self.c.v5).map(|p| {
                let payload = remaining.saturating_sub(r.pos() as u32);
                self.publish(first, &p, payload);
                0
            })
        };
        match res {
            Ok(fields) => Step::Done {
                head: r.pos() as u32,
                fields,
            },
            Err(Stop::Need(n)) => Step::Need(n),
            Err(e) => {
                self.stopped(Err(e), first);
                Step::Done { head: 0, fields: 0 }
            }
        }
    }

    fn problem(&mut self, p: Problem) {
        let d = dir(self.to_server);
        let (a, detail) = match p {
            Problem::MalformedRemainingLength => (Anomaly::MqttMalformedRemainingLength, None),
            Problem::OverHardCap => (
                Anomaly::MqttPacketOverHardCap,
                Some(packet_type_name(self.c.current[d] >> 4)),
            ),
            Problem::TailFieldPastEnd => (
                Anomaly::MqttMalformedPacket,
                Some("CONNECT field past the packet end"),
            ),
            Problem::LostSync => {
                // A gap that cannot be skipped inside a PUBLISH runs past its
                // end: the message was whole on the wire, count it.
                self.end();
                (Anomaly::MqttLostSync, None)
            }
            Problem::StartLost => {
                if self.to_server {
                    self.c.midstream = true;
                }
                return;
            }
        };
        (self.emit)(a, detail);
    }

    fn end(&mut self) {
        let Some(p) = self.c.publishing[dir(self.to_server)].take() else {
            return;
        };
        let rec = &mut self.c.rec;
        match p.row.and_then(|i| rec.published.get_mut(i)) {
            Some(r) => {
                r.count += 1;
                r.bytes += u64::from(p.payload);
                r.dup += u64::from(p.dup);
            }
            None => rec.topics_dropped += 1,
        }
    }

    fn cut(&mut self, first: u8) {
        // Not counted: only whole packets are (see `end`).
        self.c.publishing[dir(self.to_server)] = None;
        (self.emit)(
            Anomaly::MqttTruncatedPacket,
            Some(packet_type_name(first >> 4)),
        );
    }
}

impl Dir<'_, '_> {
    /// Reports why reading a packet stopped early.
    fn stopped(&mut self, res: Result<(), Stop>, first: u8) {
        match res {
            Ok(()) => {}
            Err(Stop::Malformed(why)) => (self.emit)(Anomaly::MqttMalformedPacket, Some(why)),
            Err(Stop::OverCap) => (self.emit)(
                Anomaly::MqttPacketOverHardCap,
                Some(packet_type_name(first >> 4)),
            ),
            // Whole bodies never need more bytes.
            Err(Stop::Need(_)) => {}
        }
    }

    /// What every property block contributes.
    fn props(&mut self, p: &Props<'_>) {
        let rec = &mut self.c.rec;
        rec.user_properties = rec.user_properties.saturating_add(p.user_properties);
        if let Some(why) = p.bad {
            (self.emit)(Anomaly::MqttMalformedPacket, Some(why));
        }
    }

    fn connect(&mut self, c: &packet::Connect<'_>) {
        if self.c.connected {
            // A second CONNECT is a protocol violation the broker answers by
            // closing; the first one's fields are kept.
            return;
        }
        self.c.connected = true;
        let rec = &mut self.c.rec;
        rec.protocol_name = c.name.map(text);
        rec.protocol_version = c.level;
        self.c.v5 = c.level.is_some_and(packet::is_v5);
        rec.keep_alive = c.keep_alive;
        if let Some(f) = c.flags {
            rec.username_present = f & connect_flags::USER_NAME != 0;
            rec.password_present = f & connect_flags::PASSWORD != 0;
            rec.clean_start = Some(f & connect_flags::CLEAN != 0);
            let will_qos = (f >> 3) & 3;
            let will_retain = f & connect_flags::WILL_RETAIN != 0;
            if f & connect_flags::WILL != 0 {
                rec.will_qos = Some(will_qos);
                rec.will_retain = Some(will_retain);
            }
            if f & connect_flags::RESERVED != 0 {
                (self.emit)(
                    Anomaly::MqttMalformedPacket,
                    Some("reserved connect flag set"),
                );
            }
            if f & connect_flags::WILL == 0 && (will_qos != 0 || will_retain) {
                (self.emit)(
                    Anomaly::MqttMalformedPacket,
                    Some("will QoS or retain without a will"),
                );
            } else if will_qos == 3 {
                (self.emit)(Anomaly::MqttInvalidQos, Some("will"));
            }
        }
        let rec = &mut self.c.rec;
        rec.session_expiry_interval = c.props.session_expiry_interval;
        rec.receive_maximum = c.props.receive_maximum;
        rec.maximum_packet_size = c.props.maximum_packet_size;
        rec.auth_method = c.props.auth_method.map(text);
        rec.client_id = c.client_id.map(text);
        self.c.username = c.username.map(username_hash);
        let rec = &mut self.c.rec;
        rec.will_topic = c.will_topic.map(text);
        self.props(&c.props);
        self.props(&c.will_props);
    }

    fn connack(&mut self, body: &[u8]) -> Result<(), Stop> {
        let c = packet::connack(body, self.c.v5)?;
        let name = connack_reason_name(self.c.level(), c.code);
        let rec = &mut self.c.rec;
        rec.connack_code = Some(c.code);
        rec.connack_reason = Some(name);
        rec.session_present = Some(c.session_present);
        if let Some(id) = c.props.assigned_client_id {
            rec.assigned_client_id = Some(text(id));
        }
        let (refused, auth) = if self.c.v5 {
            (c.code >= 0x80, matches!(c.code, 0x86 | 0x87 | 0x8C))
        } else {
            (c.code != 0, matches!(c.code, 4 | 5))
        };
        if refused {
            (self.emit)(Anomaly::MqttConnackRefused, Some(name));
            self.c.auth_failure |= auth;
        }
        self.props(&c.props);
        Ok(())
    }

    fn publish(&mut self, first: u8, p: &packet::Publish<'_>, payload: u32) {
        let d = dir(self.to_server);
        let qos = (first >> 1) & 3;
        let retain = first & 1 == 1;
        let dup = first & 8 == 8;
        self.props(&p.props);
        let alias = p.props.topic_alias;
        let topic = match (p.topic.is_empty(), alias) {
            (false, _) => Topic::Raw(p.topic),
            (true, Some(a)) => match self.c.aliases[d].get(a) {
                Some(row) if row < self.c.rec.published.len() => Topic::Row(row),
                // Set before this capture, or forgotten: kept under "".
                _ => Topic::Raw(b""),
            },
            (true, None) => {
                (self.emit)(Anomaly::MqttMalformedPacket, Some("empty topic name"));
                Topic::Raw(b"")
            }
        };
        let system = match topic {
            Topic::Raw(t) => t.first() == Some(&b'$'),
            Topic::Row(r) => self.c.rec.published[r].topic.starts_with('$'),
        };
        if self.to_server && system {
            (self.emit)(Anomaly::MqttPublishToSystemTopic, None);
        }
        // The row is found (or opened) now, while the topic's bytes are at
        // hand; the message counts once its last byte arrives (`end`).
        let row = self.publish_row(topic, qos, retain);
        if let (false, Some(a)) = (p.topic.is_empty(), alias) {
            self.c.aliases[d].set(a, row);
        }
        self.c.publishing[d] = Some(Publishing { row, payload, dup });
    }

    /// The row for (this direction, topic, QoS, retain): found without
    /// allocating, created if there is room.
    fn publish_row(&mut self, topic: Topic<'_>, qos: u8, retain: bool) -> Option<usize> {
        let d = dir(self.to_server);
        let to_server = self.to_server;
        let Session {
            rec,
            indexes,
            last_row,
            ..
        } = &mut *self.c;
        let rows = &rec.published;
        let matches = |r: &PublishRecord| {
            r.to_server == to_server
                && r.qos == qos
                && r.retain == retain
                && match topic {
                    Topic::Raw(t) => eq_text(&r.topic, t),
                    Topic::Row(i) => rows.get(i).is_some_and(|o| o.topic == r.topic),
                }
        };
        let last = last_row[d];
        if rows.get(last).is_some_and(matches) {
            return Some(last);
        }
        // A handful of rows is cheaper to scan than the key's UTF-8 check
        // and hash (criterion: a 4-topic session 9% slower hashed).
        if rows.len() <= SCAN_ROWS {
            if let Some(row) = rows.iter().position(matches) {
                last_row[d] = row;
                return Some(row);
            }
        }
        let key = match topic {
            Topic::Raw(t) => verbatim(t),
            Topic::Row(i) => rows
                .get(i)
                .map_or(&b""[..], |o| verbatim(o.topic.as_bytes())),
        };
        let hash = publish_hash(&indexes.hasher, to_server, key, qos, retain);
        let row = match indexes
            .published
            .find(hash, |i| rows.get(i).is_some_and(matches))
        {
            Some(i) => i,
            None if rows.len() < MAX_PUBLISHED => {
                let topic = match topic {
                    Topic::Raw(t) => text(t),
                    Topic::Row(i) => rows.get(i).map(|o| o.topic.clone()).unwrap_or_default(),
                };
                rec.published.push(PublishRecord {
                    to_server,
                    topic,
                    qos,
                    retain,
                    ..PublishRecord::default()
                });
                let row = rec.published.len() - 1;
                let rows = &rec.published;
                let h = &indexes.hasher;
                indexes.published.add(row, hash, |r| row_hash(h, &rows[r]));
                row
            }
            None => return None,
        };
        last_row[d] = row;
        Some(row)
    }

    fn subscribe(&mut self, body: &[u8]) -> Result<(), Stop> {
        const CUT: &str = "SUBSCRIBE filter past the packet end";
        let mut r = Reader::whole(body);
        let (id, props) = packet::id_and_props(&mut r, self.c.v5)?;
        self.props(&props);
        // A reused packet id replaces what was pending under it.
        self.c.pending.retain(|p| p.0 != id);
        let mut filters = 0;
        while r.left() > 0 {
            let filter = r.string(CUT)?;
            let qos = r.u8("subscription options missing")? & 3;
            filters += 1;
            if qos == 3 {
                (self.emit)(Anomaly::MqttInvalidQos, Some("subscription"));
            }
            match filter {
                b"#" => (self.emit)(Anomaly::MqttWildcardSubscription, Some("#")),
                b"$SYS/#" => (self.emit)(Anomaly::MqttWildcardSubscription, Some("$SYS/#")),
                _ => {}
            }
            let ix = &mut self.c.indexes;
            let rows = &mut self.c.rec.subscribed;
            let hash = filter_hash(&ix.hasher, filter);
            let found = ix.subscribed.find(hash, |i| {
                rows.get(i).is_some_and(|s| eq_text(&s.filter, filter))
            });
            let row = match found {
                Some(i) => Some(i),
                None if rows.len() < MAX_SUBSCRIBED => {
                    rows.push(SubscribeRecord {
                        filter: text(filter),
                        ..SubscribeRecord::default()
                    });
                    let row = rows.len() - 1;
                    let (h, rows) = (&ix.hasher, &*rows);
                    ix.subscribed
                        .add(row, hash, |r| filter_hash(h, rows[r].filter.as_bytes()));
                    Some(row)
                }
                None => None,
            };
            match row {
                Some(i) => {
                    rows[i].qos = qos;
                    rows[i].granted = None;
                    rows[i].granted_reason = None;
                }
                None => self.c.rec.topics_dropped += 1,
            }
            if self.c.pending.len() < MAX_PENDING_FILTERS {
                let row = row.map_or(NO_ROW, |i| i as u16);
                self.c.pending.push((id, row));
            }
        }
        if filters == 0 {
            return Err(Stop::Malformed("SUBSCRIBE without a topic filter"));
        }
        Ok(())
    }

    fn suback(&mut self, body: &[u8]) -> Result<(), Stop> {
        let mut r = Reader::whole(body);
        let (id, props) = packet::id_and_props(&mut r, self.c.v5)?;
        self.props(&props);
        let codes = r.rest()?;
        let level = self.c.level();
        let mut codes_iter = codes.iter();
        let rows = &mut self.c.rec.subscribed;
        self.c.pending.retain(|&(p, row)| {
            if p != id {
                return true;
            }
            if let (Some(&code), Some(sub)) = (codes_iter.next(), rows.get_mut(usize::from(row))) {
                sub.granted = Some(code);
                sub.granted_reason = Some(suback_code_name(level, code));
            }
            false
        });
        if codes.is_empty() {
            return Err(Stop::Malformed("SUBACK without a return code"));
        }
        Ok(())
    }

    fn unsubscribe(&mut self, body: &[u8]) -> Result<(), Stop> {
        let mut r = Reader::whole(body);
        let (_, props) = packet::id_and_props(&mut r, self.c.v5)?;
        self.props(&props);
        let mut filters = 0;
        while r.left() > 0 {
            let filter = r.string("UNSUBSCRIBE filter past the packet end")?;
            filters += 1;
            let ix = &mut self.c.indexes;
            let rec = &mut self.c.rec;
            let hash = filter_hash(&ix.hasher, filter);
            let rows = &rec.unsubscribed;
            if ix
                .unsubscribed
                .find(hash, |i| rows.get(i).is_some_and(|f| eq_text(f, filter)))
                .is_some()
            {
                continue;
            }
            if rec.unsubscribed.len() < MAX_UNSUBSCRIBED {
                rec.unsubscribed.push(text(filter));
                let row = rec.unsubscribed.len() - 1;
                let (h, rows) = (&ix.hasher, &rec.unsubscribed);
                ix.unsubscribed
                    .add(row, hash, |r| filter_hash(h, rows[r].as_bytes()));
            } else {
                rec.topics_dropped += 1;
            }
        }
        if filters == 0 {
            return Err(Stop::Malformed("UNSUBSCRIBE without a topic filter"));
        }
        Ok(())
    }

    fn disconnect(&mut self, body: &[u8]) -> Result<(), Stop> {
        let (code, props) = if self.c.v5 {
            packet::reason_and_props(body)?
        } else {
            (0, Props::default())
        };
        self.c.rec.disconnect_code = Some(code);
        self.c.rec.disconnect_reason = Some(reason_code_name(pt::DISCONNECT, code));
        self.props(&props);
        Ok(())
    }

    fn auth(&mut self, body: &[u8]) -> Result<(), Stop> {
        let (_, props) = packet::reason_and_props(body)?;
        if self.c.rec.auth_method.is_none() {
            self.c.rec.auth_method = props.auth_method.map(text);
        }
        self.props(&props);
        Ok(())
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn kept_strings_are_bounded_to_whole_characters() {
        let mut s = "a".repeat(MAX_STRING - 1).into_bytes();
        s.extend("é".as_bytes()); // 2 bytes straddling the cut
        assert_eq!(text(&s).len(), MAX_STRING - 1);
        assert_eq!(text(b"short"), "short");
        let exact = [b'z'; MAX_STRING];
        assert_eq!(text(&exact).as_bytes(), exact);
        // Each invalid byte becomes 4 bytes of text (`\xhh`).
        let junk = [0x80u8; 300];
        assert_eq!(text(&junk).len(), MAX_STRING / 4 * 4);
        for raw in [&junk[..], b"\xe2\x82", &[b'a', 0xff].repeat(200)] {
            assert!(text(raw).len() <= MAX_STRING);
            assert!(eq_text(&text(raw), raw));
        }
    }

    #[test]
    fn comparison_matches_conversion() {
        for raw in [
            &b"plain"[..],
            b"bad\xff\xfebytes",
            b"\xe2\x82",
            b"",
            b"\xf0\x9f\x98\x80ok",
            b"a\\x41",
            "\u{202e}\u{2028}".as_bytes(),
        ] {
            let t = text(raw);
            assert!(eq_text(&t, raw), "{raw:?}");
            assert!(!eq_text(&format!("{t}x"), raw));
            assert!(!eq_text("other", raw));
        }
    }

    #[test]
    fn verbatim_part_is_the_same_for_raw_and_kept_text() {
        // 300 bytes: MAX_STRING (256) falls inside the 86th character.
        let long = "€".repeat(100);
        for raw in [
            &b"plain/topic"[..],
            b"a\\x41",
            b"bad\xff\xfebytes",
            b"\xe2\x82",
            b"",
            b"\\",
            long.as_bytes(),
        ] {
            assert_eq!(verbatim(raw), verbatim(text(raw).as_bytes()), "{raw:?}");
        }
        assert_eq!(verbatim(long.as_bytes()).len(), 255);
        assert_eq!(verbatim(b"bed\\x41"), b"bed");
    }

    proptest::proptest! {
        #[test]
        fn verbatim_part_agrees_on_any_bytes(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u8>(),
                    proptest::sample::select(vec![b'a', b'\\', b'x', b'5', b'c', 0xc3, 0xa9, 0xe2, 0x82, 0xac]),
                ],
                0..600,
            )
        ) {
            let kept = text(&raw);
            proptest::prop_assert_eq!(verbatim(&raw), verbatim(kept.as_bytes()));
        }
    }

    #[test]
    fn aliases_are_bounded_and_can_be_forgotten() {
        let mut a = Aliases::default();
        for i in 0..(MAX_TOPIC_ALIASES as u16 + 5) {
            a.set(i + 1, Some(usize::from(i)));
        }
        assert_eq!(a.len, MAX_TOPIC_ALIASES);
        assert_eq!(a.get(1), None, "oldest overwritten");
        assert_eq!(
            a.get(MAX_TOPIC_ALIASES as u16 + 5),
            Some(MAX_TOPIC_ALIASES + 4)
        );
        a.set(10, None);
        assert_eq!(a.get(10), None);
        assert_eq!(a.len, MAX_TOPIC_ALIASES - 1);
        a.set(10, Some(3));
        assert_eq!(a.get(10), Some(3));
    }
}
