//! medtap's EVE JSON, taken unchanged by what hospitals already run.
//!
//! - Every line `medtap analyze --eve` writes for the sample, the test
//!   captures, the public corpus and captures made now by the scripts
//!   (policy alerts of many rules; hostile AE titles, HL7 fields, MQTT
//!   client ids and topics, DHCP host names) validates against medtap's
//!   schema (schema/eve.json) and, for the types Suricata knows, against
//!   Suricata 8's own schema (../shared/eve/schema.json), with
//!   scripts/validate-eve.py; every event type appears; the `dhcp` lines
//!   are tshark's DHCP messages; the `flow` and `alert` lines are the
//!   database's flows and alerts; no patient data.
//! - fever (DCSO's strict EVE router) reads medtap's EVE from a unix socket
//!   (config/examples/fever.yaml) and forwards every alert and anomaly,
//!   byte for byte, without a parse error.
//! - rsyslog's imfile + mmjsonparse tails the EVE file and parses every line.
//! - Many sensors, one place: two `medtap run` on veths in namespaces, each
//!   tailed by an rsyslogd running config/examples/rsyslog-sensor.conf,
//!   forwarding over TCP to an rsyslogd running
//!   config/examples/rsyslog-collector.conf, whose one merged file holds
//!   every line of both sensors, each with its `sensor_name` as `host`.
//!
//! Prerequisites (python3-jsonschema, the Suricata schema, the corpus,
//! fever, rsyslog, root for the namespaces and the capture scripts) are
//! checked with `common::skip_or_fail`: a printed skip on a workstation, a
//! failure in CI.

use crate::common;
use crate::common::lab::{wait_exit, wait_for_stderr, wait_listening, wait_until, Guard, Lab};
use crate::common::siem::{self, LineCollector, Netns, Rsyslogd};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The sensor name of every `analyze` here (a quote and non-ASCII, so
/// that `host` needs JSON escaping).
const SENSOR: &str = "ward 7 \"east\" 病房";

/// A medtap config with [`SENSOR`] as `outputs.sensor_name`, in `dir`.
fn sensor_config(dir: &Path) -> PathBuf {
    let cfg = dir.join("medtap.toml");
    std::fs::write(
        &cfg,
        "[outputs]\nsensor_name = \"ward 7 \\\"east\\\" 病房\"\n",
    )
    .unwrap();
    cfg
}

/// Capture files directly in `dir`, sorted.
fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    out.sort();
    out
}

/// Directories under `dir` (itself included) that hold captures, sorted.
fn capture_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        if !captures_in(&d).is_empty() {
            out.push(d.clone());
        }
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// One `medtap analyze --eve`: its captures, EVE file and database.
struct Run {
    name: String,
    captures: Vec<PathBuf>,
    eve: PathBuf,
    db: PathBuf,
}

/// EVE files (all in one directory, for the validator) and the databases
/// of several `analyze` runs.
struct EveSet {
    _dir: tempfile::TempDir,
    eve_dir: PathBuf,
    db_dir: PathBuf,
    config: PathBuf,
    runs: Vec<Run>,
}

impl EveSet {
    fn new() -> EveSet {
        let dir = tempfile::tempdir().unwrap();
        let eve_dir = dir.path().join("eve");
        let db_dir = dir.path().join("db");
        std::fs::create_dir_all(&eve_dir).unwrap();
        std::fs::create_dir_all(&db_dir).unwrap();
        let config = sensor_config(dir.path());
        EveSet {
            _dir: dir,
            eve_dir,
            db_dir,
            config,
            runs: Vec::new(),
        }
    }

    /// `medtap analyze CAPTURES --eve FILE` into a database of its own,
    /// with the asset list `assets` (none if `None`), no rules directory.
    fn analyze(&mut self, name: &str, captures: &[PathBuf], assets: Option<&Path>) {
        assert!(!captures.is_empty(), "{name}: no captures");
        let file = format!("{:03}-{}", self.runs.len(), name.replace('/', "_"));
        let eve = self.eve_dir.join(format!("{file}.json"));
        let db = self.db_dir.join(format!("{file}.db"));
        let assets = format!(
            "--assets={}",
            assets.map(|a| a.display().to_string()).unwrap_or_default()
        );
        common::run_success(
            common::medtap()
                .arg("analyze")
                .args(captures)
                .arg("--db")
                .arg(&db)
                .arg("--eve")
                .arg(&eve)
                .arg("--config")
                .arg(&self.config)
                .arg("--rules=")
                .arg(&assets),
        );
        self.runs.push(Run {
            name: name.to_string(),
            captures: captures.to_vec(),
            eve,
            db,
        });
    }

    /// Each capture of `dir` in a run of its own (for per-capture
    /// comparisons), or all in one run.
    fn analyze_dir(&mut self, base: &Path, dir: &Path, per_capture: bool) {
        let name = dir.strip_prefix(base).unwrap_or(dir).display().to_string();
        let assets = Some(dir.join("assets.toml")).filter(|a| a.is_file());
        let captures = captures_in(dir);
        if per_capture {
            for c in &captures {
                let file = c.file_name().unwrap().to_string_lossy();
                self.analyze(
                    &format!("{name}/{file}"),
                    std::slice::from_ref(c),
                    assets.as_deref(),
                );
            }
        } else {
            self.analyze(&name, &captures, assets.as_deref());
        }
    }

    /// Checks every run ([`check_run`]), then validates every line against
    /// medtap's schema and, when it is here, Suricata's types against
    /// Suricata's; returns the lines per event type.
    fn check(&self, suricata: Option<&Path>) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        let mut total = 0;
        for run in &self.runs {
            for (t, n) in check_run(run) {
                total += n;
                *counts.entry(t).or_insert(0) += n;
            }
        }
        assert!(total > 0, "no EVE lines at all");
        let mine = siem::validate(&siem::medtap_schema(), &self.eve_dir, None, total);
        let theirs = suricata
            .map(|s| siem::validate(s, &self.eve_dir, Some(siem::SURICATA_TYPES), total))
            .unwrap_or_default();
        eprintln!(
            "{} analyze runs, {total} EVE lines: {counts:?}\n{mine}{theirs}",
            self.runs.len()
        );
        counts
    }

    /// The runs of one capture each.
    fn single_capture_runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.captures.len() == 1)
    }
}

/// What one run wrote: every line a JSON object with `host` = [`SENSOR`];
/// as many lines as medtap counted as sent to its EVE output, none lost;
/// the `flow` lines are the database's flows (`medtap flows --json`) field
/// by field; the `alert` lines are its alerts (`medtap alerts --json`).
/// Returns the lines per event type.
fn check_run(run: &Run) -> BTreeMap<String, usize> {
    let lines = siem::file_lines(&run.eve);
    let events = siem::parse(&lines);
    let mut counts = BTreeMap::new();
    for e in &events {
        assert_eq!(e["host"], SENSOR, "{}: {e}", run.name);
        *counts
            .entry(e["event_type"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    let status = common::status_json(&run.db);
    assert_eq!(
        status["sink_sent_by_name"]["eve"].as_u64(),
        Some(lines.len() as u64),
        "{}: lines written vs counted: {status}",
        run.name
    );
    assert_eq!(status["sink_failed"], 0, "{}: {status}", run.name);
    assert_eq!(status["sink_dropped"], 0, "{}: {status}", run.name);

    let of = |t: &'static str| events.iter().filter(move |e| e["event_type"] == t);
    // Flows: EVE writes times as +0000, the database's JSON as Z; ports
    // only for TCP/UDP/SCTP (0 in the database otherwise).
    let eve_time = |v: &Value| v.as_str().unwrap_or_default().replace("+0000", "Z");
    let mut eve_flows: Vec<String> = of("flow")
        .map(|e| {
            let f = &e["flow"];
            format!(
                "{} {} {}:{} {}:{} {} {}/{} {}/{} {} {} {} {}",
                e["flow_id"],
                e["community_id"],
                e["src_ip"].as_str().unwrap(),
                e["src_port"].as_u64().unwrap_or(0),
                e["dest_ip"].as_str().unwrap(),
                e["dest_port"].as_u64().unwrap_or(0),
                e["proto"].as_str().unwrap().to_ascii_lowercase(),
                f["pkts_toserver"],
                f["bytes_toserver"],
                f["pkts_toclient"],
                f["bytes_toclient"],
                f["state"],
                f["reason"],
                eve_time(&f["start"]),
                eve_time(&f["end"]),
            )
        })
        .collect();
    let mut db_flows: Vec<String> = common::flows_json(&run.db, &[])
        .iter()
        .map(|r| {
            format!(
                "{} {} {}:{} {}:{} {} {}/{} {}/{} {} {} {} {}",
                r["flow_id"],
                r["community_id"],
                r["src_ip"].as_str().unwrap(),
                r["src_port"],
                r["dest_ip"].as_str().unwrap(),
                r["dest_port"],
                r["proto"].as_str().unwrap(),
                r["pkts_toserver"],
                r["bytes_toserver"],
                r["pkts_toclient"],
                r["bytes_toclient"],
                r["state"],
                r["reason"],
                r["start"].as_str().unwrap(),
                r["end"].as_str().unwrap(),
            )
        })
        .collect();
    eve_flows.sort();
    db_flows.sort();
    assert_eq!(
        eve_flows, db_flows,
        "{}: EVE flows vs the database",
        run.name
    );

    let mut eve_alerts: Vec<(u64, String, u64)> = of("alert")
        .map(|e| {
            let m = &e["alert"]["metadata"];
            (
                m["medtap_alert_id"][0].as_str().unwrap().parse().unwrap(),
                m["rule"][0].as_str().unwrap().to_string(),
                e["alert"]["severity"].as_u64().unwrap(),
            )
        })
        .collect();
    let severity = |s: &str| match s {
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        _ => 4,
    };
    let mut db_alerts: Vec<(u64, String, u64)> = common::json_lines(&common::run_success(
        common::medtap()
            .args(["alerts", "--json", "--db"])
            .arg(&run.db),
    ))
    .iter()
    .map(|a| {
        (
            a["alert_id"].as_u64().unwrap(),
            a["rule"].as_str().unwrap().to_string(),
            severity(a["severity"].as_str().unwrap()),
        )
    })
    .collect();
    eve_alerts.sort();
    db_alerts.sort();
    assert_eq!(
        eve_alerts, db_alerts,
        "{}: EVE alerts vs the database",
        run.name
    );
    counts
}

fn assert_every_type(counts: &BTreeMap<String, usize>, types: &[&str]) {
    let missing: Vec<&&str> = types
        .iter()
        .filter(|t| counts.get(**t).copied().unwrap_or(0) == 0)
        .collect();
    assert!(
        missing.is_empty(),
        "no EVE line of type {missing:?}: {counts:?}"
    );
}

/// The IANA name of DHCP message type `code` as medtap and Suricata
/// write it (lower case); Suricata's "unknown" past the registry.
fn dhcp_type_name(code: u32) -> &'static str {
    const NAMES: [&str; 18] = [
        "discover",
        "offer",
        "request",
        "decline",
        "ack",
        "nak",
        "release",
        "inform",
        "forcerenew",
        "leasequery",
        "leaseunassigned",
        "leaseunknown",
        "leaseactive",
        "bulkleasequery",
        "leasequerydone",
        "activeleasequery",
        "leasequerystatus",
        "tls",
    ];
    code.checked_sub(1)
        .and_then(|i| NAMES.get(i as usize))
        .copied()
        .unwrap_or("unknown")
}

/// The `dhcp` lines of a one-capture run are tshark's DHCPv4 messages:
/// the same (transaction id, client MAC, message type) multiset. A
/// datagram tshark shows without a transaction id (cut short) is no
/// message: medtap reports it as a `dhcp.malformed` anomaly instead.
/// ICMP errors quoting a DHCP datagram are not messages either.
/// Returns the number of messages compared.
fn check_dhcp_against_tshark(run: &Run) -> usize {
    let pcap = &run.captures[0];
    let events = siem::parse(&siem::file_lines(&run.eve));
    let mut eve: Vec<(u64, String, String)> = events
        .iter()
        .filter(|e| e["event_type"] == "dhcp" && e["app_proto"] == "dhcp")
        .map(|e| {
            let d = &e["dhcp"];
            (
                d["id"].as_u64().unwrap(),
                d["client_mac"].as_str().unwrap_or_default().to_string(),
                d["dhcp_type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let malformed = events
        .iter()
        .filter(|e| {
            e["event_type"] == "anomaly"
                && e["anomaly"]["event"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("dhcp.malformed"))
        })
        .count();
    let mut tshark = Vec::new();
    let mut without_id = 0;
    // Not the DHCP messages quoted in ICMP errors (a port unreachable
    // for an ACK that came after the client closed its socket): tshark
    // dissects the quoted datagram, but it is no message on the wire.
    for row in common::tshark::fields(
        pcap,
        "dhcp && !icmp",
        &["dhcp.id", "dhcp.hw.mac_addr", "dhcp.option.dhcp"],
    ) {
        let Some(id) = row[0].first() else {
            without_id += 1;
            continue;
        };
        let id = u64::from_str_radix(id.trim_start_matches("0x"), 16).unwrap();
        let mac = row[1].first().cloned().unwrap_or_default();
        let kind = row[2]
            .first()
            .map(|c| dhcp_type_name(c.parse().unwrap()).to_string())
            .unwrap_or_default();
        tshark.push((id, mac, kind));
    }
    eve.sort();
    tshark.sort();
    assert_eq!(
        eve,
        tshark,
        "{}: EVE dhcp lines vs tshark's messages",
        pcap.display()
    );
    assert!(
        malformed >= without_id,
        "{}: tshark shows {without_id} DHCP datagram(s) without a transaction id, \
         EVE has {malformed} dhcp.malformed anomalies",
        pcap.display()
    );
    eve.len()
}

/// Patient data in the test captures (PID/OBX of the HL7 captures, the
/// DICOM phantom, MQTT payloads and credentials): each is in the captured
/// bytes, none in any EVE line.
const PHI: [&str; 12] = [
    "ZZPHANTOM",
    "MEDTAPTEST",
    "MTP000001",
    "SYNTHETIC ST",
    "Heart rate",
    "PHANTOM",
    "ZZPHIMARKER",
    "medtap-nurse",
    "phantom-pass-42",
    "wrong-password",
    "synthetic will",
    "SPO2 HIGH",
];

fn assert_no_phi(set: &EveSet) {
    let has = |hay: &[u8], n: &[u8]| hay.windows(n.len()).any(|w| w == n);
    let mut raw = Vec::new();
    let mut eve = Vec::new();
    for run in &set.runs {
        for c in &run.captures {
            raw.extend(std::fs::read(c).unwrap());
        }
        eve.extend(std::fs::read(&run.eve).unwrap());
    }
    for n in PHI {
        assert!(has(&raw, n.as_bytes()), "the captures should carry {n:?}");
        assert!(!has(&eve, n.as_bytes()), "{n:?} reached the EVE output");
    }
}

/// The bundled sample and every capture in tests/data (one run per
/// directory, with its asset list if it has one; DHCP captures one run
/// each): every line validates against both schemas, every event type
/// is there, flows and alerts are the database's, DHCP is tshark's, no
/// patient data.
#[test]
fn eve_of_the_sample_and_test_captures_validates_against_both_schemas() {
    let test = "eve_of_the_sample_and_test_captures_validates_against_both_schemas";
    if !siem::require_jsonschema(test) {
        return;
    }
    // Without Suricata's schema (a user's clone) medtap's own still
    // checks every line; the missing part is reported (a failure in CI).
    let suricata = siem::require_suricata_schema(test);
    let mut set = EveSet::new();
    set.analyze("sample", &[common::sample_pcap()], None);
    let data = common::root().join("tests/data");
    for dir in capture_dirs(&data) {
        let dhcp = dir.ends_with("dhcp") || dir.ends_with("identity");
        set.analyze_dir(&data, &dir, dhcp);
    }
    let counts = set.check(suricata.as_deref());
    assert_every_type(&counts, &siem::ALL_TYPES);
    assert_no_phi(&set);
    if !common::require_tools(test, &["tshark"]) {
        return;
    }
    let compared: usize = set
        .single_capture_runs()
        .map(check_dhcp_against_tshark)
        .sum();
    assert!(compared >= 30, "{compared} DHCP messages compared");
}

/// Every capture of the public corpus (captures by other people's
/// software: Suricata's, Zeek's, tcpdump's, nDPI's, Arkime's test data and
/// tapirx's medical captures): the same checks; each DHCP capture's
/// messages equal tshark's.
#[test]
fn eve_of_the_public_corpus_validates_against_both_schemas() {
    let test = "eve_of_the_public_corpus_validates_against_both_schemas";
    if !siem::require_jsonschema(test) || !common::require_tools(test, &["tshark"]) {
        return;
    }
    // Without Suricata's schema (a user's clone) medtap's own still
    // checks every line; the missing part is reported (a failure in CI).
    let suricata = siem::require_suricata_schema(test);
    let Some(corpus) = common::require_corpus(test) else {
        return;
    };
    let mut set = EveSet::new();
    for dir in capture_dirs(&corpus) {
        let dhcp = dir.ends_with("dhcp");
        set.analyze_dir(&corpus, &dir, dhcp);
    }
    let n: usize = set.runs.iter().map(|r| r.captures.len()).sum();
    assert_eq!(n, common::corpus_captures(&corpus).len(), "every capture");
    let counts = set.check(suricata.as_deref());
    assert_every_type(
        &counts,
        &["flow", "dhcp", "mqtt", "dicom", "hl7", "device", "stats"],
    );
    let compared: usize = set
        .single_capture_runs()
        .map(check_dhcp_against_tshark)
        .sum();
    assert!(compared >= 40, "{compared} DHCP messages compared");
}

/// As root with the tools (CI): captures made now by the scripts, between
/// namespaces they create: the policy scenario (alerts of many rules),
/// hostile AE titles, HL7 header fields, MQTT client ids and topics
/// (make-hostile-dicom-captures.sh) and hostile DHCP host names and vendor
/// classes (make-identity-captures.sh).
#[test]
fn eve_of_fresh_policy_and_hostile_captures_validates_against_both_schemas() {
    let test = "eve_of_fresh_policy_and_hostile_captures_validates_against_both_schemas";
    if !siem::require_jsonschema(test) {
        return;
    }
    // Without Suricata's schema (a user's clone) medtap's own still
    // checks every line; the missing part is reported (a failure in CI).
    let suricata = siem::require_suricata_schema(test);
    let Some(policy) = common::fresh_policy_captures(test) else {
        return;
    };
    let Some(identity) = common::fresh_captures(
        test,
        "make-identity-captures.sh",
        &["dnsmasq", "udhcpc", "dhclient", "arping", "ping", "stdbuf"],
    ) else {
        return;
    };
    if !common::require_tools(test, common::HOSTILE_CAPTURE_TOOLS) {
        return;
    }
    let hostile = tempfile::tempdir().unwrap();
    let dirs = ["dicom", "hl7", "mqtt"].map(|d| hostile.path().join(d));
    common::make_hostile_captures(&dirs);

    let mut set = EveSet::new();
    set.analyze_dir(policy.path(), policy.path(), false);
    set.analyze_dir(identity.path(), identity.path(), true);
    for d in &dirs {
        set.analyze_dir(hostile.path(), d, false);
    }
    let counts = set.check(suricata.as_deref());
    assert_every_type(&counts, &siem::ALL_TYPES);
    let rules: std::collections::BTreeSet<String> = set
        .runs
        .iter()
        .flat_map(|r| siem::parse(&siem::file_lines(&r.eve)))
        .filter(|e| e["event_type"] == "alert")
        .map(|e| {
            e["alert"]["metadata"]["rule"][0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(rules.len() >= 6, "alerts of many rules: {rules:?}");
    let compared: usize = set
        .single_capture_runs()
        .map(check_dhcp_against_tshark)
        .sum();
    assert!(compared > 0, "DHCP messages compared");
}

/// The policy captures' alerts and anomalies, as a sensor would stream
/// them: `medtap analyze --eve unix:SOCKET` into fever, run with
/// config/examples/fever.yaml (only its socket paths replaced); fever
/// forwards every alert and anomaly line to the socket the test listens
/// on, byte for byte as medtap wrote them to a file, and logs no parse
/// error. The alerts are the database's, several rules, each with its
/// signature id.
#[test]
fn fever_forwards_every_alert_and_anomaly_medtap_writes() {
    let test = "fever_forwards_every_alert_and_anomaly_medtap_writes";
    if !siem::require_consumer(test, "fever", "fever") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (input, output) = (d.join("in.sock"), d.join("forward.sock"));
    let conf = d.join("fever.yaml");
    std::fs::write(
        &conf,
        siem::example(
            "fever.yaml",
            &[
                (
                    "socket: /run/fever/medtap-eve.sock",
                    &format!("socket: {}", input.display()),
                ),
                (
                    "socket: /run/fever/forward.sock",
                    &format!("socket: {}", output.display()),
                ),
            ],
        ),
    )
    .unwrap();
    // The forwarding target listens before fever starts (fever connects
    // to it once at start, and drops what comes while it reconnects).
    let forwarded = LineCollector::bind(&output);
    let log = d.join("fever.log");
    let mut fever = Guard(
        Command::new("fever")
            .arg("run")
            .arg("--config")
            .arg(&conf)
            .arg("--dummy")
            .arg("--mgmt-socket")
            .arg(d.join("mgmt.sock"))
            .env("HOME", d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start fever"),
    );
    let fever_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(
        "fever listens and forwards",
        Duration::from_secs(15),
        || {
            if let Ok(Some(s)) = fever.try_wait() {
                panic!("fever exited {s}: {}", fever_log());
            }
            if input.exists() && forwarded.connections() > 0 {
                Ok(())
            } else {
                Err(fever_log())
            }
        },
    );

    let policy = common::root().join("tests/data/policy");
    let pcap = policy.join("violations.pcap");
    let config = sensor_config(d);
    let analyze = |eve: &str, db: &Path| {
        common::run_success(
            common::medtap()
                .arg("analyze")
                .arg(&pcap)
                .arg("--db")
                .arg(db)
                .arg("--eve")
                .arg(eve)
                .arg("--config")
                .arg(&config)
                .arg("--rules=")
                .arg(format!("--assets={}", policy.join("assets.toml").display())),
        )
    };
    let db = d.join("socket.db");
    analyze(&format!("unix:{}", input.display()), &db);
    // The same run again into a file: what medtap wrote to the socket.
    let file = d.join("eve.json");
    analyze(&file.display().to_string(), &d.join("file.db"));
    let written = siem::file_lines(&file);
    let status = common::status_json(&db);
    assert_eq!(
        status["sink_sent_by_name"]["eve"].as_u64(),
        Some(written.len() as u64),
        "every line delivered to fever's socket: {status}"
    );
    assert_eq!(status["sink_failed"], 0, "{status}");
    let expected: Vec<String> = written
        .iter()
        .filter(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            e["event_type"] == "alert" || e["event_type"] == "anomaly"
        })
        .cloned()
        .collect();
    let got = wait_until(
        "fever forwarded every alert and anomaly",
        Duration::from_secs(20),
        || {
            let got = forwarded.lines();
            if got.len() >= expected.len() {
                Ok(got)
            } else {
                Err(format!(
                    "{} of {} lines; fever: {}",
                    got.len(),
                    expected.len(),
                    fever_log()
                ))
            }
        },
    );
    assert_eq!(got, expected, "fever's lines vs medtap's");

    // The alerts are the database's, of several rules, a signature id
    // per rule.
    let alerts = common::json_lines(&common::run_success(
        common::medtap().args(["alerts", "--json", "--db"]).arg(&db),
    ));
    let by_id: BTreeMap<u64, &Value> = alerts
        .iter()
        .map(|a| (a["alert_id"].as_u64().unwrap(), a))
        .collect();
    let mut signatures = BTreeMap::new();
    let mut n = 0;
    for e in siem::parse(&got) {
        if e["event_type"] != "alert" {
            continue;
        }
        n += 1;
        let m = &e["alert"]["metadata"];
        let id: u64 = m["medtap_alert_id"][0].as_str().unwrap().parse().unwrap();
        let a = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("alert {id} not in the database: {e}"));
        assert_eq!(m["rule"][0], a["rule"], "{e}");
        let sid = e["alert"]["signature_id"].as_u64().unwrap();
        let rule = a["rule"].as_str().unwrap().to_string();
        assert_eq!(*signatures.entry(rule).or_insert(sid), sid, "{e}");
    }
    assert_eq!(n, alerts.len(), "every alert of the database forwarded");
    assert!(
        signatures.len() >= 5,
        "alerts of many rules: {signatures:?}"
    );
    let sids: std::collections::BTreeSet<_> = signatures.values().collect();
    assert_eq!(sids.len(), signatures.len(), "one signature id per rule");

    if let Ok(Some(s)) = fever.try_wait() {
        panic!("fever exited {s}: {}", fever_log());
    }
    drop(fever);
    let complaints: Vec<String> = fever_log()
        .lines()
        .filter(|l| !l.contains("level=info") && !l.contains("level=debug"))
        .map(str::to_string)
        .collect();
    assert!(complaints.is_empty(), "fever complained: {complaints:#?}");
}

/// A real rsyslogd tails the EVE file with imfile and parses each line
/// with mmjsonparse (`cookie=""`: plain JSON lines); it writes each
/// line's event type, flow id, time and host when the parse succeeded
/// and the raw line after a marker when it did not. Every line medtap
/// wrote (the policy scenario's 9 event types, hostile strings, lines
/// over rsyslog's default 8 KiB) is parsed, with the same fields.
#[test]
fn rsyslog_imfile_and_mmjsonparse_parse_every_line() {
    let test = "rsyslog_imfile_and_mmjsonparse_parse_every_line";
    if !siem::require_consumer(test, "rsyslogd", "rsyslog") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (eve, parsed) = (d.join("eve.json"), d.join("parsed.txt"));
    // maxMessageSize: as in config/examples/rsyslog-sensor.conf.
    let rsyslog = Rsyslogd::start(
        &d.join("rsyslog"),
        None,
        &format!(
            r#"global(maxMessageSize="64k")
module(load="imfile")
module(load="mmjsonparse")
template(name="parsed" type="string" string="OK|%$!event_type%|%$!flow_id%|%$!timestamp%|%$!host%\n")
template(name="failed" type="string" string="FAIL|%rawmsg%\n")
input(type="imfile" file="{eve}" tag="medtap-eve" ruleset="eve")
ruleset(name="eve") {{
    action(type="mmjsonparse" cookie="")
    if $parsesuccess == "OK" then {{
        action(type="omfile" file="{parsed}" template="parsed")
    }} else {{
        action(type="omfile" file="{parsed}" template="failed")
    }}
}}
"#,
            eve = eve.display(),
            parsed = parsed.display()
        ),
    );
    let data = common::root().join("tests/data");
    let mut captures = vec![
        common::sample_pcap(),
        data.join("policy/violations.pcap"),
        data.join("identity/dhcp_hostile.pcap"),
    ];
    for sub in ["dicom/hostile", "hl7/hostile", "mqtt/hostile"] {
        captures.extend(captures_in(&data.join(sub)));
    }
    common::run_success(
        common::medtap()
            .arg("analyze")
            .args(&captures)
            .arg("--db")
            .arg(d.join("t.db"))
            .arg("--eve")
            .arg(&eve)
            .arg("--config")
            .arg(sensor_config(d))
            .arg("--rules=")
            .arg(format!(
                "--assets={}",
                data.join("policy/assets.toml").display()
            )),
    );
    let lines = siem::file_lines(&eve);
    assert!(
        lines.iter().any(|l| l.len() > 8192),
        "the captures should give a line over rsyslog's default maxMessageSize"
    );
    let expected: Vec<String> = siem::parse(&lines)
        .iter()
        .map(|e| {
            format!(
                "OK|{}|{}|{}|{}",
                e["event_type"].as_str().unwrap(),
                e.get("flow_id").map(|f| f.to_string()).unwrap_or_default(),
                e["timestamp"].as_str().unwrap(),
                e["host"].as_str().unwrap(),
            )
        })
        .collect();
    let mut types: Vec<&str> = expected
        .iter()
        .map(|l| l.split('|').nth(1).unwrap())
        .collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), siem::ALL_TYPES.len(), "{types:?}");
    let got = rsyslog.wait_lines(&parsed, expected.len());
    let failed: Vec<&String> = got.iter().filter(|l| !l.starts_with("OK|")).collect();
    assert!(
        failed.is_empty(),
        "{} of {} lines not parsed by mmjsonparse: {failed:#?}",
        failed.len(),
        got.len()
    );
    assert_eq!(got, expected, "rsyslog's view of each line");
}

/// One sensor of the two-sensor test: a lab (two namespaces, a veth),
/// `medtap run` on its first end with its own config, and the rsyslogd
/// that tails its EVE file.
struct Sensor {
    name: &'static str,
    lab: Lab,
    eve: PathBuf,
    medtap: usize,
    medtap_log: std::sync::mpsc::Receiver<String>,
    _rsyslog: Rsyslogd,
}

/// The sensor's MAC ends with `:01`, the device it sees `:02`.
fn sensor_macs(net: u8) -> [String; 2] {
    [1, 2].map(|h| format!("02:00:00:ee:{net:02x}:{h:02x}"))
}

impl Sensor {
    fn start(name: &'static str, tag: &str, net: u8, dir: &Path, log_ns: &str) -> Sensor {
        let macs = sensor_macs(net);
        let lab = Lab::with_macs(tag, Some([&macs[0], &macs[1]]));
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let eve = d.join("eve.json");
        let rsyslog = Rsyslogd::start(
            &d.join("rsyslog"),
            Some(log_ns),
            &siem::example(
                "rsyslog-sensor.conf",
                &[
                    (
                        "file=\"/var/log/medtap/eve.json\"",
                        &format!("file=\"{}\"", eve.display()),
                    ),
                    (
                        "target=\"siem-collector.hospital.example\"",
                        "target=\"127.0.0.1\"",
                    ),
                    (
                        "file=\"/var/log/medtap/eve-unparsed.log\"",
                        &format!("file=\"{}\"", d.join("unparsed.log").display()),
                    ),
                ],
            ),
        );
        // The sensor's own end is registered; the device on the other
        // end is not: a NEW_DEVICE alert when it shows up.
        let assets = d.join("assets.toml");
        std::fs::write(
            &assets,
            format!(
                "[[device]]\nmac = \"{}\"\nip = \"{}\"\nname = \"{name} uplink\"\nclass = \"network_device\"\n",
                macs[0],
                common::lab::IP_A
            ),
        )
        .unwrap();
        let cfg = d.join("medtap.toml");
        std::fs::write(
            &cfg,
            format!(
                "[capture]\nstats_interval_secs = 1\n[log]\nlevel = \"info\"\n\
                 [outputs]\nsensor_name = \"{name}\"\n[outputs.eve]\npath = \"{}\"\n",
                eve.display()
            ),
        )
        .unwrap();
        let mut sensor = Sensor {
            name,
            eve,
            medtap: 0,
            medtap_log: std::sync::mpsc::channel().1,
            _rsyslog: rsyslog,
            lab,
        };
        let (ns, veth) = (sensor.lab.ns_a.clone(), sensor.lab.veth_a.clone());
        sensor.medtap = sensor.lab.spawn(
            &ns,
            &[
                env!("CARGO_BIN_EXE_medtap"),
                "run",
                "--config",
                cfg.to_str().unwrap(),
                "-i",
                &veth,
                "--db",
                d.join("medtap.db").to_str().unwrap(),
                "--assets",
                assets.to_str().unwrap(),
                "--rules=",
            ],
        );
        sensor.medtap_log = wait_for_stderr(
            &mut sensor.lab.children[sensor.medtap],
            "capturing",
            Duration::from_secs(10),
        );
        sensor
    }

    /// One ping from the unregistered device to the sensor's end.
    fn ping(&self) {
        Lab::must(&[
            "ip",
            "netns",
            "exec",
            &self.lab.ns_b,
            "ping",
            "-c",
            "1",
            "-W",
            "5",
            common::lab::IP_A,
        ]);
    }

    /// SIGTERM; medtap must exit successfully.
    fn stop(&mut self) {
        let child = &mut self.lab.children[self.medtap];
        Lab::must(&["kill", "-TERM", &child.id().to_string()]);
        let status = wait_exit(child, Duration::from_secs(15));
        let logs: Vec<String> = self.medtap_log.try_iter().collect();
        assert!(
            status.success(),
            "{}: medtap run exited {status}: {logs:#?}",
            self.name
        );
    }
}

/// Waits until the collector's file holds an alert from `host` about
/// device `mac`; returns its line number.
fn wait_alert(merged: &Path, host: &str, mac: &str) -> usize {
    wait_until(
        &format!("an alert from {host} about {mac} at the collector"),
        Duration::from_secs(30),
        || {
            let lines = siem::file_lines(merged);
            siem::parse(&lines)
                .iter()
                .position(|e| {
                    e["event_type"] == "alert"
                        && e["host"] == host
                        && e["alert"]["metadata"]["device_mac"][0] == mac
                })
                .ok_or(format!("{} lines so far", lines.len()))
        },
    )
}

/// Many sensors, one place: two `medtap run`, each on a veth in
/// namespaces of its own with its own config (`sensor_name` "ward-a" /
/// "ward-b", an EVE file), each tailed by an rsyslogd running
/// config/examples/rsyslog-sensor.conf that forwards over TCP to an
/// rsyslogd running config/examples/rsyslog-collector.conf (all three in
/// a namespace of the test's own, on its loopback; only paths and the
/// collector's address replaced). An unregistered device pings each
/// sensor's end (NEW_DEVICE alerts: ward-a, then ward-b, then ward-a again
/// after the device changed its MAC). The collector's one merged file
/// holds every line of both sensors unchanged, each sensor's in its order,
/// the alerts in the order they happened, each with its sensor's `host`.
#[test]
fn two_sensors_forward_through_rsyslog_to_one_collector() {
    let test = "two_sensors_forward_through_rsyslog_to_one_collector";
    if !common::require_root(test)
        || !common::require_tools(test, &["ip", "ss", "ping"])
        || !siem::require_consumer(test, "rsyslogd", "rsyslog")
    {
        return;
    }
    let tag = format!("mte{}", std::process::id() % 100_000);
    let dir = tempfile::tempdir().unwrap();
    let log_ns = Netns::new(&format!("{tag}log"));
    let merged = dir.path().join("collector/sensors-eve.json");
    let rejected = dir.path().join("collector/sensors-rejected.log");
    let mut collector = Rsyslogd::start(
        &dir.path().join("collector"),
        Some(&log_ns.0),
        &siem::example(
            "rsyslog-collector.conf",
            &[
                (
                    "file=\"/var/log/medtap/sensors-eve.json\"",
                    &format!("file=\"{}\"", merged.display()),
                ),
                (
                    "file=\"/var/log/medtap/sensors-rejected.log\"",
                    &format!("file=\"{}\"", rejected.display()),
                ),
            ],
        ),
    );
    wait_listening(&log_ns.0, 10514, Duration::from_secs(10));

    let mut a = Sensor::start("ward-a", &format!("{tag}a"), 0x0a, dir.path(), &log_ns.0);
    let mut b = Sensor::start("ward-b", &format!("{tag}b"), 0x0b, dir.path(), &log_ns.0);

    a.ping();
    let first = wait_alert(&merged, "ward-a", &sensor_macs(0x0a)[1]);
    b.ping();
    let second = wait_alert(&merged, "ward-b", &sensor_macs(0x0b)[1]);
    // The device on ward A gets another MAC: a new device again.
    let moved = "02:00:00:ee:0a:03";
    Lab::must(&[
        "ip",
        "-n",
        &a.lab.ns_b,
        "link",
        "set",
        &a.lab.veth_b,
        "address",
        moved,
    ]);
    a.ping();
    let third = wait_alert(&merged, "ward-a", moved);
    assert!(
        first < second && second < third,
        "alerts interleaved in the order they happened: {first}, {second}, {third}"
    );

    a.stop();
    b.stop();
    let (eve_a, eve_b) = (siem::file_lines(&a.eve), siem::file_lines(&b.eve));
    let all = collector.wait_lines(&merged, eve_a.len() + eve_b.len());
    collector.assert_running();
    assert_eq!(all.len(), eve_a.len() + eve_b.len(), "nothing more");
    let events = siem::parse(&all);
    eprintln!(
        "collector: {} lines (ward-a {}, ward-b {}), alerts at lines {first}, {second}, {third}",
        all.len(),
        eve_a.len(),
        eve_b.len()
    );
    for (sensor, eve) in [("ward-a", &eve_a), ("ward-b", &eve_b)] {
        let mine: Vec<String> = all
            .iter()
            .zip(&events)
            .filter(|(_, e)| e["host"] == sensor)
            .map(|(l, _)| l.clone())
            .collect();
        assert_eq!(
            &mine, eve,
            "{sensor}'s lines at the collector, in its order"
        );
        let alerts = siem::parse(eve)
            .iter()
            .filter(|e| e["event_type"] == "alert")
            .count();
        assert!(alerts >= 1, "{sensor} raised no alert");
    }
    assert!(
        siem::file_lines(&rejected).is_empty(),
        "the collector rejected lines"
    );
    for s in [&a, &b] {
        let unparsed = s.eve.with_file_name("unparsed.log");
        assert!(!unparsed.exists(), "{}: lines not JSON", s.name);
    }
}
