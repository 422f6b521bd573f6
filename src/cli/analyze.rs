//! `medtap analyze FILE...`: capture files into the database.

use super::session::{Session, EXIT_INPUT_INCOMPLETE};
use super::{init_logging, load_config};
use anyhow::Result;
use clap::Args;
use medtap::sensor::files::read_files;
use medtap::sensor::signals::stop_flag;
use medtap::sensor::Mode;
use medtap::store::{SessionInfo, Store};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng), read in order as one capture; `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Database file to write
    #[arg(long, value_name = "PATH", default_value = "medtap.db")]
    db: PathBuf,
    /// Config file [default: /etc/medtap/medtap.toml if it exists]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Asset list (what each known device is; empty for none) [default: the config's identity.assets]
    #[arg(long, value_name = "FILE", value_parser = super::any_path())]
    assets: Option<PathBuf>,
    /// Directory of the hospital's own rules (device_classes.toml,
    /// fingerprints.toml, policy.toml; empty for none) [default: the config's policy.rules_dir]
    #[arg(long, value_name = "DIR", value_parser = super::any_path())]
    rules: Option<PathBuf>,
    /// EVE JSON lines for this run: a file, or unix:PATH for a socket
    /// [default: the config's outputs.eve.path]
    #[arg(long, value_name = "PATH")]
    eve: Option<String>,
    /// RFC 5424 syslog of alerts for this run: udp://HOST:PORT,
    /// tcp://HOST:PORT or unix:PATH [default: the config's outputs.syslog.target]
    #[arg(long, value_name = "TARGET")]
    syslog: Option<String>,
    /// Archive the frames under DIR as `medtap run` does (rotation,
    /// retention and the per-flow payload cap from the config's
    /// `[archive]`), so that `medtap extract` works on this capture's
    /// alerts and flows
    #[arg(long, value_name = "DIR")]
    archive: Option<PathBuf>,
    /// Learning mode over the whole capture: what would be a policy
    /// violation is recorded as an observation (see `baseline propose`)
    #[arg(long)]
    learn: bool,
}

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    let mut cfg = load_config(args.config.as_deref())?;
    if let Some(assets) = args.assets.clone() {
        cfg.identity.assets = assets;
    }
    if let Some(rules) = args.rules.clone() {
        cfg.policy.rules_dir = rules;
    }
    super::outputs::override_from_flags(&mut cfg, args.eve.as_deref(), args.syslog.as_deref())?;
    init_logging(&cfg)?;
    // SIGINT/SIGTERM stop the reading; what was read is still flushed and
    // recorded (a second signal kills at once).
    let stop = stop_flag()?;
    let info = SessionInfo {
        command: "analyze".into(),
        source: args.files.join(" "),
    };
    let store = Store::open_writer(&args.db, &info)?;
    let mut session = Session::start(
        &cfg,
        store,
        Mode::Files,
        args.learn,
        args.archive.as_deref(),
    )?;
    let started = Instant::now();
    let report = read_files(&mut session.sensor, &args.files, &stop);
    let (packets, failed_inputs) = (report.packets, report.incomplete);
    if let Some(i) = report.interrupted_at {
        eprintln!(
            "medtap: interrupted: stopped reading {} (and {} file(s) after it); flushing what was read",
            args.files[i],
            args.files.len() - i - 1
        );
    }
    let interrupted = report.interrupted_at;
    let counters = session.sensor.counters();
    let end_reason = match interrupted {
        Some(_) => "interrupted by signal",
        None => "end of input",
    };
    let outcome = session.finish("end of input", end_reason);
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "medtap: analyzed {} file(s): {} packets in {:.2}s ({:.0} packets/s), {} flows, {} devices, {} decode errors, {} records dropped, {} records not written -> {}",
        args.files.len(),
        packets,
        secs,
        packets as f64 / secs.max(1e-9),
        counters.flows.created,
        counters.devices,
        counters.decode_errors.iter().sum::<u64>(),
        outcome.dropped,
        outcome.writer.failed,
        args.db.display(),
    );
    tracing::debug!(written = outcome.writer.written, "rows written");
    if failed_inputs > 0 {
        eprintln!(
            "medtap: {failed_inputs} input(s) could not be read completely (see above); exit {EXIT_INPUT_INCOMPLETE}"
        );
    }
    Ok(outcome.exit_code(failed_inputs))
}
