//! The in-memory device table on the hot path.
//!
//! Devices are keyed by MAC, or by IP for hosts behind a router (see
//! [`DeviceKey`]). The table learns from evidence: the first frame of each
//! flow direction, ARP packets, DHCP messages and application records
//! (DICOM AE titles, HL7 applications, MQTT client ids). New devices,
//! bindings, names and events are reported at once; last-seen times in
//! batches by [`Inventory::flush`], so the hot path does no per-packet I/O.
//!
//! Frames of a flow reach the table only when their direction's sender is
//! new ([`Inventory::observe_flow`]): later frames move the direction's
//! last-seen time in a per-flow cache ([`super::senders`]), which reaches
//! the device at the next flush. The MAC lookup on every packet was 5–7% of
//! all CPU.
//!
//! One owner of the truth: the table is a plain value behind `&mut self`.
//! Several capture workers would share it by sending it their evidence
//! (these same calls) over a channel; lookups the workers need (is this
//! MAC a router?) are answered from its state.

use super::bindings::{Address, Bindings, Claim, Holder};
use super::classify::{
    AssetClasses, ClassRecord, ClassSource, Classification, Classifier, UNKNOWN,
};
use super::facts::{FactRef, Facts, TextKind};
use super::plan::{Breach, IpPlan};
use super::senders::{FlowSenders, Sender};
use super::{
    ChangeKind, ChangeRecord, DeviceIpRecord, DeviceKey, DeviceRecord, Evidence, IpSource,
    NameKind, NameRecord, Role, VendorInfo,
};
use crate::decode::{Arp, Network, PacketView};
use crate::flow::table::FlowRef;
use crate::net::{Cidr, Mac};
use crate::time::{Micros, SECOND};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;

/// IPs remembered per device; older bindings stay in the database.
const IPS_PER_DEVICE: usize = 8;
/// Names remembered per device (to report each once per refresh period).
const NAMES_PER_DEVICE: usize = 12;
/// A MAC that sends from more distinct local addresses than it has IP
/// slots, all within this window, forwards for others: a router.
const ROUTER_WINDOW: Micros = 10 * 60 * SECOND;
/// Distinct addresses one MAC may claim in ARP within [`SPOOF_WINDOW`]
/// before it is reported as claiming many (ARP spoofing).
const SPOOF_MIN_IPS: usize = 6;
/// See [`SPOOF_MIN_IPS`].
const SPOOF_WINDOW: Micros = 10 * 60 * SECOND;
/// Devices the index has room for before it first grows.
const INITIAL_DEVICES: usize = 1024;
/// A device's use of an address it is known to use is checked against the
/// address table at most this often (its first use always is): a busy
/// device opens many flows, and its hold on the address is renewed at
/// each flush anyway.
const RECLAIM_EVERY: Micros = 60 * SECOND;
/// Longest detail text of a device event.
const MAX_DETAIL: usize = 255;

#[derive(Clone, Copy, Debug)]
struct IpSlot {
    ip: IpAddr,
    /// Outer VLAN id the address was used on.
    vlan: Option<u16>,
    first: Micros,
    last: Micros,
    reported: Micros,
    source: IpSource,
}

#[derive(Clone, Copy, Debug)]
struct NameSeen {
    kind: NameKind,
    hash: u64,
    emitted: Micros,
}

#[derive(Clone, Debug)]
struct Device {
    key: DeviceKey,
    first: Micros,
    last: Micros,
    reported: Micros,
    vendor: Option<VendorInfo>,
    locally_administered: bool,
    role: Option<Role>,
    ips: [Option<IpSlot>; IPS_PER_DEVICE],
    /// Distinct addresses claimed in ARP lately, for spoofing.
    arp_claims: [Option<(IpAddr, Micros)>; SPOOF_MIN_IPS],
    many_ips_reported: Option<Micros>,
    names: [Option<NameSeen>; NAMES_PER_DEVICE],
    /// What identifies it (allocated at its first fact or class).
    profile: Option<Box<Profile>>,
}

/// A device's facts and the class they gave.
#[derive(Clone, Debug, Default)]
struct Profile {
    facts: Facts,
    class: Option<Classification>,
}

impl Device {
    fn record(&self) -> DeviceRecord {
        DeviceRecord {
            key: self.key,
            first_seen: self.first,
            last_seen: self.last,
            vendor: self.vendor,
            locally_administered: self.locally_administered,
            role: self.role,
        }
    }

    /// Whether `ip` is one of the device's own addresses (claimed in ARP
    /// or leased by DHCP), as opposed to one it forwarded packets from.
    fn owns(&self, ip: IpAddr) -> bool {
        self.ips
            .iter()
            .flatten()
            .any(|s| s.ip == ip && s.source != IpSource::Ip)
    }
}

/// Counters shown by `medtap status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InventoryCounters {
    /// Devices in the table.
    pub devices: u64,
    /// Sightings of devices not tracked because the table was full: an
    /// ARP or non-IP frame, or the first frame of a flow direction.
    pub untracked: u64,
    /// Address claims not tracked because the address table was full.
    pub bindings_untracked: u64,
}

/// Emitted by the inventory.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceEvent {
    /// A device appeared, or its last-seen or role moved on.
    Seen(DeviceRecord),
    /// A binding appeared or its last-seen moved on.
    Ip(DeviceIpRecord),
    /// A name seen (new, or again after the refresh period).
    Name(Box<NameRecord>),
    /// Something happened to a device.
    Change(Box<ChangeRecord>),
    /// Its classification changed.
    Class(Box<ClassRecord>),
}

/// What the inventory is built from (the config's `[identity]`).
#[derive(Clone, Debug, Default)]
pub struct InventoryOptions {
    /// Most devices tracked at once.
    pub max_devices: usize,
    /// The flow table's size (for the per-flow sender cache).
    pub max_flows: usize,
    /// Networks whose addresses are bound to MACs; a MAC sending from
    /// outside them is a router.
    pub local_networks: Vec<Cidr>,
    /// The asset list's addresses and the statically planned networks.
    pub plan: IpPlan,
    /// How often a name seen again is reported again (its last-seen time).
    pub name_refresh: Micros,
    /// Classes and fingerprint rules.
    pub classifier: Classifier,
    /// The asset list's classes and attributes.
    pub asset_classes: AssetClasses,
}

/// One DHCP message as the inventory learns from it: the parser's record
/// reduced to what identity needs (strings already kept and bounded).
#[derive(Clone, Copy, Debug, Default)]
pub struct DhcpEvidence<'a> {
    /// The client (chaddr).
    pub client: Option<Mac>,
    /// Sent by a server (BOOTREPLY).
    pub from_server: bool,
    /// Option 53.
    pub message_type: Option<u8>,
    /// ciaddr.
    pub ciaddr: Option<IpAddr>,
    /// yiaddr.
    pub yiaddr: Option<IpAddr>,
    /// Option 50.
    pub requested_ip: Option<IpAddr>,
    /// Option 51, seconds.
    pub lease_secs: Option<u32>,
    /// Option 12.
    pub hostname: Option<&'a str>,
    /// Option 81's name.
    pub fqdn: Option<&'a str>,
    /// Option 60.
    pub vendor_class: Option<&'a str>,
    /// Option 55 as "1,3,6".
    pub fingerprint: Option<&'a str>,
    /// Option 61 as hex.
    pub client_id: Option<&'a str>,
    /// The MAC that sent a server's message (a DHCP server or relay).
    pub server: Option<Mac>,
    /// Outer VLAN id of the frame that carried the message.
    pub vlan: Option<u16>,
}

/// DHCP message types (RFC 2132 9.6) the inventory acts on.
mod dhcp_type {
    pub const DECLINE: u8 = 4;
    pub const ACK: u8 = 5;
    pub const RELEASE: u8 = 7;
}

/// How a device was seen using an address.
#[derive(Clone, Copy, Debug)]
struct Sighting {
    source: IpSource,
    evidence: Evidence,
    /// End of a DHCP lease, for a DHCPACK.
    lease_until: Option<Micros>,
}

/// How a frame used a binding (see [`Inventory::bind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    /// A binding the device did not have.
    New,
    /// A binding unused for [`RECLAIM_EVERY`].
    Renewed,
    /// A binding in use.
    Known,
}

/// The bounded device table.
pub struct Inventory {
    /// Key → index into `devices`. The map holds only small entries: the
    /// devices themselves sit in a dense vector, so the map's
    /// preallocated buckets stay small and memory grows with the devices
    /// actually seen.
    index: HashMap<DeviceKey, u32, foldhash::fast::RandomState>,
    devices: Vec<Device>,
    max_devices: usize,
    local_networks: Vec<Cidr>,
    plan: IpPlan,
    bindings: Bindings,
    name_refresh: Micros,
    hasher: foldhash::fast::FixedState,
    untracked: u64,
    senders: FlowSenders,
    classifier: Classifier,
    asset_classes: AssetClasses,
}

impl Inventory {
    /// An empty table.
    pub fn new(opts: InventoryOptions) -> Inventory {
        Inventory {
            // Grows with the devices seen (each an event), up to the bound.
            index: HashMap::with_capacity_and_hasher(
                opts.max_devices.min(INITIAL_DEVICES),
                Default::default(),
            ),
            // Reserved, not touched: pages become resident as devices arrive.
            devices: Vec::with_capacity(opts.max_devices),
            max_devices: opts.max_devices,
            local_networks: opts.local_networks,
            plan: opts.plan,
            bindings: Bindings::new(opts.max_devices.saturating_mul(2)),
            name_refresh: opts.name_refresh.max(SECOND),
            hasher: foldhash::fast::FixedState::with_seed(0x6d65_6474_6170),
            untracked: 0,
            senders: FlowSenders::with_capacity(opts.max_flows),
            classifier: opts.classifier,
            asset_classes: opts.asset_classes,
        }
    }

    /// Counters.
    pub fn counters(&self) -> InventoryCounters {
        InventoryCounters {
            devices: self.devices.len() as u64,
            untracked: self.untracked,
            bindings_untracked: self.bindings.untracked(),
        }
    }

    /// Learns from a frame the flow table put in `flow`. Only the first
    /// frame of each direction, or one from a new source MAC, goes through
    /// the device table; the others only move the direction's last-seen
    /// time, which [`Inventory::flush`] hands on. The result is the same
    /// as [`Inventory::observe`] on every frame.
    pub fn observe_flow(
        &mut self,
        flow: &FlowRef,
        ts: Micros,
        view: &PacketView<'_>,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let (Some(mac), Network::Ip(ip)) = (view.src_mac, &view.network) else {
            self.observe(ts, view, emit);
            return;
        };
        let sender = Sender {
            flow_id: flow.flow_id,
            mac,
            ip: ip.src,
            vlan: view.vlan,
            last: ts,
            settled: ts,
        };
        match self.senders.get_mut(flow.slot, flow.to_server) {
            Some(s) if s.same(&sender) => s.last = s.last.max(ts),
            cached => {
                // A new flow in this slot, or a new MAC on this direction:
                // settle what the old sender did, then learn from the frame.
                let old = cached.replace(sender);
                if let Some(old) = old {
                    self.settle(&old);
                }
                self.observe(ts, view, emit);
            }
        }
    }

    /// Learns from one frame.
    pub fn observe(
        &mut self,
        ts: Micros,
        view: &PacketView<'_>,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let Some(mac) = view.src_mac.filter(|m| usable(*m)) else {
            return;
        };
        match view.network {
            Network::Ip(ip) => self.observe_ip(mac, ip.src, view.vlan, ts, emit),
            Network::Arp(arp) => {
                if self
                    .seen(DeviceKey::Mac(mac), ts, arp_evidence(&arp), emit)
                    .is_some()
                {
                    self.observe_arp(&arp, view.vlan, ts, emit);
                }
            }
            Network::Other => {
                self.seen(DeviceKey::Mac(mac), ts, Evidence::IpPacket, emit);
            }
        }
    }

    /// Learns from a DHCP message: the client's names, its lease (ACK),
    /// its release, its decline.
    pub fn observe_dhcp(
        &mut self,
        ts: Micros,
        m: &DhcpEvidence<'_>,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        if let Some(server) = m.server.filter(|s| m.from_server && usable(*s)) {
            if let Some(i) = self.seen(DeviceKey::Mac(server), ts, Evidence::Dhcp, emit) {
                self.learn(i, &[FactRef::DhcpServer], ts, emit);
            }
        }
        let Some(client) = m.client.filter(|c| usable(*c)) else {
            return;
        };
        let key = DeviceKey::Mac(client);
        let Some(i) = self.seen(key, ts, Evidence::Dhcp, emit) else {
            return;
        };
        if m.from_server {
            if let (Some(dhcp_type::ACK), Some(ip)) = (m.message_type, m.yiaddr) {
                // Option 51 missing or 0xffffffff: an infinite lease.
                let until = match m.lease_secs {
                    Some(s) if s != u32::MAX => ts.saturating_add(i64::from(s) * SECOND),
                    _ => Micros::MAX,
                };
                let addr = Address { vlan: m.vlan, ip };
                let how = Sighting {
                    source: IpSource::Dhcp,
                    evidence: Evidence::Dhcp,
                    lease_until: Some(until),
                };
                self.claim(i, client, addr, ts, how, emit);
            }
            return;
        }
        let names = [
            (NameKind::Hostname, m.hostname),
            (NameKind::Fqdn, m.fqdn),
            (NameKind::DhcpVendorClass, m.vendor_class),
            (NameKind::DhcpFingerprint, m.fingerprint),
            (NameKind::DhcpClientId, m.client_id),
        ];
        for (kind, value) in names {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                self.name(i, kind, v, ts, emit);
            }
        }
        let mut facts = [FactRef::DhcpServer; 3];
        let mut n = 0;
        for (k, v) in [
            (TextKind::Hostname, m.hostname),
            (TextKind::DhcpVendorClass, m.vendor_class),
            (TextKind::DhcpFingerprint, m.fingerprint),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                facts[n] = FactRef::Text(k, v);
                n += 1;
            }
        }
        self.learn(i, &facts[..n], ts, emit);
        match m.message_type {
            Some(dhcp_type::RELEASE) => {
                if let Some(ip) = m.ciaddr {
                    if self.bindings.release(&Address { vlan: m.vlan, ip }, client) {
                        let mut c =
                            ChangeRecord::new(ts, key, ChangeKind::IpReleased, Evidence::Dhcp);
                        c.ip = Some(ip);
                        emit(DeviceEvent::Change(Box::new(c)));
                    }
                }
            }
            Some(dhcp_type::DECLINE) => {
                let mut c = ChangeRecord::new(ts, key, ChangeKind::IpConflict, Evidence::Dhcp);
                c.ip = m.requested_ip;
                c.detail = Some("DHCPDECLINE: the client found the address in use".into());
                emit(DeviceEvent::Change(Box::new(c)));
            }
            _ => {}
        }
    }

    /// Learns a name from an application record of a flow: `mac` and
    /// `ip` are the side of the flow that used it.
    pub fn observe_name(
        &mut self,
        ts: Micros,
        mac: Option<Mac>,
        ip: IpAddr,
        kind: NameKind,
        value: &str,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        if value.is_empty() {
            return;
        }
        let Some(key) = self.key_for(mac, ip) else {
            return;
        };
        if let Some(i) = self.seen(key, ts, Evidence::Application, emit) {
            self.name(i, kind, value, ts, emit);
        }
    }

    /// Learns what a flow side did (from an application record or a
    /// finished flow): `mac` and `ip` are that side. Reclassifies the
    /// device when a fact is new.
    pub fn observe_facts(
        &mut self,
        ts: Micros,
        mac: Option<Mac>,
        ip: IpAddr,
        facts: &[FactRef<'_>],
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        // Facts no rule reads change no class: kept neither (a busy
        // server answers on ports no rule names, flow after flow).
        if !facts.iter().any(|f| self.classifier.reads(f)) {
            return;
        }
        let Some(key) = self.key_for(mac, ip) else {
            return;
        };
        if let Some(i) = self.seen(key, ts, Evidence::Application, emit) {
            self.learn(i, facts, ts, emit);
        }
    }

    /// Replaces the IP plan, the classes and fingerprints and the asset
    /// list's classes (a reload), then classifies every device again with
    /// them: a class registered or changed in the asset list applies at
    /// once. Devices, addresses and facts are kept.
    pub fn set_rules(
        &mut self,
        plan: IpPlan,
        classifier: Classifier,
        asset_classes: AssetClasses,
        ts: Micros,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        self.plan = plan;
        self.classifier = classifier;
        self.asset_classes = asset_classes;
        for i in 0..self.devices.len() {
            self.reclassify(i, ts, emit);
        }
    }

    /// The device at `ip` seen with `mac` (a flow's end): `None` for an
    /// address outside the local networks, or not unicast (its frames
    /// carry a router's MAC, or no device's).
    pub fn device_at(&self, mac: Option<Mac>, ip: IpAddr) -> Option<DeviceKey> {
        if !self.is_local_unicast(ip) {
            return None;
        }
        self.key_for(mac, ip)
    }

    /// [`Inventory::device_at`] with the device's class
    /// ([`Inventory::class_of`]), found with one lookup of the device in
    /// the common case (a flow end's MAC): the policy asks this per flow
    /// and per protocol event.
    pub fn device_and_class_at(
        &self,
        mac: Option<Mac>,
        ip: IpAddr,
    ) -> Option<(DeviceKey, Option<&Classification>)> {
        if !self.is_local_unicast(ip) {
            return None;
        }
        fn class(d: &Device) -> Option<&Classification> {
            d.profile.as_ref()?.class.as_ref()
        }
        let by_mac =
            mac.and_then(|m| Some(&self.devices[*self.index.get(&DeviceKey::Mac(m))? as usize]));
        let router = by_mac.is_some_and(|d| d.role == Some(Role::Router) && !d.owns(ip));
        match (mac.filter(|m| usable(*m)), router) {
            (Some(m), false) => Some((DeviceKey::Mac(m), by_mac.and_then(class))),
            _ => {
                let key = DeviceKey::Ip(ip);
                let at = self.index.get(&key).map(|&i| &self.devices[i as usize]);
                Some((key, at.and_then(class)))
            }
        }
    }

    /// The class of the device with `key`, if it has one.
    pub fn class_of(&self, key: &DeviceKey) -> Option<&Classification> {
        let &i = self.index.get(key)?;
        self.devices[i as usize].profile.as_ref()?.class.as_ref()
    }

    /// Adds facts to device `i`; any new one reclassifies it.
    fn learn(
        &mut self,
        i: usize,
        facts: &[FactRef<'_>],
        ts: Micros,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let mut new = false;
        for f in facts.iter().filter(|f| self.classifier.reads(f)) {
            let p = self.devices[i].profile.get_or_insert_with(Box::default);
            new |= p.facts.add(f);
        }
        if new {
            self.reclassify(i, ts, emit);
        }
    }

    /// Classifies device `i` again; reports a changed classification, and
    /// a changed class as a device event with the evidence that moved it.
    fn reclassify(&mut self, i: usize, ts: Micros, emit: &mut dyn FnMut(DeviceEvent)) {
        let d = &self.devices[i];
        let empty = Facts::default();
        let facts = d.profile.as_ref().map_or(&empty, |p| &p.facts);
        let ips = d.ips.iter().flatten().map(|s| s.ip);
        let own_ip = match d.key {
            DeviceKey::Ip(ip) => Some(ip),
            DeviceKey::Mac(_) => None,
        };
        let asset = self
            .asset_classes
            .lookup(d.key.mac(), own_ip.into_iter().chain(ips));
        let new = self.classifier.classify(d.vendor, facts, asset);
        let old = d.profile.as_ref().and_then(|p| p.class.as_ref());
        let unchanged = match old {
            Some(old) => old.same_as(&new),
            // Nothing known, nothing to say.
            None => new.class == UNKNOWN && new.evidence.is_empty(),
        };
        if unchanged {
            return;
        }
        let key = d.key;
        let old_class = old.map_or(UNKNOWN, |o| o.class.as_str());
        if old_class != new.class {
            let mut c = ChangeRecord::new(ts, key, ChangeKind::ClassChange, Evidence::Application);
            let old_lines = old.map(|o| o.evidence.as_slice()).unwrap_or_default();
            let why = new
                .evidence
                .iter()
                .find(|l| !old_lines.contains(l))
                .or(new.evidence.first());
            let via = match new.source {
                ClassSource::Asset => "the asset list".to_string(),
                ClassSource::Fingerprint => why.cloned().unwrap_or_default(),
            };
            c.detail = Some(bounded(&format!("{old_class} → {}: {via}", new.class)));
            emit(DeviceEvent::Change(Box::new(c)));
        }
        emit(DeviceEvent::Class(Box::new(ClassRecord {
            device: key,
            ts,
            class: new.clone(),
        })));
        self.devices[i]
            .profile
            .get_or_insert_with(Box::default)
            .class = Some(new);
    }

    /// Reports every device and binding whose last-seen moved since the
    /// last flush (including what flows' later frames did since).
    pub fn flush(&mut self, emit: &mut dyn FnMut(DeviceEvent)) {
        let mut senders = std::mem::take(&mut self.senders);
        senders.settle_all(&mut |s| self.settle(s));
        self.senders = senders;
        for d in self.devices.iter_mut() {
            if d.last > d.reported {
                d.reported = d.last;
                emit(DeviceEvent::Seen(d.record()));
            }
            for s in d.ips.iter_mut().flatten() {
                if s.last > s.reported {
                    s.reported = s.last;
                    emit(DeviceEvent::Ip(ip_record(d.key, s)));
                }
            }
        }
    }

    fn is_local_unicast(&self, ip: IpAddr) -> bool {
        unicast(ip) && self.local_networks.iter().any(|n| n.contains(ip))
    }

    /// The device a flow side belongs to: the MAC's, or — behind a router
    /// — the address's. `None` for a remote address behind a router.
    fn key_for(&self, mac: Option<Mac>, ip: IpAddr) -> Option<DeviceKey> {
        let router = mac.and_then(|m| {
            let i = *self.index.get(&DeviceKey::Mac(m))?;
            let d = &self.devices[i as usize];
            (d.role == Some(Role::Router) && !d.owns(ip)).then_some(())
        });
        match (mac.filter(|m| usable(*m)), router) {
            (Some(m), None) => Some(DeviceKey::Mac(m)),
            _ if self.is_local_unicast(ip) => Some(DeviceKey::Ip(ip)),
            _ => None,
        }
    }

    /// An IP packet from `mac` sent from `src`.
    fn observe_ip(
        &mut self,
        mac: Mac,
        src: IpAddr,
        vlan: Option<u16>,
        ts: Micros,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let Some(i) = self.seen(DeviceKey::Mac(mac), ts, Evidence::IpPacket, emit) else {
            return;
        };
        if !unicast(src) {
            return;
        }
        let local = self.is_local_unicast(src);
        let d = &self.devices[i];
        if d.role == Some(Role::Router) {
            // A host behind the router: kept apart by its address.
            if local && !d.owns(src) {
                let key = DeviceKey::Ip(src);
                if let Some(j) = self.seen(key, ts, Evidence::IpPacket, emit) {
                    let addr = Address { vlan, ip: src };
                    self.bind(j, addr, ts, (IpSource::Ip, Evidence::IpPacket), emit);
                }
            }
            return;
        }
        if !local {
            let detail = format!("forwards packets from {src}, outside the local networks");
            self.become_router(i, mac, ts, detail, emit);
            return;
        }
        let how = Sighting {
            source: IpSource::Ip,
            evidence: Evidence::IpPacket,
            lease_until: None,
        };
        self.claim(i, mac, Address { vlan, ip: src }, ts, how, emit);
    }

    /// An ARP packet: the sender claims its address (a probe, with sender
    /// address 0.0.0.0, claims nothing: RFC 5227 §2.1.1).
    fn observe_arp(
        &mut self,
        arp: &Arp,
        vlan: Option<u16>,
        ts: Micros,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let sender = arp.sender_mac;
        if !usable(sender) || arp.sender_ip.is_unspecified() {
            return;
        }
        let ip = IpAddr::V4(arp.sender_ip);
        if !unicast(ip) {
            return;
        }
        let evidence = arp_evidence(arp);
        let Some(i) = self.seen(DeviceKey::Mac(sender), ts, evidence, emit) else {
            return;
        };
        self.note_arp_claim(i, ip, ts, evidence, emit);
        let how = Sighting {
            source: IpSource::Arp,
            evidence,
            lease_until: None,
        };
        self.claim(i, sender, Address { vlan, ip }, ts, how, emit);
    }

    /// Counts the distinct addresses a MAC claims in ARP; many within
    /// minutes is ARP spoofing (or proxy ARP), reported once per window.
    fn note_arp_claim(
        &mut self,
        i: usize,
        ip: IpAddr,
        ts: Micros,
        evidence: Evidence,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let d = &mut self.devices[i];
        if let Some(c) = d.arp_claims.iter_mut().flatten().find(|c| c.0 == ip) {
            c.1 = c.1.max(ts);
            return;
        }
        let recent = |c: &Option<(IpAddr, Micros)>| {
            c.is_some_and(|(_, t)| ts.saturating_sub(t) <= SPOOF_WINDOW)
        };
        let target = d
            .arp_claims
            .iter()
            .position(|c| !recent(c))
            .unwrap_or_else(|| oldest(&d.arp_claims, |c| c.1));
        let all_recent = d.arp_claims.iter().all(recent);
        d.arp_claims[target] = Some((ip, ts));
        let reported = d
            .many_ips_reported
            .is_some_and(|t| ts.saturating_sub(t) < SPOOF_WINDOW);
        if all_recent && !reported {
            d.many_ips_reported = Some(ts);
            let mut c = ChangeRecord::new(ts, d.key, ChangeKind::ManyIpsClaimed, evidence);
            c.ip = Some(ip);
            c.detail = Some(
                format!(
                    "claimed {} addresses in ARP within {} minutes",
                    SPOOF_MIN_IPS + 1,
                    SPOOF_WINDOW / (60 * SECOND)
                )
                .into(),
            );
            emit(DeviceEvent::Change(Box::new(c)));
        }
    }

    /// `mac` (device `i`) uses `addr`: binds it, checks who holds it and
    /// the hospital's IP plan.
    fn claim(
        &mut self,
        i: usize,
        mac: Mac,
        addr: Address,
        ts: Micros,
        how: Sighting,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let Sighting {
            source,
            evidence,
            lease_until,
        } = how;
        let ip = addr.ip;
        let used = self.bind(i, addr, ts, (source, evidence), emit);
        if self.devices[i].role == Some(Role::Router) && source == IpSource::Ip {
            return;
        }
        // A known device sending from its known address: nothing to check
        // (ARP and DHCP are always checked: they are the claims that matter).
        if used == Use::Known && source == IpSource::Ip {
            return;
        }
        let key = self.devices[i].key;
        if let Claim::Conflict(holder) = self.bindings.claim(addr, mac, source, ts, lease_until) {
            emit(DeviceEvent::Change(Box::new(
                self.conflict(key, ip, ts, evidence, &holder),
            )));
        }
        if used == Use::New {
            if let Some(breach) = self.plan.check(mac, ip) {
                emit(DeviceEvent::Change(Box::new(theft(
                    key, ip, ts, evidence, breach,
                ))));
            }
        }
    }

    fn conflict(
        &self,
        key: DeviceKey,
        ip: IpAddr,
        ts: Micros,
        evidence: Evidence,
        holder: &Holder,
    ) -> ChangeRecord {
        let gateway = self
            .index
            .get(&DeviceKey::Mac(holder.mac))
            .is_some_and(|&h| self.devices[h as usize].role == Some(Role::Router));
        let kind = if gateway {
            ChangeKind::GatewayIpClaimed
        } else {
            ChangeKind::IpConflict
        };
        let mut c = ChangeRecord::new(ts, key, kind, evidence);
        c.ip = Some(ip);
        c.other_mac = Some(holder.mac);
        c.held_by = Some(holder.source);
        c.held_until = Some(holder.last.max(holder.lease_until.min(Micros::MAX - 1)));
        c
    }

    /// Records that device `i` uses `ip`, and says whether the binding is
    /// new, renewed (unused for [`RECLAIM_EVERY`]) or known. A MAC that
    /// sends from more local addresses than it has slots, all recent,
    /// becomes a router.
    fn bind(
        &mut self,
        i: usize,
        addr: Address,
        ts: Micros,
        (source, evidence): (IpSource, Evidence),
        emit: &mut dyn FnMut(DeviceEvent),
    ) -> Use {
        let Address { vlan, ip } = addr;
        let d = &mut self.devices[i];
        if let Some(s) = d
            .ips
            .iter_mut()
            .flatten()
            .find(|s| s.ip == ip && s.vlan == vlan)
        {
            let stale = ts.saturating_sub(s.last) >= RECLAIM_EVERY;
            s.last = s.last.max(ts);
            return if stale { Use::Renewed } else { Use::Known };
        }
        let forwarding = source == IpSource::Ip
            && d.role.is_none()
            && matches!(d.key, DeviceKey::Mac(_))
            && d.ips.iter().all(|s| {
                s.is_some_and(|s| {
                    s.source == IpSource::Ip && ts.saturating_sub(s.last) <= ROUTER_WINDOW
                })
            });
        if forwarding {
            if let DeviceKey::Mac(mac) = d.key {
                let detail = format!(
                    "sent from {} local addresses within {} minutes",
                    IPS_PER_DEVICE + 1,
                    ROUTER_WINDOW / (60 * SECOND)
                );
                self.become_router(i, mac, ts, detail, emit);
                // The host whose packet showed it, too.
                if let Some(j) = self.seen(DeviceKey::Ip(ip), ts, Evidence::IpPacket, emit) {
                    self.bind(j, addr, ts, (IpSource::Ip, Evidence::IpPacket), emit);
                }
            }
            return Use::Known;
        }
        let slot = IpSlot {
            ip,
            vlan,
            first: ts,
            last: ts,
            reported: ts,
            source,
        };
        // Free slot, else replace the least recently used binding (its
        // history is already in the database).
        let target = d
            .ips
            .iter()
            .position(Option::is_none)
            .unwrap_or_else(|| oldest(&d.ips, |s| s.last));
        d.ips[target] = Some(slot);
        let key = d.key;
        emit(DeviceEvent::Ip(ip_record(key, &slot)));
        let mut c = ChangeRecord::new(ts, key, ChangeKind::NewIp, evidence);
        c.ip = Some(ip);
        emit(DeviceEvent::Change(Box::new(c)));
        if self.asset_classes.has_ip(ip) {
            // An asset entry known by this address only: its class applies.
            self.reclassify(i, ts, emit);
        }
        Use::New
    }

    /// Marks device `i` a router: the addresses it only forwarded from are
    /// dropped (the writer deletes their `ip` bindings) and their hosts are
    /// from now on kept apart by address.
    fn become_router(
        &mut self,
        i: usize,
        mac: Mac,
        ts: Micros,
        detail: String,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let d = &mut self.devices[i];
        d.role = Some(Role::Router);
        let mut forwarded = [None; IPS_PER_DEVICE];
        for (s, f) in d.ips.iter_mut().zip(forwarded.iter_mut()) {
            if s.is_some_and(|s| s.source == IpSource::Ip) {
                *f = s.take();
            }
        }
        let record = d.record();
        let key = d.key;
        let mut ips = [IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED); IPS_PER_DEVICE];
        let mut n = 0;
        for s in forwarded.iter().flatten() {
            ips[n] = s.ip;
            n += 1;
        }
        self.bindings.forget(&ips[..n], mac, IpSource::Ip);
        emit(DeviceEvent::Seen(record));
        let mut c = ChangeRecord::new(ts, key, ChangeKind::RoleChange, Evidence::IpPacket);
        c.detail = Some(format!("router: {detail}").into());
        emit(DeviceEvent::Change(Box::new(c)));
        self.learn(i, &[FactRef::Router], ts, emit);
        // The hosts it forwarded for so far become devices of their own,
        // as later ones will.
        for s in forwarded.iter().flatten() {
            if !self.is_local_unicast(s.ip) {
                continue;
            }
            if let Some(j) = self.seen(DeviceKey::Ip(s.ip), s.first, Evidence::IpPacket, emit) {
                let addr = Address {
                    vlan: s.vlan,
                    ip: s.ip,
                };
                self.bind(j, addr, s.first, (IpSource::Ip, Evidence::IpPacket), emit);
                let h = &mut self.devices[j];
                h.last = h.last.max(s.last);
            }
        }
    }

    /// Reports a name of device `i` when new, changed, or not reported
    /// for the refresh period; a new hostname or vendor class is also an
    /// event.
    fn name(
        &mut self,
        i: usize,
        kind: NameKind,
        value: &str,
        ts: Micros,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let hash = self.hasher.hash_one((kind.name(), value));
        let refresh = self.name_refresh;
        let d = &mut self.devices[i];
        let same_kind = |n: &Option<NameSeen>| n.is_some_and(|n| n.kind == kind);
        let found = if kind.single() {
            d.names.iter().position(same_kind)
        } else {
            d.names
                .iter()
                .position(|n| n.is_some_and(|n| n.kind == kind && n.hash == hash))
        };
        let changed = match found.and_then(|p| d.names[p]) {
            Some(n) if n.hash == hash => {
                if ts.saturating_sub(n.emitted) < refresh {
                    return;
                }
                false
            }
            Some(_) => true,
            None => false,
        };
        let slot = found.unwrap_or_else(|| {
            d.names
                .iter()
                .position(Option::is_none)
                .unwrap_or_else(|| oldest(&d.names, |n| n.emitted))
        });
        d.names[slot] = Some(NameSeen {
            kind,
            hash,
            emitted: ts,
        });
        let key = d.key;
        emit(DeviceEvent::Name(Box::new(NameRecord {
            device: key,
            kind,
            value: value.into(),
            ts,
        })));
        let change = match kind {
            NameKind::Hostname => Some(ChangeKind::HostnameChange),
            NameKind::DhcpVendorClass => Some(ChangeKind::VendorClassChange),
            _ => None,
        };
        if let (true, Some(change)) = (changed, change) {
            let mut c = ChangeRecord::new(ts, key, change, Evidence::Dhcp);
            c.detail = Some(bounded(value));
            emit(DeviceEvent::Change(Box::new(c)));
        }
    }

    /// Moves the last-seen times of a flow direction's sender (its device,
    /// its binding, and its hold on the address) up to `s.last`.
    fn settle(&mut self, s: &Sender) {
        let Some(key) = self.key_for(Some(s.mac), s.ip) else {
            return;
        };
        let Some(&i) = self.index.get(&key) else {
            return;
        };
        let d = &mut self.devices[i as usize];
        d.last = d.last.max(s.last);
        if let Some(b) = d
            .ips
            .iter_mut()
            .flatten()
            .find(|b| b.ip == s.ip && b.vlan == s.vlan)
        {
            b.last = b.last.max(s.last);
        }
        if let DeviceKey::Mac(mac) = key {
            let addr = Address {
                vlan: s.vlan,
                ip: s.ip,
            };
            self.bindings.touch(&addr, mac, s.last);
        }
    }

    /// Marks `key` seen; its index, or `None` when it is not tracked
    /// (table full). A new device is reported with the evidence that
    /// showed it.
    fn seen(
        &mut self,
        key: DeviceKey,
        ts: Micros,
        evidence: Evidence,
        emit: &mut dyn FnMut(DeviceEvent),
    ) -> Option<usize> {
        if let Some(&i) = self.index.get(&key) {
            let d = &mut self.devices[i as usize];
            d.last = d.last.max(ts);
            return Some(i as usize);
        }
        if self.devices.len() >= self.max_devices {
            self.untracked += 1;
            return None;
        }
        let i = self.devices.len();
        let (vendor, locally_administered) = match key {
            DeviceKey::Mac(m) => (super::vendor_of(m), m.is_locally_administered()),
            DeviceKey::Ip(_) => (None, false),
        };
        self.index.insert(key, i as u32);
        let d = Device {
            key,
            first: ts,
            last: ts,
            reported: ts,
            vendor,
            locally_administered,
            role: None,
            ips: [None; IPS_PER_DEVICE],
            arp_claims: [None; SPOOF_MIN_IPS],
            many_ips_reported: None,
            names: [None; NAMES_PER_DEVICE],
            profile: None,
        };
        emit(DeviceEvent::Seen(d.record()));
        let registered = match key {
            DeviceKey::Mac(m) => self.asset_classes.has_mac(m),
            DeviceKey::Ip(ip) => self.asset_classes.has_ip(ip),
        };
        self.devices.push(d);
        emit(DeviceEvent::Change(Box::new(ChangeRecord::new(
            ts,
            key,
            ChangeKind::NewDevice,
            evidence,
        ))));
        if registered {
            // Its asset entry gives its class at once; its maker alone
            // never decides one (it is read with the first other fact).
            self.reclassify(i, ts, emit);
        }
        Some(i)
    }
}

/// A device event for a breach of the IP plan.
fn theft(
    key: DeviceKey,
    ip: IpAddr,
    ts: Micros,
    evidence: Evidence,
    breach: Breach,
) -> ChangeRecord {
    let mut c = ChangeRecord::new(ts, key, ChangeKind::IpTheft, evidence);
    c.ip = Some(ip);
    let detail = match breach {
        Breach::RegisteredToOther(owner, line) => {
            c.other_mac = Some(owner);
            format!("address registered to {owner} (asset list line {line})")
        }
        Breach::OffRegisteredIp(registered, line) => {
            format!("registered with {registered} (asset list line {line})")
        }
        Breach::Unassigned => "unassigned address in a statically planned network".into(),
    };
    c.detail = Some(detail.into());
    c
}

/// What kind of ARP packet `arp` is.
fn arp_evidence(arp: &Arp) -> Evidence {
    if arp.sender_ip == arp.target_ip {
        Evidence::GratuitousArp
    } else if arp.operation == 2 {
        Evidence::ArpReply
    } else {
        Evidence::ArpRequest
    }
}

/// A MAC a device can be keyed by: not group, not all zeros.
fn usable(m: Mac) -> bool {
    !m.is_group() && !m.is_zero()
}

fn unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

/// The index of the entry with the smallest `time` (0 for an empty array).
fn oldest<T: Copy>(entries: &[Option<T>], time: impl Fn(&T) -> Micros) -> usize {
    entries
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| e.as_ref().map_or(Micros::MIN, &time))
        .map_or(0, |(i, _)| i)
}

fn bounded(value: &str) -> Box<str> {
    let mut end = value.len().min(MAX_DETAIL);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].into()
}

fn ip_record(device: DeviceKey, s: &IpSlot) -> DeviceIpRecord {
    DeviceIpRecord {
        device,
        ip: s.ip,
        first_seen: s.first,
        last_seen: s.last,
        source: s.source,
    }
}
