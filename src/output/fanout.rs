//! The fan-out thread: takes each event off the hot path's channel and
//! offers it to every sink's queue.

use super::{Delivery, SinkCounters, SinkSpec, SinkTotals};
use crate::event::{Event, StreamMode};
use crate::stats::StatsRecord;
use crossbeam_channel::{Receiver, SendTimeoutError, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long an authority sink is waited for, per event, when the stream
/// waits (files, shutdown): the same bound as the hot path's.
const AUTHORITY_WAIT: Duration = Duration::from_secs(60);

/// One sink and its counts, as the fan-out thread keeps them.
struct Outlet {
    spec: SinkSpec,
    totals: SinkTotals,
    /// Drops not yet added to a statistics row handed to this sink.
    unreported: u64,
    /// A statistics row the sink had no room for, merged into the next.
    kept_stats: Option<Box<StatsRecord>>,
}

/// The running fan-out.
pub struct FanOut {
    handle: JoinHandle<Vec<SinkTotals>>,
}

/// Starts the fan-out on `rx` (the hot path's channel, whose stream mode
/// is `mode`). It ends when every sender is gone and the channel is
/// drained; then each sink's queue is closed.
pub fn spawn(
    rx: Receiver<Event>,
    mode: StreamMode,
    sinks: Vec<SinkSpec>,
) -> std::io::Result<FanOut> {
    let outlets = sinks
        .into_iter()
        .map(|spec| Outlet {
            totals: SinkTotals {
                name: spec.name,
                ..SinkTotals::default()
            },
            spec,
            unreported: 0,
            kept_stats: None,
        })
        .collect();
    let handle = std::thread::Builder::new()
        .name("medtap-fanout".into())
        .spawn(move || run(rx, &mode, outlets))?;
    Ok(FanOut { handle })
}

impl FanOut {
    /// Waits for the fan-out to hand over the last event; returns what each
    /// sink was handed and missed.
    pub fn finish(self) -> Vec<SinkTotals> {
        self.handle.join().unwrap_or_else(|_| {
            tracing::error!("fan-out thread panicked: sink totals unknown");
            Vec::new()
        })
    }
}

fn run(rx: Receiver<Event>, mode: &StreamMode, mut outlets: Vec<Outlet>) -> Vec<SinkTotals> {
    for mut event in rx.iter() {
        if let Event::Stats(s) = &mut event {
            add_output_counts(s, &outlets);
            // What the database's queue had no room for goes into the row
            // every sink sees (the metrics count it too), not only the
            // database's own copy.
            for o in outlets.iter_mut() {
                if o.spec.delivery == Delivery::Authority {
                    s.records_dropped += std::mem::take(&mut o.unreported);
                }
            }
        }
        let waiting = mode.waiting();
        // Every sink that wants it but the last gets a copy; the last gets
        // the event.
        let mut wanting = outlets
            .iter_mut()
            .filter(|o| o.spec.wants(&event))
            .filter(|o| {
                // A statistics row still goes to a down output: its thread
                // wakes on it, and rows are rare.
                let skip = o.down() && !matches!(event, Event::Stats(_));
                if let (true, Some((_, c))) = (skip, &o.spec.output) {
                    c.add_failed(1);
                }
                !skip
            });
        let mut current = wanting.next();
        for next in wanting {
            if let Some(o) = current.replace(next) {
                o.offer(event.clone(), waiting);
            }
        }
        if let Some(o) = current {
            o.offer(event, waiting);
        }
    }
    // The stream ended: statistics rows still kept, and drops no row has
    // reported yet, go to their sinks now (capture is over: wait for room).
    for o in &mut outlets {
        o.close();
    }
    outlets.into_iter().map(|o| o.totals).collect()
}

/// Adds to statistics row `s` what each output delivered, dropped and
/// failed since the row before.
fn add_output_counts(s: &mut StatsRecord, outlets: &[Outlet]) {
    for (kind, counters) in outlets.iter().filter_map(|o| o.spec.output.as_ref()) {
        SinkCounters::add_to(*kind, counters.take_unreported(), s);
    }
}

impl Outlet {
    /// Whether the output's destination is down: its events fail at once.
    fn down(&self) -> bool {
        self.spec.output.as_ref().is_some_and(|(_, c)| c.is_down())
    }

    /// Offers `event`; `waiting` is the stream's mode right now.
    fn offer(&mut self, event: Event, waiting: bool) {
        let event = match event {
            Event::Stats(s) => Event::Stats(self.stats_row(s)),
            e => e,
        };
        let wait = waiting && self.spec.delivery == Delivery::Authority;
        match self.put(event, wait) {
            None => self.totals.delivered += 1,
            Some(Event::Stats(s)) if self.spec.delivery == Delivery::Authority => {
                // The statistics tell what was lost: keep, merge, retry.
                self.kept_stats = Some(s);
            }
            Some(_) => self.dropped(),
        }
    }

    /// The row to hand over for `s`: merged into one kept from before, with
    /// this sink's unreported drops added (authority sinks only; others
    /// get the row as the hot path made it).
    fn stats_row(&mut self, s: Box<StatsRecord>) -> Box<StatsRecord> {
        if self.spec.delivery != Delivery::Authority {
            return s;
        }
        let mut row = match self.kept_stats.take() {
            Some(mut kept) => {
                kept.absorb(*s);
                kept
            }
            None => s,
        };
        row.records_dropped += std::mem::take(&mut self.unreported);
        row
    }

    /// Puts `event` on the sink's queue; gives it back when there was no
    /// room (within [`AUTHORITY_WAIT`] if `wait`) or the sink is gone.
    fn put(&mut self, event: Event, wait: bool) -> Option<Event> {
        if wait {
            match self.spec.tx.send_timeout(event, AUTHORITY_WAIT) {
                Ok(()) => None,
                Err(SendTimeoutError::Timeout(e) | SendTimeoutError::Disconnected(e)) => Some(e),
            }
        } else {
            match self.spec.tx.try_send(event) {
                Ok(()) => None,
                Err(TrySendError::Full(e) | TrySendError::Disconnected(e)) => Some(e),
            }
        }
    }

    fn dropped(&mut self) {
        self.totals.dropped += 1;
        if let Some((_, counters)) = &self.spec.output {
            counters
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.unreported += 1;
        // Log the 1st, 2nd, 4th, 8th ... drop: visible without flooding.
        if self.totals.dropped.is_power_of_two() {
            tracing::warn!(
                sink = self.totals.name,
                dropped = self.totals.dropped,
                "sink is behind: events dropped"
            );
        }
    }

    /// End of stream: an authority sink gets its kept statistics row, or a
    /// row of its own for drops no row reported yet.
    fn close(&mut self) {
        if self.spec.delivery != Delivery::Authority {
            return;
        }
        let row = match self.kept_stats.take() {
            Some(row) => Some(row),
            None if self.unreported > 0 => {
                let now = crate::time::now();
                Some(Box::new(StatsRecord {
                    source: "medtap fan-out".into(),
                    period_start: now,
                    period_end: now,
                    ..StatsRecord::default()
                }))
            }
            None => None,
        };
        let Some(row) = row.map(|r| self.stats_row(r)) else {
            return;
        };
        match self.put(Event::Stats(row), true) {
            None => self.totals.delivered += 1,
            Some(_) => {
                self.totals.dropped += 1;
                tracing::error!(
                    sink = self.totals.name,
                    "the last statistics row could not be handed to the sink"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failure report
    use super::*;
    use crate::event::AnomalyRecord;

    fn outlet(tx: crossbeam_channel::Sender<Event>, delivery: Delivery) -> Outlet {
        Outlet {
            spec: SinkSpec::new("t", tx, delivery),
            totals: SinkTotals::default(),
            unreported: 0,
            kept_stats: None,
        }
    }

    fn anomaly() -> Event {
        Event::Anomaly(AnomalyRecord {
            ts: 1,
            flow: crate::alert::FlowTuple::test_tuple(1),
            anomaly: crate::kinds::Anomaly::ALL[0],
            detail: None,
        })
    }

    #[test]
    fn an_authority_sinks_drops_reach_its_next_statistics_row() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut o = outlet(tx, Delivery::Authority);
        o.offer(anomaly(), false);
        // Full: dropped and counted.
        o.offer(anomaly(), false);
        // Full: the row is kept (not dropped), with the drop added.
        o.offer(Event::Stats(Box::default()), false);
        assert_eq!((o.totals.delivered, o.totals.dropped), (1, 1));
        assert!(matches!(rx.try_recv(), Ok(Event::Anomaly(_))));
        // Room again: the next row absorbs the kept one.
        let later = StatsRecord {
            packets: 7,
            ..StatsRecord::default()
        };
        o.offer(Event::Stats(Box::new(later)), false);
        match rx.try_recv() {
            Ok(Event::Stats(s)) => assert_eq!((s.records_dropped, s.packets), (1, 7)),
            other => panic!("{other:?}"),
        }
        // A drop after the last row gets a row of its own at the end.
        o.offer(anomaly(), false);
        o.offer(anomaly(), false);
        let _ = rx.try_recv();
        o.close();
        match rx.try_recv() {
            Ok(Event::Stats(s)) => assert_eq!(s.records_dropped, 1),
            other => panic!("{other:?}"),
        }
        assert_eq!((o.totals.delivered, o.totals.dropped), (4, 2));
    }

    #[test]
    fn a_best_effort_sink_loses_only_its_own_events_and_gets_no_extra_rows() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut o = outlet(tx, Delivery::BestEffort);
        o.offer(anomaly(), true);
        // Never waits, even when the stream waits.
        o.offer(Event::Stats(Box::default()), true);
        o.close();
        assert_eq!((o.totals.delivered, o.totals.dropped), (1, 1));
        assert_eq!(rx.len(), 1);
    }

    #[test]
    fn a_down_output_fails_events_at_once_and_still_gets_statistics() {
        let counters = std::sync::Arc::new(SinkCounters::default());
        counters.set_down(true);
        let (out_tx, out_rx) = crossbeam_channel::bounded(16);
        let spec = SinkSpec::new("eve", out_tx, Delivery::BestEffort).counted(
            crate::kinds::SinkKind::Eve,
            std::sync::Arc::clone(&counters),
        );
        let (tx, rx) = crossbeam_channel::bounded(16);
        for _ in 0..3 {
            tx.send(anomaly()).unwrap();
        }
        tx.send(Event::Stats(Box::default())).unwrap();
        drop(tx);
        let outlets = vec![Outlet {
            spec,
            totals: SinkTotals::default(),
            unreported: 0,
            kept_stats: None,
        }];
        let totals = run(rx, &StreamMode::default(), outlets);
        assert_eq!(counters.snapshot(), [0, 0, 3], "failed, not queued");
        let got: Vec<Event> = out_rx.try_iter().collect();
        assert_eq!(got.len(), 1, "only the statistics row");
        let Event::Stats(row) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(row.sink_failed[crate::kinds::SinkKind::Eve as usize], 3);
        assert_eq!((totals[0].delivered, totals[0].dropped), (1, 0));
    }
}
