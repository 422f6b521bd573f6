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
         FROM flows WHERE 1=1",
    );
    let mut args: Vec<Value> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    match f.device {
        Some(DeviceSel::Mac(m)) => arg(
            &mut sql,
            " AND (src_mac = ? OR dest_mac = ?)",
            m.to_string().into(),
        ),
        Some(DeviceSel::Ip(ip)) => arg(
            &mut sql,
            " AND (src_ip = ? OR dest_ip = ?)",
            ip.to_string().into(),
        ),
        None => {}
    }
    if let Some(t) = f.since {
        arg(&mut sql, " AND end_us >= ?", t.into());
    }
    if let Some(t) = f.until {
        arg(&mut sql, " AND start_us <= ?", t.into());
    }
    if let Some(p) = f.proto {
        arg(&mut sql, " AND proto = ?", i64::from(p).into());
    }
    if let Some(a) = &f.app_proto {
        arg(&mut sql, " AND app_proto = ?", a.clone().into());
    }
    sql.push_str(" ORDER BY start_us, flow_id");
    if let Some(l) = f.limit {
        arg(&mut sql, " LIMIT ?", (l.min(i64::MAX as u64) as i64).into());
    }
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
}

/// Sums the statistics and counts the tables.
pub fn status(conn: &Connection, db_bytes: u64) -> rusqlite::Result<Status> {
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
    let cols = [
        "packets",
        "bytes",
        "kernel_received",
        "kernel_drops",
        "if_drops",
        "decode_errors",
        "not_ip",
        "ip_fragments",
        "flows_created",
        "flows_evicted",
        "flows_timed_out",
        "devices_untracked",
        "records_dropped",
        "records_failed",
        "read_errors",
    ];
    let sums: Vec<String> = cols
        .iter()
        .map(|c| format!("COALESCE(SUM({c}), 0)"))
        .collect();
    let sql = format!(
        "SELECT COUNT(*), MAX(written_us), {} FROM capture_stats",
        sums.join(", ")
    );
    conn.query_row(&sql, [], |r| {
        let u = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        s.stats_rows = u(0)?;
        s.last_update = r.get::<_, Option<Micros>>(1)?.map(rfc3339);
        let v: Vec<u64> = (2..2 + cols.len())
            .map(u)
            .collect::<rusqlite::Result<_>>()?;
        [
            s.packets,
            s.bytes,
            s.kernel_received,
            s.kernel_drops,
            s.if_drops,
            s.decode_errors,
            s.not_ip,
            s.ip_fragments,
            s.flows_created,
            s.flows_evicted,
            s.flows_timed_out,
            s.devices_untracked,
            s.records_dropped,
            s.records_failed,
            s.read_errors,
        ] = v.try_into().unwrap_or([0; 15]);
        Ok(())
    })?;
    let mut st =
        conn.prepare("SELECT decode_errors_by_kind FROM capture_stats WHERE decode_errors > 0")?;
    for text in st.query_map([], |r| r.get::<_, String>(0))? {
        let map: BTreeMap<String, u64> = serde_json::from_str(&text?).unwrap_or_default();
        for (k, v) in map {
            *s.decode_errors_by_kind.entry(k).or_default() += v;
        }
    }
    Ok(s)
}
