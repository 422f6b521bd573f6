//! Devices: who is on the network, by MAC, and which IPs each one uses.

pub mod assets;
pub mod inventory;
pub mod oui;
pub mod senders;

pub use inventory::{Inventory, InventoryCounters};

use crate::net::Mac;
use crate::time::Micros;
use std::net::IpAddr;

/// How medtap learned that a MAC uses an IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpSource {
    /// The MAC sent an IP packet from that address.
    Ip,
    /// The MAC claimed the address in an ARP packet.
    Arp,
}

impl IpSource {
    /// Stable name used in the database.
    pub fn name(self) -> &'static str {
        match self {
            IpSource::Ip => "ip",
            IpSource::Arp => "arp",
        }
    }
}

/// A device seen (new, or last-seen time moved on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device's MAC.
    pub mac: Mac,
    /// First frame from it.
    pub first_seen: Micros,
    /// Latest frame from it.
    pub last_seen: Micros,
}

/// A MAC ↔ IP binding seen (new, or last-seen time moved on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceIpRecord {
    /// The device's MAC.
    pub mac: Mac,
    /// The address it used.
    pub ip: IpAddr,
    /// First use.
    pub first_seen: Micros,
    /// Latest use.
    pub last_seen: Micros,
    /// How the binding was learned (first source wins).
    pub source: IpSource,
}
