//! `medtap run`: live capture until SIGINT/SIGTERM.

use super::session::Session;
use super::{init_logging, load_config};
use anyhow::Result;
use clap::Args;
use medtap::capture::{LiveOptions, LiveSource};
use medtap::sensor::live::capture_live;
use medtap::sensor::signals::stop_flag;
use medtap::sensor::Mode;
use medtap::store::{SessionInfo, Store};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Config file [default: /etc/medtap/medtap.toml if it exists]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Interface to capture on [default: the config's capture.interface]
    #[arg(short = 'i', long, value_name = "IFACE")]
    interface: Option<String>,
    /// Database file [default: the config's store.database]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Asset list (what each known device is; empty for none) [default: the config's identity.assets]
    #[arg(long, value_name = "FILE", value_parser = super::any_path())]
    assets: Option<PathBuf>,
    /// Directory of the hospital's own rules (device_classes.toml,
    /// fingerprints.toml, policy.toml; empty for none; SIGHUP reloads it
    /// and the asset list) [default: the config's policy.rules_dir]
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
    /// BPF filter words, e.g. `not port 22` [default: the config's capture.filter]
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    filter: Vec<String>,
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let mut cfg = load_config(args.config.as_deref())?;
    if let Some(assets) = args.assets.clone() {
        cfg.identity.assets = assets;
    }
    if let Some(rules) = args.rules.clone() {
        cfg.policy.rules_dir = rules;
    }
    super::outputs::override_from_flags(&mut cfg, args.eve.as_deref(), args.syslog.as_deref())?;
    init_logging(&cfg)?;
    let c = &cfg.capture;
    let opts = LiveOptions {
        interface: args.interface.unwrap_or_else(|| c.interface.clone()),
        promiscuous: c.promiscuous,
        snaplen: c.snaplen as i32,
        buffer_size: (c.buffer_mib as i32).saturating_mul(1 << 20),
        immediate_mode: c.immediate_mode,
        filter: if args.filter.is_empty() {
            c.filter.clone()
        } else {
            args.filter.join(" ")
        },
    };
    let db = args.db.unwrap_or_else(|| cfg.store.database.clone());

    let stop = stop_flag()?;
    let mut src = LiveSource::open(&opts)?;
    warn_small_slot_ring(&opts);
    let info = SessionInfo {
        command: "run".into(),
        source: opts.interface.clone(),
    };
    // The database is opened (and created) while medtap may still write
    // where root can; the capabilities go before any thread starts, since
    // a thread keeps the capabilities it was started with.
    let store = Store::open_writer(&db, &info)?;
    medtap::capture::drop_capabilities()?;
    let archive_dir = cfg.archive.enabled.then(|| cfg.archive.dir_for(&db));
    let mut session = Session::start(&cfg, store, Mode::Live, false, archive_dir.as_deref())?;
    tracing::info!(interface = %opts.interface, filter = %opts.filter, db = %db.display(), "capturing");
    // SIGHUP: the rules and the asset list again, from the same files (the
    // config file is read again too; its other settings need a restart).
    let reload_flag = medtap::sensor::signals::reload_flag()?;
    let config_path = args.config.clone();
    let (assets_arg, rules_arg) = (args.assets.clone(), args.rules.clone());
    let eve_reopen = std::sync::Arc::clone(&session.outputs.eve_reopen);
    let mut load = || {
        // logrotate moved the EVE file: write a new one.
        eve_reopen.store(true, std::sync::atomic::Ordering::Release);
        let cfg = load_config(config_path.as_deref()).map(|mut c| {
            if let Some(a) = &assets_arg {
                c.identity.assets = a.clone();
            }
            if let Some(r) = &rules_arg {
                c.policy.rules_dir = r.clone();
            }
            c
        });
        match cfg.and_then(|c| super::session::reload(&c)) {
            Ok(r) => {
                tracing::info!("reloaded the rules and the asset list (SIGHUP)");
                Some(r)
            }
            Err(e) => {
                tracing::error!("reload failed, the rules in force stay: {e:#}");
                None
            }
        }
    };
    let reloader = medtap::sensor::live::Reloader {
        flag: &reload_flag,
        load: &mut load,
    };
    let report = capture_live(&mut session.sensor, &mut src, &stop, Some(reloader));
    let end_reason = if report.capture_failed {
        "capture error"
    } else {
        "stopped by signal"
    };
    let outcome = session.finish(&opts.interface, end_reason);
    tracing::info!(
        written = outcome.writer.written,
        failed = outcome.writer.failed,
        dropped = outcome.dropped,
        "stopped"
    );
    Ok(outcome.exit_code(u64::from(report.capture_failed)))
}

/// Fewer ring slots than this (in immediate mode) is a few tens of
/// milliseconds of a busy 1 Gbit/s link (about 150,000 frames/s).
const FEW_SLOTS: i64 = 10_000;

/// Warns when immediate mode gives a ring of few frames: libpcap's
/// TPACKET_V2 ring has one slot of about the snaplen per frame, whatever
/// the frame's size (see `capture::live`), and it drops at high rates.
fn warn_small_slot_ring(opts: &LiveOptions) {
    if !opts.immediate_mode {
        return;
    }
    let slots = i64::from(opts.buffer_size) / i64::from(opts.snaplen.max(1));
    if slots < FEW_SLOTS {
        tracing::warn!(
            snaplen = opts.snaplen,
            buffer_bytes = opts.buffer_size,
            "capture.immediate_mode = true: the kernel ring has one snaplen-sized slot per frame, \
             about {slots} frames, and drops at high rates; immediate_mode = false packs frames \
             by size (packets then wait up to {} ms on a quiet link)",
            medtap::capture::BLOCK_TIMEOUT.as_millis()
        );
    }
}
