//! The `sessions` table: one row per `analyze` or `run` that wrote the
//! database, so that `medtap status` can tell a clean stop from a crash.
//!
//! The row is inserted when the writer opens the database, its heartbeat
//! and record counts are updated with every statistics row, and `ended_us`
//! is set only by a clean stop. A row without `ended_us` whose writer no
//! longer holds the lock is a session that was killed or crashed.

use crate::time::{rfc3339, Micros};
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::Serialize;

/// What a writer says about itself when it starts.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// `analyze` or `run`.
    pub command: String,
    /// The interface, or the files read (as given).
    pub source: String,
}

/// Longest `source` stored (a long file list is clipped).
const MAX_SOURCE: usize = 1024;

/// Inserts the row of a session starting now; returns its id.
pub(crate) fn start(conn: &Connection, info: &SessionInfo, now: Micros) -> rusqlite::Result<i64> {
    let mut source = info.source.clone();
    if source.len() > MAX_SOURCE {
        let mut cut = MAX_SOURCE;
        while !source.is_char_boundary(cut) {
            cut -= 1;
        }
        source.truncate(cut);
        source.push('…');
    }
    conn.execute(
        "INSERT INTO sessions (command, source, pid, version, started_us, heartbeat_us)
         VALUES (:command, :source, :pid, :version, :now, :now)",
        rusqlite::named_params! {
            ":command": info.command,
            ":source": source,
            ":pid": std::process::id(),
            ":version": env!("CARGO_PKG_VERSION"),
            ":now": now,
        },
    )?;
    Ok(conn.last_insert_rowid())
}

/// Progress of a session: its heartbeat and record counts so far; with
/// `end`, the reason of a clean stop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Progress<'a> {
    /// Heartbeat time.
    pub now: Micros,
    /// Records written so far.
    pub written: u64,
    /// Records not written so far.
    pub failed: u64,
    /// Why the session ended, for its clean end.
    pub end: Option<&'a str>,
}

/// Updates the session row with `p`.
pub(crate) fn update(tx: &Transaction<'_>, id: i64, p: &Progress<'_>) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE sessions SET heartbeat_us = :now, records_written = :written,
            records_failed = :failed,
            ended_us = CASE WHEN :end IS NULL THEN ended_us ELSE :now END,
            end_reason = COALESCE(:end, end_reason)
         WHERE id = :id",
    )?
    .execute(rusqlite::named_params! {
        ":now": p.now,
        ":written": p.written as i64,
        ":failed": p.failed as i64,
        ":end": p.end,
        ":id": id,
    })?;
    Ok(())
}

/// The latest session, as `medtap status` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SessionRow {
    /// Row id.
    pub id: i64,
    /// `analyze` or `run`.
    pub command: String,
    /// Interface or files.
    pub source: String,
    /// Process id of the writer.
    pub pid: i64,
    /// medtap version that wrote it.
    pub version: String,
    /// RFC 3339 start.
    pub started: String,
    /// RFC 3339 time of the last progress written.
    pub heartbeat: String,
    /// RFC 3339 time of the clean stop, if there was one.
    pub ended: Option<String>,
    /// Why it stopped (`end of input`, `SIGTERM`, ...), for a clean stop.
    pub end_reason: Option<String>,
    /// Records written (as of the heartbeat).
    pub records_written: u64,
    /// Records not written (as of the heartbeat).
    pub records_failed: u64,
    /// `running`, `stopped` (clean), or `crashed` (no clean stop and no
    /// process holds the database's write lock).
    pub state: &'static str,
}

/// The newest session row; `running` tells whether a writer holds the lock.
pub fn latest(conn: &Connection, running: bool) -> rusqlite::Result<Option<SessionRow>> {
    conn.query_row(
        "SELECT id, command, source, pid, version, started_us, heartbeat_us, ended_us,
                end_reason, records_written, records_failed
         FROM sessions ORDER BY id DESC LIMIT 1",
        [],
        |r| {
            let ended: Option<Micros> = r.get(7)?;
            Ok(SessionRow {
                id: r.get(0)?,
                command: r.get(1)?,
                source: r.get(2)?,
                pid: r.get(3)?,
                version: r.get(4)?,
                started: rfc3339(r.get(5)?),
                heartbeat: rfc3339(r.get(6)?),
                state: match (ended, running) {
                    (Some(_), _) => "stopped",
                    (None, true) => "running",
                    (None, false) => "crashed",
                },
                ended: ended.map(rfc3339),
                end_reason: r.get(8)?,
                records_written: r.get::<_, i64>(9)?.max(0) as u64,
                records_failed: r.get::<_, i64>(10)?.max(0) as u64,
            })
        },
    )
    .optional()
}
