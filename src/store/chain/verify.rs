//! `medtap verify`: walks the chain in one read transaction (a consistent
//! snapshot while `medtap run` writes) and compares the rows with it.
//!
//! Per batch: its hash is recomputed from its columns (a changed batch
//! row: `batch_changed`), its previous hash and id must be those of the
//! batch before it (a removed or replaced batch: `chain_broken` at the
//! next one), and its entries must be there unless retention may have
//! deleted all their rows (`entries_removed`).
//!
//! Per row: the newest entry of each row must match the row as it is now
//! (`changed`); a row of an entry that is gone was `removed`, unless its
//! rowid is at or below the table's retention mark (counted as pruned); a
//! row in no entry was written outside medtap's writer or its batch was
//! removed (`unrecorded`), unless it predates the chain (unchained).
//!
//! A batch whose entries retention cleared ([`super::drop_pruned_entries`])
//! held writes of rows at or below the marks: a row still there whose newest
//! write may have been in such a batch cannot be checked, and is counted as
//! uncheckable rather than accused.
//!
//! Memory: one entry (about 40 bytes) per chained row kept, sorted.

use super::{
    batch_hash, decode, hex, row_digest, sha256, to_hash, Entry, Meta, RowDigest, Table, HASH_LEN,
};
use crate::time::rfc3339;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde::Serialize;
use std::collections::BTreeMap;

/// Problems listed in a [`Report`] (all are counted).
pub const MAX_LISTED: usize = 100;

/// What was found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A batch row does not match its own hash (it was edited).
    BatchChanged,
    /// A batch does not follow the one before it: a batch before it was
    /// removed, or replaced.
    ChainBroken,
    /// A batch's entries are gone while rows it covers are above the
    /// retention marks.
    EntriesRemoved,
    /// A row differs from what its newest batch recorded.
    Changed,
    /// A row a batch recorded is gone, above the retention mark.
    Removed,
    /// A row no batch recorded, newer than the chain's start: written
    /// outside medtap's writer, or its batch was removed.
    Unrecorded,
    /// The head recorded earlier (`--head`) is gone or has another hash:
    /// the chain was cut short or rewritten.
    HeadMismatch,
}

impl ProblemKind {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::BatchChanged => "batch_changed",
            ProblemKind::ChainBroken => "chain_broken",
            ProblemKind::EntriesRemoved => "entries_removed",
            ProblemKind::Changed => "changed",
            ProblemKind::Removed => "removed",
            ProblemKind::Unrecorded => "unrecorded",
            ProblemKind::HeadMismatch => "head_mismatch",
        }
    }
}

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What.
    pub kind: ProblemKind,
    /// The batch it concerns (none for an unrecorded row).
    pub batch_id: Option<i64>,
    /// When that batch was written (RFC 3339).
    pub written: Option<String>,
    /// The table of the row, for row problems.
    pub table: Option<Table>,
    /// The row's rowid (`flow_id`, `alert_id`).
    pub rowid: Option<i64>,
    /// One line for humans.
    pub detail: String,
}

/// A count per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Flow rows.
    pub flows: u64,
    /// Alert rows.
    pub alerts: u64,
}

impl Counts {
    fn add(&mut self, t: Table) {
        match t {
            Table::Flows => self.flows += 1,
            Table::Alerts => self.alerts += 1,
        }
    }

    /// Both tables.
    pub fn total(&self) -> u64 {
        self.flows + self.alerts
    }
}

/// The newest batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Head {
    /// Its id.
    pub batch_id: i64,
    /// When it was written (RFC 3339).
    pub written: String,
    /// Its hash (hex): keep it elsewhere to detect a rewrite later.
    pub hash: String,
}

/// A head recorded earlier (`medtap verify` printed it), to check that the
/// chain still holds it: `BATCH_ID:HASH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownHead {
    /// The batch.
    pub batch_id: i64,
    /// Its hash, lower-case hex.
    pub hash: String,
}

impl std::str::FromStr for KnownHead {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "{s:?} is not BATCH_ID:HASH (64 hex digits), as `medtap verify` prints the head"
            )
        };
        let (id, hash) = s.split_once(':').ok_or_else(bad)?;
        let batch_id = id.trim().parse().map_err(|_| bad())?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 2 * HASH_LEN || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(KnownHead { batch_id, hash })
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// No problem found.
    pub intact: bool,
    /// Batches walked.
    pub batches: u64,
    /// Batches whose entries retention cleared (their hashes still link).
    pub batches_pruned: u64,
    /// The newest batch.
    pub head: Option<Head>,
    /// Rows compared with their newest entry.
    pub rows_checked: Counts,
    /// Rows recorded by the chain and deleted by retention (at or below
    /// its mark).
    pub rows_pruned: Counts,
    /// Rows written before the chain existed (an older medtap).
    pub rows_unchained: Counts,
    /// Rows at or below the retention mark whose newest write may be in a
    /// batch whose entries retention cleared.
    pub rows_uncheckable: Counts,
    /// The retention marks: rows at or below may have been pruned.
    pub retention_marks: BTreeMap<&'static str, i64>,
    /// The first problem: the lowest batch, then the lowest row.
    pub first_problem: Option<Problem>,
    /// Problems by kind.
    pub problems_by_kind: BTreeMap<&'static str, u64>,
    /// Every problem counted.
    pub problems: u64,
    /// The first [`MAX_LISTED`] problems, in the order of `first_problem`.
    pub listed: Vec<Problem>,
}

/// A batch as [`verify`] keeps it.
struct Batch {
    id: i64,
    written_us: i64,
    columns: [i64; 2],
}

/// Newest entry of a row: its batch (index into the batches) and digest.
struct Latest {
    table: Table,
    rowid: i64,
    batch: u32,
    digest: RowDigest,
}

/// Per table, the batches whose entries were cleared: ids ascending, with
/// the highest rowid of that batch or any later cleared one.
#[derive(Default)]
struct Cleared {
    ids: Vec<i64>,
    suffix_max: Vec<i64>,
}

impl Cleared {
    fn push(&mut self, id: i64, max: Option<i64>) {
        if let Some(max) = max {
            self.ids.push(id);
            self.suffix_max.push(max);
        }
    }

    fn finish(&mut self) {
        for i in (0..self.suffix_max.len().saturating_sub(1)).rev() {
            self.suffix_max[i] = self.suffix_max[i].max(self.suffix_max[i + 1]);
        }
    }

    /// Whether a cleared batch after `after` may have written `rowid`.
    fn may_cover(&self, after: i64, rowid: i64) -> bool {
        let i = self.ids.partition_point(|&id| id <= after);
        self.suffix_max.get(i).is_some_and(|&m| m >= rowid)
    }
}

/// Collects problems and counts.
struct Findings {
    report: Report,
    problems: Vec<Problem>,
}

impl Findings {
    fn problem(
        &mut self,
        kind: ProblemKind,
        batch: Option<&Batch>,
        row: Option<(Table, i64)>,
        detail: String,
    ) {
        *self.report.problems_by_kind.entry(kind.name()).or_default() += 1;
        self.report.problems += 1;
        self.problems.push(Problem {
            kind,
            batch_id: batch.map(|b| b.id),
            written: batch.map(|b| rfc3339(b.written_us)),
            table: row.map(|r| r.0),
            rowid: row.map(|r| r.1),
            detail,
        });
    }
}

/// Verifies the chain of the database `conn` (module docs), in one read
/// transaction; with `known`, also that the chain still holds that head.
pub fn verify(conn: &Connection, known: Option<&KnownHead>) -> rusqlite::Result<Report> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)?;
    let mut f = Findings {
        report: Report::default(),
        problems: Vec::new(),
    };
    let marks = read_marks(&tx)?;
    for t in Table::ALL {
        if let Some(m) = marks[t.index()] {
            f.report.retention_marks.insert(t.name(), m);
        }
    }
    let (batches, entries, cleared, mut bases) = walk_batches(&tx, &marks, known, &mut f)?;
    if batches.is_empty() {
        // No chain yet: every row predates it (an older medtap's
        // database). Deleting every batch looks the same, which only a
        // head recorded elsewhere (`known`) tells apart.
        bases = [Some(i64::MAX); 2];
    }
    let latest = newest_entries(entries);
    for t in Table::ALL {
        let i = t.index();
        check_rows(
            &tx,
            t,
            &latest,
            &batches,
            &cleared[i],
            marks[i],
            bases[i],
            &mut f,
        )?;
    }
    tx.finish()?;
    let mut problems = f.problems;
    // The first bad batch first; rows no batch recorded last.
    problems.sort_by_key(|p| (p.batch_id.unwrap_or(i64::MAX), p.kind, p.table, p.rowid));
    problems.truncate(MAX_LISTED);
    let mut r = f.report;
    r.intact = r.problems == 0;
    r.first_problem = problems.first().cloned();
    r.listed = problems;
    Ok(r)
}

/// `retention_marks` per [`Table::index`].
fn read_marks(conn: &Connection) -> rusqlite::Result<[Option<i64>; 2]> {
    let mut out = [None; 2];
    let mut st = conn.prepare("SELECT tbl, pruned_through FROM retention_marks")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let tbl: String = r.get(0)?;
        let mark: i64 = r.get(1)?;
        match tbl.as_str() {
            "flows" => out[Table::Flows.index()] = Some(mark),
            "alerts" => out[Table::Alerts.index()] = Some(mark),
            _ => {}
        }
    }
    Ok(out)
}

type Walked = (
    Vec<Batch>,
    Vec<(Entry, u32)>,
    [Cleared; 2],
    [Option<i64>; 2],
);

/// Walks `chain_batches` in order, checking each batch's hash and link;
/// returns the batches, every entry with its batch index, the batches
/// whose entries were cleared and the chain's bases.
fn walk_batches(
    conn: &Connection,
    marks: &[Option<i64>; 2],
    known: Option<&KnownHead>,
    f: &mut Findings,
) -> rusqlite::Result<Walked> {
    let mut known_seen = false;
    let mut st = conn.prepare(
        "SELECT batch_id, written_us, flow_columns, alert_columns, flow_rows, alert_rows,
                flow_min, flow_max, alert_min, alert_max, flow_base, alert_base,
                entries, entries_hash, prev_hash, hash
         FROM chain_batches ORDER BY batch_id",
    )?;
    let mut rows = st.query([])?;
    let mut batches = Vec::new();
    let mut entries = Vec::new();
    let mut cleared: [Cleared; 2] = Default::default();
    let mut bases = [None; 2];
    let mut prev: Option<(i64, [u8; HASH_LEN])> = None;
    while let Some(r) = rows.next()? {
        let m = Meta {
            batch_id: r.get(0)?,
            written_us: r.get(1)?,
            columns: [r.get(2)?, r.get(3)?],
            rows: [r.get(4)?, r.get(5)?],
            min: [r.get(6)?, r.get(8)?],
            max: [r.get(7)?, r.get(9)?],
            base: [r.get(10)?, r.get(11)?],
        };
        let blob = blob_of(r.get_ref(12)?);
        let entries_hash = blob_of(r.get_ref(13)?).unwrap_or_default();
        let prev_hash = blob_of(r.get_ref(14)?).unwrap_or_default();
        let hash = blob_of(r.get_ref(15)?).unwrap_or_default();
        let b = Batch {
            id: m.batch_id,
            written_us: m.written_us,
            columns: m.columns,
        };
        let idx = batches.len() as u32;
        f.report.batches += 1;
        let (prev_id, expected_prev) = prev.unwrap_or((0, [0; HASH_LEN]));
        if m.batch_id != prev_id + 1 || prev_hash != expected_prev {
            let detail = if m.batch_id > prev_id + 1 {
                match m.batch_id - prev_id - 1 {
                    1 => format!("batch {} is missing", prev_id + 1),
                    _ => format!("batches {} to {} are missing", prev_id + 1, m.batch_id - 1),
                }
            } else if prev_id == 0 {
                "the first batch does not start the chain".into()
            } else {
                format!("its previous hash is not batch {prev_id}'s hash")
            };
            f.problem(ProblemKind::ChainBroken, Some(&b), None, detail);
        }
        if prev_id == 0 && m.batch_id == 1 {
            bases = m.base;
        }
        let hashed_ok = entries_hash.len() == HASH_LEN
            && to_hash(&hash) == batch_hash(&to_hash(&prev_hash), &m, &to_hash(&entries_hash))
            && hash.len() == HASH_LEN;
        let mut good_entries = None;
        match &blob {
            Some(blob) if hashed_ok => {
                if sha256(blob)[..] != entries_hash[..] {
                    f.problem(
                        ProblemKind::BatchChanged,
                        Some(&b),
                        None,
                        "its entries do not match their hash".into(),
                    );
                } else {
                    match decode(blob) {
                        Some(e) if consistent(&m, &e) => good_entries = Some(e),
                        _ => f.problem(
                            ProblemKind::BatchChanged,
                            Some(&b),
                            None,
                            "its entries do not match its row counts".into(),
                        ),
                    }
                }
            }
            None if hashed_ok => {
                let pruned = Table::ALL.iter().all(|t| {
                    let i = t.index();
                    match (m.max[i], marks[i]) {
                        (None, _) => true,
                        (Some(max), Some(mark)) => max <= mark,
                        (Some(_), None) => false,
                    }
                });
                if pruned {
                    f.report.batches_pruned += 1;
                } else {
                    f.problem(
                        ProblemKind::EntriesRemoved,
                        Some(&b),
                        None,
                        "its entries are gone but its rows are above the retention marks".into(),
                    );
                }
                for t in Table::ALL {
                    cleared[t.index()].push(m.batch_id, m.max[t.index()]);
                }
            }
            _ => f.problem(
                ProblemKind::BatchChanged,
                Some(&b),
                None,
                "the batch row does not match its hash".into(),
            ),
        }
        if let Some(es) = good_entries {
            entries.extend(es.into_iter().map(|e| (e, idx)));
        }
        if let Some(k) = known.filter(|k| k.batch_id == m.batch_id) {
            known_seen = true;
            if hex(&hash) != k.hash {
                f.problem(
                    ProblemKind::HeadMismatch,
                    Some(&b),
                    None,
                    format!("its hash is not the {} recorded", k.hash),
                );
            }
        }
        prev = Some((m.batch_id, to_hash(&hash)));
        batches.push(b);
    }
    if let Some(k) = known.filter(|_| !known_seen) {
        f.problem(
            ProblemKind::HeadMismatch,
            None,
            None,
            format!(
                "batch {} recorded earlier is gone: the chain was cut short",
                k.batch_id
            ),
        );
    }
    for c in &mut cleared {
        c.finish();
    }
    if let (Some((id, hash)), Some(b)) = (prev, batches.last()) {
        f.report.head = Some(Head {
            batch_id: id,
            written: rfc3339(b.written_us),
            hash: hex(&hash),
        });
    }
    Ok((batches, entries, cleared, bases))
}

/// A BLOB column's bytes (`None` for NULL; TEXT counts as its bytes).
fn blob_of(v: ValueRef<'_>) -> Option<Vec<u8>> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
        _ => None,
    }
}

/// Whether decoded entries agree with the batch's counts and ranges.
fn consistent(m: &Meta, entries: &[Entry]) -> bool {
    let mut seen = Meta::default();
    for e in entries {
        seen.count(e.table, e.rowid);
    }
    seen.rows == m.rows && seen.min == m.min && seen.max == m.max
}

/// The newest entry of each row, sorted by table and rowid.
fn newest_entries(mut entries: Vec<(Entry, u32)>) -> Vec<Latest> {
    entries.sort_unstable_by_key(|(e, b)| (e.table, e.rowid, *b));
    let mut out: Vec<Latest> = Vec::with_capacity(entries.len());
    for (e, b) in entries {
        let l = Latest {
            table: e.table,
            rowid: e.rowid,
            batch: b,
            digest: e.digest,
        };
        match out.last_mut() {
            Some(last) if last.table == e.table && last.rowid == e.rowid => *last = l,
            _ => out.push(l),
        }
    }
    out
}

/// Merges table `t`'s rows (in rowid order) with its newest entries.
#[allow(clippy::too_many_arguments)]
fn check_rows(
    conn: &Connection,
    t: Table,
    latest: &[Latest],
    batches: &[Batch],
    cleared: &Cleared,
    mark: Option<i64>,
    base: Option<i64>,
    f: &mut Findings,
) -> rusqlite::Result<()> {
    let pruned = |rowid: i64| mark.is_some_and(|m| rowid <= m);
    // Without the first batch (reported as a broken chain) nothing says
    // where the chain started: every row in no batch is unrecorded.
    let base = base.unwrap_or(0);
    let mine: Vec<&Latest> = latest.iter().filter(|l| l.table == t).collect();
    let mut next = mine.iter().peekable();
    let missing = |l: &Latest, f: &mut Findings| {
        let b = &batches[l.batch as usize];
        if pruned(l.rowid) {
            f.report.rows_pruned.add(t);
        } else {
            f.problem(
                ProblemKind::Removed,
                Some(b),
                Some((t, l.rowid)),
                format!("{} {} is gone", t.row_name(), l.rowid),
            );
        }
    };
    let sql = match t {
        Table::Flows => "SELECT rowid, * FROM flows ORDER BY rowid",
        Table::Alerts => "SELECT rowid, * FROM alerts ORDER BY rowid",
    };
    let mut st = conn.prepare(sql)?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let rowid: i64 = r.get(0)?;
        while let Some(l) = next.next_if(|l| l.rowid < rowid) {
            missing(l, f);
        }
        match next.next_if(|l| l.rowid == rowid) {
            Some(l) => {
                let b = &batches[l.batch as usize];
                let n = usize::try_from(b.columns[t.index()]).unwrap_or(usize::MAX);
                if row_digest(t, rowid, r, 1, n)? == l.digest {
                    f.report.rows_checked.add(t);
                } else if pruned(rowid) && cleared.may_cover(b.id, rowid) {
                    f.report.rows_uncheckable.add(t);
                } else {
                    f.report.rows_checked.add(t);
                    f.problem(
                        ProblemKind::Changed,
                        Some(b),
                        Some((t, rowid)),
                        format!(
                            "{} {rowid} differs from what batch {} recorded",
                            t.row_name(),
                            b.id
                        ),
                    );
                }
            }
            None if rowid <= base => f.report.rows_unchained.add(t),
            None if pruned(rowid) && cleared.may_cover(0, rowid) => {
                f.report.rows_uncheckable.add(t)
            }
            None => f.problem(
                ProblemKind::Unrecorded,
                None,
                Some((t, rowid)),
                format!("{} {rowid} is in no batch", t.row_name()),
            ),
        }
    }
    for l in next {
        missing(l, f);
    }
    Ok(())
}
