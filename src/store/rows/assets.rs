//! The `assets` table: a snapshot of the asset list the sensor ran with,
//! written when it starts, so that the query commands (and anyone reading
//! the database later) see which devices were registered and with what.

use crate::device::assets::{Asset, AssetFields};
use rusqlite::{Connection, Transaction};
use serde::Serialize;

/// One registered device, as the asset list gives it: its fields as
/// text (`mac` canonical) and the line of its entry.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct AssetRow {
    /// The entry's fields.
    #[serde(flatten)]
    pub fields: AssetFields,
    /// Line of the entry in the asset file.
    pub line: u64,
}

impl From<&Asset> for AssetRow {
    fn from(a: &Asset) -> AssetRow {
        AssetRow {
            fields: AssetFields::from(a),
            line: a.line as u64,
        }
    }
}

/// Replaces the snapshot with `rows`.
pub fn replace(tx: &Transaction<'_>, rows: &[AssetRow]) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM assets", [])?;
    let mut st = tx.prepare(
        "INSERT INTO assets (line, mac, ip, name, class, department, location, owner, asset_id,
                             udi, notes, contact, usage_form, level)
         VALUES (:line, :mac, :ip, :name, :class, :department, :location, :owner, :asset_id,
                 :udi, :notes, :contact, :usage_form, :level)",
    )?;
    for row in rows {
        let a = &row.fields;
        execute_named!(st, {
            ":line": row.line as i64,
            ":mac": a.mac.as_deref(),
            ":ip": a.ip.as_deref(),
            ":name": a.name.as_deref(),
            ":class": a.class.as_deref(),
            ":department": a.department.as_deref(),
            ":location": a.location.as_deref(),
            ":owner": a.owner.as_deref(),
            ":asset_id": a.asset_id.as_deref(),
            ":udi": a.udi.as_deref(),
            ":notes": a.notes.as_deref(),
            ":contact": a.contact.as_deref(),
            ":usage_form": a.usage_form.as_deref(),
            ":level": a.level.as_deref(),
        })?;
    }
    Ok(())
}

/// The snapshot, by line.
pub fn all(conn: &Connection) -> rusqlite::Result<Vec<AssetRow>> {
    let mut st = conn.prepare(
        "SELECT line, mac, ip, name, class, department, location, owner, asset_id, udi, notes,
                contact, usage_form, level
         FROM assets ORDER BY line",
    )?;
    let rows = st.query_map([], |r| {
        Ok(AssetRow {
            line: r.get::<_, i64>(0)? as u64,
            fields: AssetFields {
                mac: r.get(1)?,
                ip: r.get(2)?,
                name: r.get(3)?,
                class: r.get(4)?,
                department: r.get(5)?,
                location: r.get(6)?,
                owner: r.get(7)?,
                asset_id: r.get(8)?,
                udi: r.get(9)?,
                notes: r.get(10)?,
                contact: r.get(11)?,
                usage_form: r.get(12)?,
                level: r.get(13)?,
            },
        })
    })?;
    rows.collect()
}

/// The entry that registers a device with MAC `mac` using `ips`: the one
/// with its MAC, else one with no MAC and one of its addresses. An entry
/// registering another MAC with the same address does not match: that
/// device holds someone else's address.
pub fn matching<'a>(
    list: &'a [AssetRow],
    mac: Option<&str>,
    ips: &[String],
) -> Option<&'a AssetRow> {
    if let Some(m) = mac {
        if let Some(a) = list.iter().find(|a| a.fields.mac.as_deref() == Some(m)) {
            return Some(a);
        }
    }
    list.iter().find(|a| {
        let f = &a.fields;
        f.mac.is_none() && f.ip.as_ref().is_some_and(|ip| ips.contains(ip))
    })
}
