//! The device-identity captures (tests/data/identity, made by
//! scripts/make-identity-captures.sh from real dnsmasq / udhcpc / dhclient /
//! arping traffic, and examples/make_routed_capture.rs) hold what their
//! README says, as tshark sees it; fresh ones made now do too, so the
//! committed captures are reproducible.
//!
//! It also provides tshark's ground truth for medtap-vs-tshark identity
//! tests: [`tshark_dhcp`] (every DHCP message, with the raw bytes of its
//! string options) and [`tshark_arp`] / [`tshark_arp_bindings`] (every ARP
//! packet, and the (IPv4, MAC) pairs that ARP senders claim).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;
use crate::common::tshark;

use medtap::net::Mac;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

/// The routed-capture generator, included to check that the committed
/// routed.pcap is what it writes.
#[allow(dead_code)]
#[path = "../../examples/make_routed_capture.rs"]
mod routed_gen;

// --- tshark ground truth ----------------------------------------------------------

/// One DHCP (BOOTP) message as tshark dissects it.
///
/// Options come from tshark's generic per-option fields (`dhcp.option.type`,
/// `dhcp.option.length`, `dhcp.option.value`: the option's bytes as they are
/// on the wire, whatever they hold), so string options keep every byte:
/// NUL, escape sequences, invalid UTF-8. The decoded fields that tshark also
/// gives (message type, requested address, server identifier, lease time,
/// parameter list) are checked against those bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DhcpTruth {
    /// `frame.number`.
    pub frame: u64,
    /// Ethernet source (`eth.src`).
    pub eth_src: Mac,
    /// IPv4 source and destination (`ip.src`, `ip.dst`).
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
    /// BOOTP op (`dhcp.type`): 1 request, 2 reply.
    pub op: u8,
    /// Option 53 (`dhcp.option.dhcp`): 1 DISCOVER ... 8 INFORM; `None` for BOOTP.
    pub msg_type: Option<u8>,
    /// Transaction id (`dhcp.id`).
    pub xid: u32,
    /// `chaddr` (`dhcp.hw.mac_addr`).
    pub client_mac: Mac,
    /// `ciaddr` (`dhcp.ip.client`) and `yiaddr` (`dhcp.ip.your`).
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    /// Option 50, requested IP address.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54, server identifier.
    pub server_id: Option<Ipv4Addr>,
    /// Option 51, lease time in seconds.
    pub lease_time: Option<u32>,
    /// Option 12 (host name), raw bytes.
    pub hostname: Option<Vec<u8>>,
    /// Option 60 (vendor class identifier), raw bytes.
    pub vendor_class: Option<Vec<u8>>,
    /// Option 61 (client identifier), raw bytes including its type byte.
    pub client_id: Option<Vec<u8>>,
    /// Option 55 (parameter request list), in order; empty without one.
    pub param_list: Vec<u8>,
    /// Every option but Pad and End, in wire order: (code, value bytes).
    /// The single-valued fields above are each option's first occurrence.
    pub options: Vec<(u8, Vec<u8>)>,
}

impl DhcpTruth {
    /// The first value of option `code`, if present.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }
}

/// One ARP packet as tshark dissects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArpTruth {
    /// `frame.number`.
    pub frame: u64,
    /// Ethernet source and destination (`eth.src`, `eth.dst`).
    pub eth_src: Mac,
    pub eth_dst: Mac,
    /// `arp.opcode`: 1 request, 2 reply.
    pub opcode: u16,
    /// Sender hardware and protocol address (`arp.src.hw_mac`, `arp.src.proto_ipv4`).
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    /// Target hardware and protocol address (`arp.dst.hw_mac`, `arp.dst.proto_ipv4`).
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

impl ArpTruth {
    /// An RFC 5227 probe: a request whose sender address is 0.0.0.0.
    pub fn is_probe(&self) -> bool {
        self.opcode == 1 && self.sender_ip.is_unspecified()
    }

    /// Gratuitous (announcement): sender and target address are the same.
    pub fn is_gratuitous(&self) -> bool {
        !self.sender_ip.is_unspecified() && self.sender_ip == self.target_ip
    }
}

fn one<'a>(col: &'a [String], what: &str, frame: &str) -> &'a str {
    match col {
        [v] => v,
        _ => panic!("frame {frame}: expected one {what}, tshark gave {col:?}"),
    }
}

fn opt_one<'a>(col: &'a [String], what: &str, frame: &str) -> Option<&'a str> {
    match col {
        [] => None,
        [v] => Some(v),
        _ => panic!("frame {frame}: expected at most one {what}, tshark gave {col:?}"),
    }
}

fn num<T: std::str::FromStr>(v: &str, what: &str, frame: &str) -> T {
    let parsed = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16)
            .ok()
            .and_then(|n| n.to_string().parse().ok()),
        None => v.parse().ok(),
    };
    parsed.unwrap_or_else(|| panic!("frame {frame}: bad {what} {v:?}"))
}

fn mac(v: &str, what: &str, frame: &str) -> Mac {
    Mac::parse(v).unwrap_or_else(|| panic!("frame {frame}: bad {what} {v:?}"))
}

fn ip(v: &str, what: &str, frame: &str) -> Ipv4Addr {
    v.parse()
        .unwrap_or_else(|_| panic!("frame {frame}: bad {what} {v:?}"))
}

fn hex(v: &str, frame: &str) -> Vec<u8> {
    let bad = || panic!("frame {frame}: bad hex {v:?}");
    if !v.len().is_multiple_of(2) {
        bad();
    }
    (0..v.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v[i..i + 2], 16).unwrap_or_else(|_| bad()))
        .collect()
}

const DHCP_FIELDS: [&str; 17] = [
    "frame.number",
    "eth.src",
    "ip.src",
    "ip.dst",
    "dhcp.type",
    "dhcp.id",
    "dhcp.hw.mac_addr",
    "dhcp.ip.client",
    "dhcp.ip.your",
    "dhcp.option.type",
    "dhcp.option.length",
    "dhcp.option.value",
    "dhcp.option.dhcp",
    "dhcp.option.requested_ip_address",
    "dhcp.option.dhcp_server_id",
    "dhcp.option.ip_address_lease_time",
    "dhcp.option.request_list_item",
];

/// Every DHCP message of `pcap` (IPv4, Ethernet `chaddr`), in frame order,
/// as tshark dissects it. Panics if tshark fails, or if its generic option
/// fields (type, length, value) do not pair up or disagree with its decoded
/// ones: then this harness, not medtap, is wrong.
pub(crate) fn tshark_dhcp(pcap: &Path) -> Vec<DhcpTruth> {
    tshark::fields(pcap, "dhcp && !icmp", &DHCP_FIELDS)
        .iter()
        .map(|row| dhcp_row(row, pcap))
        .collect()
}

fn dhcp_row(row: &[Vec<String>], pcap: &Path) -> DhcpTruth {
    let f = one(&row[0], "frame.number", "?").to_string();
    let fr = f.as_str();
    // Pair each option type with its length, and each non-empty length with
    // its value. Pad (0) and End (255) have neither; tshark 4.0 shows End's
    // type as 0.
    let (types, lens, vals) = (&row[9], &row[10], &row[11]);
    let (mut li, mut vi) = (0, 0);
    let mut options = Vec::new();
    for t in types {
        let code: u8 = num(t, "option type", fr);
        if code == 0 || code == 255 {
            continue;
        }
        let len: usize = num(
            lens.get(li).unwrap_or_else(|| {
                panic!(
                    "{}: frame {fr}: option {code} has no length",
                    pcap.display()
                )
            }),
            "option length",
            fr,
        );
        li += 1;
        let value = if len == 0 {
            Vec::new()
        } else {
            let v = hex(
                vals.get(vi).unwrap_or_else(|| {
                    panic!("{}: frame {fr}: option {code} has no value", pcap.display())
                }),
                fr,
            );
            vi += 1;
            v
        };
        assert_eq!(
            value.len(),
            len,
            "{}: frame {fr}: option {code}: value of {} bytes, length {len}",
            pcap.display(),
            value.len()
        );
        options.push((code, value));
    }
    assert!(
        li == lens.len() && vi == vals.len(),
        "{}: frame {fr}: option types {types:?} do not pair with lengths {lens:?} / values {vals:?}",
        pcap.display()
    );
    let first = |code: u8| {
        options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.clone())
    };
    let be32 = |v: Vec<u8>| -> [u8; 4] {
        v.try_into()
            .unwrap_or_else(|v| panic!("frame {fr}: 4-byte option is {v:?}"))
    };
    let t = DhcpTruth {
        frame: num(fr, "frame", fr),
        eth_src: mac(one(&row[1], "eth.src", fr), "eth.src", fr),
        ip_src: ip(one(&row[2], "ip.src", fr), "ip.src", fr),
        ip_dst: ip(one(&row[3], "ip.dst", fr), "ip.dst", fr),
        op: num(one(&row[4], "dhcp.type", fr), "dhcp.type", fr),
        msg_type: first(53).map(|v| v[0]),
        xid: num(one(&row[5], "dhcp.id", fr), "dhcp.id", fr),
        // chaddr is the first occurrence: a client identifier of type 1
        // (Ethernet) is shown with the same field.
        client_mac: mac(
            row[6]
                .first()
                .unwrap_or_else(|| panic!("frame {fr}: no dhcp.hw.mac_addr")),
            "chaddr",
            fr,
        ),
        ciaddr: ip(one(&row[7], "dhcp.ip.client", fr), "ciaddr", fr),
        yiaddr: ip(one(&row[8], "dhcp.ip.your", fr), "yiaddr", fr),
        requested_ip: first(50).map(|v| Ipv4Addr::from(be32(v))),
        server_id: first(54).map(|v| Ipv4Addr::from(be32(v))),
        lease_time: first(51).map(|v| u32::from_be_bytes(be32(v))),
        hostname: first(12),
        vendor_class: first(60),
        client_id: first(61),
        param_list: first(55).unwrap_or_default(),
        options: options.clone(),
    };
    // tshark's decoded fields must say the same as the raw option bytes.
    let decoded = (
        opt_one(&row[12], "dhcp.option.dhcp", fr).map(|v| num::<u8>(v, "type", fr)),
        opt_one(&row[13], "requested ip", fr).map(|v| ip(v, "requested ip", fr)),
        opt_one(&row[14], "server id", fr).map(|v| ip(v, "server id", fr)),
        opt_one(&row[15], "lease time", fr).map(|v| num::<u32>(v, "lease time", fr)),
        row[16]
            .iter()
            .map(|v| num::<u8>(v, "parameter", fr))
            .collect::<Vec<u8>>(),
    );
    let raw = (
        t.msg_type,
        t.requested_ip,
        t.server_id,
        t.lease_time,
        t.param_list.clone(),
    );
    assert_eq!(
        decoded,
        raw,
        "{}: frame {fr}: tshark's decoded DHCP fields differ from its option bytes",
        pcap.display()
    );
    t
}

const ARP_FIELDS: [&str; 8] = [
    "frame.number",
    "eth.src",
    "eth.dst",
    "arp.opcode",
    "arp.src.hw_mac",
    "arp.src.proto_ipv4",
    "arp.dst.hw_mac",
    "arp.dst.proto_ipv4",
];

/// Every Ethernet/IPv4 ARP packet of `pcap`, in frame order, as tshark
/// dissects it.
pub(crate) fn tshark_arp(pcap: &Path) -> Vec<ArpTruth> {
    tshark::fields(pcap, "arp", &ARP_FIELDS)
        .iter()
        .map(|row| {
            let f = one(&row[0], "frame.number", "?").to_string();
            let fr = f.as_str();
            ArpTruth {
                frame: num(fr, "frame", fr),
                eth_src: mac(one(&row[1], "eth.src", fr), "eth.src", fr),
                eth_dst: mac(one(&row[2], "eth.dst", fr), "eth.dst", fr),
                opcode: num(one(&row[3], "arp.opcode", fr), "arp.opcode", fr),
                sender_mac: mac(one(&row[4], "arp.src.hw_mac", fr), "sender MAC", fr),
                sender_ip: ip(one(&row[5], "arp.src.proto_ipv4", fr), "sender IP", fr),
                target_mac: mac(one(&row[6], "arp.dst.hw_mac", fr), "target MAC", fr),
                target_ip: ip(one(&row[7], "arp.dst.proto_ipv4", fr), "target IP", fr),
            }
        })
        .collect()
}

/// The (IPv4 address, MAC) pairs that ARP senders claim in `pcap`
/// (`arp.src.proto_ipv4`, `arp.src.hw_mac` of requests and replies),
/// without the 0.0.0.0 of RFC 5227 probes.
pub(crate) fn tshark_arp_bindings(pcap: &Path) -> BTreeSet<(Ipv4Addr, Mac)> {
    tshark_arp(pcap)
        .iter()
        .filter(|a| !a.sender_ip.is_unspecified())
        .map(|a| (a.sender_ip, a.sender_mac))
        .collect()
}

// --- what each capture must hold --------------------------------------------------

const fn m(b: [u8; 6]) -> Mac {
    Mac(b)
}

const SRV: Mac = m([0xf4, 0xbd, 0x9e, 0x82, 0x00, 0x01]);
const PUMP: Mac = m([0x00, 0x12, 0x21, 0x82, 0x00, 0x07]);
const PUMP2: Mac = m([0x00, 0x12, 0x21, 0x82, 0x00, 0x08]);
const MON: Mac = m([0x00, 0x09, 0x5c, 0x82, 0x00, 0x03]);
const GE: Mac = m([0x44, 0x4b, 0x5d, 0x82, 0x00, 0x04]);
const DELL: Mac = m([0x98, 0xe7, 0x43, 0x82, 0x00, 0x0b]);
const RPI: Mac = m([0xb8, 0x27, 0xeb, 0x82, 0x00, 0x0c]);
const EVIL: Mac = m([0xdc, 0xa6, 0x32, 0x82, 0x00, 0x66]);
const EVIL2: Mac = m([0xdc, 0xa6, 0x32, 0x82, 0x00, 0x67]);

const IP_SRV: Ipv4Addr = Ipv4Addr::new(10, 82, 0, 1);
const IP_PUMP: Ipv4Addr = Ipv4Addr::new(10, 82, 0, 107);
const IP_PUMP2: Ipv4Addr = Ipv4Addr::new(10, 82, 0, 108);
const IP_MON: Ipv4Addr = Ipv4Addr::new(10, 82, 0, 103);
const IP_GE: Ipv4Addr = Ipv4Addr::new(10, 82, 0, 104);
const IP_RPI: Ipv4Addr = Ipv4Addr::new(10, 82, 0, 60);
const ZERO: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// dhcp_hostile.pcap, first client: host name, vendor class, client id.
pub(crate) const HOSTILE_HOST: &[u8] =
    b"pump-07\x1b[31mRED\x1b[0m\n\"quoted\" 'single'\x00'; DROP TABLE devices;--\xff\xfe";
pub(crate) const HOSTILE_VENDOR: &[u8] =
    b"\x1b]0;owned\x07B.Braun\r\nSpace\xe2\x80\xae'; DROP TABLE devices;--\xff\xfe\xc0\xaf";
pub(crate) const HOSTILE_CLIENT_ID: &[u8] = b"\x00\x1b[2J'; DROP TABLE devices;--\n\xfe\xff";
/// dhcp_hostile.pcap, second client: vendor class.
pub(crate) const FMT_VENDOR: &[u8] = b"%s%n%x%p";

/// dhcp_hostile.pcap, second client: a 255-byte host name, "long-", 124 x
/// U+00E9, "x", then a lone UTF-8 lead byte.
pub(crate) fn long_host() -> Vec<u8> {
    let mut v = b"long-".to_vec();
    for _ in 0..124 {
        v.extend_from_slice("é".as_bytes());
    }
    v.extend_from_slice(b"x\xc3");
    v
}

/// The captures scripts/make-identity-captures.sh writes.
const SCRIPT_CAPTURES: [&str; 5] = [
    "dhcp_udhcpc.pcap",
    "dhcp_dhclient.pcap",
    "dhcp_decline_inform.pcap",
    "arp_takeover.pcap",
    "dhcp_hostile.pcap",
];

/// Collects the differences between a capture and its description.
struct Check {
    name: String,
    problems: Vec<String>,
}

impl Check {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.problems
                .push(format!("{}: {what}: got {got:?}, want {want:?}", self.name));
        }
    }

    fn ok(&mut self, what: &str, cond: bool) {
        if !cond {
            self.problems.push(format!("{}: {what}", self.name));
        }
    }
}

fn types(d: &[DhcpTruth]) -> Vec<u8> {
    d.iter().map(|t| t.msg_type.unwrap_or(0)).collect()
}

fn client_id(mac: Mac) -> Option<Vec<u8>> {
    let mut v = vec![1];
    v.extend_from_slice(&mac.0);
    Some(v)
}

/// The checks common to one client's DISCOVER/OFFER/REQUEST/ACK/RELEASE
/// messages `d`: its MAC in every request, names as sent, the server's
/// answers from 10.82.0.1.
fn client_messages(
    c: &mut Check,
    d: &[&DhcpTruth],
    who: &str,
    mac: Mac,
    host: &[u8],
    vendor: &[u8],
) {
    for t in d {
        let at = format!("{who} frame {}", t.frame);
        c.eq(&format!("{at}: chaddr"), t.client_mac, mac);
        if t.op == 1 {
            c.eq(&format!("{at}: Ethernet source"), t.eth_src, mac);
            if matches!(t.msg_type, Some(1 | 3)) {
                c.eq(
                    &format!("{at}: host name"),
                    t.hostname.as_deref(),
                    Some(host),
                );
                c.eq(
                    &format!("{at}: vendor class"),
                    t.vendor_class.as_deref(),
                    Some(vendor),
                );
            }
        } else {
            c.eq(&format!("{at}: Ethernet source"), t.eth_src, SRV);
            c.eq(&format!("{at}: server id"), t.server_id, Some(IP_SRV));
        }
    }
}

/// What tshark must see in capture `name` (a file of tests/data/identity or
/// a fresh one); the differences, empty if none.
fn check(name: &str, pcap: &Path) -> Vec<String> {
    let mut c = Check {
        name: name.to_string(),
        problems: Vec::new(),
    };
    let d = tshark_dhcp(pcap);
    let arp = tshark_arp(pcap);
    let bindings = tshark_arp_bindings(pcap);
    let has_arp = |op: u16, sha: Mac, spa: Ipv4Addr, tpa: Ipv4Addr| {
        arp.iter()
            .filter(|a| {
                a.opcode == op && a.sender_mac == sha && a.sender_ip == spa && a.target_ip == tpa
            })
            .count()
    };
    match name {
        "dhcp_udhcpc.pcap" => {
            // The renew may take more than one REQUEST/ACK round in a fresh
            // capture (see expected_types in the script): 1 2 3 5 (3 5)+ 7.
            let ty = types(&d);
            let n = ty.len();
            let shape = n >= 7
                && ty[..4] == [1, 2, 3, 5]
                && ty[n - 1] == 7
                && ty[4..n - 1].chunks(2).all(|p| p == [3, 5]);
            c.ok(&format!("DHCP types {ty:?}, want 1 2 3 5 (3 5)+ 7"), shape);
            if shape {
                let all: Vec<&DhcpTruth> = d.iter().collect();
                client_messages(
                    &mut c,
                    &all,
                    "pump",
                    PUMP,
                    b"infusion-pump-07",
                    b"B.Braun Space",
                );
                c.ok(
                    "one xid from DISCOVER to the first ACK",
                    d[..4].iter().all(|t| t.xid == d[0].xid),
                );
                for t in d.iter().filter(|t| t.op == 1) {
                    c.eq("client id", t.client_id.clone(), client_id(PUMP));
                }
                c.ok(
                    "-O ntpsrv/timezone/43 in the parameter list",
                    [42, 2, 43].iter().all(|p| d[0].param_list.contains(p)),
                );
                c.eq("OFFER yiaddr", d[1].yiaddr, IP_PUMP);
                c.eq(
                    "selecting REQUEST: requested ip",
                    d[2].requested_ip,
                    Some(IP_PUMP),
                );
                c.eq("selecting REQUEST: server id", d[2].server_id, Some(IP_SRV));
                c.eq("ACK yiaddr", d[3].yiaddr, IP_PUMP);
                c.eq("ACK lease time", d[3].lease_time, Some(3600));
                c.eq("first renewing REQUEST: unicast", d[4].ip_dst, IP_SRV);
                for t in &d[4..n - 1] {
                    let at = format!("renewal frame {}", t.frame);
                    if t.op == 1 {
                        c.eq(&format!("{at}: ciaddr"), t.ciaddr, IP_PUMP);
                        c.eq(&format!("{at}: IP source"), t.ip_src, IP_PUMP);
                        c.eq(&format!("{at}: requested ip"), t.requested_ip, None);
                    } else {
                        c.eq(&format!("{at}: yiaddr"), t.yiaddr, IP_PUMP);
                    }
                }
                c.eq("RELEASE ciaddr", d[n - 1].ciaddr, IP_PUMP);
                c.eq("RELEASE server id", d[n - 1].server_id, Some(IP_SRV));
            }
            c.ok(
                "ARP: pump at 10.82.0.107",
                bindings.contains(&(IP_PUMP, PUMP)),
            );
            c.ok("ARP: srv at 10.82.0.1", bindings.contains(&(IP_SRV, SRV)));
        }
        "dhcp_dhclient.pcap" => {
            c.eq("DHCP types", types(&d), vec![1, 2, 3, 5, 7]);
            if d.len() == 5 {
                let all: Vec<&DhcpTruth> = d.iter().collect();
                client_messages(
                    &mut c,
                    &all,
                    "mon",
                    MON,
                    b"monitor-icu-3",
                    b"Philips IntelliVue",
                );
                for t in d.iter().filter(|t| t.op == 1) {
                    c.eq("client id", t.client_id.clone(), client_id(MON));
                    c.eq("requested lease time", t.lease_time, Some(86400));
                }
                c.eq(
                    "RELEASE: host name",
                    d[4].hostname.as_deref(),
                    Some(&b"monitor-icu-3"[..]),
                );
                c.eq("ACK yiaddr", d[3].yiaddr, IP_MON);
                c.eq("ACK lease time", d[3].lease_time, Some(3600));
                c.eq("RELEASE ciaddr", d[4].ciaddr, IP_MON);
            }
            c.ok("ARP: mon at 10.82.0.103", bindings.contains(&(IP_MON, MON)));
        }
        "dhcp_decline_inform.pcap" => {
            c.eq(
                "DHCP types",
                types(&d),
                vec![8, 5, 1, 2, 3, 5, 4, 1, 2, 3, 5, 7],
            );
            if d.len() == 12 {
                let inform = &d[0];
                c.eq("INFORM chaddr", inform.client_mac, DELL);
                c.eq("INFORM ciaddr", inform.ciaddr, IP_PUMP2);
                c.eq("INFORM IP source", inform.ip_src, IP_PUMP2);
                c.eq(
                    "INFORM host name",
                    inform.hostname.as_deref(),
                    Some(&b"LAPTOP-7QX2D"[..]),
                );
                c.eq(
                    "INFORM vendor class",
                    inform.vendor_class.as_deref(),
                    Some(&b"MSFT 5.0"[..]),
                );
                c.eq(
                    "INFORM client id",
                    inform.client_id.clone(),
                    client_id(DELL),
                );
                c.eq("INFORM's ACK: IP destination", d[1].ip_dst, IP_PUMP2);
                c.eq("INFORM's ACK: yiaddr", d[1].yiaddr, ZERO);
                c.eq("INFORM's ACK: no lease time", d[1].lease_time, None);
                let pump: Vec<&DhcpTruth> = d[2..].iter().collect();
                client_messages(
                    &mut c,
                    &pump,
                    "pump2",
                    PUMP2,
                    b"infusion-pump-08",
                    b"B.Braun Space",
                );
                c.eq("first ACK yiaddr", d[5].yiaddr, IP_PUMP2);
                c.eq("DECLINE requested ip", d[6].requested_ip, Some(IP_PUMP2));
                c.eq("DECLINE server id", d[6].server_id, Some(IP_SRV));
                let second = d[10].yiaddr;
                c.ok(
                    "second ACK from 10.82.0.150-199",
                    second.octets()[..3] == [10, 82, 0]
                        && (150..=199).contains(&second.octets()[3]),
                );
                c.eq("RELEASE ciaddr", d[11].ciaddr, second);
                c.ok(
                    "ARP: pump2 at its second address",
                    bindings.contains(&(second, PUMP2)),
                );
            }
            c.ok(
                "pump2's ARP probe for 10.82.0.108",
                arp.iter()
                    .any(|a| a.is_probe() && a.sender_mac == PUMP2 && a.target_ip == IP_PUMP2),
            );
            c.ok(
                "dell's ARP reply for 10.82.0.108",
                has_arp(2, DELL, IP_PUMP2, ZERO) >= 1,
            );
            c.ok(
                "ARP: dell at 10.82.0.108",
                bindings.contains(&(IP_PUMP2, DELL)),
            );
        }
        "arp_takeover.pcap" => {
            c.eq("DHCP types", types(&d), vec![1, 2, 3, 5]);
            if d.len() == 4 {
                let all: Vec<&DhcpTruth> = d.iter().collect();
                client_messages(&mut c, &all, "ge", GE, b"carescape-b450", b"GE Healthcare");
                c.eq("ACK yiaddr", d[3].yiaddr, IP_GE);
            }
            let probes: Vec<&ArpTruth> = arp.iter().filter(|a| a.is_probe()).collect();
            c.eq("ARP probes", probes.len(), 2);
            c.ok(
                "the probes are rpi's for 10.82.0.60",
                probes
                    .iter()
                    .all(|a| a.sender_mac == RPI && a.target_ip == IP_RPI),
            );
            let garp = |op| {
                arp.iter()
                    .filter(|a| a.opcode == op && a.is_gratuitous() && a.sender_ip == IP_GE)
                    .map(|a| a.sender_mac)
                    .collect::<Vec<Mac>>()
            };
            c.eq(
                "gratuitous requests for 10.82.0.104",
                garp(1),
                vec![DELL, DELL],
            );
            c.eq(
                "gratuitous replies for 10.82.0.104",
                garp(2),
                vec![DELL, DELL],
            );
            c.ok(
                "rpi asks for 10.82.0.104",
                has_arp(1, RPI, IP_RPI, IP_GE) >= 1,
            );
            c.ok("ge answers rpi", has_arp(2, GE, IP_GE, IP_RPI) >= 1);
            c.ok("dell answers rpi", has_arp(2, DELL, IP_GE, IP_RPI) >= 1);
            for b in [(IP_SRV, SRV), (IP_GE, GE), (IP_GE, DELL), (IP_RPI, RPI)] {
                c.ok(&format!("ARP binding {b:?}"), bindings.contains(&b));
            }
            // Before the first gratuitous ARP srv answers ge's pings at ge's
            // MAC; after it, at dell's, while ge keeps asking.
            let first_garp = arp
                .iter()
                .find(|a| a.is_gratuitous())
                .map_or(0, |a| a.frame);
            let icmp = tshark::fields(
                pcap,
                "icmp",
                &["frame.number", "eth.src", "eth.dst", "icmp.type"],
            );
            let count = |after: bool, ty: &str, src: Mac, dst: Mac| {
                icmp.iter()
                    .filter(|r| {
                        let fr: u64 = r[0][0].parse().unwrap();
                        (fr > first_garp) == after
                            && r[3] == [ty]
                            && Mac::parse(&r[1][0]) == Some(src)
                            && Mac::parse(&r[2][0]) == Some(dst)
                    })
                    .count()
            };
            c.ok(
                "echo replies to ge before the takeover",
                count(false, "0", SRV, GE) >= 3,
            );
            c.ok(
                "ge still pings after the takeover",
                count(true, "8", GE, SRV) >= 5,
            );
            c.ok(
                "echo replies to dell after the takeover",
                count(true, "0", SRV, DELL) >= 5,
            );
        }
        "dhcp_hostile.pcap" => {
            c.eq("DHCP types", types(&d), vec![1, 2, 3, 5, 7, 1, 2, 3, 5, 7]);
            if d.len() == 10 {
                let evil: Vec<&DhcpTruth> = d[..5].iter().collect();
                client_messages(&mut c, &evil, "evil", EVIL, HOSTILE_HOST, HOSTILE_VENDOR);
                for t in evil.iter().filter(|t| matches!(t.msg_type, Some(1 | 3))) {
                    c.eq(
                        "evil client id",
                        t.client_id.as_deref(),
                        Some(HOSTILE_CLIENT_ID),
                    );
                }
                let evil2: Vec<&DhcpTruth> = d[5..].iter().collect();
                client_messages(&mut c, &evil2, "evil2", EVIL2, &long_host(), FMT_VENDOR);
                c.eq(
                    "evil2 host name length",
                    d[5].hostname.as_ref().map(Vec::len),
                    Some(255),
                );
            }
        }
        "routed.pcap" => {
            c.eq("DHCP messages", d.len(), 0);
            let router = m([0x08, 0x4f, 0xa9, 0x10, 0x00, 0x01]);
            let want: BTreeSet<(Ipv4Addr, Mac)> = [
                (Ipv4Addr::new(192, 168, 10, 1), router),
                (
                    Ipv4Addr::new(192, 168, 10, 20),
                    m([0x44, 0x4b, 0x5d, 0x10, 0x00, 0x20]),
                ),
                (
                    Ipv4Addr::new(192, 168, 10, 30),
                    m([0x4c, 0xd9, 0x8f, 0x10, 0x00, 0x30]),
                ),
                (
                    Ipv4Addr::new(192, 168, 10, 40),
                    m([0x00, 0x09, 0x5c, 0x10, 0x00, 0x40]),
                ),
            ]
            .into();
            c.eq("ARP bindings", bindings.clone(), want);
            let ip_rows = tshark::fields(pcap, "ip", &["eth.src", "ip.src", "eth.dst", "ip.dst"]);
            let behind = |mac_col: usize, ip_col: usize| {
                ip_rows
                    .iter()
                    .filter(|r| Mac::parse(&r[mac_col][0]) == Some(router))
                    .map(|r| r[ip_col][0].parse::<Ipv4Addr>().unwrap())
                    .filter(|a| !a.is_private())
                    .collect::<BTreeSet<Ipv4Addr>>()
            };
            c.eq(
                "remote sources behind the router MAC",
                behind(0, 1).len(),
                50,
            );
            c.eq(
                "remote destinations behind the router MAC",
                behind(2, 3).len(),
                50,
            );
            let syn104 = tshark::fields(
                pcap,
                "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 104",
                &["frame.number"],
            );
            c.eq("SYNs to the CT's port 104", syn104.len(), 20);
        }
        other => c.ok(&format!("no description of {other}"), false),
    }
    c.problems
}

/// Checks `names` in `dir`; fails with every difference at once.
fn check_all(dir: &Path, names: &[&str]) {
    let mut problems = Vec::new();
    for name in names {
        let p = dir.join(name);
        if p.exists() {
            problems.extend(check(name, &p));
        } else {
            problems.push(format!("{name}: missing in {}", dir.display()));
        }
    }
    eprintln!("checked {} identity captures with tshark", names.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn data() -> std::path::PathBuf {
    common::root().join("tests/data/identity")
}

/// The committed captures hold what tests/data/identity/README.md says.
#[test]
fn committed_identity_captures_match_expectations() {
    if !common::require_tools(
        "committed_identity_captures_match_expectations",
        &["tshark"],
    ) {
        return;
    }
    let mut names = SCRIPT_CAPTURES.to_vec();
    names.push("routed.pcap");
    check_all(&data(), &names);
}

/// routed.pcap is exactly what examples/make_routed_capture.rs writes.
#[test]
fn routed_capture_is_what_its_generator_writes() {
    let want = routed_gen::frames().out;
    let (dlt, got) = common::read_frames(&data().join("routed.pcap"));
    assert_eq!(dlt, 1, "Ethernet");
    assert_eq!(got.len(), want.len(), "frame count");
    for (i, ((ts, len, bytes), (want_ts, want_bytes))) in got.iter().zip(&want).enumerate() {
        assert_eq!((ts, bytes), (want_ts, want_bytes), "frame {}", i + 1);
        assert_eq!(*len as usize, bytes.len(), "frame {}: not truncated", i + 1);
    }
}

/// As root with the DHCP and ARP tools (CI): new captures made now by
/// scripts/make-identity-captures.sh hold the same, so the committed ones
/// are reproducible.
#[test]
fn fresh_identity_captures_match_expectations() {
    let Some(dir) = common::fresh_captures(
        "fresh_identity_captures_match_expectations",
        "make-identity-captures.sh",
        &["dnsmasq", "udhcpc", "dhclient", "arping", "ping", "stdbuf"],
    ) else {
        return;
    };
    check_all(dir.path(), &SCRIPT_CAPTURES);
}

/// The ground-truth helpers see the hostile bytes as sent, every one of
/// them, NUL and invalid UTF-8 included.
#[test]
fn tshark_truth_keeps_raw_option_bytes() {
    if !common::require_tools("tshark_truth_keeps_raw_option_bytes", &["tshark"]) {
        return;
    }
    let d = tshark_dhcp(&data().join("dhcp_hostile.pcap"));
    let discover = d.first().expect("a DISCOVER");
    assert_eq!(discover.hostname.as_deref(), Some(HOSTILE_HOST));
    assert!(HOSTILE_HOST.contains(&0) && HOSTILE_HOST.ends_with(b"\xff\xfe"));
    assert_eq!(discover.option(60), Some(HOSTILE_VENDOR));
    assert_eq!(discover.option(61), Some(HOSTILE_CLIENT_ID));
}
