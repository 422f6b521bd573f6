//! The inventory tables: `devices` (one row per device, keyed by MAC or,
//! behind a router, by IP), `device_ips` (bindings with their source),
//! `device_names` (hostnames, AE titles, ...), and `device_events` (new
//! devices, new addresses, conflicts, theft, role changes).
//! The selects for `medtap devices` and `medtap device` are in
//! [`super::inventory`].

use crate::device::classify::ClassRecord;
use crate::device::{ChangeKind, ChangeRecord, DeviceIpRecord, DeviceRecord, NameRecord, Role};
use rusqlite::Transaction;

/// A device seen: widens its stored first/last seen times, sets vendor
/// and role.
pub fn upsert(tx: &Transaction<'_>, d: &DeviceRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO devices (device, mac, first_seen_us, last_seen_us, vendor, medical_vendor,
                              locally_administered, role)
         VALUES (:device, :mac, :first_seen_us, :last_seen_us, :vendor, :medical_vendor,
                 :locally_administered, :role)
         ON CONFLICT(device) DO UPDATE SET
           first_seen_us = min(first_seen_us, excluded.first_seen_us),
           last_seen_us = max(last_seen_us, excluded.last_seen_us),
           vendor = excluded.vendor,
           medical_vendor = excluded.medical_vendor,
           locally_administered = excluded.locally_administered,
           role = coalesce(excluded.role, role)",
    )?;
    let mac = d.key.mac().map(|m| m.text());
    execute_named!(st, {
        ":device": d.key.to_string(),
        ":mac": mac.as_ref().map(|m| m.as_str()),
        ":first_seen_us": d.first_seen,
        ":last_seen_us": d.last_seen,
        ":vendor": d.vendor.map(|v| v.organization),
        ":medical_vendor": d.vendor.is_some_and(|v| v.medical),
        ":locally_administered": d.locally_administered,
        ":role": d.role.map(Role::name),
    })?;
    Ok(())
}

/// A device ↔ IP binding seen: widens its stored first/last seen times.
pub fn upsert_ip(tx: &Transaction<'_>, d: &DeviceIpRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO device_ips (device, ip, first_seen_us, last_seen_us, source)
         VALUES (:device, :ip, :first_seen_us, :last_seen_us, :source)
         ON CONFLICT(device, ip) DO UPDATE SET
           first_seen_us = min(first_seen_us, excluded.first_seen_us),
           last_seen_us = max(last_seen_us, excluded.last_seen_us)",
    )?;
    execute_named!(st, {
        ":device": d.device.to_string(),
        ":ip": d.ip.to_string(),
        ":first_seen_us": d.first_seen,
        ":last_seen_us": d.last_seen,
        ":source": d.source.name(),
    })?;
    Ok(())
}

/// A name seen for a device: widens its first/last seen times.
pub fn upsert_name(tx: &Transaction<'_>, n: &NameRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO device_names (device, kind, value, first_seen_us, last_seen_us)
         VALUES (:device, :kind, :value, :ts, :ts)
         ON CONFLICT(device, kind, value) DO UPDATE SET
           first_seen_us = min(first_seen_us, excluded.first_seen_us),
           last_seen_us = max(last_seen_us, excluded.last_seen_us)",
    )?;
    execute_named!(st, {
        ":device": n.device.to_string(),
        ":kind": n.kind.name(),
        ":value": &*n.value,
        ":ts": n.ts,
    })?;
    Ok(())
}

/// A device event. A device recognised as a router loses the bindings
/// it only forwarded packets from (their hosts are devices of their own).
pub fn insert_change(tx: &Transaction<'_>, c: &ChangeRecord) -> rusqlite::Result<()> {
    let device = c.device.to_string();
    let mut st = tx.prepare_cached(
        "INSERT INTO device_events (ts_us, device, kind, ip, other_mac, evidence, held_by,
                                    held_until_us, detail)
         VALUES (:ts_us, :device, :kind, :ip, :other_mac, :evidence, :held_by, :held_until_us,
                 :detail)",
    )?;
    let other = c.other_mac.map(|m| m.text());
    execute_named!(st, {
        ":ts_us": c.ts,
        ":device": &device,
        ":kind": c.kind.name(),
        ":ip": c.ip.map(|ip| ip.to_string()),
        ":other_mac": other.as_ref().map(|m| m.as_str()),
        ":evidence": c.evidence.name(),
        ":held_by": c.held_by.map(|s| s.name()),
        ":held_until_us": c.held_until,
        ":detail": c.detail.as_deref(),
    })?;
    if c.kind == ChangeKind::RoleChange {
        tx.prepare_cached("DELETE FROM device_ips WHERE device = ?1 AND source = 'ip'")?
            .execute([&device])?;
    }
    Ok(())
}

/// A device's new classification: class, confidence, evidence, grade and
/// the attributes it came from (the device's row exists: it was reported
/// when first seen).
pub fn update_class(tx: &Transaction<'_>, r: &ClassRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "UPDATE devices SET class = :class, class_name = :class_name,
            class_name_zh = :class_name_zh, class_source = :class_source, medical = :medical,
            confidence = :confidence, runner_up = :runner_up, grade = :grade,
            contact = :contact, usage_form = :usage_form, level = :level,
            grade_source = :grade_source, evidence = :evidence, classified_us = :ts
         WHERE device = :device",
    )?;
    let c = &r.class;
    let a = c.basis.map(|b| b.attributes);
    // Two decimals: what the output shows, and no float noise in queries.
    let confidence = (c.confidence * 100.0).round() / 100.0;
    // Bound in the order the SQL names them (`execute_named!`).
    execute_named!(st, {
        ":class": &c.class,
        ":class_name": &c.class_name,
        ":class_name_zh": &c.class_name_zh,
        ":class_source": c.source.name(),
        ":medical": c.medical,
        ":confidence": confidence,
        ":runner_up": c.runner_up.as_deref(),
        ":grade": c.grade.map(|g| g.get()),
        ":contact": a.map(|a| a.contact()),
        ":usage_form": a.map(|a| a.form_name()),
        ":level": a.map(|a| a.level_name()),
        ":grade_source": c.basis.map(|b| b.source.name()),
        ":evidence": serde_json::to_string(&c.evidence).unwrap_or_default(),
        ":ts": r.ts,
        ":device": r.device.to_string(),
    })?;
    Ok(())
}
