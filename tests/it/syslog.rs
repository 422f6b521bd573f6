//! The RFC 5424 syslog output (issue 14) against a real receiver: an
//! `rsyslogd` started here in the foreground, with its own configuration,
//! PID file, work directory and unix socket in a temporary directory (the
//! system's rsyslog and /dev/log are not touched), listening on 127.0.0.1
//! over UDP, TCP (octet-counted and newline framing, one port each) and
//! a unix datagram socket (imuxsock), and writing what each input received
//! to a file of its own with `RSYSLOG_SyslogProtocol23Format`.
//!
//! Hostile alerts go through the sink over every transport; each received
//! line must be the message medtap formatted, byte for byte, and parse as
//! RFC 5424 (`syslog_rfc5424`) with the alert's time, msgid, hostname,
//! app-name and structured data, whose values give back the alert's
//! strings (kept text, `medtap::proto::text`). Then: a TCP server that
//! never reads must not block the sink, and an rsyslogd stopped and
//! started again on the same port must get messages again, the gap
//! counted as failed.

use crate::common;
use crate::common::lab::wait_until;

use medtap::alert::{AlertRecord, FlowTuple, Party, Rule};
use medtap::event::Event;
use medtap::kinds::{AppProto, Severity};
use medtap::net::Mac;
use medtap::output::syslog::{
    format_alert, Framing, SyslogOptions, SyslogSink, Target, MAX_MESSAGE,
};
use medtap::output::{spawn_sink, Delivery, SinkCounters};
use medtap::proto::text::{kept, unescape};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- rsyslogd ------------------------------------------------------------------

/// Ports and paths of one rsyslogd.
struct Listen {
    udp: u16,
    tcp_octet: u16,
    tcp_lf: u16,
    unix: PathBuf,
}

/// A running rsyslogd, stopped by its PID when dropped (also when the
/// test fails): SIGTERM, so it flushes its files, then SIGKILL if it has
/// not exited within 5 s.
struct Rsyslogd {
    child: Child,
    dir: PathBuf,
}

impl Rsyslogd {
    /// Starts rsyslogd in `dir` listening as `l`; waits until every input
    /// takes messages.
    fn start(dir: &Path, l: &Listen) -> Rsyslogd {
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let d = dir.display();
        // One ruleset per input: each transport's messages in a file of its
        // own. imuxsock: the regular parser chain with hostnames (its
        // special parser reads syslog(3)'s format) and the message's time.
        let conf = format!(
            r#"global(workDirectory="{work}")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
ruleset(name="udp") {{ action(type="omfile" file="{d}/udp.log" template="RSYSLOG_SyslogProtocol23Format") }}
ruleset(name="tcp_octet") {{ action(type="omfile" file="{d}/tcp_octet.log" template="RSYSLOG_SyslogProtocol23Format") }}
ruleset(name="tcp_lf") {{ action(type="omfile" file="{d}/tcp_lf.log" template="RSYSLOG_SyslogProtocol23Format") }}
ruleset(name="unix") {{ action(type="omfile" file="{d}/unix.log" template="RSYSLOG_SyslogProtocol23Format") }}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{tcp_octet}" ruleset="tcp_octet")
input(type="imtcp" address="127.0.0.1" port="{tcp_lf}" ruleset="tcp_lf")
input(type="imuxsock" socket="{unix}" useSpecialParser="off" parseHostname="on" ignoreTimestamp="off" rateLimit.interval="0" ruleset="unix")
"#,
            work = work.display(),
            udp = l.udp,
            tcp_octet = l.tcp_octet,
            tcp_lf = l.tcp_lf,
            unix = l.unix.display(),
        );
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let _ = std::fs::remove_file(&l.unix);
        let log = std::fs::File::create(dir.join("rsyslogd.stderr")).unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        let mut r = Rsyslogd {
            child,
            dir: dir.to_path_buf(),
        };
        r.wait_ready(l);
        r
    }

    /// Waits until the TCP ports accept, the unix socket exists and a probe
    /// datagram reaches the UDP file (the probes are told apart by their
    /// MSGID, `PROBE`).
    fn wait_ready(&mut self, l: &Listen) {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let probe = b"<134>1 - - medtap - PROBE - probe";
        let udp_log = self.dir.join("udp.log");
        let probes = || {
            let text = std::fs::read_to_string(&udp_log).unwrap_or_default();
            text.lines().filter(|l| l.contains(" PROBE ")).count()
        };
        // Started again in the same directory: the file holds the last
        // run's probes.
        let before = probes();
        wait_until("rsyslogd listening", Duration::from_secs(20), || {
            if let Ok(Some(s)) = self.child.try_wait() {
                panic!("rsyslogd exited ({s}): {}", self.stderr());
            }
            for port in [l.tcp_octet, l.tcp_lf] {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .map_err(|e| format!("tcp {port}: {e}"))?;
            }
            if !l.unix.exists() {
                return Err("no unix socket yet".into());
            }
            let _ = udp.send_to(probe, ("127.0.0.1", l.udp));
            if probes() == before {
                return Err("the UDP probe has not arrived".into());
            }
            Ok(())
        });
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("rsyslogd.stderr")).unwrap_or_default()
    }

    /// Stops it by its PID and waits for it.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port on 127.0.0.1 free a moment ago (for rsyslogd to bind).
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn listen(dir: &Path) -> Listen {
    Listen {
        udp: free_udp_port(),
        tcp_octet: free_tcp_port(),
        tcp_lf: free_tcp_port(),
        unix: dir.join("log.sock"),
    }
}

/// The lines of `path` without their LF (none if it does not exist yet),
/// probes left out.
fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8(text).expect("rsyslog wrote UTF-8");
    text.lines()
        .filter(|l| !l.contains(" PROBE "))
        .map(str::to_string)
        .collect()
}

/// Waits until `path` holds `n` lines (probes left out); returns them.
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    wait_until(
        &format!("{n} lines in {}", path.display()),
        Duration::from_secs(15),
        || {
            let got = lines(path);
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} lines", got.len()))
            }
        },
    )
}

/// Whether rsyslogd (and kill, to stop it) can be run; else reports it
/// (`skip_or_fail`: a failure in CI). rsyslogd needs no root here: its
/// ports are unprivileged and its files are in the test's directory.
fn have_rsyslogd(test: &str) -> bool {
    let ok = common::on_path("rsyslogd") && common::on_path("kill");
    if !ok {
        common::skip_or_fail(
            test,
            "rsyslogd (Debian package rsyslog; in /usr/sbin, which must be on PATH) or kill \
             (procps) not on PATH; scripts/install-deps.sh installs them",
        );
    }
    ok
}

// ---- the alerts -------------------------------------------------------------------

fn options(target: Target, framing: Framing) -> SyslogOptions {
    SyslogOptions {
        target,
        framing,
        enterprise: 32473,
        anomalies: false,
        facility: 16,
        hostname: "sensor-ward3.hospital.example".into(),
        sensor_name: "ward 3 \"east\" [icu]".into(),
    }
}

/// 2026-11-28T13:39:08.123456Z, and one alert a second and a microsecond
/// later each.
const T0: i64 = 1_795_873_148_123_456;

/// One alert carrying `hostile` (kept text) in its message, detail, device
/// and peer names and device class.
fn alert(id: u64, rule: Rule, hostile: &str) -> AlertRecord {
    AlertRecord {
        alert_id: id,
        first_seen: T0 + id as i64 * 1_000_001,
        last_seen: T0 + id as i64 * 1_000_001,
        count: 1,
        rule,
        severity: Severity::ALL[id as usize % 4],
        message: format!("{}: {hostile}", rule.title()),
        detail: hostile.to_string(),
        device: Party {
            mac: Some(Mac([0x00, 0x18, 0x65, 0x14, 0x01, id as u8])),
            ip: Some("10.20.1.21".parse().unwrap()),
            class: Some(hostile.to_string()),
            grade: Some(3),
            name: Some(hostile.to_string()),
        },
        peer: Party {
            ip: Some("203.0.113.9".parse().unwrap()),
            name: Some(format!("peer {hostile}")),
            ..Party::default()
        },
        flow: Some(FlowTuple {
            flow_id: id,
            proto: 6,
            src: ("10.20.1.21".parse().unwrap(), 40000),
            dest: ("203.0.113.9".parse().unwrap(), 104),
            app_proto: Some(AppProto::Dicom),
        }),
        evidence: Default::default(),
        observation: false,
    }
}

/// Hostile strings, as medtap keeps them (invalid UTF-8 as `\xhh`).
fn hostile() -> Vec<String> {
    let raw: Vec<Vec<u8>> = vec![
        b"CT]01\"quoted\"\\share".to_vec(),
        b"line one\nline two\rline three\r\n".to_vec(),
        b"\x1b[31mRED\x1b[0m \x1b]0;title\x07".to_vec(),
        "evil\u{202e}gpj.exe \u{2028}sep\u{2029} \u{200f}rlm".into(),
        b"bad \xff\xfe \xc3 utf8 \\x41 literal".to_vec(),
        b"nul\0tab\tdel\x7f c1 \xc2\x9b".to_vec(),
        "放射科 CT 一号 [东院]".into(),
        b"] [medtap@32473 rule=\"FAKE\"] \" injected".to_vec(),
        "\\".into(),
        vec![b'A'; 5000],
        "\u{1b}".repeat(3000).into_bytes(),
    ];
    raw.iter().map(|b| kept(b, usize::MAX)).collect()
}

fn alerts() -> Vec<AlertRecord> {
    let mut out: Vec<_> = hostile()
        .iter()
        .enumerate()
        .map(|(i, h)| alert(i as u64 + 1, Rule::ALL[i % Rule::ALL.len()], h))
        .collect();
    // A very long message besides.
    let mut long = alert(100, Rule::DataExport, "long");
    long.message = "x".repeat(20_000);
    out.push(long);
    // No message at all: no MSG.
    let mut empty = alert(101, Rule::Scan, "empty message");
    empty.message.clear();
    out.push(empty);
    out
}

/// Checks that the received `value` stands for `original`: the same
/// bytes after unescaping, or a prefix of them followed by `...` when it
/// was cut.
fn same_text(what: &str, value: &str, original: &str) {
    let whole = unescape(original);
    let got = unescape(value);
    if got == whole {
        return;
    }
    let cut = value
        .strip_suffix("...")
        .unwrap_or_else(|| panic!("{what}: {value:?} is not {original:?}"));
    assert!(
        whole.starts_with(&unescape(cut)),
        "{what}: {value:?} is not a prefix of {original:?}"
    );
}

/// Checks one received line against the alert it is for.
fn check_line(line: &str, a: &AlertRecord, opts: &SyslogOptions) {
    let mut want = String::new();
    format_alert(a, opts, &mut want);
    // The template writes "%STRUCTURED-DATA% %msg%": a space even for no MSG.
    let exact = if a.message.is_empty() {
        format!("{want} ")
    } else {
        want
    };
    assert_eq!(line, exact, "rsyslog received something else");
    assert!(line.len() <= MAX_MESSAGE + 1);
    assert!(
        !line
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202e}')),
        "a raw control character: {line:?}"
    );
    let m = syslog_rfc5424::parse_message(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(m.timestamp, Some(a.first_seen.div_euclid(1_000_000)));
    assert_eq!(
        m.timestamp_nanos,
        Some(a.first_seen.rem_euclid(1_000_000) as u32 * 1000)
    );
    assert_eq!(m.msgid.as_deref(), Some(a.rule.id()));
    assert_eq!(m.hostname.as_deref(), Some(opts.hostname.as_str()));
    assert_eq!(m.appname.as_deref(), Some("medtap"));
    assert_eq!(
        m.procid,
        Some(syslog_rfc5424::message::ProcId::PID(
            std::process::id() as i32
        ))
    );
    let sd = m.sd.find_sdid("medtap@32473").expect("medtap's SD-ID");
    let param = |n: &str| {
        sd.get(n)
            .unwrap_or_else(|| panic!("no {n} in {line:?}"))
            .as_str()
    };
    assert_eq!(param("alert_id"), a.alert_id.to_string());
    assert_eq!(param("rule"), a.rule.id());
    assert_eq!(param("severity"), a.severity.name());
    assert_eq!(param("clause"), a.rule.clause());
    assert_eq!(param("grade"), "3");
    assert_eq!(param("device_ip"), "10.20.1.21");
    assert_eq!(param("peer_ip"), "203.0.113.9");
    assert_eq!(param("flow_id"), a.alert_id.to_string());
    assert_eq!(param("app_proto"), "dicom");
    assert!(param("community_id").starts_with("1:"));
    for (name, original) in [
        ("device", a.device.name.as_deref().unwrap()),
        ("class", a.device.class.as_deref().unwrap()),
        ("peer", a.peer.name.as_deref().unwrap()),
        ("detail", a.detail.as_str()),
        ("sensor", opts.sensor_name.as_str()),
    ] {
        same_text(name, param(name), original);
    }
    // MSG: after the BOM when the message has text outside ASCII.
    let msg = m.msg.strip_prefix('\u{feff}').unwrap_or(&m.msg);
    same_text("MSG", msg, &a.message);
    // Exactly one element: a hostile value did not open another.
    assert_eq!(m.sd.len(), 1, "{line:?}");
}

/// Sends `alerts` through a sink on its own thread (as the sensor runs
/// it), waits for it to finish; returns its counters.
fn send_all(opts: SyslogOptions, alerts: &[AlertRecord]) -> [u64; 3] {
    let counters = Arc::new(SinkCounters::default());
    let sink = SyslogSink::new(opts, counters.clone());
    let (spec, thread) = spawn_sink("syslog", 1024, Delivery::BestEffort, sink).unwrap();
    for a in alerts {
        spec.tx.send(Event::Alert(Box::new(a.clone()))).unwrap();
    }
    drop(spec);
    assert_eq!(thread.finish(Duration::from_secs(30)), 0);
    counters.snapshot()
}

#[test]
fn hostile_alerts_reach_a_real_rsyslogd_intact_over_udp_tcp_and_a_unix_socket() {
    let test = "syslog::hostile_alerts_reach_a_real_rsyslogd_intact_over_udp_tcp_and_a_unix_socket";
    if !have_rsyslogd(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let l = listen(dir.path());
    let _rsyslogd = Rsyslogd::start(dir.path(), &l);
    let alerts = alerts();
    let by_id: BTreeMap<u64, &AlertRecord> = alerts.iter().map(|a| (a.alert_id, a)).collect();
    let transports = [
        (
            "udp",
            Target::Udp(format!("127.0.0.1:{}", l.udp)),
            Framing::OctetCounted,
        ),
        (
            "tcp_octet",
            Target::Tcp(format!("127.0.0.1:{}", l.tcp_octet)),
            Framing::OctetCounted,
        ),
        (
            "tcp_lf",
            Target::Tcp(format!("127.0.0.1:{}", l.tcp_lf)),
            Framing::Newline,
        ),
        ("unix", Target::Unix(l.unix.clone()), Framing::OctetCounted),
    ];
    for (name, target, framing) in transports {
        let opts = options(target, framing);
        let counts = send_all(opts.clone(), &alerts);
        assert_eq!(
            counts,
            [alerts.len() as u64, 0, 0],
            "{name}: sent, dropped, failed"
        );
        let got = wait_lines(&dir.path().join(format!("{name}.log")), alerts.len());
        // Every alert exactly once.
        let mut seen = BTreeMap::new();
        for line in &got {
            let m = syslog_rfc5424::parse_message(line)
                .unwrap_or_else(|e| panic!("{name}: {e}: {line:?}"));
            let id: u64 =
                m.sd.find_tuple("medtap@32473", "alert_id")
                    .unwrap_or_else(|| panic!("{name}: no alert_id: {line:?}"))
                    .parse()
                    .unwrap();
            *seen.entry(id).or_insert(0) += 1;
            check_line(line, by_id[&id], &opts);
        }
        assert_eq!(
            seen,
            by_id.keys().map(|&id| (id, 1)).collect(),
            "{name}: each alert once"
        );
    }
}

#[test]
fn a_tcp_server_that_never_reads_does_not_block_the_sink() {
    // A server that accepts every connection and never reads one.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in server.incoming() {
            held.push(c);
        }
    });
    let counters = Arc::new(SinkCounters::default());
    let opts = options(Target::Tcp(addr.to_string()), Framing::OctetCounted);
    let sink = SyslogSink::new(opts, counters.clone());
    let (spec, thread) = spawn_sink("syslog", 1024, Delivery::BestEffort, sink).unwrap();
    // Long messages (near the 8000-byte bound), so that the kernel's
    // buffers for the connection (a few MB) fill after a few thousand.
    let mut template = alert(1, Rule::PolicyViolation, "never read");
    template.message = "m".repeat(7000);
    const N: u64 = 200_000;
    let start = Instant::now();
    // As the fan-out offers events to a best-effort sink: never waiting.
    for id in 1..=N {
        let mut a = template.clone();
        a.alert_id = id;
        if spec.tx.try_send(Event::Alert(Box::new(a))).is_err() {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    let offering = start.elapsed();
    drop(spec);
    assert_eq!(thread.finish(Duration::from_secs(30)), 0);
    let [sent, dropped, failed] = counters.snapshot();
    let all = start.elapsed();
    eprintln!("offered {N} in {offering:?}, done in {all:?}: sent {sent}, dropped {dropped}, failed {failed}");
    assert_eq!(sent + dropped + failed, N);
    assert!(failed > 0, "the stuck server cost messages: {failed}");
    assert!(sent > 0, "the server's buffers took some first");
    assert!(
        offering < Duration::from_secs(10),
        "offering took {offering:?}"
    );
    assert!(all < Duration::from_secs(20), "the sink took {all:?}");
}

#[test]
fn a_restarted_rsyslogd_gets_messages_again_and_the_gap_is_counted_failed() {
    let test = "syslog::a_restarted_rsyslogd_gets_messages_again_and_the_gap_is_counted_failed";
    if !have_rsyslogd(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let l = listen(dir.path());
    let mut rsyslogd = Rsyslogd::start(dir.path(), &l);
    let counters = Arc::new(SinkCounters::default());
    let opts = options(
        Target::Tcp(format!("127.0.0.1:{}", l.tcp_octet)),
        Framing::OctetCounted,
    );
    let sink = SyslogSink::new(opts, counters.clone());
    let (spec, thread) = spawn_sink("syslog", 1024, Delivery::BestEffort, sink).unwrap();
    let send = |ids: std::ops::RangeInclusive<u64>| {
        for id in ids {
            spec.tx
                .send(Event::Alert(Box::new(alert(id, Rule::Scan, "restart"))))
                .unwrap();
        }
    };
    let wait_counted = |n: u64| {
        wait_until("the sink took them", Duration::from_secs(10), || {
            let [s, d, f] = counters.snapshot();
            if s + d + f >= n {
                Ok(())
            } else {
                Err(format!("{s} sent, {f} failed"))
            }
        })
    };
    let log = dir.path().join("tcp_octet.log");
    send(1..=5);
    wait_lines(&log, 5);
    rsyslogd.stop();
    // The server is gone: these are lost, and counted so.
    send(6..=10);
    wait_counted(10);
    assert_eq!(counters.snapshot(), [5, 0, 5]);
    let rsyslogd = Rsyslogd::start(dir.path(), &l);
    // Past the sink's backoff (0.5 s after the first failure; the gap's
    // others were not even tried).
    std::thread::sleep(Duration::from_millis(600));
    send(11..=15);
    wait_counted(15);
    drop(spec);
    assert_eq!(thread.finish(Duration::from_secs(10)), 0);
    assert_eq!(counters.snapshot(), [10, 0, 5]);
    let ids: Vec<u64> = wait_lines(&log, 10)
        .iter()
        .map(|line| {
            let m = syslog_rfc5424::parse_message(line).unwrap();
            m.sd.find_tuple("medtap@32473", "alert_id")
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]);
    drop(rsyslogd);
}

/// The daemon end to end: `medtap analyze --syslog` of the policy
/// scenario's violations (tests/data/policy, made by
/// scripts/make-policy-captures.sh) into a real rsyslogd over TCP: every
/// alert the database holds arrives exactly once, with the alert's own time,
/// its rule as msgid, its facts in the structured data and the sensor's
/// name from the config.
#[test]
fn analyze_sends_every_alert_of_a_real_scenario_once() {
    let test = "syslog::analyze_sends_every_alert_of_a_real_scenario_once";
    if !have_rsyslogd(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let l = listen(dir.path());
    let _rsyslogd = Rsyslogd::start(dir.path(), &l);
    let cfg = dir.path().join("medtap.toml");
    std::fs::write(
        &cfg,
        "[outputs]\nsensor_name = \"ward-7 \\\"east\\\"\"\n[outputs.syslog]\nenterprise_number = 99999\n",
    )
    .unwrap();
    let data = common::root().join("tests/data/policy");
    let db = dir.path().join("t.db");
    common::run_success(
        common::medtap()
            .arg("analyze")
            .arg(data.join("violations.pcap"))
            .arg("--db")
            .arg(&db)
            .arg(format!("--assets={}", data.join("assets.toml").display()))
            .arg("--rules=")
            .arg("--config")
            .arg(&cfg)
            .arg("--syslog")
            .arg(format!("tcp://127.0.0.1:{}", l.tcp_octet)),
    );
    let out = common::run_success(
        common::medtap()
            .args(["alerts", "--json", "--limit", "0", "--db"])
            .arg(&db),
    );
    let stored = common::json_lines(&out);
    assert!(stored.len() >= 5, "the scenario raises alerts: {stored:?}");
    let got = wait_lines(&dir.path().join("tcp_octet.log"), stored.len());
    assert_eq!(got.len(), stored.len(), "one message per alert: {got:#?}");
    let mut by_id = BTreeMap::new();
    for line in &got {
        let m = syslog_rfc5424::parse_message(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        let sd = |k: &str| m.sd.find_tuple("medtap@99999", k).cloned();
        let id: u64 = sd("alert_id").unwrap().parse().unwrap();
        assert!(
            by_id.insert(id, (m.clone(), line.clone())).is_none(),
            "twice: {id}"
        );
        assert_eq!(m.appname.as_deref(), Some("medtap"));
        // syslog_rfc5424 drops escaping backslashes: the value read back
        // is the name without them.
        assert_eq!(sd("sensor").as_deref(), Some("ward-7 \"east\""), "{line}");
        assert!(
            line.contains(r#"sensor="ward-7 \"east\"""#),
            "escaped per RFC 5424 6.3.3: {line}"
        );
    }
    for a in &stored {
        let id = a["alert_id"].as_u64().unwrap();
        let (m, line) = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("alert {id} not received"));
        let sd = |k: &str| m.sd.find_tuple("medtap@99999", k).cloned();
        assert_eq!(m.msgid.as_deref(), a["rule"].as_str(), "{line}");
        assert_eq!(sd("rule").as_deref(), a["rule"].as_str());
        assert_eq!(sd("severity").as_deref(), a["severity"].as_str());
        assert_eq!(sd("clause").as_deref(), a["clause"].as_str());
        // The alert's own time (RFC 3339 with µs), not the time it was sent.
        let first = a["ts"].as_str().unwrap();
        assert!(
            line.starts_with('<') && line.contains(&format!(" {first} ")),
            "{first}: {line}"
        );
    }
}
