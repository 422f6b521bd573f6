//! Detections that need more than one flow: C-MOVE to an AE title never
//! seen in any association, and per-client rates (DICOM association and
//! query bursts, MQTT authentication brute force).
//!
//! # Ownership and sharing
//!
//! This is cross-flow state: one instance serves the whole sensor, outside
//! any flow's state. Today the pipeline (one worker) creates it and hands
//! it to its application layer as a [`CrossFlow`] trait object: the app
//! layer calls it with each protocol [`Fact`] and raises the answer on the
//! flow the fact came from (its once-per-flow-and-kind reporting lives
//! there), while `app` imports no `policy` (the trait is `app`'s, this
//! module implements it). Once capture runs on N workers, the workers share
//! one `Detections` behind a lock (each worker's app layer holding a clone
//! of a [`Shared`] handle, which implements [`CrossFlow`]): it is called once per protocol event (an
//! association request, a batch of queries, a C-MOVE, a refused CONNECT),
//! never per packet, so the lock is rarely taken and the verdicts do not
//! depend on which worker holds a flow.

use crate::app::CrossFlow;
use crate::kinds::Anomaly;
use crate::proto::Fact;
use crate::time::{Micros, SECOND};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Window of the per-client rate checks.
pub const BURST_WINDOW: Micros = 60 * SECOND;
/// More associations than this from one client within [`BURST_WINDOW`] is a burst.
pub const ASSOCIATION_BURST: u32 = 30;
/// More C-FIND/C-MOVE/C-GET requests than this within [`BURST_WINDOW`] is a burst.
pub const QUERY_BURST: u32 = 100;
/// More MQTT authentication failures than this from one client within
/// [`BURST_WINDOW`] is a brute-force attempt.
pub const AUTH_FAILURE_BURST: u32 = 5;
/// AE titles remembered for the "never seen" check.
const MAX_KNOWN_AES: usize = 4096;
/// Clients whose rates are tracked (the oldest window is dropped when full).
const MAX_RATE_CLIENTS: usize = 4096;

/// Per-client counts in the current window.
#[derive(Clone, Copy, Debug)]
struct Rate {
    window_start: Micros,
    associations: u32,
    queries: u32,
    auth_failures: u32,
}

/// The sensor's cross-flow detection state: known AE titles and per-client
/// rates, both bounded.
#[derive(Debug, Default)]
pub struct Detections {
    known_aes: HashSet<String>,
    rates: HashMap<IpAddr, Rate, foldhash::fast::RandomState>,
}

impl Detections {
    /// Empty state.
    pub fn new() -> Detections {
        Detections::default()
    }

    /// A C-MOVE asks to send to `ae`: an anomaly when no association on
    /// this sensor named it before.
    pub fn move_destination(&self, ae: &str) -> Option<Anomaly> {
        (!self.known_aes.contains(ae)).then_some(Anomaly::DicomMoveToUnknownAe)
    }

    /// An association request from `client` named these AE titles: they
    /// become known, and the client's association rate goes up.
    pub fn association_started(
        &mut self,
        client: IpAddr,
        calling: &str,
        called: &str,
        ts: Micros,
    ) -> Option<Anomaly> {
        for ae in [calling, called] {
            if self.known_aes.len() < MAX_KNOWN_AES && !self.known_aes.contains(ae) {
                self.known_aes.insert(ae.to_string());
            }
        }
        let rate = self.rate(client, ts);
        rate.associations += 1;
        (rate.associations == ASSOCIATION_BURST + 1).then_some(Anomaly::DicomAssociationBurst)
    }

    /// `client` sent `n` more C-FIND/C-MOVE/C-GET requests.
    pub fn queries(&mut self, client: IpAddr, n: u64, ts: Micros) -> Option<Anomaly> {
        let rate = self.rate(client, ts);
        let before = rate.queries;
        rate.queries = rate.queries.saturating_add(n as u32);
        (before <= QUERY_BURST && rate.queries > QUERY_BURST).then_some(Anomaly::DicomQueryBurst)
    }

    /// A broker refused `client`'s CONNECT for an authentication failure.
    pub fn auth_failure(&mut self, client: IpAddr, ts: Micros) -> Option<Anomaly> {
        let rate = self.rate(client, ts);
        rate.auth_failures += 1;
        (rate.auth_failures == AUTH_FAILURE_BURST + 1).then_some(Anomaly::MqttAuthBruteForce)
    }

    /// The client's counts in the current window (a new window once the old
    /// one is over; the longest-idle client is forgotten when the table is full).
    fn rate(&mut self, client: IpAddr, ts: Micros) -> &mut Rate {
        if self.rates.len() >= MAX_RATE_CLIENTS && !self.rates.contains_key(&client) {
            if let Some(oldest) = self
                .rates
                .iter()
                .min_by_key(|(_, r)| r.window_start)
                .map(|(ip, _)| *ip)
            {
                self.rates.remove(&oldest);
            }
        }
        let fresh = Rate {
            window_start: ts,
            associations: 0,
            queries: 0,
            auth_failures: 0,
        };
        let rate = self.rates.entry(client).or_insert(fresh);
        if ts - rate.window_start >= BURST_WINDOW {
            *rate = fresh;
        }
        rate
    }
}

impl CrossFlow for Detections {
    fn fact(&mut self, client: IpAddr, fact: Fact<'_>, ts: Micros) -> Option<Anomaly> {
        match fact {
            Fact::MoveDestination(ae) => self.move_destination(ae),
            Fact::AssociationStarted { calling, called } => {
                self.association_started(client, calling, called, ts)
            }
            Fact::Queries(n) => self.queries(client, n, ts),
            Fact::AuthFailure => self.auth_failure(client, ts),
        }
    }
}

/// One [`Detections`] shared by several application layers (workers): each
/// holds a clone, and every fact takes the lock once.
pub type Shared = Arc<Mutex<Detections>>;

impl CrossFlow for Shared {
    fn fact(&mut self, client: IpAddr, fact: Fact<'_>, ts: Micros) -> Option<Anomaly> {
        // A worker that panicked mid-update leaves counts, not broken
        // invariants: the others go on with them.
        let mut d = self.lock().unwrap_or_else(PoisonError::into_inner);
        d.fact(client, fact, ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7));

    #[test]
    fn move_to_an_ae_named_by_an_earlier_association_is_known() {
        let mut d = Detections::new();
        assert_eq!(
            d.move_destination("ARCHIVE"),
            Some(Anomaly::DicomMoveToUnknownAe)
        );
        assert_eq!(d.association_started(CLIENT, "WS1", "ARCHIVE", 0), None);
        assert_eq!(d.move_destination("ARCHIVE"), None);
        assert_eq!(d.move_destination("WS1"), None);
    }

    #[test]
    fn association_burst_fires_once_past_the_threshold() {
        let mut d = Detections::new();
        let fired: Vec<_> = (0..2 * ASSOCIATION_BURST)
            .map(|i| d.association_started(CLIENT, "A", "B", i64::from(i)))
            .collect();
        assert_eq!(fired.iter().flatten().count(), 1);
        assert_eq!(
            fired[ASSOCIATION_BURST as usize],
            Some(Anomaly::DicomAssociationBurst)
        );
    }

    #[test]
    fn query_burst_counts_batches_and_window_restarts() {
        let mut d = Detections::new();
        assert_eq!(d.queries(CLIENT, u64::from(QUERY_BURST), 0), None);
        assert_eq!(d.queries(CLIENT, 1, 1), Some(Anomaly::DicomQueryBurst));
        assert_eq!(d.queries(CLIENT, 1, 2), None);
        // A new window: the count starts again.
        assert_eq!(
            d.queries(CLIENT, u64::from(QUERY_BURST), BURST_WINDOW),
            None
        );
        assert_eq!(
            d.queries(CLIENT, 1, BURST_WINDOW + 1),
            Some(Anomaly::DicomQueryBurst)
        );
    }

    #[test]
    fn auth_brute_force_after_the_threshold() {
        let mut d = Detections::new();
        for i in 0..AUTH_FAILURE_BURST {
            assert_eq!(d.auth_failure(CLIENT, i64::from(i)), None);
        }
        assert_eq!(d.auth_failure(CLIENT, 9), Some(Anomaly::MqttAuthBruteForce));
        assert_eq!(d.auth_failure(CLIENT, 10), None);
    }

    #[test]
    fn shared_handles_see_one_state() {
        let mut a: Shared = Arc::new(Mutex::new(Detections::new()));
        let mut b = Arc::clone(&a);
        let started = Fact::AssociationStarted {
            calling: "WS1",
            called: "ARCHIVE",
        };
        assert_eq!(a.fact(CLIENT, started, 0), None);
        // Known through the other worker's handle.
        assert_eq!(b.fact(CLIENT, Fact::MoveDestination("ARCHIVE"), 1), None);
        for i in 0..AUTH_FAILURE_BURST {
            let h = if i % 2 == 0 { &mut a } else { &mut b };
            assert_eq!(h.fact(CLIENT, Fact::AuthFailure, 2), None);
        }
        assert_eq!(
            a.fact(CLIENT, Fact::AuthFailure, 3),
            Some(Anomaly::MqttAuthBruteForce)
        );
    }

    #[test]
    fn full_rate_table_forgets_the_oldest_client() {
        let mut d = Detections::new();
        for i in 0..MAX_RATE_CLIENTS as u32 {
            d.auth_failure(IpAddr::V4(i.into()), i64::from(i) + 1);
        }
        d.auth_failure(CLIENT, 0);
        assert_eq!(d.rates.len(), MAX_RATE_CLIENTS);
        assert!(!d.rates.contains_key(&IpAddr::V4(0u32.into())));
    }
}
