//! The hospital's IP plan as the hot path checks it: which address the
//! asset list registers to which MAC, and which networks are planned
//! statically (every address in them must belong to a registered asset).
//!
//! DB3205/T and the hospital's policy bind each device's IP to its MAC:
//! "using an unassigned IP, an IP assigned to someone else, or moving an
//! assigned IP to a laptop" is IP theft. Checked once per new binding.

use crate::net::{Cidr, Mac};
use std::collections::HashMap;
use std::net::IpAddr;

/// Registered addresses and statically planned networks.
#[derive(Clone, Debug, Default)]
pub struct IpPlan {
    /// Registered IP → the MAC registered with it (if the asset names one)
    /// and the asset list line.
    by_ip: HashMap<IpAddr, (Option<Mac>, usize)>,
    /// Registered MAC → the IP registered with it (if any) and the line.
    by_mac: HashMap<Mac, (Option<IpAddr>, usize)>,
    static_networks: Vec<Cidr>,
}

/// How a new binding breaks the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// The address is registered to another MAC (asset list line).
    RegisteredToOther(Mac, usize),
    /// The MAC is registered with another address (asset list line).
    OffRegisteredIp(IpAddr, usize),
    /// The address is in a static network and no asset holds it.
    Unassigned,
}

impl IpPlan {
    /// The plan from the asset list's (MAC, IP, line) entries and the
    /// statically planned networks.
    pub fn new(
        assets: impl IntoIterator<Item = (Option<Mac>, Option<IpAddr>, usize)>,
        static_networks: Vec<Cidr>,
    ) -> IpPlan {
        let mut plan = IpPlan {
            static_networks,
            ..IpPlan::default()
        };
        for (mac, ip, line) in assets {
            if let Some(ip) = ip {
                plan.by_ip.insert(ip, (mac, line));
            }
            if let Some(mac) = mac {
                plan.by_mac.insert(mac, (ip, line));
            }
        }
        plan
    }

    /// Whether the asset list registers `mac`.
    pub fn registers_mac(&self, mac: &Mac) -> bool {
        self.by_mac.contains_key(mac)
    }

    /// What is wrong, if anything, with `mac` using `ip`.
    pub fn check(&self, mac: Mac, ip: IpAddr) -> Option<Breach> {
        let registered_ip = self.by_ip.get(&ip);
        if let Some(&(Some(owner), line)) = registered_ip {
            if owner != mac {
                return Some(Breach::RegisteredToOther(owner, line));
            }
        }
        if let Some(&(Some(registered), line)) = self.by_mac.get(&mac) {
            // Only an address of the same family, and not link-local
            // IPv6 (every interface has one besides its planned address).
            if registered != ip && registered.is_ipv4() == ip.is_ipv4() && !link_local(ip) {
                return Some(Breach::OffRegisteredIp(registered, line));
            }
        }
        let planned = self.static_networks.iter().any(|n| n.contains(ip));
        (planned && registered_ip.is_none()).then_some(Breach::Unassigned)
    }
}

fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_breaches_of_the_plan() {
        let pump = Mac([0x00, 0x12, 0x34, 0, 0, 1]);
        let laptop = Mac([0x00, 0x12, 0x34, 0, 0, 2]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let plan = IpPlan::new(
            [(Some(pump), Some(ip("10.1.0.5")), 3)],
            vec![Cidr::parse("10.1.0.0/24").unwrap()],
        );
        assert_eq!(plan.check(pump, ip("10.1.0.5")), None);
        assert_eq!(
            plan.check(laptop, ip("10.1.0.5")),
            Some(Breach::RegisteredToOther(pump, 3))
        );
        assert_eq!(plan.check(laptop, ip("10.1.0.9")), Some(Breach::Unassigned));
        assert_eq!(
            plan.check(pump, ip("10.2.0.7")),
            Some(Breach::OffRegisteredIp(ip("10.1.0.5"), 3))
        );
        assert_eq!(
            plan.check(pump, ip("10.1.0.6")),
            Some(Breach::OffRegisteredIp(ip("10.1.0.5"), 3)),
            "off its address, even inside the static network"
        );
        assert_eq!(
            plan.check(pump, ip("fe80::1")),
            None,
            "link-local v6 is no breach"
        );
        assert_eq!(
            plan.check(laptop, ip("10.2.0.7")),
            None,
            "unplanned, unregistered"
        );
        assert!(plan.registers_mac(&pump) && !plan.registers_mac(&laptop));
    }
}
