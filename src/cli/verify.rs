//! `medtap verify`: checks the evidence chain over the flow and alert rows
//! (medtap::store::chain) and names the first batch that was changed or
//! removed.

use super::{open_db, table, DbArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::chain::{self, Counts, KnownHead, Report};
use std::process::ExitCode;

/// Exit code of `verify` when the chain shows tampering. No other medtap
/// command exits with it, so a scheduled check can tell it from an error
/// (2) or a lost record (3).
pub const EXIT_TAMPERED: u8 = 5;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    db: DbArgs,
    /// A head printed by an earlier verify (BATCH_ID:HASH): the chain must
    /// still hold it, so a rewritten or cut-short chain is caught
    #[arg(long, value_name = "ID:HASH")]
    head: Option<KnownHead>,
    /// One JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    let path = a.db.db_path()?;
    // Read-only, one read transaction: a consistent snapshot while
    // `medtap run` writes.
    let conn = open_db(&path)?;
    let r = chain::verify(&conn, a.head.as_ref())?;
    if a.json {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        table::write_json_line(&mut out, &r)?;
        out.flush()?;
    } else {
        print_report(&path, &r)?;
    }
    if r.intact {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_TAMPERED))
    }
}

fn print_report(path: &std::path::Path, r: &Report) -> Result<()> {
    let per_table = |c: &Counts| format!("{} (flows {}, alerts {})", c.total(), c.flows, c.alerts);
    let mut rows: Vec<(String, String)> = vec![
        ("database".into(), path.display().to_string()),
        (
            "batches".into(),
            format!(
                "{} checked ({} with entries cleared after retention)",
                r.batches, r.batches_pruned
            ),
        ),
        (
            "head".into(),
            r.head.as_ref().map_or_else(
                || "none (nothing chained yet)".into(),
                |h| format!("{}:{} written {}", h.batch_id, h.hash, h.written),
            ),
        ),
        ("rows checked".into(), per_table(&r.rows_checked)),
        (
            "pruned by retention".into(),
            format!("{}{}", per_table(&r.rows_pruned), marks(&r.retention_marks)),
        ),
        (
            "unchained".into(),
            format!(
                "{} written before the chain existed",
                per_table(&r.rows_unchained)
            ),
        ),
    ];
    if r.rows_uncheckable.total() > 0 {
        rows.push((
            "uncheckable".into(),
            format!(
                "{} at or below the retention mark, newest write in a cleared batch",
                per_table(&r.rows_uncheckable)
            ),
        ));
    }
    match &r.first_problem {
        None => rows.push(("result".into(), "intact".into())),
        Some(p) => {
            let batch = match (p.batch_id, &p.written) {
                (Some(id), Some(w)) => format!("batch {id} (written {w})"),
                (Some(id), None) => format!("batch {id}"),
                _ => "no batch".into(),
            };
            rows.push((
                "result".into(),
                format!(
                    "TAMPERED: first bad batch: {batch}: {}: {}",
                    p.kind.name(),
                    p.detail
                ),
            ));
            let counts: Vec<String> = r
                .problems_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            rows.push((
                "problems".into(),
                format!("{} ({})", r.problems, counts.join(", ")),
            ));
        }
    }
    table::print(&["", ""], rows.into_iter().map(|(k, v)| vec![k, v]))?;
    if r.listed.len() > 1 {
        let shown = r.listed.iter().map(|p| {
            vec![
                p.batch_id.map_or_else(|| "-".into(), |b| b.to_string()),
                p.written.clone().unwrap_or_else(|| "-".into()),
                p.kind.name().to_string(),
                p.detail.clone(),
            ]
        });
        println!();
        table::print(&["batch", "written", "problem", "detail"], shown)?;
        if r.problems > r.listed.len() as u64 {
            println!(
                "... and {} more (the first {} are listed)",
                r.problems - r.listed.len() as u64,
                chain::MAX_LISTED
            );
        }
    }
    Ok(())
}

/// " (marks: flows 120, alerts 4)", or nothing without marks.
fn marks(m: &std::collections::BTreeMap<&'static str, i64>) -> String {
    if m.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = m.iter().map(|(t, v)| format!("{t} {v}")).collect();
    format!("; at or below rowid {}", parts.join(", "))
}
