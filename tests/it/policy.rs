//! Policy and alerts on real traffic: a hospital network laid out in
//! network namespaces (tests/data/policy, made by
//! scripts/make-policy-captures.sh with dcmtk, python-hl7, mosquitto,
//! dnsmasq/udhcpc, OpenSSH/dropbear and arping), and crafted captures for
//! what must never be sent from a test: traffic to the internet, scans,
//! rogue DHCP servers, bulk exports, ten minutes of repeated violations.

use crate::common;
use crate::common::garbage::PcapWriter;
use etherparse::PacketBuilder;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    common::root().join("tests/data/policy").join(name)
}

/// `medtap analyze` of `pcap` with the scenario's asset list, no rules
/// directory and default config unless `extra` says otherwise.
fn analyzed(pcap: &Path, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let assets = format!("--assets={}", data("assets.toml").display());
    common::analyzed(pcap, &[&assets, "--rules=", "--config=/dev/null"], extra)
}

/// `medtap alerts --json` plus `args`.
fn alerts(db: &Path, args: &[&str]) -> Vec<Value> {
    let out = common::run_success(
        common::medtap()
            .args(["alerts", "--json", "--db"])
            .arg(db)
            .args(args),
    );
    common::json_lines(&out)
}

fn of_rule<'a>(all: &'a [Value], rule: &str) -> Vec<&'a Value> {
    all.iter().filter(|a| a["rule"] == rule).collect()
}

const CT: &str = "00:18:65:14:01:21";
const PUMP: &str = "00:12:21:14:03:41";
const BROKER: &str = "0c:c4:7a:14:02:14";
const LAPTOP: &str = "10:c5:95:14:04:77";
const ROGUE: &str = "dc:a6:32:14:01:66";
const VENDOR: &str = "54:bf:64:14:09:05";

#[test]
fn benign_hospital_traffic_raises_only_posture_findings() {
    let (_d, db) = analyzed(&data("benign.pcap"), &[]);
    let all = alerts(&db, &[]);
    assert!(!all.is_empty(), "cleartext posture findings expected");
    for a in &all {
        assert_eq!(a["severity"], "info", "{a}");
        assert_eq!(a["rule"], "CLEARTEXT_MEDICAL_DATA", "{a}");
        assert_eq!(a["clause"], "A.2 c), A.2 d)");
    }
    // DICOM to the PACS and the worklist, HL7 from the pump, MQTT
    // credentials and messages from both monitors: one finding per
    // device pair and protocol, its evidence saying what crossed.
    let found: std::collections::BTreeMap<(String, String, String), &Value> = all
        .iter()
        .map(|a| {
            let key = (
                a["device_ip"].as_str().unwrap().to_string(),
                a["peer_ip"].as_str().unwrap().to_string(),
                a["evidence"]["protocol"].as_str().unwrap().to_string(),
            );
            (key, a)
        })
        .collect();
    assert_eq!(found.len(), all.len(), "one finding per pair: {all:#?}");
    let of = |dev: &str, peer: &str, proto: &str| {
        let key = (dev.to_string(), peer.to_string(), proto.to_string());
        let a = found
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} in {all:#?}"));
        assert_eq!(a["evidence"]["tls"], false, "{a}");
        &a["evidence"]
    };
    let monitor = of("10.20.3.51", "10.20.2.14", "mqtt");
    assert_eq!(monitor["credentials"], true, "{monitor}");
    assert_eq!(monitor["data"], true, "{monitor}");
    assert_eq!(of("10.20.1.21", "10.20.2.10", "dicom")["data"], true);
    let pump = of("10.20.3.41", "10.20.2.13", "hl7");
    assert_eq!(
        (&pump["data"], &pump["credentials"]),
        (&Value::Bool(true), &Value::Null)
    );
    assert!(alerts(&db, &["--severity", "low"]).is_empty());
}

#[test]
fn violations_raise_the_appendix_a_alerts() {
    check_violations(&data("violations.pcap"), &data("assets.toml"));
}

/// As root with the tools (CI): the scenario run now by
/// scripts/make-policy-captures.sh between namespaces the script creates
/// raises the same alerts, and its learnt baseline holds the same way.
#[test]
fn fresh_policy_captures_raise_the_same_alerts() {
    let Some(dir) = common::fresh_policy_captures("fresh_policy_captures_raise_the_same_alerts")
    else {
        return;
    };
    let p = dir.path();
    check_violations(&p.join("violations.pcap"), &p.join("assets.toml"));
    check_baseline(
        &p.join("benign.pcap"),
        &p.join("extra-peer.pcap"),
        &p.join("assets.toml"),
    );
}

/// The alerts of the violations scenario in `pcap`, with its asset list.
fn check_violations(pcap: &Path, assets: &Path) {
    let assets = format!("--assets={}", assets.display());
    let (_d, db) = analyzed(pcap, &[&assets]);
    let all = alerts(&db, &[]);
    // storescu from the CT (grade 3) to an unregistered storescp.
    let pv = of_rule(&all, "POLICY_VIOLATION");
    let ct = pv
        .iter()
        .find(|a| a["device_mac"] == CT)
        .unwrap_or_else(|| panic!("{pv:#?}"));
    assert_eq!(ct["severity"], "high");
    assert_eq!(ct["grade"], 3);
    assert_eq!(ct["device_class"], "ct_scanner");
    assert_eq!(ct["peer_ip"], "10.20.1.66");
    assert_eq!(ct["dest_port"], 104);
    assert_eq!(ct["app_proto"], "dicom");
    assert_eq!(ct["clause"], "A.3 b)");
    assert_eq!(ct["evidence"]["calling_ae"], "CT01");
    assert_eq!(ct["evidence"]["called_ae"], "ROGUE");
    assert!(ct["community_id"].as_str().unwrap().starts_with("1:"));
    // The vendor's SSH login into the pump.
    let ssh = pv
        .iter()
        .find(|a| a["device_mac"] == PUMP && a["peer_ip"] == "10.20.9.5")
        .unwrap_or_else(|| panic!("{pv:#?}"));
    assert_eq!(ssh["dest_port"], 22);
    assert_eq!(ssh["app_proto"], "ssh");
    // ... and the audit trail of that remote maintenance session: who,
    // when, how long, how much (recognised by content as SSH).
    let ra = of_rule(&all, "REMOTE_ACCESS");
    assert_eq!(ra.len(), 1, "{ra:#?}");
    let ra = ra[0];
    assert_eq!(ra["device_mac"], PUMP);
    assert_eq!(ra["peer_mac"], VENDOR);
    assert_eq!(ra["clause"], "A.3 d), 6.4 a)");
    assert_eq!(ra["evidence"]["protocol"], "ssh");
    assert_eq!(ra["evidence"]["client"], "10.20.9.5");
    let session = &ra["evidence"]["last_session"];
    let secs = session["duration_s"].as_f64().unwrap();
    assert!(
        (3.0..4.0).contains(&secs),
        "the script's `sleep 3` session: {secs}"
    );
    assert!(session["bytes_toserver"].as_u64().unwrap() > 1000);
    // Five refused logins, another device's credentials, a `#`
    // subscription by a client nobody registered.
    let pa = of_rule(&all, "PROTOCOL_ANOMALY");
    let anomaly = |name: &str| {
        pa.iter()
            .find(|a| a["evidence"]["anomaly"] == name)
            .unwrap_or_else(|| panic!("{name}: {pa:#?}"))
    };
    let brute = anomaly("mqtt.auth_brute_force");
    assert_eq!(brute["severity"], "high");
    assert_eq!(brute["device_mac"], LAPTOP);
    assert_eq!(brute["peer_mac"], BROKER);
    let reuse = anomaly("mqtt.credential_reuse");
    assert_eq!(reuse["device_mac"], LAPTOP);
    assert_eq!(reuse["evidence"]["first_used_by"], "00:09:fb:14:03:51");
    assert_eq!(reuse["evidence"]["client_id"], "laptop-sub");
    let hash = anomaly("mqtt.wildcard_subscription");
    assert_eq!(hash["evidence"]["detail"], "#");
    // No user name or password is kept anywhere in the alerts.
    let text = all.iter().map(|a| a.to_string()).collect::<String>();
    for secret in ["mon_bed1", "Bed1-Vitals-2024", "123456"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    // Unregistered hosts: the laptop, the storescp host, the vendor host.
    let new: Vec<&str> = of_rule(&all, "NEW_DEVICE")
        .iter()
        .map(|a| a["device_mac"].as_str().unwrap())
        .collect();
    for mac in [LAPTOP, ROGUE, VENDOR] {
        assert!(new.contains(&mac), "{mac} not new: {new:?}");
    }
    assert_eq!(new.len(), 3, "registered devices are not new: {new:?}");
    let laptop = of_rule(&all, "NEW_DEVICE")
        .into_iter()
        .find(|a| a["device_mac"] == LAPTOP)
        .unwrap();
    assert_eq!(laptop["device_ip"], "10.20.4.77");
    assert_eq!(laptop["evidence"]["vendor"], "Lenovo");
    // arping -U claiming the pump's address: one alert, both views.
    let ipmac = of_rule(&all, "IP_MAC_CONFLICT");
    assert_eq!(ipmac.len(), 1, "{ipmac:#?}");
    let c = ipmac[0];
    assert_eq!(c["severity"], "high");
    assert_eq!(c["device_mac"], LAPTOP);
    assert_eq!(c["peer_mac"], PUMP);
    assert_eq!(c["evidence"]["ip"], "10.20.3.41");
    assert!(c["evidence"]["ip_theft"].as_str().unwrap().contains(PUMP));
    assert!(c["evidence"].get("ip_conflict").is_some());
    // Filters.
    assert_eq!(alerts(&db, &["--rule", "ip_mac_conflict"]).len(), 1);
    let high = alerts(&db, &["--severity", "high"]);
    assert!(high.iter().all(|a| a["severity"] == "high"));
    assert!(alerts(&db, &["--device", LAPTOP])
        .iter()
        .all(|a| a["device_mac"] == LAPTOP || a["peer_mac"] == LAPTOP));
}

#[test]
fn alert_card_shows_both_ends_and_the_flows_behind_it() {
    let (_d, db) = analyzed(&data("violations.pcap"), &[]);
    let ct = alerts(&db, &["--rule", "POLICY_VIOLATION", "--device", CT]);
    let id = ct[0]["alert_id"].to_string();
    let out = common::run_ok(common::medtap().args(["alert", &id, "--db"]).arg(&db));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("POLICY_VIOLATION — DB3205/T A.3 b)"),
        "{text}"
    );
    assert!(text.contains("CT scanner CT01"), "{text}");
    assert!(text.contains("called_ae: ROGUE"), "{text}");
    assert!(text.contains("flows behind it (1)"), "{text}");
    let out = common::run_ok(
        common::medtap()
            .args(["alert", &id, "--json", "--db"])
            .arg(&db),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["alert"]["alert_id"].to_string(), id);
    assert_eq!(v["device"]["mac"], CT);
    assert_eq!(v["flows"][0]["dest_port"], 104);
    let missing = common::medtap()
        .args(["alert", "999999", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn learnt_baseline_allows_what_was_seen_and_nothing_else() {
    check_baseline(
        &data("benign.pcap"),
        &data("extra-peer.pcap"),
        &data("assets.toml"),
    );
}

/// Learning over `benign`, `baseline propose`, then the proposal as the
/// hospital's policy: `benign` raises no violation, `extra` (one more
/// DICOM peer) exactly that one.
fn check_baseline(benign: &Path, extra: &Path, assets: &Path) {
    let assets_arg = format!("--assets={}", assets.display());
    let (dir, learn) = analyzed(benign, &["--learn", &assets_arg]);
    // Learning: nothing is raised as a violation.
    assert!(alerts(&learn, &["--rule", "POLICY_VIOLATION"]).is_empty());
    let out = common::run_success(
        common::medtap()
            .args([
                "baseline",
                "propose",
                "--config=/dev/null",
                "--rules=",
                "--db",
            ])
            .arg(&learn),
    );
    let proposal = String::from_utf8(out.stdout).unwrap();
    assert!(
        proposal.contains("[class.ct_scanner]\nreplace = true"),
        "{proposal}"
    );
    assert!(
        proposal.contains("peer = \"device:PACS archive\""),
        "{proposal}"
    );
    assert!(
        proposal.contains("operations = [\"C-STORE\"]"),
        "{proposal}"
    );
    assert!(proposal.contains("# 1 flow(s), "), "{proposal}");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("policy.toml"), &proposal).unwrap();
    let rules_arg = format!("--rules={}", rules.display());
    // `rules check` accepts it.
    let check = common::run_ok(
        common::medtap()
            .args(["rules", "check"])
            .arg(&rules)
            .arg("--assets")
            .arg(data("assets.toml")),
    );
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let (_a, again) = analyzed(&data("benign.pcap"), &[&rules_arg]);
    assert!(
        alerts(&again, &["--rule", "POLICY_VIOLATION"]).is_empty(),
        "{:#?}",
        alerts(&again, &[])
    );
    let (_b, extra) = analyzed(extra, &[&rules_arg, &assets_arg]);
    let pv = alerts(&extra, &["--rule", "POLICY_VIOLATION"]);
    assert_eq!(pv.len(), 1, "{pv:#?}");
    assert_eq!(pv[0]["device_mac"], CT);
    assert_eq!(pv[0]["peer_ip"], "10.20.2.11");
    assert_eq!(pv[0]["evidence"]["called_ae"], "PACS2");
}

#[test]
fn learning_records_observations_instead_of_alerts() {
    let (_d, db) = analyzed(&data("violations.pcap"), &["--learn"]);
    assert!(alerts(&db, &["--rule", "POLICY_VIOLATION"]).is_empty());
    let obs = alerts(&db, &["--observations", "--rule", "POLICY_VIOLATION"]);
    assert!(obs.iter().any(|o| o["device_mac"] == CT), "{obs:#?}");
    assert!(obs.iter().all(|o| o["observation"] == true));
    // The other detections are not learnt away.
    assert!(!alerts(&db, &["--rule", "IP_MAC_CONFLICT"]).is_empty());
}

// ---- crafted captures --------------------------------------------------------

const CT_IP: [u8; 4] = [10, 20, 1, 21];
const ROUTER: [u8; 6] = [0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e];

fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

/// A TCP segment (`flags`: "S", "SA", "A", "PA", "FA").
#[allow(clippy::too_many_arguments)]
fn tcp(
    from: ([u8; 6], [u8; 4], u16),
    to: ([u8; 6], [u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(from.0, to.0)
        .ipv4(from.1, to.1, 64)
        .tcp(from.2, to.2, seq, 64240);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(ack);
    }
    if flags.contains('P') {
        b = b.psh();
    }
    if flags.contains('F') {
        b = b.fin();
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// Writes frames `(µs, bytes)` to a pcap in `dir`.
fn pcap(dir: &Path, name: &str, frames: &[(u64, Vec<u8>)]) -> PathBuf {
    let path = dir.join(name);
    let mut w = PcapWriter::new(&path, 1, 65535).unwrap();
    for (ts, f) in frames {
        w.write(*ts, f, f.len() as u32).unwrap();
    }
    w.finish().unwrap();
    path
}

const T0: u64 = 1_790_000_000_000_000;

/// A whole TCP connection from `a` to `b` with `data` bytes of client payload in 1400-byte segments.
fn connection(
    a: ([u8; 6], [u8; 4], u16),
    b: ([u8; 6], [u8; 4], u16),
    t: u64,
    data: usize,
) -> Vec<(u64, Vec<u8>)> {
    let mut f = vec![
        (t, tcp(a, b, 1000, 0, "S", &[])),
        (t + 100, tcp(b, a, 5000, 1001, "SA", &[])),
        (t + 200, tcp(a, b, 1001, 5001, "A", &[])),
    ];
    let mut seq = 1001u32;
    let chunk = vec![0x42u8; 1400];
    let mut sent = 0;
    while sent < data {
        let n = chunk.len().min(data - sent);
        f.push((
            t + 300 + sent as u64 / 100,
            tcp(a, b, seq, 5001, "PA", &chunk[..n]),
        ));
        seq += n as u32;
        sent += n;
    }
    let end = t + 400 + data as u64 / 100;
    f.push((end, tcp(a, b, seq, 5001, "FA", &[])));
    f.push((end + 100, tcp(b, a, 5001, seq + 1, "FA", &[])));
    f.push((end + 200, tcp(a, b, seq + 1, 5002, "A", &[])));
    f
}

#[test]
fn medical_device_and_the_internet_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let ct = (mac(CT), CT_IP, 40001);
    let out = (ROUTER, [93, 184, 216, 34], 443);
    let mut frames = connection(ct, out, T0, 2000);
    // Inbound: an internet host reaches the CT's port 22.
    frames.extend(connection(
        (ROUTER, [203, 0, 113, 9], 50000),
        (mac(CT), CT_IP, 22),
        T0 + 10_000_000,
        100,
    ));
    let p = pcap(dir.path(), "internet.pcap", &frames);
    let (_d, db) = analyzed(&p, &[]);
    let all = alerts(&db, &[]);
    let ext = of_rule(&all, "EXTERNAL_CONNECTION");
    assert_eq!(ext.len(), 2, "{all:#?}");
    let outbound = ext
        .iter()
        .find(|a| a["evidence"]["direction"] == "outbound")
        .unwrap();
    assert_eq!(outbound["device_mac"], CT);
    assert_eq!(outbound["peer_ip"], "93.184.216.34");
    assert_eq!(
        outbound["peer_mac"],
        Value::Null,
        "an internet host has no MAC of its own"
    );
    assert_eq!(outbound["severity"], "high");
    assert_eq!(outbound["clause"], "A.3 a)");
    let inbound = ext
        .iter()
        .find(|a| a["evidence"]["direction"] == "inbound")
        .unwrap();
    assert_eq!(inbound["peer_ip"], "203.0.113.9");
    // And neither is on the CT's allow-list.
    assert_eq!(of_rule(&all, "POLICY_VIOLATION").len(), 2, "{all:#?}");
    // Internet hosts are no devices of the hospital: only the router's
    // MAC (not in the asset list) is new.
    let new = of_rule(&all, "NEW_DEVICE");
    assert_eq!(new.len(), 1, "{all:#?}");
    assert_eq!(new[0]["device_mac"], "00:1a:2b:3c:4d:5e");
}

#[test]
fn ten_minutes_of_repeated_violations_are_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let ct = mac(CT);
    let rogue = mac(ROGUE);
    let mut frames = Vec::new();
    // A connection attempt every second for ten minutes (600 flows).
    for i in 0..600u64 {
        let port = 30000 + i as u16;
        frames.push((
            T0 + i * 1_000_000,
            tcp(
                (ct, CT_IP, port),
                (rogue, [10, 20, 1, 66], 104),
                7,
                0,
                "S",
                &[],
            ),
        ));
    }
    let p = pcap(dir.path(), "repeat.pcap", &frames);
    let (_d, db) = analyzed(&p, &[]);
    let pv = alerts(&db, &["--rule", "POLICY_VIOLATION"]);
    assert_eq!(pv.len(), 1, "{pv:#?}");
    assert_eq!(pv[0]["count"], 600);
    assert_eq!(pv[0]["severity"], "high");
    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(pv[0][k].as_str().unwrap()).unwrap();
    assert_eq!((t("last_seen") - t("ts")).num_seconds(), 599);
}

#[test]
fn scans_exports_and_rogue_dhcp_servers() {
    let dir = tempfile::tempdir().unwrap();
    let laptop = (mac(LAPTOP), [10, 20, 4, 77]);
    let mut frames = Vec::new();
    // One source, 40 hosts of the bedside subnet, port 22, in 4 seconds.
    for h in 1..=40u8 {
        let target = ([0x02, 0, 0, 0, 3, h], [10, 20, 3, h]);
        frames.push((
            T0 + u64::from(h) * 100_000,
            tcp(
                (laptop.0, laptop.1, 41000 + u16::from(h)),
                (target.0, target.1, 22),
                1,
                0,
                "S",
                &[],
            ),
        ));
    }
    // The CT sends 2 MiB to an unregistered host (export limit 1 MiB).
    frames.extend(connection(
        (mac(CT), CT_IP, 40500),
        (mac(ROGUE), [10, 20, 1, 66], 8443),
        T0 + 20_000_000,
        2 << 20,
    ));
    // A DHCPOFFER from a server nobody registered.
    let offer = dhcp_offer(mac(VENDOR), [10, 20, 9, 5]);
    frames.push((T0 + 30_000_000, offer));
    let p = pcap(dir.path(), "mixed.pcap", &frames);
    let cfg = dir.path().join("medtap.toml");
    std::fs::write(&cfg, "[policy]\nexport_mib = 1\n").unwrap();
    let (_d, db) = analyzed(&p, &[&format!("--config={}", cfg.display())]);
    let all = alerts(&db, &[]);
    let scan = of_rule(&all, "SCAN");
    assert_eq!(scan.len(), 1, "{all:#?}");
    assert_eq!(scan[0]["device_mac"], LAPTOP);
    assert_eq!(scan[0]["evidence"]["hosts"], 32, "raised at the threshold");
    let export = of_rule(&all, "DATA_EXPORT");
    assert_eq!(export.len(), 1, "{all:#?}");
    assert_eq!(export[0]["device_mac"], CT);
    assert!(export[0]["evidence"]["bytes_sent"].as_u64().unwrap() > 2 << 20);
    let rogue = of_rule(&all, "ROGUE_DHCP_SERVER");
    assert_eq!(rogue.len(), 1, "{all:#?}");
    assert_eq!(rogue[0]["device_mac"], VENDOR);
    assert_eq!(rogue[0]["clause"], "A.4 a)");
}

/// A DHCPOFFER (RFC 2131) from `server` to a client, broadcast.
fn dhcp_offer(server_mac: [u8; 6], server_ip: [u8; 4]) -> Vec<u8> {
    let mut m = vec![0u8; 240];
    m[0] = 2; // BOOTREPLY
    m[1] = 1;
    m[2] = 6;
    m[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    m[16..20].copy_from_slice(&[10, 20, 3, 200]); // yiaddr
    m[20..24].copy_from_slice(&server_ip); // siaddr
    m[28..34].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x77]); // chaddr
    m[236..240].copy_from_slice(&[99, 130, 83, 99]);
    m.extend_from_slice(&[53, 1, 2]); // OFFER
    m.extend_from_slice(&[54, 4]);
    m.extend_from_slice(&server_ip);
    m.extend_from_slice(&[51, 4, 0, 0, 0x0e, 0x10, 255]);
    let b = PacketBuilder::ethernet2(server_mac, [0xff; 6])
        .ipv4(server_ip, [255, 255, 255, 255], 64)
        .udp(67, 68);
    let mut out = Vec::new();
    b.write(&mut out, &m).unwrap();
    out
}

#[test]
fn a_port_a_device_starts_to_serve_after_its_baseline_is_a_new_service() {
    let dir = tempfile::tempdir().unwrap();
    let pump = (mac(PUMP), [10, 20, 3, 41]);
    let nurse = ([0x02, 0, 0, 0, 4, 9], [10, 20, 4, 9]);
    let hour = 3_600_000_000u64;
    // Within its first hour the pump serves its web page: its baseline.
    let mut first = connection((nurse.0, nurse.1, 45000), (pump.0, pump.1, 80), T0, 500);
    // Two hours later it answers on telnet, and on the web port again.
    first.extend(connection(
        (nurse.0, nurse.1, 45001),
        (pump.0, pump.1, 23),
        T0 + 2 * hour,
        100,
    ));
    first.extend(connection(
        (nurse.0, nurse.1, 45002),
        (pump.0, pump.1, 80),
        T0 + 2 * hour + 1000,
        100,
    ));
    let p = pcap(dir.path(), "service.pcap", &first);
    let cfg = dir.path().join("medtap.toml");
    std::fs::write(&cfg, "[policy]\nnew_service_after = \"1h\"\n").unwrap();
    let config = format!("--config={}", cfg.display());
    let (_d, db) = analyzed(&p, &[&config]);
    let ns = alerts(&db, &["--rule", "NEW_SERVICE"]);
    assert_eq!(ns.len(), 1, "{ns:#?}");
    assert_eq!(ns[0]["device_mac"], PUMP);
    assert_eq!(ns[0]["evidence"]["service"], "tcp/23");
    assert_eq!(ns[0]["clause"], "A.4 b)");
    // A restart on the same database remembers what the pump offered.
    let later = connection(
        (nurse.0, nurse.1, 45003),
        (pump.0, pump.1, 23),
        T0 + 5 * hour,
        100,
    );
    let p2 = pcap(dir.path(), "later.pcap", &later);
    common::run_success(
        common::medtap()
            .arg("analyze")
            .arg(&p2)
            .arg("--db")
            .arg(&db)
            .arg(format!("--assets={}", data("assets.toml").display()))
            .args(["--rules=", &config]),
    );
    assert_eq!(alerts(&db, &["--rule", "NEW_SERVICE"]).len(), 1);
}

#[test]
fn suppressions_silence_known_noise_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("policy.toml"),
        r#"
[[suppress]]
rule = "REMOTE_ACCESS"
device = "ICU bed 1 infusion pump"
peer = "10.20.9.5"
until = "2099-06-30"
reason = "vendor service contract 2026-17"

[[suppress]]
rule = "NEW_DEVICE"
device = "10:c5:95:14:04:77"
until = "2020-01-31"
reason = "the IT laptop, being registered (ticket 4411)"
"#,
    )
    .unwrap();
    let rules_arg = format!("--rules={}", rules.display());
    let (_d, db) = analyzed(&data("violations.pcap"), &[&rules_arg]);
    assert!(alerts(&db, &["--rule", "REMOTE_ACCESS"]).is_empty());
    // Expired: the laptop is new again.
    let new = alerts(&db, &["--rule", "NEW_DEVICE", "--device", LAPTOP]);
    assert_eq!(new.len(), 1, "{new:#?}");
    let out = common::run_ok(
        common::medtap()
            .args(["rules", "suppressions", "--config=/dev/null"])
            .arg(&rules)
            .arg("--assets")
            .arg(data("assets.toml")),
    );
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let line = |rule: &str| {
        table
            .lines()
            .find(|l| l.contains(rule))
            .unwrap()
            .to_string()
    };
    assert!(line("REMOTE_ACCESS").contains("active"), "{table}");
    assert!(line("REMOTE_ACCESS").contains(PUMP), "{table}");
    assert!(line("NEW_DEVICE").contains("EXPIRED"), "{table}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 suppression(s) expired"));
    // A suppression naming a device nobody registered is refused, with
    // file, line and key.
    std::fs::write(
        rules.join("policy.toml"),
        "[[suppress]]\nrule = \"SCAN\"\ndevice = \"the nagios box\"\nreason = \"monitoring\"\n",
    )
    .unwrap();
    let out = common::medtap()
        .args(["rules", "check", "--config=/dev/null"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.toml:3: `suppress[0].device`"), "{err}");
}
