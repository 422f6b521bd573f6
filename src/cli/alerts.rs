//! `medtap alerts`: the alerts, newest last; `--follow` tails them like
//! `tail -f` against a running sensor. `medtap alert ID`: one alert with
//! the device cards of both ends and the records behind it.

use super::table::{self, escape};
use super::{open_db, print_json_lines, DbArgs};
use anyhow::{anyhow, Result};
use clap::Args;
use medtap::kinds::Severity;
use medtap::store::query::{self, AlertFilter, AlertRow, DeviceSel};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// How often `--follow` looks for new alerts (they reach the database
/// within a second of their packet).
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

#[derive(Args, Debug)]
pub struct AlertsArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Only alerts last seen at or after this time (RFC 3339, or relative: -2h, -30m)
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    since: Option<String>,
    /// Only alerts first seen at or before this time
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    until: Option<String>,
    /// Only this severity and more urgent ones (high, medium, low, info)
    #[arg(long, value_name = "LEVEL")]
    severity: Option<String>,
    /// Only alerts about this device, as device or peer (MAC or IP)
    #[arg(long, value_name = "MAC|IP")]
    device: Option<String>,
    /// Only this rule (NEW_DEVICE, POLICY_VIOLATION, ...)
    #[arg(long, value_name = "ID")]
    rule: Option<String>,
    /// Learning-mode observations instead of alerts
    #[arg(long)]
    observations: bool,
    /// Keep printing new alerts as they arrive (Ctrl-C to stop)
    #[arg(long, short = 'f')]
    follow: bool,
    /// Most rows to print (before following); 0 for all
    #[arg(long, value_name = "N", default_value_t = 0)]
    limit: u64,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
}

pub fn run(a: AlertsArgs) -> Result<ExitCode> {
    let filter = filter(&a)?;
    let path = a.db.db_path()?;
    let conn = open_db(&path)?;
    let mut rows = query::alerts(&conn, &filter)?;
    if a.limit > 0 && rows.len() as u64 > a.limit {
        // The newest `limit`.
        rows.drain(..rows.len() - a.limit as usize);
    }
    let mut last = rows.iter().map(|r| r.alert_id).max().unwrap_or(0);
    if !print(&a, &rows, true)? {
        return Ok(ExitCode::SUCCESS);
    }
    if !a.follow {
        return Ok(ExitCode::SUCCESS);
    }
    if last == 0 {
        // Nothing matched yet: follow from the newest alert of any kind.
        last = query::alerts(
            &conn,
            &AlertFilter {
                observations: a.observations,
                ..AlertFilter::default()
            },
        )?
        .iter()
        .map(|r| r.alert_id)
        .max()
        .unwrap_or(0);
    }
    let stop = medtap::sensor::signals::stop_flag()?;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(FOLLOW_EVERY);
        let f = AlertFilter {
            after_id: Some(last),
            ..filter.clone()
        };
        let new = query::alerts(&conn, &f)?;
        if let Some(id) = new.iter().map(|r| r.alert_id).max() {
            last = id;
        }
        if !print(&a, &new, false)? {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn filter(a: &AlertsArgs) -> Result<AlertFilter> {
    use medtap::time::{now, parse_time};
    let now = now();
    let severity = a
        .severity
        .as_deref()
        .map(|s| {
            Severity::from_name(&s.to_ascii_lowercase())
                .ok_or_else(|| anyhow!("--severity {s:?} is not high, medium, low or info"))
        })
        .transpose()?;
    let rule = a
        .rule
        .as_deref()
        .map(|r| {
            let r = r.to_ascii_uppercase();
            medtap::alert::Rule::from_id(&r)
                .map(|_| r.clone())
                .ok_or_else(|| anyhow!("--rule {r:?} is not a rule id"))
        })
        .transpose()?;
    Ok(AlertFilter {
        since: a.since.as_deref().map(|t| parse_time(t, now)).transpose()?,
        until: a.until.as_deref().map(|t| parse_time(t, now)).transpose()?,
        severity,
        device: a
            .device
            .as_deref()
            .map(|d| {
                DeviceSel::parse(d)
                    .ok_or_else(|| anyhow!("--device {d:?} is neither a MAC nor an IP address"))
            })
            .transpose()?,
        rule,
        observations: a.observations,
        ..AlertFilter::default()
    })
}

/// Prints rows; false when stdout is closed (`| head`): stop quietly.
fn print(a: &AlertsArgs, rows: &[AlertRow], header: bool) -> Result<bool> {
    let res = if a.json {
        print_json_lines(rows)
    } else if header {
        table::print(HEADER, rows.iter().map(cells)).map_err(Into::into)
    } else {
        lines(rows)
    };
    match res {
        Ok(()) => Ok(true),
        Err(e) if is_broken_pipe(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

const HEADER: &[&str] = &[
    "id",
    "first seen",
    "last seen",
    "count",
    "severity",
    "rule",
    "device",
    "peer",
    "message",
];

fn cells(r: &AlertRow) -> Vec<String> {
    vec![
        r.alert_id.to_string(),
        r.ts.clone(),
        r.last_seen.clone(),
        r.count.to_string(),
        r.severity.clone(),
        r.rule.clone(),
        party(&r.device_name, &r.device_ip, &r.device_mac),
        party(&r.peer_name, &r.peer_ip, &r.peer_mac),
        r.message.clone(),
    ]
}

/// Followed alerts, one line each (a table would re-align on every batch).
fn lines(rows: &[AlertRow]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for r in rows {
        let c = cells(r);
        writeln!(out, "{}", escape(&c.join("  ")))?;
    }
    out.flush()?;
    Ok(())
}

fn party(name: &Option<String>, ip: &Option<String>, mac: &Option<String>) -> String {
    let addr = ip
        .clone()
        .or_else(|| mac.clone())
        .unwrap_or_else(|| "-".into());
    match name {
        Some(n) => format!("{n} ({addr})"),
        None => addr,
    }
}

#[derive(Args, Debug)]
pub struct AlertArgs {
    /// The alert's id
    #[arg(value_name = "ID")]
    id: u64,
    #[command(flatten)]
    db: DbArgs,
    /// One JSON object: the alert, its devices, flows and records
    #[arg(long)]
    json: bool,
}

/// `medtap alert ID`.
pub fn run_one(a: AlertArgs) -> Result<ExitCode> {
    let conn = open_db(&a.db.db_path()?)?;
    let mut rows = Vec::new();
    for observations in [false, true] {
        rows.extend(query::alerts(
            &conn,
            &AlertFilter {
                id: Some(a.id),
                observations,
                ..AlertFilter::default()
            },
        )?);
    }
    let Some(r) = rows.pop() else {
        eprintln!("medtap: no alert {}", a.id);
        return Ok(ExitCode::from(1));
    };
    let card = |mac: &Option<String>, ip: &Option<String>| -> Result<Option<query::DeviceDetail>> {
        match mac.as_ref().or(ip.as_ref()) {
            Some(k) => Ok(query::device(&conn, k)?),
            None => Ok(None),
        }
    };
    let device = card(&r.device_mac, &r.device_ip)?;
    let peer = card(&r.peer_mac, &r.peer_ip)?;
    let flows = behind(&conn, &r)?;
    if a.json {
        let v = serde_json::json!({
            "alert": r,
            "device": device,
            "peer": peer,
            "flows": flows,
        });
        let mut out = std::io::stdout().lock();
        table::write_json_line(&mut out, &v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    let o = |v: &Option<String>| v.as_deref().map_or("-".to_string(), escape);
    writeln!(
        out,
        "alert       {}{}",
        r.alert_id,
        if r.observation {
            " (observation: learning mode)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "rule        {} — DB3205/T {}",
        r.rule,
        escape(&r.clause)
    )?;
    writeln!(out, "severity    {}", r.severity)?;
    writeln!(out, "message     {}", escape(&r.message))?;
    writeln!(
        out,
        "seen        {} … {} ({} time(s))",
        r.ts, r.last_seen, r.count
    )?;
    writeln!(
        out,
        "device      {} {} {} class {} grade {}",
        o(&r.device_name),
        o(&r.device_ip),
        o(&r.device_mac),
        o(&r.device_class),
        r.grade.map_or("-".into(), |g| g.to_string())
    )?;
    writeln!(
        out,
        "peer        {} {} {} class {}",
        o(&r.peer_name),
        o(&r.peer_ip),
        o(&r.peer_mac),
        o(&r.peer_class)
    )?;
    if let Some(f) = r.flow_id {
        writeln!(
            out,
            "flow        {} {} {}:{} → {}:{} {} community {}",
            f,
            o(&r.proto),
            o(&r.src_ip),
            r.src_port.unwrap_or(0),
            o(&r.dest_ip),
            r.dest_port.unwrap_or(0),
            o(&r.app_proto),
            o(&r.community_id)
        )?;
    }
    if let serde_json::Value::Object(m) = &r.evidence {
        for (k, v) in m {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(out, "evidence    {}: {}", escape(k), escape(&v))?;
        }
    }
    for (what, d) in [("device", &device), ("peer", &peer)] {
        if let Some(d) = d {
            let dev = &d.device;
            writeln!(
                out,
                "{what:<11} card: {} vendor {} class {} ({})",
                o(&dev.mac.clone().or(Some(dev.key.clone()))),
                escape(&super::devices::vendor_cell(dev)),
                escape(&dev.class),
                dev.class_source.as_deref().unwrap_or("-"),
            )?;
        }
    }
    writeln!(out, "flows behind it ({}):", flows.len())?;
    drop(out);
    table::print(
        &[
            "flow_id",
            "start",
            "end",
            "proto",
            "src",
            "dest",
            "app",
            "bytes >/<",
        ],
        flows.iter().map(|f| {
            vec![
                f.flow_id.to_string(),
                f.start.clone(),
                f.end.clone(),
                f.proto.clone(),
                format!("{}:{}", f.src_ip, f.src_port),
                format!("{}:{}", f.dest_ip, f.dest_port),
                f.app_proto.clone().unwrap_or_else(|| "-".into()),
                format!("{}/{}", f.bytes_toserver, f.bytes_toclient),
            ]
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The flows behind an alert: between its device and peer within its
/// first-to-last-seen window (the first flow, at least).
fn behind(conn: &rusqlite::Connection, r: &AlertRow) -> Result<Vec<query::FlowRow>> {
    let now = medtap::time::now();
    let first = medtap::time::parse_time(&r.ts, now)?;
    let last = medtap::time::parse_time(&r.last_seen, now)?;
    let device = r
        .device_ip
        .as_deref()
        .and_then(DeviceSel::parse)
        .or_else(|| r.device_mac.as_deref().and_then(DeviceSel::parse));
    let Some(device) = device else {
        return Ok(Vec::new());
    };
    let rows = query::flows(
        conn,
        &query::FlowFilter {
            device: Some(device),
            since: Some(first),
            until: Some(last),
            limit: Some(1000),
            ..Default::default()
        },
    )?;
    let peer = r.peer_ip.as_deref();
    Ok(rows
        .into_iter()
        .filter(|f| {
            Some(f.flow_id) == r.flow_id || peer.is_none_or(|p| f.src_ip == p || f.dest_ip == p)
        })
        .collect())
}
