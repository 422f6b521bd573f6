//! `medtap flows`: query flow records.

use super::{open_db, print_json_lines, table, DbArgs, WindowArgs};
use anyhow::{anyhow, Result};
use clap::Args;
use medtap::flow::proto_number;
use medtap::store::query::{self, FlowFilter};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct FlowsArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    window: WindowArgs,
    /// Only this IP protocol (tcp, udp, icmp, ipv6-icmp, or a number)
    #[arg(long, value_name = "PROTO")]
    proto: Option<String>,
    /// Only this application protocol (dicom, hl7, mqtt, ...)
    #[arg(long, value_name = "PROTO")]
    app: Option<String>,
    /// Most rows to print; 0 for all
    #[arg(long, value_name = "N", default_value_t = 1000)]
    limit: u64,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
}

pub fn run(a: FlowsArgs) -> Result<ExitCode> {
    let w = a.window.parse()?;
    let filter = FlowFilter {
        device: w.device,
        since: w.since,
        until: w.until,
        proto: a
            .proto
            .as_deref()
            .map(|p| {
                proto_number(p).ok_or_else(|| anyhow!("--proto {p:?} is not a known IP protocol"))
            })
            .transpose()?,
        app_proto: a.app.clone(),
        limit: (a.limit > 0).then_some(a.limit + 1),
    };
    let conn = open_db(&a.db.db_path()?)?;
    let mut rows = query::flows(&conn, &filter)?;
    let truncated = a.limit > 0 && rows.len() as u64 > a.limit;
    rows.truncate(if a.limit > 0 {
        a.limit as usize
    } else {
        rows.len()
    });
    if a.json {
        print_json_lines(&rows)?;
    } else {
        table::print(
            &[
                "flow_id",
                "start",
                "proto",
                "src",
                "dest",
                "app",
                "pkts >/<",
                "bytes >/<",
                "state",
                "reason",
            ],
            rows.iter().map(|f| {
                vec![
                    f.flow_id.to_string(),
                    f.start.clone(),
                    f.proto.clone(),
                    endpoint(&f.src_ip, f.src_port, &f.proto),
                    endpoint(&f.dest_ip, f.dest_port, &f.proto),
                    f.app_proto.clone().unwrap_or_else(|| "-".into()),
                    format!("{}/{}", f.pkts_toserver, f.pkts_toclient),
                    format!("{}/{}", f.bytes_toserver, f.bytes_toclient),
                    f.state.clone(),
                    f.reason.clone(),
                ]
            }),
        )?;
    }
    if truncated {
        eprintln!(
            "medtap: showing the first {} flows; use --limit 0 for all",
            a.limit
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn endpoint(ip: &str, port: u16, proto: &str) -> String {
    match (proto, ip.contains(':')) {
        ("tcp" | "udp" | "sctp", true) => format!("[{ip}]:{port}"),
        ("tcp" | "udp" | "sctp", false) => format!("{ip}:{port}"),
        _ => ip.to_string(),
    }
}
