//! The inventory's rules on frames built byte by byte: conflicts and
//! their defence, routers, probes, spoofing, the IP plan, DHCP names.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use super::inventory::{DeviceEvent, DhcpEvidence, Inventory, InventoryOptions};
use super::plan::IpPlan;
use super::*;
use crate::decode::{decode, LinkType};
use crate::net::Cidr;
use crate::time::SECOND;
use std::net::Ipv4Addr;

/// GE Healthcare, Dell, Cisco-ish test MACs (only the last byte matters here).
const A: Mac = Mac([0x00, 0x00, 0x5e, 0x00, 0x00, 0x0a]);
const B: Mac = Mac([0x00, 0x00, 0x5e, 0x00, 0x00, 0x0b]);
const R: Mac = Mac([0x00, 0x00, 0x5e, 0x00, 0x00, 0x01]);

fn inventory(plan: IpPlan) -> Inventory {
    Inventory::new(InventoryOptions {
        max_devices: 256,
        max_flows: 16,
        local_networks: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        plan,
        name_refresh: 60 * SECOND,
        ..InventoryOptions::default()
    })
}

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// An Ethernet ARP frame: `op` 1 request / 2 reply.
fn arp(op: u8, sender: Mac, sender_ip: &str, target_ip: &str) -> Vec<u8> {
    let mut f = vec![0xff; 6]; // destination: broadcast
    f.extend_from_slice(&sender.0); // source MAC
    f.extend_from_slice(&[0x08, 0x06]); // EtherType ARP
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, op]); // Ethernet/IPv4, op
    f.extend_from_slice(&sender.0); // sender MAC
    f.extend_from_slice(&ip4(sender_ip).octets()); // sender IP
    f.extend_from_slice(&[0; 6]); // target MAC (unknown)
    f.extend_from_slice(&ip4(target_ip).octets()); // target IP
    f
}

/// An Ethernet/IPv4/UDP frame from `mac`/`src`.
fn udp(mac: Mac, src: &str) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(mac.0, [2, 0, 0, 0, 0, 0xee])
        .ipv4(ip4(src).octets(), [10, 9, 9, 9], 64)
        .udp(40000, 53);
    let mut f = Vec::new();
    b.write(&mut f, b"q").unwrap();
    f
}

/// Runs `frames` (at the given seconds) through a fresh pass of
/// `observe`, collecting every event.
fn feed(inv: &mut Inventory, frames: &[(i64, Vec<u8>)]) -> Vec<DeviceEvent> {
    let mut out = Vec::new();
    for (t, f) in frames {
        let v = decode(LinkType::Ethernet, f).unwrap();
        inv.observe(t * SECOND, &v, &mut |e| out.push(e));
    }
    out
}

fn changes(events: &[DeviceEvent], kind: ChangeKind) -> Vec<ChangeRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            DeviceEvent::Change(c) if c.kind == kind => Some((**c).clone()),
            _ => None,
        })
        .collect()
}

fn ack(client: Mac, ip: &str, lease: u32) -> DhcpEvidence<'static> {
    DhcpEvidence {
        client: Some(client),
        from_server: true,
        message_type: Some(5),
        yiaddr: Some(IpAddr::V4(ip4(ip))),
        lease_secs: Some(lease),
        ..DhcpEvidence::default()
    }
}

#[test]
fn a_takeover_of_a_leased_address_is_one_conflict_naming_both_macs() {
    let mut inv = inventory(IpPlan::default());
    let mut ev = Vec::new();
    inv.observe_dhcp(0, &ack(A, "10.0.0.5", 3600), &mut |e| ev.push(e));
    ev.extend(feed(
        &mut inv,
        &[
            (1, udp(A, "10.0.0.5")),
            (2, arp(1, B, "10.0.0.5", "10.0.0.5")), // B: gratuitous ARP
            (3, arp(2, A, "10.0.0.5", "10.0.0.1")), // A defends (RFC 5227)
            (4, arp(2, B, "10.0.0.5", "10.0.0.1")), // B insists: same conflict
            (5, udp(A, "10.0.0.5")),
        ],
    ));
    let c = changes(&ev, ChangeKind::IpConflict);
    assert_eq!(c.len(), 1, "{c:?}");
    let c = &c[0];
    assert_eq!(c.device, DeviceKey::Mac(B));
    assert_eq!(c.other_mac, Some(A));
    assert_eq!(c.ip, Some(IpAddr::V4(ip4("10.0.0.5"))));
    assert_eq!(c.evidence, Evidence::GratuitousArp);
    assert_eq!(c.held_by, Some(IpSource::Dhcp));
    // Both bindings are recorded, with their sources.
    let binds: Vec<(DeviceKey, IpSource)> = ev
        .iter()
        .filter_map(|e| match e {
            DeviceEvent::Ip(b) => Some((b.device, b.source)),
            _ => None,
        })
        .collect();
    assert_eq!(
        binds,
        vec![
            (DeviceKey::Mac(A), IpSource::Dhcp),
            (DeviceKey::Mac(B), IpSource::Arp)
        ]
    );
}

#[test]
fn an_arp_probe_claims_nothing_and_a_release_frees_the_address() {
    let mut inv = inventory(IpPlan::default());
    let mut ev = feed(&mut inv, &[(0, arp(1, B, "0.0.0.0", "10.0.0.7"))]);
    assert!(
        ev.iter().all(|e| !matches!(e, DeviceEvent::Ip(_))),
        "a probe binds nothing"
    );
    inv.observe_dhcp(1, &ack(A, "10.0.0.7", 60), &mut |e| ev.push(e));
    let release = DhcpEvidence {
        client: Some(A),
        message_type: Some(7),
        ciaddr: Some(IpAddr::V4(ip4("10.0.0.7"))),
        ..DhcpEvidence::default()
    };
    inv.observe_dhcp(2, &release, &mut |e| ev.push(e));
    assert_eq!(changes(&ev, ChangeKind::IpReleased).len(), 1);
    // Released: B may now take it without a conflict.
    ev.extend(feed(&mut inv, &[(3, arp(1, B, "10.0.0.7", "10.0.0.7"))]));
    assert!(changes(&ev, ChangeKind::IpConflict).is_empty());
}

#[test]
fn a_mac_forwarding_many_sources_becomes_a_router_and_its_hosts_are_kept_by_ip() {
    let mut inv = inventory(IpPlan::default());
    let mut frames = vec![(0, arp(2, R, "10.0.0.1", "10.0.0.50"))];
    for i in 0..20 {
        frames.push((1 + i, udp(R, &format!("10.20.0.{}", i + 1))));
    }
    frames.push((30, udp(R, "10.20.0.3")));
    let ev = feed(&mut inv, &frames);
    let roles = changes(&ev, ChangeKind::RoleChange);
    assert_eq!(roles.len(), 1, "one role change");
    assert_eq!(roles[0].device, DeviceKey::Mac(R));
    // The router keeps only its own address; the hosts behind it are devices of their own.
    let hosts: std::collections::BTreeSet<DeviceKey> = ev
        .iter()
        .filter_map(|e| match e {
            DeviceEvent::Seen(d) if matches!(d.key, DeviceKey::Ip(_)) => Some(d.key),
            _ => None,
        })
        .collect();
    assert_eq!(hosts.len(), 20, "every host behind it: {hosts:?}");
    let last = ev
        .iter()
        .rev()
        .find_map(|e| match e {
            DeviceEvent::Seen(d) if d.key == DeviceKey::Mac(R) => Some(*d),
            _ => None,
        })
        .unwrap();
    assert_eq!(last.role, Some(Role::Router));
    assert!(changes(&ev, ChangeKind::IpConflict).is_empty());
}

#[test]
fn an_off_subnet_source_makes_a_router_at_once() {
    let mut inv = inventory(IpPlan::default());
    let ev = feed(
        &mut inv,
        &[(0, udp(R, "8.8.8.8")), (1, udp(R, "10.30.0.1"))],
    );
    assert_eq!(changes(&ev, ChangeKind::RoleChange).len(), 1);
    assert!(ev.iter().any(|e| matches!(e,
        DeviceEvent::Seen(d) if d.key == DeviceKey::Ip("10.30.0.1".parse().unwrap()))));
    assert!(
        !ev.iter().any(|e| matches!(e,
        DeviceEvent::Seen(d) if d.key == DeviceKey::Ip("8.8.8.8".parse().unwrap()))),
        "remote addresses are not devices"
    );
}

#[test]
fn claiming_many_addresses_in_arp_is_reported_once() {
    let mut inv = inventory(IpPlan::default());
    let frames: Vec<(i64, Vec<u8>)> = (0..12)
        .map(|i| (i, arp(2, B, &format!("10.0.1.{}", i + 1), "10.0.0.1")))
        .collect();
    let ev = feed(&mut inv, &frames);
    let many = changes(&ev, ChangeKind::ManyIpsClaimed);
    assert_eq!(many.len(), 1, "{many:?}");
    assert_eq!(many[0].device, DeviceKey::Mac(B));
}

#[test]
fn a_new_mac_on_the_gateway_address_is_a_gateway_claim() {
    let mut inv = inventory(IpPlan::default());
    let mut frames = vec![
        (0, arp(2, R, "10.0.0.1", "10.0.0.50")),
        (1, udp(R, "1.1.1.1")),
    ];
    frames.push((2, arp(2, B, "10.0.0.1", "10.0.0.50")));
    let ev = feed(&mut inv, &frames);
    let g = changes(&ev, ChangeKind::GatewayIpClaimed);
    assert_eq!(g.len(), 1, "{ev:?}");
    assert_eq!((g[0].device, g[0].other_mac), (DeviceKey::Mac(B), Some(R)));
}

#[test]
fn the_ip_plan_is_checked_on_each_new_binding() {
    let plan = IpPlan::new(
        [(Some(A), Some(IpAddr::V4(ip4("10.0.0.5"))), 7)],
        vec![Cidr::parse("10.0.0.0/24").unwrap()],
    );
    let mut inv = inventory(plan);
    let ev = feed(
        &mut inv,
        &[
            (0, udp(A, "10.0.0.5")),      // as registered
            (1, udp(B, "10.0.0.9")),      // unassigned in a static network
            (2, udp(A, "10.0.0.6")),      // registered device off its address
            (3, udp(A, "10.0.0.6")),      // same binding: not again
            (HOLD_S, udp(B, "10.0.0.5")), // the registered address on another MAC
        ],
    );
    let t = changes(&ev, ChangeKind::IpTheft);
    let got: Vec<(DeviceKey, String, Option<Mac>)> = t
        .iter()
        .map(|c| (c.device, c.ip.unwrap().to_string(), c.other_mac))
        .collect();
    assert_eq!(
        got,
        vec![
            (DeviceKey::Mac(B), "10.0.0.9".into(), None),
            (DeviceKey::Mac(A), "10.0.0.6".into(), None),
            (DeviceKey::Mac(B), "10.0.0.5".into(), Some(A)),
        ]
    );
    assert!(t[2].detail.as_deref().unwrap().contains("line 7"));
}

/// Past the hold window, so the second use is not also a conflict.
const HOLD_S: i64 = bindings::HOLD / SECOND + 60;

#[test]
fn dhcp_names_are_reported_once_per_refresh_and_a_new_hostname_is_an_event() {
    let mut inv = inventory(IpPlan::default());
    let mut ev = Vec::new();
    let req = |host: &'static str| DhcpEvidence {
        client: Some(A),
        message_type: Some(3),
        hostname: Some(host),
        vendor_class: Some("Philips IntelliVue"),
        fingerprint: Some("1,3,6,15"),
        ..DhcpEvidence::default()
    };
    inv.observe_dhcp(0, &req("monitor-1"), &mut |e| ev.push(e));
    inv.observe_dhcp(SECOND, &req("monitor-1"), &mut |e| ev.push(e));
    let names = |ev: &[DeviceEvent]| {
        ev.iter()
            .filter(|e| matches!(e, DeviceEvent::Name(_)))
            .count()
    };
    assert_eq!(
        names(&ev),
        3,
        "hostname, vendor class, fingerprint once each"
    );
    inv.observe_dhcp(2 * SECOND, &req("\u{1b}[31mevil\nhost"), &mut |e| {
        ev.push(e)
    });
    let h = changes(&ev, ChangeKind::HostnameChange);
    assert_eq!(h.len(), 1);
    assert_eq!(
        h[0].detail.as_deref(),
        Some("\u{1b}[31mevil\nhost"),
        "kept verbatim"
    );
    assert_eq!(names(&ev), 4);
    inv.observe_dhcp(120 * SECOND, &req("\u{1b}[31mevil\nhost"), &mut |e| {
        ev.push(e)
    });
    assert_eq!(names(&ev), 7, "reported again after the refresh period");
    assert_eq!(changes(&ev, ChangeKind::HostnameChange).len(), 1);
}

#[test]
fn a_full_table_counts_what_it_cannot_track() {
    let mut inv = Inventory::new(InventoryOptions {
        max_devices: 1,
        max_flows: 1,
        local_networks: vec![],
        ..InventoryOptions::default()
    });
    feed(
        &mut inv,
        &[(0, udp(A, "10.0.0.5")), (1, udp(B, "10.0.0.6"))],
    );
    assert_eq!(inv.counters().devices, 1);
    assert_eq!(inv.counters().untracked, 1);
}

/// An Ethernet/802.1Q/IPv4/UDP frame from `mac`/`src` on `vlan`.
fn udp_on_vlan(mac: Mac, src: &str, vlan: u16) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(mac.0, [2, 0, 0, 0, 0, 0xee])
        .single_vlan(etherparse::VlanId::try_new(vlan).unwrap())
        .ipv4(ip4(src).octets(), [10, 9, 9, 9], 64)
        .udp(40000, 53);
    let mut f = Vec::new();
    b.write(&mut f, b"q").unwrap();
    f
}

#[test]
fn the_same_address_on_two_vlans_is_no_conflict() {
    let mut inv = inventory(IpPlan::default());
    let ev = feed(
        &mut inv,
        &[
            (0, udp_on_vlan(A, "10.0.0.5", 10)),
            (1, udp_on_vlan(B, "10.0.0.5", 20)), // another segment's plan
            (2, udp_on_vlan(B, "10.0.0.5", 10)), // the same segment: a conflict
        ],
    );
    let c = changes(&ev, ChangeKind::IpConflict);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!((c[0].device, c[0].other_mac), (DeviceKey::Mac(B), Some(A)));
}

fn classes_of(events: &[DeviceEvent]) -> Vec<(DeviceKey, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            DeviceEvent::Class(c) => Some((c.device, c.class.class.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn facts_classify_once_and_a_repeated_fact_says_nothing_new() {
    use super::facts::{FactRef, TextKind};
    let mut inv = inventory(IpPlan::default());
    let ip = IpAddr::V4(ip4("10.0.0.5"));
    let ct = [
        FactRef::DicomSent {
            sop_class: "1.2.840.10008.5.1.4.1.1.2",
            to_ae: "PACS",
        },
        FactRef::Text(TextKind::DicomAe, "MOD01"),
    ];
    let mut ev = Vec::new();
    inv.observe_facts(SECOND, Some(A), ip, &ct, &mut |e| ev.push(e));
    assert_eq!(
        classes_of(&ev),
        [(DeviceKey::Mac(A), "ct_scanner".to_string())]
    );
    let change = changes(&ev, ChangeKind::ClassChange);
    assert_eq!(change.len(), 1);
    assert!(
        change[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("unknown → ct_scanner: sends CT images"),
        "{change:?}"
    );
    assert_eq!(
        inv.class_of(&DeviceKey::Mac(A))
            .map(|c| c.grade.map(|g| g.get())),
        Some(Some(3))
    );
    // The same association again: nothing new to say.
    let mut again = Vec::new();
    inv.observe_facts(2 * SECOND, Some(A), ip, &ct, &mut |e| again.push(e));
    assert!(classes_of(&again).is_empty(), "{again:?}");
}

#[test]
fn an_asset_entry_known_by_address_classes_the_device_that_uses_it() {
    use super::classify::{AssetClass, AssetClasses};
    let mut assets = AssetClasses::default();
    let pump = AssetClass {
        class: Some("infusion_pump".into()),
        attributes: None,
    };
    assets.insert(None, Some(IpAddr::V4(ip4("10.0.0.7"))), pump);
    let mut inv = Inventory::new(InventoryOptions {
        max_devices: 16,
        max_flows: 16,
        local_networks: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        name_refresh: 60 * SECOND,
        asset_classes: assets,
        ..InventoryOptions::default()
    });
    let ev = feed(
        &mut inv,
        &[(0, udp(B, "10.0.0.7")), (SECOND, udp(A, "10.0.0.8"))],
    );
    assert_eq!(
        classes_of(&ev),
        [(DeviceKey::Mac(B), "infusion_pump".to_string())]
    );
    let c = inv.class_of(&DeviceKey::Mac(B)).unwrap();
    assert_eq!(c.confidence, 1.0);
    assert_eq!(c.grade.map(|g| g.get()), Some(3));
    assert!(inv.class_of(&DeviceKey::Mac(A)).is_none());
}
