//! The `mqtt_sessions`, `mqtt_publishes` and `mqtt_subscriptions` tables:
//! one row per MQTT connection, with its topics and subscriptions.

use super::{children, json, json_value, SessionFlow, SESSION_FLOW_COLUMNS};
use crate::proto::mqtt::SessionRecord;
use crate::store::filter::AppFilter;
use rusqlite::{Connection, Transaction};
use serde::Serialize;

/// One MQTT session with its publishes and subscriptions.
pub fn insert(tx: &Transaction<'_>, flow_id: u64, s: &SessionRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT OR REPLACE INTO mqtt_sessions (flow_id, protocol_name, protocol_version, client_id,
            username_present, password_present, clean_start, keep_alive, will_topic, will_qos,
            will_retain, session_expiry_interval, receive_maximum, maximum_packet_size,
            auth_method, user_properties, connack_code, connack_reason, session_present,
            disconnect_code, disconnect_reason, packets_toserver, packets_toclient, pings,
            auth_packets, topics_dropped, unsubscribed)
         VALUES (:flow_id, :protocol_name, :protocol_version, :client_id, :username_present,
            :password_present, :clean_start, :keep_alive, :will_topic, :will_qos,
            :will_retain, :session_expiry_interval, :receive_maximum, :maximum_packet_size,
            :auth_method, :user_properties, :connack_code, :connack_reason,
            :session_present, :disconnect_code, :disconnect_reason, :packets_toserver,
            :packets_toclient, :pings, :auth_packets, :topics_dropped, :unsubscribed)",
    )?;
    let n = |v: u64| v as i64;
    execute_named!(st, {
        ":flow_id": flow_id as i64,
        ":protocol_name": s.protocol_name,
        ":protocol_version": s.protocol_version,
        ":client_id": s.client_id,
        ":username_present": s.username_present,
        ":password_present": s.password_present,
        ":clean_start": s.clean_start,
        ":keep_alive": s.keep_alive,
        ":will_topic": s.will_topic,
        ":will_qos": s.will_qos,
        ":will_retain": s.will_retain,
        ":session_expiry_interval": s.session_expiry_interval,
        ":receive_maximum": s.receive_maximum,
        ":maximum_packet_size": s.maximum_packet_size,
        ":auth_method": s.auth_method,
        ":user_properties": s.user_properties,
        ":connack_code": s.connack_code,
        ":connack_reason": s.connack_reason,
        ":session_present": s.session_present,
        ":disconnect_code": s.disconnect_code,
        ":disconnect_reason": s.disconnect_reason,
        ":packets_toserver": n(s.packets_toserver),
        ":packets_toclient": n(s.packets_toclient),
        ":pings": n(s.pings),
        ":auth_packets": n(s.auth_packets),
        ":topics_dropped": n(s.topics_dropped),
        ":unsubscribed": json(&s.unsubscribed),
    })?;
    let mut publish = tx.prepare_cached(
        "INSERT INTO mqtt_publishes (flow_id, to_server, topic, qos, retain, count, bytes, dup)
         VALUES (:flow_id, :to_server, :topic, :qos, :retain, :count, :bytes, :dup)",
    )?;
    for p in &s.published {
        execute_named!(publish, {
            ":flow_id": flow_id as i64,
            ":to_server": p.to_server,
            ":topic": p.topic,
            ":qos": p.qos,
            ":retain": p.retain,
            ":count": n(p.count),
            ":bytes": n(p.bytes),
            ":dup": n(p.dup),
        })?;
    }
    let mut subscribe = tx.prepare_cached(
        "INSERT INTO mqtt_subscriptions (flow_id, filter, qos, granted, granted_reason)
         VALUES (:flow_id, :filter, :qos, :granted, :granted_reason)",
    )?;
    for f in &s.subscribed {
        execute_named!(subscribe, {
            ":flow_id": flow_id as i64,
            ":filter": f.filter,
            ":qos": f.qos,
            ":granted": f.granted,
            ":granted_reason": f.granted_reason,
        })?;
    }
    Ok(())
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
    let w = f.flow_where();
    let sql = format!(
        "SELECT {SESSION_FLOW_COLUMNS}, s.protocol_version, s.protocol_name, s.client_id, s.username_present,
                s.password_present, s.clean_start, s.keep_alive, s.will_topic, s.will_qos,
                s.will_retain, s.connack_code, s.connack_reason, s.session_present,
                s.session_expiry_interval, s.receive_maximum, s.maximum_packet_size, s.auth_method,
                s.user_properties, s.unsubscribed, s.disconnect_code, s.disconnect_reason,
                s.packets_toserver, s.packets_toclient, s.pings, s.auth_packets, s.topics_dropped
         FROM mqtt_sessions s JOIN flows f ON f.flow_id = s.flow_id WHERE 1=1{}",
        w.sql
    );
    let mut st = conn.prepare(&sql)?;
    let n = |v: i64| v as u64;
    let mut rows: Vec<MqttRow> = st
        .query_map(w.params().as_slice(), |r| {
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
                unsubscribed: json_value(&r.get::<_, String>(26)?),
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
         FROM mqtt_publishes WHERE flow_id = :flow_id ORDER BY rowid",
    )?;
    let mut subscriptions = conn.prepare_cached(
        "SELECT filter, qos, granted, granted_reason
         FROM mqtt_subscriptions WHERE flow_id = :flow_id ORDER BY rowid",
    )?;
    for row in &mut rows {
        row.published = children(&mut publishes, row.flow.flow_id, |r| {
            Ok(MqttPublish {
                topic: r.get(0)?,
                qos: r.get(1)?,
                retain: r.get(2)?,
                count: n(r.get(3)?),
                bytes: n(r.get(4)?),
                direction: if r.get(5)? { "to_server" } else { "to_client" },
                dup: n(r.get(6)?),
            })
        })?;
        row.subscribed = children(&mut subscriptions, row.flow.flow_id, |r| {
            Ok(MqttSubscription {
                filter: r.get(0)?,
                qos: r.get(1)?,
                granted: r.get(2)?,
                granted_reason: r.get(3)?,
            })
        })?;
    }
    Ok(rows)
}
