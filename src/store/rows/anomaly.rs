//! The `anomalies` table: one row per protocol anomaly seen on a flow
//! (the per-kind counts are in the statistics rows).

use crate::event::AnomalyRecord;
use rusqlite::Transaction;

/// One anomaly.
pub fn insert(tx: &Transaction<'_>, a: &AnomalyRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO anomalies (ts_us, flow_id, name, detail)
         VALUES (:ts_us, :flow_id, :name, :detail)",
    )?;
    execute_named!(st, {
        ":ts_us": a.ts,
        ":flow_id": a.flow.flow_id as i64,
        ":name": a.anomaly.name(),
        ":detail": a.detail,
    })?;
    Ok(())
}
