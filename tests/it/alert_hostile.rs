//! Hostile strings through alerts (issue 13): attacker-controlled strings
//! that reach an alert's message or evidence must be stored verbatim (as
//! kept text, see `medtap::proto::text`), printed escaped by `medtap alerts`
//! and `medtap alert ID`, and leave `--json` valid and round-tripping.
//!
//! One capture, built here byte by byte (no real client sends these), of a
//! small network with an asset list and a hospital policy file:
//! - (a) a registered CT scanner opens a DICOM association to an
//!   unregistered host, with an escape sequence, a newline, a double quote
//!   and U+202E in the called AE title and a high byte plus an SQL-ish
//!   string in the calling one (16 bytes each at most, PS3.8 9.3.2): a
//!   POLICY_VIOLATION whose evidence holds both titles;
//! - (b) an unregistered host logs in to the registered MQTT broker with a
//!   hostile client id (CONNACK 0) and subscribes to `#` (SUBACK): a
//!   PROTOCOL_ANOMALY mqtt.wildcard_subscription, and the client id in its
//!   NEW_DEVICE evidence (`mqtt_client_ids`);
//! - (c) a registered infusion pump sends an HL7 ORU^R01 over MLLP to the
//!   registered interface engine with a hostile MSH-3 and an MSH-5 the
//!   hospital's policy does not allow: a POLICY_VIOLATION with the header
//!   in its evidence and its message;
//! - (d) an unregistered MAC sends a DHCP DISCOVER and REQUEST with a
//!   hostile host name (option 12): its NEW_DEVICE evidence `hostname`.
//!
//! `medtap alerts --follow` prints followed alerts as single lines (not a
//! table): those are checked too, from a follower started before the
//! capture is analyzed into its database.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;
use crate::common::lab::{wait_exit, wait_opened, Guard};
use crate::common::wire::{Capture, Host};

use medtap::proto::text::{kept, unescape};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---- the network -----------------------------------------------------------

const CT: Host = Host {
    mac: [0x00, 0x18, 0x65, 0x14, 0x01, 0x21],
    ip: [10, 20, 1, 21],
};
const ROGUE: Host = Host {
    mac: [0xdc, 0xa6, 0x32, 0x14, 0x01, 0x66],
    ip: [10, 20, 1, 66],
};
const PUMP: Host = Host {
    mac: [0x00, 0x12, 0x21, 0x14, 0x03, 0x41],
    ip: [10, 20, 3, 41],
};
const ENGINE: Host = Host {
    mac: [0x00, 0x50, 0x56, 0x14, 0x02, 0x13],
    ip: [10, 20, 2, 13],
};
const BROKER: Host = Host {
    mac: [0x0c, 0xc4, 0x7a, 0x14, 0x02, 0x14],
    ip: [10, 20, 2, 14],
};
const LAPTOP: Host = Host {
    mac: [0x10, 0xc5, 0x95, 0x14, 0x04, 0x77],
    ip: [10, 20, 4, 77],
};
/// The DHCP client before it has an address.
const DHCP_CLIENT: Host = Host {
    mac: [0x3c, 0x52, 0x82, 0x14, 0x05, 0x55],
    ip: [0, 0, 0, 0],
};
const BROADCAST: Host = Host {
    mac: [0xff; 6],
    ip: [255, 255, 255, 255],
};

const ASSETS: &str = r#"
[[device]]
mac = "00:18:65:14:01:21"
ip = "10.20.1.21"
name = "CT scanner CT01"
class = "ct_scanner"

[[device]]
mac = "00:12:21:14:03:41"
ip = "10.20.3.41"
name = "ICU bed 1 infusion pump"
class = "infusion_pump"

[[device]]
mac = "00:50:56:14:02:13"
ip = "10.20.2.13"
name = "HL7 interface engine"
class = "interface_engine"

[[device]]
mac = "0c:c4:7a:14:02:14"
ip = "10.20.2.14"
name = "ICU MQTT broker"
class = "mqtt_broker"
"#;

/// The hospital's policy: pumps may send HL7 to a registered interface
/// engine, to the application HIS only (the shipped entries of the class
/// allow any HL7 to an interface engine, so they are replaced).
const POLICY: &str = r#"
[class.infusion_pump]
replace = true

[[allow]]
classes = ["infusion_pump"]
app = "hl7"
peer = "class:interface_engine"
direction = "initiates"
hl7 = { receiving_app = ["HIS"] }
"#;

// ---- the hostile strings, as sent --------------------------------------------

/// (a) Called AE title: CSI "erase display", a newline, a double quote,
/// RIGHT-TO-LEFT OVERRIDE (13 of the 16 bytes).
const CALLED_AE: &[u8] = b"\x1b[2J\n\"\xe2\x80\xaeEVIL";
/// (a) The called AE field as sent: the title after a leading space
/// (padding, not significant: PS3.5 6.2, so medtap trims it).
const CALLED_FIELD: &[u8] = b" \x1b[2J\n\"\xe2\x80\xaeEVIL";
/// (a) Calling AE title: a byte that is not UTF-8 and the start of an SQL
/// injection (16 bytes; the whole `alerts` statement does not fit).
const CALLING_AE: &[u8] = b"\xff');DROP TABLE--";
/// (b) MQTT client id (valid UTF-8, as MQTT requires).
const CLIENT_ID: &str = "\u{1b}[2J\n\"'); DROP TABLE alerts;--\u{202e}\u{2028}X";
/// (c) HL7 MSH-3 (no HL7 separators, no CR/LF: those would end the field
/// or the segment).
const SENDING_APP: &[u8] = b"\x1b[2J\x07\"'); DROP TABLE alerts;--\xe2\x80\xae\xff";
/// (c) HL7 MSH-5: not the HIS the policy allows.
const RECEIVING_APP: &str = "LAB_SYSTEM";
/// (d) DHCP host name.
const HOSTNAME: &[u8] = b"\x1b[2J\n\"'); DROP TABLE alerts;--\xe2\x80\xae\xff\r\xc2\x9b";

/// Characters that must never reach stdout raw (a final LF ends each line).
fn raw_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{2028}' | '\u{2029}' | '\u{202a}'
                ..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Asserts that `out` is UTF-8 holding none of [`raw_unsafe`].
fn assert_terminal_safe(what: &str, out: &[u8]) -> String {
    let s = String::from_utf8(out.to_vec()).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    for (n, line) in s.lines().enumerate() {
        if let Some(c) = line.chars().find(|&c| raw_unsafe(c)) {
            panic!("{what}: raw {c:?} on line {n}: {line:?}");
        }
    }
    s
}

/// What the tables print for a kept string: control, bidi and separator
/// characters as `\u{..}` (the characters these strings hold).
fn escaped(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2028}' | '\u{2029}') {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

// ---- the capture ---------------------------------------------------------------

fn item(t: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![t, 0];
    v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    v.extend_from_slice(value);
    v
}

fn pdu(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t, 0];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// An AE field: `raw`, then space padding to 16 bytes.
fn ae(raw: &[u8]) -> [u8; 16] {
    let mut a = [b' '; 16];
    a[..raw.len()].copy_from_slice(raw);
    a
}

const VERIFICATION: &[u8] = b"1.2.840.10008.1.1";
const CT_IMAGE: &[u8] = b"1.2.840.10008.5.1.4.1.1.2";
const IMPLICIT_LE: &[u8] = b"1.2.840.10008.1.2";

/// A-ASSOCIATE-RQ or -AC (PS3.8 9.3.2, 9.3.3): protocol version 1, the
/// titles, the DICOM application context, contexts 1 (Verification) and
/// 3 (CT Image Storage) with implicit VR little endian, user information
/// (maximum length, implementation class UID and version name).
fn associate(rq: bool, called: &[u8], calling: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0]; // protocol version, reserved
    b.extend(ae(called));
    b.extend(ae(calling));
    b.extend([0; 32]);
    b.extend(item(0x10, b"1.2.840.10008.3.1.1.1"));
    for (id, abs) in [(1u8, VERIFICATION), (3, CT_IMAGE)] {
        // ID, reserved, result (AC: 0 acceptance), reserved.
        let mut pc = vec![id, 0, 0, 0];
        if rq {
            pc.extend(item(0x30, abs));
        }
        pc.extend(item(0x40, IMPLICIT_LE));
        b.extend(item(if rq { 0x20 } else { 0x21 }, &pc));
    }
    let mut ui = item(0x51, &16384u32.to_be_bytes());
    ui.extend(item(0x52, b"1.2.276.0.7230010.3.0.3.6.7"));
    ui.extend(item(0x55, b"OFFIS_DCMTK_367"));
    b.extend(item(0x50, &ui));
    pdu(if rq { 0x01 } else { 0x02 }, &b)
}

/// An MQTT packet: fixed header byte, remaining length (MQTT 3.1.1 §2.2.3),
/// body.
fn mqtt(header: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![header];
    let mut n = body.len();
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        v.push(byte);
        if n == 0 {
            break;
        }
    }
    v.extend_from_slice(body);
    v
}

fn mqtt_string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

/// CONNECT (MQTT 3.1.1 §3.1): protocol name and level 4, clean session,
/// keep alive 60 s, the client id; no user name or password.
fn mqtt_connect(client_id: &[u8]) -> Vec<u8> {
    let mut b = mqtt_string(b"MQTT");
    b.extend([4, 0x02, 0, 60]);
    b.extend(mqtt_string(client_id));
    mqtt(0x10, &b)
}

/// SUBSCRIBE (§3.8) packet id 1, one filter at QoS 1.
fn mqtt_subscribe(filter: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 1];
    b.extend(mqtt_string(filter));
    b.push(1);
    mqtt(0x82, &b)
}

/// An HL7 message in an MLLP frame (HL7 v2 Appendix C: VT, message, FS CR).
fn mllp(segments: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![0x0b];
    for s in segments {
        v.extend_from_slice(s);
        v.push(b'\r');
    }
    v.extend([0x1c, 0x0d]);
    v
}

/// A BOOTREQUEST (RFC 2131 §2) from `mac` with these options (RFC 2132)
/// after the magic cookie, broadcast flag set.
fn dhcp_request(mac: [u8; 6], xid: u32, options: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = vec![1, 1, 6, 0]; // op BOOTREQUEST, htype Ethernet, hlen 6, hops
    b.extend(xid.to_be_bytes());
    b.extend([0, 0, 0x80, 0]); // secs, flags (broadcast)
    b.extend([0; 16]); // ciaddr, yiaddr, siaddr, giaddr
    b.extend(mac);
    b.extend([0; 10 + 64 + 128]); // chaddr padding, sname, file
    b.extend([99, 130, 83, 99]); // magic cookie
    for (code, value) in options {
        b.push(*code);
        b.push(value.len() as u8);
        b.extend_from_slice(value);
    }
    b.push(255);
    b
}

/// A capture of one NTP request from the CT to the interface engine (the
/// policy allows it: no alert), to create a database to follow.
fn quiet_capture(path: &Path) {
    let mut c = Capture::new(1_795_946_000_000_000);
    c.udp(CT, 40123, ENGINE, 123, &[0x23; 48]);
    c.write(path);
}

/// The capture of (a)..(d), one conversation after the other.
fn capture(path: &Path) {
    // 2026-11-29T10:00:00Z
    let mut c = Capture::new(1_795_946_400_000_000);
    // (d) DHCP first: the client's only frames.
    let mut client_id = vec![1];
    client_id.extend(DHCP_CLIENT.mac);
    let params: &[u8] = &[1, 3, 6, 15];
    let discover = dhcp_request(
        DHCP_CLIENT.mac,
        0x1234_5678,
        &[(53, &[1]), (61, &client_id), (12, HOSTNAME), (55, params)],
    );
    c.udp(DHCP_CLIENT, 68, BROADCAST, 67, &discover);
    c.pause(500_000);
    let request = dhcp_request(
        DHCP_CLIENT.mac,
        0x1234_5678,
        &[
            (53, &[3]),
            (61, &client_id),
            (50, &[10, 20, 3, 150]),
            (54, &[10, 20, 2, 1]),
            (12, HOSTNAME),
            (55, params),
        ],
    );
    c.udp(DHCP_CLIENT, 68, BROADCAST, 67, &request);
    c.pause(500_000);
    // (a) DICOM: the CT to the unregistered host.
    c.tcp(
        CT,
        40104,
        ROGUE,
        104,
        &[
            (true, &associate(true, CALLED_FIELD, CALLING_AE)),
            (false, &associate(false, CALLED_FIELD, CALLING_AE)),
            (true, &pdu(0x05, &[0; 4])),  // A-RELEASE-RQ
            (false, &pdu(0x06, &[0; 4])), // A-RELEASE-RP
        ],
    );
    c.pause(500_000);
    // (b) MQTT: the laptop to the broker.
    c.tcp(
        LAPTOP,
        40406,
        BROKER,
        1883,
        &[
            (true, &mqtt_connect(CLIENT_ID.as_bytes())),
            (false, &[0x20, 2, 0, 0]), // CONNACK, accepted
            (true, &mqtt_subscribe(b"#")),
            (false, &[0x90, 3, 0, 1, 1]), // SUBACK, QoS 1 granted
            (true, &[0xe0, 0]),           // DISCONNECT
        ],
    );
    c.pause(500_000);
    // (c) HL7: the pump to the interface engine.
    let mut msh = b"MSH|^~\\&|".to_vec();
    msh.extend_from_slice(SENDING_APP);
    msh.extend_from_slice(b"|ICU|");
    msh.extend_from_slice(RECEIVING_APP.as_bytes());
    msh.extend_from_slice(b"|HOSP|20261129100002||ORU^R01^ORU_R01|PUMP-0001|P|2.6");
    let ack: &[u8] =
        b"MSH|^~\\&|LAB_SYSTEM|HOSP|PUMP|ICU|20261129100003||ACK^R01^ACK|PUMP-0001-ACK|P|2.6";
    c.tcp(
        PUMP,
        40301,
        ENGINE,
        2575,
        &[
            (true, &mllp(&[&msh, b"OBX|1|NM|RATE^Infusion rate||5|mL/h"])),
            (false, &mllp(&[ack, b"MSA|AA|PUMP-0001"])),
        ],
    );
    c.write(path);
}

// ---- the test ------------------------------------------------------------------

/// A work directory with the capture, the asset list, the rules directory
/// and an empty config (the machine's /etc/medtap must not matter).
struct Work {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().unwrap();
        capture(&dir.path().join("hostile.pcap"));
        quiet_capture(&dir.path().join("quiet.pcap"));
        std::fs::write(dir.path().join("assets.toml"), ASSETS).unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        std::fs::write(rules.join("policy.toml"), POLICY).unwrap();
        std::fs::write(dir.path().join("medtap.toml"), "").unwrap();
        let db = dir.path().join("h.db");
        Work { dir, db }
    }

    /// `medtap analyze PCAP` (a file in the work directory) into the database.
    fn analyze(&self, pcap: &str) {
        let p = self.dir.path();
        let out = common::run_ok(
            common::medtap()
                .arg("analyze")
                .arg(p.join(pcap))
                .arg("--db")
                .arg(&self.db)
                .arg("--config")
                .arg(p.join("medtap.toml"))
                .arg("--assets")
                .arg(p.join("assets.toml"))
                .arg("--rules")
                .arg(p.join("rules")),
        );
        assert!(
            out.status.success(),
            "analyze {pcap}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn analyzed() -> Work {
    let w = Work::new();
    w.analyze("hostile.pcap");
    w
}

fn query(db: &Path, args: &[&str]) -> Vec<u8> {
    let out = common::run_ok(common::medtap().args(args).arg("--db").arg(db));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `medtap alerts --json`: every line valid JSON, terminal-safe.
fn alerts_json(db: &Path) -> Vec<Value> {
    let out = query(db, &["alerts", "--json"]);
    let text = assert_terminal_safe("alerts --json", &out);
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// The one alert of `rule` about `device` (by MAC), peer `peer` if given.
fn one<'a>(rows: &'a [Value], rule: &str, device: &Host, peer: Option<&Host>) -> &'a Value {
    let found: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["rule"] == rule
                && r["device_mac"] == device.mac_text()
                && peer.is_none_or(|p| r["peer_mac"] == p.mac_text())
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{rule} about {}: {rows:#?}",
        device.mac_text()
    );
    found[0]
}

/// The string `key` of `v`'s evidence.
fn ev<'a>(v: &'a Value, key: &str) -> &'a str {
    v["evidence"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no evidence {key:?} in {v:#}"))
}

#[test]
fn hostile_strings_in_alerts_are_kept_verbatim_and_printed_escaped() {
    let a = analyzed();
    let db = &a.db;
    let rows = alerts_json(db);

    // (a) The DICOM violation carries both AE titles, kept (trimmed,
    // invalid UTF-8 escaped reversibly).
    let dicom = one(&rows, "POLICY_VIOLATION", &CT, Some(&ROGUE));
    assert_eq!(dicom["severity"], "high");
    assert_eq!(dicom["grade"], 3);
    assert_eq!(dicom["detail"], "initiates tcp/104");
    assert_eq!(dicom["peer_ip"], ROGUE.ip_text());
    let (calling, called) = (ev(dicom, "calling_ae"), ev(dicom, "called_ae"));
    assert_eq!(calling, "\\xff');DROP TABLE--");
    assert_eq!(called, "\u{1b}[2J\n\"\u{202e}EVIL");
    assert_eq!(unescape(calling), CALLING_AE);
    assert_eq!(unescape(called), CALLED_AE);
    // The same as the association's own row.
    let assoc = serde_json::from_slice::<Value>(
        query(db, &["dicom", "--json"])
            .split(|&b| b == b'\n')
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (assoc["calling_ae"].as_str(), assoc["called_ae"].as_str()),
        (Some(calling), Some(called))
    );
    // The unregistered acceptor's NEW_DEVICE names it by the title it
    // was called with.
    let rogue = one(&rows, "NEW_DEVICE", &ROGUE, None);
    assert_eq!(ev(rogue, "dicom_ae_titles"), called);

    // (b) The `#` subscription from the unregistered laptop, and the
    // client id in the laptop's NEW_DEVICE evidence.
    let wildcard = rows
        .iter()
        .find(|r| r["rule"] == "PROTOCOL_ANOMALY" && r["detail"] == "mqtt.wildcard_subscription")
        .unwrap_or_else(|| panic!("no wildcard subscription alert: {rows:#?}"));
    assert_eq!(wildcard["device_mac"], LAPTOP.mac_text());
    assert_eq!(wildcard["peer_mac"], BROKER.mac_text());
    assert_eq!(wildcard["evidence"]["detail"], "#");
    let laptop = one(&rows, "NEW_DEVICE", &LAPTOP, None);
    assert_eq!(ev(laptop, "mqtt_client_ids"), CLIENT_ID);

    // (c) The HL7 violation: the header in its evidence and its message.
    let hl7 = one(&rows, "POLICY_VIOLATION", &PUMP, Some(&ENGINE));
    assert_eq!(hl7["severity"], "high", "a grade 3 device");
    assert_eq!(hl7["detail"], "initiates hl7");
    assert_eq!(hl7["device_ip"], PUMP.ip_text());
    let sending = ev(hl7, "sending_app");
    assert_eq!(sending, kept(SENDING_APP, 1024));
    assert_eq!(unescape(sending), SENDING_APP);
    assert_eq!(ev(hl7, "receiving_app"), RECEIVING_APP);
    assert_eq!(ev(hl7, "message_type"), "ORU^R01^ORU_R01");
    assert!(
        hl7["message"].as_str().unwrap().contains(sending),
        "{hl7:#}"
    );
    let msg = serde_json::from_slice::<Value>(
        query(db, &["hl7", "--json"])
            .split(|&b| b == b'\n')
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(msg["sending_app"].as_str(), Some(sending));

    // (d) The DHCP client's host name in its NEW_DEVICE evidence.
    let dhcp = one(&rows, "NEW_DEVICE", &DHCP_CLIENT, None);
    let hostname = ev(dhcp, "hostname");
    assert_eq!(hostname, kept(HOSTNAME, 1024));
    assert_eq!(unescape(hostname), HOSTNAME);

    // The database: the same strings in the alerts rows, and no injection
    // (the table is there, with every alert).
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alerts'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1, "the alerts table exists");
    let stored: Vec<(i64, String, String)> = conn
        .prepare("SELECT alert_id, message, evidence FROM alerts ORDER BY alert_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), rows.len(), "every alert row is there");
    for (id, message, evidence) in &stored {
        let row = rows.iter().find(|r| r["alert_id"] == *id).unwrap();
        assert_eq!(
            row["message"].as_str(),
            Some(message.as_str()),
            "alert {id}"
        );
        let evidence: Value = serde_json::from_str(evidence).unwrap();
        assert_eq!(row["evidence"], evidence, "alert {id}");
    }
    for (alert, key, want) in [
        (dicom, "calling_ae", calling),
        (dicom, "called_ae", called),
        (rogue, "dicom_ae_titles", called),
        (laptop, "mqtt_client_ids", CLIENT_ID),
        (hl7, "sending_app", sending),
        (dhcp, "hostname", hostname),
    ] {
        let id = alert["alert_id"].as_i64().unwrap();
        let (_, _, evidence) = stored.iter().find(|(i, _, _)| *i == id).unwrap();
        let evidence: Value = serde_json::from_str(evidence).unwrap();
        assert_eq!(evidence[key].as_str(), Some(want), "alert {id} {key}");
    }

    // `medtap alerts`: escaped, one line per alert, the hostile message
    // readable in its row.
    let table = assert_terminal_safe("alerts", &query(db, &["alerts"]));
    let lines: Vec<&str> = table.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines[0].trim_start().starts_with("id"), "{table}");
    for l in &lines[1..] {
        assert!(
            l.trim_start().starts_with(|c: char| c.is_ascii_digit()),
            "a row broken over lines: {l:?}\n{table}"
        );
    }
    assert_eq!(lines.len() - 1, rows.len(), "one line per alert:\n{table}");
    let hl7_line = lines
        .iter()
        .find(|l| l.trim_start().starts_with(&format!("{} ", hl7["alert_id"])))
        .unwrap();
    let want = escaped(hl7["message"].as_str().unwrap());
    assert!(hl7_line.contains(&want), "{want:?} not in {hl7_line:?}");

    // `medtap alert ID`, text and JSON, for each alert that carries them.
    let labels = [
        "alert ",
        "rule ",
        "severity ",
        "message ",
        "seen ",
        "device ",
        "peer ",
        "flow ",
        "evidence ",
        "flows behind it",
        "flow_id",
    ];
    for (alert, keys) in [
        (dicom, &["calling_ae", "called_ae"][..]),
        (rogue, &["dicom_ae_titles"][..]),
        (laptop, &["mqtt_client_ids"][..]),
        (hl7, &["sending_app"][..]),
        (dhcp, &["hostname"][..]),
    ] {
        let id = alert["alert_id"].to_string();
        let text = assert_terminal_safe(&format!("alert {id}"), &query(db, &["alert", &id]));
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            let l = l.trim_start();
            assert!(
                labels.iter().any(|p| l.starts_with(p))
                    || l.starts_with(|c: char| c.is_ascii_digit()),
                "alert {id}: a line no field starts: {l:?}\n{text}"
            );
        }
        for key in keys {
            let want = format!("evidence    {key}: {}", escaped(ev(alert, key)));
            assert!(
                text.lines().any(|l| l == want),
                "alert {id}: {want:?} not in\n{text}"
            );
        }
        assert!(
            text.lines().any(|l| l
                == format!(
                    "message     {}",
                    escaped(alert["message"].as_str().unwrap())
                )),
            "alert {id}: message line\n{text}"
        );
        let json = query(db, &["alert", &id, "--json"]);
        let json = assert_terminal_safe(&format!("alert {id} --json"), &json);
        assert_eq!(json.lines().count(), 1, "{json}");
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["alert"], *alert, "alert {id} --json");
    }
}

/// `medtap alerts --follow` (table mode) writes each new alert as one
/// line: escaped, never broken by a newline from the capture.
#[test]
fn followed_alert_lines_are_escaped() {
    if !common::require_tools("followed_alert_lines_are_escaped", &["kill"]) {
        return;
    }
    let w = Work::new();
    w.analyze("quiet.pcap");
    let mut f = Guard(
        common::medtap()
            .args(["alerts", "--follow", "--db"])
            .arg(&w.db)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn follower"),
    );
    wait_opened(f.id(), &w.db);
    let (tx, rx) = std::sync::mpsc::channel();
    let out = f.stdout.take().unwrap();
    std::thread::spawn(move || {
        // Raw bytes per line: a raw control character must fail the
        // check below, not the reading.
        for line in BufReader::new(out).split(b'\n').map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    w.analyze("hostile.pcap");
    let rows = alerts_json(&w.db);
    assert!(rows.len() >= 6, "{rows:#?}");
    let mut lines = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(50)) {
            lines.push(l);
        }
        // The empty table's header, then one line per alert.
        if lines.len() > rows.len() {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &f.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = wait_exit(&mut f, Duration::from_secs(5));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut f.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "follower: {status}: {err}");
    assert!(err.trim().is_empty(), "follower stderr: {err}");

    let text = lines.join(&b'\n');
    let text = assert_terminal_safe("alerts --follow", &text);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].trim_start().starts_with("id"), "{text}");
    assert_eq!(lines.len() - 1, rows.len(), "one line per alert:\n{text}");
    for (line, row) in lines[1..].iter().zip(&rows) {
        assert!(
            line.starts_with(&format!("{}  ", row["alert_id"])),
            "{line:?}"
        );
        let want = escaped(row["message"].as_str().unwrap());
        assert!(line.ends_with(&want), "{want:?} does not end {line:?}");
    }
    let hl7 = one(&rows, "POLICY_VIOLATION", &PUMP, Some(&ENGINE));
    assert!(
        escaped(hl7["message"].as_str().unwrap())
            .contains("\\u{1b}[2J\\u{7}\"'); DROP TABLE alerts;--\\u{202e}\\xff"),
        "{hl7}"
    );
}
