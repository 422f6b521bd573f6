//! The in-memory device table on the hot path.
//!
//! Devices are keyed by MAC. An IP is bound to a MAC when the MAC sends from
//! it (only for addresses inside the configured local networks: a router's
//! MAC carries every remote address) or claims it in ARP. New devices and
//! new bindings are reported at once; last-seen times are reported in
//! batches by [`Inventory::flush`] so the hot path does no per-packet I/O.
//!
//! Frames of a flow reach the table only when their direction's sender is
//! new ([`Inventory::observe_flow`]): later frames move the direction's
//! last-seen time in a per-flow cache ([`super::senders`]), which reaches
//! the device at the next flush. The MAC lookup on every packet was 5–7% of
//! all CPU.

use super::senders::{FlowSenders, Sender};
use super::{DeviceIpRecord, DeviceRecord, IpSource};
use crate::decode::{Network, PacketView};
use crate::flow::table::FlowRef;
use crate::net::{Cidr, Mac};
use crate::time::Micros;
use std::collections::HashMap;
use std::net::IpAddr;

/// IPs remembered per device; older bindings stay in the database.
const IPS_PER_DEVICE: usize = 8;

#[derive(Clone, Copy, Debug)]
struct IpSlot {
    ip: IpAddr,
    first: Micros,
    last: Micros,
    reported: Micros,
    source: IpSource,
}

#[derive(Clone, Copy, Debug)]
struct Device {
    mac: Mac,
    first: Micros,
    last: Micros,
    reported: Micros,
    ips: [Option<IpSlot>; IPS_PER_DEVICE],
}

/// Counters shown by `medtap status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InventoryCounters {
    /// Devices in the table.
    pub devices: u64,
    /// Sightings of MACs not tracked because the table was full: an ARP or
    /// non-IP frame, or the first frame of a flow direction.
    pub untracked: u64,
}

/// Emitted by the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A device appeared or its last-seen moved on.
    Seen(DeviceRecord),
    /// A binding appeared or its last-seen moved on.
    Ip(DeviceIpRecord),
}

/// The bounded device table.
pub struct Inventory {
    /// MAC → index into `devices`. The map holds only small entries: the
    /// devices themselves (with their IP slots, ~400 bytes each) sit in a
    /// dense vector, so the map's preallocated buckets cost 12 bytes each
    /// and memory grows with the devices actually seen.
    index: HashMap<Mac, u32, foldhash::fast::RandomState>,
    devices: Vec<Device>,
    max_devices: usize,
    local_networks: Vec<Cidr>,
    untracked: u64,
    senders: FlowSenders,
}

impl Inventory {
    /// A table of at most `max_devices`, binding IPs inside
    /// `local_networks`, beside a flow table of `max_flows`.
    pub fn new(max_devices: usize, max_flows: usize, local_networks: Vec<Cidr>) -> Inventory {
        Inventory {
            index: HashMap::with_capacity_and_hasher(max_devices, Default::default()),
            // Reserved, not touched: pages become resident as devices arrive.
            devices: Vec::with_capacity(max_devices),
            max_devices,
            local_networks,
            untracked: 0,
            senders: FlowSenders::with_capacity(max_flows),
        }
    }

    /// Counters.
    pub fn counters(&self) -> InventoryCounters {
        InventoryCounters {
            devices: self.devices.len() as u64,
            untracked: self.untracked,
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
        let Some(mac) = view.src_mac.filter(|m| !m.is_group() && !m.is_zero()) else {
            return;
        };
        if !self.seen(mac, ts, emit) {
            return;
        }
        match view.network {
            Network::Ip(ip) if self.is_local_unicast(ip.src) => {
                self.bind(mac, ip.src, ts, IpSource::Ip, emit);
            }
            Network::Arp(arp) => {
                let sender = arp.sender_mac;
                let ip = IpAddr::V4(arp.sender_ip);
                // ARP probes (RFC 5227) have sender IP 0.0.0.0: no claim.
                if !sender.is_group() && !sender.is_zero() && !arp.sender_ip.is_unspecified() {
                    if sender != mac && !self.seen(sender, ts, emit) {
                        return;
                    }
                    self.bind(sender, ip, ts, IpSource::Arp, emit);
                }
            }
            _ => {}
        }
    }

    /// Reports every device and binding whose last-seen moved since the
    /// last flush (including what flows' later frames did since).
    pub fn flush(&mut self, emit: &mut dyn FnMut(DeviceEvent)) {
        let mut senders = std::mem::take(&mut self.senders);
        senders.settle_all(&mut |s| self.settle(s));
        self.senders = senders;
        for d in self.devices.iter_mut() {
            let mac = d.mac;
            if d.last > d.reported {
                d.reported = d.last;
                emit(DeviceEvent::Seen(DeviceRecord {
                    mac,
                    first_seen: d.first,
                    last_seen: d.last,
                }));
            }
            for s in d.ips.iter_mut().flatten() {
                if s.last > s.reported {
                    s.reported = s.last;
                    emit(DeviceEvent::Ip(ip_record(mac, s)));
                }
            }
        }
    }

    fn is_local_unicast(&self, ip: IpAddr) -> bool {
        let unicast = match ip {
            IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
            IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
        };
        unicast && self.local_networks.iter().any(|n| n.contains(ip))
    }

    /// Moves the last-seen times of a flow direction's sender (its device,
    /// and its binding when the address is local) up to `s.last`. A sender
    /// whose device is not tracked was counted when first seen.
    fn settle(&mut self, s: &Sender) {
        let Some(&i) = self.index.get(&s.mac) else {
            return;
        };
        let d = &mut self.devices[i as usize];
        d.last = d.last.max(s.last);
        if let Some(b) = d.ips.iter_mut().flatten().find(|b| b.ip == s.ip) {
            b.last = b.last.max(s.last);
        }
    }

    fn device_mut(&mut self, mac: &Mac) -> Option<&mut Device> {
        let i = *self.index.get(mac)?;
        self.devices.get_mut(i as usize)
    }

    /// Marks `mac` seen; false when it is not tracked (table full).
    fn seen(&mut self, mac: Mac, ts: Micros, emit: &mut dyn FnMut(DeviceEvent)) -> bool {
        if let Some(d) = self.device_mut(&mac) {
            d.last = d.last.max(ts);
            return true;
        }
        if self.devices.len() >= self.max_devices {
            self.untracked += 1;
            return false;
        }
        self.index.insert(mac, self.devices.len() as u32);
        self.devices.push(Device {
            mac,
            first: ts,
            last: ts,
            reported: ts,
            ips: [None; IPS_PER_DEVICE],
        });
        emit(DeviceEvent::Seen(DeviceRecord {
            mac,
            first_seen: ts,
            last_seen: ts,
        }));
        true
    }

    fn bind(
        &mut self,
        mac: Mac,
        ip: IpAddr,
        ts: Micros,
        source: IpSource,
        emit: &mut dyn FnMut(DeviceEvent),
    ) {
        let Some(d) = self.device_mut(&mac) else {
            return;
        };
        if let Some(s) = d.ips.iter_mut().flatten().find(|s| s.ip == ip) {
            s.last = s.last.max(ts);
            return;
        }
        let slot = IpSlot {
            ip,
            first: ts,
            last: ts,
            reported: ts,
            source,
        };
        // Free slot, else replace the least recently used binding (its
        // history is already in the database).
        let target = match d.ips.iter().position(Option::is_none) {
            Some(i) => i,
            None => d
                .ips
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.map_or(i64::MIN, |s| s.last))
                .map_or(0, |(i, _)| i),
        };
        d.ips[target] = Some(slot);
        emit(DeviceEvent::Ip(ip_record(mac, &slot)));
    }
}

fn ip_record(mac: Mac, s: &IpSlot) -> DeviceIpRecord {
    DeviceIpRecord {
        mac,
        ip: s.ip,
        first_seen: s.first,
        last_seen: s.last,
        source: s.source,
    }
}
