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

    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
