//! The evidence chain over the `flows` and `alerts` tables. The national
//! rules ask hospitals to keep logs safe from tampering and deletion, and
//! DB3205/T 5.5 d) to preserve the records of an incident: an alert or a
//! flow record changed or deleted after the sensor wrote it must be
//! detectable (issue 15 item 6).
//!
//! **Batches.** Each writer transaction that wrote flow or alert rows adds
//! one row to `chain_batches`, in the same transaction: for every such row,
//! read back as SQLite committed it, an entry (table, rowid, row digest),
//! and a SHA-256 over the batch that includes the previous batch's hash.
//! `medtap verify` ([`verify()`]) walks the batches in order.
//!
//! **What is hashed** (all integers little-endian):
//! - row digest: SHA-256(`"medtap chain row v1\0"` ‖ table tag ‖ rowid (i64)
//!   ‖ n (u64) ‖ the row's first n columns, each as a type tag (0 NULL,
//!   1 INTEGER i64, 2 REAL f64 bits, 3 TEXT and 4 BLOB with a u64 length)
//!   and its value), truncated to [`ROW_DIGEST_LEN`] bytes. n is the
//!   table's column count when the batch was written, kept in the batch:
//!   a later `ALTER TABLE ADD COLUMN` adds columns after the first n, and
//!   does not look like tampering.
//! - entries: per row, sorted by table then rowid, the tag (`f`/`a`), the
//!   rowid as a zigzag LEB128 varint of its difference to the previous
//!   rowid of that table, and the digest: about 18 bytes a row.
//! - batch hash: SHA-256(`"medtap chain batch v1\0"` ‖ previous hash ‖
//!   batch id ‖ time written ‖ per table: column count, rows, lowest and
//!   highest rowid, base ‖ SHA-256(entries)). The first batch's previous
//!   hash is 32 zero bytes.
//!
//! Why the rows are read back rather than digested from the values bound
//! for the insert: alerts and interim flows are upserts that keep some
//! columns of the stored row (an alert's rule and first-seen time) and
//! `AlertSeen` takes `MAX(last_seen_us)` in SQL, so the bound values are
//! not the row. The row as stored is the evidence. Its B-tree page was
//! just written and is in the cache (cost in docs/performance.md).
//!
//! Why the batch hash covers SHA-256(entries) and not the entries: once
//! retention has deleted every row a batch covers, [`drop_pruned_entries`]
//! may clear its entries while the batch still links the chain.
//!
//! **Rows rewritten later.** An alert grows and is written again; an
//! interim flow record is replaced by the final one. Each write adds an
//! entry in its own batch; only the newest entry of a row must match the
//! row as it is now.
//!
//! **Rows from before the chain.** The first batch records, per table, the
//! highest rowid that existed before it (`*_base`): rows at or below it
//! were written by an older medtap and are counted as unchained, not as
//! tampering. medtap hands out flow and alert ids above every stored one,
//! so every later row has an entry.
//!
//! **Limits.** The chain has no key: someone who can write the database
//! and knows this format can recompute it, and the newest batches can be
//! deleted together with their rows. It catches what `sqlite3` and other
//! tools do to rows and batches; to catch a rewrite or a cut, keep the
//! head that `medtap verify` prints elsewhere (the incident ticket, a
//! syslog collector) and check it later with `medtap verify --head
//! ID:HASH` ([`KnownHead`]). `retention_marks` is taken as written.

mod verify;

#[cfg(test)]
mod tests;

pub use verify::{verify, Counts, Head, KnownHead, Problem, ProblemKind, Report, MAX_LISTED};

use crate::event::Event;
use crate::time::Micros;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Bytes of a batch hash (SHA-256).
pub const HASH_LEN: usize = 32;

/// Bytes of a row digest kept in a batch entry: SHA-256 truncated, as
/// collision-resistant as a 128-bit hash and half the size.
pub const ROW_DIGEST_LEN: usize = 16;

/// A batch hash.
type Hash = [u8; HASH_LEN];
/// A row digest.
type RowDigest = [u8; ROW_DIGEST_LEN];

const ROW_DOMAIN: &[u8] = b"medtap chain row v1\0";
const BATCH_DOMAIN: &[u8] = b"medtap chain batch v1\0";

/// A chained table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// `flows`.
    Flows,
    /// `alerts`.
    Alerts,
}

impl Table {
    /// Both, in the order entries are sorted.
    pub const ALL: [Table; 2] = [Table::Flows, Table::Alerts];

    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Flows => "flows",
            Table::Alerts => "alerts",
        }
    }

    /// The row kind, singular, for messages.
    pub fn row_name(self) -> &'static str {
        match self {
            Table::Flows => "flow",
            Table::Alerts => "alert",
        }
    }

    fn tag(self) -> u8 {
        match self {
            Table::Flows => b'f',
            Table::Alerts => b'a',
        }
    }

    fn from_tag(tag: u8) -> Option<Table> {
        match tag {
            b'f' => Some(Table::Flows),
            b'a' => Some(Table::Alerts),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The rowid and every column of the rows in a rowid range.
    fn select_range(self) -> &'static str {
        match self {
            Table::Flows => "SELECT rowid, * FROM flows WHERE rowid BETWEEN ?1 AND ?2",
            Table::Alerts => "SELECT rowid, * FROM alerts WHERE rowid BETWEEN ?1 AND ?2",
        }
    }

    /// One row by rowid, every column (fixed table names, not user text).
    fn select_one(self) -> &'static str {
        match self {
            Table::Flows => "SELECT * FROM flows WHERE rowid = ?1",
            Table::Alerts => "SELECT * FROM alerts WHERE rowid = ?1",
        }
    }
}

/// The flow and alert rows a writer transaction wrote (by rowid), for
/// [`append`].
#[derive(Debug, Default)]
pub(crate) struct Touched(Vec<(Table, i64)>);

impl Touched {
    /// Notes the row `e` wrote, if it writes a chained table. Called only
    /// for records whose statement succeeded.
    pub(crate) fn note(&mut self, e: &Event) {
        // The same casts as the inserts: rowid = flow_id / alert_id.
        match e {
            Event::Flow(f) => self.0.push((Table::Flows, f.flow_id as i64)),
            Event::Alert(a) => self.0.push((Table::Alerts, a.alert_id as i64)),
            Event::AlertSeen(s) => self.0.push((Table::Alerts, s.alert_id as i64)),
            _ => {}
        }
    }
}

/// A batch's metadata: everything but the entries and the hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Meta {
    batch_id: i64,
    written_us: Micros,
    /// Per [`Table::index`]: columns hashed per row.
    columns: [i64; 2],
    /// Entries.
    rows: [i64; 2],
    /// Lowest and highest rowid among the entries.
    min: [Option<i64>; 2],
    max: [Option<i64>; 2],
    /// First batch only: the highest rowid written before the chain.
    base: [Option<i64>; 2],
}

impl Meta {
    /// Counts `rowid` of `t` into rows, min and max.
    fn count(&mut self, t: Table, rowid: i64) {
        let i = t.index();
        self.rows[i] += 1;
        self.min[i] = Some(self.min[i].map_or(rowid, |m| m.min(rowid)));
        self.max[i] = Some(self.max[i].map_or(rowid, |m| m.max(rowid)));
    }
}

/// One entry of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    table: Table,
    rowid: i64,
    digest: RowDigest,
}

fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// The batch hash (module docs).
fn batch_hash(prev: &Hash, m: &Meta, entries_hash: &Hash) -> Hash {
    fn opt(h: &mut Sha256, v: Option<i64>) {
        match v {
            None => h.update([0]),
            Some(v) => {
                h.update([1]);
                h.update(v.to_le_bytes());
            }
        }
    }
    let mut h = Sha256::new();
    h.update(BATCH_DOMAIN);
    h.update(prev);
    h.update(m.batch_id.to_le_bytes());
    h.update(m.written_us.to_le_bytes());
    for i in 0..2 {
        h.update(m.columns[i].to_le_bytes());
        h.update(m.rows[i].to_le_bytes());
        opt(&mut h, m.min[i]);
        opt(&mut h, m.max[i]);
        opt(&mut h, m.base[i]);
    }
    h.update(entries_hash);
    h.finalize().into()
}

/// One column value with its type tag (module docs).
fn hash_value(h: &mut Sha256, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => h.update([0]),
        ValueRef::Integer(i) => {
            h.update([1]);
            h.update(i.to_le_bytes());
        }
        ValueRef::Real(f) => {
            h.update([2]);
            h.update(f.to_bits().to_le_bytes());
        }
        ValueRef::Text(t) => {
            h.update([3]);
            h.update((t.len() as u64).to_le_bytes());
            h.update(t);
        }
        ValueRef::Blob(b) => {
            h.update([4]);
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
    }
}

/// The digest of `row` of `table` (module docs): columns `first ..
/// first + n` of the result row are the table's first n columns. A row
/// with fewer columns (one dropped) hashes a marker for each missing one,
/// so it never matches.
fn row_digest(
    table: Table,
    rowid: i64,
    row: &rusqlite::Row<'_>,
    first: usize,
    n: usize,
) -> rusqlite::Result<RowDigest> {
    let mut h = Sha256::new();
    h.update(ROW_DOMAIN);
    h.update([table.tag()]);
    h.update(rowid.to_le_bytes());
    h.update((n as u64).to_le_bytes());
    let have = row.as_ref().column_count().saturating_sub(first).min(n);
    for i in 0..have {
        hash_value(&mut h, row.get_ref(first + i)?);
    }
    for _ in have..n {
        h.update([0xff]);
    }
    let full: Hash = h.finalize().into();
    let mut d = [0u8; ROW_DIGEST_LEN];
    d.copy_from_slice(&full[..ROW_DIGEST_LEN]);
    Ok(d)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// Reads a LEB128 varint at the start of `b`: the value and its length.
fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut u = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        // The tenth byte holds the top bit only.
        if i == 9 && bits > 1 {
            return None;
        }
        u |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Some((u, i + 1));
        }
    }
    None
}

/// The entries blob of `entries` (sorted by table, rowid).
fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * (ROW_DIGEST_LEN + 3));
    let mut last = [0i64; 2];
    for e in entries {
        let i = e.table.index();
        out.push(e.table.tag());
        put_varint(&mut out, zigzag(e.rowid.wrapping_sub(last[i])));
        last[i] = e.rowid;
        out.extend_from_slice(&e.digest);
    }
    out
}

/// The entries of a blob; `None` if it is not one [`encode`] wrote.
fn decode(mut b: &[u8]) -> Option<Vec<Entry>> {
    let mut out = Vec::with_capacity(b.len() / (ROW_DIGEST_LEN + 2));
    let mut last = [0i64; 2];
    while let Some((&tag, rest)) = b.split_first() {
        let table = Table::from_tag(tag)?;
        let (delta, len) = get_varint(rest)?;
        let rest = &rest[len..];
        let digest: RowDigest = rest.get(..ROW_DIGEST_LEN)?.try_into().ok()?;
        let i = table.index();
        last[i] = last[i].wrapping_add(unzigzag(delta));
        out.push(Entry {
            table,
            rowid: last[i],
            digest,
        });
        b = &rest[ROW_DIGEST_LEN..];
    }
    Some(out)
}

/// A stored hash as a [`Hash`]: one of another length (the batch row was
/// edited) is hashed, so the chain still continues from something that
/// `verify` will not accept as the edited batch's hash.
fn to_hash(b: &[u8]) -> Hash {
    b.try_into().unwrap_or_else(|_| sha256(b))
}

/// Appends the batch of the rows in `touched` (what the writer's open
/// transaction `conn` wrote) to the chain, reading each row back; clears
/// `touched`. Returns the new batch's id, or `None` when no chained row is
/// stored (an `AlertSeen` of an alert not in the database). Must run in
/// the transaction that wrote the rows: a failure must roll them back.
pub(crate) fn append(
    conn: &Connection,
    touched: &mut Touched,
    now: Micros,
) -> rusqlite::Result<Option<i64>> {
    if touched.0.is_empty() {
        return Ok(None);
    }
    touched.0.sort_unstable();
    touched.0.dedup();
    let mut m = Meta {
        written_us: now,
        ..Meta::default()
    };
    let mut entries = Vec::with_capacity(touched.0.len());
    for t in Table::ALL {
        let ids: Vec<i64> = touched
            .0
            .iter()
            .filter(|(tt, _)| *tt == t)
            .map(|&(_, id)| id)
            .collect();
        read_back(conn, t, &ids, &mut m, &mut entries)?;
    }
    if entries.is_empty() {
        touched.0.clear();
        return Ok(None);
    }
    let head: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT batch_id, hash FROM chain_batches ORDER BY batch_id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (prev_id, prev) = match head {
        Some((id, h)) => (id, to_hash(&h)),
        None => {
            m.base = bases(conn, &touched.0)?;
            (0, [0; HASH_LEN])
        }
    };
    touched.0.clear();
    m.batch_id = prev_id + 1;
    let blob = encode(&entries);
    let entries_hash = sha256(&blob);
    let hash = batch_hash(&prev, &m, &entries_hash);
    let mut st = conn.prepare_cached(
        "INSERT INTO chain_batches (batch_id, written_us, flow_columns, alert_columns,
            flow_rows, alert_rows, flow_min, flow_max, alert_min, alert_max,
            flow_base, alert_base, entries, entries_hash, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    st.execute(rusqlite::params![
        m.batch_id,
        m.written_us,
        m.columns[0],
        m.columns[1],
        m.rows[0],
        m.rows[1],
        m.min[0],
        m.max[0],
        m.min[1],
        m.max[1],
        m.base[0],
        m.base[1],
        blob,
        &entries_hash[..],
        &prev[..],
        &hash[..],
    ])?;
    Ok(Some(m.batch_id))
}

/// Reads the rows `ids` (sorted) of `t` back, adding an entry for each one
/// stored. Rows whose ids are dense (flows ended in the order they
/// started, as most are) are read in one range scan, the rest one lookup
/// each: the scan steps through leaf pages the inserts just wrote, where a
/// lookup descends the B-tree again for every row (the per-row lookups
/// were 3.4% of `analyze`'s samples on 300,000 one-packet flows).
fn read_back(
    conn: &Connection,
    t: Table,
    ids: &[i64],
    m: &mut Meta,
    entries: &mut Vec<Entry>,
) -> rusqlite::Result<()> {
    let mut add = |rowid: i64, row: &rusqlite::Row<'_>, first: usize, n: usize| {
        m.count(t, rowid);
        entries.push(Entry {
            table: t,
            rowid,
            digest: row_digest(t, rowid, row, first, n)?,
        });
        Ok::<_, rusqlite::Error>(())
    };
    let (lo, hi) = match (ids.first(), ids.last()) {
        (Some(&lo), Some(&hi)) => (lo, hi),
        _ => (0, -1),
    };
    let span = (i128::from(hi) - i128::from(lo)).max(0) as u128;
    let n = if !ids.is_empty() && span <= 2 * ids.len() as u128 + 64 {
        let mut st = conn.prepare_cached(t.select_range())?;
        let n = st.column_count() - 1;
        let mut rows = st.query([lo, hi])?;
        let mut want = ids.iter().peekable();
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            while want.next_if(|&&id| id < rowid).is_some() {}
            if want.next_if(|&&id| id == rowid).is_some() {
                add(rowid, row, 1, n)?;
            }
        }
        n
    } else {
        let mut st = conn.prepare_cached(t.select_one())?;
        let n = st.column_count();
        for &rowid in ids {
            let mut rows = st.query([rowid])?;
            if let Some(row) = rows.next()? {
                add(rowid, row, 0, n)?;
            }
        }
        n
    };
    m.columns[t.index()] = n as i64;
    Ok(())
}

/// Per table, the highest rowid stored that the first batch did not
/// write (0 if none): the rows an older medtap wrote. New rows have ids
/// above every stored one, so this reads at most one row more than the
/// batch wrote.
fn bases(conn: &Connection, touched: &[(Table, i64)]) -> rusqlite::Result<[Option<i64>; 2]> {
    let mut out = [Some(0); 2];
    for t in Table::ALL {
        let sql = match t {
            Table::Flows => "SELECT rowid FROM flows ORDER BY rowid DESC",
            Table::Alerts => "SELECT rowid FROM alerts ORDER BY rowid DESC",
        };
        let mut st = conn.prepare(sql)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let rowid: i64 = r.get(0)?;
            if touched.binary_search(&(t, rowid)).is_err() {
                out[t.index()] = Some(rowid);
                break;
            }
        }
    }
    Ok(out)
}

/// Clears the entries of every batch whose rows all lie at or below the
/// retention marks (`retention_marks`): retention may have deleted all of
/// them, so the entries can no longer show anything. The batch keeps its
/// hashes and so still links the chain; [`verify()`] accepts a batch
/// without entries only under the same condition. For retention, in the
/// transaction that moves a mark. Returns the batches cleared.
pub fn drop_pruned_entries(conn: &Connection) -> rusqlite::Result<usize> {
    // The oldest batches still holding entries, through the partial index
    // of migration 12: bounded work per call, however long the chain.
    conn.execute(
        "UPDATE chain_batches SET entries = NULL
         WHERE batch_id IN (SELECT batch_id FROM chain_batches WHERE entries IS NOT NULL
                            ORDER BY batch_id LIMIT 4096)
           AND (flow_max IS NULL OR flow_max <=
                (SELECT pruned_through FROM retention_marks WHERE tbl = 'flows'))
           AND (alert_max IS NULL OR alert_max <=
                (SELECT pruned_through FROM retention_marks WHERE tbl = 'alerts'))",
        [],
    )
}

/// Lower-case hex of `b`.
fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}
