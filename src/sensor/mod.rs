//! The sensor loop: packet sources feeding the pipeline, statistics periods,
//! shutdown, and the event stream out to the sinks. `medtap run`,
//! `medtap analyze`, the tests and the benches all drive the same
//! [`Sensor`].
//!
//! ```text
//! source (files.rs | live.rs) ──▶ worker: Pipeline ──▶ event channel ──▶ fan-out ──▶ sinks
//!                                 (decode, flow, app,      (bounded)      (output/)    (store, ...)
//!                                  device; no I/O)
//! ```
//!
//! Today one worker runs on the capture thread. Scaling out later: N
//! workers, each a [`Pipeline`] with its own flow table and its own
//! [`EventSender`] into the one channel, fed by a symmetric flow hash over
//! the frame's addresses and ports (so both directions of a flow land on one
//! worker). Per-flow state is already per worker; cross-flow state (the
//! detections in `policy`, the device inventory) is what the workers will
//! share, touched per event (a new association, a login failure, a new
//! device), never per packet. Statistics periods then sum the workers'
//! deltas ([`Sensor::take_stats`]).

pub mod files;
pub mod live;
pub mod signals;

use crate::capture::Frame;
use crate::config::Config;
use crate::decode::LinkType;
use crate::event::{self, Backpressure, EventSender};
use crate::output::fanout::{self, FanOut};
use crate::output::{Delivery, SinkSpec, SinkTotals};
use crate::pipeline::{secs, Counters, Pipeline, PipelineOptions};
use crate::stats::StatsRecord;
use crate::time::Micros;
use std::time::Duration;

/// How long a sender waits for room when the stream waits (files, and
/// every source at shutdown) before counting an event as dropped.
pub const WAIT_FOR_ROOM: Duration = Duration::from_secs(60);

/// What the sensor reads, which decides how it treats a full stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Capture files: nothing is gained by dropping, so wait for the sinks.
    Files,
    /// A live interface: never wait (the kernel ring would overflow
    /// instead); long flows are written before they end.
    Live,
}

/// Everything a [`Sensor`] is built from.
#[derive(Clone, Debug)]
pub struct SensorOptions {
    /// The worker's settings.
    pub pipeline: PipelineOptions,
    /// What the worker does when the channel is full.
    pub backpressure: Backpressure,
    /// Most bytes of record data in flight to the sinks.
    pub queue_bytes: usize,
    /// Length of a live statistics period.
    pub stats_every: Micros,
}

impl SensorOptions {
    /// The options `cfg` asks for in `mode`; flow ids start at
    /// `first_flow_id` (the store's next).
    pub fn from_config(cfg: &Config, mode: Mode, first_flow_id: u64) -> SensorOptions {
        let (backpressure, interim_every) = match mode {
            Mode::Files => (Backpressure::Wait(WAIT_FOR_ROOM), None),
            Mode::Live => {
                let interim = cfg.flow.interim_interval_secs;
                (Backpressure::Drop, (interim > 0).then(|| secs(interim)))
            }
        };
        SensorOptions {
            pipeline: PipelineOptions::from_config(cfg, first_flow_id, interim_every),
            backpressure,
            queue_bytes: cfg.store.queue_mib << 20,
            stats_every: secs(cfg.capture.stats_interval_secs),
        }
    }
}

/// Events buffered between the worker and the fan-out thread, when there is
/// one. The fan-out only moves events on, so it needs little room: the
/// buffering for a slow sink is that sink's own queue.
pub const FANOUT_CHANNEL_CAPACITY: usize = 8192;

/// The worker and the event stream to the sinks.
pub struct Sensor {
    worker: Pipeline,
    far_side: FarSide,
    stats_every: Micros,
}

/// How the worker's events reach the sinks.
enum FarSide {
    /// Several sinks (or none): through the fan-out thread.
    FanOut(FanOut),
    /// One authority sink, today's usual case (the database alone): the
    /// worker's channel is the sink's own queue. The fan-out would only
    /// move each event from one queue to the next, at the cost of a thread
    /// wake-up per event and a second buffer; the rules are the same either
    /// way (the worker waits or drops exactly as the fan-out would).
    Direct {
        /// The sink's name.
        name: &'static str,
    },
}

/// What a finished sensor handed on and lost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SensorTotals {
    /// The worker's cumulative counters once every flow had ended.
    pub counters: Counters,
    /// Events the worker could not put on its channel (it was full): the
    /// fan-out's, or a lone sink's own queue.
    pub dropped_before_fanout: u64,
    /// Per sink: events put on its queue, and dropped.
    pub sinks: Vec<SinkTotals>,
}

impl SensorTotals {
    /// Events lost on the way to sink `name`: dropped before the fan-out,
    /// or at its queue.
    pub fn lost_for(&self, name: &str) -> u64 {
        let at_sink = self
            .sinks
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.dropped)
            .sum::<u64>();
        self.dropped_before_fanout + at_sink
    }
}

impl Sensor {
    /// Builds the worker and connects it to `sinks`: a lone authority sink
    /// directly, otherwise through a fan-out thread.
    pub fn new(opts: &SensorOptions, mut sinks: Vec<SinkSpec>) -> std::io::Result<Sensor> {
        let lone_authority = sinks.len() == 1 && sinks[0].delivery == Delivery::Authority;
        let (tx, far_side) = match sinks.pop() {
            Some(only) if lone_authority => (
                EventSender::new(only.tx, opts.backpressure),
                FarSide::Direct { name: only.name },
            ),
            last => {
                sinks.extend(last);
                let (tx, rx) = event::channel(FANOUT_CHANNEL_CAPACITY, opts.backpressure);
                let fanout = fanout::spawn(rx, tx.mode(), sinks)?;
                (tx, FarSide::FanOut(fanout))
            }
        };
        Ok(Sensor {
            worker: Pipeline::new(&opts.pipeline, tx.with_byte_limit(opts.queue_bytes)),
            far_side,
            stats_every: opts.stats_every,
        })
    }

    /// Builds a sensor as `cfg` asks for in `mode` (see [`Sensor::new`]).
    pub fn from_config(
        cfg: &Config,
        mode: Mode,
        first_flow_id: u64,
        sinks: Vec<SinkSpec>,
    ) -> std::io::Result<Sensor> {
        Sensor::new(&SensorOptions::from_config(cfg, mode, first_flow_id), sinks)
    }

    /// Processes one frame (the per-packet entry point the loops use).
    #[inline]
    pub fn process(&mut self, link: LinkType, frame: &Frame<'_>) {
        self.worker.process(link, frame);
    }

    /// Archives every frame from now on through `tap` (see
    /// [`crate::archive`]).
    pub fn attach_archive(&mut self, tap: crate::archive::Tap) {
        self.worker.set_archive(tap);
    }

    /// Puts reloaded rules in force (SIGHUP), keeping all state.
    pub fn reload(&mut self, r: crate::pipeline::Reload) {
        self.worker.reload(r, crate::time::now());
    }

    /// Runs the timers up to `now` (an idle link: wall time).
    pub fn advance(&mut self, now: Micros) {
        self.worker.advance(now);
    }

    /// Cumulative counters of the worker(s).
    pub fn counters(&self) -> Counters {
        self.worker.counters()
    }

    /// The counters' change since the previous call, as a statistics row
    /// for `source` over `[start, end]` (capture-level fields left to the
    /// source's loop).
    pub fn take_stats(&mut self, source: &str, start: Micros, end: Micros) -> StatsRecord {
        self.worker.take_stats(source, start, end)
    }

    /// Hands a statistics row on (kept and merged into the next when the
    /// stream is full: never dropped).
    pub fn send_stats(&mut self, stats: StatsRecord) {
        self.worker.send_stats(stats);
    }

    /// Length of a live statistics period.
    pub fn stats_every(&self) -> Micros {
        self.stats_every
    }

    /// Ends every open flow, hands on a last statistics row for what that
    /// found (named `source`), closes the stream and waits until the
    /// fan-out has handed every event to the sinks' queues. The sinks
    /// themselves are finished by their owners afterwards.
    pub fn finish(mut self, source: &str) -> SensorTotals {
        self.worker.finish();
        // Ending the open flows ends their associations and may find
        // anomalies: account for them in a last statistics row.
        let now = crate::time::now();
        let last = self.worker.take_stats(source, now, now);
        let empty = StatsRecord {
            source: source.to_string(),
            period_start: now,
            period_end: now,
            ..StatsRecord::default()
        };
        if self.worker.has_unsent_stats() || last != empty {
            self.worker.send_stats(last);
        }
        let counters = self.worker.counters();
        let sent = self.worker.events_sent();
        drop(self.worker);
        let sinks = match self.far_side {
            FarSide::FanOut(fanout) => fanout.finish(),
            FarSide::Direct { name } => vec![SinkTotals {
                name,
                delivered: sent,
                dropped: 0,
            }],
        };
        SensorTotals {
            counters,
            dropped_before_fanout: counters.records_dropped,
            sinks,
        }
    }
}

#[cfg(test)]
mod tests;
