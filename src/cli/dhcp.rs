//! `medtap dhcp`: DHCP transactions (client MAC, message types, hostname,
//! vendor class, fingerprint, leased IP, server, relay information).

use super::{open_db, print_json_lines, table, DbArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::query;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DhcpArgs {
    #[command(flatten)]
    db: DbArgs,
    /// One JSON object per line (one per transaction, with its messages)
    #[arg(long)]
    json: bool,
}

pub fn run(a: DhcpArgs) -> Result<ExitCode> {
    let conn = open_db(&a.db.db_path()?)?;
    let rows = query::dhcp_transactions(&conn)?;
    if a.json {
        print_json_lines(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    table::print(
        &[
            "start",
            "client_mac",
            "xid",
            "types",
            "hostname",
            "vendor_class",
            "fingerprint",
            "leased_ip",
            "server",
            "relay",
        ],
        rows.iter().map(|t| {
            let relay = match (&t.relay, &t.relay_circuit_id, &t.relay_remote_id) {
                (None, None, None) => "-".to_string(),
                (r, c, i) => format!("{} circuit={} remote={}", o(r), o(c), o(i)),
            };
            vec![
                t.start.clone(),
                o(&t.client_mac),
                t.xid.clone(),
                t.types.join(","),
                o(&t.hostname),
                o(&t.vendor_class),
                o(&t.fingerprint),
                o(&t.leased_ip),
                o(&t.server),
                relay,
            ]
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}
