//! What `medtap status` shows: the statistics summed, the tables counted
//! and the newest writing session.

use super::rows::session::{self, SessionRow};
use crate::stats::StatsTotals;
use crate::time::rfc3339;
use rusqlite::Connection;
use serde::Serialize;

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
    /// Alerts stored, by severity (learning-mode observations apart, under
    /// "observation").
    pub alerts: std::collections::BTreeMap<String, u64>,
    /// Capture statistics rows.
    pub stats_rows: u64,
    /// RFC 3339 time of the newest statistics row.
    pub last_update: Option<String>,
    /// Every counter summed (its fields are flattened into the JSON object,
    /// and readable as `status.packets`).
    #[serde(flatten)]
    pub totals: StatsTotals,
    /// Records lost in all: dropped before the writer plus not written.
    pub records_lost: u64,
    /// The newest writing session (`analyze` or `run`) and how it ended.
    pub last_session: Option<SessionRow>,
    /// The packet archive's files kept and deleted.
    pub archive: super::rows::archive::ArchiveSummary,
    /// Retention: settings, size, oldest rows kept, rows pruned in all.
    pub retention: super::retention::RetentionStatus,
}

// `status.packets` rather than `status.totals.packets`: the counters are
// the status's own figures, nested only so that they are defined once.
impl std::ops::Deref for Status {
    type Target = StatsTotals;
    fn deref(&self) -> &StatsTotals {
        &self.totals
    }
}

/// Sums the statistics and counts the tables; `writer_running` tells
/// whether a process holds the database's write lock now.
pub fn status(conn: &Connection, db_bytes: u64, writer_running: bool) -> rusqlite::Result<Status> {
    let count = |t: &str| {
        conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| {
            r.get::<_, i64>(0)
        })
    };
    let summed = super::rows::stats::sum(conn)?;
    let t = &summed.totals;
    Ok(Status {
        schema_version: super::schema_version(conn)?,
        db_bytes,
        flows: count("flows")? as u64,
        devices: count("devices")? as u64,
        alerts: alert_counts(conn)?,
        stats_rows: summed.rows,
        last_update: summed.last_written.map(rfc3339),
        records_lost: t.records_dropped + t.records_failed,
        last_session: session::latest(conn, writer_running)?,
        archive: super::rows::archive::summary(conn)?,
        retention: super::retention::status(conn)?,
        totals: summed.totals,
    })
}

/// Alerts by severity; observations under "observation".
fn alert_counts(conn: &Connection) -> rusqlite::Result<std::collections::BTreeMap<String, u64>> {
    let mut st = conn.prepare(
        "SELECT CASE WHEN observation THEN 'observation' ELSE severity END, COUNT(*)
         FROM alerts GROUP BY 1",
    )?;
    let rows = st.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    rows.collect()
}
