//! Counters for one period of capture: what `medtap status` shows.

use crate::decode::DecodeErrorKind;
use crate::flow::reassembly::ReassemblyCounters;
use crate::proto::Anomaly;
use crate::time::Micros;

/// Counters for one period of capture (a live interval, or one input file).
/// Every figure is the delta over the period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsRecord {
    /// Interface or file name.
    pub source: String,
    /// Start of the period (packet time for files, wall time live).
    pub period_start: Micros,
    /// End of the period.
    pub period_end: Micros,
    /// Frames read from libpcap.
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    /// Packets the kernel received (live only).
    pub kernel_received: u64,
    /// Packets the kernel dropped because its buffer was full (live only).
    pub kernel_drops: u64,
    /// Packets the interface/driver dropped (live only).
    pub if_drops: u64,
    /// Frames (partly) undecodable, by [`DecodeErrorKind`].
    pub decode_errors: [u64; DecodeErrorKind::COUNT],
    /// Frames that are neither IP nor ARP.
    pub not_ip: u64,
    /// IP fragments (counted, not reassembled).
    pub ip_fragments: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows pushed out of the full table.
    pub flows_evicted: u64,
    /// Flows ended by idle timeout.
    pub flows_timed_out: u64,
    /// Frames from devices the full device table could not track.
    pub devices_untracked: u64,
    /// Records the hot path could not hand to the writer (channel full).
    pub records_dropped: u64,
    /// Records the writer failed to store (filled in by the writer).
    pub records_failed: u64,
    /// Read errors from the source (a cut-short file, a failing interface).
    pub read_errors: u64,
    /// TCP reassembly: gaps, retransmissions, overlaps, out-of-order.
    pub reassembly: ReassemblyCounters,
    /// Protocol anomalies by kind.
    pub anomalies: [u64; Anomaly::COUNT],
    /// Flows whose application parsing stopped early.
    pub app_abandoned: u64,
    /// DICOM associations ended.
    pub dicom_associations: u64,
    /// HL7 messages seen.
    pub hl7_messages: u64,
    /// MQTT sessions ended.
    pub mqtt_sessions: u64,
}

impl StatsRecord {
    /// Total of all decode error kinds.
    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.iter().sum()
    }

    /// Folds the next period's `later` into this one (a row that could not
    /// be handed to the writer is merged rather than lost): counters add
    /// up, the period stretches to `later`'s end, the source is `later`'s.
    pub fn absorb(&mut self, later: StatsRecord) {
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        self.source = later.source;
        self.period_start = self.period_start.min(later.period_start);
        self.period_end = self.period_end.max(later.period_end);
        for (a, b) in [
            (&mut self.packets, later.packets),
            (&mut self.bytes, later.bytes),
            (&mut self.kernel_received, later.kernel_received),
            (&mut self.kernel_drops, later.kernel_drops),
            (&mut self.if_drops, later.if_drops),
            (&mut self.not_ip, later.not_ip),
            (&mut self.ip_fragments, later.ip_fragments),
            (&mut self.flows_created, later.flows_created),
            (&mut self.flows_evicted, later.flows_evicted),
            (&mut self.flows_timed_out, later.flows_timed_out),
            (&mut self.devices_untracked, later.devices_untracked),
            (&mut self.records_dropped, later.records_dropped),
            (&mut self.records_failed, later.records_failed),
            (&mut self.read_errors, later.read_errors),
            (&mut self.reassembly.gaps, later.reassembly.gaps),
            (&mut self.reassembly.gap_bytes, later.reassembly.gap_bytes),
            (
                &mut self.reassembly.retransmissions,
                later.reassembly.retransmissions,
            ),
            (
                &mut self.reassembly.overlap_conflicts,
                later.reassembly.overlap_conflicts,
            ),
            (
                &mut self.reassembly.out_of_order,
                later.reassembly.out_of_order,
            ),
            (&mut self.app_abandoned, later.app_abandoned),
            (&mut self.dicom_associations, later.dicom_associations),
            (&mut self.hl7_messages, later.hl7_messages),
            (&mut self.mqtt_sessions, later.mqtt_sessions),
        ] {
            add(a, b);
        }
        for (a, b) in self.decode_errors.iter_mut().zip(later.decode_errors) {
            add(a, b);
        }
        for (a, b) in self.anomalies.iter_mut().zip(later.anomalies) {
            add(a, b);
        }
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
}
