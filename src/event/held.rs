//! The heap bytes of the events between the hot path and the sinks,
//! counted while they live, so that the queue is bounded in bytes as well
//! as in records: a record count alone lets 65,536 MQTT sessions with
//! hundreds of topics each fill the memory of a small sensor.
//!
//! A [`Held`] record adds its size to a shared gauge when the hot path
//! hands it on and takes it back when it is dropped, wherever that is (the
//! writer after the insert, a sink's queue, a full channel). The copies
//! the fan-out makes for other sinks share the record: it is counted once,
//! until the last of them is dropped.

use crate::proto::dicom::AssociationRecord;
use crate::proto::hl7::MessageRecord;
use crate::proto::mqtt::SessionRecord;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes held by live events.
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicUsize>);

impl Gauge {
    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A record, counted in a [`Gauge`] once attached. Copies share it (the
/// fan-out hands one record to several sinks without copying it): it is
/// counted once, until the last copy is dropped.
pub struct Held<T: HeapSize> {
    shared: Arc<Shared<T>>,
}

/// The record and the gauge it is counted in.
struct Shared<T: HeapSize> {
    value: T,
    gauge: Option<Gauge>,
}

impl<T: HeapSize> Held<T> {
    /// A record not yet counted anywhere, from the box the application
    /// layer made it in (its events carry records boxed, to stay small).
    #[allow(clippy::boxed_local)] // the callers' records come boxed
    pub fn new(value: Box<T>) -> Held<T> {
        Held {
            shared: Arc::new(Shared {
                value: *value,
                gauge: None,
            }),
        }
    }

    /// Its size: the record and what it owns.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<T>() + self.shared.value.heap_bytes()
    }

    /// Counts it in `gauge` until it is dropped (by its last copy). Only
    /// a record not yet shared can be attached (the hot path's, as it
    /// hands it on).
    pub fn attach(&mut self, gauge: &Gauge) {
        let bytes = self.bytes();
        if let Some(s) = Arc::get_mut(&mut self.shared) {
            if s.gauge.is_none() {
                gauge.0.fetch_add(bytes, Ordering::Relaxed);
                s.gauge = Some(gauge.clone());
            }
        }
    }
}

impl<T: HeapSize> Drop for Shared<T> {
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            let bytes = std::mem::size_of::<T>() + self.value.heap_bytes();
            g.0.fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

impl<T: HeapSize> Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.shared.value
    }
}

impl<T: HeapSize> Clone for Held<T> {
    fn clone(&self) -> Self {
        Held {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: HeapSize + PartialEq> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        self.shared.value == other.shared.value
    }
}

impl<T: HeapSize + std::fmt::Debug> std::fmt::Debug for Held<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.value.fmt(f)
    }
}

/// Bytes a value owns on the heap (capacities, not lengths: that is what
/// the allocator holds).
pub trait HeapSize {
    /// The owned heap bytes.
    fn heap_bytes(&self) -> usize;
}

fn text(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::capacity)
}

fn vec<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

impl<T: HeapSize> HeapSize for (u64, T) {
    fn heap_bytes(&self) -> usize {
        self.1.heap_bytes()
    }
}

impl HeapSize for SessionRecord {
    fn heap_bytes(&self) -> usize {
        [
            &self.protocol_name,
            &self.client_id,
            &self.will_topic,
            &self.auth_method,
            &self.assigned_client_id,
        ]
        .into_iter()
        .map(text)
        .sum::<usize>()
            + vec(&self.published)
            + self
                .published
                .iter()
                .map(|p| p.topic.capacity())
                .sum::<usize>()
            + vec(&self.subscribed)
            + self
                .subscribed
                .iter()
                .map(|s| s.filter.capacity())
                .sum::<usize>()
            + vec(&self.unsubscribed)
            + self
                .unsubscribed
                .iter()
                .map(String::capacity)
                .sum::<usize>()
    }
}

impl HeapSize for MessageRecord {
    fn heap_bytes(&self) -> usize {
        [
            &self.sending_app,
            &self.sending_facility,
            &self.receiving_app,
            &self.receiving_facility,
            &self.message_time,
            &self.message_type,
            &self.control_id,
            &self.processing_id,
            &self.version,
            &self.msa_code,
            &self.msa_control_id,
            &self.ack_code,
        ]
        .into_iter()
        .map(text)
        .sum::<usize>()
            + vec(&self.segments)
    }
}

impl HeapSize for AssociationRecord {
    fn heap_bytes(&self) -> usize {
        [
            &self.application_context,
            &self.implementation_class_uid,
            &self.implementation_version,
            &self.acceptor_implementation_class_uid,
            &self.acceptor_implementation_version,
        ]
        .into_iter()
        .map(text)
        .sum::<usize>()
            + self.calling_ae.capacity()
            + self.called_ae.capacity()
            + vec(&self.roles)
            + self.roles.iter().map(|r| r.0.capacity()).sum::<usize>()
            + vec(&self.contexts)
            + self
                .contexts
                .iter()
                .map(|c| {
                    c.abstract_syntax.capacity()
                        + vec(&c.transfer_syntaxes)
                        + c.transfer_syntaxes
                            .iter()
                            .map(String::capacity)
                            .sum::<usize>()
                        + text(&c.accepted_transfer_syntax)
                })
                .sum::<usize>()
            + vec(&self.operations)
            + self
                .operations
                .iter()
                .map(|o| o.sop_class_uid.capacity() + vec(&o.statuses) + text(&o.move_destination))
                .sum::<usize>()
    }
}

impl HeapSize for super::Dhcp6Record {
    fn heap_bytes(&self) -> usize {
        let r = &self.record;
        [
            &r.client_duid,
            &r.server_duid,
            &r.fingerprint,
            &r.vendor_class,
            &r.fqdn,
        ]
        .into_iter()
        .map(|s| s.as_ref().map_or(0, |s| s.len()))
        .sum()
    }
}

impl HeapSize for crate::proto::dhcp::MessageRecord {
    fn heap_bytes(&self) -> usize {
        [
            &self.hostname,
            &self.vendor_class,
            &self.fingerprint,
            &self.client_id,
            &self.fqdn,
            &self.user_class,
            &self.relay_circuit_id,
            &self.relay_remote_id,
            &self.domain_name,
            &self.option_order,
        ]
        .into_iter()
        .map(|s| s.as_ref().map_or(0, |s| s.len()))
        .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(topics: usize) -> Box<(u64, SessionRecord)> {
        let mut s = SessionRecord::default();
        for i in 0..topics {
            s.published.push(crate::proto::mqtt::PublishRecord {
                to_server: true,
                topic: format!("ward/{i}/spo2"),
                qos: 0,
                retain: false,
                count: 1,
                bytes: 10,
                dup: 0,
            });
        }
        Box::new((7, s))
    }

    #[test]
    fn the_gauge_holds_what_lives_and_gets_it_back_on_drop() {
        let gauge = Gauge::default();
        let mut a = Held::new(session(100));
        assert_eq!(gauge.bytes(), 0, "not counted until attached");
        let size = a.bytes();
        assert!(size > 100 * 40, "topics are counted: {size}");
        a.attach(&gauge);
        a.attach(&gauge);
        assert_eq!(gauge.bytes(), size, "attached once");
        let b = a.clone();
        // The fan-out's copy for another sink shares the record.
        assert_eq!(b.bytes(), size);
        assert_eq!(
            gauge.bytes(),
            size,
            "a copy for another sink is not a second record"
        );
        drop(a);
        assert_eq!(gauge.bytes(), size, "held while any sink holds it");
        drop(b);
        assert_eq!(gauge.bytes(), 0);
    }
}
