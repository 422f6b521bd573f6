//! The `devices` and `device_ips` tables: the inventory, one row per MAC
//! and one per MAC ↔ IP binding, each with the first and last time seen.

use crate::device::{DeviceIpRecord, DeviceRecord};
use crate::time::rfc3339;
use rusqlite::{Connection, Transaction};
use serde::Serialize;
use std::collections::BTreeMap;

/// A device seen: widens its stored first/last seen times.
pub fn upsert(tx: &Transaction<'_>, d: &DeviceRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO devices (mac, first_seen_us, last_seen_us)
         VALUES (:mac, :first_seen_us, :last_seen_us)
         ON CONFLICT(mac) DO UPDATE SET
           first_seen_us = min(first_seen_us, excluded.first_seen_us),
           last_seen_us = max(last_seen_us, excluded.last_seen_us)",
    )?;
    execute_named!(st, {
        ":mac": d.mac.text().as_str(),
        ":first_seen_us": d.first_seen,
        ":last_seen_us": d.last_seen,
    })?;
    Ok(())
}

/// A MAC ↔ IP binding seen: widens its stored first/last seen times.
pub fn upsert_ip(tx: &Transaction<'_>, d: &DeviceIpRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO device_ips (mac, ip, first_seen_us, last_seen_us, source)
         VALUES (:mac, :ip, :first_seen_us, :last_seen_us, :source)
         ON CONFLICT(mac, ip) DO UPDATE SET
           first_seen_us = min(first_seen_us, excluded.first_seen_us),
           last_seen_us = max(last_seen_us, excluded.last_seen_us)",
    )?;
    execute_named!(st, {
        ":mac": d.mac.text().as_str(),
        ":ip": d.ip.to_string(),
        ":first_seen_us": d.first_seen,
        ":last_seen_us": d.last_seen,
        ":source": d.source.name(),
    })?;
    Ok(())
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
