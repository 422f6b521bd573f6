//! Hostile strings on real traffic (issue 8, items 5 and 6): dcmtk
//! associations whose AE titles hold escape sequences, CR/LF, high bytes, a
//! quote/SQL-ish string, U+009B, U+202E and U+2028, and a python-hl7 message
//! with control, C1, bidi and line-separator characters in its header, and
//! a mosquitto_pub session with U+202E/U+2028/U+2029 in its client id and
//! topic (tests/data/{dicom,hl7,mqtt}/hostile, made by
//! scripts/make-hostile-dicom-captures.sh). medtap must recognise every
//! association by its structure, keep the bytes as sent, flag the
//! non-conforming titles, print them escaped and keep its JSON valid; and
//! what it kept must explain tshark's (lossy) view of the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use medtap::proto::text::unescape;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A capture, its calling and called AE bytes as the script sends them, and
/// the anomaly detail medtap stores.
type Scenario = (
    &'static str,
    &'static [u8],
    &'static [u8],
    Option<&'static str>,
);

const DICOM: [Scenario; 3] = [
    (
        "echo_escape.pcap",
        b"\x1b[2J\nEVIL",
        b"PACS\r\x1b[1A",
        Some("calling AE: control character"),
    ),
    (
        "echo_high_bytes.pcap",
        b"\xff\xfe\x80BAD",
        b"\xc2\x9b2J\\SCP",
        Some("calling AE: byte outside the default repertoire"),
    ),
    (
        "store_sql_bidi.pcap",
        b"x';DROP--",
        "\u{202e}EVIL\u{2028}X".as_bytes(),
        Some("called AE: byte outside the default repertoire"),
    ),
];

/// Characters that must never reach stdout raw (a final LF ends each line).
const RAW: [char; 7] = [
    '\u{1b}', '\r', '\u{7}', '\u{9b}', '\u{7f}', '\u{202e}', '\u{2028}',
];

fn dicom_dir() -> PathBuf {
    common::root().join("tests/data/dicom/hostile")
}

fn hl7_dir() -> PathBuf {
    common::root().join("tests/data/hl7/hostile")
}

fn mqtt_dir() -> PathBuf {
    common::root().join("tests/data/mqtt/hostile")
}

/// Asserts that `out` holds none of [`RAW`], and no LF but line ends.
fn assert_terminal_safe(what: &str, out: &[u8]) {
    let s = std::str::from_utf8(out).unwrap();
    for line in s.lines() {
        for c in RAW {
            assert!(!line.contains(c), "{what}: raw {c:?} on stdout: {line:?}");
        }
        assert!(!line.contains('\u{2029}') && !line.contains('\u{202d}'));
    }
}

/// `medtap analyze` of `pcaps` into a fresh database.
fn analyze(pcaps: &[&Path]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    common::analyze(&db, pcaps);
    (dir, db)
}

fn query(db: &Path, args: &[&str]) -> Vec<u8> {
    let out = common::run_ok(common::medtap().args(args).arg("--db").arg(db));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every line valid JSON, terminal-safe.
fn json_rows(db: &Path, cmd: &str) -> Vec<Value> {
    let out = query(db, &[cmd, "--json"]);
    assert_terminal_safe(&format!("{cmd} --json"), &out);
    std::str::from_utf8(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// tshark shows an AE title through ISO 646 (basic) decoding: every byte
/// from 0x80 up and every national-use position (`# $ @ [ \ ] ^ { | } ~`
/// and the grave accent) becomes U+FFFD. Padding is trimmed by the caller.
fn tshark_ae_view(raw: &[u8]) -> String {
    raw.iter()
        .map(|&b| {
            if b >= 0x80 || b"#$@[\\]^`{|}~".contains(&b) {
                '\u{fffd}'
            } else {
                char::from(b)
            }
        })
        .collect()
}

/// tshark shows HL7 fields as ASCII: every byte from 0x80 up becomes U+FFFD.
fn tshark_hl7_view(raw: &[u8]) -> String {
    raw.iter()
        .map(|&b| if b >= 0x80 { '\u{fffd}' } else { char::from(b) })
        .collect()
}

/// Checks the DICOM captures in `dir` (the committed or fresh ones).
fn check_dicom(dir: &Path) {
    for (name, calling, called, detail) in DICOM {
        let pcap = dir.join(name);
        let (_tmp, db) = analyze(&[&pcap]);
        // Recognised as DICOM: the flow's app_proto and one association row.
        let flows = common::flows_json(&db, &[]);
        assert_eq!(flows.len(), 1, "{name}");
        assert_eq!(flows[0]["app_proto"], "dicom", "{name}");
        let rows = json_rows(&db, "dicom");
        assert_eq!(rows.len(), 1, "{name}");
        let r = &rows[0];
        assert_eq!(r["result"], "released", "{name}");
        assert_eq!(r["flow_id"], flows[0]["flow_id"]);
        // The bytes as sent, in the JSON and in the database.
        let got_calling = r["calling_ae"].as_str().unwrap();
        let got_called = r["called_ae"].as_str().unwrap();
        assert_eq!(unescape(got_calling), calling, "{name}: {got_calling:?}");
        assert_eq!(unescape(got_called), called, "{name}: {got_called:?}");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let (c, d): (String, String) = conn
            .query_row(
                "SELECT calling_ae, called_ae FROM dicom_associations",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (unescape(&c), unescape(&d)),
            (calling.to_vec(), called.to_vec())
        );
        // The anomaly, with a static reason and never the title.
        let anomalies: Vec<(String, Option<String>)> = conn
            .prepare("SELECT name, detail FROM anomalies")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            anomalies,
            [(
                "dicom.nonconforming_ae_title".to_string(),
                detail.map(str::to_string)
            )],
            "{name}"
        );
        // The table: escaped, with the titles readable.
        let table = query(&db, &["dicom"]);
        assert_terminal_safe(&format!("{name}: dicom"), &table);
        let table = String::from_utf8(table).unwrap();
        let want = format!(
            "{} -> {}",
            escape_like_the_table(got_calling),
            escape_like_the_table(got_called)
        );
        assert!(table.contains(&want), "{name}: {want:?} not in {table}");
    }
}

/// What the table prints for a kept string: control, bidi and separator
/// characters as `\u{..}`.
fn escape_like_the_table(s: &str) -> String {
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

/// medtap's titles explain tshark's view of each A-ASSOCIATE-RQ.
fn check_dicom_against_tshark(dir: &Path) {
    for (name, _, _, _) in DICOM {
        let pcap = dir.join(name);
        let truth: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.tshark.json"))).unwrap(),
        )
        .unwrap();
        let (_tmp, db) = analyze(&[&pcap]);
        let rows = json_rows(&db, "dicom");
        let mut requests = 0;
        for pkt in truth.as_array().unwrap() {
            let l = &pkt["_source"]["layers"];
            let first = |f: &str| l[f].get(0).and_then(Value::as_str).unwrap_or("");
            if first("dicom.pdu.type") != "0x01" {
                continue;
            }
            requests += 1;
            let sport: u64 = first("tcp.srcport").parse().unwrap();
            let r = rows
                .iter()
                .find(|r| r["src_port"] == sport)
                .unwrap_or_else(|| panic!("{name}: no association from port {sport}"));
            for (field, ours) in [
                ("dicom.assoc.ae.calling", "calling_ae"),
                ("dicom.assoc.ae.called", "called_ae"),
            ] {
                let kept = unescape(r[ours].as_str().unwrap());
                assert_eq!(
                    tshark_ae_view(&kept),
                    first(field).trim_matches(' '),
                    "{name} {ours}"
                );
            }
            let ids: Vec<u64> = l["dicom.pctx.id"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
                })
                .collect();
            let ours: Vec<u64> = r["contexts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_u64().unwrap())
                .collect();
            assert_eq!(ours, ids, "{name}: presentation context ids");
            assert_eq!(
                r["max_pdu_length"].as_u64().unwrap().to_string(),
                first("dicom.max_pdu_len"),
                "{name}"
            );
            assert_eq!(r["implementation_version"], first("dicom.userinfo.version"));
        }
        assert_eq!(requests, 1, "{name}: tshark's A-ASSOCIATE-RQs");
    }
}

fn check_hl7(dir: &Path) {
    let pcap = dir.join("control_chars.pcap");
    let (_tmp, db) = analyze(&[&pcap]);
    let rows = json_rows(&db, "hl7");
    assert_eq!(rows.len(), 2, "the message and its ACK");
    let msg = rows.iter().find(|r| r["to_server"] == true).unwrap();
    let sent: [(&str, &[u8]); 4] = [
        ("sending_app", b"\x1b[2J\x07MON"),
        ("sending_facility", b"\xc2\x9b31mICU"),
        ("receiving_app", "\u{202e}SIH".as_bytes()),
        ("receiving_facility", "\u{2028}HOSP".as_bytes()),
    ];
    for (field, raw) in sent {
        assert_eq!(
            msg[field].as_str().map(str::as_bytes),
            Some(raw),
            "{field} stored as sent"
        );
    }
    // python-hl7's ACK swaps sender and receiver: the same bytes come back.
    let ack = rows.iter().find(|r| r["to_server"] == false).unwrap();
    assert_eq!(ack["receiving_app"], msg["sending_app"]);
    assert_eq!(ack["sending_facility"], msg["receiving_facility"]);
    assert_eq!(ack["msa_code"], "AA");
    assert_eq!(msg["ack_code"], "AA");
    let table = query(&db, &["hl7"]);
    assert_terminal_safe("hl7", &table);
    assert!(String::from_utf8(table)
        .unwrap()
        .contains("\\u{1b}[2J\\u{7}MON@\\u{9b}31mICU -> \\u{202e}SIH@\\u{2028}HOSP"));
    // tshark's view of MSH-3..6 (ASCII decoding) follows from the kept bytes.
    let tsv = common::read_tsv(&dir.join("control_chars.pcap.tshark.tsv"));
    assert_eq!(tsv.len(), 2);
    for (row, rec) in tsv.iter().zip([msg, ack]) {
        for (col, field) in [
            ("MSH-3 sending_app", "sending_app"),
            ("MSH-4 sending_fac", "sending_facility"),
            ("MSH-5 receiving_app", "receiving_app"),
            ("MSH-6 receiving_fac", "receiving_facility"),
            ("MSH-10 control_id", "control_id"),
        ] {
            let kept = unescape(rec[field].as_str().unwrap());
            assert_eq!(tshark_hl7_view(&kept), row[col], "{col}");
        }
    }
}

/// The MQTT session: client id and topic as sent, printed escaped, and
/// equal to tshark's (UTF-8) view.
fn check_mqtt(dir: &Path) {
    let (id, topic) = ("\u{202e}EVIL\u{2028}X", "ward/\u{202e}bed\u{2029}");
    let pcap = dir.join("client_id_bidi.pcap");
    let (_tmp, db) = analyze(&[&pcap]);
    let rows = json_rows(&db, "mqtt");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["client_id"], id);
    assert_eq!(rows[0]["published"][0]["topic"], topic);
    let table = query(&db, &["mqtt"]);
    assert_terminal_safe("mqtt", &table);
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("\\u{202e}EVIL\\u{2028}X"), "{table}");
    assert!(table.contains("ward/\\u{202e}bed\\u{2029}"), "{table}");
    // tshark shows the same UTF-8; the TSV generator strips each value of
    // Unicode white space, U+2029 included.
    let tsv = common::read_tsv(&dir.join("client_id_bidi.pcap.tshark.tsv"));
    let connect = tsv.iter().find(|r| r["mqtt.msgtype"] == "1").unwrap();
    assert_eq!(connect["mqtt.clientid"], id);
    let publish = tsv.iter().find(|r| r["mqtt.msgtype"] == "3").unwrap();
    assert_eq!(publish["mqtt.topic"], topic.trim());
}

/// Issue 8 item 5: one byte in an AE title hid a whole association.
#[test]
fn hostile_ae_titles_from_dcmtk_are_recorded_as_dicom_with_an_anomaly() {
    check_dicom(&dicom_dir());
}

/// Issue 8 item 6: U+202E and U+2028 in an MQTT client id reached the
/// terminal raw.
#[test]
fn mqtt_bidi_client_id_from_mosquitto_is_printed_escaped() {
    check_mqtt(&mqtt_dir());
}

#[test]
fn hostile_ae_titles_explain_tsharks_view() {
    check_dicom_against_tshark(&dicom_dir());
}

/// Issue 8 item 6 on real python-hl7 traffic.
#[test]
fn hl7_control_characters_from_python_hl7_are_stored_verbatim_and_printed_escaped() {
    check_hl7(&hl7_dir());
}

/// The same on captures made now (root, dcmtk, python-hl7, tcpdump, tshark).
#[test]
fn fresh_hostile_traffic_is_recorded_and_escaped() {
    let test = "fresh_hostile_traffic_is_recorded_and_escaped";
    let tools: Vec<&str> = common::HOSTILE_CAPTURE_TOOLS
        .iter()
        .chain(&["tcpdump", "tshark"])
        .copied()
        .collect();
    if !(common::require_root(test) && common::require_tools(test, &tools)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dirs = ["dicom", "hl7", "mqtt"].map(|d| dir.path().join(d));
    let pid = common::make_hostile_captures(&dirs);
    // Regression: the script once named its namespaces without its PID
    // while its teardown removed only PID-named ones, so they leaked and the
    // next run failed with "File exists". Another test may be running the
    // same script right now: only this run's namespaces, and names without
    // a PID, count.
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    let leaked: Vec<&str> = left
        .lines()
        .filter(|l| {
            l.strip_prefix("mt-hostile-").is_some_and(|rest| {
                rest.starts_with(&format!("{pid}-"))
                    || !rest.starts_with(|c: char| c.is_ascii_digit())
            })
        })
        .collect();
    assert!(leaked.is_empty(), "namespaces left behind: {leaked:?}");
    check_dicom(&dir.path().join("dicom"));
    check_dicom_against_tshark(&dir.path().join("dicom"));
    check_hl7(&dir.path().join("hl7"));
    check_mqtt(&dir.path().join("mqtt"));
}
