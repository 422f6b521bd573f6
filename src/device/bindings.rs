//! Who holds each local address: the IP → MAC side of the inventory, and
//! the rules that turn a second MAC's claim into a conflict.
//!
//! A MAC holds an address while its DHCP lease runs or while it keeps
//! using it (an IP packet or ARP from it within [`HOLD`]). Another MAC
//! claiming a held address — by gratuitous ARP, an ARP reply or request,
//! or by sending from it — is a conflict; the holder keeps the address, so
//! its own later ARP (RFC 5227 §2.4 defence) or traffic is not a second
//! conflict, and the same pair is reported again only after [`REPEAT`].
//! Once the holder has been silent past [`HOLD`] with no lease left, a new
//! MAC simply takes the address over (a normal reassignment).
//!
//! A DHCPACK moves an address to its client without a conflict: the
//! server is the authority on its pool.
//!
//! Addresses are kept per VLAN ([`Address`]): a mirror port that carries
//! several VLANs may carry overlapping address plans, and the same address
//! on two VLANs is two addresses, not a conflict.

use super::IpSource;
use crate::net::Mac;
use crate::time::{Micros, SECOND};
use std::collections::HashMap;
use std::net::IpAddr;

/// How long after its last use an address stays held by a MAC.
pub const HOLD: Micros = 10 * 60 * SECOND;
/// How long a conflict between the same two MACs over one address stays
/// reported (a device fighting for its address ARPs every few seconds).
pub const REPEAT: Micros = 10 * 60 * SECOND;

/// An address on one segment: the frame's outer VLAN id (none when
/// untagged) and the IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    /// Outer VLAN id of the frames that carried it.
    pub vlan: Option<u16>,
    /// The IP address.
    pub ip: IpAddr,
}

/// Addresses the table has room for before it first grows.
const INITIAL: usize = 1024;

/// The holder of one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The MAC holding it.
    pub mac: Mac,
    /// How it came to hold it.
    pub source: IpSource,
    /// Since when.
    pub since: Micros,
    /// Its latest use.
    pub last: Micros,
    /// End of its DHCP lease (`Micros::MIN` when none).
    pub lease_until: Micros,
    /// The last MAC reported in conflict with it, and when.
    contender: Option<(Mac, Micros)>,
}

impl Holder {
    /// Whether the holder still holds the address at `ts`.
    pub fn holds(&self, ts: Micros) -> bool {
        self.lease_until > ts || ts.saturating_sub(self.last) <= HOLD
    }
}

/// What a claim did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The claimant already held the address (or a defence by its holder).
    Held,
    /// The claimant holds it now (it was free, or its holder had left it).
    Taken {
        /// The previous holder, if one had left it.
        from: Option<Holder>,
    },
    /// Another MAC holds it: a conflict to report.
    Conflict(Holder),
    /// A conflict already reported within [`REPEAT`].
    Repeated,
    /// The table is full: not tracked (counted).
    Untracked,
}

/// The address table, bounded.
#[derive(Debug)]
pub struct Bindings {
    holders: HashMap<Address, Holder, foldhash::fast::RandomState>,
    max: usize,
    untracked: u64,
}

impl Bindings {
    /// A table of at most `max` addresses. It starts small and grows with
    /// the addresses seen (a new address is an event, not a packet): a
    /// table sized for the bound up front costs its pages' first touch
    /// on the hot path.
    pub fn new(max: usize) -> Bindings {
        Bindings {
            holders: HashMap::with_capacity_and_hasher(max.min(INITIAL), Default::default()),
            max,
            untracked: 0,
        }
    }

    /// Claims that were not tracked because the table was full.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// The holder of `addr`, if any.
    pub fn holder(&self, addr: &Address) -> Option<&Holder> {
        self.holders.get(addr)
    }

    /// `mac` claims `addr` at `ts` by `source` (a DHCPACK passes the lease
    /// end in `lease_until`).
    pub fn claim(
        &mut self,
        addr: Address,
        mac: Mac,
        source: IpSource,
        ts: Micros,
        lease_until: Option<Micros>,
    ) -> Claim {
        let fresh = Holder {
            mac,
            source,
            since: ts,
            last: ts,
            lease_until: lease_until.unwrap_or(Micros::MIN),
            contender: None,
        };
        let full = self.holders.len() >= self.max;
        let Some(h) = self.holders.get_mut(&addr) else {
            if full {
                self.untracked += 1;
                return Claim::Untracked;
            }
            self.holders.insert(addr, fresh);
            return Claim::Taken { from: None };
        };
        if h.mac == mac {
            h.last = h.last.max(ts);
            if let Some(until) = lease_until {
                h.lease_until = h.lease_until.max(until);
                h.source = IpSource::Dhcp;
            }
            return Claim::Held;
        }
        if source == IpSource::Dhcp || !h.holds(ts) {
            let from = *h;
            *h = fresh;
            return Claim::Taken { from: Some(from) };
        }
        match h.contender {
            Some((m, at)) if m == mac && ts.saturating_sub(at) < REPEAT => Claim::Repeated,
            _ => {
                let before = *h;
                h.contender = Some((mac, ts));
                Claim::Conflict(before)
            }
        }
    }

    /// Moves the holder's last use of `addr` to `ts`, if `mac` holds it.
    pub fn touch(&mut self, addr: &Address, mac: Mac, ts: Micros) {
        if let Some(h) = self.holders.get_mut(addr) {
            if h.mac == mac {
                h.last = h.last.max(ts);
            }
        }
    }

    /// `mac` gives `addr` up (DHCPRELEASE): true when it held it.
    pub fn release(&mut self, addr: &Address, mac: Mac) -> bool {
        match self.holders.get(addr) {
            Some(h) if h.mac == mac => {
                self.holders.remove(addr);
                true
            }
            _ => false,
        }
    }

    /// Forgets what `mac` holds by `source` among `ips`, on any VLAN (a MAC
    /// recognised as a router held the addresses it forwarded for). Walks
    /// the table: once per router.
    pub fn forget(&mut self, ips: &[IpAddr], mac: Mac, source: IpSource) {
        self.holders
            .retain(|a, h| !(h.mac == mac && h.source == source && ips.contains(&a.ip)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac([0, 0x10, 0x20, 0, 0, n])
    }
    const IP: Address = Address {
        vlan: None,
        ip: IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5)),
    };

    #[test]
    fn a_second_mac_on_a_held_address_is_one_conflict_and_the_holder_defends() {
        let mut b = Bindings::new(16);
        let lease = Some(3600 * SECOND);
        assert_eq!(
            b.claim(IP, mac(1), IpSource::Dhcp, 0, lease),
            Claim::Taken { from: None }
        );
        assert_eq!(b.claim(IP, mac(1), IpSource::Ip, SECOND, None), Claim::Held);
        match b.claim(IP, mac(2), IpSource::Arp, 2 * SECOND, None) {
            Claim::Conflict(h) => {
                assert_eq!((h.mac, h.source), (mac(1), IpSource::Dhcp));
            }
            other => panic!("{other:?}"),
        }
        // The holder defends (RFC 5227): no conflict; the newcomer insists
        // within the window: not reported again.
        assert_eq!(
            b.claim(IP, mac(1), IpSource::Arp, 3 * SECOND, None),
            Claim::Held
        );
        assert_eq!(
            b.claim(IP, mac(2), IpSource::Arp, 4 * SECOND, None),
            Claim::Repeated
        );
        assert_eq!(b.holder(&IP).unwrap().mac, mac(1), "the holder keeps it");
        // After the window it is reported again.
        assert!(matches!(
            b.claim(IP, mac(2), IpSource::Ip, 3 * SECOND + REPEAT, None),
            Claim::Conflict(_)
        ));
    }

    #[test]
    fn an_address_left_by_its_holder_is_taken_over_without_conflict() {
        let mut b = Bindings::new(16);
        b.claim(IP, mac(1), IpSource::Ip, 0, None);
        b.touch(&IP, mac(1), 5 * SECOND);
        assert!(matches!(
            b.claim(IP, mac(2), IpSource::Arp, 5 * SECOND + HOLD - 1, None),
            Claim::Conflict(_)
        ));
        let later = 5 * SECOND + HOLD + 1;
        match b.claim(IP, mac(3), IpSource::Arp, later, None) {
            Claim::Taken { from: Some(h) } => assert_eq!(h.mac, mac(1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lease_holds_past_silence_and_dhcp_reassigns_and_release_frees() {
        let mut b = Bindings::new(16);
        b.claim(IP, mac(1), IpSource::Dhcp, 0, Some(2 * HOLD));
        assert!(matches!(
            b.claim(IP, mac(2), IpSource::Ip, HOLD + SECOND, None),
            Claim::Conflict(_)
        ));
        // The server hands the address to another client: no conflict.
        assert!(matches!(
            b.claim(
                IP,
                mac(3),
                IpSource::Dhcp,
                HOLD + 2 * SECOND,
                Some(3 * HOLD)
            ),
            Claim::Taken { from: Some(_) }
        ));
        assert!(!b.release(&IP, mac(1)), "not its address any more");
        assert!(b.release(&IP, mac(3)));
        assert!(b.holder(&IP).is_none());
    }

    #[test]
    fn the_same_address_on_two_vlans_is_two_addresses() {
        let mut b = Bindings::new(16);
        let on = |vlan| Address {
            vlan: Some(vlan),
            ..IP
        };
        b.claim(on(10), mac(1), IpSource::Ip, 0, None);
        assert_eq!(
            b.claim(on(20), mac(2), IpSource::Arp, SECOND, None),
            Claim::Taken { from: None }
        );
        assert!(matches!(
            b.claim(on(10), mac(2), IpSource::Arp, 2 * SECOND, None),
            Claim::Conflict(_)
        ));
    }

    #[test]
    fn a_full_table_counts_what_it_cannot_track() {
        let mut b = Bindings::new(1);
        b.claim(IP, mac(1), IpSource::Ip, 0, None);
        let other = Address {
            vlan: None,
            ip: "10.0.0.6".parse().unwrap(),
        };
        assert_eq!(
            b.claim(other, mac(2), IpSource::Ip, 0, None),
            Claim::Untracked
        );
        assert_eq!(b.untracked(), 1);
    }
}
