//! The `flows` table: one row per flow, written when it ends (or as an
//! interim record that the final one updates in place).

use crate::flow::{proto_name, FlowRecord};
use crate::net::MacText;
use crate::store::filter::{DeviceSel, Where};
use crate::time::{rfc3339, Micros};
use rusqlite::{Connection, Transaction};
use serde::Serialize;

pub use crate::flow::community::{community_id, community_id_of};

/// A flow: its final record, or an interim one written while it is still
/// open (which the final record then updates in place).
pub fn insert(tx: &Transaction<'_>, f: &FlowRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO flows (flow_id, community_id, start_us, end_us, proto, src_ip, src_port,
            dest_ip, dest_port, icmp_type, icmp_code, vlan, src_mac, dest_mac, app_proto,
            pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient,
            payload_bytes_toserver, payload_bytes_toclient, tcp_flags_toserver, tcp_flags_toclient,
            state, reason)
         VALUES (:flow_id, :community_id, :start_us, :end_us, :proto, :src_ip, :src_port,
            :dest_ip, :dest_port, :icmp_type, :icmp_code, :vlan, :src_mac, :dest_mac, :app_proto,
            :pkts_toserver, :pkts_toclient, :bytes_toserver, :bytes_toclient,
            :payload_bytes_toserver, :payload_bytes_toclient, :tcp_flags_toserver,
            :tcp_flags_toclient, :state, :reason)
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
    let (src_mac, dest_mac) = (f.src_mac.map(|m| m.text()), f.dest_mac.map(|m| m.text()));
    execute_named!(st, {
        ":flow_id": f.flow_id as i64,
        ":community_id": community_id(f),
        ":start_us": f.start,
        ":end_us": f.end,
        ":proto": f.proto,
        ":src_ip": f.src_ip.to_string(),
        ":src_port": f.src_port,
        ":dest_ip": f.dest_ip.to_string(),
        ":dest_port": f.dest_port,
        ":icmp_type": f.icmp.map(|i| i.0),
        ":icmp_code": f.icmp.map(|i| i.1),
        ":vlan": f.vlan,
        ":src_mac": src_mac.as_ref().map(MacText::as_str),
        ":dest_mac": dest_mac.as_ref().map(MacText::as_str),
        ":app_proto": f.app_proto.map(|p| p.name()),
        ":pkts_toserver": s.pkts as i64,
        ":pkts_toclient": c.pkts as i64,
        ":bytes_toserver": s.bytes as i64,
        ":bytes_toclient": c.bytes as i64,
        ":payload_bytes_toserver": s.payload_bytes as i64,
        ":payload_bytes_toclient": c.payload_bytes as i64,
        ":tcp_flags_toserver": s.tcp_flags,
        ":tcp_flags_toclient": c.tcp_flags,
        ":state": f.state.name(),
        ":reason": f.reason.name(),
    })?;
    Ok(())
}

/// The highest flow id stored (0 when none).
pub fn max_flow_id(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COALESCE(MAX(flow_id), 0) FROM flows", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|v| v.max(0) as u64)
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
    let mut w = Where::default();
    w.device_and_time(f.device, f.since, f.until);
    if let Some(p) = f.proto {
        w.push(" AND f.proto = :proto", ":proto", i64::from(p).into());
    }
    if let Some(a) = &f.app_proto {
        w.push(
            " AND f.app_proto = :app_proto",
            ":app_proto",
            a.clone().into(),
        );
    }
    w.order_and_limit(f.limit);
    let sql = format!(
        "SELECT flow_id, community_id, start_us, end_us, proto, src_ip, src_port, dest_ip, dest_port,
                vlan, src_mac, dest_mac, app_proto, pkts_toserver, pkts_toclient, bytes_toserver,
                bytes_toclient, state, reason
         FROM flows f WHERE 1=1{}",
        w.sql
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(w.params().as_slice(), |r| {
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
