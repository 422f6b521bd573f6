//! The row inserts behind the writer: one function per record kind, each
//! inside the caller's transaction.

use crate::decode::DecodeErrorKind;
use crate::device::{DeviceIpRecord, DeviceRecord};
use crate::event::{AnomalyRecord, Event};
use crate::flow::FlowRecord;
use crate::proto::dicom::AssociationRecord;
use crate::proto::Anomaly;
use crate::stats::StatsRecord;
use rusqlite::{params, Transaction};

/// Writes one data record (not a statistics row: the writer accounts
/// those itself, see [`insert_stats`]).
pub(super) fn insert_record(tx: &Transaction<'_>, r: &Event) -> rusqlite::Result<()> {
    match r {
        Event::Flow(f) => insert_flow(tx, f),
        Event::Device(d) => upsert_device(tx, d),
        Event::DeviceIp(d) => upsert_device_ip(tx, d),
        Event::Stats(s) => insert_stats(tx, s, None),
        Event::Anomaly(a) => insert_anomaly(tx, a),
        Event::Dicom(d) => insert_dicom(tx, d.0, &d.1),
        Event::Hl7(m) => super::app_rows::insert_hl7(tx, m.0, &m.1),
        Event::Mqtt(m) => super::app_rows::insert_mqtt(tx, m.0, &m.1),
    }
}

/// Community ID v1 (seed 0) of a flow, `None` for protocols it does not cover.
pub fn community_id(f: &FlowRecord) -> Option<String> {
    let (sp, dp) = match (f.proto, f.icmp) {
        (1 | 58, Some((t, c))) => (Some(u16::from(t)), Some(u16::from(c))),
        (6 | 17 | 132, _) => (Some(f.src_port), Some(f.dest_port)),
        _ => (None, None),
    };
    community_id::calculate_community_id(
        0,
        f.src_ip,
        f.dest_ip,
        sp,
        dp,
        f.proto,
        Default::default(),
    )
    .ok()
}

/// A flow: its final record, or an interim one written while it is still
/// open (which the final record then updates in place).
fn insert_flow(tx: &Transaction<'_>, f: &FlowRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO flows (flow_id, community_id, start_us, end_us, proto, src_ip, src_port,
            dest_ip, dest_port, icmp_type, icmp_code, vlan, src_mac, dest_mac, app_proto,
            pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient,
            payload_bytes_toserver, payload_bytes_toclient, tcp_flags_toserver, tcp_flags_toclient,
            state, reason)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?25,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24)
         ON CONFLICT(flow_id) DO UPDATE SET
            end_us = excluded.end_us, src_mac = excluded.src_mac, dest_mac = excluded.dest_mac,
            app_proto = excluded.app_proto, pkts_toserver = excluded.pkts_toserver,
            pkts_toclient = excluded.pkts_toclient, bytes_toserver = excluded.bytes_toserver,
            bytes_toclient = excluded.bytes_toclient,
            payload_bytes_toserver = excluded.payload_bytes_toserver,
            payload_bytes_toclient = excluded.payload_bytes_toclient,
            tcp_flags_toserver = excluded.tcp_flags_toserver,
            tcp_flags_toclient = excluded.tcp_flags_toclient,
            state = excluded.state, reason = excluded.reason",
    )?;
    let [s, c] = f.dirs;
    st.execute(params![
        f.flow_id as i64,
        community_id(f),
        f.start,
        f.end,
        f.proto,
        f.src_ip.to_string(),
        f.src_port,
        f.dest_ip.to_string(),
        f.dest_port,
        f.icmp.map(|i| i.0),
        f.icmp.map(|i| i.1),
        f.vlan,
        f.src_mac.map(|m| m.to_string()),
        f.dest_mac.map(|m| m.to_string()),
        s.pkts as i64,
        c.pkts as i64,
        s.bytes as i64,
        c.bytes as i64,
        s.payload_bytes as i64,
        c.payload_bytes as i64,
        s.tcp_flags,
        c.tcp_flags,
        f.state.name(),
        f.reason.name(),
        f.app_proto.map(|p| p.name()),
    ])?;
    Ok(())
}

fn upsert_device(tx: &Transaction<'_>, d: &DeviceRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO devices (mac, first_seen_us, last_seen_us) VALUES (?1, ?2, ?3)
         ON CONFLICT(mac) DO UPDATE SET
           first_seen_us = min(first_seen_us, excluded.first_seen_us),
           last_seen_us = max(last_seen_us, excluded.last_seen_us)",
    )?;
    st.execute(params![d.mac.to_string(), d.first_seen, d.last_seen])?;
    Ok(())
}

fn upsert_device_ip(tx: &Transaction<'_>, d: &DeviceIpRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO device_ips (mac, ip, first_seen_us, last_seen_us, source) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(mac, ip) DO UPDATE SET
           first_seen_us = min(first_seen_us, excluded.first_seen_us),
           last_seen_us = max(last_seen_us, excluded.last_seen_us)",
    )?;
    st.execute(params![
        d.mac.to_string(),
        d.ip.to_string(),
        d.first_seen,
        d.last_seen,
        d.source.name()
    ])?;
    Ok(())
}

/// A statistics row of the writing session `session_id`.
pub(super) fn insert_stats(
    tx: &Transaction<'_>,
    s: &StatsRecord,
    session_id: Option<i64>,
) -> rusqlite::Result<()> {
    let by_kind: serde_json::Map<String, serde_json::Value> = DecodeErrorKind::ALL
        .iter()
        .zip(s.decode_errors)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.name().to_string(), n.into()))
        .collect();
    let by_anomaly: serde_json::Map<String, serde_json::Value> = Anomaly::ALL
        .iter()
        .zip(s.anomalies)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.name().to_string(), n.into()))
        .collect();
    let mut st = tx.prepare_cached(
        "INSERT INTO capture_stats (written_us, source, period_start_us, period_end_us, packets, bytes,
            kernel_received, kernel_drops, if_drops, decode_errors, decode_errors_by_kind, not_ip,
            ip_fragments, flows_created, flows_evicted, flows_timed_out, devices_untracked,
            records_dropped, records_failed, read_errors, reasm_gaps, reasm_gap_bytes,
            reasm_retransmissions, reasm_overlap_conflicts, reasm_out_of_order, anomalies,
            anomalies_by_name, app_abandoned, dicom_associations, hl7_messages, mqtt_sessions,
            session_id)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32)",
    )?;
    let n = |v: u64| v as i64;
    let r = &s.reassembly;
    st.execute(params![
        crate::time::now(),
        s.source,
        s.period_start,
        s.period_end,
        n(s.packets),
        n(s.bytes),
        n(s.kernel_received),
        n(s.kernel_drops),
        n(s.if_drops),
        n(s.decode_errors_total()),
        serde_json::Value::Object(by_kind).to_string(),
        n(s.not_ip),
        n(s.ip_fragments),
        n(s.flows_created),
        n(s.flows_evicted),
        n(s.flows_timed_out),
        n(s.devices_untracked),
        n(s.records_dropped),
        n(s.records_failed),
        n(s.read_errors),
        n(r.gaps),
        n(r.gap_bytes),
        n(r.retransmissions),
        n(r.overlap_conflicts),
        n(r.out_of_order),
        n(s.anomalies.iter().sum()),
        serde_json::Value::Object(by_anomaly).to_string(),
        n(s.app_abandoned),
        n(s.dicom_associations),
        n(s.hl7_messages),
        n(s.mqtt_sessions),
        session_id,
    ])?;
    Ok(())
}

fn insert_anomaly(tx: &Transaction<'_>, a: &AnomalyRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO anomalies (ts_us, flow_id, name, detail) VALUES (?1, ?2, ?3, ?4)",
    )?;
    st.execute(params![a.ts, a.flow_id as i64, a.anomaly.name(), a.detail])?;
    Ok(())
}

fn insert_dicom(tx: &Transaction<'_>, flow_id: u64, a: &AssociationRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT OR REPLACE INTO dicom_associations (flow_id, calling_ae, called_ae, result, reject_result,
            reject_source, reject_reason, abort_source, abort_reason, application_context,
            implementation_class_uid, implementation_version, acceptor_implementation_class_uid,
            acceptor_implementation_version, max_pdu_length, acceptor_max_pdu_length,
            user_identity_type, roles, contexts, pdus, data_bytes)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)",
    )?;
    st.execute(params![
        flow_id as i64,
        a.calling_ae,
        a.called_ae,
        a.result,
        a.reject.map(|r| r.0),
        a.reject.map(|r| r.1),
        a.reject.map(|r| r.2),
        a.abort.map(|r| r.0),
        a.abort.map(|r| r.1),
        a.application_context,
        a.implementation_class_uid,
        a.implementation_version,
        a.acceptor_implementation_class_uid,
        a.acceptor_implementation_version,
        a.max_pdu_length,
        a.acceptor_max_pdu_length,
        a.user_identity_type,
        json(&a.roles),
        json(&a.contexts),
        a.pdus as i64,
        a.data_bytes as i64,
    ])?;
    let mut op = tx.prepare_cached(
        "INSERT INTO dicom_operations (flow_id, command, sop_class_uid, count, bytes, statuses, move_destination)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for o in &a.operations {
        op.execute(params![
            flow_id as i64,
            o.command,
            o.sop_class_uid,
            o.count as i64,
            o.bytes as i64,
            json(&o.statuses),
            o.move_destination,
        ])?;
    }
    Ok(())
}

/// JSON text of the list columns (serialising these types cannot fail).
pub(super) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}
