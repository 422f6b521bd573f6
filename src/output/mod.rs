//! The far side of the event stream: sinks, and the fan-out that hands
//! every event to each of them.
//!
//! The hot path sends owned [`Event`]s into one bounded channel
//! ([`crate::event::channel`]). One fan-out thread ([`fanout`]) takes them
//! off and offers each to every sink's own bounded queue, so a sink that is
//! slow or dead fills only its own queue: it never blocks capture and never
//! costs another sink its events. What a sink's queue had no room for is
//! counted per sink ([`SinkTotals`]).
//!
//! A sink is anything that drains a `Receiver<Event>` on its own thread:
//! the SQLite writer ([`crate::store::Store::spawn_writer`]) is the first;
//! EVE JSON, syslog, the `--follow` notifier and the archive index will be
//! others. Simple sinks implement [`Sink`] and are started with
//! [`spawn_sink`].
//!
//! Adding a sink: implement [`Sink`] (or drain a receiver yourself), make
//! its [`SinkSpec`] with [`spawn_sink`] (or [`SinkSpec::new`]) and pass it
//! to the sensor with the others.

pub mod eve;
pub mod fanout;
pub mod first_writes;
pub mod metrics;
pub mod syslog;

use crate::event::Event;
use crate::kinds::SinkKind;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the fan-out treats a sink whose queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The record of authority (the database): follows the stream's
    /// backpressure. Reading files, and at shutdown, the fan-out waits for
    /// room (up to a minute per event, as the hot path does); live, it never
    /// waits. Its drops are added to the next statistics row it is handed,
    /// so the database shows them, and they make the run's exit code
    /// non-zero.
    Authority,
    /// Never waits: an event finding the queue full is dropped and counted
    /// for this sink alone.
    BestEffort,
}

/// One sink as the fan-out sees it: a name, a bounded queue and how to
/// treat it when full.
pub struct SinkSpec {
    /// Name in logs and totals (`store`, `eve`, ...).
    pub name: &'static str,
    /// The sink's queue.
    pub tx: Sender<Event>,
    /// What the fan-out does when the queue is full.
    pub delivery: Delivery,
    /// For an output (EVE, syslog, metrics): its kind and live counters,
    /// which the fan-out adds to every statistics row (`sink_*` columns)
    /// and in which it counts the events its queue had no room for.
    pub output: Option<(SinkKind, Arc<SinkCounters>)>,
    /// The events the sink uses (`None`: all). The others are not offered
    /// to it, so they neither fill its queue nor count as its drops.
    pub filter: Option<EventFilter>,
}

/// Which events a sink uses (see [`SinkSpec::only`]).
pub type EventFilter = Box<dyn Fn(&Event) -> bool + Send>;

impl SinkSpec {
    /// A sink fed through `tx`.
    pub fn new(name: &'static str, tx: Sender<Event>, delivery: Delivery) -> SinkSpec {
        SinkSpec {
            name,
            tx,
            delivery,
            output: None,
            filter: None,
        }
    }

    /// The same sink, offered only the events `filter` accepts.
    pub fn only(mut self, filter: impl Fn(&Event) -> bool + Send + 'static) -> SinkSpec {
        self.filter = Some(Box::new(filter));
        self
    }

    /// Whether the sink uses `event`. Statistics rows go to every sink:
    /// they carry what was lost.
    pub fn wants(&self, event: &Event) -> bool {
        matches!(event, Event::Stats(_)) || self.filter.as_ref().is_none_or(|f| f(event))
    }

    /// The same sink, counted as output `kind` in `counters`.
    pub fn counted(mut self, kind: SinkKind, counters: Arc<SinkCounters>) -> SinkSpec {
        self.output = Some((kind, counters));
        self
    }
}

/// What one output did with the events it was handed, counted live (the
/// sink's thread adds `sent` and `failed`, the fan-out `dropped`); read by
/// statistics rows and the metrics endpoint.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Events delivered to the destination (written to the file or socket).
    pub sent: AtomicU64,
    /// Events the sink's queue had no room for (the sink was behind).
    pub dropped: AtomicU64,
    /// Events lost to the destination's errors (a write or connection
    /// failed, a message too large).
    pub failed: AtomicU64,
    /// `(sent, dropped, failed)` as far as statistics rows have counted them.
    reported: [AtomicU64; 3],
    /// The destination is unreachable and the sink is waiting to retry:
    /// the fan-out counts events as failed at once instead of copying
    /// them into a queue that would only fail them (a dead destination
    /// then costs capture nothing).
    down: AtomicBool,
}

impl SinkCounters {
    /// `(sent, dropped, failed)` now.
    pub fn snapshot(&self) -> [u64; 3] {
        // Relaxed: independent monotonic counters, read for reporting.
        [
            self.sent.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        ]
    }

    /// What changed since the previous call (`(sent, dropped, failed)`),
    /// for a statistics row: each event is counted in one row only.
    pub fn take_unreported(&self) -> [u64; 3] {
        let now = self.snapshot();
        let mut delta = [0; 3];
        for (i, r) in self.reported.iter().enumerate() {
            let before = r.swap(now[i], Ordering::Relaxed);
            delta[i] = now[i].saturating_sub(before);
        }
        delta
    }

    /// Adds `delta` (from [`SinkCounters::take_unreported`]) as output
    /// `kind`'s counts to statistics row `s`.
    pub fn add_to(kind: SinkKind, delta: [u64; 3], s: &mut crate::stats::StatsRecord) {
        let k = kind as usize;
        s.sink_sent[k] += delta[0];
        s.sink_dropped[k] += delta[1];
        s.sink_failed[k] += delta[2];
    }

    /// Marks the destination down (waiting to retry) or up again.
    pub fn set_down(&self, down: bool) {
        // Release/Acquire: a best-effort hint, but read on another thread.
        self.down.store(down, Ordering::Release);
    }

    /// Whether the destination is down (see [`SinkCounters::set_down`]).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Counts `n` events delivered.
    pub fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` events lost to the destination's errors.
    pub fn add_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
    }
}

/// What one sink was handed and what it missed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkTotals {
    /// The sink's name.
    pub name: &'static str,
    /// Events put on its queue.
    pub delivered: u64,
    /// Events its queue had no room for (or its thread was gone).
    pub dropped: u64,
}

/// How often a sink's thread wakes without events ([`Sink::tick`]).
pub const TICK: Duration = Duration::from_millis(200);

/// A consumer of events on a thread of its own (see [`spawn_sink`]).
pub trait Sink: Send + 'static {
    /// Handles one event. May block: only this sink's queue fills.
    fn event(&mut self, event: Event);
    /// No event for [`TICK`]: time to flush what is buffered, or to try a
    /// destination that was down again.
    fn tick(&mut self) {}
    /// The stream ended (every event was handed over): flush.
    fn finish(&mut self) {}
}

/// A sink's thread, to be joined at shutdown.
pub struct SinkThread {
    name: &'static str,
    handle: JoinHandle<()>,
    rx: Receiver<Event>,
}

impl SinkThread {
    /// Waits up to `limit` for the sink to drain its queue and finish. A
    /// sink still stuck after that is left behind (logged); the events it
    /// had not taken are returned as lost.
    pub fn finish(self, limit: Duration) -> u64 {
        let deadline = Instant::now() + limit;
        while !self.handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.handle.is_finished() {
            if self.handle.join().is_err() {
                tracing::error!(sink = self.name, "sink thread panicked");
            }
            return 0;
        }
        let left = self.rx.len() as u64;
        tracing::error!(
            sink = self.name,
            undelivered = left,
            "sink did not finish in time: left behind"
        );
        left
    }
}

/// Starts `sink` on its own thread behind a queue of `capacity` events.
pub fn spawn_sink(
    name: &'static str,
    capacity: usize,
    delivery: Delivery,
    mut sink: impl Sink,
) -> std::io::Result<(SinkSpec, SinkThread)> {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let own_rx: Receiver<Event> = rx.clone();
    let handle = std::thread::Builder::new()
        .name(format!("medtap-sink-{name}"))
        .spawn(move || {
            loop {
                match own_rx.recv_timeout(TICK) {
                    Ok(e) => sink.event(e),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => sink.tick(),
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
            }
            sink.finish();
        })?;
    Ok((
        SinkSpec::new(name, tx, delivery),
        SinkThread { name, handle, rx },
    ))
}
