//! The `alerts` table: one row per alert, written when it opens and again
//! (same id) as repeats fold into it; and `policy_state`, what the policy
//! keeps across restarts (when learning started).

use crate::alert::{AlertRecord, Party};
use crate::flow::proto_name;
use crate::net::MacText;
use crate::time::{rfc3339, Micros};
use rusqlite::types::Value;
use rusqlite::{Connection, Transaction};
use serde::Serialize;

/// An alert, new or grown: inserted, or its row replaced.
pub fn upsert(tx: &Transaction<'_>, a: &AlertRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO alerts (alert_id, first_seen_us, last_seen_us, count, rule, severity, clause,
            message, detail, device_mac, device_ip, device_class, device_name, grade,
            peer_mac, peer_ip, peer_class, peer_name, flow_id, proto, src_ip, src_port,
            dest_ip, dest_port, app_proto, community_id, evidence, observation)
         VALUES (:alert_id, :first_seen_us, :last_seen_us, :count, :rule, :severity, :clause,
            :message, :detail, :device_mac, :device_ip, :device_class, :device_name, :grade,
            :peer_mac, :peer_ip, :peer_class, :peer_name, :flow_id, :proto, :src_ip, :src_port,
            :dest_ip, :dest_port, :app_proto, :community_id, :evidence, :observation)
         ON CONFLICT(alert_id) DO UPDATE SET
            last_seen_us = excluded.last_seen_us, count = excluded.count,
            severity = excluded.severity, message = excluded.message,
            device_ip = excluded.device_ip, device_class = excluded.device_class,
            device_name = excluded.device_name, grade = excluded.grade,
            peer_ip = excluded.peer_ip, peer_class = excluded.peer_class,
            peer_name = excluded.peer_name, app_proto = excluded.app_proto,
            evidence = excluded.evidence",
    )?;
    let mac = |p: &Party| p.mac.map(|m| m.text());
    let (dmac, pmac) = (mac(&a.device), mac(&a.peer));
    let f = a.flow.as_ref();
    let community = f.and_then(|f| {
        let ports = matches!(f.proto, 6 | 17 | 132);
        super::flow::community_id_of(
            f.proto,
            (f.src.0, ports.then_some(f.src.1)),
            (f.dest.0, ports.then_some(f.dest.1)),
        )
    });
    let evidence = serde_json::Value::Object(a.evidence.clone()).to_string();
    execute_named!(st, {
        ":alert_id": a.alert_id as i64,
        ":first_seen_us": a.first_seen,
        ":last_seen_us": a.last_seen,
        ":count": a.count as i64,
        ":rule": a.rule.id(),
        ":severity": a.severity.name(),
        ":clause": a.rule.clause(),
        ":message": a.message,
        ":detail": a.detail,
        ":device_mac": dmac.as_ref().map(MacText::as_str),
        ":device_ip": a.device.ip.map(|ip| ip.to_string()),
        ":device_class": a.device.class,
        ":device_name": a.device.name,
        ":grade": a.device.grade,
        ":peer_mac": pmac.as_ref().map(MacText::as_str),
        ":peer_ip": a.peer.ip.map(|ip| ip.to_string()),
        ":peer_class": a.peer.class,
        ":peer_name": a.peer.name,
        ":flow_id": f.map(|f| f.flow_id as i64),
        ":proto": f.map(|f| f.proto),
        ":src_ip": f.map(|f| f.src.0.to_string()),
        ":src_port": f.map(|f| f.src.1),
        ":dest_ip": f.map(|f| f.dest.0.to_string()),
        ":dest_port": f.map(|f| f.dest.1),
        ":app_proto": f.and_then(|f| f.app_proto).map(|p| p.name()),
        ":community_id": community,
        ":evidence": evidence,
        ":observation": a.observation,
    })?;
    Ok(())
}

/// An alert's count and last-seen time grew.
pub fn seen(tx: &Transaction<'_>, s: &crate::alert::AlertSeen) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "UPDATE alerts SET count = :count, last_seen_us = MAX(last_seen_us, :last_seen_us)
         WHERE alert_id = :alert_id",
    )?;
    execute_named!(st, {
        ":count": s.count as i64,
        ":last_seen_us": s.last_seen,
        ":alert_id": s.alert_id as i64,
    })?;
    Ok(())
}

/// The highest alert id stored (0 when none).
pub fn max_alert_id(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COALESCE(MAX(alert_id), 0) FROM alerts", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|v| v.max(0) as u64)
}

/// A value `policy_state` keeps under `key`.
pub fn state(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    let mut st = conn.prepare("SELECT value FROM policy_state WHERE key = ?1")?;
    let mut rows = st.query([key])?;
    rows.next()?.map(|r| r.get(0)).transpose()
}

/// Keeps `value` under `key` unless a value is there already; returns
/// the value kept.
pub fn state_or_set(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT OR IGNORE INTO policy_state (key, value) VALUES (?1, ?2)",
        rusqlite::params![key, value],
    )?;
    Ok(state(conn, key)?.unwrap_or(value))
}

/// Filters for [`alerts`].
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    /// Alerts last seen at or after this time.
    pub since: Option<Micros>,
    /// Alerts first seen at or before this time.
    pub until: Option<Micros>,
    /// Severities at least this urgent ("high", "medium", "low", "info").
    pub severity: Option<crate::kinds::Severity>,
    /// About this device (MAC or IP), as device or peer.
    pub device: Option<super::super::filter::DeviceSel>,
    /// This rule id.
    pub rule: Option<String>,
    /// Alerts with an id above this (for following).
    pub after_id: Option<u64>,
    /// Learning-mode observations instead of alerts.
    pub observations: bool,
    /// This one alert.
    pub id: Option<u64>,
    /// Most rows (None: all).
    pub limit: Option<u64>,
}

/// One alert, as `medtap alerts --json` prints it: one JSON object a line.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlertRow {
    /// Its id.
    pub alert_id: u64,
    /// First seen (RFC 3339).
    pub ts: String,
    /// Last seen (RFC 3339).
    pub last_seen: String,
    /// Occurrences folded into it.
    pub count: u64,
    /// "high", "medium", "low", "info".
    pub severity: String,
    /// Rule id.
    pub rule: String,
    /// DB3205/T clause(s).
    pub clause: String,
    /// One line for humans.
    pub message: String,
    /// The device it is about.
    pub device_mac: Option<String>,
    /// Its address.
    pub device_ip: Option<String>,
    /// Its class.
    pub device_class: Option<String>,
    /// Its name in the asset list.
    pub device_name: Option<String>,
    /// Its Table B.1 grade.
    pub grade: Option<u8>,
    /// The other end's address.
    pub peer_ip: Option<String>,
    /// The other end's MAC.
    pub peer_mac: Option<String>,
    /// The other end's class.
    pub peer_class: Option<String>,
    /// The other end's name in the asset list.
    pub peer_name: Option<String>,
    /// The flow's initiator address.
    pub src_ip: Option<String>,
    /// Its port.
    pub src_port: Option<u16>,
    /// The flow's responder address.
    pub dest_ip: Option<String>,
    /// Its port.
    pub dest_port: Option<u16>,
    /// "tcp", "udp", ...
    pub proto: Option<String>,
    /// Application protocol.
    pub app_proto: Option<String>,
    /// The first flow behind it.
    pub flow_id: Option<u64>,
    /// Its Community ID.
    pub community_id: Option<String>,
    /// What folds repeats into it besides rule and ends.
    pub detail: String,
    /// A learning-mode observation, not an alert.
    pub observation: bool,
    /// The facts behind it.
    pub evidence: serde_json::Value,
}

/// Alerts matching `f`, oldest first.
pub fn alerts(conn: &Connection, f: &AlertFilter) -> rusqlite::Result<Vec<AlertRow>> {
    let mut sql = String::from(
        "SELECT alert_id, first_seen_us, last_seen_us, count, severity, rule, clause, message,
                device_mac, device_ip, device_class, device_name, grade, peer_ip, peer_mac,
                peer_class, peer_name, src_ip, src_port, dest_ip, dest_port, proto, app_proto,
                flow_id, community_id, detail, observation, evidence
         FROM alerts WHERE observation = :observation",
    );
    let mut args: Vec<(&str, Value)> = vec![(":observation", i64::from(f.observations).into())];
    let mut push = |clause: &str, name: &'static str, v: Value| {
        sql.push_str(clause);
        args.push((name, v));
    };
    if let Some(id) = f.id {
        push(" AND alert_id = :id", ":id", (id as i64).into());
    }
    if let Some(t) = f.since {
        push(" AND last_seen_us >= :since", ":since", t.into());
    }
    if let Some(t) = f.until {
        push(" AND first_seen_us <= :until", ":until", t.into());
    }
    if let Some(id) = f.after_id {
        push(" AND alert_id > :after", ":after", (id as i64).into());
    }
    if let Some(r) = &f.rule {
        push(" AND rule = :rule", ":rule", r.clone().into());
    }
    match f.device {
        Some(super::super::filter::DeviceSel::Mac(m)) => push(
            " AND (device_mac = :device OR peer_mac = :device)",
            ":device",
            m.to_string().into(),
        ),
        Some(super::super::filter::DeviceSel::Ip(ip)) => push(
            " AND (device_ip = :device OR peer_ip = :device)",
            ":device",
            ip.to_string().into(),
        ),
        None => {}
    }
    if let Some(s) = f.severity {
        let names: Vec<String> = crate::kinds::Severity::ALL
            .iter()
            .filter(|x| **x <= s)
            .map(|x| format!("'{}'", x.name()))
            .collect();
        // Fixed names from the enum, not user text.
        sql.push_str(&format!(" AND severity IN ({})", names.join(",")));
    }
    sql.push_str(" ORDER BY first_seen_us, alert_id");
    if let Some(l) = f.limit {
        sql.push_str(&format!(" LIMIT {}", l.min(i64::MAX as u64)));
    }
    let mut st = conn.prepare(&sql)?;
    let params: Vec<(&str, &dyn rusqlite::ToSql)> = args
        .iter()
        .map(|(k, v)| (*k, v as &dyn rusqlite::ToSql))
        .collect();
    let rows = st.query_map(params.as_slice(), |r| {
        let u = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        let evidence: String = r.get(27)?;
        Ok(AlertRow {
            alert_id: u(0)?,
            ts: rfc3339(r.get(1)?),
            last_seen: rfc3339(r.get(2)?),
            count: u(3)?,
            severity: r.get(4)?,
            rule: r.get(5)?,
            clause: r.get(6)?,
            message: r.get(7)?,
            device_mac: r.get(8)?,
            device_ip: r.get(9)?,
            device_class: r.get(10)?,
            device_name: r.get(11)?,
            grade: r.get(12)?,
            peer_ip: r.get(13)?,
            peer_mac: r.get(14)?,
            peer_class: r.get(15)?,
            peer_name: r.get(16)?,
            src_ip: r.get(17)?,
            src_port: r.get(18)?,
            dest_ip: r.get(19)?,
            dest_port: r.get(20)?,
            proto: r
                .get::<_, Option<u8>>(21)?
                .map(|p| proto_name(p).to_string()),
            app_proto: r.get(22)?,
            flow_id: r.get::<_, Option<i64>>(23)?.map(|v| v.max(0) as u64),
            community_id: r.get(24)?,
            detail: r.get(25)?,
            observation: r.get(26)?,
            evidence: serde_json::from_str(&evidence).unwrap_or(serde_json::Value::Null),
        })
    })?;
    rows.collect()
}
