//! Live capture until a stop signal or a capture error, one statistics row
//! per period with the kernel's drop counts.

use super::Sensor;
use crate::capture::{LiveSource, LiveStats, BLOCK_TIMEOUT};
use crate::decode::LinkType;
use crate::time::{self, Micros};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long to wait on an idle link before checking timers and signals.
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// Frames processed between two reads of the clock (cheap, but not free
/// per packet).
const FRAMES_PER_CLOCK_READ: u32 = 1024;

/// How live capture ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveReport {
    /// The source failed (and capture stopped) rather than being stopped.
    pub capture_failed: bool,
}

/// The statistics period being filled.
struct Period {
    start: Micros,
    last_kernel: LiveStats,
    read_errors: u64,
}

/// What the live loop does when asked to reload (SIGHUP): the flag, and
/// what loads the rules again (`None`: the load failed, and said why; the
/// rules in force stay).
pub struct Reloader<'a> {
    /// Set by SIGHUP.
    pub flag: &'a AtomicBool,
    /// Loads the rules again.
    pub load: &'a mut dyn FnMut() -> Option<crate::pipeline::Reload>,
}

/// Captures from `src` through `sensor` until `stop` is set or the source
/// fails; the last statistics row is handed on before returning. On an idle
/// link the timers run on wall time. A reload request is acted on between
/// frames.
pub fn capture_live(
    sensor: &mut Sensor,
    src: &mut LiveSource,
    stop: &AtomicBool,
    mut reload: Option<Reloader<'_>>,
) -> LiveReport {
    let link = src.link();
    let mut period = Period {
        start: time::now(),
        last_kernel: src.stats().unwrap_or_default(),
        read_errors: 0,
    };
    let mut since_clock = 0u32;
    while !stop.load(Ordering::Relaxed) {
        match src.try_next() {
            Ok(Some(frame)) => {
                sensor.process(link, &frame);
                since_clock += 1;
                if since_clock < FRAMES_PER_CLOCK_READ {
                    continue;
                }
            }
            Ok(None) => {
                src.wait(IDLE_WAIT);
                sensor.advance(time::now());
            }
            Err(e) => {
                tracing::error!("{e}");
                period.read_errors += 1;
                break;
            }
        }
        since_clock = 0;
        if let Some(r) = reload
            .as_mut()
            .filter(|r| r.flag.swap(false, Ordering::Relaxed))
        {
            if let Some(new) = (r.load)() {
                sensor.reload(new);
            }
        }
        if time::now() - period.start >= sensor.stats_every() {
            emit_stats(sensor, src, &mut period);
        }
    }
    if period.read_errors == 0 {
        drain(sensor, src, link, &mut period);
    }
    let report = LiveReport {
        capture_failed: period.read_errors > 0,
    };
    tracing::info!("stopping: flushing open flows");
    emit_stats(sensor, src, &mut period);
    report
}

/// After a stop request, reads what the kernel had already captured, so
/// that it is analysed rather than left uncounted in the ring. Bounded in
/// time: a partly filled block (TPACKET_V3) is handed over within
/// [`BLOCK_TIMEOUT`], and a busy link must not keep medtap from stopping.
fn drain(sensor: &mut Sensor, src: &mut LiveSource, link: LinkType, period: &mut Period) {
    let deadline = Instant::now() + BLOCK_TIMEOUT * 2;
    loop {
        match src.try_next() {
            Ok(Some(frame)) => {
                sensor.process(link, &frame);
                if Instant::now() >= deadline {
                    break;
                }
            }
            Ok(None) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                src.wait(left);
            }
            Err(e) => {
                tracing::error!("{e}");
                period.read_errors += 1;
                break;
            }
        }
    }
}

/// Hands on the period's row, with the kernel's counts since the last one.
fn emit_stats(sensor: &mut Sensor, src: &mut LiveSource, period: &mut Period) {
    let now = time::now();
    let mut stats = sensor.take_stats(src.name(), period.start, now);
    match src.stats() {
        Ok(k) => {
            let was = period.last_kernel;
            stats.kernel_received = k.received - was.received;
            stats.kernel_drops = k.dropped - was.dropped;
            stats.if_drops = k.if_dropped - was.if_dropped;
            period.last_kernel = k;
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
    stats.read_errors = std::mem::take(&mut period.read_errors);
    sensor.send_stats(stats);
    period.start = now;
}
