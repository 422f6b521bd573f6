//! `medtap mqtt`: MQTT sessions with their topics and subscriptions.

use super::{app_rows, table, AppQueryArgs};
use anyhow::Result;
use clap::Args;
use medtap::store::query;
use std::process::ExitCode;

/// Topics or filters shown per session in the table: a subscriber to `#`
/// or `$SYS/#` receives dozens of topics and would make one line unreadable.
const TABLE_LIST_ITEMS: usize = 3;

#[derive(Args, Debug)]
pub struct MqttArgs {
    #[command(flatten)]
    q: AppQueryArgs,
}

pub fn run(a: MqttArgs) -> Result<ExitCode> {
    let Some(rows) = app_rows(&a.q, query::mqtt)? else {
        return Ok(ExitCode::SUCCESS);
    };
    table::print(
        &[
            "flow_id",
            "start",
            "client -> broker",
            "ver",
            "client_id",
            "connack",
            "published",
            "subscribed",
        ],
        rows.iter().map(|r| {
            let published: Vec<String> = r
                .published
                .iter()
                .map(|p| {
                    let arrow = if p.direction == "to_server" { ">" } else { "<" };
                    format!("{arrow}{} q{} x{} {}B", p.topic, p.qos, p.count, p.bytes)
                })
                .collect();
            let subscribed: Vec<String> = r
                .subscribed
                .iter()
                .map(|s| match s.granted {
                    Some(g) => format!("{} q{} ->{g}", s.filter, s.qos),
                    None => format!("{} q{}", s.filter, s.qos),
                })
                .collect();
            let list = |v: Vec<String>| match v.len() {
                0 => "-".into(),
                n if n > TABLE_LIST_ITEMS => format!(
                    "{}; (+{} more, --json lists all)",
                    v[..TABLE_LIST_ITEMS].join("; "),
                    n - TABLE_LIST_ITEMS
                ),
                _ => v.join("; "),
            };
            vec![
                r.flow.flow_id.to_string(),
                r.flow.start.clone(),
                format!(
                    "{}:{} -> {}:{}",
                    r.flow.src_ip, r.flow.src_port, r.flow.dest_ip, r.flow.dest_port
                ),
                r.protocol_version.map_or("-".into(), |v| v.to_string()),
                r.client_id.clone().unwrap_or_else(|| "-".into()),
                r.connack_reason.clone().unwrap_or_else(|| "-".into()),
                list(published),
                list(subscribed),
            ]
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}
