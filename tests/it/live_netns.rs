//! Live capture end to end: two network namespaces joined by a veth pair,
//! `medtap run -i <veth>` on one end, real HTTP (python3 http.server and
//! curl) and ping across, SIGTERM, then the flows in the database must equal
//! what tcpdump captured on the same interface (compared through tshark).
//!
//! Needs root (CI runs as root) and the tools scripts/install-deps.sh
//! installs; without them it is a printed skip (a failure in CI, see
//! `common::skip_or_fail`). Every wait is for an observable event, bounded:
//! a log line, a listening port, TCP states, packet counters.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;
use crate::common::lab::{tcp_busy, wait_exit, wait_for_stderr, wait_listening, wait_until, Lab};

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// Asks tcpdump (SIGUSR1) for its counters: (written, received by filter,
/// dropped by kernel), read from its report line on stderr.
fn tcpdump_counts(pid: u32, stderr: &mpsc::Receiver<String>) -> Result<(u64, u64, u64), String> {
    Lab::must(&["kill", "-USR1", &pid.to_string()]);
    let line = stderr
        .recv_timeout(Duration::from_secs(5))
        .map_err(|e| format!("no answer from tcpdump: {e}"))?;
    // "tcpdump: 12 packets captured, 12 packets received by filter, 0 packets dropped by kernel"
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match n[..] {
        [written, received, dropped, ..] if line.contains("captured") => {
            Ok((written, received, dropped))
        }
        _ => Err(format!("unexpected tcpdump line {line:?}")),
    }
}

#[test]
fn live_capture_in_network_namespaces_matches_tcpdump() {
    let test = "live_capture_in_network_namespaces_matches_tcpdump";
    if !common::require_root(test)
        || !common::require_tools(
            test,
            &["ip", "ss", "tcpdump", "curl", "python3", "ping", "tshark"],
        )
    {
        return;
    }
    let tag = format!("mtl{}", std::process::id() % 100_000);
    let mut lab = Lab::new(&tag);
    let (ns_a, ns_b, veth) = (lab.ns_a.clone(), lab.ns_b.clone(), lab.veth_a.clone());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let pcap = dir.path().join("tcpdump.pcap");
    let cfg = dir.path().join("medtap.toml");
    std::fs::write(
        &cfg,
        "[capture]\nstats_interval_secs = 1\n[log]\nlevel = \"info\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("index.html"), "x".repeat(50_000)).unwrap();

    let td = lab.spawn(
        &ns_a,
        &[
            "tcpdump",
            "-i",
            &veth,
            "-n",
            "-U",
            "--immediate-mode",
            "-w",
            pcap.to_str().unwrap(),
        ],
    );
    let td_err = wait_for_stderr(
        &mut lab.children[td],
        "listening on",
        Duration::from_secs(10),
    );
    let (mt, mt_err) = lab.run_medtap(&cfg, &db, &[]);
    let web_dir = dir.path().to_str().unwrap().to_string();
    lab.spawn(
        &ns_a,
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "10.99.0.1",
            "--directory",
            &web_dir,
        ],
    );

    // Once the server listens: three real HTTP fetches and a ping.
    wait_listening(&ns_a, 8080, Duration::from_secs(10));
    let curl = |path: &str| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns_b,
                "curl",
                "-sf",
                "--noproxy",
                "*",
                "-o",
                "/dev/null",
            ])
            .arg(format!("http://10.99.0.1:8080/{path}"))
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(curl("") && curl("index.html") && curl("index.html"));
    Lab::must(&[
        "ip",
        "netns",
        "exec",
        &ns_b,
        "ping",
        "-c",
        "2",
        "-i",
        "0.2",
        "10.99.0.1",
    ]);
    // The traffic is over once every connection has closed on both ends
    // (the capture saw each packet before a TCP end took it in or when it
    // sent it); then tcpdump has written all it got, and medtap has counted
    // as many packets (the link carries nothing else) in a periodic stats
    // row, so it read them all before it is stopped.
    wait_until("TCP connections closed", Duration::from_secs(10), || {
        let busy = tcp_busy(&[&ns_a, &ns_b]);
        if busy.is_empty() {
            Ok(())
        } else {
            Err(busy.join("; "))
        }
    });
    let td_pid = lab.children[td].id();
    let seen = wait_until(
        "tcpdump caught up",
        Duration::from_secs(10),
        || match tcpdump_counts(td_pid, &td_err)? {
            (w, r, 0) if w == r => Ok(w),
            c => Err(format!("written, received, dropped: {c:?}")),
        },
    );
    wait_until(
        "medtap counted what tcpdump saw",
        Duration::from_secs(10),
        || {
            let st = common::status_json(&db);
            match st["packets"].as_u64() {
                Some(n) if n >= seen => Ok(()),
                _ => Err(format!("medtap {} packets, tcpdump {seen}", st["packets"])),
            }
        },
    );

    Lab::must(&["kill", "-TERM", &lab.children[mt].id().to_string()]);
    let status = wait_exit(&mut lab.children[mt], Duration::from_secs(15));
    let logs: Vec<String> = mt_err.try_iter().collect();
    assert!(status.success(), "medtap run exited {status}: {logs:#?}");
    assert!(
        logs.iter().any(|l| l.contains("stopping")),
        "no shutdown log: {logs:#?}"
    );
    Lab::must(&["kill", "-INT", &td_pid.to_string()]);
    wait_exit(&mut lab.children[td], Duration::from_secs(10));
    let td_report: Vec<String> = td_err.try_iter().collect();
    assert!(
        td_report
            .iter()
            .any(|l| l == &format!("{seen} packets captured")),
        "tcpdump wrote {seen} packets and no more: {td_report:#?}"
    );

    let flows = common::flows_json(&db, &["--proto", "tcp"]);
    let http: Vec<_> = flows.iter().filter(|f| f["dest_port"] == 8080).collect();
    for f in &http {
        assert_eq!(f["src_ip"], "10.99.0.2");
        assert_eq!(f["dest_ip"], "10.99.0.1");
    }
    // The server listened before the first fetch: three flows, each closed
    // normally.
    assert_eq!(http.len(), 3, "{http:#?}");
    assert!(http.iter().all(|f| f["state"] == "closed-fin"), "{http:#?}");
    let big: u64 = http
        .iter()
        .map(|f| f["bytes_toclient"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(big > 50_000, "the 50 kB responses are counted: {big}");
    assert!(
        common::flows_json(&db, &["--proto", "icmp"]).len() == 1,
        "one ping flow"
    );

    // Same counts as tcpdump saw on the same interface.
    let convs = common::tshark::conversations(Path::new(&pcap), &[]);
    for c in convs
        .iter()
        .filter(|c| c.proto == "tcp" && c.b.port() == 8080)
    {
        let f = http
            .iter()
            .find(|f| f["src_port"].as_u64() == Some(u64::from(c.a.port())))
            .unwrap_or_else(|| panic!("no medtap flow for {c:?}"));
        let got = (
            f["pkts_toserver"].as_u64().unwrap(),
            f["bytes_toserver"].as_u64().unwrap(),
            f["pkts_toclient"].as_u64().unwrap(),
            f["bytes_toclient"].as_u64().unwrap(),
        );
        assert_eq!(
            got,
            (
                c.frames_a_to_b,
                c.bytes_a_to_b,
                c.frames_b_to_a,
                c.bytes_b_to_a
            ),
            "{c:?}"
        );
    }
    let st = common::status_json(&db);
    assert!(
        st["stats_rows"].as_u64().unwrap() >= 2,
        "periodic + final stats rows: {st}"
    );
    assert_eq!(st["packets"], seen, "medtap read what tcpdump wrote: {st}");
    assert_eq!(st["kernel_drops"], 0);
    assert!(
        st["kernel_received"].as_u64().unwrap() >= st["packets"].as_u64().unwrap() - 5,
        "{st}"
    );
    let devices = common::json_lines(&common::run_ok(
        common::medtap()
            .args(["devices", "--json", "--db"])
            .arg(&db),
    ));
    assert_eq!(devices.len(), 2, "{devices:#?}");
}
