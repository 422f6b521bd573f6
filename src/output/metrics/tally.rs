//! What the metrics sink makes of the events it receives, on its own
//! thread: statistics rows into counters, records per table, alerts by
//! rule and severity, flows open, devices by class and grade. Every
//! series it can know in advance is registered at start (at 0), so a
//! scrape shows the whole set from the first one and `rate()` has a
//! starting point.

use super::catalog::{self, Registry, ALERTS, FLOWS_ACTIVE, KIND_LABEL, RECORDS};
use super::devices::DeviceBook;
use crate::alert::{AlertRecord, Rule};
use crate::device::assets::Asset;
use crate::event::Event;
use crate::flow::EndReason;
use crate::kinds::Severity;
use crate::output::first_writes::FirstWrites;
use crate::stats::StatsRecord;
use metrics::{Counter, Gauge};

/// The database tables the records go to, in [`table_of`]'s numbering:
/// the `table` label of `medtap_records_total`.
pub(super) const TABLES: [&str; 14] = [
    "flows",
    "devices",
    "device_ips",
    "device_names",
    "device_events",
    "dhcp_messages",
    "capture_stats",
    "anomalies",
    "dicom_associations",
    "hl7_messages",
    "mqtt_sessions",
    "alerts",
    "assets",
    "archive_files",
];

/// The table (index in [`TABLES`]) `e` is written to. Exhaustive: a new
/// kind of event must be given one.
fn table_of(e: &Event) -> usize {
    match e {
        Event::Flow(_) => 0,
        Event::Device(_) | Event::DeviceClass(_) => 1,
        Event::DeviceIp(_) => 2,
        Event::DeviceName(_) => 3,
        Event::DeviceChange(_) => 4,
        Event::Dhcp(..) | Event::Dhcp6(..) => 5,
        Event::Stats(_) => 6,
        Event::Anomaly(_) => 7,
        Event::Dicom(..) => 8,
        Event::Hl7(..) => 9,
        Event::Mqtt(..) => 10,
        Event::Alert(_) | Event::AlertSeen(_) => 11,
        Event::Assets(_) => 12,
        Event::ArchiveIndex(_) => 13,
    }
}

/// One statistics counter's series, one per slot (kind).
struct StatsSeries {
    values: fn(&StatsRecord) -> &[u64],
    series: Vec<Counter>,
}

/// The sink's metrics state.
pub(super) struct Tally {
    reg: Registry,
    stats: Vec<StatsSeries>,
    records: Vec<Counter>,
    /// By `rule as usize * Severity::ALL.len() + severity as usize`.
    alerts: Vec<Counter>,
    alert_ids: FirstWrites,
    flows_created: u64,
    flows_ended: u64,
    flows_active: Gauge,
    devices: DeviceBook,
}

impl Tally {
    /// Registers every series known in advance.
    pub fn new(reg: Registry, assets: &[Asset]) -> Tally {
        let stats = catalog::FROM_STATS
            .iter()
            .filter_map(|s| {
                // Every entry names a column (a unit test checks it).
                let c = catalog::stats_counter(s.column)?;
                let slots = (c.values)(&StatsRecord::default()).len();
                let series = match c.by_name {
                    Some(b) => (0..slots)
                        .map(|i| {
                            let kind = (b.kind_name)(i).unwrap_or("other");
                            reg.counter(&s.def, &[(KIND_LABEL, kind)])
                        })
                        .collect(),
                    None => vec![reg.counter(&s.def, &[])],
                };
                Some(StatsSeries {
                    values: c.values,
                    series,
                })
            })
            .collect();
        let records = TABLES
            .iter()
            .map(|t| reg.counter(&RECORDS, &[("table", t)]))
            .collect();
        let alerts = Rule::ALL
            .iter()
            .flat_map(|r| Severity::ALL.iter().map(move |s| (r, s)))
            .map(|(r, s)| reg.counter(&ALERTS, &[("rule", r.id()), ("severity", s.name())]))
            .collect();
        let flows_active = reg.gauge(&FLOWS_ACTIVE, &[]);
        let devices = DeviceBook::new(&reg, assets);
        Tally {
            reg,
            stats,
            records,
            alerts,
            alert_ids: FirstWrites::default(),
            flows_created: 0,
            flows_ended: 0,
            flows_active,
            devices,
        }
    }

    /// Counts one event.
    pub fn event(&mut self, e: &Event) {
        self.records[table_of(e)].increment(1);
        match e {
            Event::Stats(s) => self.stats(s),
            Event::Flow(f) if f.reason != EndReason::Interim => {
                self.flows_ended += 1;
                self.set_flows_active();
            }
            Event::Alert(a) => self.alert(a),
            Event::Device(d) => self.devices.seen(&self.reg, d.key),
            Event::DeviceIp(d) => self.devices.ip(&self.reg, d),
            Event::DeviceClass(c) => self.devices.class(&self.reg, c),
            Event::Assets(list) => self.devices.assets(list),
            // An alert's count grew: medtap_alerts_total counts alerts,
            // not occurrences (those are medtap_alert_repeats_folded_total).
            Event::AlertSeen(_) => {}
            _ => {}
        }
    }

    /// A statistics row: every counter grows by its period's delta.
    fn stats(&mut self, s: &StatsRecord) {
        for st in &self.stats {
            for (v, c) in (st.values)(s).iter().zip(&st.series) {
                if *v > 0 {
                    c.increment(*v);
                }
            }
        }
        self.flows_created = self.flows_created.saturating_add(s.flows_created);
        self.set_flows_active();
    }

    fn set_flows_active(&self) {
        // Rows come every few seconds, ended flows as they end: between
        // a row and the next, more may have ended than the rows created.
        let active = self.flows_created.saturating_sub(self.flows_ended);
        self.flows_active.set(active as f64);
    }

    /// An alert's first write counts it (observations are not alerts).
    fn alert(&mut self, a: &AlertRecord) {
        if a.observation || !self.alert_ids.first(a.alert_id) {
            return;
        }
        let i = a.rule as usize * Severity::ALL.len() + a.severity as usize;
        if let Some(c) = self.alerts.get(i) {
            c.increment(1);
        }
    }

    /// Devices tracked by the book.
    #[cfg(test)]
    pub fn devices(&self) -> &DeviceBook {
        &self.devices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_and_severity_has_its_series() {
        // `rule as usize` indexes Rule::ALL; `severity as usize` Severity::ALL.
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, s) in Severity::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
