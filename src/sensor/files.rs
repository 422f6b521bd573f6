//! Reading capture files (or stdin) in order as one capture, one
//! statistics row per file.

use super::Sensor;
use crate::capture::FileSource;
use std::sync::atomic::{AtomicBool, Ordering};

/// How reading the files went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilesReport {
    /// Frames read.
    pub packets: u64,
    /// Inputs not read completely: unopenable, cut short, or not reached
    /// because of a stop signal.
    pub incomplete: u64,
    /// The file being read when a stop signal came (index into the list).
    pub interrupted_at: Option<usize>,
}

/// Reads `files` (`-` is stdin) through `sensor` until the end or until
/// `stop` is set. A file that cannot be opened or is cut short is logged,
/// counted in its statistics row's `read_errors` and in
/// [`FilesReport::incomplete`]; the next file is read anyway.
pub fn read_files(sensor: &mut Sensor, files: &[String], stop: &AtomicBool) -> FilesReport {
    let mut report = FilesReport::default();
    for (i, name) in files.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            report.interrupted_at = Some(i);
            break;
        }
        let mut src = match FileSource::open(name) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                report.incomplete += 1;
                let mut stats = sensor.take_stats(name, 0, 0);
                stats.read_errors = 1;
                sensor.send_stats(stats);
                continue;
            }
        };
        if read_one(sensor, name, &mut src, stop, &mut report) {
            report.interrupted_at = Some(i);
            break;
        }
    }
    if let Some(i) = report.interrupted_at {
        report.incomplete += (files.len() - i) as u64;
    }
    report
}

/// Reads one opened file; returns whether `stop` cut it short.
fn read_one(
    sensor: &mut Sensor,
    name: &str,
    src: &mut FileSource,
    stop: &AtomicBool,
    report: &mut FilesReport,
) -> bool {
    let link = src.link();
    let (mut first, mut last) = (None, 0);
    let mut read_errors = 0;
    let mut interrupted = false;
    loop {
        // One relaxed load per frame: cheaper than a clock read.
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        match src.next_frame() {
            Ok(Some(frame)) => {
                first.get_or_insert(frame.ts);
                last = last.max(frame.ts);
                sensor.process(link, &frame);
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!("{e} (frames before it were processed)");
                read_errors += 1;
                report.incomplete += 1;
                break;
            }
        }
    }
    let mut stats = sensor.take_stats(src.name(), first.unwrap_or(0), last);
    stats.read_errors = read_errors;
    report.packets += stats.packets;
    tracing::info!(file = %name, packets = stats.packets, decode_errors = stats.decode_errors_total(), "file done");
    sensor.send_stats(stats);
    interrupted
}
