//! Read-side queries used by the CLI. Row types serialise to the JSON
//! contracts documented in the README (`flows --json`, `devices --json`,
//! `status --json`).

use crate::flow::proto_name;
use crate::net::Mac;
use crate::time::{rfc3339, Micros};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The highest flow id stored (0 when none).
pub fn max_flow_id(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COALESCE(MAX(flow_id), 0) FROM flows", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|v| v.max(0) as u64)
}

/// A device selector: by MAC or by IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceSel {
    /// A MAC address.
    Mac(Mac),
    /// An IP address.
    Ip(IpAddr),
}

impl DeviceSel {
    /// Parses a MAC or an IP address.
    pub fn parse(s: &str) -> Option<DeviceSel> {
        Mac::parse(s)
            .map(DeviceSel::Mac)
            .or_else(|| s.parse().ok().map(DeviceSel::Ip))
    }
}

/// Filters for [`flows`].
#[derive(Clone, Debug, Default)]
pub struct FlowFilter {
    /// Flows to or from this device.
    pub device: Option<DeviceSel>,
    /// Flows still active at or after this time.
    pub since: Option<Micros>,
    /// Flows that started at or before this time.
    pub until: Option<Micros>,
    /// IP protocol number.
    pub proto: Option<u8>,
    /// Application protocol name.
    pub app_proto: Option<String>,
    /// Most rows (None: all).
    pub limit: Option<u64>,
}

/// One flow, as `medtap flows --json` prints it (EVE flow field names).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FlowRow {
    /// Unique id.
    pub flow_id: u64,
    /// Community ID v1.
    pub community_id: Option<String>,
    /// RFC 3339 start.
    pub start: String,
    /// RFC 3339 end.
    pub end: String,
    /// "tcp", "udp", "icmp", ...
    pub proto: String,
    /// Initiator address.
    pub src_ip: String,
    /// Initiator port.
    pub src_port: u16,
    /// Responder address.
    pub dest_ip: String,
    /// Responder port.
    pub dest_port: u16,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Initiator MAC.
    pub src_mac: Option<String>,
    /// Responder MAC.
    pub dest_mac: Option<String>,
    /// Application protocol, when detected.
    pub app_proto: Option<String>,
    /// Packets initiator → responder.
    pub pkts_toserver: u64,
    /// Packets responder → initiator.
    pub pkts_toclient: u64,
    /// Frame bytes initiator → responder.
    pub bytes_toserver: u64,
    /// Frame bytes responder → initiator.
    pub bytes_toclient: u64,
    /// Connection state at the end.
    pub state: String,
    /// Why the record ended.
    pub reason: String,
}

/// Flows matching `f`, oldest first.
pub fn flows(conn: &Connection, f: &FlowFilter) -> rusqlite::Result<Vec<FlowRow>> {
    let mut sql = String::from(
        "SELECT flow_id, community_id, start_us, end_us, proto, src_ip, src_port, dest_ip, dest_port,
                vlan, src_mac, dest_mac, app_proto, pkts_toserver, pkts_toclient, bytes_toserver,
                bytes_toclient, state, reason
         FROM flows f WHERE 1=1",
    );
    let mut w = Where::default();
    w.device_and_time(f.device, f.since, f.until);
    if let Some(p) = f.proto {
        w.push(" AND f.proto = ?", i64::from(p).into());
    }
    if let Some(a) = &f.app_proto {
        w.push(" AND f.app_proto = ?", a.clone().into());
    }
    w.order_and_limit(f.limit);
    sql.push_str(&w.sql);
    let args = w.args;
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), |r| {
        let u = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok(FlowRow {
            flow_id: u(0)?,
            community_id: r.get(1)?,
            start: rfc3339(r.get(2)?),
            end: rfc3339(r.get(3)?),
            proto: proto_name(r.get(4)?).to_string(),
            src_ip: r.get(5)?,
            src_port: r.get(6)?,
            dest_ip: r.get(7)?,
            dest_port: r.get(8)?,
            vlan: r.get(9)?,
            src_mac: r.get(10)?,
            dest_mac: r.get(11)?,
            app_proto: r.get(12)?,
            pkts_toserver: u(13)?,
            pkts_toclient: u(14)?,
            bytes_toserver: u(15)?,
            bytes_toclient: u(16)?,
            state: r.get(17)?,
            reason: r.get(18)?,
        })
    })?;
    rows.collect()
}

/// One device, as `medtap devices --json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DeviceRow {
    /// MAC address.
    pub mac: String,
    /// IPs bound to it, most recently seen first.
    pub ips: Vec<String>,
    /// RFC 3339 first frame.
    pub first_seen: String,
    /// RFC 3339 latest frame.
    pub last_seen: String,
}

/// All devices, by first appearance.
pub fn devices(conn: &Connection) -> rusqlite::Result<Vec<DeviceRow>> {
    let mut ips: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut st = conn.prepare("SELECT mac, ip FROM device_ips ORDER BY last_seen_us DESC, ip")?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (mac, ip) = row?;
        ips.entry(mac).or_default().push(ip);
    }
    let mut st = conn.prepare(
        "SELECT mac, first_seen_us, last_seen_us FROM devices ORDER BY first_seen_us, mac",
    )?;
    let rows = st.query_map([], |r| {
        let mac: String = r.get(0)?;
        Ok(DeviceRow {
            ips: ips.get(&mac).cloned().unwrap_or_default(),
            mac,
            first_seen: rfc3339(r.get(1)?),
            last_seen: rfc3339(r.get(2)?),
        })
    })?;
    rows.collect()
}

/// Totals over every capture statistics row, plus table sizes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Default)]
pub struct Status {
    /// Schema version.
    pub schema_version: u32,
    /// Database file size in bytes (main file + WAL).
    pub db_bytes: u64,
    /// Rows in `flows`.
    pub flows: u64,
    /// Rows in `devices`.
    pub devices: u64,
    /// Capture statistics rows.
    pub stats_rows: u64,
    /// RFC 3339 time of the newest statistics row.
    pub last_update: Option<String>,
    /// Frames read.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Kernel receive count (live).
    pub kernel_received: u64,
    /// Dropped by the kernel (buffer full).
    pub kernel_drops: u64,
    /// Dropped by the interface.
    pub if_drops: u64,
    /// Undecodable frames.
    pub decode_errors: u64,
    /// Undecodable frames by kind (only kinds seen).
    pub decode_errors_by_kind: BTreeMap<String, u64>,
    /// Neither IP nor ARP.
    pub not_ip: u64,
    /// IP fragments.
    pub ip_fragments: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows evicted from the full table.
    pub flows_evicted: u64,
    /// Flows ended by timeout.
    pub flows_timed_out: u64,
    /// Frames from devices not tracked (table full).
    pub devices_untracked: u64,
    /// Records dropped before the writer.
    pub records_dropped: u64,
    /// Records the writer failed to store.
    pub records_failed: u64,
    /// Source read errors (cut files, failing interface).
    pub read_errors: u64,
    /// TCP reassembly holes reported to parsers.
    pub reasm_gaps: u64,
    /// Bytes lost in those holes.
    pub reasm_gap_bytes: u64,
    /// Retransmitted segments dropped.
    pub reasm_retransmissions: u64,
    /// Overlapping segments whose bytes differed from the first copy.
    pub reasm_overlap_conflicts: u64,
    /// Out-of-order segments held until their hole filled.
    pub reasm_out_of_order: u64,
    /// Flows whose application parsing stopped early.
    pub app_abandoned: u64,
    /// DICOM associations seen.
    pub dicom_associations: u64,
    /// HL7 messages seen.
    pub hl7_messages: u64,
    /// MQTT sessions seen.
    pub mqtt_sessions: u64,
    /// Protocol anomalies.
    pub anomalies: u64,
    /// Protocol anomalies by name (only names seen).
    pub anomalies_by_name: BTreeMap<String, u64>,
    /// Records lost in all: dropped before the writer plus not written.
    pub records_lost: u64,
    /// The newest writing session (`analyze` or `run`) and how it ended.
    pub last_session: Option<super::sessions::SessionRow>,
}

/// Sums the statistics and counts the tables; `writer_running` tells
/// whether a process holds the database's write lock now.
pub fn status(conn: &Connection, db_bytes: u64, writer_running: bool) -> rusqlite::Result<Status> {
    let mut s = Status {
        schema_version: super::schema_version(conn)?,
        db_bytes,
        ..Status::default()
    };
    let count = |t: &str| {
        conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| {
            r.get::<_, i64>(0)
        })
    };
    s.flows = count("flows")? as u64;
    s.devices = count("devices")? as u64;
    let mut stats_rows = 0;
    let mut last_update = None;
    {
        // Each counter column of capture_stats and the Status field it sums into.
        let mut fields: [(&str, &mut u64); 25] = [
            ("packets", &mut s.packets),
            ("bytes", &mut s.bytes),
            ("kernel_received", &mut s.kernel_received),
            ("kernel_drops", &mut s.kernel_drops),
            ("if_drops", &mut s.if_drops),
            ("decode_errors", &mut s.decode_errors),
            ("not_ip", &mut s.not_ip),
            ("ip_fragments", &mut s.ip_fragments),
            ("flows_created", &mut s.flows_created),
            ("flows_evicted", &mut s.flows_evicted),
            ("flows_timed_out", &mut s.flows_timed_out),
            ("devices_untracked", &mut s.devices_untracked),
            ("records_dropped", &mut s.records_dropped),
            ("records_failed", &mut s.records_failed),
            ("read_errors", &mut s.read_errors),
            ("reasm_gaps", &mut s.reasm_gaps),
            ("reasm_gap_bytes", &mut s.reasm_gap_bytes),
            ("reasm_retransmissions", &mut s.reasm_retransmissions),
            ("reasm_overlap_conflicts", &mut s.reasm_overlap_conflicts),
            ("reasm_out_of_order", &mut s.reasm_out_of_order),
            ("app_abandoned", &mut s.app_abandoned),
            ("dicom_associations", &mut s.dicom_associations),
            ("hl7_messages", &mut s.hl7_messages),
            ("mqtt_sessions", &mut s.mqtt_sessions),
            ("anomalies", &mut s.anomalies),
        ];
        let sums: Vec<String> = fields
            .iter()
            .map(|(c, _)| format!("COALESCE(SUM({c}), 0)"))
            .collect();
        let sql = format!(
            "SELECT COUNT(*), MAX(written_us), {} FROM capture_stats",
            sums.join(", ")
        );
        conn.query_row(&sql, [], |r| {
            stats_rows = r.get::<_, i64>(0)?.max(0) as u64;
            last_update = r.get::<_, Option<Micros>>(1)?;
            for (i, (_, field)) in fields.iter_mut().enumerate() {
                **field = r.get::<_, i64>(i + 2)?.max(0) as u64;
            }
            Ok(())
        })?;
    }
    s.stats_rows = stats_rows;
    s.last_update = last_update.map(rfc3339);
    s.records_lost = s.records_dropped + s.records_failed;
    s.last_session = super::sessions::latest(conn, writer_running)?;
    for (column, total, into) in [
        (
            "decode_errors_by_kind",
            "decode_errors",
            &mut s.decode_errors_by_kind,
        ),
        ("anomalies_by_name", "anomalies", &mut s.anomalies_by_name),
    ] {
        let mut st = conn.prepare(&format!(
            "SELECT {column} FROM capture_stats WHERE {total} > 0"
        ))?;
        for text in st.query_map([], |r| r.get::<_, String>(0))? {
            let map: BTreeMap<String, u64> = serde_json::from_str(&text?).unwrap_or_default();
            for (k, v) in map {
                *into.entry(k).or_default() += v;
            }
        }
    }
    Ok(s)
}

/// Filters shared by the per-protocol queries (`dicom`, `hl7`, `mqtt`).
#[derive(Clone, Debug, Default)]
pub struct AppFilter {
    /// Flows to or from this device.
    pub device: Option<DeviceSel>,
    /// Flows active at or after this time.
    pub since: Option<Micros>,
    /// Flows started at or before this time.
    pub until: Option<Micros>,
    /// Most rows (None: all).
    pub limit: Option<u64>,
}

impl AppFilter {
    /// SQL conditions on the `flows` table aliased `f`, with their values.
    pub(super) fn sql(&self) -> (String, Vec<Value>) {
        let mut w = Where::default();
        w.device_and_time(self.device, self.since, self.until);
        w.order_and_limit(self.limit);
        (w.sql, w.args)
    }
}

/// SQL conditions on `flows` aliased `f`, with numbered parameters.
#[derive(Default)]
pub(super) struct Where {
    pub(super) sql: String,
    pub(super) args: Vec<Value>,
}

impl Where {
    /// Appends `clause`, whose every `?` is the one new parameter `v`.
    pub(super) fn push(&mut self, clause: &str, v: Value) {
        self.args.push(v);
        self.sql
            .push_str(&clause.replace('?', &format!("?{}", self.args.len())));
    }

    /// Flows to or from a device, overlapping `[since, until]`.
    pub(super) fn device_and_time(
        &mut self,
        device: Option<DeviceSel>,
        since: Option<Micros>,
        until: Option<Micros>,
    ) {
        match device {
            Some(DeviceSel::Mac(m)) => self.push(
                " AND (f.src_mac = ? OR f.dest_mac = ?)",
                m.to_string().into(),
            ),
            Some(DeviceSel::Ip(ip)) => self.push(
                " AND (f.src_ip = ? OR f.dest_ip = ?)",
                ip.to_string().into(),
            ),
            None => {}
        }
        if let Some(t) = since {
            self.push(" AND f.end_us >= ?", t.into());
        }
        if let Some(t) = until {
            self.push(" AND f.start_us <= ?", t.into());
        }
    }

    /// Oldest first, at most `limit` rows.
    fn order_and_limit(&mut self, limit: Option<u64>) {
        self.sql.push_str(" ORDER BY f.start_us, f.flow_id");
        if let Some(l) = limit {
            self.push(" LIMIT ?", (l.min(i64::MAX as u64) as i64).into());
        }
    }
}

/// Reject details in `dicom --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DicomReject {
    /// "rejected-permanent" / "rejected-transient".
    pub result: String,
    /// Who rejected.
    pub source: String,
    /// Why.
    pub reason: String,
}

/// Abort details in `dicom --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DicomAbort {
    /// "service-user" / "service-provider".
    pub source: String,
    /// Provider reason.
    pub reason: String,
}

/// One operation row in `dicom --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DicomOperation {
    /// "C-STORE", "C-FIND", ...
    pub command: String,
    /// SOP class UID.
    pub sop_class_uid: String,
    /// Its name, when registered.
    pub sop_class_name: Option<&'static str>,
    /// Requests.
    pub count: u64,
    /// Data set bytes.
    pub bytes: u64,
    /// Distinct response statuses.
    pub statuses: Vec<u16>,
    /// C-MOVE destination.
    pub move_destination: Option<String>,
}

/// The flow an application session (DICOM association, MQTT connection)
/// rode on: the first fields of the `dicom --json` and `mqtt --json` lines.
/// src is the side that opened the connection (requestor, MQTT client).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SessionFlow {
    /// The flow's id.
    pub flow_id: u64,
    /// Its Community ID.
    pub community_id: Option<String>,
    /// RFC 3339 start of the flow.
    pub start: String,
    /// RFC 3339 end of the flow.
    pub end: String,
    /// Client address.
    pub src_ip: String,
    /// Client port.
    pub src_port: u16,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
}

/// The columns [`SessionFlow::from_row`] reads, first in a SELECT whose
/// flows table is aliased `f`.
pub(crate) const SESSION_FLOW_COLUMNS: &str =
    "f.flow_id, f.community_id, f.start_us, f.end_us, f.src_ip, f.src_port, f.dest_ip, f.dest_port";

impl SessionFlow {
    /// Reads the [`SESSION_FLOW_COLUMNS`] at the start of `r`.
    pub(crate) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            flow_id: r.get::<_, i64>(0)? as u64,
            community_id: r.get(1)?,
            start: rfc3339(r.get(2)?),
            end: rfc3339(r.get(3)?),
            src_ip: r.get(4)?,
            src_port: r.get(5)?,
            dest_ip: r.get(6)?,
            dest_port: r.get(7)?,
        })
    }
}

/// One association, as `medtap dicom --json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DicomRow {
    /// The flow carrying it (its fields are flattened into the JSON line).
    #[serde(flatten)]
    pub flow: SessionFlow,
    /// Calling AE title.
    pub calling_ae: String,
    /// Called AE title.
    pub called_ae: String,
    /// accepted / rejected / aborted / released / incomplete.
    pub result: String,
    /// A-ASSOCIATE-RJ details.
    pub reject: Option<DicomReject>,
    /// A-ABORT details.
    pub abort: Option<DicomAbort>,
    /// Application context name.
    pub application_context: Option<String>,
    /// Requestor's implementation class UID.
    pub implementation_class_uid: Option<String>,
    /// Requestor's implementation version name.
    pub implementation_version: Option<String>,
    /// Acceptor's implementation class UID.
    pub acceptor_implementation_class_uid: Option<String>,
    /// Acceptor's implementation version name.
    pub acceptor_implementation_version: Option<String>,
    /// Requestor's maximum PDU length.
    pub max_pdu_length: Option<u32>,
    /// Acceptor's maximum PDU length.
    pub acceptor_max_pdu_length: Option<u32>,
    /// User identity type proposed (never the credential).
    pub user_identity_type: Option<u8>,
    /// Role selections proposed: [sop class, scu, scp].
    pub roles: serde_json::Value,
    /// Presentation contexts.
    pub contexts: serde_json::Value,
    /// DIMSE operations.
    pub operations: Vec<DicomOperation>,
    /// PDUs seen.
    pub pdus: u64,
    /// Data PDV bytes.
    pub data_bytes: u64,
}

/// DICOM associations matching `f`, oldest first.
pub fn dicom(conn: &Connection, f: &AppFilter) -> rusqlite::Result<Vec<DicomRow>> {
    let (cond, args) = f.sql();
    let sql = format!(
        "SELECT {SESSION_FLOW_COLUMNS},
                a.calling_ae, a.called_ae, a.result, a.reject_result, a.reject_source, a.reject_reason,
                a.abort_source, a.abort_reason, a.application_context, a.implementation_class_uid,
                a.implementation_version, a.acceptor_implementation_class_uid, a.acceptor_implementation_version,
                a.max_pdu_length, a.acceptor_max_pdu_length, a.user_identity_type, a.roles, a.contexts,
                a.pdus, a.data_bytes
         FROM dicom_associations a JOIN flows f ON f.flow_id = a.flow_id WHERE 1=1{cond}"
    );
    let mut st = conn.prepare(&sql)?;
    let json = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
    let mut rows: Vec<DicomRow> = st
        .query_map(params_from_iter(args), |r| {
            let reject = match (r.get::<_, Option<String>>(11)?, r.get(12)?, r.get(13)?) {
                (Some(result), Some(source), Some(reason)) => Some(DicomReject {
                    result,
                    source,
                    reason,
                }),
                _ => None,
            };
            let abort = match (r.get::<_, Option<String>>(14)?, r.get(15)?) {
                (Some(source), Some(reason)) => Some(DicomAbort { source, reason }),
                _ => None,
            };
            Ok(DicomRow {
                flow: SessionFlow::from_row(r)?,
                calling_ae: r.get(8)?,
                called_ae: r.get(9)?,
                result: r.get(10)?,
                reject,
                abort,
                application_context: r.get(16)?,
                implementation_class_uid: r.get(17)?,
                implementation_version: r.get(18)?,
                acceptor_implementation_class_uid: r.get(19)?,
                acceptor_implementation_version: r.get(20)?,
                max_pdu_length: r.get(21)?,
                acceptor_max_pdu_length: r.get(22)?,
                user_identity_type: r.get(23)?,
                roles: json(r.get(24)?),
                contexts: json(r.get(25)?),
                operations: Vec::new(),
                pdus: r.get::<_, i64>(26)? as u64,
                data_bytes: r.get::<_, i64>(27)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut ops = conn.prepare_cached(
        "SELECT command, sop_class_uid, count, bytes, statuses, move_destination
         FROM dicom_operations WHERE flow_id = ?1 ORDER BY rowid",
    )?;
    for row in &mut rows {
        row.operations = ops
            .query_map([row.flow.flow_id as i64], |r| {
                let uid: String = r.get(1)?;
                Ok(DicomOperation {
                    command: r.get(0)?,
                    sop_class_name: crate::proto::dicom::uids::name(&uid),
                    sop_class_uid: uid,
                    count: r.get::<_, i64>(2)? as u64,
                    bytes: r.get::<_, i64>(3)? as u64,
                    statuses: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                    move_destination: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(rows)
}
