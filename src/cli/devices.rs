//! `medtap devices`: the device inventory.

use super::{open_db, print_json_lines, table, DbArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::query;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DevicesArgs {
    #[command(flatten)]
    db: DbArgs,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
}

pub fn run(a: DevicesArgs) -> Result<ExitCode> {
    let conn = open_db(&a.db.db_path()?)?;
    let rows = query::devices(&conn)?;
    if a.json {
        print_json_lines(&rows)?;
    } else {
        table::print(
            &["mac", "ips", "first_seen", "last_seen"],
            rows.iter().map(|d| {
                vec![
                    d.mac.clone(),
                    if d.ips.is_empty() {
                        "-".into()
                    } else {
                        d.ips.join(",")
                    },
                    d.first_seen.clone(),
                    d.last_seen.clone(),
                ]
            }),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
