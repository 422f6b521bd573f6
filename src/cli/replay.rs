//! `medtap replay --alert ID`: extracts an alert's packets from the
//! archive and runs detection over them again, into a temporary database,
//! with the rules and asset list the sensor uses; says whether the same
//! alert (rule, device, peer) comes out, and what differs.

use super::extract::{for_alert, write_pcap, Lookback};
use super::session::Session;
use super::{init_logging, load_config, open_db, DbArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use medtap::sensor::files::read_files;
use medtap::sensor::signals::stop_flag;
use medtap::sensor::Mode;
use medtap::store::rows::archive::{alert_targets, AlertTarget};
use medtap::store::{SessionInfo, Store};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of `replay` when the alert did not come out again (or its
/// packets are not in the archive).
pub const EXIT_NOT_REPRODUCED: u8 = 1;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The alert to replay
    #[arg(long, value_name = "ID")]
    alert: u64,
    /// Asset list [default: the config's identity.assets]
    #[arg(long, value_name = "FILE", value_parser = super::any_path())]
    assets: Option<PathBuf>,
    /// The hospital's rules directory [default: the config's policy.rules_dir]
    #[arg(long, value_name = "DIR", value_parser = super::any_path())]
    rules: Option<PathBuf>,
    /// Keep the extract and the replay's database in DIR (else a temporary
    /// directory, removed at the end)
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

pub fn run(a: ReplayArgs) -> Result<ExitCode> {
    let mut cfg = load_config(a.db.config_path())?;
    if let Some(assets) = a.assets.clone() {
        cfg.identity.assets = assets;
    }
    if let Some(rules) = a.rules.clone() {
        cfg.policy.rules_dir = rules;
    }
    // The sensor enforces: the replay too, whatever its learning period.
    cfg.policy.learn_for = "0".into();
    // Nothing leaves the box from a replay.
    cfg.outputs.eve.path.clear();
    cfg.outputs.syslog.target.clear();
    cfg.outputs.metrics_listen.clear();
    cfg.log.level = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    init_logging(&cfg)?;
    let db = a.db.db_path()?;
    let conn = open_db(&db)?;
    let chosen = for_alert(&conn, a.alert, &Lookback::of(&cfg))?;
    let Some(original) = chosen.alert.clone() else {
        bail!("alert {} is not in the database", a.alert);
    };
    // What the sensor had seen devices offer before the alert (NEW_SERVICE).
    let history = medtap::store::rows::baseline::served_history(&conn, original.first_us)?;
    let work = Workdir::new(a.keep.clone(), a.alert)?;
    let pcap = work.path.join(format!("alert-{}.pcap", a.alert));
    let (report, sha) = write_pcap(&conn, &chosen.selection, None, &pcap)?;
    drop(conn);
    eprintln!(
        "medtap: replaying alert {} ({} {} -> {}, count {}): {} packet(s) from the archive (sha256 {sha})",
        original.alert_id,
        original.rule,
        end_text(&original.device_mac, &original.device_ip),
        end_text(&original.peer_mac, &original.peer_ip),
        original.count,
        report.packets
    );
    for g in &report.gaps {
        eprintln!(
            "medtap: part of the range is not in the archive: {}: {}",
            g.file, g.reason
        );
    }
    if report.packets == 0 {
        println!(
            "not reproduced: no packet of alert {} is in the archive",
            a.alert
        );
        return Ok(ExitCode::from(EXIT_NOT_REPRODUCED));
    }
    let replay_db = work.path.join("replay.db");
    let _ = std::fs::remove_file(&replay_db);
    let info = SessionInfo {
        command: "replay".into(),
        source: pcap.display().to_string(),
    };
    let store = Store::open_writer(&replay_db, &info)?;
    let mut session = Session::start_with(&cfg, store, Mode::Files, false, None, Some(history))?;
    let stop = stop_flag()?;
    let files = [pcap.display().to_string()];
    read_files(&mut session.sensor, &files, &stop);
    let outcome = session.finish("replay", "end of input");
    if outcome.lost() > 0 {
        eprintln!("medtap: the replay lost {} record(s)", outcome.lost());
    }
    let replayed = alert_targets(&open_db(&replay_db)?)?;
    let same = replayed.iter().find(|r| same_alert(&original, r));
    match same {
        Some(r) => {
            println!(
                "reproduced: {} {} -> {} (replay alert {}, count {})",
                r.rule,
                end_text(&r.device_mac, &r.device_ip),
                end_text(&r.peer_mac, &r.peer_ip),
                r.alert_id,
                r.count
            );
            for d in differences(&original, r) {
                println!("  differs: {d}");
            }
        }
        None => println!(
            "not reproduced: no {} alert about {} and {} in the replay",
            original.rule,
            end_text(&original.device_mac, &original.device_ip),
            end_text(&original.peer_mac, &original.peer_ip)
        ),
    }
    for r in replayed.iter().filter(|r| !same_alert(&original, r)) {
        println!(
            "  also raised: {} {} {} -> {} (count {})",
            r.rule,
            r.severity,
            end_text(&r.device_mac, &r.device_ip),
            end_text(&r.peer_mac, &r.peer_ip),
            r.count
        );
    }
    if let Some(dir) = &a.keep {
        eprintln!(
            "medtap: extract and replay database kept in {}",
            dir.display()
        );
    }
    Ok(if same.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_REPRODUCED)
    })
}

/// The evidence's anomaly kind (PROTOCOL_ANOMALY), if any.
fn anomaly_of(a: &AlertTarget) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&a.evidence)
        .ok()?
        .get("anomaly")?
        .as_str()
        .map(str::to_string)
}

/// The same finding: rule, device and peer (by MAC where both have one,
/// else by address), and for a protocol anomaly the same kind.
fn same_alert(a: &AlertTarget, b: &AlertTarget) -> bool {
    let end = |m1: &Option<String>,
               i1: &Option<String>,
               m2: &Option<String>,
               i2: &Option<String>| {
        match (m1, m2) {
            (Some(x), Some(y)) => x == y,
            _ => i1 == i2,
        }
    };
    a.rule == b.rule
        && anomaly_of(a) == anomaly_of(b)
        && end(&a.device_mac, &a.device_ip, &b.device_mac, &b.device_ip)
        && end(&a.peer_mac, &a.peer_ip, &b.peer_mac, &b.peer_ip)
}

/// What differs between the sensor's alert and the replay's.
fn differences(a: &AlertTarget, b: &AlertTarget) -> Vec<String> {
    let mut d = Vec::new();
    let mut cmp = |name: &str, x: String, y: String| {
        if x != y {
            d.push(format!("{name}: {x} (sensor) vs {y} (replay)"));
        }
    };
    cmp("severity", a.severity.clone(), b.severity.clone());
    cmp("count", a.count.to_string(), b.count.to_string());
    cmp("clause", a.clause.clone(), b.clause.clone());
    cmp("message", a.message.clone(), b.message.clone());
    cmp(
        "device ip",
        format!("{:?}", a.device_ip),
        format!("{:?}", b.device_ip),
    );
    cmp(
        "peer ip",
        format!("{:?}", a.peer_ip),
        format!("{:?}", b.peer_ip),
    );
    d.into_iter().map(|s| super::table::escape(&s)).collect()
}

fn end_text(mac: &Option<String>, ip: &Option<String>) -> String {
    let s = ip
        .clone()
        .or_else(|| mac.clone())
        .unwrap_or_else(|| "-".into());
    super::table::escape(&s)
}

/// Where the extract and the replay's database live.
struct Workdir {
    path: PathBuf,
    temporary: bool,
}

impl Workdir {
    fn new(keep: Option<PathBuf>, alert: u64) -> Result<Workdir> {
        use std::os::unix::fs::DirBuilderExt;
        let (path, temporary) = match keep {
            Some(p) => (p, false),
            None => (
                std::env::temp_dir().join(format!("medtap-replay-{}-{alert}", std::process::id())),
                true,
            ),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Workdir { path, temporary })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
