//! `medtap dicom`: DICOM associations with their operations.

use super::{app_rows, table, AppQueryArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::query;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DicomArgs {
    #[command(flatten)]
    q: AppQueryArgs,
}

pub fn run(a: DicomArgs) -> Result<ExitCode> {
    let Some(rows) = app_rows(&a.q, query::dicom)? else {
        return Ok(ExitCode::SUCCESS);
    };
    table::print(
        &[
            "flow_id",
            "start",
            "calling -> called",
            "src -> dest",
            "result",
            "operations",
        ],
        rows.iter().map(|r| {
            let ops: Vec<String> = r
                .operations
                .iter()
                .map(|o| {
                    let sop = o.sop_class_name.unwrap_or(o.sop_class_uid.as_str());
                    let statuses: Vec<String> =
                        o.statuses.iter().map(|s| format!("{s:04x}")).collect();
                    format!(
                        "{} {} x{} [{}]",
                        o.command,
                        sop,
                        o.count,
                        statuses.join(",")
                    )
                })
                .collect();
            vec![
                r.flow.flow_id.to_string(),
                r.flow.start.clone(),
                format!("{} -> {}", r.calling_ae, r.called_ae),
                format!(
                    "{}:{} -> {}:{}",
                    r.flow.src_ip, r.flow.src_port, r.flow.dest_ip, r.flow.dest_port
                ),
                r.result.clone(),
                if ops.is_empty() {
                    "-".into()
                } else {
                    ops.join("; ")
                },
            ]
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}
