//! From an alert back to its packets, on the policy scenario's real
//! captures (tests/data/policy: dcmtk, python-hl7, mosquitto, OpenSSH,
//! arping between namespaces): `analyze --archive`, then `extract` of
//! every alert about flows gives exactly the frames tshark selects from
//! the original captures for those flows, `-w -` the same bytes, the
//! manifest their SHA-256; `replay` reproduces the alerts whose evidence
//! is all in the extract.

use crate::common;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    common::root().join("tests/data/policy").join(name)
}

const INPUTS: [&str; 3] = ["benign.pcap", "extra-peer.pcap", "violations.pcap"];

/// The scenario analyzed with the archive on and no payload cap.
fn archived(dir: &Path) -> PathBuf {
    let cfg = dir.join("m.toml");
    std::fs::write(
        &cfg,
        "[archive]\nmax_payload_per_flow = 0\nfile_mib = 1\nmax_total_mib = 64\n",
    )
    .unwrap();
    let db = dir.join("t.db");
    let mut cmd = common::medtap();
    cmd.arg("analyze");
    for i in INPUTS {
        cmd.arg(data(i));
    }
    cmd.arg("--db")
        .arg(&db)
        .arg("--archive")
        .arg(dir.join("archive"))
        .arg(format!("--assets={}", data("assets.toml").display()))
        .arg("--rules=")
        .arg("--config")
        .arg(&cfg);
    common::run_success(&mut cmd);
    db
}

fn sha256_of(path: &Path) -> String {
    let out = common::run_success(std::process::Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The frames (time, captured bytes) of the original captures that tshark
/// puts in `flows` (5-tuples within their first..last frame).
fn tshark_frames(flows: &[Value]) -> Vec<(i64, Vec<u8>)> {
    let clauses: Vec<String> = flows
        .iter()
        .map(|f| {
            let proto = f["proto"].as_str().unwrap();
            let (s, d) = (
                f["src_ip"].as_str().unwrap(),
                f["dest_ip"].as_str().unwrap(),
            );
            let (sp, dp) = (
                f["src_port"].as_u64().unwrap(),
                f["dest_port"].as_u64().unwrap(),
            );
            let t = |k: &str| {
                chrono::DateTime::parse_from_rfc3339(f[k].as_str().unwrap())
                    .unwrap()
                    .timestamp_micros()
            };
            let (start, end) = (t("start"), t("end"));
            format!(
                "(ip.addr == {s} && ip.addr == {d} && {proto}.port == {sp} && {proto}.port == {dp} \
                 && frame.time_epoch >= {}.{:06} && frame.time_epoch <= {}.{:06})",
                start / 1_000_000,
                start % 1_000_000,
                end / 1_000_000,
                end % 1_000_000
            )
        })
        .collect();
    let filter = clauses.join(" || ");
    let mut frames = Vec::new();
    for i in INPUTS {
        let out = common::run_success(
            std::process::Command::new("tshark")
                .arg("-r")
                .arg(data(i))
                .args(["-Y", &filter, "-T", "fields", "-e", "frame.number"]),
        );
        let numbers: Vec<usize> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        let (_, all) = common::read_frames(&data(i));
        frames.extend(
            numbers
                .iter()
                .map(|&n| (all[n - 1].0, all[n - 1].2.clone())),
        );
    }
    frames
}

#[test]
fn an_alerts_extract_holds_exactly_tsharks_frames_of_its_flows_and_replays() {
    if !common::require_tools("extract::an_alerts_extract", &["tshark", "sha256sum"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = archived(dir.path());
    let alerts = common::json_lines(&common::run_success(
        common::medtap()
            .args(["alerts", "--json", "--limit", "0", "--db"])
            .arg(&db),
    ));
    let flows = common::json_lines(&common::run_success(
        common::medtap()
            .args(["flows", "--json", "--limit", "0", "--db"])
            .arg(&db),
    ));
    assert!(alerts.len() >= 15, "{} alerts", alerts.len());
    let mut compared = 0;
    for a in alerts.iter().filter(|a| a["flow_id"].is_u64()) {
        let id = a["alert_id"].as_u64().unwrap().to_string();
        let out = dir.path().join(format!("a{id}.pcap"));
        common::run_success(
            common::medtap()
                .args(["extract", "--alert", &id, "-w"])
                .arg(&out)
                .arg("--db")
                .arg(&db),
        );
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(format!("{}.manifest.json", out.display())).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["sha256"], sha256_of(&out), "alert {id}");
        assert_eq!(manifest["complete"], true, "alert {id}");
        // tshark reads it without a complaint.
        let t = common::run_success(std::process::Command::new("tshark").arg("-r").arg(&out));
        assert!(
            !String::from_utf8_lossy(&t.stderr).contains("cut short"),
            "alert {id}"
        );
        let ids: Vec<u64> = manifest["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap())
            .collect();
        assert!(
            ids.contains(&a["flow_id"].as_u64().unwrap()),
            "alert {id}: {ids:?}"
        );
        let chosen: Vec<Value> = flows
            .iter()
            .filter(|f| ids.contains(&f["flow_id"].as_u64().unwrap()))
            .cloned()
            .collect();
        let expected = tshark_frames(&chosen);
        let (_, got) = common::read_frames(&out);
        let got: Vec<(i64, Vec<u8>)> = got.into_iter().map(|(ts, _, d)| (ts, d)).collect();
        assert_eq!(
            got.len(),
            expected.len(),
            "alert {id} ({}): frame count",
            a["rule"]
        );
        assert!(
            got == expected,
            "alert {id}: the frames differ from tshark's"
        );
        assert_eq!(manifest["packets"], got.len() as u64);
        compared += 1;
    }
    assert!(compared >= 10, "{compared} alerts compared");
    // stdout: the same bytes.
    let first = alerts.iter().find(|a| a["flow_id"].is_u64()).unwrap()["alert_id"].to_string();
    let piped = common::run_success(
        common::medtap()
            .args(["extract", "--alert", &first, "-w", "-", "--db"])
            .arg(&db),
    );
    assert_eq!(
        piped.stdout,
        std::fs::read(dir.path().join(format!("a{first}.pcap"))).unwrap()
    );
    // Replay: every alert whose evidence is in its extract comes out again.
    let mut reproduced = std::collections::BTreeSet::new();
    for a in &alerts {
        let id = a["alert_id"].as_u64().unwrap().to_string();
        let out = common::medtap()
            .args(["replay", "--alert", &id, "--rules=", "--config=/dev/null"])
            .arg(format!("--assets={}", data("assets.toml").display()))
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code() == Some(0),
            text.starts_with("reproduced:"),
            "alert {id}: {text}"
        );
        if out.status.code() == Some(0) {
            reproduced.insert(a["rule"].as_str().unwrap().to_string());
        }
    }
    for rule in [
        "CLEARTEXT_MEDICAL_DATA",
        "NEW_DEVICE",
        "POLICY_VIOLATION",
        "REMOTE_ACCESS",
        "PROTOCOL_ANOMALY",
        "IP_MAC_CONFLICT",
    ] {
        assert!(
            reproduced.contains(rule),
            "no {rule} alert replayed: {reproduced:?}"
        );
    }
}

#[test]
fn an_extraction_with_nothing_archived_says_so_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (_keep, db) = common::analyzed(
        &data("violations.pcap"),
        &["--rules=", "--config=/dev/null"],
        &[],
    );
    let out = common::medtap()
        .args(["extract", "--flow", "1", "-w"])
        .arg(dir.path().join("x.pcap"))
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no archived frame matches"));
    let missing = common::medtap()
        .args(["extract", "--alert", "999999", "-w", "-", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("alert 999999 is not in the database")
    );
}
