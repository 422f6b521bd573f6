//! What each device is known to offer and speak, for NEW_SERVICE (DB3205/T
//! A.4 b): ports, services and protocols watched dynamically). A device's
//! services during its grace period (from when it was first seen) and
//! during learning are its baseline; afterwards a port it starts to accept
//! on, or a protocol it starts to speak, is new. Bounded: devices, and
//! services per device.

use crate::alert::EndKey;
use crate::kinds::AppProto;
use crate::time::Micros;
use std::collections::HashMap;

/// Services remembered per device (later ones are not watched).
pub const MAX_SERVICES: usize = 64;
/// Devices remembered.
pub const MAX_DEVICES: usize = 1 << 16;

/// A service: a transport port accepted on, or an application protocol spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Accepts on (IP protocol, port).
    Port(u8, u16),
    /// Speaks this protocol (either side).
    App(AppProto),
}

impl Service {
    /// "tcp/104", "dicom".
    pub fn name(self) -> String {
        match self {
            Service::Port(p, port) => format!("{}/{port}", crate::flow::proto_name(p)),
            Service::App(a) => a.name().to_string(),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Known {
    first_seen: Micros,
    services: Vec<Service>,
}

/// The devices' known services.
#[derive(Debug, Default)]
pub struct Services {
    devices: HashMap<EndKey, Known, foldhash::fast::RandomState>,
}

impl Services {
    /// Remembers what an earlier run saw: `device` first seen at
    /// `first_seen`, offering `services`.
    pub fn preload(&mut self, device: EndKey, first_seen: Micros, services: &[Service]) {
        if self.devices.len() >= MAX_DEVICES {
            return;
        }
        let k = self.devices.entry(device).or_insert(Known {
            first_seen,
            services: Vec::new(),
        });
        k.first_seen = k.first_seen.min(first_seen);
        for s in services {
            if k.services.len() < MAX_SERVICES && !k.services.contains(s) {
                k.services.push(*s);
            }
        }
    }

    /// `device` (seen at `ts`) offers or speaks `s`: true when that is new
    /// after the device's baseline (`baseline_until` is when the baseline
    /// of a device first seen at `first_seen` ends).
    pub fn observe(
        &mut self,
        device: EndKey,
        s: Service,
        ts: Micros,
        baseline_until: impl Fn(Micros) -> Micros,
    ) -> bool {
        if device == EndKey::None {
            return false;
        }
        if !self.devices.contains_key(&device) && self.devices.len() >= MAX_DEVICES {
            return false;
        }
        let k = self.devices.entry(device).or_insert(Known {
            first_seen: ts,
            services: Vec::new(),
        });
        if k.services.contains(&s) || k.services.len() >= MAX_SERVICES {
            return false;
        }
        k.services.push(s);
        ts >= baseline_until(k.first_seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_only_after_the_baseline_and_once() {
        let mut s = Services::default();
        let d = EndKey::Ip("10.0.0.1".parse().unwrap());
        let grace = |first: Micros| first + 100;
        assert!(!s.observe(d, Service::Port(6, 104), 0, grace));
        assert!(!s.observe(d, Service::Port(6, 104), 500, grace));
        assert!(s.observe(d, Service::Port(6, 23), 500, grace));
        assert!(!s.observe(d, Service::Port(6, 23), 600, grace));
        assert!(s.observe(d, Service::App(AppProto::Mqtt), 700, grace));
        assert!(!s.observe(EndKey::None, Service::Port(6, 1), 700, grace));
    }

    #[test]
    fn preloaded_history_counts_as_baseline() {
        let mut s = Services::default();
        let d = EndKey::Ip("10.0.0.1".parse().unwrap());
        s.preload(d, 0, &[Service::Port(6, 104)]);
        let grace = |first: Micros| first + 100;
        assert!(!s.observe(d, Service::Port(6, 104), 1000, grace));
        assert!(s.observe(d, Service::Port(6, 2761), 1000, grace));
    }
}
