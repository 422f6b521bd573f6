//! The `anomalies` table: one row per protocol anomaly seen on a flow
//! (the per-kind counts are in the statistics rows).

use crate::event::AnomalyRecord;
use rusqlite::{named_params, Transaction};

/// One anomaly.
pub fn insert(tx: &Transaction<'_>, a: &AnomalyRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO anomalies (ts_us, flow_id, name, detail)
         VALUES (:ts_us, :flow_id, :name, :detail)",
    )?;
    st.execute(named_params! {
        ":ts_us": a.ts,
        ":flow_id": a.flow_id as i64,
        ":name": a.anomaly.name(),
        ":detail": a.detail,
    })?;
    Ok(())
}
