//! Devices: who is on the network, what addresses each one uses and where
//! they came from, the names it gives itself, and the events a security
//! office wants to hear about (a new device, an address taken over).
//!
//! The hot path's [`Inventory`] learns from evidence — the first frame of a
//! flow direction, an ARP packet, a DHCP message, an application record —
//! never from every packet, and reports what changed as owned records.

pub mod assets;
pub mod bindings;
pub mod classes;
pub mod classify;
pub mod evidence;
pub mod facts;
pub mod fingerprint;
pub mod grade;
pub mod inventory;
pub mod oui;
pub mod plan;
pub mod rules;
pub mod senders;

pub use inventory::{Inventory, InventoryCounters, InventoryOptions};

use crate::net::Mac;
use crate::time::Micros;
use std::fmt;
use std::net::IpAddr;

/// What a device is known by: its MAC, or — for a host seen only behind a
/// router on a routed SPAN port, whose frames all carry the router's MAC —
/// its IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKey {
    /// A device on the mirrored segment.
    Mac(Mac),
    /// A host behind a router, kept apart by its address.
    Ip(IpAddr),
}

impl DeviceKey {
    /// The MAC, for a device on the segment.
    pub fn mac(&self) -> Option<Mac> {
        match self {
            DeviceKey::Mac(m) => Some(*m),
            DeviceKey::Ip(_) => None,
        }
    }
}

impl fmt::Display for DeviceKey {
    /// The database's `device` column: the MAC as `aa:bb:cc:dd:ee:ff`, or the IP.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceKey::Mac(m) => f.write_str(m.text().as_str()),
            DeviceKey::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// How medtap learned that a device uses an IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpSource {
    /// The device sent an IP packet from that address.
    Ip,
    /// The device claimed the address in an ARP packet.
    Arp,
    /// A DHCP server leased the address to the device (DHCPACK).
    Dhcp,
}

impl IpSource {
    /// Stable name used in the database.
    pub fn name(self) -> &'static str {
        match self {
            IpSource::Ip => "ip",
            IpSource::Arp => "arp",
            IpSource::Dhcp => "dhcp",
        }
    }
}

/// A device's role on the network, when medtap recognised one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Forwards other hosts' packets: carries many source addresses or
    /// addresses outside the local networks.
    Router,
}

impl Role {
    /// Stable name used in the database and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Role::Router => "router",
        }
    }
}

/// A manufacturer from the IEEE registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VendorInfo {
    /// The registry's organisation name.
    pub organization: &'static str,
    /// Whether `rules/medical_vendors.toml` lists it as a medical manufacturer.
    pub medical: bool,
}

/// A device seen (new, or last-seen time or role moved on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device.
    pub key: DeviceKey,
    /// First frame from it.
    pub first_seen: Micros,
    /// Latest frame from it.
    pub last_seen: Micros,
    /// Its manufacturer by MAC prefix.
    pub vendor: Option<VendorInfo>,
    /// A locally administered (often randomised) MAC: no manufacturer.
    pub locally_administered: bool,
    /// Its role, once recognised.
    pub role: Option<Role>,
}

/// A device ↔ IP binding seen (new, or last-seen time moved on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceIpRecord {
    /// The device.
    pub device: DeviceKey,
    /// The address it used.
    pub ip: IpAddr,
    /// First use.
    pub first_seen: Micros,
    /// Latest use.
    pub last_seen: Micros,
    /// How the binding was learned (first source wins).
    pub source: IpSource,
}

/// Kinds of name a device gives itself or is given in a protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// DHCP option 12.
    Hostname,
    /// DHCP option 81.
    Fqdn,
    /// DHCP option 60.
    DhcpVendorClass,
    /// DHCP option 55 as "1,3,6,15".
    DhcpFingerprint,
    /// DHCP option 61, hex.
    DhcpClientId,
    /// A DICOM AE title it used (calling as requestor, called as acceptor).
    DicomAeTitle,
    /// An HL7 application (MSH-3 when sending, MSH-5 when receiving).
    Hl7App,
    /// An MQTT client identifier.
    MqttClientId,
}

impl NameKind {
    /// Stable name used in the database and as the `names` key in JSON.
    pub fn name(self) -> &'static str {
        match self {
            NameKind::Hostname => "hostname",
            NameKind::Fqdn => "fqdn",
            NameKind::DhcpVendorClass => "dhcp_vendor_class",
            NameKind::DhcpFingerprint => "dhcp_fingerprint",
            NameKind::DhcpClientId => "dhcp_client_id",
            NameKind::DicomAeTitle => "dicom_ae_titles",
            NameKind::Hl7App => "hl7_apps",
            NameKind::MqttClientId => "mqtt_client_ids",
        }
    }

    /// Whether a device has one current value (the latest) rather than a set.
    pub fn single(self) -> bool {
        matches!(
            self,
            NameKind::Hostname
                | NameKind::Fqdn
                | NameKind::DhcpVendorClass
                | NameKind::DhcpFingerprint
                | NameKind::DhcpClientId
        )
    }
}

/// A name seen for a device (new, or seen again after a while).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameRecord {
    /// The device.
    pub device: DeviceKey,
    /// Which name.
    pub kind: NameKind,
    /// The value as kept (see [`crate::proto::text`]): verbatim, bounded.
    pub value: Box<str>,
    /// When.
    pub ts: Micros,
}

/// What happened to a device (the `device_events` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A device appeared.
    NewDevice,
    /// A device started using a new address.
    NewIp,
    /// A DHCP client released its address (DHCPRELEASE).
    IpReleased,
    /// A DHCP client sent a new hostname.
    HostnameChange,
    /// A DHCP client sent a new vendor class.
    VendorClassChange,
    /// A second MAC claimed an address another MAC holds.
    IpConflict,
    /// A new MAC claimed the address of a router (gateway).
    GatewayIpClaimed,
    /// One MAC claimed many addresses in ARP within minutes (spoofing).
    ManyIpsClaimed,
    /// The hospital's IP plan broken: an address registered to another
    /// device, a registered device off its address, or an unassigned
    /// address in a statically planned network.
    IpTheft,
    /// The device's role changed (it was recognised as a router).
    RoleChange,
    /// Its class changed (detail: old → new, and the evidence that moved it).
    ClassChange,
}

impl ChangeKind {
    /// Stable name used in the database and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::NewDevice => "new_device",
            ChangeKind::NewIp => "new_ip",
            ChangeKind::IpReleased => "ip_released",
            ChangeKind::HostnameChange => "hostname_change",
            ChangeKind::VendorClassChange => "vendor_class_change",
            ChangeKind::IpConflict => "ip_conflict",
            ChangeKind::GatewayIpClaimed => "gateway_ip_claimed",
            ChangeKind::ManyIpsClaimed => "many_ips_claimed",
            ChangeKind::IpTheft => "ip_theft",
            ChangeKind::RoleChange => "role_change",
            ChangeKind::ClassChange => "class_change",
        }
    }
}

/// The frame or message that showed a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// An IP packet from the address.
    IpPacket,
    /// An ARP request naming the address as its sender.
    ArpRequest,
    /// An ARP reply from the address.
    ArpReply,
    /// A gratuitous ARP (sender and target address equal).
    GratuitousArp,
    /// A DHCP message (type in the record's detail or the dhcp table).
    Dhcp,
    /// A DICOM, HL7 or MQTT record.
    Application,
}

impl Evidence {
    /// Stable name used in the database and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Evidence::IpPacket => "ip_packet",
            Evidence::ArpRequest => "arp_request",
            Evidence::ArpReply => "arp_reply",
            Evidence::GratuitousArp => "gratuitous_arp",
            Evidence::Dhcp => "dhcp",
            Evidence::Application => "application",
        }
    }
}

/// One device event with its evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRecord {
    /// When.
    pub ts: Micros,
    /// The device it happened to (for a conflict: the newcomer).
    pub device: DeviceKey,
    /// What.
    pub kind: ChangeKind,
    /// The address concerned.
    pub ip: Option<IpAddr>,
    /// The other MAC of a conflict (the address's holder).
    pub other_mac: Option<Mac>,
    /// The frame or message that showed it.
    pub evidence: Evidence,
    /// How the holder held the address, for a conflict.
    pub held_by: Option<IpSource>,
    /// When the holder last used the address, for a conflict.
    pub held_until: Option<Micros>,
    /// A short explanation or the new value (hostname, vendor class),
    /// verbatim and bounded; escaped when printed.
    pub detail: Option<Box<str>>,
}

impl ChangeRecord {
    /// An event with no conflict fields and no detail.
    pub fn new(ts: Micros, device: DeviceKey, kind: ChangeKind, evidence: Evidence) -> Self {
        ChangeRecord {
            ts,
            device,
            kind,
            ip: None,
            other_mac: None,
            evidence,
            held_by: None,
            held_until: None,
            detail: None,
        }
    }
}

/// The manufacturer of `mac` from the IEEE registry shipped in `rules/`
/// (none for a locally administered or group address).
pub fn vendor_of(mac: Mac) -> Option<VendorInfo> {
    oui::Vendors::builtin().lookup(mac).map(|v| VendorInfo {
        organization: v.organization,
        medical: v.medical,
    })
}

#[cfg(test)]
mod tests;
