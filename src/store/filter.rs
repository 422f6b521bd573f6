//! The filters of the query commands and the SQL conditions they become,
//! with named parameters.

use crate::net::Mac;
use crate::time::Micros;
use rusqlite::types::{ToSql, Value};
use std::net::IpAddr;

/// A device selector: by MAC or by IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceSel {
    /// A MAC address.
    Mac(Mac),
    /// An IP address.
    Ip(IpAddr),
}

impl DeviceSel {
    /// Parses a MAC or an IP address.
    pub fn parse(s: &str) -> Option<DeviceSel> {
        Mac::parse(s)
            .map(DeviceSel::Mac)
            .or_else(|| s.parse().ok().map(DeviceSel::Ip))
    }
}

/// Filters shared by the per-protocol queries (`dicom`, `hl7`, `mqtt`).
#[derive(Clone, Debug, Default)]
pub struct AppFilter {
    /// Flows to or from this device.
    pub device: Option<DeviceSel>,
    /// Flows active at or after this time.
    pub since: Option<Micros>,
    /// Flows started at or before this time.
    pub until: Option<Micros>,
    /// Most rows (None: all).
    pub limit: Option<u64>,
}

impl AppFilter {
    /// SQL conditions on the `flows` table aliased `f`, oldest first.
    pub(super) fn flow_where(&self) -> Where {
        let mut w = Where::default();
        w.device_and_time(self.device, self.since, self.until);
        w.order_and_limit(self.limit);
        w
    }
}

/// SQL conditions on `flows` aliased `f`, with their named parameters.
#[derive(Default)]
pub(super) struct Where {
    /// Conditions (each starting ` AND`), then ORDER BY and LIMIT.
    pub(super) sql: String,
    args: Vec<(&'static str, Value)>,
}

impl Where {
    /// Appends `clause`, which uses the named parameter `name`, bound to `v`.
    pub(super) fn push(&mut self, clause: &str, name: &'static str, v: Value) {
        self.args.push((name, v));
        self.sql.push_str(clause);
    }

    /// The parameters, as rusqlite binds them.
    pub(super) fn params(&self) -> Vec<(&str, &dyn ToSql)> {
        self.args
            .iter()
            .map(|(k, v)| (*k, v as &dyn ToSql))
            .collect()
    }

    /// Flows to or from a device, overlapping `[since, until]`.
    pub(super) fn device_and_time(
        &mut self,
        device: Option<DeviceSel>,
        since: Option<Micros>,
        until: Option<Micros>,
    ) {
        self.device(device);
        if let Some(t) = since {
            self.push(" AND f.end_us >= :since", ":since", t.into());
        }
        if let Some(t) = until {
            self.push(" AND f.start_us <= :until", ":until", t.into());
        }
    }

    /// Flows to or from a device.
    pub(super) fn device(&mut self, device: Option<DeviceSel>) {
        match device {
            Some(DeviceSel::Mac(m)) => self.push(
                " AND (f.src_mac = :device OR f.dest_mac = :device)",
                ":device",
                m.to_string().into(),
            ),
            Some(DeviceSel::Ip(ip)) => self.push(
                " AND (f.src_ip = :device OR f.dest_ip = :device)",
                ":device",
                ip.to_string().into(),
            ),
            None => {}
        }
    }

    /// Oldest flow first, at most `limit` rows.
    pub(super) fn order_and_limit(&mut self, limit: Option<u64>) {
        self.sql.push_str(" ORDER BY f.start_us, f.flow_id");
        self.limit(limit);
    }

    /// At most `limit` rows.
    pub(super) fn limit(&mut self, limit: Option<u64>) {
        if let Some(l) = limit {
            self.push(
                " LIMIT :limit",
                ":limit",
                (l.min(i64::MAX as u64) as i64).into(),
            );
        }
    }
}
