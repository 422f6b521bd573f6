//! The EVE JSON output: one line per event in Suricata's shapes
//! ([`line`]), to a file (reopened on SIGHUP, for logrotate) or to a unix
//! stream socket (as Suricata's `unix_stream`, which fever and Filebeat
//! read), on the sink's own thread. A destination that is slow or gone
//! fills only this sink's queue; a failed write loses the lines not yet
//! delivered (counted as `failed`) and the destination is opened again
//! by itself, with backoff.

pub mod line;
pub mod totals;

use super::first_writes::FirstWrites;
use super::{Sink, SinkCounters};
use crate::event::Event;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use totals::Totals;

/// The event types EVE can carry (`outputs.eve.types`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EveType {
    /// Alerts (new ones; repeats fold into them in the database).
    Alert,
    /// Protocol anomalies.
    Anomaly,
    /// Finished flows.
    Flow,
    /// DHCP and DHCPv6 messages.
    Dhcp,
    /// MQTT sessions (CONNECT/CONNACK, topics, subscriptions).
    Mqtt,
    /// DICOM associations (medtap's own object).
    Dicom,
    /// HL7 message headers (medtap's own object).
    Hl7,
    /// Inventory changes and classifications (medtap's own object).
    Device,
    /// Counters, at each statistics period.
    Stats,
}

impl EveType {
    /// Every type.
    pub const ALL: [EveType; 9] = [
        EveType::Alert,
        EveType::Anomaly,
        EveType::Flow,
        EveType::Dhcp,
        EveType::Mqtt,
        EveType::Dicom,
        EveType::Hl7,
        EveType::Device,
        EveType::Stats,
    ];

    /// Its `event_type`.
    pub fn name(self) -> &'static str {
        match self {
            EveType::Alert => "alert",
            EveType::Anomaly => "anomaly",
            EveType::Flow => "flow",
            EveType::Dhcp => "dhcp",
            EveType::Mqtt => "mqtt",
            EveType::Dicom => "dicom",
            EveType::Hl7 => "hl7",
            EveType::Device => "device",
            EveType::Stats => "stats",
        }
    }

    /// The type called `name`.
    pub fn from_name(name: &str) -> Option<EveType> {
        EveType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// A mask of `types` for [`EveOptions::types`].
    pub fn mask(types: &[EveType]) -> u16 {
        types.iter().fold(0, |m, t| m | 1 << *t as u16)
    }
}

/// Where EVE lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Appended to a file (created 0640).
    File(PathBuf),
    /// Written to a unix stream socket another program listens on.
    Unix(PathBuf),
}

impl std::str::FromStr for Destination {
    type Err = String;
    /// `PATH` (a file) or `unix:PATH` (a socket).
    fn from_str(s: &str) -> Result<Destination, String> {
        let s = s.trim();
        match s.strip_prefix("unix:") {
            Some("") => Err("`unix:` needs a socket path".into()),
            Some(p) => Ok(Destination::Unix(PathBuf::from(p))),
            None if s.is_empty() => Err("empty path".into()),
            None => Ok(Destination::File(PathBuf::from(s))),
        }
    }
}

/// What the EVE sink writes and where.
#[derive(Clone, Debug)]
pub struct EveOptions {
    /// The file or socket.
    pub to: Destination,
    /// The types written ([`EveType::mask`]).
    pub types: u16,
    /// The sensor's name (`host` in every line).
    pub sensor_name: String,
    /// Set (by SIGHUP) to reopen the file: logrotate moved it.
    pub reopen: Arc<AtomicBool>,
}

/// Delivered lines are flushed at least this often while events arrive.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Bytes buffered before a write.
const BUFFER: usize = 64 << 10;
/// A write to a socket that takes longer fails (the reader is stuck).
const WRITE_TIMEOUT: Duration = Duration::from_millis(250);
/// First and longest wait before opening a failed destination again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// The EVE sink (run it with [`super::spawn_sink`]).
pub struct EveSink {
    opts: EveOptions,
    counters: Arc<SinkCounters>,
    out: Option<Box<dyn Write + Send>>,
    /// Lines written into `buf` since the last delivery.
    pending: Vec<u8>,
    pending_lines: u64,
    line: Vec<u8>,
    last_flush: Instant,
    retry_at: Option<Instant>,
    backoff: Duration,
    failures: u64,
    alerts: FirstWrites,
    totals: Totals,
}

impl EveSink {
    /// A sink writing to `opts.to`, counting in `counters`. The
    /// destination is opened at the first event (and again after a
    /// failure).
    pub fn new(opts: EveOptions, counters: Arc<SinkCounters>) -> EveSink {
        EveSink {
            opts,
            counters,
            out: None,
            pending: Vec::with_capacity(BUFFER),
            pending_lines: 0,
            line: Vec::with_capacity(4096),
            last_flush: Instant::now(),
            retry_at: None,
            backoff: BACKOFF.0,
            failures: 0,
            alerts: FirstWrites::default(),
            totals: Totals::default(),
        }
    }

    /// Checks that the destination can be opened now (at start, so that
    /// a wrong path is an error, not a silent loss).
    pub fn check(&mut self) -> std::io::Result<()> {
        self.out = Some(open(&self.opts.to)?);
        Ok(())
    }

    /// Formats `event` into lines, buffered for delivery.
    fn format(&mut self, event: &Event) {
        if self.waiting_to_retry() {
            // The destination is down: formatting would be wasted work.
            if line::carries(self.opts.types, event) {
                self.counters.add_failed(1);
            }
            return;
        }
        let urgent = match event {
            // A rewritten alert (same id) is not a new alert.
            Event::Alert(a) => {
                if !self.alerts.first(a.alert_id) {
                    return;
                }
                true
            }
            // Each statistics period is a moment to hand lines over.
            Event::Stats(_) => true,
            _ => false,
        };
        let pending = &mut self.pending;
        let lines = &mut self.pending_lines;
        let mut keep = |l: &[u8]| {
            pending.extend_from_slice(l);
            *lines += 1;
        };
        let mut f = line::Formatter {
            types: self.opts.types,
            host: &self.opts.sensor_name,
            totals: &mut self.totals,
            buf: &mut self.line,
        };
        f.event(event, &mut keep);
        if urgent || self.pending.len() >= BUFFER || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.deliver();
        }
    }

    /// Writes the buffered lines out, or counts them as failed.
    fn deliver(&mut self) {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.pending_lines);
        if self.reopen_requested() {
            self.out = None;
        }
        let ok = self.connected()
            && self.out.as_mut().is_some_and(|out| {
                out.write_all(&self.pending)
                    .and_then(|()| out.flush())
                    .is_ok()
            });
        self.pending.clear();
        if ok {
            self.counters.add_sent(lines);
            if self.failures > 0 {
                tracing::info!(to = ?self.opts.to, lost = self.failures, "EVE output delivering again");
                self.failures = 0;
            }
            self.backoff = BACKOFF.0;
        } else {
            self.failed(lines);
        }
    }

    /// Whether the destination failed and its retry time has not come.
    fn waiting_to_retry(&mut self) -> bool {
        match self.retry_at {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                // Time to try again: take events as they come.
                self.retry_at = None;
                self.counters.set_down(false);
                false
            }
            None => false,
        }
    }

    fn reopen_requested(&self) -> bool {
        self.opts.reopen.swap(false, Ordering::AcqRel)
    }

    /// Whether a destination is open (opening it when it is time to try).
    fn connected(&mut self) -> bool {
        if self.out.is_some() {
            return true;
        }
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match open(&self.opts.to) {
            Ok(out) => {
                self.out = Some(out);
                self.retry_at = None;
                self.counters.set_down(false);
                true
            }
            Err(e) => {
                if self.failures == 0 {
                    tracing::warn!(to = ?self.opts.to, error = %e, "EVE output cannot be opened; retrying with backoff");
                }
                false
            }
        }
    }

    /// `lines` could not be delivered: counted; the destination is
    /// dropped and opened again after the backoff.
    fn failed(&mut self, lines: u64) {
        self.counters.add_failed(lines);
        let before = self.failures;
        self.failures += lines;
        // Log the 1st, 2nd, 4th, 8th ... failed batch, never one per line.
        if (before == 0 || (self.failures.ilog2() != before.ilog2())) && self.out.is_some() {
            tracing::warn!(to = ?self.opts.to, lost = self.failures, "EVE output write failed; reconnecting");
        }
        self.out = None;
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF.1);
        self.counters.set_down(true);
    }
}

impl Sink for EveSink {
    fn event(&mut self, event: Event) {
        self.format(&event);
    }

    fn tick(&mut self) {
        // Lines left in the buffer reach the reader within a tick; a
        // destination that was down is tried again when its time comes.
        self.waiting_to_retry();
        if !self.pending.is_empty() && self.last_flush.elapsed() >= FLUSH_EVERY {
            self.deliver();
        }
    }

    fn finish(&mut self) {
        // The last try: no backoff at the end of the stream.
        self.retry_at = None;
        self.deliver();
        if self.failures > 0 {
            tracing::warn!(to = ?self.opts.to, lost = self.failures, "EVE output: lines not delivered");
        }
    }
}

/// Opens `to` for writing.
fn open(to: &Destination) -> std::io::Result<Box<dyn Write + Send>> {
    match to {
        Destination::File(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(path)?;
            Ok(Box::new(f))
        }
        Destination::Unix(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)?;
            s.set_write_timeout(Some(WRITE_TIMEOUT))?;
            // Never read: the peer only consumes.
            s.shutdown(std::net::Shutdown::Read).ok();
            Ok(Box::new(s))
        }
    }
}

#[cfg(test)]
mod tests;
