//! Owned records that leave the hot path for the writer thread, and the
//! bounded channel that carries them.

use crate::decode::DecodeErrorKind;
use crate::device::{DeviceIpRecord, DeviceRecord};
use crate::flow::reassembly::ReassemblyCounters;
use crate::flow::FlowRecord;
use crate::proto::dicom::AssociationRecord;
use crate::proto::hl7::MessageRecord;
use crate::proto::mqtt::SessionRecord;
use crate::proto::Anomaly;
use crate::time::Micros;
use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use std::time::Duration;

/// Everything the store writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// An ended flow.
    Flow(FlowRecord),
    /// A device seen.
    Device(DeviceRecord),
    /// A MAC ↔ IP binding seen.
    DeviceIp(DeviceIpRecord),
    /// Counters for one period (boxed: rare and large).
    Stats(Box<StatsRecord>),
    /// A protocol anomaly on a flow.
    Anomaly(AnomalyRecord),
    /// A DICOM association, by flow id (boxed: once per association).
    Dicom(Box<(u64, AssociationRecord)>),
    /// An HL7 message, by flow id (boxed: once per message).
    Hl7(Box<(u64, MessageRecord)>),
    /// An MQTT session, by flow id (boxed: once per connection).
    Mqtt(Box<(u64, SessionRecord)>),
}

/// A protocol anomaly seen on a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnomalyRecord {
    /// When.
    pub ts: Micros,
    /// Which flow.
    pub flow_id: u64,
    /// What.
    pub anomaly: Anomaly,
    /// A short static detail (a reason's name, an ACK code), if any.
    pub detail: Option<&'static str>,
}

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

/// What the sender does when the writer falls behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Live capture: never wait; count the record as dropped.
    Drop,
    /// Files: wait up to this long for room, then count it as dropped.
    Wait(Duration),
}

/// The hot path's end of the writer channel. Sending never allocates (the
/// channel's buffer is allocated once) and never blocks forever.
pub struct RecordSender {
    tx: Sender<Record>,
    backpressure: Backpressure,
    dropped: u64,
}

/// Makes the bounded channel between the pipeline and the writer.
pub fn channel(capacity: usize, backpressure: Backpressure) -> (RecordSender, Receiver<Record>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    (
        RecordSender {
            tx,
            backpressure,
            dropped: 0,
        },
        rx,
    )
}

impl RecordSender {
    /// Hands a statistics row to the writer, or gives it back (not
    /// counted as dropped) when the writer is behind, for a caller that
    /// keeps it for later.
    pub fn send_stats_or_keep(&mut self, s: Box<StatsRecord>) -> Result<(), Box<StatsRecord>> {
        let r = Record::Stats(s);
        let back = match self.backpressure {
            Backpressure::Drop => self.tx.try_send(r).map_err(|e| e.into_inner()),
            Backpressure::Wait(t) => self.tx.send_timeout(r, t).map_err(|e| e.into_inner()),
        };
        match back {
            Ok(()) => Ok(()),
            Err(Record::Stats(s)) => Err(s),
            // Only a statistics row was sent.
            Err(_) => Ok(()),
        }
    }

    /// Hands `r` to the writer, or counts it as dropped.
    pub fn send(&mut self, r: Record) {
        let ok = match self.backpressure {
            Backpressure::Drop => !matches!(
                self.tx.try_send(r),
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_))
            ),
            Backpressure::Wait(t) => !matches!(
                self.tx.send_timeout(r, t),
                Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_))
            ),
        };
        if !ok {
            self.dropped += 1;
            // Log the 1st, 2nd, 4th, 8th ... drop: visible without flooding.
            if self.dropped.is_power_of_two() {
                tracing::warn!(dropped = self.dropped, "writer is behind: records dropped");
            }
        }
    }

    /// Changes what happens when the writer falls behind (at shutdown,
    /// live capture waits for the writer instead of dropping).
    pub fn set_backpressure(&mut self, backpressure: Backpressure) {
        self.backpressure = backpressure;
    }

    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
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

    #[test]
    fn statistics_are_kept_not_dropped_when_the_writer_is_full() {
        let (mut tx, rx) = channel(1, Backpressure::Drop);
        tx.send(Record::Flow(crate::flow::FlowRecord {
            flow_id: 1,
            start: 0,
            end: 0,
            proto: 17,
            src_ip: [10, 0, 0, 1].into(),
            src_port: 1,
            dest_ip: [10, 0, 0, 2].into(),
            dest_port: 2,
            icmp: None,
            vlan: None,
            src_mac: None,
            dest_mac: None,
            dirs: Default::default(),
            state: crate::flow::FlowState::New,
            reason: crate::flow::EndReason::Timeout,
            app_proto: None,
        }));
        assert!(
            tx.send_stats_or_keep(Box::default()).is_err(),
            "full: given back"
        );
        assert_eq!(tx.dropped(), 0, "not counted as dropped");
        drop(rx);
    }
}
