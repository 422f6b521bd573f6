//! Running totals of the statistics rows, for EVE `stats` lines
//! (Suricata's counters are cumulative; medtap's rows are per period).

use crate::stats::StatsRecord;
use crate::time::{Micros, SECOND};

/// The sum of every statistics row seen, and when the first began.
#[derive(Default)]
pub struct Totals {
    /// Counters summed.
    pub sum: StatsRecord,
    started: Option<Micros>,
}

impl Totals {
    /// Adds one period's row.
    pub fn add(&mut self, row: &StatsRecord) {
        let start = *self.started.get_or_insert(row.period_start);
        self.sum.absorb(row.clone());
        self.started = Some(start.min(row.period_start));
    }

    /// Seconds from the first period's start to `now`.
    pub fn uptime_secs(&self, now: Micros) -> i64 {
        self.started.map_or(0, |s| (now - s).max(0) / SECOND)
    }
}
