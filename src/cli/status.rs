//! `medtap status`: what was captured and what was lost.

use super::{open_db, table, DbArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::query;
use medtap::store::retention::RetentionStatus;
use medtap::store::SessionRow;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    db: DbArgs,
    /// One JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(a: StatusArgs) -> Result<ExitCode> {
    let path = a.db.db_path()?;
    let conn = open_db(&path)?;
    let wal = path.with_extension(format!(
        "{}-wal",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let writer = medtap::store::lock::holder(&path);
    let s = query::status(&conn, size(&path) + size(&wal), writer.is_some())?;
    if a.json {
        use std::io::Write;
        writeln!(std::io::stdout().lock(), "{}", serde_json::to_string(&s)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<(String, String)> = vec![
        (
            "database".into(),
            format!(
                "{} ({} bytes, schema v{})",
                path.display(),
                s.db_bytes,
                s.schema_version
            ),
        ),
        (
            "last update".into(),
            s.last_update.clone().unwrap_or_else(|| "never".into()),
        ),
        ("last session".into(), session_line(s.last_session.as_ref())),
        (
            "writer".into(),
            writer.unwrap_or_else(|| "none (no medtap is writing this database)".into()),
        ),
        (
            "records lost".into(),
            format!(
                "{} ({} dropped, {} not written)",
                s.records_lost, s.records_dropped, s.records_failed
            ),
        ),
    ];
    retention_lines(&s.retention, &mut rows);
    for line in s.totals.status_lines() {
        let column = line.column;
        rows.push((line.label, line.value));
        // The table sizes sit beside the counters they go with.
        match column {
            "flows_created" => rows.push(("flows stored".into(), s.flows.to_string())),
            "flows_timed_out" => rows.push(("devices".into(), s.devices.to_string())),
            "archive_frames" => rows.push(("archive".into(), archive_line(&s.archive))),
            "alerts_raised" => {
                let n = |k: &str| s.alerts.get(k).copied().unwrap_or(0);
                let stored: u64 = ["high", "medium", "low", "info"].iter().map(|k| n(k)).sum();
                rows.push((
                    "alerts stored".into(),
                    format!(
                        "{stored} (high {}, medium {}, low {}, info {}; observations {})",
                        n("high"),
                        n("medium"),
                        n("low"),
                        n("info"),
                        n("observation")
                    ),
                ));
            }
            _ => {}
        }
    }
    table::print(&["", ""], rows.into_iter().map(|(k, v)| vec![k, v]))?;
    Ok(ExitCode::SUCCESS)
}

/// One line on the packet archive: files and bytes kept, their time span.
fn archive_line(a: &medtap::store::rows::archive::ArchiveSummary) -> String {
    if a.files == 0 && a.files_deleted == 0 {
        return "none (archive.enabled, or `analyze --archive DIR`)".into();
    }
    format!(
        "{} file(s), {} bytes, {} .. {} in {} ({} deleted by retention)",
        a.files,
        a.bytes,
        a.oldest.as_deref().unwrap_or("-"),
        a.newest.as_deref().unwrap_or("-"),
        a.dir
            .as_deref()
            .map(super::table::escape)
            .unwrap_or_default(),
        a.files_deleted
    )
}

/// The retention settings in force, what the size cap measures, the
/// oldest rows kept and the rows pruned since the database was created.
fn retention_lines(r: &RetentionStatus, rows: &mut Vec<(String, String)>) {
    let days = |d: Option<u64>| match d {
        None => "?".to_string(),
        Some(0) => "forever".to_string(),
        Some(d) => format!("{d} days"),
    };
    let cap = match r.max_db_mib {
        None => "?".to_string(),
        Some(0) => "no size cap".to_string(),
        Some(m) => format!("size cap {m} MiB"),
    };
    rows.push((
        "retention".into(),
        if r.retention_days.is_none() {
            "not recorded (no writer of this medtap version yet)".into()
        } else {
            format!(
                "flows and app records {}, alerts and device history {}, {cap}",
                days(r.retention_days),
                days(r.alert_retention_days)
            )
        },
    ));
    rows.push((
        "database pages".into(),
        format!(
            "{} bytes in use, {} free (auto-vacuum {})",
            r.used_bytes, r.free_bytes, r.auto_vacuum
        ),
    ));
    let or_none = |t: &Option<String>| t.clone().unwrap_or_else(|| "none".into());
    rows.push(("oldest flow kept".into(), or_none(&r.oldest_flow)));
    rows.push(("oldest alert kept".into(), or_none(&r.oldest_alert)));
    rows.push((
        "rows pruned in all".into(),
        match &r.last_pruned {
            Some(t) => format!("{} (last {t})", r.pruned_rows),
            None => r.pruned_rows.to_string(),
        },
    ));
    for (t, n) in &r.pruned_by_table {
        rows.push((format!("  {t}"), n.to_string()));
    }
}

/// One line on the newest writing session: what it was and how it ended.
fn session_line(s: Option<&SessionRow>) -> String {
    let Some(s) = s else {
        return "none recorded".into();
    };
    let what = format!(
        "{} {} (pid {}, medtap {}), started {}",
        s.command, s.source, s.pid, s.version, s.started
    );
    match s.state {
        "running" => format!("{what}: running, last progress {}", s.heartbeat),
        "stopped" => format!(
            "{what}: stopped cleanly {} ({})",
            s.ended.as_deref().unwrap_or("?"),
            s.end_reason.as_deref().unwrap_or("?")
        ),
        _ => format!(
            "{what}: ENDED WITHOUT A CLEAN STOP (killed or crashed); last progress {}: \
             statistics and open flows after it are lost",
            s.heartbeat
        ),
    }
}
