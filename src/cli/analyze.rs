//! `medtap analyze FILE...`: capture files into the database.

use super::session::{Session, EXIT_INPUT_INCOMPLETE};
use super::{init_logging, load_config, stop_signals};
use anyhow::Result;
use clap::Args;
use medtap::capture::FileSource;
use medtap::event::Backpressure;
use medtap::store::{SessionInfo, Store};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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
}

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    let cfg = load_config(args.config.as_deref())?;
    init_logging(&cfg)?;
    // SIGINT/SIGTERM stop the reading; what was read is still flushed and
    // recorded (a second signal kills at once).
    let stop = stop_signals()?;
    let info = SessionInfo {
        command: "analyze".into(),
        source: args.files.join(" "),
    };
    // Offline there is no kernel ring to overflow: wait for the writer
    // rather than drop, but never forever.
    let backpressure = Backpressure::Wait(Duration::from_secs(60));
    let store = Store::open_writer(&args.db, &info)?;
    let mut session = Session::start(&cfg, store, backpressure, None)?;
    let started = Instant::now();
    let mut failed_inputs = 0;
    let mut packets = 0u64;
    let mut interrupted = None;
    for (i, name) in args.files.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            interrupted = Some(i);
            break;
        }
        let mut src = match FileSource::open(name) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                failed_inputs += 1;
                let mut stats = session.pipeline.take_stats(name, 0, 0);
                stats.read_errors = 1;
                session.pipeline.send_stats(stats);
                continue;
            }
        };
        let link = src.link();
        let (mut first, mut last) = (None, 0);
        let mut read_errors = 0;
        loop {
            // One relaxed load per frame: cheaper than a clock read.
            if stop.load(Ordering::Relaxed) {
                interrupted = Some(i);
                break;
            }
            match src.next_frame() {
                Ok(Some(frame)) => {
                    first.get_or_insert(frame.ts);
                    last = last.max(frame.ts);
                    session.pipeline.process(link, &frame);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("{e} (frames before it were processed)");
                    read_errors += 1;
                    failed_inputs += 1;
                    break;
                }
            }
        }
        let mut stats = session
            .pipeline
            .take_stats(src.name(), first.unwrap_or(0), last);
        stats.read_errors = read_errors;
        packets += stats.packets;
        tracing::info!(file = %name, packets = stats.packets, decode_errors = stats.decode_errors_total(), "file done");
        session.pipeline.send_stats(stats);
        if interrupted.is_some() {
            break;
        }
    }
    if let Some(i) = interrupted {
        let unread = args.files.len() - i;
        eprintln!(
            "medtap: interrupted: stopped reading {} (and {} file(s) after it); flushing what was read",
            args.files[i],
            unread - 1
        );
        failed_inputs += unread;
    }
    let counters = session.pipeline.counters();
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
    Ok(outcome.exit_code(failed_inputs as u64))
}
