//! The packet archive's index: `archive_files` (each capture file's time
//! range and state) and `archive_flows` (which flows have frames in which
//! file, from which offset). Written by the archive thread on its own
//! connection; read by `medtap extract` and `medtap status`.

pub use crate::event::archive::{FileState, IndexOp};
use crate::time::Micros;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// A file is being written.
pub const OPEN: &str = "open";
/// A file was closed by medtap.
pub const CLOSED: &str = "closed";
/// A file was left open by a crash and made whole on the next start.
pub const REPAIRED: &str = "repaired";
/// A file was deleted by retention.
pub const DELETED: &str = "deleted";

/// One archive file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRow {
    /// Its id.
    pub file_id: i64,
    /// Directory it was written in.
    pub dir: String,
    /// File name in that directory.
    pub name: String,
    /// Link type (DLT).
    pub link: u32,
    /// First frame's time.
    pub first_us: Option<Micros>,
    /// Last frame's time.
    pub last_us: Option<Micros>,
    /// Frames.
    pub packets: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// open, closed, repaired or deleted.
    pub state: String,
    /// Whether `archive_flows` lists every flow with frames in it (a file
    /// left by a crash may hold frames of flows not listed).
    pub flows_complete: bool,
}

impl FileRow {
    /// The file's path.
    pub fn path(&self) -> std::path::PathBuf {
        std::path::Path::new(&self.dir).join(&self.name)
    }
}

const FILE_COLUMNS: &str =
    "file_id, dir, name, link, first_us, last_us, packets, bytes, state, flows_complete";

fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        file_id: r.get(0)?,
        dir: r.get(1)?,
        name: r.get(2)?,
        link: r.get(3)?,
        first_us: r.get(4)?,
        last_us: r.get(5)?,
        packets: r.get::<_, i64>(6)? as u64,
        bytes: r.get::<_, i64>(7)? as u64,
        state: r.get(8)?,
        flows_complete: r.get(9)?,
    })
}

/// Applies a change from the archive thread (inside the writer's
/// transaction).
pub fn apply(tx: &rusqlite::Transaction<'_>, op: &IndexOp) -> rusqlite::Result<()> {
    match op {
        IndexOp::File { file: f, flows } => {
            let mut st = tx.prepare_cached(
                "INSERT INTO archive_files (file_id, dir, name, link, first_us, last_us, packets,
                    bytes, state, flows_complete)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(file_id) DO UPDATE SET first_us = excluded.first_us,
                    last_us = excluded.last_us, packets = excluded.packets, bytes = excluded.bytes,
                    state = excluded.state, flows_complete = excluded.flows_complete",
            )?;
            st.execute(params![
                f.file_id,
                f.dir,
                f.name,
                f.link,
                f.first_us,
                f.last_us,
                f.packets as i64,
                f.bytes as i64,
                f.state,
                f.flows_complete
            ])?;
            let mut st = tx.prepare_cached(
                "INSERT INTO archive_flows (flow_id, file_id, first_offset, packets)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(flow_id, file_id) DO UPDATE SET packets = excluded.packets",
            )?;
            for &(flow, offset, packets) in flows {
                st.execute(params![
                    flow as i64,
                    f.file_id,
                    offset as i64,
                    packets as i64
                ])?;
            }
            Ok(())
        }
        IndexOp::Deleted {
            file_id,
            at,
            reason,
        } => {
            tx.execute(
                "UPDATE archive_files SET state = 'deleted', deleted_us = ?1, deleted_reason = ?2
                 WHERE file_id = ?3",
                params![at, reason, file_id],
            )?;
            tx.execute(
                "DELETE FROM archive_flows WHERE file_id = ?1",
                params![file_id],
            )?;
            Ok(())
        }
    }
}

/// What the index says of the archive at start: the files kept, and the
/// highest file id used.
#[derive(Clone, Debug, Default)]
pub struct ArchiveIndex {
    /// Files not deleted, oldest first.
    pub kept: Vec<FileRow>,
    /// The highest file id in the index.
    pub max_file_id: i64,
}

/// The highest file id stored (0: none).
pub fn max_file_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(file_id), 0) FROM archive_files",
        [],
        |r| r.get(0),
    )
}

/// Files not deleted, oldest first.
pub fn kept_files(conn: &Connection) -> rusqlite::Result<Vec<FileRow>> {
    let mut st = conn.prepare(&format!(
        "SELECT {FILE_COLUMNS} FROM archive_files WHERE state != 'deleted' ORDER BY file_id"
    ))?;
    let rows = st.query_map([], file_row)?;
    rows.collect()
}

/// Files (deleted ones too) whose frames may fall within `[from, to]`,
/// oldest first.
pub fn files_between(
    conn: &Connection,
    from: Micros,
    to: Micros,
) -> rusqlite::Result<Vec<FileRow>> {
    let mut st = conn.prepare(&format!(
        "SELECT {FILE_COLUMNS} FROM archive_files
         WHERE COALESCE(last_us, ?2) >= ?1 AND COALESCE(first_us, ?1) <= ?2
         ORDER BY file_id"
    ))?;
    let rows = st.query_map(params![from, to], file_row)?;
    rows.collect()
}

/// Where flow `flow_id`'s frames are: `(file_id, first_offset)`.
pub fn flow_files(conn: &Connection, flow_id: u64) -> rusqlite::Result<Vec<(i64, u64)>> {
    let mut st = conn.prepare_cached(
        "SELECT file_id, first_offset FROM archive_flows WHERE flow_id = ?1 ORDER BY file_id",
    )?;
    let rows = st.query_map(params![flow_id as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    rows.collect()
}

/// The archive as `medtap status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveSummary {
    /// Files kept.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Oldest frame kept (RFC 3339).
    pub oldest: Option<String>,
    /// Newest frame kept (RFC 3339).
    pub newest: Option<String>,
    /// Files deleted by retention, ever.
    pub files_deleted: u64,
    /// The directory of the newest file.
    pub dir: Option<String>,
}

/// The archive's files kept and deleted.
pub fn summary(conn: &Connection) -> rusqlite::Result<ArchiveSummary> {
    let (files, bytes, oldest, newest): (i64, i64, Option<i64>, Option<i64>) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(first_us), MAX(last_us)
         FROM archive_files WHERE state != 'deleted'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let deleted: i64 = conn.query_row(
        "SELECT COUNT(*) FROM archive_files WHERE state = 'deleted'",
        [],
        |r| r.get(0),
    )?;
    let dir: Option<String> = conn
        .query_row(
            "SELECT dir FROM archive_files ORDER BY file_id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(ArchiveSummary {
        files: files as u64,
        bytes: bytes as u64,
        oldest: oldest.map(crate::time::rfc3339),
        newest: newest.map(crate::time::rfc3339),
        files_deleted: deleted as u64,
        dir,
    })
}

/// What extraction needs of one alert.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AlertTarget {
    /// Its id.
    pub alert_id: u64,
    /// Rule id.
    pub rule: String,
    /// Severity.
    pub severity: String,
    /// DB3205/T clause(s).
    pub clause: String,
    /// One line for humans.
    pub message: String,
    /// First seen (µs).
    pub first_us: Micros,
    /// Last seen (µs).
    pub last_us: Micros,
    /// Occurrences folded into it.
    pub count: u64,
    /// The device's MAC.
    pub device_mac: Option<String>,
    /// The device's address.
    pub device_ip: Option<String>,
    /// The other end's MAC.
    pub peer_mac: Option<String>,
    /// The other end's address.
    pub peer_ip: Option<String>,
    /// The first flow behind it.
    pub flow_id: Option<u64>,
    /// Its evidence (JSON object of strings).
    pub evidence: String,
}

const TARGET_COLUMNS: &str = "alert_id, rule, severity, clause, message, first_seen_us,
    last_seen_us, count, device_mac, device_ip, peer_mac, peer_ip, flow_id, evidence";

fn target_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertTarget> {
    Ok(AlertTarget {
        alert_id: r.get::<_, i64>(0)? as u64,
        rule: r.get(1)?,
        severity: r.get(2)?,
        clause: r.get(3)?,
        message: r.get(4)?,
        first_us: r.get(5)?,
        last_us: r.get(6)?,
        count: r.get::<_, i64>(7)? as u64,
        device_mac: r.get(8)?,
        device_ip: r.get(9)?,
        peer_mac: r.get(10)?,
        peer_ip: r.get(11)?,
        flow_id: r.get::<_, Option<i64>>(12)?.map(|f| f as u64),
        evidence: r.get(13)?,
    })
}

/// Every alert (not the learning-mode observations), oldest first.
pub fn alert_targets(conn: &Connection) -> rusqlite::Result<Vec<AlertTarget>> {
    let mut st = conn.prepare(&format!(
        "SELECT {TARGET_COLUMNS} FROM alerts WHERE observation = 0 ORDER BY alert_id"
    ))?;
    let rows = st.query_map([], target_row)?;
    rows.collect()
}

/// Alert `id`, if stored.
pub fn alert_target(conn: &Connection, id: u64) -> rusqlite::Result<Option<AlertTarget>> {
    conn.query_row(
        &format!("SELECT {TARGET_COLUMNS} FROM alerts WHERE alert_id = ?1"),
        [id as i64],
        target_row,
    )
    .optional()
}

/// A flow's ends and span as text and numbers:
/// `(flow_id, proto, src_ip, src_port, dest_ip, dest_port, start_us, end_us)`.
pub type FlowSpanRow = (u64, u8, String, u16, String, u16, Micros, Micros);

fn span_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FlowSpanRow> {
    Ok((
        r.get::<_, i64>(0)? as u64,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

const SPAN_COLUMNS: &str = "flow_id, proto, src_ip, src_port, dest_ip, dest_port, start_us, end_us";

/// Flow `id`'s span, if stored.
pub fn flow_span(conn: &Connection, id: u64) -> rusqlite::Result<Option<FlowSpanRow>> {
    conn.query_row(
        &format!("SELECT {SPAN_COLUMNS} FROM flows WHERE flow_id = ?1"),
        [id as i64],
        span_row,
    )
    .optional()
}

/// The flows like flow `like` (same protocol, client address, server
/// address and port) that started within `[from, to]`: the repeats a
/// folded alert counts.
pub fn similar_flows(
    conn: &Connection,
    like: &FlowSpanRow,
    from: Micros,
    to: Micros,
) -> rusqlite::Result<Vec<FlowSpanRow>> {
    let mut st = conn.prepare(&format!(
        "SELECT {SPAN_COLUMNS} FROM flows
         WHERE start_us BETWEEN ?1 AND ?2 AND proto = ?3 AND src_ip = ?4 AND dest_ip = ?5
            AND dest_port = ?6
         ORDER BY flow_id"
    ))?;
    let rows = st.query_map(params![from, to, like.1, like.2, like.4, like.5], span_row)?;
    rows.collect()
}
