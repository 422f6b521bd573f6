//! Device identity on real traffic: an address taken over by gratuitous
//! ARP (one conflict naming both MACs; the owner's defence is not a
//! second), a routed SPAN port (one router, the hosts behind it kept
//! apart by IP), vendors against the IEEE registry, and bindings against
//! tshark's ARP dissection. Captures: tests/data/identity (made by
//! scripts/make-identity-captures.sh between network namespaces, see its
//! README).

use crate::common;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn capture(name: &str) -> PathBuf {
    common::root().join("tests/data/identity").join(name)
}

/// `medtap analyze` of `files` into a fresh database (with `config`, if
/// given), and the database's path (kept alive by the returned directory).
fn analyzed(files: &[&Path], config: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut cmd = common::medtap();
    cmd.arg("analyze").args(files).arg("--db").arg(&db);
    if let Some(text) = config {
        let path = dir.path().join("medtap.toml");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--config").arg(&path);
    }
    let out = common::run_ok(&mut cmd);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, db)
}

fn query(db: &Path, args: &[&str]) -> Vec<Value> {
    let out = common::run_ok(common::medtap().args(args).arg("--db").arg(db));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    common::json_lines(&out)
}

fn sql<T: rusqlite::types::FromSql>(db: &Path, q: &str) -> Vec<Vec<T>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn.prepare(q).unwrap();
    let n = st.column_count();
    st.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// tshark's (sender MAC, sender IP) pairs of every ARP packet, probes
/// (sender 0.0.0.0) left out: they claim no address (RFC 5227 §2.1.1).
fn tshark_arp_pairs(pcap: &Path) -> BTreeSet<(String, String)> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args(["-Y", "arp", "-T", "fields", "-e", "arp.src.hw_mac", "-e", "arp.src.proto_ipv4"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, ip)| *ip != "0.0.0.0")
        .map(|(m, ip)| (m.to_string(), ip.to_string()))
        .collect()
}

#[test]
fn a_gratuitous_arp_takeover_is_one_conflict_and_bindings_equal_tsharks() {
    let pcap = capture("arp_takeover.pcap");
    let (_dir, db) = analyzed(&[&pcap], None);
    // The owner (GE, DHCP lease) and the laptop (Dell) that took its address.
    let conflicts: Vec<Vec<Option<String>>> = sql(
        &db,
        "SELECT device, other_mac, ip, evidence, held_by FROM device_events
         WHERE kind = 'ip_conflict' ORDER BY ts_us",
    );
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        conflicts,
        vec![vec![
            s("98:e7:43:82:00:0b"),
            s("44:4b:5d:82:00:04"),
            s("10.82.0.104"),
            s("gratuitous_arp"),
            s("dhcp"),
        ]],
        "exactly one conflict: the newcomer's; the owner's replies defend"
    );
    // The probe (sender 0.0.0.0) bound nothing to the prober for that
    // address; every ARP claim is a binding, and nothing else is.
    if !common::require_tools("identity::arp_bindings", &["tshark"]) {
        return;
    }
    let truth = tshark_arp_pairs(&pcap);
    assert!(truth.len() >= 4, "{truth:?}");
    let arp_ips: BTreeSet<&String> = truth.iter().map(|(_, ip)| ip).collect();
    let ours: BTreeSet<(String, String)> = sql::<String>(&db, "SELECT device, ip FROM device_ips")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .filter(|(_, ip)| arp_ips.contains(ip))
        .collect();
    assert_eq!(ours, truth, "bindings of the addresses ARP speaks of");
    // `device` shows the conflict on the newcomer's page, with both MACs.
    let page = query(&db, &["device", "10.82.0.104", "--json"]);
    assert_eq!(page.len(), 1);
    let dev = &page[0];
    assert_eq!(dev["mac"], "44:4b:5d:82:00:04", "the address's owner first");
    assert_eq!(dev["vendor"], "GE Healthcare");
    assert_eq!(dev["medical_vendor"], true);
    let laptop = &query(&db, &["device", "98:e7:43:82:00:0b", "--json"])[0];
    let events: Vec<&Value> = laptop["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "ip_conflict")
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["other_mac"], "44:4b:5d:82:00:04");
}

#[test]
fn a_routed_span_port_gives_one_router_and_hosts_kept_apart_by_ip() {
    let pcap = capture("routed.pcap");
    // The remote hosts' ranges are the hospital's too (as on a routed core).
    let config = "[identity]\nlocal_networks = [\"192.168.10.0/24\", \"198.51.100.0/24\", \"203.0.113.0/24\"]\n";
    let (_dir, db) = analyzed(&[&pcap], Some(config));
    let devices = query(&db, &["devices", "--json"]);
    let routers: Vec<&Value> = devices.iter().filter(|d| d["role"] == "router").collect();
    assert_eq!(routers.len(), 1, "{devices:?}");
    let router = routers[0];
    assert_eq!(router["mac"], "08:4f:a9:10:00:01");
    assert_eq!(router["ips"], serde_json::json!(["192.168.10.1"]), "only its own address");
    let behind: Vec<&Value> = devices.iter().filter(|d| d["mac"].is_null()).collect();
    assert_eq!(behind.len(), 50, "one device per remote host");
    let ips: BTreeSet<String> = behind
        .iter()
        .map(|d| {
            let ips = d["ips"].as_array().unwrap();
            assert_eq!(ips.len(), 1, "{d}");
            assert!(d["vendor"].is_null(), "not the router's vendor: {d}");
            ips[0].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ips.len(), 50);
    assert!(ips.iter().all(|ip| ip.starts_with("198.51.100.") || ip.starts_with("203.0.113.")));
    // With the default local networks (RFC 1918), the remote addresses are
    // outside: one router, and no device for any remote host.
    let (_dir2, db2) = analyzed(&[&pcap], None);
    let devices = query(&db2, &["devices", "--json"]);
    assert_eq!(devices.iter().filter(|d| d["role"] == "router").count(), 1);
    assert!(devices.iter().all(|d| !d["mac"].is_null()), "{devices:?}");
}

/// The IEEE registry as Debian's ieee-data ships it: prefix (hex, upper
/// case, 6/7/9 digits) → organisation.
fn ieee_registry() -> Option<BTreeMap<String, String>> {
    let dir = Path::new("/usr/share/ieee-data");
    let mut out = BTreeMap::new();
    for f in ["oui.csv", "mam.csv", "oui36.csv"] {
        let text = std::fs::read_to_string(dir.join(f)).ok()?;
        let mut r = csv::Reader::from_reader(text.as_bytes());
        for rec in r.records() {
            let rec = rec.unwrap();
            out.insert(rec[1].to_uppercase(), rec[2].trim().to_string());
        }
    }
    Some(out)
}

#[test]
fn vendors_equal_the_ieee_registry_and_medical_makers_are_flagged() {
    let Some(registry) = ieee_registry() else {
        common::skip_or_fail(
            "identity::vendors",
            "/usr/share/ieee-data/*.csv (Debian package ieee-data; scripts/install-deps.sh installs it)",
        );
        return;
    };
    let files: Vec<PathBuf> = std::fs::read_dir(common::root().join("tests/data/identity"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (_dir, db) = analyzed(&refs, None);
    let devices = query(&db, &["devices", "--json"]);
    assert!(devices.len() >= 8, "{}", devices.len());
    for d in &devices {
        let mac = d["mac"].as_str().unwrap().replace(':', "").to_uppercase();
        let local = u8::from_str_radix(&mac[..2], 16).unwrap() & 2 != 0;
        assert_eq!(d["locally_administered"], local, "{d}");
        // Longest prefix first: MA-S (36 bits), MA-M (28), MA-L (24).
        let want = [9, 7, 6]
            .iter()
            .find_map(|n| registry.get(&mac[..*n]))
            .filter(|_| !local);
        assert_eq!(d["vendor"].as_str(), want.map(String::as_str), "{d}");
    }
    let medical = |prefix: &str| -> Vec<bool> {
        devices
            .iter()
            .filter(|d| d["mac"].as_str().unwrap().starts_with(prefix))
            .map(|d| d["medical_vendor"].as_bool().unwrap())
            .collect()
    };
    // GE Healthcare, Philips Medical Systems, B. Braun: medical.
    for p in ["44:4b:5d", "00:09:5c", "00:12:21"] {
        let m = medical(p);
        assert!(!m.is_empty() && m.iter().all(|m| *m), "{p}: {m:?}");
    }
    // Dell, Raspberry Pi, Cisco: not.
    for p in ["98:e7:43", "b8:27:eb", "dc:a6:32", "f4:bd:9e"] {
        let m = medical(p);
        assert!(!m.is_empty() && m.iter().all(|m| !*m), "{p}: {m:?}");
    }
    // --medical and --vendor filter on the same facts.
    let med = query(&db, &["devices", "--json", "--medical"]);
    assert!(!med.is_empty() && med.iter().all(|d| d["medical_vendor"] == true));
    let dell = query(&db, &["devices", "--json", "--vendor", "dell"]);
    assert!(!dell.is_empty() && dell.iter().all(|d| d["vendor"] == "Dell Inc."));
}
