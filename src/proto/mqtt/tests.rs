//! Session parsing over byte streams built field by field (and a few lifted
//! from suricata-verify captures), fed whole, split at every point, byte by
//! byte, with gaps, and as arbitrary bytes.

use super::session::{MAX_PUBLISHED, MAX_STRING, MAX_SUBSCRIBED, MAX_UNSUBSCRIBED};
use super::*;
use crate::proto::Anomaly;
use proptest::prelude::*;

type Seen = Vec<(Anomaly, Option<&'static str>)>;
type Chunks = Vec<(bool, Vec<u8>)>;

// ---------------------------------------------------------------- builders

fn varint(mut n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        if n == 0 {
            v.push(b);
            return v;
        }
        v.push(b | 0x80);
    }
}

/// Fixed header (type and flags, remaining length) and body.
fn pkt(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    v.extend(varint(body.len()));
    v.extend_from_slice(body);
    v
}

/// A 2-byte length and the bytes.
fn s(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

/// A property block from already encoded properties.
fn props(items: &[&[u8]]) -> Vec<u8> {
    let body = items.concat();
    let mut v = varint(body.len());
    v.extend(body);
    v
}

fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn hex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// (will properties (5.0), topic, message, QoS, retain)
type Will = (Vec<u8>, &'static [u8], &'static [u8], u8, bool);

#[derive(Clone)]
struct Connect {
    name: &'static [u8],
    level: u8,
    clean: bool,
    keep_alive: u16,
    props: Option<Vec<u8>>,
    client_id: &'static [u8],
    will: Option<Will>,
    user: Option<&'static [u8]>,
    pass: Option<&'static [u8]>,
}

impl Connect {
    fn v311() -> Connect {
        Connect {
            name: b"MQTT",
            level: 4,
            clean: true,
            keep_alive: 60,
            props: None,
            client_id: b"infusion-pump-7",
            will: None,
            user: None,
            pass: None,
        }
    }

    fn v5() -> Connect {
        Connect {
            level: 5,
            props: Some(props(&[])),
            ..Connect::v311()
        }
    }

    fn v31() -> Connect {
        Connect {
            name: b"MQIsdp",
            level: 3,
            ..Connect::v311()
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some((_, _, _, qos, retain)) = &self.will {
            flags |= 0x04 | (qos << 3) | if *retain { 0x20 } else { 0 };
        }
        if self.user.is_some() {
            flags |= 0x80;
        }
        if self.pass.is_some() {
            flags |= 0x40;
        }
        let mut b = s(self.name);
        b.push(self.level);
        b.push(flags);
        b.extend(self.keep_alive.to_be_bytes());
        if let Some(p) = &self.props {
            b.extend(p);
        }
        b.extend(s(self.client_id));
        if let Some((wp, topic, msg, _, _)) = &self.will {
            if self.level == 5 {
                b.extend(wp);
            }
            b.extend(s(topic));
            b.extend(s(msg));
        }
        if let Some(u) = self.user {
            b.extend(s(u));
        }
        if let Some(p) = self.pass {
            b.extend(s(p));
        }
        pkt(0x10, &b)
    }
}

fn connack(session_present: bool, code: u8, v5_props: Option<Vec<u8>>) -> Vec<u8> {
    let mut b = vec![u8::from(session_present), code];
    if let Some(p) = v5_props {
        b.extend(p);
    }
    pkt(0x20, &b)
}

/// PUBLISH with flags (DUP, QoS, retain), topic, packet id for QoS > 0, v5
/// properties and payload.
fn publish(
    dup: bool,
    qos: u8,
    retain: bool,
    topic: &[u8],
    id: u16,
    v5_props: Option<Vec<u8>>,
    payload: &[u8],
) -> Vec<u8> {
    let first = 0x30 | if dup { 8 } else { 0 } | (qos << 1) | u8::from(retain);
    let mut b = s(topic);
    if qos > 0 {
        b.extend(id.to_be_bytes());
    }
    if let Some(p) = v5_props {
        b.extend(p);
    }
    b.extend_from_slice(payload);
    pkt(first, &b)
}

/// PUBACK/PUBREC/PUBREL/PUBCOMP (3.x form).
fn ack(t: u8, id: u16) -> Vec<u8> {
    let flags = if t == packet_type::PUBREL { 2 } else { 0 };
    pkt(t << 4 | flags, &id.to_be_bytes())
}

fn subscribe(id: u16, v5_props: Option<Vec<u8>>, filters: &[(&[u8], u8)]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    if let Some(p) = v5_props {
        b.extend(p);
    }
    for (f, o) in filters {
        b.extend(s(f));
        b.push(*o);
    }
    pkt(0x82, &b)
}

fn suback(id: u16, v5_props: Option<Vec<u8>>, codes: &[u8]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    if let Some(p) = v5_props {
        b.extend(p);
    }
    b.extend_from_slice(codes);
    pkt(0x90, &b)
}

fn unsubscribe(id: u16, v5_props: Option<Vec<u8>>, filters: &[&[u8]]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    if let Some(p) = v5_props {
        b.extend(p);
    }
    for f in filters {
        b.extend(s(f));
    }
    pkt(0xA2, &b)
}

fn unsuback(id: u16, v5: Option<(Vec<u8>, &[u8])>) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    if let Some((p, codes)) = v5 {
        b.extend(p);
        b.extend_from_slice(codes);
    }
    pkt(0xB0, &b)
}

const PINGREQ: [u8; 2] = [0xC0, 0];
const PINGRESP: [u8; 2] = [0xD0, 0];
const DISCONNECT: [u8; 2] = [0xE0, 0];

/// 5.0 property encoders.
fn p_u8(id: u8, v: u8) -> Vec<u8> {
    vec![id, v]
}
fn p_u16(id: u8, v: u16) -> Vec<u8> {
    let mut b = vec![id];
    b.extend(v.to_be_bytes());
    b
}
fn p_u32(id: u8, v: u32) -> Vec<u8> {
    let mut b = vec![id];
    b.extend(v.to_be_bytes());
    b
}
fn p_str(id: u8, v: &[u8]) -> Vec<u8> {
    let mut b = vec![id];
    b.extend(s(v));
    b
}
fn p_user(k: &[u8], v: &[u8]) -> Vec<u8> {
    let mut b = vec![0x26];
    b.extend(s(k));
    b.extend(s(v));
    b
}

// ------------------------------------------------------------------ runner

struct Run {
    rec: SessionRecord,
    seen: Seen,
    auth_failures: u32,
    dead: bool,
}

/// Feeds every chunk cut into pieces by `cut` (piece lengths, cycled).
fn run_pieces(
    session: &[(bool, Vec<u8>)],
    midstream: bool,
    cut: &dyn Fn(usize) -> Vec<usize>,
) -> Run {
    let mut m = Session::default();
    if midstream {
        m.set_midstream();
    }
    let mut seen = Vec::new();
    let mut auth_failures = 0;
    for (to_server, bytes) in session {
        let mut rest = &bytes[..];
        for n in cut(bytes.len()) {
            let n = n.min(rest.len());
            m.data(*to_server, &rest[..n], &mut |a, d| seen.push((a, d)));
            rest = &rest[n..];
        }
        m.data(*to_server, rest, &mut |a, d| seen.push((a, d)));
        auth_failures += u32::from(m.take_auth_failure());
    }
    Run {
        rec: m.take_record(),
        seen,
        auth_failures,
        dead: m.is_dead(),
    }
}

/// Runs a session whole, split at every point of every chunk and byte by
/// byte; all must agree. Returns the whole run.
fn check_with(session: &[(bool, Vec<u8>)], midstream: bool) -> Run {
    let whole = run_pieces(session, midstream, &|_| vec![]);
    let longest = session.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
    let agree = |r: &Run, what: &str| {
        assert_eq!(r.rec, whole.rec, "{what}");
        assert_eq!(r.seen, whole.seen, "{what}");
        assert_eq!(r.auth_failures, whole.auth_failures, "{what}");
        assert_eq!(r.dead, whole.dead, "{what}");
    };
    // Every point; in big sessions the first KiB, the last bytes and a stride.
    let points = (0..=longest)
        .filter(|&at| longest <= 2048 || at < 1024 || at % 4099 == 0 || at + 64 > longest);
    for at in points {
        agree(
            &run_pieces(session, midstream, &|_| vec![at]),
            &format!("split at {at}"),
        );
    }
    agree(
        &run_pieces(session, midstream, &|len| vec![1; len]),
        "byte by byte",
    );
    whole
}

fn check(session: &[(bool, Vec<u8>)]) -> Run {
    check_with(session, false)
}

fn kinds(seen: &Seen) -> Vec<Anomaly> {
    seen.iter().map(|s| s.0).collect()
}

// ------------------------------------------------------------ 3.1.1 / 3.1

/// A 3.1.1 session using every packet type: will, user name and password,
/// two subscriptions (one granted, one refused), QoS 0/1/2 both ways,
/// unsubscribe, ping, disconnect.
fn session_311(level: u8) -> Chunks {
    let c = Connect {
        will: Some((vec![], b"icu/bed4/status", b"offline-secret-will", 1, true)),
        user: Some(b"nurse-station"),
        pass: Some(b"hunter2-secret"),
        ..if level == 3 {
            Connect::v31()
        } else {
            Connect::v311()
        }
    };
    vec![
        (true, c.bytes()),
        (false, connack(false, 0, None)),
        (
            true,
            subscribe(1, None, &[(b"icu/+/alarm", 2), (b"pharmacy/orders", 1)]),
        ),
        (false, suback(1, None, &[2, 0x80])),
        (
            true,
            [
                publish(
                    false,
                    0,
                    false,
                    b"icu/bed4/vitals",
                    0,
                    None,
                    b"HR=72 patient-secret",
                ),
                publish(false, 0, false, b"icu/bed4/vitals", 0, None, b"HR=73"),
                publish(false, 1, true, b"icu/bed4/status", 7, None, b"online"),
            ]
            .concat(),
        ),
        (false, ack(packet_type::PUBACK, 7)),
        (
            true,
            publish(true, 2, false, b"icu/bed4/alarm", 8, None, b"SpO2 low"),
        ),
        (false, ack(packet_type::PUBREC, 8)),
        (true, ack(packet_type::PUBREL, 8)),
        (false, ack(packet_type::PUBCOMP, 8)),
        (
            false,
            publish(false, 1, false, b"icu/bed9/alarm", 3, None, &[0u8; 300]),
        ),
        (true, ack(packet_type::PUBACK, 3)),
        (true, unsubscribe(2, None, &[b"pharmacy/orders"])),
        (false, unsuback(2, None)),
        (true, PINGREQ.to_vec()),
        (false, PINGRESP.to_vec()),
        (true, DISCONNECT.to_vec()),
    ]
}

#[test]
fn a_311_session_is_summarised() {
    let r = check(&session_311(4));
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    let rec = r.rec;
    assert_eq!(rec.protocol_name.as_deref(), Some("MQTT"));
    assert_eq!(rec.protocol_version, Some(4));
    assert_eq!(rec.client_id.as_deref(), Some("infusion-pump-7"));
    assert!(rec.username_present && rec.password_present);
    assert_eq!((rec.clean_start, rec.keep_alive), (Some(true), Some(60)));
    assert_eq!(rec.will_topic.as_deref(), Some("icu/bed4/status"));
    assert_eq!((rec.will_qos, rec.will_retain), (Some(1), Some(true)));
    assert_eq!(
        (
            rec.session_expiry_interval,
            rec.receive_maximum,
            rec.maximum_packet_size
        ),
        (None, None, None)
    );
    assert_eq!(rec.auth_method, None);
    assert_eq!(rec.user_properties, 0);
    assert_eq!(
        (rec.connack_code, rec.connack_reason, rec.session_present),
        (Some(0), Some("connection accepted"), Some(false))
    );
    let p =
        |to_server: bool, topic: &str, qos: u8, retain: bool, count: u64, bytes: u64, dup: u64| {
            PublishRecord {
                to_server,
                topic: topic.into(),
                qos,
                retain,
                count,
                bytes,
                dup,
            }
        };
    assert_eq!(
        rec.published,
        [
            p(true, "icu/bed4/vitals", 0, false, 2, 25, 0),
            p(true, "icu/bed4/status", 1, true, 1, 6, 0),
            p(true, "icu/bed4/alarm", 2, false, 1, 8, 1),
            p(false, "icu/bed9/alarm", 1, false, 1, 300, 0),
        ]
    );
    assert_eq!(
        rec.subscribed,
        [
            SubscribeRecord {
                filter: "icu/+/alarm".into(),
                qos: 2,
                granted: Some(2),
                granted_reason: Some("granted QoS 2"),
            },
            SubscribeRecord {
                filter: "pharmacy/orders".into(),
                qos: 1,
                granted: Some(0x80),
                granted_reason: Some("failure"),
            },
        ]
    );
    assert_eq!(rec.unsubscribed, ["pharmacy/orders"]);
    assert_eq!(
        (rec.disconnect_code, rec.disconnect_reason),
        (Some(0), Some("normal disconnection"))
    );
    assert_eq!((rec.packets_toserver, rec.packets_toclient), (11, 8));
    assert_eq!((rec.pings, rec.auth_packets, rec.topics_dropped), (1, 0, 0));
    assert_eq!(r.auth_failures, 0);
    assert!(!r.dead);
}

#[test]
fn a_31_session_is_read_like_311() {
    let r = check(&session_311(3));
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    assert_eq!(r.rec.protocol_name.as_deref(), Some("MQIsdp"));
    assert_eq!(r.rec.protocol_version, Some(3));
    let mut v311 = check(&session_311(4)).rec;
    v311.protocol_name = Some("MQIsdp".into());
    v311.protocol_version = Some(3);
    assert_eq!(r.rec, v311);
}

#[test]
fn no_secret_reaches_the_record() {
    for session in [session_311(4), v5_session(), mosquittoprops()] {
        let r = check(&session);
        let text = format!("{:?}", r.rec) + &serde_json::to_string(&r.rec).unwrap();
        for secret in [
            "hunter2",
            "nurse-station",
            "patient-secret",
            "offline-secret-will",
            "userval",
            "userprop",
            "authdata",
            "1234567",
            "willmessage",
            "blacksheep",
            "rate=",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}

// -------------------------------------------------------------------- 5.0

/// suricata-verify mqtt5-pub-mosquittoprops: CONNECT with many properties,
/// will properties, user name and password; CONNACK with topic alias
/// maximum; PUBLISH with properties (topic alias 5); PUBACK "no matching
/// subscribers"; DISCONNECT with properties.
fn mosquittoprops() -> Chunks {
    vec![
        (true, hex("10cc0100044d51545405c6003c3c2700002b672100de110000022b22029a2600097573657270726f703100087573657276616c312600097573657270726f703200087573657276616c3200136d79766f69636569736d7970617373706f72744b03000a6d7977696c6c74797065090007313233343536370200000085019008000f726573706f6e73655f746f706963312600097573657270726f703500087573657276616c3518000000c8000977696c6c746f706963000b77696c6c6d657373616765000475736572000470617373")),
        (false, hex("200600000322000a")),
        (true, hex("325e0006746f706963580001430300066d79747970650900053132333435020000004d015808000f726573706f6e73655f746f706963312300052600097573657270726f703300087573657276616c33626161626161626c61636b7368656570")),
        (false, hex("4003000110")),
        (true, hex("e01d001b110000007a2600097573657270726f703400087573657276616c34")),
    ]
}

#[test]
fn mosquitto_v5_properties_are_read() {
    let r = check(&mosquittoprops());
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    let rec = r.rec;
    assert_eq!(rec.protocol_version, Some(5));
    assert_eq!(rec.client_id.as_deref(), Some("myvoiceismypassport"));
    assert_eq!(rec.maximum_packet_size, Some(11111));
    assert_eq!(rec.receive_maximum, Some(222));
    assert_eq!(rec.session_expiry_interval, Some(555));
    assert_eq!(rec.will_topic.as_deref(), Some("willtopic"));
    assert_eq!((rec.will_qos, rec.will_retain), (Some(0), Some(false)));
    assert!(rec.username_present && rec.password_present);
    // CONNECT 2, will 1, PUBLISH 1, DISCONNECT 1.
    assert_eq!(rec.user_properties, 5);
    assert_eq!(rec.connack_reason, Some("success"));
    assert_eq!(rec.published.len(), 1);
    assert_eq!(
        (
            rec.published[0].topic.as_str(),
            rec.published[0].qos,
            rec.published[0].bytes
        ),
        ("topicX", 1, 16)
    );
    assert_eq!(
        (rec.disconnect_code, rec.disconnect_reason),
        (Some(0), Some("normal disconnection"))
    );
}

/// A 5.0 session built field by field: enhanced authentication, topic
/// aliases, subscription options, reason codes everywhere.
fn v5_session() -> Chunks {
    let c = Connect {
        props: Some(props(&[
            &p_str(0x15, b"SCRAM-SHA-1"),
            &p_str(0x16, b"authdata-client-first"),
            &p_u32(0x11, 3600),
            &p_u16(0x21, 20),
            &p_u32(0x27, 1 << 20),
            &p_user(b"userprop-site", b"userval-ward-3"),
        ])),
        client_id: b"",
        will: Some((props(&[&p_u32(0x18, 30)]), b"ward3/will", b"gone", 2, false)),
        ..Connect::v5()
    };
    let auth = |code: u8, data: &[u8]| {
        let mut b = vec![code];
        b.extend(props(&[&p_str(0x15, b"SCRAM-SHA-1"), &p_str(0x16, data)]));
        pkt(0xF0, &b)
    };
    let alias = |a: u16| Some(props(&[&p_u16(0x23, a), &p_u8(0x01, 1)]));
    vec![
        (true, c.bytes()),
        (false, auth(0x18, b"authdata-server-first")),
        (true, auth(0x18, b"authdata-client-final")),
        (
            false,
            connack(
                true,
                0,
                Some(props(&[
                    &p_str(0x12, b"auto-1234"),
                    &p_u16(0x22, 10),
                    &p_str(0x15, b"SCRAM-SHA-1"),
                ])),
            ),
        ),
        (
            true,
            subscribe(
                1,
                Some(props(&[&[0x0B, 0x07]])),
                &[(b"ward3/#", 0b0010_0101), (b"ward3/cmd", 2)],
            ),
        ),
        (false, suback(1, Some(props(&[])), &[1, 0x87])),
        (
            true,
            publish(false, 1, false, b"ward3/pump/1", 1, alias(4), b"rate=5"),
        ),
        (false, pkt(0x40, &[0, 1])),
        (true, publish(false, 1, false, b"", 2, alias(4), b"rate=6")),
        (false, pkt(0x40, &[0, 2, 0x10])),
        (true, publish(false, 0, false, b"", 0, alias(4), b"x")),
        (
            true,
            publish(false, 2, false, b"ward3/pump/2", 3, Some(props(&[])), b"y"),
        ),
        (false, pkt(0x50, &[0, 3, 0x00, 0])),
        (true, pkt(0x62, &[0, 3])),
        (false, pkt(0x70, &[0, 3, 0x92, 3, 0x1F, 0, 0])),
        (true, unsubscribe(4, Some(props(&[])), &[b"ward3/cmd"])),
        (false, unsuback(4, Some((props(&[]), &[0x11])))),
        (true, pkt(0xE0, &[0x04, 0])),
    ]
}

#[test]
fn a_v5_session_with_enhanced_auth_and_aliases_is_summarised() {
    let r = check(&v5_session());
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    let rec = r.rec;
    assert_eq!(rec.protocol_version, Some(5));
    assert_eq!(rec.client_id.as_deref(), Some(""));
    assert_eq!(rec.assigned_client_id.as_deref(), Some("auto-1234"));
    assert_eq!(rec.auth_method.as_deref(), Some("SCRAM-SHA-1"));
    assert_eq!(rec.session_expiry_interval, Some(3600));
    assert_eq!(rec.receive_maximum, Some(20));
    assert_eq!(rec.maximum_packet_size, Some(1 << 20));
    assert_eq!(rec.user_properties, 1);
    assert!(!rec.username_present && !rec.password_present);
    assert_eq!(rec.will_topic.as_deref(), Some("ward3/will"));
    assert_eq!((rec.will_qos, rec.will_retain), (Some(2), Some(false)));
    assert_eq!(rec.auth_packets, 2);
    assert_eq!(
        (rec.connack_code, rec.connack_reason, rec.session_present),
        (Some(0), Some("success"), Some(true))
    );
    // The alias resolves for the second message; a QoS 0 use makes its own row.
    let rows: Vec<_> = rec
        .published
        .iter()
        .map(|p| (p.topic.as_str(), p.qos, p.count, p.bytes))
        .collect();
    assert_eq!(
        rows,
        [
            ("ward3/pump/1", 1, 2, 12),
            ("ward3/pump/1", 0, 1, 1),
            ("ward3/pump/2", 2, 1, 1)
        ]
    );
    assert_eq!(
        rec.subscribed,
        [
            SubscribeRecord {
                filter: "ward3/#".into(),
                qos: 1,
                granted: Some(1),
                granted_reason: Some("granted QoS 1"),
            },
            SubscribeRecord {
                filter: "ward3/cmd".into(),
                qos: 2,
                granted: Some(0x87),
                granted_reason: Some("not authorized"),
            },
        ]
    );
    assert_eq!(rec.unsubscribed, ["ward3/cmd"]);
    assert_eq!(
        (rec.disconnect_code, rec.disconnect_reason),
        (Some(4), Some("disconnect with will message"))
    );
}

#[test]
fn an_auth_method_first_seen_in_auth_is_kept() {
    let c = Connect::v5();
    let mut b = vec![0x19];
    b.extend(props(&[&p_str(0x15, b"GS2-KRB5")]));
    let r = check(&[
        (true, c.bytes()),
        (true, pkt(0xF0, &b)),
        (false, pkt(0xF0, &[])),
    ]);
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    assert_eq!(r.rec.auth_method.as_deref(), Some("GS2-KRB5"));
    assert_eq!(r.rec.auth_packets, 2);
}

#[test]
fn a_v5_disconnect_without_body_is_normal() {
    let r = check(&[
        (true, Connect::v5().bytes()),
        (false, pkt(0xE0, &[0x8B])),
        (true, DISCONNECT.to_vec()),
    ]);
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    assert_eq!(
        (r.rec.disconnect_code, r.rec.disconnect_reason),
        (Some(0), Some("normal disconnection")),
        "the last DISCONNECT wins"
    );
    let r = check(&[
        (true, Connect::v5().bytes()),
        (false, pkt(0xE0, &[0x8B, 0])),
    ]);
    assert_eq!(r.rec.disconnect_reason, Some("server shutting down"));
}

// ---------------------------------------------------------------- CONNACK

#[test]
fn refused_connacks_are_named_and_auth_failures_flagged() {
    for (code, name, auth) in [
        (1, "unacceptable protocol version", false),
        (2, "identifier rejected", false),
        (3, "server unavailable", false),
        (4, "bad user name or password", true),
        (5, "not authorized", true),
        (9, "unknown", false),
    ] {
        let r = check(&[
            (true, Connect::v311().bytes()),
            (false, connack(false, code, None)),
        ]);
        assert_eq!(
            r.seen,
            [(Anomaly::MqttConnackRefused, Some(name))],
            "{code}"
        );
        assert_eq!(
            (r.rec.connack_code, r.rec.connack_reason),
            (Some(code), Some(name))
        );
        assert_eq!(r.auth_failures, u32::from(auth), "{code}");
    }
    for (code, name, refused, auth) in [
        (0x00, "success", false, false),
        (0x80, "unspecified error", true, false),
        (0x84, "unsupported protocol version", true, false),
        (0x86, "bad user name or password", true, true),
        (0x87, "not authorized", true, true),
        (0x8A, "banned", true, false),
        (0x8C, "bad authentication method", true, true),
        (0x9F, "connection rate exceeded", true, false),
        (0xFE, "unknown", true, false),
    ] {
        let r = check(&[
            (true, Connect::v5().bytes()),
            (false, connack(false, code, Some(props(&[])))),
        ]);
        let expected: Seen = if refused {
            vec![(Anomaly::MqttConnackRefused, Some(name))]
        } else {
            vec![]
        };
        assert_eq!(r.seen, expected, "{code:#x}");
        assert_eq!(r.rec.connack_reason, Some(name));
        assert_eq!(r.auth_failures, u32::from(auth), "{code:#x}");
    }
}

#[test]
fn take_auth_failure_reports_once() {
    let mut m = Session::default();
    m.data(true, &Connect::v311().bytes(), &mut |_, _| {});
    m.data(false, &connack(false, 4, None), &mut |_, _| {});
    assert!(m.take_auth_failure());
    assert!(!m.take_auth_failure());
}

/// suricata-verify mqtt5-sub-customauth: authentication method "foo",
/// refused with 0x8C.
#[test]
fn custom_auth_refused_with_bad_authentication_method() {
    let r = check(&[
        (true, hex("103000044d5154540502003c10150003666f6f1600043132333421001400136d79766f69636569736d7970617373706f7274")),
        (false, hex("2003008c00")),
    ]);
    assert_eq!(
        r.seen,
        [(
            Anomaly::MqttConnackRefused,
            Some("bad authentication method")
        )]
    );
    assert_eq!(r.auth_failures, 1);
    assert_eq!(r.rec.auth_method.as_deref(), Some("foo"));
    assert_eq!(r.rec.receive_maximum, Some(20));
}

/// suricata-verify mqtt5-pub-userpass-auto-clientid: empty client id, the
/// broker assigns one.
#[test]
fn assigned_client_id_is_kept() {
    let r = check(&[
        (true, hex("101c00044d51545405c2003c032100140000000475736572000470617373")),
        (false, hex("203200002f22000a1200296175746f2d36463738434144422d393137362d313946342d423546352d313031373435333737433335")),
        (true, hex("30190006746f7069635800626161626161626c61636b7368656570")),
        (true, hex("e000")),
    ]);
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    assert_eq!(r.rec.client_id.as_deref(), Some(""));
    assert_eq!(
        r.rec.assigned_client_id.as_deref(),
        Some("auto-6F78CADB-9176-19F4-B5F5-101745377C35")
    );
}

// --------------------------------------------------------------- anomalies

/// suricata-verify mqtt5-excessiveproplen: a property length (0xff 0x21 =
/// 4351) past the CONNECT's end. What came before it is kept.
#[test]
fn excessive_property_length_is_malformed() {
    let r = check(&[
        (true, hex("102f00044d51545405c2003cff21001400136d79766f69636569736d7970617373706f7274000475736572000470617373")),
        (false, hex("200600000322000a")),
        (true, hex("30190006746f7069635800626161626161626c61636b7368656570")),
        (true, hex("e000")),
    ]);
    assert_eq!(
        r.seen,
        [(
            Anomaly::MqttMalformedPacket,
            Some("property length past the packet end")
        )]
    );
    let rec = r.rec;
    assert_eq!(rec.protocol_name.as_deref(), Some("MQTT"));
    assert_eq!(rec.protocol_version, Some(5));
    assert_eq!(rec.keep_alive, Some(60));
    assert!(rec.username_present);
    assert_eq!(rec.client_id, None);
    assert_eq!(rec.published[0].topic, "topicX");
    assert_eq!(rec.disconnect_code, Some(0));
}

/// suricata-verify mqtt-events-invalid-qos: PUBLISH 0x36 (QoS 3).
#[test]
fn publish_with_qos_3_is_invalid() {
    let r = check(&[
        (true, hex("102b00044d51545404c2003c00136d79766f69636569736d7970617373706f7274000475736572000470617373")),
        (false, hex("20020000")),
        (true, hex("361a0006746f706963580001626161626161626c61636b7368656570")),
        (true, hex("e000")),
    ]);
    assert_eq!(r.seen, [(Anomaly::MqttInvalidQos, Some("PUBLISH"))]);
    assert_eq!(
        (r.rec.published[0].qos, r.rec.published[0].bytes),
        (3, 16),
        "read with a packet id"
    );
}

/// suricata-verify mqtt-events-unassigned-msgtype: a type 0 packet.
#[test]
fn reserved_packet_types_are_skipped() {
    let connect = hex("102b00044d51545404c2003c00136d79766f69636569736d7970617373706f7274000475736572000470617373");
    let r = check(&[
        (true, connect.clone()),
        (false, hex("20020000")),
        (
            true,
            hex("00180006746f70696358626161626161626c61636b7368656570"),
        ),
        (true, hex("e000")),
    ]);
    assert_eq!(r.seen, [(Anomaly::MqttReservedPacketType, Some("type 0"))]);
    assert_eq!(r.rec.disconnect_code, Some(0), "framing kept");
    assert_eq!(r.rec.packets_toserver, 3);
    // AUTH before 5.0 is reserved; in 5.0 it is AUTH.
    let r = check(&[(true, connect), (true, pkt(0xF0, &[0x18, 0]))]);
    assert_eq!(
        r.seen,
        [(
            Anomaly::MqttReservedPacketType,
            Some("type 15 before MQTT 5.0")
        )]
    );
    assert_eq!(r.rec.auth_packets, 0);
}

#[test]
fn a_first_packet_other_than_connect_is_flagged_unless_midstream() {
    let session = vec![
        (true, subscribe(1, None, &[(b"house/bulbs/bulb1", 1)])),
        (false, suback(1, None, &[1])),
        (
            true,
            publish(false, 2, false, b"house/bulbs/bulb1", 3, None, b"on"),
        ),
    ];
    let r = check(&session);
    assert_eq!(
        r.seen,
        [(Anomaly::MqttPacketBeforeConnect, Some("SUBSCRIBE"))]
    );
    assert_eq!(r.rec.protocol_version, None);
    assert_eq!(r.rec.subscribed[0].granted, Some(1));
    let mid = check_with(&session, true);
    assert!(mid.seen.is_empty(), "{:?}", mid.seen);
    assert_eq!(mid.rec, r.rec);
    // Only the first packet counts; the broker's side does not.
    let r = check(&[
        (false, connack(false, 0, None)),
        (true, Connect::v311().bytes()),
        (true, PINGREQ.to_vec()),
    ]);
    assert!(r.seen.is_empty(), "{:?}", r.seen);
}

#[test]
fn malformed_remaining_length_stops_that_direction() {
    let r = check(&[
        (true, Connect::v311().bytes()),
        (true, vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0]),
        (true, PINGREQ.to_vec()),
        (false, PINGRESP.to_vec()),
    ]);
    assert_eq!(r.seen, [(Anomaly::MqttMalformedRemainingLength, None)]);
    assert_eq!(r.rec.pings, 0, "nothing read after it");
    assert_eq!(r.rec.packets_toclient, 1, "the other direction goes on");
    assert!(!r.dead);
    let r = check(&[
        (true, vec![0x10, 0x80, 0x80, 0x80, 0x80]),
        (false, vec![0x20, 0x80, 0x80, 0x80, 0x80]),
    ]);
    assert!(r.dead);
    assert_eq!(r.rec.packets_toserver, 0, "no header completed");
    // The largest valid remaining length is fine.
    let mut m = Session::default();
    let mut seen = Seen::new();
    m.data(true, &Connect::v311().bytes(), &mut |a, d| {
        seen.push((a, d))
    });
    m.data(
        true,
        &[0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, b't'],
        &mut |a, d| seen.push((a, d)),
    );
    assert!(seen.is_empty(), "{seen:?}");
    // Counted once its last byte is in (here lost, and skipped by count).
    assert_eq!(m.record().published[0].count, 0);
    m.gap(true, 268_435_455 - 3, &mut |a, d| seen.push((a, d)));
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(m.record().published[0].bytes, 268_435_455 - 3);
}

#[test]
fn packets_over_the_hard_cap_are_skipped_by_count() {
    let big_filter = vec![b'a'; 65_535];
    let big_topic = vec![b't'; 65_535];
    let r = check(&[
        (true, Connect::v311().bytes()),
        (true, subscribe(1, None, &[(&big_filter, 0)])),
        (true, publish(false, 0, false, &big_topic, 0, None, b"x")),
        (true, PINGREQ.to_vec()),
    ]);
    assert_eq!(
        r.seen,
        [
            (Anomaly::MqttPacketOverHardCap, Some("SUBSCRIBE")),
            (Anomaly::MqttPacketOverHardCap, Some("PUBLISH")),
        ]
    );
    assert!(r.rec.subscribed.is_empty() && r.rec.published.is_empty());
    assert_eq!((r.rec.pings, r.rec.packets_toserver), (1, 4));
}

#[test]
fn large_payloads_and_connect_tails_are_never_buffered_but_counted() {
    let payload = vec![0x5A; 3 << 20];
    // A CONNECT bigger than the cap (will message and password) is still read.
    let c = Connect {
        will: Some((vec![], b"w", leak(vec![0x77; 65_000]), 0, false)),
        user: Some(b"u"),
        pass: Some(leak(vec![b'p'; 10_000])),
        ..Connect::v311()
    };
    assert!(c.bytes().len() > MAX_PACKET as usize);
    let session = vec![
        (true, c.bytes()),
        (false, connack(false, 0, None)),
        (
            true,
            publish(false, 1, false, b"imaging/dose", 1, None, &payload),
        ),
        (
            true,
            publish(false, 1, false, b"imaging/dose", 2, None, &payload),
        ),
    ];
    let mut m = Session::default();
    let mut seen = Seen::new();
    for (d, b) in &session {
        // MTU-sized pieces, as TCP delivers them.
        for piece in b.chunks(1448) {
            m.data(*d, piece, &mut |a, x| seen.push((a, x)));
        }
    }
    assert!(seen.is_empty(), "{seen:?}");
    let rec = m.take_record();
    assert_eq!(rec.client_id.as_deref(), Some("infusion-pump-7"));
    assert!(rec.username_present && rec.password_present);
    assert_eq!(rec.published[0].count, 2);
    assert_eq!(rec.published[0].bytes, 2 * payload.len() as u64);
}

#[test]
fn wildcard_subscriptions_and_system_topics_are_flagged() {
    let r = check(&[
        (true, Connect::v311().bytes()),
        (
            true,
            subscribe(
                1,
                None,
                &[(b"#", 0), (b"$SYS/#", 0), (b"a/#", 0), (b"+/#", 1)],
            ),
        ),
        (
            true,
            publish(false, 0, false, b"$SYS/broker/uptime", 0, None, b""),
        ),
        (
            false,
            publish(false, 0, false, b"$SYS/broker/uptime", 0, None, b"5"),
        ),
    ]);
    assert_eq!(
        r.seen,
        [
            (Anomaly::MqttWildcardSubscription, Some("#")),
            (Anomaly::MqttWildcardSubscription, Some("$SYS/#")),
            (Anomaly::MqttPublishToSystemTopic, None),
        ]
    );
    assert_eq!(r.rec.subscribed.len(), 4);
}

#[test]
fn invalid_qos_in_will_and_subscription() {
    let c = Connect {
        will: Some((vec![], b"w", b"m", 3, false)),
        ..Connect::v311()
    };
    let r = check(&[(true, c.bytes()), (true, subscribe(1, None, &[(b"a", 3)]))]);
    assert_eq!(
        r.seen,
        [
            (Anomaly::MqttInvalidQos, Some("will")),
            (Anomaly::MqttInvalidQos, Some("subscription")),
        ]
    );
    assert_eq!(r.rec.will_qos, Some(3));
    assert_eq!(r.rec.subscribed[0].qos, 3);
}

#[test]
fn wrong_fixed_header_flags_are_malformed() {
    let mut sub = subscribe(1, None, &[(b"a", 0)]);
    sub[0] = 0x80;
    let mut unsub = unsubscribe(2, None, &[b"a"]);
    unsub[0] = 0xA0;
    let mut rel = ack(packet_type::PUBREL, 3);
    rel[0] = 0x60;
    let r = check(&[
        (true, Connect::v311().bytes()),
        (true, sub),
        (true, unsub),
        (true, rel),
    ]);
    let why = Some("fixed header flags are not 0010");
    assert_eq!(r.seen, vec![(Anomaly::MqttMalformedPacket, why); 3]);
    assert_eq!(r.rec.subscribed.len(), 1, "still read");
    assert_eq!(r.rec.unsubscribed.len(), 1);
}

#[test]
fn lying_lengths_are_malformed_and_framing_survives() {
    let m = |why| (Anomaly::MqttMalformedPacket, Some(why));
    // Client id length past the end.
    let mut c = Connect::v311().bytes();
    c[12] = 0xff;
    let r = check(&[(true, c), (true, PINGREQ.to_vec())]);
    assert_eq!(r.seen, [m("CONNECT field past the packet end")]);
    assert_eq!(r.rec.protocol_version, Some(4));
    assert_eq!(r.rec.client_id, None);
    assert_eq!(r.rec.pings, 1);
    // User name flag set, no user name: a tail field past the end.
    let mut body = Connect::v311().bytes()[2..].to_vec();
    body[7] |= 0x80;
    let r = check(&[(true, pkt(0x10, &body)), (true, PINGREQ.to_vec())]);
    assert_eq!(r.seen, [m("CONNECT field past the packet end")]);
    assert_eq!(r.rec.client_id.as_deref(), Some("infusion-pump-7"));
    assert_eq!(r.rec.pings, 1);
    // A password whose length runs past the end.
    let c = Connect {
        pass: Some(b"pw"),
        ..Connect::v311()
    };
    let mut b = c.bytes();
    let n = b.len();
    b[n - 3] = 9;
    let r = check(&[(true, b), (true, PINGREQ.to_vec())]);
    assert_eq!(r.seen, [m("CONNECT field past the packet end")]);
    assert_eq!(r.rec.pings, 1);
    let mut body = vec![0, 1];
    body.extend(s(b"a"));
    body.push(1);
    body.extend(s(b"b"));
    let r = check(&[
        (true, Connect::v311().bytes()),
        (true, pkt(0x82, &body)),
        (true, pkt(0x82, &[0, 1])),
        (true, pkt(0xA2, &[0, 1, 0, 5, b'a'])),
        (true, pkt(0x30, &[0, 9, b'a'])),
        (true, pkt(0x30, &[0, 0])),
        (true, pkt(0x40, &[0])),
        (false, pkt(0x20, &[0])),
        (false, pkt(0x90, &[0, 1])),
        (true, PINGREQ.to_vec()),
    ]);
    assert_eq!(
        r.seen,
        [
            m("subscription options missing"),
            m("SUBSCRIBE without a topic filter"),
            m("UNSUBSCRIBE filter past the packet end"),
            m("PUBLISH field past the packet end"),
            m("empty topic name"),
            m("packet identifier missing"),
            m("CONNACK shorter than 2 bytes"),
            m("SUBACK without a return code"),
        ]
    );
    assert_eq!(r.rec.pings, 1);
    assert_eq!(
        r.rec.subscribed.len(),
        1,
        "the filter before the cut is kept"
    );
}

#[test]
fn bad_properties_are_malformed_but_the_packet_is_read() {
    let r = check(&[
        (true, Connect::v5().bytes()),
        (
            true,
            publish(false, 0, false, b"t", 0, Some(props(&[&[0x7F, 1]])), b"p"),
        ),
        (
            true,
            publish(false, 0, false, b"u", 0, Some(props(&[&[0x11, 1]])), b"p"),
        ),
        (
            true,
            publish(
                false,
                0,
                false,
                b"v",
                0,
                Some(vec![0x80, 0x80, 0x80, 0x80]),
                b"p",
            ),
        ),
    ]);
    assert_eq!(
        r.seen,
        [
            (
                Anomaly::MqttMalformedPacket,
                Some("unknown property identifier")
            ),
            (
                Anomaly::MqttMalformedPacket,
                Some("property value past the property block")
            ),
            (
                Anomaly::MqttMalformedPacket,
                Some("variable byte integer longer than 4 bytes")
            ),
        ]
    );
    let topics: Vec<_> = r.rec.published.iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(topics, ["t", "u"]);
}

#[test]
fn reserved_and_will_flags_in_connect_are_malformed() {
    let mut b = Connect::v311().bytes();
    b[9] |= 0x01;
    let r = check(&[(true, b)]);
    assert_eq!(
        r.seen,
        [(
            Anomaly::MqttMalformedPacket,
            Some("reserved connect flag set")
        )]
    );
    let mut b = Connect::v311().bytes();
    b[9] |= 0x28; // will QoS 1 and retain, no will
    let r = check(&[(true, b)]);
    assert_eq!(
        r.seen,
        [(
            Anomaly::MqttMalformedPacket,
            Some("will QoS or retain without a will")
        )]
    );
    assert_eq!(r.rec.will_qos, None);
}

#[test]
fn packets_from_the_wrong_side_are_flagged_and_not_recorded() {
    let r = check(&[
        (true, Connect::v311().bytes()),
        (true, connack(false, 5, None)),
        (false, Connect::v311().bytes()),
        (false, subscribe(1, None, &[(b"#", 0)])),
        (false, PINGREQ.to_vec()),
        (false, DISCONNECT.to_vec()),
        (true, PINGRESP.to_vec()),
    ]);
    assert_eq!(
        kinds(&r.seen),
        vec![Anomaly::MqttMalformedPacket; 6],
        "{:?}",
        r.seen
    );
    assert_eq!(
        (r.rec.connack_code, r.rec.pings, r.rec.disconnect_code),
        (None, 0, None)
    );
    assert!(r.rec.subscribed.is_empty());
    assert_eq!(r.auth_failures, 0);
}

#[test]
fn a_second_connect_does_not_overwrite_the_first() {
    let other = Connect {
        client_id: b"intruder",
        ..Connect::v5()
    };
    let r = check(&[(true, Connect::v311().bytes()), (true, other.bytes())]);
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    assert_eq!(r.rec.client_id.as_deref(), Some("infusion-pump-7"));
    assert_eq!(r.rec.protocol_version, Some(4));
    assert_eq!(r.rec.packets_toserver, 2);
}

// -------------------------------------------------------------------- gaps

#[test]
fn a_gap_inside_a_payload_is_skipped_but_a_gap_in_framing_stops_parsing() {
    let payload = vec![7u8; 5000];
    let p = publish(false, 1, false, b"lab/analyzer", 9, None, &payload);
    let mut m = Session::default();
    let mut seen = Seen::new();
    m.data(true, &Connect::v311().bytes(), &mut |a, d| {
        seen.push((a, d))
    });
    m.data(true, &p[..1000], &mut |a, d| seen.push((a, d)));
    m.gap(true, 3000, &mut |a, d| seen.push((a, d)));
    m.data(true, &p[4000..], &mut |a, d| seen.push((a, d)));
    m.data(true, &PINGREQ, &mut |a, d| seen.push((a, d)));
    assert!(seen.is_empty(), "{seen:?}");
    let rec = m.record();
    assert_eq!((rec.published[0].bytes, rec.pings), (5000, 1));
    // A gap running past the payload's end loses framing.
    m.data(true, &p[..1000], &mut |a, d| seen.push((a, d)));
    m.gap(true, 5000, &mut |a, d| seen.push((a, d)));
    m.data(true, &PINGREQ, &mut |a, d| seen.push((a, d)));
    assert_eq!(seen, [(Anomaly::MqttLostSync, None)]);
    assert_eq!(m.record().pings, 1);
    assert!(!m.is_dead());
    m.data(false, &connack(false, 0, None), &mut |a, d| {
        seen.push((a, d))
    });
    m.gap(false, 1, &mut |a, d| seen.push((a, d)));
    assert!(m.is_dead());
    // Later data and gaps in a dead direction do nothing.
    m.gap(true, 1, &mut |a, d| seen.push((a, d)));
    m.data(true, &PINGREQ, &mut |a, d| seen.push((a, d)));
    assert_eq!(seen.len(), 2);
    assert_eq!(m.record().pings, 1);
}

/// suricata-verify mqtt-events-missing-connect, first session: the client's
/// CONNECT (16 bytes) is not in the capture. A gap before a direction's
/// first byte is a mid-stream start, not lost framing.
#[test]
fn a_gap_before_the_first_byte_is_a_midstream_start() {
    let client = [
        "821600010011686f7573652f62756c62732f62756c623101",
        "82140002000f686f7573652f62756c62732f62617202",
        "34180011686f7573652f62756c62732f62756c623100034f4646",
        "34160010686f7573652f62756c62732f666f6f3200044f4e",
        "62020003",
        "62020004",
        "40020001",
        "e000",
    ];
    let broker = [
        "20020000",
        "9003000101",
        "9003000202",
        "50020003",
        "50020004",
        "70020003",
        "32180011686f7573652f62756c62732f62756c623100014f4646",
        "70020004",
    ];
    let mut m = Session::default();
    let mut seen = Seen::new();
    m.gap(true, 0, &mut |a, d| seen.push((a, d)));
    m.gap(true, 16, &mut |a, d| seen.push((a, d)));
    m.gap(true, 5, &mut |a, d| seen.push((a, d)));
    for (c, b) in client.iter().zip(broker) {
        m.data(false, &hex(b), &mut |a, d| seen.push((a, d)));
        m.data(true, &hex(c), &mut |a, d| seen.push((a, d)));
    }
    assert!(seen.is_empty(), "{seen:?}");
    let rec = m.take_record();
    assert_eq!(rec.protocol_version, None);
    assert_eq!(rec.connack_code, Some(0));
    let subs: Vec<_> = rec
        .subscribed
        .iter()
        .map(|s| (s.filter.as_str(), s.granted))
        .collect();
    assert_eq!(
        subs,
        [("house/bulbs/bulb1", Some(1)), ("house/bulbs/bar", Some(2))]
    );
    assert_eq!(rec.published.len(), 3);
    assert_eq!((rec.packets_toserver, rec.packets_toclient), (8, 8));
    assert_eq!(rec.disconnect_code, Some(0));
}

#[test]
fn a_gap_inside_a_connect_password_is_skipped() {
    let c = Connect {
        user: Some(b"u"),
        pass: Some(b"0123456789"),
        ..Connect::v311()
    };
    let b = c.bytes();
    let n = b.len();
    let mut m = Session::default();
    let mut seen = Seen::new();
    m.data(true, &b[..n - 8], &mut |a, d| seen.push((a, d)));
    m.gap(true, 5, &mut |a, d| seen.push((a, d)));
    m.data(true, &b[n - 3..], &mut |a, d| seen.push((a, d)));
    m.data(true, &PINGREQ, &mut |a, d| seen.push((a, d)));
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(m.record().pings, 1);
}

// -------------------------------------------------------------------- caps

#[test]
fn lists_are_capped_and_overflow_is_counted() {
    let mut session = vec![(true, Connect::v311().bytes())];
    for i in 0..MAX_PUBLISHED + 10 {
        let t = format!("dev/{i}");
        session.push((true, publish(false, 0, false, t.as_bytes(), 0, None, b"x")));
    }
    // A kept topic still aggregates once the list is full.
    session.push((true, publish(false, 0, false, b"dev/0", 0, None, b"yy")));
    let filters: Vec<String> = (0..MAX_SUBSCRIBED + 5).map(|i| format!("f/{i}")).collect();
    let pairs: Vec<(&[u8], u8)> = filters.iter().map(|f| (f.as_bytes(), 1)).collect();
    session.push((true, subscribe(1, None, &pairs)));
    session.push((false, suback(1, None, &vec![1; pairs.len()])));
    let unsubs: Vec<&[u8]> = filters
        .iter()
        .take(MAX_UNSUBSCRIBED + 3)
        .map(|f| f.as_bytes())
        .collect();
    session.push((true, unsubscribe(2, None, &unsubs)));
    let r = check(&session);
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    let rec = r.rec;
    assert_eq!(rec.published.len(), MAX_PUBLISHED);
    assert_eq!((rec.published[0].count, rec.published[0].bytes), (2, 3));
    assert_eq!(rec.subscribed.len(), MAX_SUBSCRIBED);
    assert!(rec.subscribed.iter().all(|s| s.granted == Some(1)));
    assert_eq!(rec.unsubscribed.len(), MAX_UNSUBSCRIBED);
    assert_eq!(rec.topics_dropped, 10 + 5 + 3);
}

#[test]
fn long_strings_are_clipped() {
    let long = vec![b'x'; 1000];
    let c = Connect {
        client_id: leak(long.clone()),
        ..Connect::v311()
    };
    let r = check(&[
        (true, c.bytes()),
        (true, publish(false, 0, false, &long, 0, None, b"")),
        (true, publish(false, 0, false, &long, 0, None, b"")),
    ]);
    assert_eq!(r.rec.client_id.as_ref().map(String::len), Some(MAX_STRING));
    assert_eq!(r.rec.published.len(), 1);
    assert_eq!(r.rec.published[0].topic.len(), MAX_STRING);
    assert_eq!(r.rec.published[0].count, 2);
}

#[test]
fn invalid_utf8_is_kept_reversibly_and_aggregates() {
    let r = check(&[
        (true, Connect::v311().bytes()),
        (true, publish(false, 0, false, b"bed\xff1", 0, None, b"")),
        (true, publish(false, 0, false, b"bed\xff1", 0, None, b"")),
    ]);
    assert!(r.seen.is_empty());
    assert_eq!(r.rec.published[0].topic, "bed\\xff1");
    assert_eq!(r.rec.published[0].count, 2);
}

/// Topics are found through a hash of their kept form: raw topics that
/// keep the same (clipped, escaped) text share a row, others never do, and
/// rows stay in first-seen order.
#[test]
fn topics_aggregate_by_their_kept_text() {
    let mut a = vec![b'x'; 300];
    let mut b = a.clone();
    a.extend(b"/a");
    b.extend(b"/b"); // differs from `a` past MAX_STRING: the same kept topic
    let topics: [&[u8]; 9] = [
        &a,
        b"bed\\x41",    // a backslash before "x41" is kept as "\x5c"...
        b"bed\\x5cx41", // ...so this one is a different topic
        b"bed\xff",
        b"bed\\xff", // the text "\xff", not the byte
        b"bed\\",
        &b,
        b"bed",
        b"bed\xfe",
    ];
    let mut session = vec![(true, Connect::v311().bytes())];
    for round in 0..3 {
        for t in topics {
            session.push((true, publish(false, 0, false, t, 0, None, &[round])));
        }
    }
    // The same topic from the broker, or with another QoS, is another row.
    session.push((false, publish(false, 0, false, b"bed", 0, None, b"")));
    session.push((true, publish(false, 1, false, b"bed", 7, None, b"")));
    let r = check(&session);
    let rows: Vec<_> = r
        .rec
        .published
        .iter()
        .map(|p| (p.to_server, p.topic.as_str(), p.qos, p.count))
        .collect();
    let long = "x".repeat(MAX_STRING);
    assert_eq!(
        rows,
        [
            (true, long.as_str(), 0, 6),
            (true, "bed\\x5cx41", 0, 3),
            (true, "bed\\x5cx5cx41", 0, 3),
            (true, "bed\\xff", 0, 3),
            (true, "bed\\x5cxff", 0, 3),
            (true, "bed\\", 0, 3),
            (true, "bed", 0, 3),
            (true, "bed\\xfe", 0, 3),
            (false, "bed", 0, 1),
            (true, "bed", 1, 1),
        ]
    );
}

/// A PUBLISH cut off by the end of the flow (the capture stopped inside
/// it: in its fixed header, topic or payload) is flagged and not counted;
/// a topic row only it opened is not kept. The cut is found wherever TCP
/// split the bytes before it.
#[test]
fn a_publish_cut_by_the_end_of_the_flow_is_flagged_not_counted() {
    let whole = publish(false, 1, false, b"icu/bed09/nibp", 1, None, &[1; 200]);
    let new_topic = publish(
        false,
        1,
        false,
        b"icu/bed09/waveform/ecg",
        2,
        None,
        &[2; 3900],
    );
    let kept_topic = publish(true, 1, false, b"icu/bed09/nibp", 3, None, &[3; 3900]);
    for last in [&new_topic, &kept_topic] {
        for at in 1..last.len() {
            // Whole pieces, and byte by byte at a stride of cut points.
            let modes: &[bool] = if at % 97 == 1 {
                &[false, true]
            } else {
                &[false]
            };
            for &bytewise in modes {
                let mut m = Session::default();
                let mut seen = Seen::new();
                let mut feed = |m: &mut Session, b: &[u8]| {
                    let pieces: Vec<&[u8]> = if bytewise {
                        b.chunks(1).collect()
                    } else {
                        vec![b]
                    };
                    for p in pieces {
                        m.data(true, p, &mut |a, d| seen.push((a, d)));
                    }
                };
                feed(&mut m, &Connect::v311().bytes());
                feed(&mut m, &whole);
                feed(&mut m, &last[..at]);
                m.data(false, &connack(false, 0, None), &mut |_, _| {});
                m.finish(&mut |a, d| seen.push((a, d)));
                assert_eq!(
                    seen,
                    [(Anomaly::MqttTruncatedPacket, Some("PUBLISH"))],
                    "cut at {at}"
                );
                // Reported once.
                m.finish(&mut |a, d| seen.push((a, d)));
                assert_eq!(seen.len(), 1);
                let rec = m.take_record();
                // Its fixed header (3 bytes) counts as read once complete.
                assert_eq!(rec.packets_toserver, 2 + u64::from(at >= 3), "cut at {at}");
                assert_eq!(rec.published.len(), 1, "cut at {at}");
                let p = &rec.published[0];
                assert_eq!((p.count, p.bytes, p.dup), (1, 200, 0), "cut at {at}");
                assert_eq!(rec.topics_dropped, 0);
            }
        }
    }
    // The same session whole: nothing to report, both counted.
    let mut m = Session::default();
    let mut seen = Seen::new();
    for b in [Connect::v311().bytes(), whole, kept_topic] {
        m.data(true, &b, &mut |a, d| seen.push((a, d)));
    }
    m.finish(&mut |a, d| seen.push((a, d)));
    assert!(seen.is_empty(), "{seen:?}");
    let p = &m.take_record().published[0];
    assert_eq!((p.count, p.bytes, p.dup), (2, 4100, 1));
}

/// Other packets cut by the end of the flow are flagged too, with their
/// type; a direction that lost framing reports nothing more.
#[test]
fn any_packet_cut_by_the_end_of_the_flow_is_flagged() {
    let sub = subscribe(1, None, &[(b"icu/#", 1)]);
    let mut m = Session::default();
    let mut seen = Seen::new();
    m.data(true, &Connect::v311().bytes(), &mut |a, d| {
        seen.push((a, d))
    });
    m.data(true, &sub[..sub.len() - 1], &mut |a, d| seen.push((a, d)));
    m.data(false, &[0x20], &mut |a, d| seen.push((a, d))); // a CONNACK's first byte
    m.finish(&mut |a, d| seen.push((a, d)));
    assert_eq!(
        seen,
        [
            (Anomaly::MqttTruncatedPacket, Some("SUBSCRIBE")),
            (Anomaly::MqttTruncatedPacket, Some("CONNACK")),
        ]
    );
    assert!(m.take_record().subscribed.is_empty());
    let mut m = Session::default();
    let mut seen = Seen::new();
    m.data(true, &Connect::v311().bytes(), &mut |a, d| {
        seen.push((a, d))
    });
    m.data(true, &sub[..3], &mut |a, d| seen.push((a, d)));
    m.gap(true, 100, &mut |a, d| seen.push((a, d)));
    m.finish(&mut |a, d| seen.push((a, d)));
    assert_eq!(seen, [(Anomaly::MqttLostSync, None)]);
}

#[test]
fn resubscribing_updates_the_filter_and_suback_matches_by_packet_id() {
    let r = check(&[
        (true, Connect::v311().bytes()),
        (true, subscribe(1, None, &[(b"a", 0), (b"b", 1)])),
        (true, subscribe(2, None, &[(b"c", 2)])),
        (false, suback(2, None, &[2])),
        (true, subscribe(3, None, &[(b"a", 2)])),
        (false, suback(1, None, &[0, 1])),
        (false, suback(3, None, &[0x80])),
        (false, suback(9, None, &[0])),
    ]);
    assert!(r.seen.is_empty(), "{:?}", r.seen);
    let subs: Vec<_> = r
        .rec
        .subscribed
        .iter()
        .map(|s| (s.filter.as_str(), s.qos, s.granted))
        .collect();
    assert_eq!(
        subs,
        [("a", 2, Some(0x80)), ("b", 1, Some(1)), ("c", 2, Some(2))]
    );
}

// ------------------------------------------------------------------- reuse

#[test]
fn reset_and_take_record_leave_a_clean_session() {
    let mut m = Session::default();
    let mut seen = 0;
    // Leave a packet half-buffered in each direction, and a midstream flag.
    m.set_midstream();
    for (d, b) in session_311(4) {
        m.data(d, &b, &mut |_, _| seen += 1);
    }
    m.data(true, &Connect::v311().bytes()[..10], &mut |_, _| seen += 1);
    m.data(false, &[0x90], &mut |_, _| seen += 1);
    m.gap(false, 1, &mut |_, _| seen += 1);
    let first = m.take_record();
    assert_eq!(m.take_record(), SessionRecord::default());
    assert_ne!(first, SessionRecord::default());
    m.reset();
    let fresh = run_pieces(&v5_session(), false, &|_| vec![]);
    let mut seen = Seen::new();
    for (d, b) in v5_session() {
        m.data(d, &b, &mut |a, x| seen.push((a, x)));
    }
    assert_eq!(seen, fresh.seen);
    assert_eq!(m.take_record(), fresh.rec);
    assert!(!m.is_dead());
    // And after a reset a session that does not start with CONNECT is
    // flagged again (the midstream flag was cleared).
    m.reset();
    let mut seen = Seen::new();
    m.data(true, &PINGREQ, &mut |a, x| seen.push((a, x)));
    assert_eq!(seen, [(Anomaly::MqttPacketBeforeConnect, Some("PINGREQ"))]);
}

// ------------------------------------------------------------ probe, names

#[test]
fn probe_accepts_connects_only() {
    for c in [Connect::v311(), Connect::v5(), Connect::v31()] {
        let b = c.bytes();
        assert_eq!(probe(&b), Some(true));
        assert_eq!(probe(&b[..PROBE_LEN.min(b.len())]), Some(true));
        for n in 0..6 {
            assert_eq!(probe(&b[..n]), None, "{n}");
        }
    }
    // A 2-byte remaining length and a bridge's protocol level.
    let mut bridge = Connect {
        client_id: leak(vec![b'c'; 200]),
        ..Connect::v311()
    }
    .bytes();
    assert_eq!(bridge[1] & 0x80, 0x80);
    bridge[9] = 0x84;
    assert_eq!(probe(&bridge), Some(true));
    assert_eq!(probe(b"GET / HTTP/1.1\r\n"), Some(false));
    assert_eq!(probe(&[0x16, 3, 1]), Some(false));
    assert_eq!(probe(&[0x10, 0x80, 0x80, 0x80, 0x80]), Some(false));
    assert_eq!(
        probe(&[0x10, 5, 0, 4]),
        Some(false),
        "too short for a CONNECT"
    );
    let mut v = Connect::v311().bytes();
    v[8] = 6; // "MQTT" level 6
    assert_eq!(probe(&v), Some(false));
    let mut v = Connect::v31().bytes();
    v[10] = 4; // "MQIsdp" level 4
    assert_eq!(probe(&v), Some(false));
    let mut v = Connect::v311().bytes();
    v[5] = b'X';
    assert_eq!(
        probe(&v[..6]),
        Some(false),
        "decided as soon as a byte differs"
    );
    assert_eq!(probe(&[0x12]), Some(false), "CONNECT flags must be 0");
}

#[test]
fn reason_code_names() {
    assert_eq!(connack_reason_name(4, 0), "connection accepted");
    assert_eq!(connack_reason_name(3, 5), "not authorized");
    assert_eq!(connack_reason_name(5, 0x86), "bad user name or password");
    assert_eq!(connack_reason_name(5, 0), "success");
    assert_eq!(connack_reason_name(4, 0x86), "unknown");
    assert_eq!(
        reason_code_name(packet_type::DISCONNECT, 0),
        "normal disconnection"
    );
    assert_eq!(reason_code_name(packet_type::SUBACK, 0), "granted QoS 0");
    assert_eq!(
        reason_code_name(packet_type::PUBACK, 0x10),
        "no matching subscribers"
    );
    assert_eq!(
        reason_code_name(packet_type::AUTH, 0x18),
        "continue authentication"
    );
    assert_eq!(
        reason_code_name(packet_type::DISCONNECT, 0xA2),
        "wildcard subscriptions not supported"
    );
    assert_eq!(reason_code_name(packet_type::PUBACK, 0x03), "unknown");
    assert_eq!(suback_code_name(4, 0x80), "failure");
    assert_eq!(suback_code_name(5, 0x80), "unspecified error");
    assert_eq!(packet_type_name(15), "AUTH");
    assert_eq!(packet_type_name(16), "unknown");
}

// --------------------------------------------------------------- proptests

/// One step of a generated session.
#[derive(Clone, Debug)]
enum Op {
    Publish {
        to_server: bool,
        topic: u8,
        qos: u8,
        retain: bool,
        dup: bool,
        len: usize,
        alias: bool,
    },
    Subscribe(Vec<(u8, u8)>),
    Unsubscribe(Vec<u8>),
    Ping,
    Auth,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), 0u8..6, 0u8..3, any::<bool>(), any::<bool>(), 0usize..3000, any::<bool>())
            .prop_map(|(to_server, topic, qos, retain, dup, len, alias)| Op::Publish {
                to_server, topic, qos, retain, dup, len, alias
            }),
        1 => proptest::collection::vec((0u8..8, 0u8..3), 1..4).prop_map(Op::Subscribe),
        1 => proptest::collection::vec(0u8..8, 1..3).prop_map(Op::Unsubscribe),
        1 => Just(Op::Ping),
        1 => Just(Op::Auth),
    ]
}

/// A valid session of protocol level `level` from generated steps.
fn generated(level: u8, ops: &[Op]) -> Chunks {
    let v5 = level == 5;
    let p5 = |items: &[&[u8]]| v5.then(|| props(items));
    let c = match level {
        3 => Connect::v31(),
        4 => Connect::v311(),
        _ => Connect {
            props: Some(props(&[&p_user(b"k", b"v"), &p_u16(0x21, 10)])),
            ..Connect::v5()
        },
    };
    let mut out = vec![(true, c.bytes()), (false, connack(false, 0, p5(&[])))];
    let mut id = 1u16;
    for op in ops {
        id = id.wrapping_add(1).max(1);
        match op {
            Op::Publish {
                to_server,
                topic,
                qos,
                retain,
                dup,
                len,
                alias,
            } => {
                let name = format!("ward/{topic}/vitals");
                let props = if v5 && *alias {
                    Some(props(&[&p_u16(0x23, u16::from(*topic) + 1)]))
                } else {
                    p5(&[])
                };
                // Every other aliased message leaves the topic out.
                let topic_bytes = if v5 && *alias && id.is_multiple_of(2) {
                    ""
                } else {
                    name.as_str()
                };
                out.push((
                    *to_server,
                    publish(
                        *dup && *qos > 0,
                        *qos,
                        *retain,
                        topic_bytes.as_bytes(),
                        id,
                        props,
                        &vec![0xEE; *len],
                    ),
                ));
                if *qos > 0 {
                    out.push((
                        !*to_server,
                        ack(
                            if *qos == 1 {
                                packet_type::PUBACK
                            } else {
                                packet_type::PUBREC
                            },
                            id,
                        ),
                    ));
                }
            }
            Op::Subscribe(filters) => {
                let names: Vec<String> =
                    filters.iter().map(|(f, _)| format!("ward/{f}/#")).collect();
                let pairs: Vec<(&[u8], u8)> = names
                    .iter()
                    .zip(filters)
                    .map(|(n, (_, q))| (n.as_bytes(), *q))
                    .collect();
                out.push((true, subscribe(id, p5(&[]), &pairs)));
                let codes: Vec<u8> = filters.iter().map(|(_, q)| *q).collect();
                out.push((false, suback(id, p5(&[]), &codes)));
            }
            Op::Unsubscribe(filters) => {
                let names: Vec<String> = filters.iter().map(|f| format!("ward/{f}/#")).collect();
                let list: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
                out.push((true, unsubscribe(id, p5(&[]), &list)));
                let codes = vec![0; list.len()];
                out.push((false, unsuback(id, p5(&[]).map(|p| (p, &codes[..])))));
            }
            Op::Ping => {
                out.push((true, PINGREQ.to_vec()));
                out.push((false, PINGRESP.to_vec()));
            }
            Op::Auth if v5 => out.push((true, pkt(0xF0, &[0x19, 0]))),
            Op::Auth => {}
        }
    }
    out.push((true, DISCONNECT.to_vec()));
    out
}

/// Every test session above, for mutation and split properties.
fn all_sessions() -> Vec<Chunks> {
    vec![
        session_311(4),
        session_311(3),
        mosquittoprops(),
        v5_session(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20),
        gaps in proptest::collection::vec(0u32..5000, 0..3),
    ) {
        let mut m = Session::default();
        for (i, (dir, bytes)) in chunks.iter().enumerate() {
            m.data(*dir, bytes, &mut |_, _| {});
            if let Some(g) = gaps.get(i) {
                m.gap(*dir, *g, &mut |_, _| {});
            }
        }
        let _ = m.take_record();
    }

    #[test]
    fn arbitrary_bytes_after_a_v5_connect_never_panic(
        chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20),
    ) {
        let mut m = Session::default();
        m.data(true, &Connect::v5().bytes(), &mut |_, _| {});
        for (dir, bytes) in &chunks {
            m.data(*dir, bytes, &mut |_, _| {});
        }
        let _ = m.take_record();
    }

    #[test]
    fn mutated_sessions_never_panic_and_splits_agree(
        which in 0usize..4, pos in 0usize..4000, byte in any::<u8>(), split in 0usize..400,
    ) {
        let mut session = all_sessions().swap_remove(which);
        let total: usize = session.iter().map(|s| s.1.len()).sum();
        let mut p = pos % total;
        for s in &mut session {
            if p < s.1.len() { s.1[p] = byte; break; }
            p -= s.1.len();
        }
        let whole = run_pieces(&session, false, &|_| vec![]);
        let cut = run_pieces(&session, false, &|_| vec![split]);
        prop_assert_eq!(whole.rec, cut.rec);
        prop_assert_eq!(whole.seen, cut.seen);
    }

    #[test]
    fn random_splits_match_whole(which in 0usize..4, cuts in proptest::collection::vec(1usize..64, 1..40)) {
        let session = all_sessions().swap_remove(which);
        let whole = run_pieces(&session, false, &|_| vec![]);
        let split = run_pieces(&session, false, &|len| {
            let mut v = Vec::new();
            let (mut at, mut i) = (0, 0);
            while at < len {
                v.push(cuts[i % cuts.len()]);
                at += cuts[i % cuts.len()];
                i += 1;
            }
            v
        });
        prop_assert_eq!(whole.rec, split.rec);
        prop_assert_eq!(whole.seen, split.seen);
    }

    #[test]
    fn generated_sessions_split_anywhere_match_whole(
        level in 3u8..6,
        ops in proptest::collection::vec(op(), 0..30),
        cuts in proptest::collection::vec(1usize..700, 1..20),
    ) {
        let session = generated(level, &ops);
        let whole = run_pieces(&session, false, &|_| vec![]);
        prop_assert!(whole.seen.is_empty(), "{:?}", whole.seen);
        let messages = ops.iter().filter(|o| matches!(o, Op::Publish { .. })).count() as u64;
        prop_assert_eq!(whole.rec.published.iter().map(|p| p.count).sum::<u64>(), messages);
        // The streams as one byte sequence per direction, cut anywhere.
        let mut split = Session::default();
        let mut seen = Seen::new();
        let mut i = 0;
        for (d, b) in &session {
            let mut rest = &b[..];
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                i += 1;
                split.data(*d, &rest[..n], &mut |a, x| seen.push((a, x)));
                rest = &rest[n..];
            }
        }
        prop_assert_eq!(split.take_record(), whole.rec);
        prop_assert_eq!(seen, whole.seen);
    }

    #[test]
    fn random_gaps_never_panic(
        which in 0usize..4,
        gaps in proptest::collection::vec((0usize..20, 0usize..300, 0u32..100_000), 0..6),
    ) {
        let session = all_sessions().swap_remove(which);
        let mut m = Session::default();
        for (i, (d, b)) in session.iter().enumerate() {
            match gaps.iter().find(|g| g.0 == i) {
                Some(&(_, at, len)) => {
                    let at = at.min(b.len());
                    m.data(*d, &b[..at], &mut |_, _| {});
                    m.gap(*d, len, &mut |_, _| {});
                    m.data(*d, &b[at..], &mut |_, _| {});
                }
                None => m.data(*d, b, &mut |_, _| {}),
            }
        }
        let _ = m.take_record();
    }
}
