//! `medtap status`: what was captured and what was lost.

use super::{open_db, table, DbArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::query;
use medtap::store::sessions::SessionRow;
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
        ("packets".into(), s.packets.to_string()),
        ("bytes".into(), s.bytes.to_string()),
        ("kernel received".into(), s.kernel_received.to_string()),
        ("kernel drops".into(), s.kernel_drops.to_string()),
        ("interface drops".into(), s.if_drops.to_string()),
        ("decode errors".into(), s.decode_errors.to_string()),
    ];
    rows.extend(
        s.decode_errors_by_kind
            .iter()
            .map(|(k, v)| (format!("  {k}"), v.to_string())),
    );
    rows.extend([
        ("not IP/ARP".into(), s.not_ip.to_string()),
        ("IP fragments".into(), s.ip_fragments.to_string()),
        ("flows created".into(), s.flows_created.to_string()),
        ("flows stored".into(), s.flows.to_string()),
        (
            "flows evicted (table full)".into(),
            s.flows_evicted.to_string(),
        ),
        ("flows timed out".into(), s.flows_timed_out.to_string()),
        ("devices".into(), s.devices.to_string()),
        (
            "devices untracked (table full)".into(),
            s.devices_untracked.to_string(),
        ),
        (
            "records dropped (writer behind)".into(),
            s.records_dropped.to_string(),
        ),
        (
            "records not written (DB errors)".into(),
            s.records_failed.to_string(),
        ),
        ("input read errors".into(), s.read_errors.to_string()),
        (
            "TCP gaps (bytes lost)".into(),
            format!("{} ({})", s.reasm_gaps, s.reasm_gap_bytes),
        ),
        (
            "TCP retransmissions dropped".into(),
            s.reasm_retransmissions.to_string(),
        ),
        (
            "TCP overlaps with different bytes".into(),
            s.reasm_overlap_conflicts.to_string(),
        ),
        (
            "TCP out-of-order segments held".into(),
            s.reasm_out_of_order.to_string(),
        ),
        ("app parsing abandoned".into(), s.app_abandoned.to_string()),
        (
            "DICOM associations".into(),
            s.dicom_associations.to_string(),
        ),
        ("HL7 messages".into(), s.hl7_messages.to_string()),
        ("MQTT sessions".into(), s.mqtt_sessions.to_string()),
        ("protocol anomalies".into(), s.anomalies.to_string()),
    ]);
    rows.extend(
        s.anomalies_by_name
            .iter()
            .map(|(k, v)| (format!("  {k}"), v.to_string())),
    );
    table::print(&["", ""], rows.into_iter().map(|(k, v)| vec![k, v]))?;
    Ok(ExitCode::SUCCESS)
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
