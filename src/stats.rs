//! Counters for one period of capture: what `medtap status` shows.
//!
//! Every counter is defined once, in the `stats_counters!` table below:
//! its field in [`StatsRecord`], its `capture_stats` column (which is also
//! its key in `status --json` and its field in [`StatsTotals`]) and its
//! `medtap status` line. The struct, [`StatsRecord::absorb`],
//! [`StatsRecord::since`], the store's insert and select and the status
//! lines all walk [`COUNTERS`], so a new counter is one line of the table
//! (plus its schema migration).

use crate::decode::DecodeErrorKind;
use crate::flow::reassembly::ReassemblyCounters;
use crate::kinds::{Anomaly, PrunedTable, SinkKind};
use crate::time::Micros;
use serde::Serialize;
use std::collections::BTreeMap;

/// How a counter shows in `medtap status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A line of its own with this label.
    Own(&'static str),
    /// In parentheses after the previous counter's value ("TCP gaps
    /// (bytes lost)": `3 (1200)`).
    InParens,
}

/// A counter kept per kind (an array in [`StatsRecord`]): its column also
/// stores the total, and a second column the non-zero kinds by name.
#[derive(Clone, Copy, Debug)]
pub struct ByName {
    /// The `capture_stats` column (and `status --json` key) of the JSON
    /// object `{"kind": count}`.
    pub column: &'static str,
    /// Its named SQL parameter (`:column`).
    pub param: &'static str,
    /// The name of kind `i`.
    pub kind_name: fn(usize) -> Option<&'static str>,
    /// Its per-kind totals in [`StatsTotals`].
    pub total: fn(&StatsTotals) -> &BTreeMap<String, u64>,
    /// The same, to sum into.
    pub total_mut: fn(&mut StatsTotals) -> &mut BTreeMap<String, u64>,
}

/// One statistics counter: where it lives and how it is stored and shown.
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    /// Its `capture_stats` column, `status --json` key and [`StatsTotals`] field.
    pub column: &'static str,
    /// Its named SQL parameter (`:column`).
    pub param: &'static str,
    /// Its `medtap status` line.
    pub line: Line,
    /// For a per-kind counter, the column of its kinds by name.
    pub by_name: Option<ByName>,
    /// Its value(s) in a [`StatsRecord`]: one, or one per kind.
    pub values: fn(&StatsRecord) -> &[u64],
    /// The same, to change.
    pub values_mut: fn(&mut StatsRecord) -> &mut [u64],
    /// Its total in [`StatsTotals`].
    pub total: fn(&StatsTotals) -> u64,
    /// The same, to set.
    pub total_mut: fn(&mut StatsTotals) -> &mut u64,
}

impl Counter {
    /// Its value in `s` (the sum over kinds for a per-kind counter), as
    /// the column stores it.
    pub fn sum(&self, s: &StatsRecord) -> u64 {
        (self.values)(s).iter().sum()
    }
}

/// A counter field seen as slots: a `u64` is one, a per-kind array many.
trait Slots {
    fn slots(&self) -> &[u64];
    fn slots_mut(&mut self) -> &mut [u64];
}

impl Slots for u64 {
    fn slots(&self) -> &[u64] {
        std::slice::from_ref(self)
    }
    fn slots_mut(&mut self) -> &mut [u64] {
        std::slice::from_mut(self)
    }
}

impl<const N: usize> Slots for [u64; N] {
    fn slots(&self) -> &[u64] {
        self
    }
    fn slots_mut(&mut self) -> &mut [u64] {
        self
    }
}

/// A counter field at zero. Not `Default`: the standard library gives
/// arrays `Default` only up to 32 elements, and the kinds of anomaly are
/// not capped there.
trait Zero {
    fn zero() -> Self;
}

impl Zero for u64 {
    fn zero() -> Self {
        0
    }
}

impl<const N: usize> Zero for [u64; N] {
    fn zero() -> Self {
        [0; N]
    }
}

impl Zero for ReassemblyCounters {
    fn zero() -> Self {
        Self::default()
    }
}

/// Generates [`StatsRecord`], [`StatsTotals`] and [`COUNTERS`] from one
/// table. Each entry is a field of [`StatsRecord`] with its columns:
/// `column => line` for a plain counter, `column(sub) => line` for field
/// `sub` of a struct of counters, `column by by_name[Kind] => line` for a
/// per-kind array (`Kind::ALL[i].name()` names slot `i`).
macro_rules! stats_counters {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident : $ty:ty {
            $( $column:ident $(($sub:ident))? $(by $by:ident [$kind:ident])? => $line:expr ),+ $(,)?
        }
    )*) => {
        /// Counters for one period of capture (a live interval, or one
        /// input file). Every figure is the delta over the period.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct StatsRecord {
            /// Interface or file name.
            pub source: String,
            /// Start of the period (packet time for files, wall time live).
            pub period_start: Micros,
            /// End of the period.
            pub period_end: Micros,
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for StatsRecord {
            fn default() -> Self {
                Self {
                    source: String::new(),
                    period_start: 0,
                    period_end: 0,
                    $( $field: Zero::zero(), )*
                }
            }
        }

        /// The counters summed over statistics rows, as `medtap status`
        /// shows them (field names are the `capture_stats` columns).
        #[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
        pub struct StatsTotals {
            $($(
                #[doc = concat!("Sum of column `", stringify!($column), "`.")]
                pub $column: u64,
                $(
                    #[doc = concat!("Sum of column `", stringify!($by), "` (only kinds seen).")]
                    pub $by: BTreeMap<String, u64>,
                )?
            )+)*
        }

        /// Every counter, in column (and status line) order.
        pub const COUNTERS: &[Counter] = &[$($(
            Counter {
                column: stringify!($column),
                param: concat!(":", stringify!($column)),
                line: $line,
                by_name: {
                    #[allow(unused_variables)]
                    let b: Option<ByName> = None;
                    $(let b = Some(ByName {
                        column: stringify!($by),
                        param: concat!(":", stringify!($by)),
                        kind_name: |i| $kind::ALL.get(i).map(|k| k.name()),
                        total: |t| &t.$by,
                        total_mut: |t| &mut t.$by,
                    });)?
                    b
                },
                values: |s| Slots::slots(&s.$field $(.$sub)?),
                values_mut: |s| Slots::slots_mut(&mut s.$field $(.$sub)?),
                total: |t| t.$column,
                total_mut: |t| &mut t.$column,
            },
        )+)*];
    };
}

stats_counters! {
    /// Frames read from libpcap.
    packets: u64 { packets => Line::Own("packets") }
    /// Their bytes on the wire.
    bytes: u64 { bytes => Line::Own("bytes") }
    /// Packets the kernel received (live only).
    kernel_received: u64 { kernel_received => Line::Own("kernel received") }
    /// Packets the kernel dropped because its buffer was full (live only).
    kernel_drops: u64 { kernel_drops => Line::Own("kernel drops") }
    /// Packets the interface/driver dropped (live only).
    if_drops: u64 { if_drops => Line::Own("interface drops") }
    /// Frames (partly) undecodable, by [`DecodeErrorKind`].
    decode_errors: [u64; DecodeErrorKind::COUNT] {
        decode_errors by decode_errors_by_kind[DecodeErrorKind] => Line::Own("decode errors")
    }
    /// Frames that are neither IP nor ARP.
    not_ip: u64 { not_ip => Line::Own("not IP/ARP") }
    /// IP fragments (counted, not reassembled).
    ip_fragments: u64 { ip_fragments => Line::Own("IP fragments") }
    /// Flows created.
    flows_created: u64 { flows_created => Line::Own("flows created") }
    /// Flows pushed out of the full table.
    flows_evicted: u64 { flows_evicted => Line::Own("flows evicted (table full)") }
    /// Flows ended by idle timeout.
    flows_timed_out: u64 { flows_timed_out => Line::Own("flows timed out") }
    /// Frames from devices the full device table could not track.
    devices_untracked: u64 { devices_untracked => Line::Own("devices untracked (table full)") }
    /// Records lost before the database: the event channel or the store
    /// sink's queue was full.
    records_dropped: u64 { records_dropped => Line::Own("records dropped (writer behind)") }
    /// Records the writer failed to store (filled in by the writer).
    records_failed: u64 { records_failed => Line::Own("records not written (DB errors)") }
    /// Read errors from the source (a cut-short file, a failing interface).
    read_errors: u64 { read_errors => Line::Own("input read errors") }
    /// TCP reassembly: gaps, retransmissions, overlaps, out-of-order.
    reassembly: ReassemblyCounters {
        reasm_gaps(gaps) => Line::Own("TCP gaps (bytes lost)"),
        reasm_gap_bytes(gap_bytes) => Line::InParens,
        reasm_retransmissions(retransmissions) => Line::Own("TCP retransmissions dropped"),
        reasm_overlap_conflicts(overlap_conflicts) => Line::Own("TCP overlaps with different bytes"),
        reasm_out_of_order(out_of_order) => Line::Own("TCP out-of-order segments held"),
    }
    /// Flows whose application parsing stopped early.
    app_abandoned: u64 { app_abandoned => Line::Own("app parsing abandoned") }
    /// DICOM associations ended.
    dicom_associations: u64 { dicom_associations => Line::Own("DICOM associations") }
    /// HL7 messages seen.
    hl7_messages: u64 { hl7_messages => Line::Own("HL7 messages") }
    /// MQTT sessions ended.
    mqtt_sessions: u64 { mqtt_sessions => Line::Own("MQTT sessions") }
    /// Alerts opened (repeats within a window fold into one).
    alerts_raised: u64 { alerts_raised => Line::Own("alerts raised") }
    /// Repeats folded into an open alert.
    alerts_folded: u64 { alerts_folded => Line::Own("alert repeats folded") }
    /// Occurrences a suppression silenced.
    alerts_suppressed: u64 { alerts_suppressed => Line::Own("alerts suppressed") }
    /// Open alerts closed early because their table was full.
    alerts_closed_early: u64 { alerts_closed_early => Line::Own("alerts closed early (table full)") }
    /// Violations recorded as observations (learning mode).
    policy_observations: u64 { policy_observations => Line::Own("policy observations (learning)") }
    /// Events an output (EVE, syslog, metrics) delivered, by sink.
    sink_sent: [u64; SinkKind::COUNT] {
        sink_sent by sink_sent_by_name[SinkKind] => Line::Own("output events delivered")
    }
    /// Events an output's queue had no room for (the output was behind), by sink.
    sink_dropped: [u64; SinkKind::COUNT] {
        sink_dropped by sink_dropped_by_name[SinkKind] => Line::Own("output events dropped (output behind)")
    }
    /// Events an output could not deliver (write or connection errors), by sink.
    sink_failed: [u64; SinkKind::COUNT] {
        sink_failed by sink_failed_by_name[SinkKind] => Line::Own("output events not delivered (output errors)")
    }
    /// Frames handed to the packet archive.
    archive_frames: u64 { archive_frames => Line::Own("archive frames") }
    /// Frames not archived: its queue was full (the archive thread behind).
    archive_dropped: u64 { archive_dropped => Line::Own("archive frames dropped (archive behind)") }
    /// Payload bytes not archived: past `archive.max_payload_per_flow`.
    archive_cut_bytes: u64 { archive_cut_bytes => Line::Own("archive payload bytes cut (per-flow cap)") }
    /// Frames the archive thread could not write (disk errors).
    archive_not_written: u64 { archive_not_written => Line::Own("archive frames not written (disk errors)") }
    /// Archive files deleted by retention (bytes or days).
    archive_files_deleted: u64 { archive_files_deleted => Line::Own("archive files deleted (retention)") }
    /// Rows the database writer deleted by retention (age or size cap),
    /// by table (filled in by the writer).
    pruned_rows: [u64; PrunedTable::COUNT] {
        pruned_rows by pruned_by_table[PrunedTable] => Line::Own("rows pruned (retention)")
    }
    /// Protocol anomalies by kind.
    anomalies: [u64; Anomaly::COUNT] {
        anomalies by anomalies_by_name[Anomaly] => Line::Own("protocol anomalies")
    }
}

impl StatsRecord {
    /// Total of all decode error kinds.
    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.iter().sum()
    }

    /// Folds the next period's `later` into this one (a row that could not
    /// be handed to the writer is merged rather than lost): counters add
    /// up, the period stretches to `later`'s end, the source is `later`'s.
    pub fn absorb(&mut self, mut later: StatsRecord) {
        self.source = std::mem::take(&mut later.source);
        self.period_start = self.period_start.min(later.period_start);
        self.period_end = self.period_end.max(later.period_end);
        for c in COUNTERS {
            for (a, b) in (c.values_mut)(self).iter_mut().zip((c.values)(&later)) {
                *a = a.saturating_add(*b);
            }
        }
    }

    /// The change from `earlier` to `self`, both running totals of the same
    /// counters: every counter is the difference (never below zero), the
    /// source is `self`'s and the period runs from `earlier`'s end to
    /// `self`'s.
    pub fn since(&self, earlier: &StatsRecord) -> StatsRecord {
        let mut d = self.clone();
        d.period_start = earlier.period_end;
        for c in COUNTERS {
            for (a, b) in (c.values_mut)(&mut d).iter_mut().zip((c.values)(earlier)) {
                *a = a.saturating_sub(*b);
            }
        }
        d
    }
}

/// One `medtap status` line of a counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusLine {
    /// The counter's column (for a per-kind line, its counter's).
    pub column: &'static str,
    /// Label.
    pub label: String,
    /// Value as shown.
    pub value: String,
}

impl StatsTotals {
    /// The `medtap status` lines of the counters, in table order: one per
    /// counter (some share one), then one indented line per kind seen of a
    /// per-kind counter.
    pub fn status_lines(&self) -> Vec<StatusLine> {
        let mut out: Vec<StatusLine> = Vec::with_capacity(COUNTERS.len());
        for c in COUNTERS {
            let v = (c.total)(self);
            match (c.line, out.last_mut()) {
                (Line::Own(label), _) => out.push(StatusLine {
                    column: c.column,
                    label: label.into(),
                    value: v.to_string(),
                }),
                (Line::InParens, Some(last)) => last.value = format!("{} ({v})", last.value),
                (Line::InParens, None) => {}
            }
            for (k, n) in c.by_name.iter().flat_map(|b| (b.total)(self)) {
                out.push(StatusLine {
                    column: c.column,
                    label: format!("  {k}"),
                    value: n.to_string(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_statistics_row_absorbs_the_next_without_losing_counts() {
        let mut a = StatsRecord {
            source: "eth1".into(),
            period_start: 10,
            period_end: 20,
            packets: 5,
            kernel_drops: 2,
            records_dropped: 1,
            ..Default::default()
        };
        a.anomalies[0] = 1;
        a.decode_errors[1] = 4;
        let mut b = StatsRecord {
            source: "eth1".into(),
            period_start: 20,
            period_end: 30,
            packets: 7,
            kernel_drops: 1,
            ..Default::default()
        };
        b.anomalies[0] = 2;
        b.reassembly.gaps = 3;
        a.absorb(b);
        assert_eq!((a.period_start, a.period_end), (10, 30));
        assert_eq!((a.packets, a.kernel_drops, a.records_dropped), (12, 3, 1));
        assert_eq!((a.anomalies[0], a.decode_errors[1]), (3, 4));
        assert_eq!(a.reassembly.gaps, 3);
    }

    /// Every number in `debug` (a `{:?}` rendering) is non-zero.
    fn no_zero_in(debug: &str) -> bool {
        debug
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .all(|n| !n.trim_start_matches('0').is_empty())
    }

    /// A field added to the record (or to `ReassemblyCounters`) but not to
    /// the table would be left out of the store and the status: this fails.
    #[test]
    fn the_table_covers_every_counter_of_the_record_and_the_totals() {
        let mut r = StatsRecord {
            source: "x".into(),
            period_start: 1,
            period_end: 2,
            ..Default::default()
        };
        let mut t = StatsTotals::default();
        for c in COUNTERS {
            (c.values_mut)(&mut r).fill(1);
            *(c.total_mut)(&mut t) = 1;
            if let Some(b) = c.by_name {
                (b.total_mut)(&mut t).insert("k".into(), 1);
            }
        }
        assert!(no_zero_in(&format!("{r:?}")), "{r:?}");
        assert!(no_zero_in(&format!("{t:?}")), "{t:?}");
    }

    #[test]
    fn since_is_the_change_between_two_running_totals() {
        let mut was = StatsRecord {
            period_end: 100,
            packets: 5,
            ..Default::default()
        };
        was.reassembly.out_of_order = 2;
        was.anomalies[3] = 1;
        let mut now = was.clone();
        now.source = "eth1".into();
        now.period_end = 160;
        now.packets = 12;
        now.reassembly.out_of_order = 2;
        now.anomalies[3] = 4;
        now.decode_errors[0] = 9;
        let d = now.since(&was);
        assert_eq!(
            (d.source.as_str(), d.period_start, d.period_end),
            ("eth1", 100, 160)
        );
        assert_eq!((d.packets, d.reassembly.out_of_order), (7, 0));
        assert_eq!((d.anomalies[3], d.decode_errors[0]), (3, 9));
        let mut back = was.clone();
        back.absorb(d);
        assert_eq!(back.packets, now.packets);
        assert_eq!(back.anomalies, now.anomalies);
    }

    #[test]
    fn status_lines_share_and_break_down_as_the_table_says() {
        let mut t = StatsTotals {
            reasm_gaps: 3,
            reasm_gap_bytes: 1200,
            anomalies: 2,
            ..Default::default()
        };
        t.anomalies_by_name.insert("mqtt_lost_sync".into(), 2);
        let lines = t.status_lines();
        let find = |label: &str| {
            lines
                .iter()
                .find(|l| l.label == label)
                .map(|l| l.value.as_str())
        };
        assert_eq!(find("TCP gaps (bytes lost)"), Some("3 (1200)"));
        assert_eq!(find("protocol anomalies"), Some("2"));
        assert_eq!(find("  mqtt_lost_sync"), Some("2"));
        assert_eq!(lines.last().map(|l| l.column), Some("anomalies"));
    }
}
