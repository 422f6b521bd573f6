//! The devices gauges: how many devices of each class and grade, and how
//! many match no asset-list entry, kept from the device events.
//!
//! The events carry changes, not counts: a device is seen
//! ([`Event::Device`], many times), learns addresses ([`Event::DeviceIp`]),
//! changes class ([`Event::DeviceClass`]); the asset list comes at start
//! and with every reload ([`Event::Assets`]). So the book keeps each
//! device's class, grade and registration (bounded: [`MAX_DEVICES`]) and
//! moves it between the label sets when it changes.

use super::catalog::{Registry, DEVICES, DEVICES_UNREGISTERED};
use crate::device::assets::Asset;
use crate::device::classify::{ClassRecord, UNKNOWN};
use crate::device::{DeviceIpRecord, DeviceKey};
use crate::net::Mac;
use metrics::Gauge;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Most devices tracked. The inventory holds `identity.max_devices`
/// (default 65,536); past this bound a device is left out of the gauges
/// (logged once) rather than let the map grow without end. About 100
/// bytes each.
pub(super) const MAX_DEVICES: usize = 1 << 18;

/// Addresses kept per device, to match asset-list entries that give only
/// an address. (The database keeps them all; a device with more than
/// this many, matched only by a later one, is counted unregistered.)
const IPS_PER_DEVICE: usize = 4;

/// Grade label of a device whose class is not a medical one.
const NO_GRADE: &str = "none";

/// A class and grade: a label set of the devices gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Slot {
    /// Index in [`DeviceBook::classes`].
    class: u32,
    /// 1–3; 0 for none.
    grade: u8,
}

/// What the book keeps of one device.
#[derive(Clone, Debug)]
struct Entry {
    slot: Slot,
    ips: [Option<IpAddr>; IPS_PER_DEVICE],
    registered: bool,
}

/// The asset list as registration needs it (the same matching as
/// `store::rows::assets::matching`, which `medtap devices --unregistered`
/// uses): an entry with a MAC matches that MAC; one with only an address
/// matches any device using the address.
#[derive(Clone, Debug, Default)]
struct AssetIndex {
    macs: HashSet<Mac>,
    ips: HashSet<IpAddr>,
}

impl AssetIndex {
    fn new(assets: &[Asset]) -> AssetIndex {
        let mut ix = AssetIndex::default();
        for a in assets {
            match (a.mac, a.ip) {
                (Some(m), _) => {
                    ix.macs.insert(m);
                }
                (None, Some(ip)) => {
                    ix.ips.insert(ip);
                }
                (None, None) => {}
            }
        }
        ix
    }

    fn matches(&self, key: DeviceKey, ips: &[Option<IpAddr>]) -> bool {
        match key {
            DeviceKey::Mac(m) if self.macs.contains(&m) => return true,
            DeviceKey::Ip(ip) if self.ips.contains(&ip) => return true,
            _ => {}
        }
        ips.iter().flatten().any(|ip| self.ips.contains(ip))
    }
}

/// The devices by class and grade, and the unregistered ones.
pub(super) struct DeviceBook {
    devices: HashMap<DeviceKey, Entry>,
    /// Class ids seen (a handful: the class table's).
    classes: Vec<String>,
    class_index: HashMap<String, u32>,
    /// Devices per label set, and its series.
    counts: HashMap<Slot, (u64, Gauge)>,
    assets: AssetIndex,
    unregistered: u64,
    unregistered_gauge: Gauge,
    /// Whether the bound was hit (logged once).
    full: bool,
}

impl DeviceBook {
    /// An empty book for a sensor that starts with `assets`.
    pub fn new(reg: &Registry, assets: &[Asset]) -> DeviceBook {
        let mut book = DeviceBook {
            devices: HashMap::new(),
            classes: Vec::new(),
            class_index: HashMap::new(),
            counts: HashMap::new(),
            assets: AssetIndex::new(assets),
            unregistered: 0,
            unregistered_gauge: reg.gauge(&DEVICES_UNREGISTERED, &[]),
            full: false,
        };
        // Where every device starts: a series (at 0) from the first scrape.
        let unknown = Slot {
            class: book.class_id(UNKNOWN),
            grade: 0,
        };
        book.series(reg, unknown);
        book
    }

    /// A device seen (its class `unknown` until a class record says more).
    pub fn seen(&mut self, reg: &Registry, key: DeviceKey) {
        self.entry(reg, key);
    }

    /// A device's address.
    pub fn ip(&mut self, reg: &Registry, r: &DeviceIpRecord) {
        let listed = self.assets.ips.contains(&r.ip);
        let Some(e) = self.entry(reg, r.device) else {
            return;
        };
        if e.ips.contains(&Some(r.ip)) {
            return;
        }
        if let Some(free) = e.ips.iter_mut().find(|s| s.is_none()) {
            *free = Some(r.ip);
        }
        if !e.registered && listed {
            e.registered = true;
            self.unregistered -= 1;
            self.unregistered_gauge.set(self.unregistered as f64);
        }
    }

    /// A device's new classification.
    pub fn class(&mut self, reg: &Registry, r: &ClassRecord) {
        let grade = r.class.grade.map_or(0, |g| g.get());
        let slot = Slot {
            class: self.class_id(&r.class.class),
            grade,
        };
        let Some(e) = self.entry(reg, r.device) else {
            return;
        };
        let was = std::mem::replace(&mut e.slot, slot);
        if was != slot {
            self.count(reg, was, false);
            self.count(reg, slot, true);
        }
    }

    /// The asset list was reloaded: every device's registration again.
    pub fn assets(&mut self, assets: &[Asset]) {
        self.assets = AssetIndex::new(assets);
        let ix = &self.assets;
        let mut unregistered = 0;
        for (key, e) in &mut self.devices {
            e.registered = ix.matches(*key, &e.ips);
            unregistered += u64::from(!e.registered);
        }
        self.unregistered = unregistered;
        self.unregistered_gauge.set(unregistered as f64);
    }

    /// The entry of `key`, made (class unknown, no grade) if new; `None`
    /// when the book is full.
    fn entry(&mut self, reg: &Registry, key: DeviceKey) -> Option<&mut Entry> {
        if !self.devices.contains_key(&key) {
            if self.devices.len() >= MAX_DEVICES {
                if !self.full {
                    self.full = true;
                    tracing::warn!(
                        max = MAX_DEVICES,
                        "metrics: device gauges full, further devices are not counted"
                    );
                }
                return None;
            }
            let slot = Slot {
                class: self.class_id(UNKNOWN),
                grade: 0,
            };
            let registered = self.assets.matches(key, &[]);
            if !registered {
                self.unregistered += 1;
                self.unregistered_gauge.set(self.unregistered as f64);
            }
            self.count(reg, slot, true);
            self.devices.insert(
                key,
                Entry {
                    slot,
                    ips: [None; IPS_PER_DEVICE],
                    registered,
                },
            );
        }
        self.devices.get_mut(&key)
    }

    fn class_id(&mut self, class: &str) -> u32 {
        if let Some(&i) = self.class_index.get(class) {
            return i;
        }
        let i = self.classes.len() as u32;
        self.classes.push(class.to_string());
        self.class_index.insert(class.to_string(), i);
        i
    }

    /// The count and series of `slot` (registered at 0 if new).
    fn series(&mut self, reg: &Registry, slot: Slot) -> &mut (u64, Gauge) {
        self.counts.entry(slot).or_insert_with(|| {
            let grade = match slot.grade {
                0 => NO_GRADE.to_string(),
                g => g.to_string(),
            };
            let class = self.classes[slot.class as usize].as_str();
            (
                0,
                reg.gauge(&DEVICES, &[("class", class), ("grade", grade.as_str())]),
            )
        })
    }

    /// One device more (`up`) or less in `slot`.
    fn count(&mut self, reg: &Registry, slot: Slot, up: bool) {
        let (n, gauge) = self.series(reg, slot);
        *n = if up { *n + 1 } else { n.saturating_sub(1) };
        gauge.set(*n as f64);
    }

    /// Devices tracked.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.devices.len()
    }
}
