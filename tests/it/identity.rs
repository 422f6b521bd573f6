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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, db)
}

fn query(db: &Path, args: &[&str]) -> Vec<Value> {
    let out = common::run_ok(common::medtap().args(args).arg("--db").arg(db));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
        .args([
            "-Y",
            "arp",
            "-T",
            "fields",
            "-e",
            "arp.src.hw_mac",
            "-e",
            "arp.src.proto_ipv4",
        ])
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
    assert_eq!(
        router["ips"],
        serde_json::json!(["192.168.10.1"]),
        "only its own address"
    );
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
    assert!(ips
        .iter()
        .all(|ip| ip.starts_with("198.51.100.") || ip.starts_with("203.0.113.")));
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

/// Option bytes as medtap keeps a name: trailing NULs dropped (RFC 2132 §2).
fn name_bytes(b: &[u8]) -> Vec<u8> {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    b[..end].to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every DHCP message medtap stored for the real-client captures (udhcpc,
/// dhclient, a decline and an inform, hostile names) equals tshark's
/// dissection of the same frame: type, xid, client MAC, addresses, lease,
/// host name, vendor class, client id and parameter list — the names
/// compared byte for byte (medtap keeps them verbatim; `\xHH` for bytes
/// that are not UTF-8, undone by `text::unescape`).
#[test]
fn dhcp_messages_in_the_database_equal_tshark_on_real_clients() {
    if !common::require_tools("identity::dhcp_vs_tshark", &["tshark"]) {
        return;
    }
    let mut compared = 0;
    for name in [
        "dhcp_udhcpc.pcap",
        "dhcp_dhclient.pcap",
        "dhcp_decline_inform.pcap",
        "dhcp_hostile.pcap",
        "arp_takeover.pcap",
    ] {
        let pcap = capture(name);
        let truth = crate::identity_captures::tshark_dhcp(&pcap);
        let (_dir, db) = analyzed(&[&pcap], None);
        let rows: Vec<Vec<Option<String>>> = sql(
            &db,
            "SELECT CAST(op AS TEXT), CAST(msg_type AS TEXT), CAST(xid AS TEXT), client_mac,
                    ciaddr, yiaddr, requested_ip, server_id, CAST(lease_secs AS TEXT),
                    hostname, vendor_class, client_id, fingerprint
             FROM dhcp_messages ORDER BY ts_us, id",
        );
        assert_eq!(rows.len(), truth.len(), "{name}: one row per DHCP frame");
        for (r, t) in rows.iter().zip(&truth) {
            let ip = |a: std::net::Ipv4Addr| (!a.is_unspecified()).then(|| a.to_string());
            let text = |v: &Option<String>| v.as_deref().map(medtap::proto::text::unescape);
            let want = (
                Some(t.op.to_string()),
                t.msg_type.map(|m| m.to_string()),
                Some(t.xid.to_string()),
                Some(t.client_mac.to_string()),
                ip(t.ciaddr),
                ip(t.yiaddr),
                t.requested_ip.map(|a| a.to_string()),
                t.server_id.map(|a| a.to_string()),
                t.lease_time.map(|s| s.to_string()),
            );
            let got = (
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                r[3].clone(),
                r[4].clone(),
                r[5].clone(),
                r[6].clone(),
                r[7].clone(),
                r[8].clone(),
            );
            assert_eq!(got, want, "{name} frame {}", t.frame);
            assert_eq!(
                text(&r[9]),
                t.hostname.as_deref().map(name_bytes),
                "{name} frame {} hostname",
                t.frame
            );
            assert_eq!(
                text(&r[10]),
                t.vendor_class.clone(),
                "{name} frame {} vendor class",
                t.frame
            );
            assert_eq!(
                r[11],
                t.client_id.as_deref().map(hex),
                "{name} frame {} client id",
                t.frame
            );
            let prl = (!t.param_list.is_empty()).then(|| {
                t.param_list
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            });
            assert_eq!(r[12], prl, "{name} frame {} parameter list", t.frame);
            compared += 1;
        }
    }
    // udhcpc 7, dhclient 5, decline/inform 12, hostile 10, takeover 4.
    assert_eq!(compared, 38, "messages compared");
}

/// Hostile names (escape sequences, newlines, quotes, SQL, invalid UTF-8)
/// are stored as sent and never reach a terminal raw; JSON stays valid.
#[test]
fn hostile_dhcp_names_are_stored_verbatim_and_printed_escaped() {
    use crate::identity_captures::{HOSTILE_HOST, HOSTILE_VENDOR};
    let pcap = capture("dhcp_hostile.pcap");
    let (_dir, db) = analyzed(&[&pcap], None);
    let stored: Vec<Vec<String>> = sql(
        &db,
        "SELECT value FROM device_names WHERE kind = 'hostname' ORDER BY first_seen_us",
    );
    let first = medtap::proto::text::unescape(&stored[0][0]);
    assert_eq!(first, name_bytes(HOSTILE_HOST), "stored as sent");
    let vendors: Vec<Vec<String>> = sql(
        &db,
        "SELECT value FROM device_names WHERE kind = 'dhcp_vendor_class'",
    );
    assert!(vendors
        .iter()
        .any(|v| medtap::proto::text::unescape(&v[0]) == HOSTILE_VENDOR));
    let tables: i64 = sql::<i64>(
        &db,
        "SELECT count(*) FROM sqlite_master WHERE name = 'devices'",
    )[0][0];
    assert_eq!(tables, 1, "the SQL in the names did nothing");
    for args in [
        vec!["devices"],
        vec!["devices", "--json"],
        vec!["device", "dc:a6:32:82:00:66"],
        vec!["device", "dc:a6:32:82:00:66", "--json"],
        vec!["dhcp"],
        vec!["dhcp", "--json"],
        vec!["devices", "export"],
        vec!["devices", "export", "--format", "json"],
    ] {
        let out = common::run_ok(common::medtap().args(&args).arg("--db").arg(&db));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("UTF-8 output");
        let raw = text
            .chars()
            .find(|&c| (c.is_control() && c != '\n') || ('\u{2028}'..='\u{202e}').contains(&c));
        assert_eq!(raw, None, "{args:?} printed a raw control character");
        assert!(text.contains("pump-07"), "{args:?} shows the name: {text}");
        if args.contains(&"--json") || args.contains(&"json") {
            for line in text.lines() {
                serde_json::from_str::<Value>(line).unwrap();
            }
        }
    }
}

/// The asset list: registered devices carry their fields, the others are
/// listed by `--unregistered`; the IP plan is checked (a laptop on a
/// monitor's registered address, an unassigned static address).
#[test]
fn the_asset_list_registers_devices_and_its_ip_plan_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets.toml");
    std::fs::write(
        &assets,
        r#"
[[device]]
mac = "44:4B:5D:82:00:04"
ip = "10.82.0.104"
name = "ICU bed 4 monitor"
class = "patient_monitor"
department = "ICU"
location = "Building 2, room 204"
udi = "(01)00884838035210"

[[device]]
mac = "f4:bd:9e:82:00:01"
ip = "10.82.0.1"
name = "core router"
class = "network_device"
"#,
    )
    .unwrap();
    let config = format!(
        "[identity]\nassets = {:?}\nstatic_networks = [\"10.82.0.0/25\"]\n",
        assets.display().to_string()
    );
    let (_d, db) = analyzed(&[&capture("arp_takeover.pcap")], Some(&config));
    let all = query(&db, &["devices", "--json"]);
    let ge = all
        .iter()
        .find(|d| d["mac"] == "44:4b:5d:82:00:04")
        .unwrap();
    assert_eq!(ge["registered"], true);
    assert_eq!(ge["asset"]["name"], "ICU bed 4 monitor");
    assert_eq!(ge["asset"]["department"], "ICU");
    let unregistered = query(&db, &["devices", "--json", "--unregistered"]);
    let macs: BTreeSet<&str> = unregistered
        .iter()
        .map(|d| d["mac"].as_str().unwrap())
        .collect();
    assert_eq!(
        macs,
        BTreeSet::from(["98:e7:43:82:00:0b", "b8:27:eb:82:00:0c"])
    );
    let theft: Vec<Vec<Option<String>>> = sql(
        &db,
        "SELECT device, ip, other_mac FROM device_events WHERE kind = 'ip_theft' ORDER BY ts_us",
    );
    let s = |v: &str| Some(v.to_string());
    assert!(
        theft.contains(&vec![
            s("98:e7:43:82:00:0b"),
            s("10.82.0.104"),
            s("44:4b:5d:82:00:04")
        ]),
        "the laptop on the monitor's registered address: {theft:?}"
    );
    assert!(
        theft.contains(&vec![s("b8:27:eb:82:00:0c"), s("10.82.0.60"), None]),
        "an address of the static network no asset holds: {theft:?}"
    );
    // The register export: the 6.3 a) columns, one row per device.
    let out = common::run_ok(
        common::medtap()
            .args(["devices", "export", "--db"])
            .arg(&db),
    );
    let csv_text = String::from_utf8(out.stdout).unwrap();
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "type",
            "class",
            "grade",
            "manufacturer",
            "ip",
            "mac",
            "unique_id",
            "name",
            "hostname",
            "department",
            "location",
            "registered",
            "first_seen",
            "last_seen"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), all.len());
    let ge_row = rows.iter().find(|r| &r[5] == "44:4b:5d:82:00:04").unwrap();
    // The asset list registers it as a patient monitor: its class's grade.
    assert_eq!(
        ge_row.iter().take(12).collect::<Vec<_>>(),
        [
            "Patient monitor",
            "patient_monitor",
            "3",
            "GE Healthcare",
            "10.82.0.104",
            "44:4b:5d:82:00:04",
            "(01)00884838035210",
            "ICU bed 4 monitor",
            "carescape-b450",
            "ICU",
            "Building 2, room 204",
            "true"
        ]
    );
}

/// DHCPv6 (dhclient -6 against dnsmasq, tests/data/dhcp/v6.pcap): every
/// message stored with tshark's type, xid, client DUID, ORO, FQDN and
/// IA_NA address (ground truth: the TSV next to the capture, tshark 4.0);
/// the transactions pair the server's answers with the client.
#[test]
fn dhcpv6_messages_in_the_database_equal_tshark() {
    let pcap = common::root().join("tests/data/dhcp/v6.pcap");
    let truth = common::read_tsv(&pcap.with_extension("pcap.tshark.tsv"));
    let (_dir, db) = analyzed(&[&pcap], None);
    let rows: Vec<Vec<Option<String>>> = sql(
        &db,
        "SELECT CAST(msg_type AS TEXT), printf('0x%x', xid), client_id, fingerprint, fqdn, yiaddr
         FROM dhcp_messages WHERE version = 6 ORDER BY ts_us, id",
    );
    assert_eq!(rows.len(), truth.len());
    assert!(rows.len() >= 6);
    for (r, t) in rows.iter().zip(&truth) {
        let f = |k: &str| {
            let v = t.get(k).map(String::as_str).unwrap_or("");
            (!v.is_empty()).then(|| v.to_string())
        };
        assert_eq!(r[0], f("dhcpv6.msgtype"), "{t:?}");
        assert_eq!(r[1], f("dhcpv6.xid"), "{t:?}");
        // The client DUID is the first DUID tshark lists.
        let duid = f("dhcpv6.duid.bytes").map(|d| d.split(" | ").next().unwrap().to_string());
        assert_eq!(r[2], duid, "{t:?}");
        assert_eq!(
            r[3],
            f("dhcpv6.requested_option_code").map(|v| v.replace(" | ", ",")),
            "{t:?}"
        );
        assert_eq!(r[5], f("dhcpv6.iaaddr.ip"), "{t:?}");
        // tshark shows the FQDN with a trailing dot, and hides it in a
        // RELEASE (RFC 4704); medtap keeps what was sent, without the dot.
        if let Some(name) = f("dhcpv6.client_domain") {
            assert_eq!(r[4].as_deref(), Some(name.trim_end_matches('.')), "{t:?}");
        }
    }
    let tx = query(&db, &["dhcp", "--json"]);
    let v6: Vec<&Value> = tx.iter().filter(|t| t["version"] == 6).collect();
    assert_eq!(v6.len(), 3);
    assert!(v6.iter().all(|t| t["client_mac"] == "02:00:00:90:00:07"));
    assert_eq!(v6[1]["types"], serde_json::json!(["REQUEST", "REPLY"]));
    assert_eq!(v6[1]["leased_ip"], "fd90::100");
}
