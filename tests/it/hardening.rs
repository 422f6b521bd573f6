//! Privileges and the service unit, through the real binary: the message
//! when CAP_NET_RAW is missing, every capability gone once the capture is
//! open (as root, and as the systemd unit runs it: a plain user with only an
//! ambient CAP_NET_RAW), and `systemd-analyze verify`/`security` on the unit.
//!
//! Capture here is on the loopback interface, with traffic only to
//! 127.0.0.1. What needs root or a tool that is missing prints "SKIPPED".
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use common::{medtap, run_ok};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The unprivileged user the tests switch to (`nobody` on Debian).
const NOBODY: &str = "65534";

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// True when running as root; else a skip (a failure in CI).
fn require_root(test: &str) -> bool {
    common::require_root(test)
}

/// True when `tool` is on PATH; else a skip (a failure in CI).
fn require_tool(test: &str, tool: &str) -> bool {
    common::require_tools(test, &[tool])
}

/// A directory the unprivileged user can read and write (a db lives there).
fn shared_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn write_config(dir: &Path) -> PathBuf {
    let cfg = dir.join("medtap.toml");
    std::fs::write(&cfg, "[log]\nlevel = \"info\"\n").unwrap();
    cfg
}

// Regression (issue 8 item 9): without CAP_NET_RAW the error was libpcap's
// bare "socket: Operation not permitted", which does not say what to grant.
#[test]
fn run_without_cap_net_raw_names_the_capability() {
    let test = "run_without_cap_net_raw_names_the_capability";
    let dir = shared_dir();
    let cfg = write_config(dir.path());
    let db = dir.path().join("x.db");
    let bin = env!("CARGO_BIN_EXE_medtap");
    let mut cmd = if is_root() {
        // Root holds CAP_NET_RAW: become a plain user with no capabilities.
        if !require_tool(test, "setpriv") {
            return;
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
            .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
            .arg(bin);
        c
    } else {
        // A plain user has no CAP_NET_RAW (cargo's binary has no file caps).
        medtap()
    };
    cmd.args(["run", "-i", "lo", "--config"])
        .arg(&cfg)
        .arg("--db")
        .arg(&db);
    let out = run_ok(&mut cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "cannot open lo for capture: permission denied — medtap needs CAP_NET_RAW \
             (run as root, or use the systemd unit, which grants it)"
        ),
        "{err}"
    );
    // libpcap's own reason follows as the cause.
    assert!(err.contains("caused by: libpcap error"), "{err}");
    assert!(!db.exists(), "the capture is opened before the database");
}

/// A `medtap run -i lo` started under `prefix` (e.g. setpriv), killed on drop.
struct Sensor {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Sensor {
    /// Starts it and waits (bounded) for "capturing".
    fn start(prefix: &[&str], dir: &Path) -> Sensor {
        let bin = env!("CARGO_BIN_EXE_medtap");
        let cfg = write_config(dir);
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .args(["run", "-i", "lo", "--config"])
            .arg(&cfg)
            .arg("--db")
            .arg(dir.join("live.db"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn medtap run");
        let (tx, lines) = mpsc::channel();
        let mut s = Sensor {
            child,
            lines,
            log: Vec::new(),
        };
        let stderr = s.child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let start = Instant::now();
        while !s.log.iter().any(|l| l.contains("capturing")) {
            if let Ok(Some(status)) = s.child.try_wait() {
                s.drain();
                panic!("medtap run exited {status}: {:#?}", s.log);
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no \"capturing\" within 15 s: {:#?}",
                s.log
            );
            if let Ok(line) = s.lines.recv_timeout(Duration::from_millis(100)) {
                s.log.push(line);
            }
        }
        s
    }

    fn drain(&mut self) {
        self.log.extend(self.lines.try_iter());
    }

    /// The "capabilities dropped" log line.
    fn dropped_line(&self) -> &str {
        self.log
            .iter()
            .find(|l| l.contains("capabilities dropped") && l.contains("effective="))
            .unwrap_or_else(|| panic!("no \"capabilities dropped\" line: {:#?}", self.log))
    }

    /// Cap* fields of every thread, from /proc/PID/task/TID/status.
    fn thread_caps(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        let tasks = format!("/proc/{}/task", self.child.id());
        for task in std::fs::read_dir(tasks).unwrap().flatten() {
            let tid = task.file_name().to_string_lossy().into_owned();
            let status = std::fs::read_to_string(task.path().join("status")).unwrap();
            for line in status.lines().filter(|l| l.starts_with("Cap")) {
                let (field, hex) = line.split_once(':').unwrap();
                let bits = u64::from_str_radix(hex.trim(), 16).unwrap();
                out.push((tid.clone(), field.to_string(), bits));
            }
        }
        out
    }

    /// SIGTERM by pid, then waits (bounded) for a clean exit.
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success());
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        self.drain();
        assert!(
            status.success(),
            "medtap run exited {status}: {:#?}",
            self.log
        );
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends three datagrams from 127.0.0.1 to itself; returns the port.
fn loopback_udp() -> u16 {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    for _ in 0..3 {
        sock.send_to(b"medtap capability test", ("127.0.0.1", port))
            .unwrap();
    }
    port
}

/// Capture still works after the drop: the datagrams are a recorded flow.
fn assert_flow_recorded(db: &Path, port: u16) {
    let flows = common::flows_json(db, &["--proto", "udp"]);
    assert!(
        flows.iter().any(|f| f["dest_port"] == port),
        "no UDP flow to port {port}: {flows:#?}"
    );
}

// Issue 8 item 9: once the capture is open, medtap needs no privilege, so a
// bug in a parser must not find CAP_NET_RAW (or root's set) to abuse.
#[test]
fn run_as_root_drops_every_capability_once_the_capture_is_open() {
    if !require_root("run_as_root_drops_every_capability_once_the_capture_is_open") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut sensor = Sensor::start(&[], dir.path());
    let line = sensor.dropped_line().to_string();
    assert!(
        line.contains("CAP_NET_RAW") || line.contains("effective=all"),
        "{line}"
    );
    let bounding_kept = line.contains("bounding=kept");
    let caps = sensor.thread_caps();
    assert!(
        caps.len() >= 10,
        "two threads (capture, writer) expected: {caps:?}"
    );
    for (tid, field, bits) in &caps {
        // Without CAP_SETPCAP (a restricted container) the bounding set
        // cannot be cleared, and the log says so.
        if field == "CapBnd" && bounding_kept {
            continue;
        }
        assert_eq!(*bits, 0, "thread {tid} {field} = {bits:#x}; log: {line}");
    }
    let port = loopback_udp();
    std::thread::sleep(Duration::from_millis(500));
    sensor.stop();
    assert_flow_recorded(&dir.path().join("live.db"), port);
}

// Issue 8 item 9, as the systemd unit runs medtap: its own user, CAP_NET_RAW
// as the only ambient and bounding capability, no new privileges.
#[test]
fn run_as_service_user_drops_ambient_cap_net_raw_once_the_capture_is_open() {
    let test = "run_as_service_user_drops_ambient_cap_net_raw_once_the_capture_is_open";
    if !require_root(test) || !require_tool(test, "setpriv") {
        return;
    }
    let dir = shared_dir();
    let mut sensor = Sensor::start(
        &[
            "setpriv",
            "--reuid",
            NOBODY,
            "--regid",
            NOBODY,
            "--clear-groups",
            "--inh-caps=-all,+net_raw",
            "--ambient-caps=+net_raw",
            "--bounding-set=-all,+net_raw",
            "--no-new-privs",
            "--",
        ],
        dir.path(),
    );
    let line = sensor.dropped_line().to_string();
    for held in [
        "effective=CAP_NET_RAW",
        "permitted=CAP_NET_RAW",
        "ambient=CAP_NET_RAW",
        "bounding=kept (no CAP_SETPCAP)",
    ] {
        assert!(line.contains(held), "{held} missing: {line}");
    }
    let net_raw = 1u64 << 13;
    for (tid, field, bits) in sensor.thread_caps() {
        let want = if field == "CapBnd" { net_raw } else { 0 };
        assert_eq!(bits, want, "thread {tid} {field} = {bits:#x}; log: {line}");
    }
    let port = loopback_udp();
    std::thread::sleep(Duration::from_millis(500));
    sensor.stop();
    assert_flow_recorded(&dir.path().join("live.db"), port);
}

fn unit_text() -> String {
    std::fs::read_to_string(common::root().join("systemd/medtap.service")).unwrap()
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    if !require_tool(
        "systemd_unit_passes_systemd_analyze_verify",
        "systemd-analyze",
    ) {
        return;
    }
    // verify fails when an Exec*= binary does not exist, and the unit names
    // the installed path (/usr/local/bin/medtap), absent on a build machine.
    // Verifying a copy that names the binary under test checks everything
    // else in the unit, and that the binary runs under that command line.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("medtap.service");
    let text = unit_text();
    assert!(
        text.contains("/usr/local/bin/medtap "),
        "ExecStart path moved?"
    );
    std::fs::write(
        &unit,
        text.replace(
            "/usr/local/bin/medtap ",
            &format!("{} ", env!("CARGO_BIN_EXE_medtap")),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // verify exits 0 on an unknown key or a bad value and only warns.
    let about_unit: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("medtap.service"))
        .collect();
    assert!(about_unit.is_empty(), "{about_unit:#?}");
}

#[test]
fn systemd_unit_security_exposure_is_at_most_1_8() {
    if !require_tool(
        "systemd_unit_security_exposure_is_at_most_1_8",
        "systemd-analyze",
    ) {
        return;
    }
    let unit = common::root().join("systemd/medtap.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for medtap.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure figure: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(score <= 1.8, "exposure {score} > 1.8:\n{text}");
}

// The hardening the issue asked for stays in the unit, and the capability
// drop is not killed by the syscall filter: capset(2) is in @privileged,
// which the unit denies, so it must be allowed again after that line.
#[test]
fn systemd_unit_keeps_its_hardening_and_allows_the_capability_drop() {
    let text = unit_text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for d in [
        "IPAddressDeny=any",
        "ProcSubset=pid",
        "DevicePolicy=closed",
        "SystemCallErrorNumber=EPERM",
        "CapabilityBoundingSet=CAP_NET_RAW",
        "NoNewPrivileges=yes",
    ] {
        assert!(lines.contains(&d), "{d} missing from the unit");
    }
    let deny = lines
        .iter()
        .position(|l| l.starts_with("SystemCallFilter=~") && l.contains("@privileged"))
        .expect("@privileged denied");
    let allow = lines
        .iter()
        .rposition(|l| *l == "SystemCallFilter=capset")
        .expect("capset allowed");
    assert!(allow > deny, "capset must be allowed after ~@privileged");
}
