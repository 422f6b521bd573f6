//! Live capture end to end: two network namespaces joined by a veth pair,
//! `medtap run -i <veth>` on one end, real HTTP (python3 http.server and
//! curl) and ping across, SIGTERM, then the flows in the database must equal
//! what tcpdump captured on the same interface (compared through tshark).
//!
//! Needs root (CI runs as root); elsewhere it says so and does nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Lab {
    ns_a: String,
    ns_b: String,
    children: Vec<Child>,
}

impl Lab {
    fn sh(args: &[&str]) -> bool {
        Command::new(args[0])
            .args(&args[1..])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn must(args: &[&str]) {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .expect("spawn");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates ns_a (10.99.0.1, veth `<tag>a`) and ns_b (10.99.0.2).
    fn new(tag: &str) -> Lab {
        let lab = Lab {
            ns_a: format!("{tag}-a"),
            ns_b: format!("{tag}-b"),
            children: Vec::new(),
        };
        lab.remove();
        let (va, vb) = (format!("{tag}a"), format!("{tag}b"));
        Lab::must(&["ip", "netns", "add", &lab.ns_a]);
        Lab::must(&["ip", "netns", "add", &lab.ns_b]);
        Lab::must(&[
            "ip", "link", "add", &va, "netns", &lab.ns_a, "type", "veth", "peer", "name", &vb,
            "netns", &lab.ns_b,
        ]);
        for (ns, dev, addr) in [
            (&lab.ns_a, &va, "10.99.0.1/24"),
            (&lab.ns_b, &vb, "10.99.0.2/24"),
        ] {
            Lab::must(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            Lab::must(&["ip", "-n", ns, "link", "set", dev, "up"]);
            Lab::must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    fn spawn(&mut self, ns: &str, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn in namespace");
        self.children.push(child);
        self.children.len() - 1
    }

    fn remove(&self) {
        Lab::sh(&["ip", "netns", "del", &self.ns_a]);
        Lab::sh(&["ip", "netns", "del", &self.ns_b]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.remove();
    }
}

/// Waits (bounded) until a line of `child`'s stderr contains `needle`;
/// the rest of stderr keeps draining into the returned receiver.
fn wait_for_stderr(
    child: &mut Child,
    needle: &'static str,
    limit: Duration,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < limit {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            if line.contains(needle) {
                return rx;
            }
            seen.push(line);
        }
    }
    panic!("no {needle:?} within {limit:?}; stderr so far: {seen:#?}");
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(start.elapsed() < limit, "did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn can_run() -> Result<(), String> {
    // SAFETY-free check: `id -u` prints 0 for root.
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root".into());
    }
    for tool in ["ip", "tcpdump", "curl", "python3", "tshark"] {
        if !Lab::sh(&["sh", "-c", &format!("command -v {tool}")]) {
            return Err(format!(
                "{tool} missing (scripts/install-deps.sh installs it)"
            ));
        }
    }
    Ok(())
}

#[test]
fn live_capture_in_network_namespaces_matches_tcpdump() {
    if let Err(why) = can_run() {
        eprintln!("NOTE: live_capture_in_network_namespaces_matches_tcpdump NOT run: {why}");
        return;
    }
    let tag = format!("mtl{}", std::process::id() % 100_000);
    let mut lab = Lab::new(&tag);
    let (ns_a, ns_b, veth) = (lab.ns_a.clone(), lab.ns_b.clone(), format!("{tag}a"));
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

    let bin = env!("CARGO_BIN_EXE_medtap");
    let td = lab.spawn(
        &ns_a,
        &["tcpdump", "-i", &veth, "-U", "-w", pcap.to_str().unwrap()],
    );
    let _td_err = wait_for_stderr(
        &mut lab.children[td],
        "listening on",
        Duration::from_secs(10),
    );
    let mt = lab.spawn(
        &ns_a,
        &[
            bin,
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "-i",
            &veth,
            "--db",
            db.to_str().unwrap(),
        ],
    );
    let mt_err = wait_for_stderr(&mut lab.children[mt], "capturing", Duration::from_secs(10));
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

    // Wait (bounded) for the server, then three real HTTP fetches and a ping.
    let start = Instant::now();
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
    while !curl("") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "http.server did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(curl("index.html") && curl("index.html"));
    Lab::sh(&[
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
    // Let the last FIN/ACKs reach both captures and one stats interval pass.
    std::thread::sleep(Duration::from_millis(1500));

    Lab::must(&["kill", "-TERM", &lab.children[mt].id().to_string()]);
    let status = wait_exit(&mut lab.children[mt], Duration::from_secs(15));
    let logs: Vec<String> = mt_err.try_iter().collect();
    assert!(status.success(), "medtap run exited {status}: {logs:#?}");
    assert!(
        logs.iter().any(|l| l.contains("stopping")),
        "no shutdown log: {logs:#?}"
    );
    Lab::must(&["kill", "-INT", &lab.children[td].id().to_string()]);
    wait_exit(&mut lab.children[td], Duration::from_secs(10));

    let flows = common::flows_json(&db, &["--proto", "tcp"]);
    let http: Vec<_> = flows.iter().filter(|f| f["dest_port"] == 8080).collect();
    for f in &http {
        assert_eq!(f["src_ip"], "10.99.0.2");
        assert_eq!(f["dest_ip"], "10.99.0.1");
    }
    // Attempts before the server listened were refused (closed-rst); the
    // three fetches closed normally.
    let fetched = http.iter().filter(|f| f["state"] == "closed-fin").count();
    assert!(fetched >= 3, "expected 3 closed HTTP flows, got {http:#?}");
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
