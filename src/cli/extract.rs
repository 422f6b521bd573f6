//! `medtap extract`: from an alert, a flow or a device back to its archived
//! packets, as a pcap any tool opens, with a manifest for chain of custody.

use super::{load_config, open_db, DbArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use medtap::archive::extract::{extract, End, FlowSpan, Report, Selection};
use medtap::store::rows::archive::{self as index, AlertTarget, FlowSpanRow};
use medtap::time::{self, Micros};
use rusqlite::Connection;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code of `extract` when part of the range was deleted by retention
/// (or is unreadable), or no frame was found.
pub const EXIT_INCOMPLETE: u8 = 1;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["alert", "flow", "device"])))]
pub struct ExtractArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The packets behind this alert: its flows, or (an alert about no
    /// single flow) the frames of its devices within its first..last seen
    #[arg(long, value_name = "ID")]
    alert: Option<u64>,
    /// Every packet of this flow
    #[arg(long, value_name = "ID")]
    flow: Option<u64>,
    /// Every frame to or from this device (ARP included)
    #[arg(long, value_name = "MAC|IP")]
    device: Option<String>,
    /// With --device: only frames between it and this address
    #[arg(long, value_name = "IP", requires = "device")]
    peer: Option<String>,
    /// Only frames at or after this time (RFC 3339, or e.g. `1h` ago)
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only frames at or before this time
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only frames this BPF filter passes (compiled for Ethernet)
    #[arg(long, value_name = "BPF")]
    filter: Option<String>,
    /// Output pcap; `-` writes to stdout (e.g. `| wireshark -k -i -`)
    #[arg(short = 'w', long = "write", value_name = "OUT")]
    out: String,
    /// Where the manifest goes [default: OUT.manifest.json; none for `-w -`]
    #[arg(long, value_name = "PATH")]
    manifest: Option<PathBuf>,
}

/// A selection and what it was made from, for the manifest.
pub struct Chosen {
    /// What to extract.
    pub selection: Selection,
    /// The alert, when extracting one.
    pub alert: Option<AlertTarget>,
    /// The command's selection, as asked.
    pub asked: serde_json::Value,
}

pub fn run(a: ExtractArgs) -> Result<ExitCode> {
    let db = a.db.db_path()?;
    let cfg = load_config(a.db.config_path())?;
    let conn = open_db(&db)?;
    let now = time::now();
    let since = a
        .since
        .as_deref()
        .map(|t| time::parse_time(t, now))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|t| time::parse_time(t, now))
        .transpose()?;
    let chosen = if let Some(id) = a.alert {
        for_alert(&conn, id, &Lookback::of(&cfg))?
    } else if let Some(id) = a.flow {
        for_flow(&conn, id)?
    } else {
        let dev = a.device.as_deref().unwrap_or_default();
        let device = End::parse(dev)
            .with_context(|| format!("--device {dev:?} is not a MAC or an IP address"))?;
        let peer = a
            .peer
            .as_deref()
            .map(|p| End::parse(p).with_context(|| format!("--peer {p:?} is not an address")))
            .transpose()?;
        Chosen {
            selection: Selection::Between {
                device,
                peer,
                from: Micros::MIN,
                to: Micros::MAX,
            },
            alert: None,
            asked: serde_json::json!({"device": dev, "peer": a.peer}),
        }
    };
    let mut chosen = chosen;
    narrow(&mut chosen.selection, since, until);
    let filter = a.filter.as_deref().map(compile).transpose()?;
    let to_stdout = a.out == "-";
    let (report, sha) = if to_stdout {
        let stdout = std::io::stdout();
        let mut out = Hashing::new(stdout.lock());
        let r = extract(&conn, &chosen.selection, filter.as_ref(), &mut out)?;
        (r, out.hex())
    } else {
        write_pcap(&conn, &chosen.selection, filter.as_ref(), Path::new(&a.out))?
    };
    let manifest_path = match (&a.manifest, to_stdout) {
        (Some(p), _) => Some(p.clone()),
        (None, false) => Some(PathBuf::from(format!("{}.manifest.json", a.out))),
        (None, true) => None,
    };
    let manifest = Manifest {
        pcap: (!to_stdout).then(|| a.out.clone()),
        sha256: sha.clone(),
        bytes: report.bytes,
        packets: report.packets,
        complete: report.complete() && report.packets > 0,
        selection: chosen.asked.clone(),
        since: since.map(time::rfc3339),
        until: until.map(time::rfc3339),
        filter: a.filter.clone(),
        alert: chosen.alert.clone(),
        flows: match &chosen.selection {
            Selection::Flows(f) => f.iter().map(|s| s.flow_id).collect(),
            _ => Vec::new(),
        },
        sensor: super::outputs::sensor_name(&cfg),
        database: db.display().to_string(),
        archive_files: report.files_read.clone(),
        gaps: report.gaps.clone(),
        created: time::rfc3339(now),
        medtap_version: env!("CARGO_PKG_VERSION"),
    };
    if let Some(p) = &manifest_path {
        write_private(p, &serde_json::to_vec_pretty(&manifest)?)
            .with_context(|| format!("manifest {}", p.display()))?;
    }
    say(&report, &a.out, &sha, manifest_path.as_deref());
    Ok(if manifest.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INCOMPLETE)
    })
}

/// Writes the extract of `sel` to `path` (mode 0600: raw traffic);
/// returns what was written and its SHA-256.
pub fn write_pcap(
    conn: &Connection,
    sel: &Selection,
    filter: Option<&pcap::BpfProgram>,
    path: &Path,
) -> Result<(Report, String)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = Hashing::new(std::io::BufWriter::new(file));
    let report = extract(conn, sel, filter, &mut out)?;
    Ok((report, out.hex()))
}

/// How far before its first sighting a detection counted what raised an
/// alert: a scan's hosts and ports, a burst's associations, a brute
/// force's refused logins (the config's `[policy.thresholds]`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookback {
    /// `scan_window_secs`.
    pub scan: Micros,
    /// `window_secs` (bursts, brute force).
    pub window: Micros,
}

impl Lookback {
    /// The windows `cfg` sets.
    pub fn of(cfg: &medtap::config::Config) -> Lookback {
        let t = &cfg.policy.thresholds;
        Lookback {
            scan: medtap::pipeline::secs(t.scan_window_secs),
            window: medtap::pipeline::secs(t.window_secs),
        }
    }

    /// How far before `alert` its evidence goes back.
    fn before(&self, alert: &AlertTarget) -> Micros {
        const COUNTED: [&str; 3] = [
            "mqtt.auth_brute_force",
            "dicom.association_burst",
            "dicom.query_burst",
        ];
        let anomaly = serde_json::from_str::<serde_json::Value>(&alert.evidence)
            .ok()
            .and_then(|e| e.get("anomaly")?.as_str().map(str::to_string))
            .unwrap_or_default();
        match alert.rule.as_str() {
            "SCAN" => self.scan,
            "PROTOCOL_ANOMALY" if COUNTED.contains(&anomaly.as_str()) => self.window,
            _ => 0,
        }
    }
}

/// The selection behind alert `id`: its flow and the flows it folded
/// (same protocol, client, server and port, started within its first..last
/// seen), or, for an alert about no single flow, the frames of its device
/// and peer within that window. An alert raised by counting (a scan, a
/// burst, a brute force) reaches back by its detection window
/// (`lookback`), so that its extract holds what was counted.
pub fn for_alert(conn: &Connection, id: u64, lookback: &Lookback) -> Result<Chosen> {
    let Some(alert) = index::alert_target(conn, id)? else {
        bail!("alert {id} is not in the database");
    };
    let back = lookback.before(&alert);
    let first = alert.first_us.saturating_sub(back);
    let flow = match alert.flow_id {
        Some(f) => index::flow_span(conn, f)?,
        None => None,
    };
    let selection = match flow {
        Some(flow) => {
            let mut rows = vec![flow.clone()];
            if alert.count > 1 || back > 0 {
                rows.extend(
                    index::similar_flows(conn, &flow, first, alert.last_us)?
                        .into_iter()
                        .filter(|r| r.0 != flow.0),
                );
            }
            Selection::Flows(rows.iter().filter_map(span_of).collect())
        }
        None => {
            let end = |mac: &Option<String>, ip: &Option<String>| End {
                mac: mac.as_deref().and_then(medtap::net::Mac::parse),
                ip: ip.as_deref().and_then(|i| i.parse().ok()),
            };
            let ends = [
                end(&alert.device_mac, &alert.device_ip),
                end(&alert.peer_mac, &alert.peer_ip),
            ]
            .into_iter()
            .filter(|e| e.mac.is_some() || e.ip.is_some())
            .collect();
            Selection::Involving {
                ends,
                from: first,
                to: alert.last_us,
            }
        }
    };
    Ok(Chosen {
        selection,
        asked: serde_json::json!({ "alert": id }),
        alert: Some(alert),
    })
}

fn for_flow(conn: &Connection, id: u64) -> Result<Chosen> {
    let Some(row) = index::flow_span(conn, id)? else {
        bail!("flow {id} is not in the database");
    };
    Ok(Chosen {
        selection: Selection::Flows(span_of(&row).into_iter().collect()),
        alert: None,
        asked: serde_json::json!({ "flow": id }),
    })
}

fn span_of(r: &FlowSpanRow) -> Option<FlowSpan> {
    Some(FlowSpan {
        flow_id: r.0,
        proto: r.1,
        src: (r.2.parse().ok()?, r.3),
        dest: (r.4.parse().ok()?, r.5),
        start: r.6,
        end: r.7,
    })
}

/// Narrows a selection to `[since, until]`.
fn narrow(sel: &mut Selection, since: Option<Micros>, until: Option<Micros>) {
    let (lo, hi) = (since.unwrap_or(Micros::MIN), until.unwrap_or(Micros::MAX));
    match sel {
        Selection::Flows(f) => {
            for s in f.iter_mut() {
                s.start = s.start.max(lo);
                s.end = s.end.min(hi);
            }
        }
        Selection::Between { from, to, .. } | Selection::Involving { from, to, .. } => {
            *from = (*from).max(lo);
            *to = (*to).min(hi);
        }
    }
}

fn compile(filter: &str) -> Result<pcap::BpfProgram> {
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET)?;
    dead.compile(filter, true)
        .with_context(|| format!("--filter {filter:?} does not compile"))
}

/// Writes `bytes` to a new file `path` with mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.write_all(b"\n")
}

/// Says on stderr what was written and what is missing.
fn say(r: &Report, out: &str, sha: &str, manifest: Option<&Path>) {
    let to = if out == "-" { "stdout" } else { out };
    eprintln!(
        "medtap: wrote {} packet(s) from {} archive file(s) to {to} (sha256 {sha}){}",
        r.packets,
        r.files_read.len(),
        manifest
            .map(|m| format!("; manifest {}", m.display()))
            .unwrap_or_default()
    );
    for g in &r.gaps {
        eprintln!(
            "medtap: part of the range is not in the archive: {} ({} .. {}): {}",
            g.file,
            g.first.as_deref().unwrap_or("?"),
            g.last.as_deref().unwrap_or("?"),
            g.reason
        );
    }
    if r.packets == 0 && r.gaps.is_empty() {
        eprintln!("medtap: no archived frame matches (was the archive on at that time?)");
    }
    if r.other_link > 0 {
        eprintln!(
            "medtap: {} frame(s) of another link type left out (a pcap has one)",
            r.other_link
        );
    }
}

/// The manifest beside an extract (chain of custody).
#[derive(Serialize)]
struct Manifest {
    pcap: Option<String>,
    sha256: String,
    bytes: u64,
    packets: u64,
    complete: bool,
    selection: serde_json::Value,
    since: Option<String>,
    until: Option<String>,
    filter: Option<String>,
    alert: Option<AlertTarget>,
    flows: Vec<u64>,
    sensor: String,
    database: String,
    archive_files: Vec<String>,
    gaps: Vec<medtap::archive::extract::Gap>,
    created: String,
    medtap_version: &'static str,
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W: Write> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            sha: Sha256::new(),
        }
    }

    fn hex(&self) -> String {
        self.sha
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
