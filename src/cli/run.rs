//! `medtap run`: live capture until SIGINT/SIGTERM.

use super::session::Session;
use super::{init_logging, load_config, stop_signals};
use anyhow::Result;
use clap::Args;
use medtap::capture::{LiveOptions, LiveSource};
use medtap::event::Backpressure;
use medtap::store::{SessionInfo, Store};
use medtap::time::{self, Micros, SECOND};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long to wait on an idle link before checking timers and signals.
const IDLE_WAIT: Duration = Duration::from_millis(200);

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
    /// BPF filter words, e.g. `not port 22` [default: the config's capture.filter]
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    filter: Vec<String>,
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let cfg = load_config(args.config.as_deref())?;
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

    let stop = stop_signals()?;
    let mut src = LiveSource::open(&opts)?;
    let info = SessionInfo {
        command: "run".into(),
        source: opts.interface.clone(),
    };
    // The database is opened (and created) while medtap may still write
    // where root can; the capabilities go before any thread starts, since
    // a thread keeps the capabilities it was started with.
    let store = Store::open_writer(&db, &info)?;
    medtap::capture::drop_capabilities()?;
    let interim = cfg.flow.interim_interval_secs;
    let interim_every = (interim > 0).then(|| i64::try_from(interim).unwrap_or(60) * SECOND);
    let mut session = Session::start(&cfg, store, Backpressure::Drop, interim_every)?;
    let link = src.link();
    let stats_every = i64::try_from(c.stats_interval_secs).unwrap_or(60) * SECOND;
    tracing::info!(interface = %opts.interface, filter = %opts.filter, db = %db.display(), "capturing");

    let mut period_start = time::now();
    let mut last_kernel = src.stats().unwrap_or_default();
    let mut read_errors = 0;
    let mut since_clock = 0u32;
    let mut emit_stats =
        |session: &mut Session, src: &mut LiveSource, start: &mut Micros, read_errors: &mut u64| {
            let now = time::now();
            let mut stats = session.pipeline.take_stats(src.name(), *start, now);
            match src.stats() {
                Ok(k) => {
                    stats.kernel_received = k.received - last_kernel.received;
                    stats.kernel_drops = k.dropped - last_kernel.dropped;
                    stats.if_drops = k.if_dropped - last_kernel.if_dropped;
                    last_kernel = k;
                }
                Err(e) => tracing::warn!("{e}"),
            }
            if stats.kernel_drops > 0 || stats.if_drops > 0 {
                tracing::warn!(
                    kernel_drops = stats.kernel_drops,
                    if_drops = stats.if_drops,
                    "packets dropped before medtap saw them"
                );
            }
            stats.read_errors = std::mem::take(read_errors);
            session.pipeline.send_stats(stats);
            *start = now;
        };

    while !stop.load(Ordering::Relaxed) {
        match src.try_next() {
            Ok(Some(frame)) => {
                session.pipeline.process(link, &frame);
                since_clock += 1;
                // Reading the clock per packet is cheap but not free.
                if since_clock < 1024 {
                    continue;
                }
            }
            Ok(None) => {
                src.wait(IDLE_WAIT);
                session.pipeline.advance(time::now());
            }
            Err(e) => {
                tracing::error!("{e}");
                read_errors += 1;
                break;
            }
        }
        since_clock = 0;
        if time::now() - period_start >= stats_every {
            emit_stats(&mut session, &mut src, &mut period_start, &mut read_errors);
        }
    }
    tracing::info!("stopping: flushing open flows");
    let capture_failed = read_errors > 0;
    emit_stats(&mut session, &mut src, &mut period_start, &mut read_errors);
    let end_reason = if capture_failed {
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
    Ok(outcome.exit_code(u64::from(capture_failed)))
}
