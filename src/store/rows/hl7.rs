//! The `hl7_messages` table: one row per HL7 v2 message, with the
//! acknowledgement that answered it.

use super::json_value;
use crate::proto::hl7::MessageRecord;
use crate::store::filter::{AppFilter, Where};
use crate::time::rfc3339;
use rusqlite::{Connection, Transaction};
use serde::Serialize;

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
pub fn insert(tx: &Transaction<'_>, flow_id: u64, m: &MessageRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO hl7_messages (flow_id, ts_us, to_server, sending_app, sending_facility,
            receiving_app, receiving_facility, message_time, message_type, control_id,
            processing_id, version, msa_code, msa_control_id, ack_code, ack_latency_us,
            segments, other_segments, bytes, framing, profile)
         VALUES (:flow_id, :ts_us, :to_server, :sending_app, :sending_facility, :receiving_app,
            :receiving_facility, :message_time, :message_type, :control_id, :processing_id,
            :version, :msa_code, :msa_control_id, :ack_code, :ack_latency_us, :segments,
            :other_segments, :bytes, :framing, :profile)",
    )?;
    execute_named!(st, {
        ":flow_id": flow_id as i64,
        ":ts_us": m.ts,
        ":to_server": m.to_server,
        ":sending_app": m.sending_app,
        ":sending_facility": m.sending_facility,
        ":receiving_app": m.receiving_app,
        ":receiving_facility": m.receiving_facility,
        ":message_time": m.message_time,
        ":message_type": m.message_type,
        ":control_id": m.control_id,
        ":processing_id": m.processing_id,
        ":version": m.version,
        ":msa_code": m.msa_code,
        ":msa_control_id": m.msa_control_id,
        ":ack_code": m.ack_code,
        ":ack_latency_us": m.ack_latency_us,
        ":segments": segments_json(m),
        ":other_segments": m.other_segments,
        ":bytes": m.bytes as i64,
        ":framing": m.framing.name(),
        ":profile": m.profile,
    })?;
    Ok(())
}

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
/// `flows f` and `hl7_messages m`, oldest message first.
fn message_where(f: &AppFilter) -> Where {
    let mut w = Where::default();
    w.device(f.device);
    if let Some(t) = f.since {
        w.push(" AND m.ts_us >= :since", ":since", t.into());
    }
    if let Some(t) = f.until {
        w.push(" AND m.ts_us <= :until", ":until", t.into());
    }
    w.sql.push_str(" ORDER BY m.ts_us, m.id");
    w.limit(f.limit);
    w
}

/// HL7 messages matching `f`, oldest first. `--since`/`--until` apply to
/// the message's time, so one long-lived MLLP connection can be sliced.
pub fn hl7(conn: &Connection, f: &AppFilter) -> rusqlite::Result<Vec<Hl7Row>> {
    let w = message_where(f);
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
        .query_map(w.params().as_slice(), |r| {
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
                segments: json_value(&r.get::<_, String>(17)?),
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
