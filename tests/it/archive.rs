//! The packet archive end to end (issue 15): `medtap run` on a veth between
//! network namespaces made here archives what it sees while tcpdump records
//! the same veth and real clients talk across (dcmtk, mosquitto, python-hl7,
//! OpenSSH to dropbear); then `medtap extract` must give back exactly
//! tcpdump's frames of an alert's flows, in a file tshark reads, with a
//! manifest whose hash matches, and `medtap replay` must raise the alert
//! again. Also: retention keeps the archive within its byte budget over a
//! long tcpreplay, oldest files first; the per-flow payload cap keeps a
//! 3 MiB C-STORE's association and its first 64 KiB only; a `kill -9`
//! leaves files tshark reads, repaired at the next start, which writes a
//! new file.
//!
//! Needs root and the tools scripts/install-deps.sh installs; without them
//! each test is a printed skip (a failure under MEDTAP_REQUIRE_ALL=1 or
//! CI=true, see `common::skip_or_fail`). Every wait is for an observable
//! event and bounded; every process started is stopped by its handle or
//! PID when the lab is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;
use crate::common::archive::{
    config, conversation_filter, ct_image, dir_bytes, flow_ends, hl7_message, index_files,
    mosquitto_conf, ns_run, pcap_files, record_times, sha256_hex, signal, tcp_flows_within,
    tcp_segment, tshark_read, tshark_select, IndexFile, SshKeys, Tcpdump,
};
use crate::common::lab::{tcp_busy, wait_exit, wait_listening, wait_until, Guard, Lab, IP_A, IP_B};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The medical device (registered as an infusion pump) in `ns_a`.
const DEVICE_MAC: &str = "00:12:21:15:00:01";
/// The hospital's servers (PACS, MQTT broker, HL7 engine) in `ns_b`.
const SERVERS_MAC: &str = "98:e7:43:15:00:02";
/// A second address of `ns_b`: the vendor's host that logs into the pump.
const IP_VENDOR: &str = "10.99.0.3";

/// Two capture sockets on one interface each read the clock for a frame
/// the kernel has not stamped (TCP's frames carry a departure time
/// instead), so medtap's and tcpdump's times of one frame may differ by a
/// few microseconds (measured: at most 7 µs); a frame's bytes never do.
const MAX_CLOCK_SKEW_US: i64 = 1_000;

/// The tools of the live scenario.
const LIVE_TOOLS: &[&str] = &[
    "ip",
    "ss",
    "timeout",
    "tcpdump",
    "tshark",
    "sha256sum",
    "storescp",
    "storescu",
    "dump2dcm",
    "mosquitto",
    "mosquitto_pub",
    "mllp_send",
    "dropbear",
    "dropbearkey",
    "ssh",
    "ssh-keygen",
    "unshare",
];

/// The Python that has python-hl7 (Debian's python3-hl7), for
/// scripts/mllp_listener.py; MEDTAP_HL7_PYTHON names another.
fn hl7_python() -> String {
    std::env::var("MEDTAP_HL7_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// `medtap ARGS --db DB`, which must not crash.
fn medtap(db: &Path, args: &[&str]) -> Output {
    common::run_ok(common::medtap().args(args).arg("--db").arg(db))
}

/// `medtap extract --db DB SELECTION -w OUT`.
fn extract(db: &Path, selection: &[&str], out: &str) -> Output {
    let mut args = vec!["extract"];
    args.extend_from_slice(selection);
    args.extend_from_slice(&["-w", out]);
    medtap(db, &args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The asset list: the pump registered (a medical device), the servers
/// registered; the vendor's address is not.
fn assets(dir: &Path) -> PathBuf {
    let path = dir.join("assets.toml");
    std::fs::write(
        &path,
        format!(
            "[[device]]\nmac = \"{DEVICE_MAC}\"\nip = \"{IP_A}\"\nname = \"ICU pump 15\"\n\
             class = \"infusion_pump\"\ndepartment = \"ICU\"\n\n\
             [[device]]\nmac = \"{SERVERS_MAC}\"\nip = \"{IP_B}\"\nname = \"Hospital servers\"\n\
             class = \"pacs\"\ndepartment = \"IT\"\n"
        ),
    )
    .unwrap();
    path
}

/// Waits until every TCP connection in the lab has closed, tcpdump has
/// written all it received, and medtap (a statistics row a second) has
/// counted at least as many packets: the capture and the sensor both saw
/// everything. Returns tcpdump's count.
fn all_seen(lab: &Lab, td: &Tcpdump, db: &Path) -> u64 {
    wait_until("TCP connections closed", Duration::from_secs(15), || {
        let busy = tcp_busy(&[&lab.ns_a, &lab.ns_b]);
        if busy.is_empty() {
            Ok(())
        } else {
            Err(busy.join("; "))
        }
    });
    let seen = td.caught_up();
    wait_until(
        "medtap counted what tcpdump saw",
        Duration::from_secs(15),
        || {
            let st = common::status_json(db);
            match st["packets"].as_u64() {
                Some(n) if n >= seen => Ok(()),
                _ => Err(format!("medtap {} packets, tcpdump {seen}", st["packets"])),
            }
        },
    );
    seen
}

/// Stops `medtap run` (SIGTERM, by PID) and waits for its exit; its status
/// and its log.
fn stop_medtap(
    lab: &mut Lab,
    mt: usize,
    log: &std::sync::mpsc::Receiver<String>,
) -> (std::process::ExitStatus, Vec<String>) {
    signal(lab.children[mt].id(), "TERM");
    let status = wait_exit(&mut lab.children[mt], Duration::from_secs(20));
    (status, log.try_iter().collect())
}

/// Asserts that `got` (an extract) holds exactly the frames of `truth`
/// (tcpdump's, selected by tshark): as many, byte for byte, the same length
/// on the wire, the same time within [`MAX_CLOCK_SKEW_US`], and in time
/// order within that skew. Returns the largest skew.
fn assert_same_frames(what: &str, got: &Path, truth: &Path) -> i64 {
    let (dlt, g) = common::read_frames(got);
    let (tdlt, t) = common::read_frames(truth);
    assert_eq!((dlt, tdlt), (1, 1), "{what}: Ethernet in both");
    assert!(!t.is_empty(), "{what}: tcpdump saw none of its frames");
    assert_eq!(g.len(), t.len(), "{what}: frames extracted vs tcpdump's");
    // In capture order, give or take the clock skew: two packet sockets
    // may see two frames of the same instant in either order.
    assert!(
        g.windows(2).all(|w| w[0].0 <= w[1].0 + MAX_CLOCK_SKEW_US),
        "{what}: extract not in time order"
    );
    // Paired by their bytes (sequence numbers make them unique; identical
    // retransmissions pair by time).
    let by_bytes = |v: &[(i64, u32, Vec<u8>)]| {
        let mut v: Vec<(Vec<u8>, i64, u32)> = v.iter().map(|f| (f.2.clone(), f.0, f.1)).collect();
        v.sort();
        v
    };
    let (g, t) = (by_bytes(&g), by_bytes(&t));
    let mut skew = 0;
    for (i, (a, b)) in g.iter().zip(&t).enumerate() {
        assert!(a.0 == b.0, "{what}: frame {i} (by bytes): bytes differ");
        assert_eq!(a.2, b.2, "{what}: frame {i}: length on the wire");
        skew = skew.max((a.1 - b.1).abs());
        assert!(
            (a.1 - b.1).abs() <= MAX_CLOCK_SKEW_US,
            "{what}: frame {i}: time {} vs tcpdump's {}",
            a.1,
            b.1
        );
    }
    skew
}

/// Live: DICOM, MQTT, HL7 and an SSH login into the pump (REMOTE_ACCESS)
/// archived by `medtap run` while tcpdump records the same veth; the SSH
/// session stays open while a 3 MiB DICOM store rotates the 1 MiB files, so
/// its frames sit in several files.
#[test]
fn live_archive_extracts_exactly_what_tcpdump_saw_and_replay_reproduces_the_alert() {
    let test = "live_archive_extracts_exactly_what_tcpdump_saw_and_replay_reproduces_the_alert";
    let mut tools = LIVE_TOOLS.to_vec();
    tools.push("python3");
    if !common::require_root(test) || !common::require_tools(test, &tools) {
        return;
    }
    let started = Instant::now();
    let tag = format!("mtx{}", std::process::id() % 100_000);
    let mut lab = Lab::with_macs(&tag, Some([DEVICE_MAC, SERVERS_MAC]));
    let (ns_a, ns_b) = (lab.ns_a.clone(), lab.ns_b.clone());
    let (veth_a, veth_b) = (lab.veth_a.clone(), lab.veth_b.clone());
    Lab::must(&[
        "ip",
        "-n",
        &ns_b,
        "addr",
        "add",
        &format!("{IP_VENDOR}/24"),
        "dev",
        &veth_b,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let archive = d.join("archive");
    let cfg = d.join("medtap.toml");
    let asset_list = assets(d);
    // The whole payload (the comparison is byte for byte), 1 MiB files,
    // nothing deleted.
    config(
        &cfg,
        &archive,
        Some(&asset_list),
        &[
            "max_payload_per_flow = 0",
            "file_mib = 1",
            "max_total_mib = 64",
        ],
    );
    let small = ct_image(d, "small", 64, 64);
    let big = ct_image(d, "big", 1024, 1536);
    let hl7 = d.join("oru.hl7");
    hl7_message(&hl7);
    let broker_conf = d.join("mosquitto.conf");
    mosquitto_conf(&broker_conf, IP_B, &d.join("mosquitto.log"));
    let keys = SshKeys::new(d);
    let pacs_in = d.join("pacs-in");
    std::fs::create_dir(&pacs_in).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();

    let td = Tcpdump::start(&mut lab, &ns_a, &veth_a, &d.join("tcpdump.pcap"));
    let db = d.join("live.db");
    let (mt, mt_log) = lab.run_medtap(&cfg, &db, &[]);
    lab.spawn(
        &ns_b,
        &["storescp", "-aet", "PACS", "-od", &s(&pacs_in), "104"],
    );
    lab.spawn(&ns_b, &["mosquitto", "-c", &s(&broker_conf)]);
    let listener = common::root().join("scripts/mllp_listener.py");
    lab.spawn(
        &ns_b,
        &[
            &hl7_python(),
            &s(&listener),
            "--host",
            IP_B,
            "--port",
            "2575",
        ],
    );
    let server = keys.server_args(&d.join("dropbear.pid"));
    lab.spawn(
        &ns_a,
        &server.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for (ns, port) in [(&ns_b, 104), (&ns_b, 1883), (&ns_b, 2575), (&ns_a, 22)] {
        wait_listening(ns, port, Duration::from_secs(10));
    }

    // The pump stores an image, publishes its rate, sends an ORU^R01.
    let storescu = |file: &Path| {
        let out = ns_run(
            &ns_a,
            &[
                "storescu",
                "-v",
                "-aet",
                "PUMP15",
                "-aec",
                "PACS",
                IP_B,
                "104",
                &s(file),
            ],
        );
        assert!(
            text(&out.stderr).contains("Received Store Response (Success)"),
            "{}",
            text(&out.stderr)
        );
    };
    storescu(&small);
    ns_run(
        &ns_a,
        &[
            "mosquitto_pub",
            "-V",
            "mqttv311",
            "-h",
            IP_B,
            "-i",
            "pump-15",
            "-q",
            "1",
            "-t",
            "icu/bed15/pump",
            "-m",
            "{\"rate\":12.5,\"synthetic\":true}",
        ],
    );
    let sent = ns_run(
        &ns_a,
        &["mllp_send", "--file", &s(&hl7), "-p", "2575", IP_B],
    );
    assert!(text(&sent.stdout).contains("MSA|AA|PUMP-0015"), "{sent:?}");

    // The vendor logs into the pump; while the session is open, the big
    // image crosses (each step waits for the other's file).
    let (inside, go_on) = (d.join("ssh-inside"), d.join("ssh-go-on"));
    let remote = format!(
        "touch {0} && for i in $(seq 300); do [ -e {1} ] && break; sleep 0.1; done && [ -e {1} ] && echo session-ok",
        inside.display(),
        go_on.display()
    );
    let mut ssh = Guard(
        Command::new("ip")
            .args(["netns", "exec", &ns_b])
            .args(keys.client_args(IP_VENDOR, IP_A, &remote))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until("the SSH session runs", Duration::from_secs(20), || {
        if inside.exists() {
            Ok(())
        } else {
            Err(format!("ssh still running: {:?}", ssh.try_wait()))
        }
    });
    storescu(&big);
    std::fs::write(&go_on, "").unwrap();
    let status = wait_exit(&mut ssh, Duration::from_secs(20));
    let mut said = String::new();
    std::io::Read::read_to_string(ssh.stdout.as_mut().unwrap(), &mut said).unwrap();
    assert!(
        status.success() && said.contains("session-ok"),
        "ssh: {status} {said:?}"
    );

    all_seen(&lab, &td, &db);
    let (status, logs) = stop_medtap(&mut lab, mt, &mt_log);
    assert!(status.success(), "medtap run exited {status}: {logs:#?}");
    let tcpdump_pcap = td.path.clone();
    td.stop(&mut lab);
    let st = common::status_json(&db);
    assert_eq!(st["archive_dropped"], 0, "{st}");
    assert_eq!(st["archive_not_written"], 0, "{st}");
    assert_eq!(st["archive_cut_bytes"], 0, "no cap: {st}");

    // The files: 0600 in a 0700 directory, each one read by tshark without
    // a complaint, several (the 3 MiB image in 1 MiB files).
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&archive), 0o700);
    let files = pcap_files(&archive);
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
        let r = tshark_read(f);
        assert!(r.clean(), "{}: {r:?}", f.display());
    }

    // The alert: the vendor's SSH session into the pump.
    let alerts = common::json_lines(&medtap(
        &db,
        &["alerts", "--json", "--rule", "REMOTE_ACCESS"],
    ));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert["device_ip"], IP_A, "{alert}");
    assert_eq!(alert["peer_ip"], IP_VENDOR, "{alert}");
    let id = alert["alert_id"].to_string();
    let flows = common::flows_json(&db, &[]);
    let flow_of = |id: &Value| {
        flows
            .iter()
            .find(|f| &f["flow_id"] == id)
            .unwrap_or_else(|| panic!("flow {id} in {flows:#?}"))
    };
    let ssh_flow = flow_of(&alert["flow_id"]);
    assert_eq!(
        (
            &ssh_flow["src_ip"],
            &ssh_flow["dest_ip"],
            &ssh_flow["dest_port"]
        ),
        (
            &Value::from(IP_VENDOR),
            &Value::from(IP_A),
            &Value::from(22)
        ),
        "{ssh_flow}"
    );

    // extract --alert: a file tshark reads, exactly tcpdump's frames of
    // the alert's flow.
    let x = d.join("alert.pcap");
    let out = extract(&db, &["--alert", &id], &s(&x));
    let says = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "extract --alert {id}: {says}");
    let truth = d.join("alert.tcpdump.pcap");
    tshark_select(&tcpdump_pcap, &conversation_filter(ssh_flow), &truth);
    let r = tshark_read(&x);
    assert!(r.clean(), "tshark on the extract: {r:?}");
    let skew = assert_same_frames("the alert's flow", &x, &truth);
    let n = common::read_frames(&x).1.len();
    assert_eq!(r.frames, n as u64);
    assert!(says.contains(&n.to_string()), "says how many: {says}");

    // The manifest: the file's hash, what was asked for, complete.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(format!("{}.manifest.json", x.display())).expect("manifest beside it"),
    )
    .expect("manifest JSON");
    assert_eq!(manifest["sha256"], sha256_hex(&x), "{manifest}");
    assert_eq!(manifest["packets"], n, "{manifest}");
    assert_eq!(manifest["complete"], true, "{manifest}");
    assert_eq!(
        manifest["gaps"].as_array().map(Vec::len),
        Some(0),
        "{manifest}"
    );
    assert_eq!(manifest["alert"]["alert_id"].to_string(), id, "{manifest}");
    // Read: exactly the files holding the session's frames, two at least
    // (it spans the rotations of the big store), not those in between.
    let (client, server) = flow_ends(ssh_flow);
    let holding: Vec<Value> = files
        .iter()
        .filter(|f| {
            common::read_frames(f)
                .1
                .iter()
                .any(|fr| tcp_segment(&fr.2).is_some_and(|t| t.between(client, server)))
        })
        .map(|f| Value::from(f.file_name().unwrap().to_str().unwrap()))
        .collect();
    assert!(holding.len() >= 2, "{holding:?} of {files:?}");
    assert!(holding.len() < files.len(), "{holding:?} of {files:?}");
    assert_eq!(
        manifest["archive_files"],
        Value::from(holding),
        "{manifest}"
    );

    // -w -: the same bytes on stdout.
    let piped = extract(&db, &["--alert", &id], "-");
    assert_eq!(piped.status.code(), Some(0), "{}", text(&piped.stderr));
    assert!(piped.stdout == std::fs::read(&x).unwrap(), "-w - differs");

    // Every TCP flow (DICOM twice, MQTT, HL7, SSH) by --flow, also exactly.
    let tcp: Vec<&Value> = flows.iter().filter(|f| f["proto"] == "tcp").collect();
    let ports: Vec<u64> = tcp.iter().filter_map(|f| f["dest_port"].as_u64()).collect();
    for want in [104, 104, 1883, 2575, 22] {
        assert!(ports.contains(&want), "{want} in {ports:?}");
    }
    assert_eq!(tcp.len(), 5, "{tcp:#?}");
    let mut worst = skew;
    for f in &tcp {
        let fid = f["flow_id"].to_string();
        let out_path = d.join(format!("flow-{fid}.pcap"));
        let out = extract(&db, &["--flow", &fid], &s(&out_path));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let truth = d.join(format!("flow-{fid}.tcpdump.pcap"));
        tshark_select(&tcpdump_pcap, &conversation_filter(f), &truth);
        let what = format!("flow {fid} (port {})", f["dest_port"]);
        worst = worst.max(assert_same_frames(&what, &out_path, &truth));
    }

    // replay: the same alert again from the extracted packets.
    let out = common::run_ok(
        common::medtap()
            .args(["replay", "--db"])
            .arg(&db)
            .args(["--alert", &id, "--config"])
            .arg(&cfg),
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "replay: {said}");
    assert!(
        text(&out.stdout).starts_with("reproduced: REMOTE_ACCESS"),
        "{said}"
    );
    eprintln!(
        "{test}: {} archive files, alert extract {n} frames, largest clock skew {worst} µs, {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Retention: 1 MiB files, 3 MiB in all, a long tcpreplay on the veth:
/// the directory never holds more than the budget, the oldest files go
/// first (by id), the index and `status` count them, and an extraction of
/// a flow whose frames were deleted says so.
#[test]
fn retention_keeps_the_archive_within_its_budget_oldest_first() {
    let test = "retention_keeps_the_archive_within_its_budget_oldest_first";
    if !common::require_root(test)
        || !common::require_tools(test, &["ip", "ss", "timeout", "tcpreplay", "tshark"])
    {
        return;
    }
    let started = Instant::now();
    let tag = format!("mtr{}", std::process::id() % 100_000);
    let mut lab = Lab::new(&tag);
    let (ns_b, veth_b) = (lab.ns_b.clone(), lab.veth_b.clone());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let archive = d.join("archive");
    let cfg = d.join("medtap.toml");
    const BUDGET: u64 = 3 << 20;
    config(
        &cfg,
        &archive,
        None,
        &[
            "max_payload_per_flow = 0",
            "file_mib = 1",
            "max_total_mib = 3",
            "file_secs = 86400",
        ],
    );
    let db = d.join("retention.db");
    let (mt, mt_log) = lab.run_medtap(&cfg, &db, &[]);

    // The directory's size, sampled every 5 ms while the archive is written.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (stop, archive) = (stop.clone(), archive.clone());
        std::thread::spawn(move || {
            let (mut max, mut samples) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(dir_bytes(&archive));
                samples += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (max, samples)
        })
    };
    // The sample capture 40 times over (9 MB), at 30 Mbit/s.
    const LOOPS: u64 = 40;
    let sample = common::sample_pcap();
    let frames_each = common::read_frames(&sample).1.len() as u64;
    ns_run(
        &ns_b,
        &[
            "tcpreplay",
            "-q",
            "-i",
            &veth_b,
            "--mbps",
            "30",
            "--loop",
            &LOOPS.to_string(),
            sample.to_str().unwrap(),
        ],
    );
    let sent = LOOPS * frames_each;
    wait_until(
        "medtap read every frame replayed",
        Duration::from_secs(30),
        || {
            let st = common::status_json(&db);
            let got =
                st["packets"].as_u64().unwrap_or(0) + st["kernel_drops"].as_u64().unwrap_or(0);
            if got >= sent {
                Ok(())
            } else {
                Err(format!("{got} of {sent}: {st}"))
            }
        },
    );
    let (status, logs) = stop_medtap(&mut lab, mt, &mt_log);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (max, samples) = sampler.join().unwrap();
    let st = common::status_json(&db);
    assert!(
        status.success() || st["archive_dropped"].as_u64() > Some(0),
        "medtap run exited {status}: {logs:#?}"
    );

    // Within the budget while it ran and after.
    let after = dir_bytes(&archive);
    assert!(max <= BUDGET, "{max} bytes at most in {samples} samples");
    assert!(after <= BUDGET, "{after} bytes left");
    assert!(samples > 20, "sampled {samples} times only");

    // Oldest first: every deleted file is older (a lower id) than every
    // file kept; deleted in id order; for the byte budget.
    let rows = index_files(&db);
    let (deleted, kept): (Vec<&IndexFile>, Vec<&IndexFile>) =
        rows.iter().partition(|f| f.state == "deleted");
    let written: u64 = rows.iter().map(|f| f.bytes).sum();
    assert!(
        written > 2 * BUDGET && deleted.len() >= 3,
        "{written} bytes through a {BUDGET} byte archive: {rows:#?}"
    );
    let newest_deleted = deleted.iter().map(|f| f.id).max().unwrap();
    assert!(
        kept.iter().all(|f| f.id > newest_deleted),
        "a newer file went before an older one: {rows:#?}"
    );
    let times: Vec<i64> = deleted.iter().map(|f| f.deleted_us.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{rows:#?}");
    assert!(
        deleted
            .iter()
            .all(|f| f.deleted_reason.as_deref() == Some("max_total_mib")),
        "{rows:#?}"
    );
    // The kept files are the directory's, at the sizes the index has, each
    // within its size limit, each read by tshark.
    let on_disk: Vec<String> = pcap_files(&archive)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let listed: Vec<String> = kept.iter().map(|f| f.name.clone()).collect();
    assert_eq!(on_disk, listed);
    for f in &kept {
        let p = archive.join(&f.name);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), f.bytes, "{f:?}");
        assert!(f.bytes <= 1 << 20, "{f:?}");
        let r = tshark_read(&p);
        assert!(r.clean() && r.frames == f.packets, "{f:?}: {r:?}");
    }
    // status: the counter, the index's summary, the line for people.
    assert_eq!(st["archive_files_deleted"], deleted.len(), "{st}");
    let summary = &st["archive"];
    assert_eq!(summary["files_deleted"], deleted.len(), "{st}");
    assert_eq!(summary["files"], kept.len(), "{st}");
    assert_eq!(summary["bytes"], after, "{st}");
    let table = text(&medtap(&db, &["status"]).stdout);
    let line = format!("({} deleted by retention)", deleted.len());
    assert!(table.contains(&line), "{line} in {table}");

    // The first flow started in a deleted file: its extraction says so.
    let flows = common::flows_json(&db, &[]);
    let first = flows
        .iter()
        .min_by_key(|f| f["flow_id"].as_u64())
        .expect("flows");
    let fid = first["flow_id"].to_string();
    let y = d.join("deleted.pcap");
    let out = extract(&db, &["--flow", &fid], y.to_str().unwrap());
    let says = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "extract --flow {fid}: {says}");
    let gone: Vec<&str> = says
        .lines()
        .filter(|l| l.contains("deleted by retention"))
        .collect();
    assert!(!gone.is_empty(), "names the deleted part: {says}");
    for l in &gone {
        assert!(
            deleted.iter().any(|f| l.contains(&f.name)),
            "names a deleted file: {l}"
        );
    }
    eprintln!(
        "{test}: {} files deleted, {} kept, at most {max} bytes in {samples} samples (budget {BUDGET}), {} of {sent} frames archived ({} dropped), {:.1} s",
        deleted.len(),
        kept.len(),
        st["archive_frames"],
        st["archive_dropped"],
        started.elapsed().as_secs_f64()
    );
}

/// The per-flow payload cap: a 3 MiB C-STORE, captured by tcpdump and
/// read by `medtap analyze --archive` with `max_payload_per_flow = 65536`:
/// every frame of the association is archived, its payload up to the
/// first 64 KiB of the flow only; the cut bytes are counted; the extract
/// still shows the association's AE titles and SOP class.
#[test]
fn per_flow_cap_keeps_the_association_and_the_first_64_kib() {
    let test = "per_flow_cap_keeps_the_association_and_the_first_64_kib";
    if !common::require_root(test)
        || !common::require_tools(
            test,
            &[
                "ip", "ss", "timeout", "tcpdump", "storescp", "storescu", "dump2dcm",
            ],
        )
    {
        return;
    }
    const CAP: u64 = 65_536;
    let started = Instant::now();
    let tag = format!("mtc{}", std::process::id() % 100_000);
    let mut lab = Lab::new(&tag);
    let (ns_a, ns_b, veth_a) = (lab.ns_a.clone(), lab.ns_b.clone(), lab.veth_a.clone());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = ct_image(d, "big", 1024, 1536);
    assert!(std::fs::metadata(&big).unwrap().len() > 3 << 20);
    let pacs_in = d.join("pacs-in");
    std::fs::create_dir(&pacs_in).unwrap();
    let td = Tcpdump::start(&mut lab, &ns_a, &veth_a, &d.join("store.pcap"));
    lab.spawn(
        &ns_b,
        &[
            "storescp",
            "-aet",
            "PACS",
            "-od",
            pacs_in.to_str().unwrap(),
            "104",
        ],
    );
    wait_listening(&ns_b, 104, Duration::from_secs(10));
    let out = ns_run(
        &ns_a,
        &[
            "storescu",
            "-v",
            "-aet",
            "CT15",
            "-aec",
            "PACS",
            IP_B,
            "104",
            big.to_str().unwrap(),
        ],
    );
    assert!(text(&out.stderr).contains("Received Store Response (Success)"));
    wait_until("TCP connections closed", Duration::from_secs(15), || {
        let busy = tcp_busy(&[&ns_a, &ns_b]);
        if busy.is_empty() {
            Ok(())
        } else {
            Err(busy.join("; "))
        }
    });
    td.caught_up();
    let capture = td.path.clone();
    td.stop(&mut lab);

    let archive = d.join("archive");
    let cfg = d.join("medtap.toml");
    config(
        &cfg,
        &archive,
        None,
        &[&format!("max_payload_per_flow = {CAP}")],
    );
    let db = d.join("cap.db");
    common::run_success(
        common::medtap()
            .arg("analyze")
            .arg(&capture)
            .arg("--db")
            .arg(&db)
            .arg("--archive")
            .arg(&archive)
            .arg("--config")
            .arg(&cfg),
    );
    let flows = common::flows_json(&db, &["--proto", "tcp"]);
    assert_eq!(flows.len(), 1, "{flows:#?}");
    let (client, server) = flow_ends(&flows[0]);
    assert_eq!(server.1, 104);

    // What tcpdump saw of the association, and what the archive kept.
    let (_, original) = common::read_frames(&capture);
    let files = pcap_files(&archive);
    let archived: Vec<(i64, u32, Vec<u8>)> = files
        .iter()
        .flat_map(|f| common::read_frames(f).1)
        .collect();
    assert_eq!(archived.len(), original.len(), "every frame, cut or not");
    let mut payload = (0u64, 0u64);
    let mut frames = 0;
    for (i, (a, o)) in archived.iter().zip(&original).enumerate() {
        assert_eq!(
            (a.0, a.1),
            (o.0, o.1),
            "frame {i}: time and length on the wire"
        );
        assert!(
            o.2.starts_with(&a.2),
            "frame {i}: the archive keeps the frame's first bytes"
        );
        let Some(seg) = tcp_segment(&o.2).filter(|s| s.between(client, server)) else {
            assert_eq!(a.2, o.2, "frame {i}: not the association's: whole");
            continue;
        };
        frames += 1;
        let kept = a.2.len().saturating_sub(seg.payload_at);
        assert!(
            a.2.len() >= seg.payload_at,
            "frame {i}: its headers are kept"
        );
        payload.0 += seg.payload_len as u64;
        payload.1 += kept as u64;
    }
    let (total, kept) = payload;
    assert!(total > 3 << 20, "the C-STORE carried {total} bytes");
    assert_eq!(kept, CAP, "payload archived of {frames} frames");
    let st = common::status_json(&db);
    assert_eq!(st["archive_cut_bytes"], total - CAP, "{st}");
    assert_eq!(st["archive_dropped"], 0, "{st}");

    // The extract of the association, analysed afresh, shows what the
    // original capture showed of it.
    let x = d.join("assoc.pcap");
    let fid = flows[0]["flow_id"].to_string();
    let out = extract(&db, &["--flow", &fid], x.to_str().unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (of_extract, _) = common::analyze_and_query(&x, "dicom");
    let (of_capture, _) = common::analyze_and_query(&capture, "dicom");
    let key = |rows: &[Value]| -> Vec<(Value, Value, Vec<Value>)> {
        rows.iter()
            .map(|r| {
                (
                    r["calling_ae"].clone(),
                    r["called_ae"].clone(),
                    r["operations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| o["sop_class_uid"].clone())
                        .collect(),
                )
            })
            .collect()
    };
    let want = vec![(
        Value::from("CT15"),
        Value::from("PACS"),
        vec![Value::from("1.2.840.10008.5.1.4.1.1.2")],
    )];
    assert_eq!(key(&of_capture), want, "{of_capture:#?}");
    assert_eq!(key(&of_extract), want, "{of_extract:#?}");
    eprintln!(
        "{test}: {total} payload bytes, {kept} archived in {frames} frames, {} cut, {:.1} s",
        total - CAP,
        started.elapsed().as_secs_f64()
    );
}

/// `kill -9` of `medtap run` while it archives a replay: every file
/// but the one being written reads cleanly at once, that one cleanly or
/// cut short; the next start repairs it (index: repaired), after which
/// every file reads cleanly, and writes a new file instead of appending;
/// a connection whose frames were in the crashed file is extracted whole.
#[test]
fn kill_9_leaves_readable_files_repaired_at_the_next_start() {
    let test = "kill_9_leaves_readable_files_repaired_at_the_next_start";
    if !common::require_root(test)
        || !common::require_tools(
            test,
            &["ip", "ss", "timeout", "tcpreplay", "tshark", "ping"],
        )
    {
        return;
    }
    let started = Instant::now();
    let tag = format!("mtk{}", std::process::id() % 100_000);
    let mut lab = Lab::new(&tag);
    let (ns_b, veth_b) = (lab.ns_b.clone(), lab.veth_b.clone());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let archive = d.join("archive");
    let cfg = d.join("medtap.toml");
    config(
        &cfg,
        &archive,
        None,
        &[
            "max_payload_per_flow = 0",
            "file_mib = 1",
            "max_total_mib = 64",
            // Closed connections are recorded within a second.
            "[flow.timeouts]",
            "tcp_closed = 1",
        ],
    );
    let db = d.join("crash.db");
    let (mt, _log) = lab.run_medtap(&cfg, &db, &[]);
    // 2.7 MB at 40 Mbit/s: two files closed, a third begun; then a trickle
    // (1 Mbit/s: the third file spans seconds) until a connection recorded
    // in the database has all its frames in that file on disk.
    let sample = common::sample_pcap();
    let replay = |mbps: &str, loops: &str| {
        vec![
            "tcpreplay".to_string(),
            "-q".into(),
            "-i".into(),
            veth_b.clone(),
            "--mbps".into(),
            mbps.into(),
            "--loop".into(),
            loops.into(),
            sample.display().to_string(),
        ]
    };
    let fast = replay("40", "12");
    ns_run(&ns_b, &fast.iter().map(String::as_str).collect::<Vec<_>>());
    let slow = replay("1", "1000");
    let trickle = lab.spawn(&ns_b, &slow.iter().map(String::as_str).collect::<Vec<_>>());
    let (held, held_pkts) = wait_until(
        "a recorded connection all in the file being written",
        Duration::from_secs(30),
        || {
            let rows = index_files(&db);
            let last = rows
                .last()
                .filter(|f| rows.len() >= 3 && f.state == "open")
                .ok_or_else(|| format!("{rows:?}"))?;
            let times = record_times(&archive.join(&last.name));
            let (Some(&first), Some(&end)) = (times.first(), times.last()) else {
                return Err(format!("nothing on disk in {last:?}"));
            };
            tcp_flows_within(&db, first, end)
                .first()
                .copied()
                .ok_or_else(|| format!("no connection within {first}..{end} of {last:?}"))
        },
    );
    signal(lab.children[mt].id(), "KILL");
    let status = wait_exit(&mut lab.children[mt], Duration::from_secs(10));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    lab.children[trickle].kill().unwrap();
    lab.children[trickle].wait().unwrap();

    let rows = index_files(&db);
    let crashed = rows.last().unwrap().clone();
    assert_eq!(crashed.state, "open", "{rows:#?}");
    assert!(
        rows[..rows.len() - 1].iter().all(|f| f.state == "closed"),
        "{rows:#?}"
    );
    let crashed_path = archive.join(&crashed.name);
    let left = std::fs::read(&crashed_path).unwrap();
    for f in &rows[..rows.len() - 1] {
        let r = tshark_read(&archive.join(&f.name));
        assert!(r.clean() && r.frames == f.packets, "{f:?}: {r:?}");
    }
    let at_crash = tshark_read(&crashed_path);
    assert!(
        at_crash.clean() || at_crash.cut_short(),
        "the crashed file: {at_crash:?}"
    );

    // The next start: repairs, then a new file for what it captures.
    let before = common::status_json(&db)["packets"].as_u64().unwrap_or(0);
    let (mt, log) = lab.run_medtap(&cfg, &db, &[]);
    ns_run(&ns_b, &["ping", "-c", "3", "-i", "0.2", IP_A]);
    wait_until("medtap counted the pings", Duration::from_secs(15), || {
        let n = common::status_json(&db)["packets"].as_u64().unwrap_or(0);
        if n >= before + 6 {
            Ok(())
        } else {
            Err(format!("{n} packets, {before} before"))
        }
    });
    let (status, logs) = stop_medtap(&mut lab, mt, &log);
    assert!(status.success(), "medtap run exited {status}: {logs:#?}");

    let rows = index_files(&db);
    let repaired = rows.iter().find(|f| f.id == crashed.id).unwrap();
    assert_eq!(repaired.state, "repaired", "{rows:#?}");
    let now = std::fs::read(&crashed_path).unwrap();
    assert_eq!(now.len() as u64, repaired.bytes, "{repaired:?}");
    assert!(
        left.starts_with(&now),
        "repair only cuts the file back: {} bytes left by the crash, {} now",
        left.len(),
        now.len()
    );
    let new: Vec<&IndexFile> = rows.iter().filter(|f| f.id > crashed.id).collect();
    assert!(
        !new.is_empty() && new.iter().all(|f| f.state == "closed"),
        "{rows:#?}"
    );
    assert!(new.iter().map(|f| f.packets).sum::<u64>() >= 6, "{new:#?}");
    for f in &rows {
        let r = tshark_read(&archive.join(&f.name));
        assert!(r.clean() && r.frames == f.packets, "{f:?}: {r:?}");
    }
    // The connection whose frames were all in the crashed file is extracted
    // whole from the repaired one (whose flows the index may not all list:
    // it is read through).
    let (fid, want) = (held, held_pkts);
    let (first, last) = repaired.span.expect("the repaired file's span");
    assert!(
        tcp_flows_within(&db, first, last).contains(&(fid, want)),
        "flow {fid} within {first}..{last}"
    );
    let x = d.join("crashed-flow.pcap");
    let out = extract(&db, &["--flow", &fid.to_string()], x.to_str().unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(common::read_frames(&x).1.len() as u64, want, "flow {fid}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(format!("{}.manifest.json", x.display())).unwrap())
            .unwrap();
    assert_eq!(
        manifest["archive_files"],
        serde_json::json!([crashed.name]),
        "{manifest}"
    );
    eprintln!(
        "{test}: crashed file {} ({} bytes, tshark at the crash: {}), {} cut by the repair, new file id {}, flow {fid} ({want} frames) extracted from it, {:.1} s",
        crashed.id,
        left.len(),
        if at_crash.clean() { "clean" } else { "cut short" },
        left.len() - now.len(),
        new[0].id,
        started.elapsed().as_secs_f64()
    );
}
