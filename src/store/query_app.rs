//! Queries behind `medtap hl7` and `medtap mqtt`: one row per HL7 message
//! and one per MQTT session, joined with their flows.

use super::query::{AppFilter, SessionFlow, Where, SESSION_FLOW_COLUMNS};
use crate::time::rfc3339;
use rusqlite::{params_from_iter, Connection};
use serde::Serialize;

/// One HL7 message, as `medtap hl7 --json` prints it. Addresses are the
/// message's own: `src` sent it (the connection's server for a reply).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Hl7Row {
    /// The flow carrying it.
    pub flow_id: u64,
    /// Community ID of that flow.
    pub community_id: Option<String>,
    /// RFC 3339 time its frame ended.
    pub ts: String,
    /// Sender address.
    pub src_ip: String,
    /// Sender port.
    pub src_port: u16,
    /// Receiver address.
    pub dest_ip: String,
    /// Receiver port.
    pub dest_port: u16,
    /// Sent by the connection's client (false: by its server).
    pub to_server: bool,
    /// MSH-3.
    pub sending_app: Option<String>,
    /// MSH-4.
    pub sending_facility: Option<String>,
    /// MSH-5.
    pub receiving_app: Option<String>,
    /// MSH-6.
    pub receiving_facility: Option<String>,
    /// MSH-7 as sent.
    pub message_time: Option<String>,
    /// MSH-9 with components joined by `^`.
    pub message_type: Option<String>,
    /// MSH-10.
    pub control_id: Option<String>,
    /// MSH-11.
    pub processing_id: Option<String>,
    /// MSH-12.
    pub version: Option<String>,
    /// Segment id → count.
    pub segments: serde_json::Value,
    /// Segments not counted by id: lines without the shape of a segment id
    /// (free text after a raw line feed), or ids past the per-message cap.
    pub other_segments: u32,
    /// MSA-1 of the acknowledgement that answered this message.
    pub ack_code: Option<String>,
    /// Milliseconds from this message to that acknowledgement.
    pub ack_latency_ms: Option<f64>,
    /// This message's own MSA-1 (when it is an acknowledgement).
    pub msa_code: Option<String>,
    /// This message's own MSA-2: the control id it answers.
    pub msa_control_id: Option<String>,
    /// Frame bytes.
    pub bytes: u64,
    /// complete / no_trailer / gap / oversized / unfinished.
    pub framing: String,
}

/// Device, time window (on the message's time) and limit as SQL on
/// `flows f` and the protocol table `m`.
fn message_where(f: &AppFilter, ts_column: &str) -> Where {
    let mut w = Where::default();
    w.device_and_time(f.device, None, None);
    if let Some(t) = f.since {
        w.push(&format!(" AND {ts_column} >= ?"), t.into());
    }
    if let Some(t) = f.until {
        w.push(&format!(" AND {ts_column} <= ?"), t.into());
    }
    w
}

fn limit(w: &mut Where, limit: Option<u64>) {
    if let Some(l) = limit {
        w.push(" LIMIT ?", (l.min(i64::MAX as u64) as i64).into());
    }
}

/// HL7 messages matching `f`, oldest first. `--since`/`--until` apply to
/// the message's time, so one long-lived MLLP connection can be sliced.
pub fn hl7(conn: &Connection, f: &AppFilter) -> rusqlite::Result<Vec<Hl7Row>> {
    let mut w = message_where(f, "m.ts_us");
    w.sql.push_str(" ORDER BY m.ts_us, m.id");
    limit(&mut w, f.limit);
    let sql = format!(
        "SELECT m.flow_id, f.community_id, m.ts_us, f.src_ip, f.src_port, f.dest_ip, f.dest_port,
                m.to_server, m.sending_app, m.sending_facility, m.receiving_app, m.receiving_facility,
                m.message_time, m.message_type, m.control_id, m.processing_id, m.version, m.segments,
                m.ack_code, m.ack_latency_us, m.msa_code, m.msa_control_id, m.bytes, m.framing,
                m.other_segments
         FROM hl7_messages m JOIN flows f ON f.flow_id = m.flow_id WHERE 1=1{}",
        w.sql
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st
        .query_map(params_from_iter(w.args), |r| {
            let to_server: bool = r.get(7)?;
            let (client, server) = ((r.get(3)?, r.get(4)?), (r.get(5)?, r.get(6)?));
            let ((src_ip, src_port), (dest_ip, dest_port)) = if to_server {
                (client, server)
            } else {
                (server, client)
            };
            Ok(Hl7Row {
                flow_id: r.get::<_, i64>(0)? as u64,
                community_id: r.get(1)?,
                ts: rfc3339(r.get(2)?),
                src_ip,
                src_port,
                dest_ip,
                dest_port,
                to_server,
                sending_app: r.get(8)?,
                sending_facility: r.get(9)?,
                receiving_app: r.get(10)?,
                receiving_facility: r.get(11)?,
                message_time: r.get(12)?,
                message_type: r.get(13)?,
                control_id: r.get(14)?,
                processing_id: r.get(15)?,
                version: r.get(16)?,
                segments: serde_json::from_str(&r.get::<_, String>(17)?)
                    .unwrap_or(serde_json::Value::Null),
                ack_code: r.get(18)?,
                ack_latency_ms: r.get::<_, Option<i64>>(19)?.map(|us| us as f64 / 1000.0),
                msa_code: r.get(20)?,
                msa_control_id: r.get(21)?,
                bytes: r.get::<_, i64>(22)? as u64,
                framing: r.get(23)?,
                other_segments: r.get(24)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Topics one session published to, in `mqtt --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MqttPublish {
    /// Topic name.
    pub topic: String,
    /// QoS.
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
    /// Messages.
    pub count: u64,
    /// Payload bytes (payloads themselves are never kept).
    pub bytes: u64,
    /// "to_server" (the client published) or "to_client" (the broker delivered).
    pub direction: &'static str,
    /// Messages with the DUP flag.
    pub dup: u64,
}

/// A subscription of one session, in `mqtt --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MqttSubscription {
    /// Topic filter.
    pub filter: String,
    /// Requested QoS.
    pub qos: u8,
    /// SUBACK code for it, if seen.
    pub granted: Option<u8>,
    /// That code's name.
    pub granted_reason: Option<String>,
}

/// One MQTT session (TCP connection), as `medtap mqtt --json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MqttRow {
    /// The connection (its fields are flattened into the JSON line).
    #[serde(flatten)]
    pub flow: SessionFlow,
    /// 3 (3.1), 4 (3.1.1) or 5 (5.0), from CONNECT.
    pub protocol_version: Option<u8>,
    /// "MQTT" or "MQIsdp".
    pub protocol_name: Option<String>,
    /// Client identifier.
    pub client_id: Option<String>,
    /// A user name was sent (never its value).
    pub username_present: bool,
    /// A password was sent (never its value).
    pub password_present: bool,
    /// Clean session (3.x) / clean start (5.0).
    pub clean_start: Option<bool>,
    /// Keep-alive seconds.
    pub keep_alive: Option<u16>,
    /// Will topic (the will payload is never kept).
    pub will_topic: Option<String>,
    /// Will QoS.
    pub will_qos: Option<u8>,
    /// Will RETAIN.
    pub will_retain: Option<bool>,
    /// CONNACK return/reason code.
    pub connack_code: Option<u8>,
    /// Its name.
    pub connack_reason: Option<String>,
    /// CONNACK session-present flag.
    pub session_present: Option<bool>,
    /// 5.0 session expiry interval (seconds).
    pub session_expiry_interval: Option<u32>,
    /// 5.0 receive maximum.
    pub receive_maximum: Option<u16>,
    /// 5.0 maximum packet size.
    pub maximum_packet_size: Option<u32>,
    /// 5.0 authentication method name (never the data).
    pub auth_method: Option<String>,
    /// 5.0 user properties in CONNECT (count only).
    pub user_properties: u32,
    /// Topics published, by direction, topic, QoS and retain.
    pub published: Vec<MqttPublish>,
    /// Subscriptions with what the broker granted.
    pub subscribed: Vec<MqttSubscription>,
    /// Filters unsubscribed.
    pub unsubscribed: serde_json::Value,
    /// DISCONNECT reason code.
    pub disconnect_code: Option<u8>,
    /// Its name ("normal disconnection" for 3.x).
    pub disconnect_reason: Option<String>,
    /// Packets from the client.
    pub packets_toserver: u64,
    /// Packets from the broker.
    pub packets_toclient: u64,
    /// PINGREQs.
    pub pings: u64,
    /// 5.0 AUTH packets.
    pub auth_packets: u64,
    /// Topics or filters not listed because a per-session cap was reached.
    pub topics_dropped: u64,
}

/// MQTT sessions matching `f`, oldest first.
pub fn mqtt(conn: &Connection, f: &AppFilter) -> rusqlite::Result<Vec<MqttRow>> {
    let (cond, args) = f.sql();
    let sql = format!(
        "SELECT {SESSION_FLOW_COLUMNS}, s.protocol_version, s.protocol_name, s.client_id, s.username_present,
                s.password_present, s.clean_start, s.keep_alive, s.will_topic, s.will_qos,
                s.will_retain, s.connack_code, s.connack_reason, s.session_present,
                s.session_expiry_interval, s.receive_maximum, s.maximum_packet_size, s.auth_method,
                s.user_properties, s.unsubscribed, s.disconnect_code, s.disconnect_reason,
                s.packets_toserver, s.packets_toclient, s.pings, s.auth_packets, s.topics_dropped
         FROM mqtt_sessions s JOIN flows f ON f.flow_id = s.flow_id WHERE 1=1{cond}"
    );
    let mut st = conn.prepare(&sql)?;
    let n = |v: i64| v as u64;
    let mut rows: Vec<MqttRow> = st
        .query_map(params_from_iter(args), |r| {
            Ok(MqttRow {
                flow: SessionFlow::from_row(r)?,
                protocol_version: r.get(8)?,
                protocol_name: r.get(9)?,
                client_id: r.get(10)?,
                username_present: r.get(11)?,
                password_present: r.get(12)?,
                clean_start: r.get(13)?,
                keep_alive: r.get(14)?,
                will_topic: r.get(15)?,
                will_qos: r.get(16)?,
                will_retain: r.get(17)?,
                connack_code: r.get(18)?,
                connack_reason: r.get(19)?,
                session_present: r.get(20)?,
                session_expiry_interval: r.get(21)?,
                receive_maximum: r.get(22)?,
                maximum_packet_size: r.get(23)?,
                auth_method: r.get(24)?,
                user_properties: r.get(25)?,
                published: Vec::new(),
                subscribed: Vec::new(),
                unsubscribed: serde_json::from_str(&r.get::<_, String>(26)?)
                    .unwrap_or(serde_json::Value::Null),
                disconnect_code: r.get(27)?,
                disconnect_reason: r.get(28)?,
                packets_toserver: n(r.get(29)?),
                packets_toclient: n(r.get(30)?),
                pings: n(r.get(31)?),
                auth_packets: n(r.get(32)?),
                topics_dropped: n(r.get(33)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut publishes = conn.prepare_cached(
        "SELECT topic, qos, retain, count, bytes, to_server, dup
         FROM mqtt_publishes WHERE flow_id = ?1 ORDER BY rowid",
    )?;
    let mut subscriptions = conn.prepare_cached(
        "SELECT filter, qos, granted, granted_reason
         FROM mqtt_subscriptions WHERE flow_id = ?1 ORDER BY rowid",
    )?;
    for row in &mut rows {
        row.published = publishes
            .query_map([row.flow.flow_id as i64], |r| {
                Ok(MqttPublish {
                    topic: r.get(0)?,
                    qos: r.get(1)?,
                    retain: r.get(2)?,
                    count: n(r.get(3)?),
                    bytes: n(r.get(4)?),
                    direction: if r.get(5)? { "to_server" } else { "to_client" },
                    dup: n(r.get(6)?),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        row.subscribed = subscriptions
            .query_map([row.flow.flow_id as i64], |r| {
                Ok(MqttSubscription {
                    filter: r.get(0)?,
                    qos: r.get(1)?,
                    granted: r.get(2)?,
                    granted_reason: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(rows)
}
