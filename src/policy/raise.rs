//! Raising alerts without flooding: repeats of one finding (same rule,
//! device, peer and detail) within the rule's window fold into one alert
//! whose count and last-seen time grow; the sinks get the alert
//! [`FIRST_WRITE_AFTER`] after it opens (with what its flow told in the
//! meantime: an association's AE titles, the messages after an MQTT
//! login) and again (same id) at most once per [`UPDATE_EVERY`] while it
//! grows. Suppressions from the policy silence known-good noise. The
//! table of open alerts is bounded; when it is full its quietest eighth is
//! closed, and a slim memory of each closed alert (its id, count and
//! times, not its record) folds later repeats within its window into the
//! same alert, so a busy network does not reopen one finding many times.

use super::rules::{Peer, Policy};
use crate::alert::{AlertKey, AlertOut, AlertRecord, AlertSeen, Party, Rule};
use crate::time::{Micros, SECOND};
use std::collections::HashMap;

/// Shortest time between two writes of a growing alert.
pub const UPDATE_EVERY: Micros = SECOND;
/// How long a new alert waits for more evidence before its first write:
/// a flow's next facts mostly come within milliseconds, and one write
/// with them costs half of two. Short, as an alert reaches the database
/// within a second of its packet.
pub const FIRST_WRITE_AFTER: Micros = SECOND / 10;
/// Open alerts kept for folding.
pub const MAX_OPEN: usize = 4096;
/// Alerts closed early whose repeats still fold by id (about 100 bytes
/// each).
pub const MAX_CLOSED: usize = 65_536;
/// How often the closed alerts whose window is over are forgotten.
const CLOSED_SWEEP_EVERY: Micros = 60 * SECOND;
/// Evidence keys kept per alert (later evidence adds keys up to this).
const MAX_EVIDENCE_KEYS: usize = 32;

/// Counters of the raiser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaiseCounters {
    /// Alerts opened.
    pub opened: u64,
    /// Occurrences folded into an open alert.
    pub folded: u64,
    /// Occurrences silenced by a suppression.
    pub suppressed: u64,
    /// Open alerts closed early because the table was full.
    pub closed_early: u64,
}

/// What is kept of an alert closed early while its window lasts: enough
/// to fold a repeat into it by id.
struct Closed {
    alert_id: u64,
    first_seen: Micros,
    count: u64,
    last_seen: Micros,
    last_sent: Micros,
    /// Its count grew since it was last handed on.
    grown: bool,
}

impl Closed {
    fn of(o: &Open) -> Closed {
        Closed {
            alert_id: o.rec.alert_id,
            first_seen: o.rec.first_seen,
            count: o.rec.count,
            last_seen: o.rec.last_seen,
            // Just written in full, in its state at its last occurrence.
            last_sent: o.rec.last_seen,
            grown: false,
        }
    }

    /// One more occurrence at `ts`; handed on at most once per
    /// [`UPDATE_EVERY`].
    fn fold(&mut self, ts: Micros, emit: Emit<'_>) {
        self.count += 1;
        self.last_seen = self.last_seen.max(ts);
        self.grown = true;
        if ts.saturating_sub(self.last_sent) >= UPDATE_EVERY {
            self.send(ts, emit);
        }
    }

    fn send(&mut self, now: Micros, emit: Emit<'_>) {
        if self.grown {
            emit(AlertOut::Seen(AlertSeen {
                alert_id: self.alert_id,
                count: self.count,
                last_seen: self.last_seen,
            }));
        }
        self.grown = false;
        self.last_sent = now;
    }
}

struct Open {
    rec: AlertRecord,
    /// Its record changed (evidence, parties) since it was last handed on.
    dirty: bool,
    /// Its count grew since it was last handed on.
    grown: bool,
    last_sent: Micros,
}

impl Open {
    /// Hands on what changed: the record, or only the count.
    fn send(&mut self, now: Micros, emit: Emit<'_>) {
        if self.dirty {
            emit(AlertOut::Record(Box::new(self.rec.clone())));
        } else if self.grown {
            emit(AlertOut::Seen(AlertSeen {
                alert_id: self.rec.alert_id,
                count: self.rec.count,
                last_seen: self.rec.last_seen,
            }));
        }
        self.dirty = false;
        self.grown = false;
        self.last_sent = now;
    }

    fn changed(&self) -> bool {
        self.dirty || self.grown
    }
}

/// Where the raiser's output goes.
pub type Emit<'a> = &'a mut dyn FnMut(AlertOut);

/// The open alerts and the next id.
pub struct Raiser {
    open: HashMap<AlertKey, Open, foldhash::fast::RandomState>,
    closed: HashMap<AlertKey, Closed, foldhash::fast::RandomState>,
    /// Closed alerts whose count grew since their last write (so that a
    /// flush looks at these, not at every closed alert).
    closed_grown: Vec<AlertKey>,
    /// When [`Raiser::flush`] next forgets the closed alerts whose window
    /// is over.
    next_closed_sweep: Micros,
    /// New alerts not written yet, oldest first, with their opening time
    /// (an alert closed since is skipped).
    fresh: std::collections::VecDeque<(Micros, AlertKey)>,
    /// When [`Raiser::flush`] next looks at every alert.
    next_full_flush: Micros,
    /// How long a new alert waits before its first write (0: at once).
    hold: Micros,
    next_id: u64,
    window: Micros,
    day: Micros,
    counters: RaiseCounters,
}

impl Raiser {
    /// Alert ids start at `first_id`; repeats fold within `window`
    /// (cleartext findings within a day, as posture findings are per day).
    pub fn new(first_id: u64, window: Micros) -> Raiser {
        Raiser {
            open: HashMap::default(),
            closed: HashMap::default(),
            closed_grown: Vec::new(),
            next_closed_sweep: Micros::MIN,
            fresh: Default::default(),
            next_full_flush: Micros::MIN,
            hold: FIRST_WRITE_AFTER,
            next_id: first_id.max(1),
            window: window.max(SECOND),
            day: 86_400 * SECOND,
            counters: RaiseCounters::default(),
        }
    }

    /// New alerts wait `hold` for more evidence before their first write
    /// (default [`FIRST_WRITE_AFTER`]; 0 writes them as they open).
    pub fn first_write_after(mut self, hold: Micros) -> Raiser {
        self.hold = hold.max(0);
        self
    }

    /// Counters.
    pub fn counters(&self) -> RaiseCounters {
        self.counters
    }

    fn window_of(&self, rule: Rule) -> Micros {
        window_of(rule, self.window, self.day)
    }

    /// Folds an occurrence at `ts` into the alert closed early with `key`,
    /// if its window still runs (else forgets it): its id, or `None`.
    fn fold_closed(&mut self, key: &AlertKey, ts: Micros, emit: Emit<'_>) -> Option<u64> {
        let window = self.window_of(key.rule);
        let c = self.closed.get_mut(key)?;
        if ts.saturating_sub(c.first_seen) >= window {
            if let Some(mut c) = self.closed.remove(key) {
                c.send(ts, emit);
            }
            return None;
        }
        self.counters.folded += 1;
        let was_grown = c.grown;
        c.fold(ts, emit);
        if c.grown && !was_grown {
            self.closed_grown.push(*key);
        }
        Some(c.alert_id)
    }

    /// One occurrence of `rec` (its id, count and times are set here) at
    /// `rec.first_seen`. Returns the id of the alert it opened or joined,
    /// or `None` when a suppression silenced it.
    pub fn raise(&mut self, policy: &Policy, mut rec: AlertRecord, emit: Emit<'_>) -> Option<u64> {
        let ts = rec.first_seen;
        if suppressed(policy, &rec, ts) {
            self.counters.suppressed += 1;
            return None;
        }
        let key = rec.key();
        let window = self.window_of(rec.rule);
        if let Some(o) = self.open.get_mut(&key) {
            if ts.saturating_sub(o.rec.first_seen) < window {
                self.counters.folded += 1;
                o.rec.count += 1;
                o.rec.last_seen = o.rec.last_seen.max(ts);
                let keys = o.rec.evidence.len();
                merge(&mut o.rec.evidence, rec.evidence);
                o.dirty |= o.rec.evidence.len() != keys;
                o.grown = true;
                if ts.saturating_sub(o.last_sent) >= UPDATE_EVERY {
                    o.send(ts, emit);
                }
                return Some(o.rec.alert_id);
            }
            // Its window is over: close it, and open a new one below.
            if let Some(mut o) = self.open.remove(&key) {
                o.send(ts, emit);
            }
        } else if let Some(id) = self.fold_closed(&key, ts, emit) {
            return Some(id);
        }
        if self.open.len() >= MAX_OPEN {
            self.close_quietest(emit);
        }
        rec.alert_id = self.next_id;
        self.next_id += 1;
        rec.count = 1;
        rec.last_seen = ts;
        self.counters.opened += 1;
        let id = rec.alert_id;
        let held = self.hold > 0;
        if held {
            if self.fresh.len() >= MAX_OPEN {
                self.write_fresh(Micros::MAX, emit);
            }
            self.fresh.push_back((ts, key));
        } else {
            emit(AlertOut::Record(Box::new(rec.clone())));
        }
        self.open.insert(
            key,
            Open {
                rec,
                // Held: written by `flush` once `hold` has passed.
                dirty: held,
                grown: false,
                last_sent: ts,
            },
        );
        Some(id)
    }

    /// Folds one more occurrence at `ts` into the open alert with `key`, if
    /// there is one within its window (no record is built: nothing is
    /// allocated). False when the caller must raise a new alert.
    pub fn fold(&mut self, key: &AlertKey, ts: Micros, emit: Emit<'_>) -> bool {
        let window = self.window_of(key.rule);
        let Some(o) = self.open.get_mut(key) else {
            return self.fold_closed(key, ts, emit).is_some();
        };
        if ts.saturating_sub(o.rec.first_seen) >= window {
            return false;
        }
        self.counters.folded += 1;
        o.rec.count += 1;
        o.rec.last_seen = o.rec.last_seen.max(ts);
        o.grown = true;
        if ts.saturating_sub(o.last_sent) >= UPDATE_EVERY {
            o.send(ts, emit);
        }
        true
    }

    /// Whether an alert with `key` is open.
    pub fn is_open(&self, key: &AlertKey) -> bool {
        self.open.contains_key(key)
    }

    /// Changes the open alert with `key` (if any) without counting an
    /// occurrence; it is written again with the next flush.
    pub fn update(&mut self, key: &AlertKey, f: impl FnOnce(&mut AlertRecord)) {
        if let Some(o) = self.open.get_mut(key) {
            f(&mut o.rec);
            o.dirty = true;
        }
    }

    /// Adds evidence to the open alert with `key` without counting an
    /// occurrence (e.g. a flow's AE titles, learnt after the flow's first
    /// packet raised it; a session's duration at its end): new keys only,
    /// or every key when `replace`. An alert closed early learns nothing
    /// more (its record is not kept).
    pub fn enrich(
        &mut self,
        key: &AlertKey,
        evidence: serde_json::Map<String, serde_json::Value>,
        replace: bool,
    ) {
        if let Some(o) = self.open.get_mut(key) {
            if replace {
                for (k, v) in evidence {
                    o.rec.evidence.insert(k, v);
                }
                o.dirty = true;
            } else {
                // Written again only when it learnt something.
                let keys = o.rec.evidence.len();
                merge(&mut o.rec.evidence, evidence);
                o.dirty |= o.rec.evidence.len() != keys;
            }
        }
    }

    /// Writes the new alerts opened [`FIRST_WRITE_AFTER`] ago or more;
    /// once per [`UPDATE_EVERY`], also hands on the alerts that grew since
    /// their last write, and closes those whose window is over by `now`.
    /// Called every [`FIRST_WRITE_AFTER`] or so.
    pub fn flush(&mut self, now: Micros, emit: Emit<'_>) {
        self.write_fresh(now.saturating_sub(self.hold), emit);
        if now < self.next_full_flush {
            return;
        }
        self.next_full_flush = now.saturating_add(UPDATE_EVERY);
        let (window, day) = (self.window, self.day);
        self.open.retain(|_, o| {
            let over = now.saturating_sub(o.rec.first_seen) >= window_of(o.rec.rule, window, day);
            if o.changed() && (over || now.saturating_sub(o.last_sent) >= UPDATE_EVERY) {
                o.send(now, emit);
            }
            !over
        });
        let closed = &mut self.closed;
        self.closed_grown.retain(|k| {
            let Some(c) = closed.get_mut(k).filter(|c| c.grown) else {
                return false;
            };
            if now.saturating_sub(c.last_sent) < UPDATE_EVERY {
                return true;
            }
            c.send(now, emit);
            false
        });
        if now >= self.next_closed_sweep {
            self.next_closed_sweep = now.saturating_add(CLOSED_SWEEP_EVERY);
            self.closed.retain(|k, c| {
                let over = now.saturating_sub(c.first_seen) >= window_of(k.rule, window, day);
                if over {
                    c.send(now, emit);
                }
                !over
            });
        }
    }

    /// First writes of the new alerts opened by `until`.
    fn write_fresh(&mut self, until: Micros, emit: Emit<'_>) {
        while let Some(&(opened, key)) = self.fresh.front() {
            if opened > until {
                break;
            }
            self.fresh.pop_front();
            if let Some(o) = self.open.get_mut(&key).filter(|o| o.dirty) {
                let at = o.rec.last_seen;
                o.send(at, emit);
            }
        }
    }

    /// Hands on every alert not yet written in its latest state (end of
    /// input or shutdown).
    pub fn finish(&mut self, emit: Emit<'_>) {
        self.fresh.clear();
        for (_, mut o) in self.open.drain() {
            o.send(Micros::MAX, emit);
        }
        for (_, mut c) in self.closed.drain() {
            c.send(Micros::MAX, emit);
        }
        self.closed_grown.clear();
    }

    /// Closes the quietest eighth of the open alerts (a batch, so that a
    /// full table costs one pass per many new alerts, not one per alert).
    fn close_quietest(&mut self, emit: Emit<'_>) {
        let mut by_age: Vec<(Micros, AlertKey)> = self
            .open
            .iter()
            .map(|(k, o)| (o.rec.last_seen, *k))
            .collect();
        let n = (by_age.len() / 8).max(1);
        if by_age.len() > n {
            by_age.select_nth_unstable_by_key(n - 1, |(t, _)| *t);
        }
        if self.closed.len() + n > MAX_CLOSED {
            self.forget_quietest_closed(n, emit);
        }
        for (_, k) in by_age.into_iter().take(n) {
            if let Some(mut o) = self.open.remove(&k) {
                self.counters.closed_early += 1;
                o.send(Micros::MAX, emit);
                self.closed.insert(k, Closed::of(&o));
            }
        }
    }

    /// Makes room for `n` more closed alerts: forgets the quietest
    /// (after handing on their last count). A repeat of a forgotten one
    /// opens a new alert.
    fn forget_quietest_closed(&mut self, n: usize, emit: Emit<'_>) {
        let n = n.max(self.closed.len() / 8);
        let mut last: Vec<Micros> = self.closed.values().map(|c| c.last_seen).collect();
        let n = n.min(last.len());
        if n == 0 {
            return;
        }
        let (_, &mut cut, _) = last.select_nth_unstable(n - 1);
        let mut forgotten = 0;
        self.closed.retain(|_, c| {
            let forget = c.last_seen <= cut && forgotten < n;
            if forget {
                forgotten += 1;
                c.send(Micros::MAX, emit);
            }
            !forget
        });
    }
}

/// How long repeats of `rule` fold into one alert: cleartext findings
/// within a day (posture findings are per day), others within `window`.
fn window_of(rule: Rule, window: Micros, day: Micros) -> Micros {
    match rule {
        Rule::CleartextMedicalData => day.max(window),
        _ => window,
    }
}

/// Adds the keys of `more` that `into` lacks (the first value of a fact
/// stays: it is the one the alert opened with), up to a bound.
fn merge(
    into: &mut serde_json::Map<String, serde_json::Value>,
    more: serde_json::Map<String, serde_json::Value>,
) {
    for (k, v) in more {
        if into.len() >= MAX_EVIDENCE_KEYS {
            break;
        }
        into.entry(k).or_insert(v);
    }
}

/// Whether a suppression in force at `ts` covers `rec`.
fn suppressed(policy: &Policy, rec: &AlertRecord, ts: Micros) -> bool {
    policy.suppressions.iter().any(|s| {
        s.rule == rec.rule
            && s.until.is_none_or(|u| ts <= u)
            && s.device.as_ref().is_none_or(|d| names(d, &rec.device))
            && s.peer.as_ref().is_none_or(|p| names(p, &rec.peer))
    })
}

fn names(p: &Peer, party: &Party) -> bool {
    match p {
        Peer::Mac(m) => party.mac == Some(*m),
        Peer::Ip(ip) => party.ip == Some(*ip),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Severity;

    /// (alert id, count, last seen) of an output.
    fn seen(o: &AlertOut) -> (u64, u64, Micros) {
        match o {
            AlertOut::Record(r) => (r.alert_id, r.count, r.last_seen),
            AlertOut::Seen(s) => (s.alert_id, s.count, s.last_seen),
        }
    }

    fn rec(ts: Micros, detail: &str) -> AlertRecord {
        AlertRecord {
            alert_id: 0,
            first_seen: ts,
            last_seen: ts,
            count: 0,
            rule: Rule::PolicyViolation,
            severity: Severity::High,
            message: "m".into(),
            detail: detail.into(),
            device: Party {
                ip: Some("10.0.0.1".parse().unwrap()),
                ..Party::default()
            },
            peer: Party {
                ip: Some("10.0.0.2".parse().unwrap()),
                ..Party::default()
            },
            flow: None,
            evidence: Default::default(),
            observation: false,
        }
    }

    #[test]
    fn repeats_fold_into_one_alert_written_at_most_once_a_second() {
        let p = Policy::default();
        let mut r = Raiser::new(10, 3600 * SECOND);
        let mut out = Vec::new();
        // 10 minutes of one violation every 100 ms: 6000 occurrences.
        for i in 0..6000 {
            r.raise(&p, rec(i * SECOND / 10, "x"), &mut |a| out.push(a));
        }
        r.finish(&mut |a| out.push(a));
        assert!(out.iter().all(|a| seen(a).0 == 10), "one alert");
        assert!(out.len() <= 601, "{} writes", out.len());
        // The record once; then only counts (no record is cloned per repeat).
        assert!(matches!(out[0], AlertOut::Record(_)));
        assert!(out[1..].iter().all(|a| matches!(a, AlertOut::Seen(_))));
        assert_eq!(seen(out.last().unwrap()), (10, 6000, 5999 * SECOND / 10));
        assert_eq!(r.counters().opened, 1);
        assert_eq!(r.counters().folded, 5999);
    }

    #[test]
    fn a_new_alert_is_written_once_with_what_its_first_moments_added() {
        let p = Policy::default();
        let mut r = Raiser::new(1, 3600 * SECOND);
        let mut out = Vec::new();
        let key = rec(0, "x").key();
        r.raise(&p, rec(0, "x"), &mut |a| out.push(a));
        let mut ev = serde_json::Map::new();
        ev.insert("called_ae".into(), "PACS".into());
        r.enrich(&key, ev, false);
        r.flush(FIRST_WRITE_AFTER - 1, &mut |a| out.push(a));
        assert!(out.is_empty(), "not yet: {out:?}");
        r.flush(FIRST_WRITE_AFTER, &mut |a| out.push(a));
        match &out[..] {
            [AlertOut::Record(a)] => assert_eq!(a.evidence["called_ae"], "PACS"),
            other => panic!("one record: {other:?}"),
        }
        r.finish(&mut |a| out.push(a));
        assert_eq!(out.len(), 1, "nothing changed since");
    }

    #[test]
    fn without_a_hold_a_new_alert_is_written_as_it_opens() {
        let p = Policy::default();
        let mut r = Raiser::new(1, 3600 * SECOND).first_write_after(0);
        let mut out = Vec::new();
        r.raise(&p, rec(0, "x"), &mut |a| out.push(a));
        assert!(matches!(&out[..], [AlertOut::Record(a)] if a.alert_id == 1));
        r.flush(SECOND, &mut |a| out.push(a));
        r.finish(&mut |a| out.push(a));
        assert_eq!(out.len(), 1, "written once");
    }

    #[test]
    fn another_detail_or_a_new_window_opens_another_alert() {
        let p = Policy::default();
        let mut r = Raiser::new(1, 60 * SECOND);
        let mut ids = Vec::new();
        let mut emit = |a: AlertOut| ids.push(seen(&a).0);
        let a = r.raise(&p, rec(0, "x"), &mut emit);
        let b = r.raise(&p, rec(1, "y"), &mut emit);
        let c = r.raise(&p, rec(61 * SECOND, "x"), &mut emit);
        assert_eq!((a, b, c), (Some(1), Some(2), Some(3)));
    }

    #[test]
    fn suppression_silences_until_its_day_ends() {
        let mut p = Policy::default();
        p.suppressions.push(super::super::rules::Suppression {
            at: "t:1".into(),
            rule: Rule::PolicyViolation,
            device: Some(Peer::Ip("10.0.0.1".parse().unwrap())),
            peer: None,
            until: Some(100 * SECOND),
            until_text: None,
            reason: "known".into(),
        });
        let mut r = Raiser::new(1, 60 * SECOND);
        let mut n = 0;
        assert_eq!(r.raise(&p, rec(5, "x"), &mut |_| n += 1), None);
        assert!(r
            .raise(&p, rec(101 * SECOND, "x"), &mut |_| n += 1)
            .is_some());
        r.finish(&mut |_| n += 1);
        assert_eq!(n, 1);
        assert_eq!(r.counters().suppressed, 1);
    }

    #[test]
    fn a_repeat_of_an_alert_closed_early_folds_into_it_by_id() {
        let p = Policy::default();
        let mut r = Raiser::new(1, 3600 * SECOND);
        let mut out = Vec::new();
        // Twice the table: the first findings are closed early.
        for i in 0..2 * MAX_OPEN {
            r.raise(&p, rec(i as i64, &format!("d{i}")), &mut |a| out.push(a));
        }
        assert!(r.counters().closed_early > 0);
        out.clear();
        // A repeat of the first finding, ten seconds on: same alert, no new record.
        let id = r.raise(&p, rec(10 * SECOND, "d0"), &mut |a| out.push(a));
        assert_eq!(id, Some(1));
        assert_eq!(r.counters().opened, 2 * MAX_OPEN as u64);
        assert_eq!(
            out,
            vec![AlertOut::Seen(AlertSeen {
                alert_id: 1,
                count: 2,
                last_seen: 10 * SECOND
            })]
        );
        // The engine's fold path finds it too; within a second it is only counted...
        let key = rec(0, "d0").key();
        assert!(r.fold(&key, 10 * SECOND + 1, &mut |a| out.push(a)));
        assert_eq!(out.len(), 1);
        // ...and the next flush writes its count.
        r.flush(12 * SECOND, &mut |a| out.push(a));
        assert!(out.contains(&AlertOut::Seen(AlertSeen {
            alert_id: 1,
            count: 3,
            last_seen: 10 * SECOND + 1
        })));
        // After its window a repeat opens a new alert.
        let later = r.raise(&p, rec(3601 * SECOND, "d0"), &mut |_| {});
        assert_eq!(later, Some(2 * MAX_OPEN as u64 + 1));
    }

    #[test]
    fn the_memory_of_closed_alerts_is_bounded() {
        let p = Policy::default();
        let mut r = Raiser::new(1, 3600 * SECOND);
        let n = MAX_OPEN + MAX_CLOSED + MAX_OPEN;
        let mut last = std::collections::HashMap::new();
        for i in 0..n {
            r.raise(&p, rec(i as i64, &format!("d{i}")), &mut |a| {
                let (id, count, _) = seen(&a);
                last.insert(id, count);
            });
        }
        assert!(r.open.len() <= MAX_OPEN);
        assert!(r.closed.len() <= MAX_CLOSED);
        r.finish(&mut |a| {
            let (id, count, _) = seen(&a);
            last.insert(id, count);
        });
        assert_eq!(last.len(), n, "every alert written");
    }

    #[test]
    fn full_table_closes_the_quietest_and_writes_its_last_state() {
        let p = Policy::default();
        let mut r = Raiser::new(1, 3600 * SECOND);
        let mut out = Vec::new();
        r.raise(&p, rec(0, "first"), &mut |a| out.push(a));
        r.raise(&p, rec(1, "first"), &mut |a| out.push(a));
        for i in 1..MAX_OPEN {
            r.raise(&p, rec(10 + i as i64, &format!("d{i}")), &mut |a| {
                out.push(a)
            });
        }
        out.clear();
        r.raise(&p, rec(SECOND * 100, "new"), &mut |a| out.push(a));
        assert_eq!(r.counters().closed_early, MAX_OPEN as u64 / 8);
        assert!(out.iter().any(|o| seen(o) == (1, 2, 1)), "its last count");
        // The new alert is written FIRST_WRITE_AFTER after it opened.
        assert!(!out
            .iter()
            .any(|o| matches!(o, AlertOut::Record(r) if r.detail == "new")));
        r.flush(SECOND * 100 + FIRST_WRITE_AFTER, &mut |a| out.push(a));
        match out.last().unwrap() {
            AlertOut::Record(r) => assert_eq!(r.detail, "new"),
            other => panic!("{other:?}"),
        }
    }
}
