//! The `capture_stats` table: one row per statistics period. Its counter
//! columns come from the one table of counters, [`crate::stats::COUNTERS`].

use crate::stats::{StatsRecord, StatsTotals, COUNTERS};
use crate::time::Micros;
use rusqlite::types::{ToSql, Value};
use rusqlite::{Connection, Transaction};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The insert, built once from [`COUNTERS`]: each counter's column (and,
/// for a per-kind counter, its by-name column) with a parameter of the
/// same name.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let mut columns = vec!["written_us", "source", "period_start_us", "period_end_us"];
    for c in COUNTERS {
        columns.push(c.column);
        columns.extend(c.by_name.map(|b| b.column));
    }
    columns.push("session_id");
    let params: Vec<String> = columns.iter().map(|c| format!(":{c}")).collect();
    format!(
        "INSERT INTO capture_stats ({}) VALUES ({})",
        columns.join(", "),
        params.join(", ")
    )
});

/// The non-zero kinds of a per-kind counter as a JSON object
/// `{"name": count}`.
fn by_name_json(values: &[u64], kind_name: fn(usize) -> Option<&'static str>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .filter_map(|(i, n)| Some((kind_name(i)?.to_string(), (*n).into())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// A statistics row of the writing session `session_id`.
pub fn insert(
    tx: &Transaction<'_>,
    s: &StatsRecord,
    session_id: Option<i64>,
) -> rusqlite::Result<()> {
    let mut args: Vec<(&str, Value)> = vec![
        (":written_us", crate::time::now().into()),
        (":source", s.source.clone().into()),
        (":period_start_us", s.period_start.into()),
        (":period_end_us", s.period_end.into()),
        (":session_id", session_id.into()),
    ];
    for c in COUNTERS {
        args.push((c.param, (c.sum(s) as i64).into()));
        if let Some(b) = c.by_name {
            args.push((b.param, by_name_json((c.values)(s), b.kind_name).into()));
        }
    }
    let params: Vec<(&str, &dyn ToSql)> = args.iter().map(|(k, v)| (*k, v as &dyn ToSql)).collect();
    tx.prepare_cached(&INSERT)?.execute(params.as_slice())?;
    Ok(())
}

/// The counters summed over every statistics row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summed {
    /// Statistics rows.
    pub rows: u64,
    /// Time the newest was written.
    pub last_written: Option<Micros>,
    /// The sums.
    pub totals: StatsTotals,
}

/// Sums every counter column (and every by-name column) of `capture_stats`.
pub fn sum(conn: &Connection) -> rusqlite::Result<Summed> {
    let sums: Vec<String> = COUNTERS
        .iter()
        .map(|c| format!("COALESCE(SUM({}), 0)", c.column))
        .collect();
    let sql = format!(
        "SELECT COUNT(*), MAX(written_us), {} FROM capture_stats",
        sums.join(", ")
    );
    let mut s = conn.query_row(&sql, [], |r| {
        let mut s = Summed {
            rows: r.get::<_, i64>(0)?.max(0) as u64,
            last_written: r.get(1)?,
            totals: StatsTotals::default(),
        };
        for (i, c) in COUNTERS.iter().enumerate() {
            *(c.total_mut)(&mut s.totals) = r.get::<_, i64>(i + 2)?.max(0) as u64;
        }
        Ok(s)
    })?;
    for c in COUNTERS {
        let Some(b) = c.by_name else { continue };
        let mut st = conn.prepare(&format!(
            "SELECT {} FROM capture_stats WHERE {} > 0",
            b.column, c.column
        ))?;
        let into = (b.total_mut)(&mut s.totals);
        for text in st.query_map([], |r| r.get::<_, String>(0))? {
            let map: BTreeMap<String, u64> = serde_json::from_str(&text?).unwrap_or_default();
            for (k, v) in map {
                *into.entry(k).or_default() += v;
            }
        }
    }
    Ok(s)
}
