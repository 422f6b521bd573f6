//! Rows for the HL7 and MQTT records (the DICOM rows live in the writer).

use super::inserts::json;
use crate::proto::hl7::MessageRecord;
use crate::proto::mqtt::SessionRecord;
use rusqlite::{params, Transaction};

/// Segment counts as a JSON object `{"MSH": 1, "OBX": 14}` (keys sorted).
fn segments_json(m: &MessageRecord) -> String {
    let map: serde_json::Map<String, serde_json::Value> = m
        .segments
        .iter()
        .map(|s| (s.id(), s.count.into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// One HL7 message.
pub fn insert_hl7(tx: &Transaction<'_>, flow_id: u64, m: &MessageRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO hl7_messages (flow_id, ts_us, to_server, sending_app, sending_facility,
            receiving_app, receiving_facility, message_time, message_type, control_id,
            processing_id, version, msa_code, msa_control_id, ack_code, ack_latency_us,
            segments, other_segments, bytes, framing)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)",
    )?;
    st.execute(params![
        flow_id as i64,
        m.ts,
        m.to_server,
        m.sending_app,
        m.sending_facility,
        m.receiving_app,
        m.receiving_facility,
        m.message_time,
        m.message_type,
        m.control_id,
        m.processing_id,
        m.version,
        m.msa_code,
        m.msa_control_id,
        m.ack_code,
        m.ack_latency_us,
        segments_json(m),
        m.other_segments,
        m.bytes as i64,
        m.framing.name(),
    ])?;
    Ok(())
}

/// One MQTT session with its publishes and subscriptions.
pub fn insert_mqtt(tx: &Transaction<'_>, flow_id: u64, s: &SessionRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT OR REPLACE INTO mqtt_sessions (flow_id, protocol_name, protocol_version, client_id,
            username_present, password_present, clean_start, keep_alive, will_topic, will_qos,
            will_retain, session_expiry_interval, receive_maximum, maximum_packet_size,
            auth_method, user_properties, connack_code, connack_reason, session_present,
            disconnect_code, disconnect_reason, packets_toserver, packets_toclient, pings,
            auth_packets, topics_dropped, unsubscribed)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,
            ?23,?24,?25,?26,?27)",
    )?;
    let n = |v: u64| v as i64;
    st.execute(params![
        flow_id as i64,
        s.protocol_name,
        s.protocol_version,
        s.client_id,
        s.username_present,
        s.password_present,
        s.clean_start,
        s.keep_alive,
        s.will_topic,
        s.will_qos,
        s.will_retain,
        s.session_expiry_interval,
        s.receive_maximum,
        s.maximum_packet_size,
        s.auth_method,
        s.user_properties,
        s.connack_code,
        s.connack_reason,
        s.session_present,
        s.disconnect_code,
        s.disconnect_reason,
        n(s.packets_toserver),
        n(s.packets_toclient),
        n(s.pings),
        n(s.auth_packets),
        n(s.topics_dropped),
        json(&s.unsubscribed),
    ])?;
    let mut publish = tx.prepare_cached(
        "INSERT INTO mqtt_publishes (flow_id, to_server, topic, qos, retain, count, bytes, dup)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for p in &s.published {
        publish.execute(params![
            flow_id as i64,
            p.to_server,
            p.topic,
            p.qos,
            p.retain,
            n(p.count),
            n(p.bytes),
            n(p.dup),
        ])?;
    }
    let mut subscribe = tx.prepare_cached(
        "INSERT INTO mqtt_subscriptions (flow_id, filter, qos, granted, granted_reason)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for f in &s.subscribed {
        subscribe.execute(params![
            flow_id as i64,
            f.filter,
            f.qos,
            f.granted,
            f.granted_reason
        ])?;
    }
    Ok(())
}
