//! The command line through the real binary: config validation, inputs
//! (files, stdin, several files), query filters, JSON contracts, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use common::{medtap, run_ok, sample_pcap};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

fn analyzed_sample() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    common::analyze(&db, &[&sample_pcap()]);
    (dir, db)
}

#[test]
fn config_check_accepts_the_shipped_file() {
    let out = run_ok(
        medtap()
            .args(["config", "check"])
            .arg(common::root().join("config/medtap.toml")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn config_check_names_the_bad_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[capture]\ninterface = \"eth0\"\n\n[flow]\nmax_flows = 0\n",
    )
    .unwrap();
    let out = run_ok(medtap().args(["config", "check"]).arg(&cfg));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:5: `flow.max_flows`"), "{err}");
    std::fs::write(&cfg, "[store]\ndatabse = \"/tmp/x.db\"\n").unwrap();
    let out = run_ok(medtap().args(["config", "check"]).arg(&cfg));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("databse") && err.contains("line 2"), "{err}");
    assert!(!err.contains("stack backtrace"), "{err}");
}

/// `medtap config check` on a file holding `body`: exit code and stderr.
fn config_check(body: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sensor.toml");
    std::fs::write(&cfg, body).unwrap();
    let out = run_ok(medtap().args(["config", "check"]).arg(&cfg));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// Regression (issue 8 item 7): `level = "warning"` passed `config check`,
// then silenced every log line of the service, errors included.
#[test]
fn config_check_rejects_log_level_warning_that_silenced_all_logging() {
    let (code, err) = config_check("[log]\nlevel = \"warning\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("sensor.toml:2: `log.level`: \"warning\" is not a level (did you mean warn?)"),
        "{err}"
    );
    let (code, err) = config_check("[log]\nlevel = \"info,medtap\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("sensor.toml:2: `log.level`"), "{err}");
    let (code, err) = config_check("[log]\nlevel = \"medtap=debug,warn\"\n");
    assert_eq!(code, Some(0), "{err}");
}

// Regression (issue 8 item 7): a filter libpcap cannot compile passed
// `config check` and failed only at `run`: a restart loop under systemd.
#[test]
fn config_check_rejects_bpf_filter_that_failed_only_at_run() {
    let (code, err) = config_check("[capture]\ninterface = \"eth1\"\nfilter = \"tcp prot 104\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("sensor.toml:3: `capture.filter`: \"tcp prot 104\" does not compile for Ethernet (the mirror port's link type)"),
        "{err}"
    );
    let (code, err) = config_check("[capture]\nfilter = \"tcp port 104 or vlan\"\n");
    assert_eq!(code, Some(0), "{err}");
}

// Regression (issue 8 item 7): an empty interface passed `config check`
// and failed only at `run`.
#[test]
fn config_check_rejects_empty_interface_that_failed_only_at_run() {
    for name in ["", "  "] {
        let (code, err) = config_check(&format!("[capture]\ninterface = {name:?}\n"));
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("sensor.toml:2: `capture.interface`")
                && err.contains("names no interface"),
            "{err}"
        );
    }
    // `run` loads the config through the same validation.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.toml");
    std::fs::write(&cfg, "[capture]\ninterface = \"\"\n").unwrap();
    let out = run_ok(
        medtap()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--db")
            .arg(dir.path().join("x.db")),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run.toml:2: `capture.interface`"), "{err}");
}

#[test]
fn stdin_and_multiple_files_are_read_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stdin.db");
    let out = medtap()
        .args(["analyze", "-", "--db"])
        .arg(&db)
        .stdin(std::fs::File::open(sample_pcap()).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_stdin = common::flows_json(&db, &[]);
    let (_d, file_db) = analyzed_sample();
    let from_file = common::flows_json(&file_db, &[]);
    assert_eq!(from_stdin.len(), from_file.len());
    assert!(!from_file.is_empty());
    // Analysing again into the same database continues the flow ids.
    common::analyze(&db, &[&sample_pcap(), &sample_pcap()]);
    let all = common::flows_json(&db, &[]);
    let ids: BTreeSet<u64> = all.iter().map(|f| f["flow_id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "flow ids are unique");
    assert!(all.len() >= 2 * from_file.len());
}

#[test]
fn flows_json_contract_and_filters() {
    let (_d, db) = analyzed_sample();
    let all = common::flows_json(&db, &[]);
    let keys = [
        "flow_id",
        "community_id",
        "start",
        "end",
        "proto",
        "src_ip",
        "src_port",
        "dest_ip",
        "dest_port",
        "vlan",
        "src_mac",
        "dest_mac",
        "app_proto",
        "pkts_toserver",
        "pkts_toclient",
        "bytes_toserver",
        "bytes_toclient",
        "state",
        "reason",
    ];
    for f in &all {
        let obj = f.as_object().unwrap();
        assert_eq!(obj.len(), keys.len(), "{f}");
        for k in keys {
            assert!(obj.contains_key(k), "missing {k} in {f}");
        }
        assert!(f["start"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            f["start"].as_str().unwrap().len(),
            "2026-11-23T09:04:08.195987Z".len()
        );
    }
    let udp = common::flows_json(&db, &["--proto", "udp"]);
    assert!(!udp.is_empty() && udp.iter().all(|f| f["proto"] == "udp"));
    let v6 = common::flows_json(&db, &["--device", "fd77::2"]);
    assert!(!v6.is_empty());
    assert!(v6
        .iter()
        .all(|f| f["src_ip"] == "fd77::2" || f["dest_ip"] == "fd77::2"));
    let by_mac = common::flows_json(&db, &["--device", "02:00:00:77:00:02"]);
    let with_mac = all
        .iter()
        .filter(|f| f["src_mac"] == "02:00:00:77:00:02" || f["dest_mac"] == "02:00:00:77:00:02")
        .count();
    assert_eq!(by_mac.len(), with_mac);
    assert!(
        with_mac + 1 >= all.len(),
        "all but the neighbour solicitation to multicast"
    );
    let first_start = all[0]["start"].as_str().unwrap().to_string();
    let last_start = all.last().unwrap()["start"].as_str().unwrap().to_string();
    let until_first = common::flows_json(&db, &["--until", &first_start]);
    assert!(until_first
        .iter()
        .all(|f| f["start"].as_str().unwrap() <= first_start.as_str()));
    assert!(until_first.len() < all.len());
    let since_last = common::flows_json(&db, &["--since", &last_start]);
    assert!(!since_last.is_empty() && since_last.len() < all.len());
    assert_eq!(
        common::flows_json(&db, &["--since", "-36500d"]).len(),
        all.len()
    );
    let limited = run_ok(
        medtap()
            .args(["flows", "--json", "--limit", "2", "--db"])
            .arg(&db),
    );
    assert_eq!(common::json_lines(&limited).len(), 2);
    assert!(String::from_utf8_lossy(&limited.stderr).contains("--limit 0"));
    let human = run_ok(medtap().args(["flows", "--db"]).arg(&db));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.lines().next().unwrap().contains("flow_id"));
    assert!(text.contains("10.77.0.1:40001"));
}

#[test]
fn devices_match_tshark_source_macs_and_local_ip_bindings() {
    let (_d, db) = analyzed_sample();
    let devices = common::json_lines(&run_ok(
        medtap().args(["devices", "--json", "--db"]).arg(&db),
    ));
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(sample_pcap())
        .args([
            "-T",
            "fields",
            "-e",
            "eth.src",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "arp.src.proto_ipv4",
        ])
        .output()
        .expect("tshark");
    let mut want_macs = BTreeSet::new();
    let mut want_bindings = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        want_macs.insert(cols[0].to_string());
        // The first value is the outer header (ICMP errors quote an inner one).
        for ip in cols[1..]
            .iter()
            .filter_map(|s| s.split(',').next())
            .filter(|s| !s.is_empty())
        {
            want_bindings.insert((cols[0].to_string(), ip.to_string()));
        }
    }
    let got_macs: BTreeSet<String> = devices
        .iter()
        .map(|d| d["mac"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got_macs, want_macs);
    let got_bindings: BTreeSet<(String, String)> = devices
        .iter()
        .flat_map(|d| {
            let mac = d["mac"].as_str().unwrap().to_string();
            d["ips"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |ip| (mac.clone(), ip.as_str().unwrap().to_string()))
        })
        .collect();
    assert_eq!(
        got_bindings, want_bindings,
        "all sample addresses are in local networks"
    );
    for d in &devices {
        assert!(d["first_seen"].as_str().unwrap() <= d["last_seen"].as_str().unwrap());
    }
}

#[test]
fn status_counts_what_was_read() {
    let (_d, db) = analyzed_sample();
    let st = common::status_json(&db);
    let frames = common::read_frames(&sample_pcap()).1;
    assert_eq!(st["packets"].as_u64().unwrap(), frames.len() as u64);
    assert_eq!(
        st["bytes"].as_u64().unwrap(),
        frames.iter().map(|f| u64::from(f.1)).sum::<u64>()
    );
    assert_eq!(st["decode_errors"], 0);
    assert_eq!(st["flows"], st["flows_created"]);
    assert_eq!(st["records_dropped"], 0);
    assert_eq!(st["records_failed"], 0);
    let human = run_ok(medtap().args(["status", "--db"]).arg(&db));
    assert!(String::from_utf8_lossy(&human.stdout).contains("kernel drops"));
}

#[test]
fn a_missing_database_is_a_clear_error() {
    let out = run_ok(medtap().args(["flows", "--db", "/nonexistent/medtap.db"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("medtap analyze"),
        "{err}"
    );
    let out = run_ok(medtap().args([
        "flows",
        "--device",
        "nonsense",
        "--db",
        "/nonexistent/medtap.db",
    ]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a MAC nor an IP"));
}

/// A reader that goes away (`medtap flows | head -1`) ends the command
/// quietly with success, never a panic.
#[test]
fn a_closed_stdout_pipe_is_not_a_crash() {
    let (_dir, db) = analyzed_sample();
    for args in [
        &["flows", "--limit", "0"][..],
        &["flows", "--json"],
        &["status"],
        &["devices"],
    ] {
        let mut child = common::medtap()
            .args(args)
            .arg("--db")
            .arg(&db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // close the read end before it writes
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
    }
}
