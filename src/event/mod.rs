//! The owned events that leave the hot path, and the bounded channel that
//! carries them to the sinks (the SQLite writer first). The channel is
//! bounded in records and, through [`held`], in bytes.

pub mod archive;
pub mod held;

pub use held::{Gauge, Held};

use crate::alert::FlowTuple;
use crate::device::{ChangeRecord, DeviceIpRecord, DeviceRecord, NameRecord};
use crate::flow::FlowRecord;
use crate::kinds::Anomaly;
use crate::proto::dicom::AssociationRecord;
use crate::proto::hl7::MessageRecord;
use crate::proto::mqtt::SessionRecord;
use crate::stats::StatsRecord;
use crate::time::Micros;
use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Everything the hot path hands on: what the sinks consume.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// An ended flow.
    Flow(FlowRecord),
    /// A device seen.
    Device(DeviceRecord),
    /// A device ↔ IP binding seen.
    DeviceIp(DeviceIpRecord),
    /// A name of a device seen (boxed: rare).
    DeviceName(Box<NameRecord>),
    /// Something happened to a device (boxed: rare).
    DeviceChange(Box<ChangeRecord>),
    /// A device's classification changed (boxed: rare).
    DeviceClass(Box<crate::device::classify::ClassRecord>),
    /// A DHCP message, by flow id (once per message), and its datagram's
    /// addresses and ports.
    Dhcp(Held<(u64, crate::proto::dhcp::MessageRecord)>, Origin),
    /// A DHCPv6 message, by flow id (once per message), and its datagram's
    /// addresses and ports.
    Dhcp6(Held<(u64, Dhcp6Record)>, Origin),
    /// Counters for one period (boxed: rare and large).
    Stats(Box<StatsRecord>),
    /// A protocol anomaly on a flow.
    Anomaly(AnomalyRecord),
    /// A DICOM association, by flow id (boxed: once per association), and
    /// its flow's ends.
    Dicom(Held<(u64, AssociationRecord)>, Origin),
    /// An HL7 message, by flow id (boxed: once per message), and its
    /// flow's ends.
    Hl7(Held<(u64, MessageRecord)>, Origin),
    /// An MQTT session, by flow id (boxed: once per connection), and its
    /// flow's ends.
    Mqtt(Held<(u64, SessionRecord)>, Origin),
    /// An alert, new or changed (boxed: rare; the same id again replaces it).
    Alert(Box<crate::alert::AlertRecord>),
    /// An alert's count and last-seen time grew.
    AlertSeen(crate::alert::AlertSeen),
    /// A change to the packet archive's index (from the archive thread,
    /// straight to the store writer's queue).
    ArchiveIndex(Box<archive::IndexOp>),
    /// The asset list was reloaded: the snapshot the query commands read.
    Assets(Box<Vec<crate::device::assets::Asset>>),
}

impl Event {
    /// The bytes the event would hold in a [`Gauge`] (0 for the events
    /// that own no heap data).
    fn held_bytes(&self) -> usize {
        match self {
            Event::Dicom(h, _) => h.bytes(),
            Event::Hl7(h, _) => h.bytes(),
            Event::Mqtt(h, _) => h.bytes(),
            Event::Dhcp(h, _) => h.bytes(),
            Event::Dhcp6(h, _) => h.bytes(),
            _ => 0,
        }
    }

    /// Counts the event's heap bytes in `gauge` until it is dropped.
    fn hold(&mut self, gauge: &Gauge) {
        match self {
            Event::Dicom(h, _) => h.attach(gauge),
            Event::Hl7(h, _) => h.attach(gauge),
            Event::Mqtt(h, _) => h.attach(gauge),
            Event::Dhcp(h, _) => h.attach(gauge),
            Event::Dhcp6(h, _) => h.attach(gauge),
            _ => {}
        }
    }
}

/// Where and when an application record (DHCP, DICOM, HL7, MQTT) was
/// made: its flow's ends (for DHCP, the datagram's) and the time of the
/// packet that completed it. The outputs (EVE, syslog) show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The flow, with the protocol the record was parsed as.
    pub flow: FlowTuple,
    /// When.
    pub ts: Micros,
}

/// A DHCPv6 message and the MAC of the client that sent it (DHCPv6 has
/// no chaddr: the frame's source, for a message from a client).
#[derive(Clone, Debug, PartialEq)]
pub struct Dhcp6Record {
    /// The sending client's MAC, for a message from a client.
    pub client_mac: Option<crate::net::Mac>,
    /// The message.
    pub record: crate::proto::dhcp::MessageRecordV6,
}

/// Bytes of records allowed in the queue to the sinks by default (see
/// `store.queue_mib`).
pub const DEFAULT_QUEUE_BYTES: usize = 16 << 20;

/// A protocol anomaly seen on a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnomalyRecord {
    /// When.
    pub ts: Micros,
    /// Which flow, and its ends (for the outputs: EVE, syslog).
    pub flow: FlowTuple,
    /// What.
    pub anomaly: Anomaly,
    /// A short static detail (a reason's name, an ACK code), if any.
    pub detail: Option<&'static str>,
}

/// What the sender does when the far side (the fan-out to the sinks) falls behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Live capture: never wait; count the record as dropped.
    Drop,
    /// Files: wait up to this long for room, then count it as dropped.
    Wait(Duration),
}

/// The hot path's end of the event channel. Sending never allocates (the
/// channel's buffer is allocated once) and never blocks forever.
pub struct EventSender {
    tx: Sender<Event>,
    backpressure: Backpressure,
    /// Heap bytes of the records handed on and not yet dropped by a sink.
    held: Gauge,
    max_bytes: usize,
    mode: StreamMode,
    sent: u64,
    dropped: u64,
}

/// Whether the stream currently waits for room (files, shutdown) or drops
/// (live): set by the hot path's [`EventSender`], read by the fan-out so
/// that the database sink follows the same rule.
#[derive(Clone, Debug, Default)]
pub struct StreamMode(Arc<AtomicBool>);

impl StreamMode {
    /// Whether senders wait for room.
    pub fn waiting(&self) -> bool {
        // Acquire: pairs with the Release store made before later sends.
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, backpressure: Backpressure) {
        let waiting = matches!(backpressure, Backpressure::Wait(_));
        self.0.store(waiting, Ordering::Release);
    }
}

/// Makes the bounded channel between the pipeline and the fan-out ([`crate::output::fanout`]).
pub fn channel(capacity: usize, backpressure: Backpressure) -> (EventSender, Receiver<Event>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    (EventSender::new(tx, backpressure), rx)
}

impl EventSender {
    /// The hot path's end of `tx` (a channel made elsewhere: the fan-out's,
    /// or a lone sink's own queue).
    pub fn new(tx: Sender<Event>, backpressure: Backpressure) -> EventSender {
        let mode = StreamMode::default();
        mode.set(backpressure);
        EventSender {
            tx,
            backpressure,
            held: Gauge::default(),
            max_bytes: DEFAULT_QUEUE_BYTES,
            mode,
            sent: 0,
            dropped: 0,
        }
    }

    /// Hands a statistics row to the fan-out, or gives it back (not
    /// counted as dropped) when the channel is full, for a caller that
    /// keeps it for later.
    pub fn send_stats_or_keep(&mut self, s: Box<StatsRecord>) -> Result<(), Box<StatsRecord>> {
        let r = Event::Stats(s);
        let back = match self.backpressure {
            Backpressure::Drop => self.tx.try_send(r).map_err(|e| e.into_inner()),
            Backpressure::Wait(t) => self.tx.send_timeout(r, t).map_err(|e| e.into_inner()),
        };
        match back {
            Ok(()) => {
                self.sent += 1;
                Ok(())
            }
            Err(Event::Stats(s)) => Err(s),
            // Only a statistics row was sent.
            Err(_) => Ok(()),
        }
    }

    /// Bounds the heap bytes of the records in flight (those handed on
    /// and not yet dropped by every sink) to `max_bytes`; a record that
    /// would pass it is treated as meeting a full channel. One record is
    /// always let through an empty queue, however large.
    pub fn with_byte_limit(mut self, max_bytes: usize) -> EventSender {
        self.max_bytes = max_bytes;
        self
    }

    /// The gauge of the bytes in flight (for `status` and tests).
    pub fn held(&self) -> &Gauge {
        &self.held
    }

    /// Whether `bytes` more fit under the byte bound, waiting for room as
    /// the backpressure allows.
    fn room_for(&self, bytes: usize) -> bool {
        let fits = |held: usize| held == 0 || held + bytes <= self.max_bytes;
        if bytes == 0 || fits(self.held.bytes()) {
            return true;
        }
        let Backpressure::Wait(limit) = self.backpressure else {
            return false;
        };
        // Rare (a writer far behind on large records): poll rather than
        // add a condition variable to every drop.
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_micros(200));
            if fits(self.held.bytes()) {
                return true;
            }
        }
        false
    }

    /// Hands `r` to the fan-out, or counts it as dropped.
    pub fn send(&mut self, mut r: Event) {
        let bytes = r.held_bytes();
        let ok = self.room_for(bytes) && {
            // Counted before it leaves: a sink may drop it at once.
            r.hold(&self.held);
            self.send_counted(r)
        };
        if ok {
            self.sent += 1;
        } else {
            self.dropped += 1;
            // Log the 1st, 2nd, 4th, 8th ... drop: visible without flooding.
            if self.dropped.is_power_of_two() {
                tracing::warn!(dropped = self.dropped, "writer is behind: records dropped");
            }
        }
    }

    /// Puts `r` on the channel as the backpressure says; false if it was
    /// not taken.
    fn send_counted(&self, r: Event) -> bool {
        match self.backpressure {
            Backpressure::Drop => !matches!(
                self.tx.try_send(r),
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_))
            ),
            Backpressure::Wait(t) => !matches!(
                self.tx.send_timeout(r, t),
                Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_))
            ),
        }
    }

    /// Changes what happens when the far side falls behind (at shutdown,
    /// live capture waits for room instead of dropping).
    pub fn set_backpressure(&mut self, backpressure: Backpressure) {
        self.backpressure = backpressure;
        self.mode.set(backpressure);
    }

    /// The stream's mode, for the fan-out on the far side.
    pub fn mode(&self) -> StreamMode {
        self.mode.clone()
    }

    /// Events handed over so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_kept_not_dropped_when_the_writer_is_full() {
        let (mut tx, rx) = channel(1, Backpressure::Drop);
        tx.send(Event::Flow(crate::flow::FlowRecord::test_record(
            1,
            crate::flow::EndReason::Timeout,
        )));
        assert!(
            tx.send_stats_or_keep(Box::default()).is_err(),
            "full: given back"
        );
        assert_eq!(tx.dropped(), 0, "not counted as dropped");
        drop(rx);
    }

    fn mqtt_session(topics: usize) -> Event {
        let published = (0..topics)
            .map(|i| crate::proto::mqtt::PublishRecord {
                to_server: true,
                topic: format!("icu/bed{i}/vitals"),
                qos: 0,
                retain: false,
                count: 1,
                bytes: 1,
                dup: 0,
            })
            .collect();
        let s = crate::proto::mqtt::SessionRecord {
            published,
            ..Default::default()
        };
        Event::Mqtt(
            Held::new(Box::new((1, s))),
            Origin {
                flow: crate::alert::FlowTuple::test_tuple(1),
                ts: 0,
            },
        )
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_and_frees_them_as_sinks_drop_records() {
        // Room for many records, but only ~100 KB of record data.
        let (tx, rx) = channel(1000, Backpressure::Drop);
        let mut tx = tx.with_byte_limit(100_000);
        let big = mqtt_session(1000); // > 50 KB: two do not fit
        let size = big.held_bytes();
        assert!(size > 50_000 && size < 100_000, "{size}");
        tx.send(big);
        assert_eq!(tx.held().bytes(), size, "counted while queued");
        tx.send(mqtt_session(1000));
        assert_eq!((tx.sent(), tx.dropped()), (1, 1), "over the byte bound");
        assert_eq!(
            tx.held().bytes(),
            size,
            "the refused one gave its bytes back"
        );
        let taken = rx.recv().unwrap();
        assert_eq!(tx.held().bytes(), size, "a sink holding it still counts");
        drop(taken);
        assert_eq!(tx.held().bytes(), 0, "written and dropped: room again");
        tx.send(mqtt_session(1000));
        assert_eq!(tx.sent(), 2);
        // A record larger than the whole bound still passes an empty queue.
        drop(rx.recv().unwrap());
        tx.send(mqtt_session(5000));
        assert_eq!((tx.sent(), tx.dropped()), (3, 1));
    }
}
