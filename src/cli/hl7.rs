//! `medtap hl7`: HL7 v2 messages with their acknowledgements.

use super::{app_rows, table, AppQueryArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::query;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Hl7Args {
    #[command(flatten)]
    q: AppQueryArgs,
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

pub fn run(a: Hl7Args) -> Result<ExitCode> {
    let Some(rows) = app_rows(&a.q, query::hl7)? else {
        return Ok(ExitCode::SUCCESS);
    };
    table::print(
        &[
            "flow_id",
            "ts",
            "src -> dest",
            "type",
            "sender -> receiver",
            "control_id",
            "ack",
            "segments",
        ],
        rows.iter().map(|r| {
            let ack = match (&r.ack_code, r.ack_latency_ms, &r.msa_code) {
                (Some(code), Some(ms), _) => format!("{code} {ms:.1} ms"),
                (_, _, Some(own)) => format!("({own})"),
                _ => "-".into(),
            };
            let segments = r
                .segments
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}x{v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            vec![
                r.flow_id.to_string(),
                r.ts.clone(),
                format!(
                    "{}:{} -> {}:{}",
                    r.src_ip, r.src_port, r.dest_ip, r.dest_port
                ),
                or_dash(&r.message_type).to_string(),
                format!(
                    "{}@{} -> {}@{}",
                    or_dash(&r.sending_app),
                    or_dash(&r.sending_facility),
                    or_dash(&r.receiving_app),
                    or_dash(&r.receiving_facility)
                ),
                or_dash(&r.control_id).to_string(),
                ack,
                segments,
            ]
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}
