use super::*;
use crate::alert::{AlertRecord, FlowTuple, Party, Rule};
use crate::flow::{DirCounters, EndReason, FlowRecord, FlowState};
use crate::kinds::Severity;
use serde_json::Value;

fn flow(reason: EndReason) -> FlowRecord {
    FlowRecord {
        flow_id: 7,
        start: 1_764_336_000_000_001,
        end: 1_764_336_002_500_000,
        proto: 6,
        src_ip: [10, 20, 1, 5].into(),
        src_port: 40000,
        dest_ip: [10, 20, 2, 10].into(),
        dest_port: 104,
        icmp: None,
        vlan: Some(20),
        src_mac: crate::net::Mac::parse("02:00:00:00:00:05"),
        dest_mac: None,
        dirs: [
            DirCounters {
                pkts: 3,
                bytes: 300,
                ..Default::default()
            },
            DirCounters {
                pkts: 2,
                bytes: 120,
                ..Default::default()
            },
        ],
        state: FlowState::ClosedFin,
        reason,
        app_proto: Some(crate::kinds::AppProto::Dicom),
    }
}

fn alert(id: u64, observation: bool) -> AlertRecord {
    AlertRecord {
        alert_id: id,
        first_seen: 1_764_336_000_000_000,
        last_seen: 1_764_336_000_000_000,
        count: 1,
        rule: Rule::PolicyViolation,
        severity: Severity::High,
        message: "outside the allow-list: \"CT\" ]\n\x1b[31m".into(),
        detail: "initiates tcp/4444".into(),
        device: Party {
            mac: crate::net::Mac::parse("02:00:00:00:00:05"),
            ip: Some([10, 20, 1, 5].into()),
            class: Some("ct".into()),
            grade: Some(3),
            name: Some("CT-1".into()),
        },
        peer: Party {
            ip: Some([8, 8, 8, 8].into()),
            ..Party::default()
        },
        flow: Some(FlowTuple::test_tuple(7)),
        evidence: serde_json::Map::from_iter([("port".to_string(), Value::from(4444))]),
        observation,
    }
}

/// A sink writing to a file in a fresh directory.
fn file_sink(types: &[EveType]) -> (tempfile::TempDir, PathBuf, EveSink, Arc<SinkCounters>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    let counters = Arc::new(SinkCounters::default());
    let sink = EveSink::new(
        EveOptions {
            to: Destination::File(path.clone()),
            types: EveType::mask(types),
            sensor_name: "ward-3".into(),
            reopen: Arc::default(),
        },
        Arc::clone(&counters),
    );
    (dir, path, sink, counters)
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_flow_line_has_suricatas_header_and_flow_object() {
    let (_d, path, mut sink, counters) = file_sink(&EveType::ALL);
    sink.event(Event::Flow(flow(EndReason::Fin)));
    sink.finish();
    let l = lines(&path);
    assert_eq!(l.len(), 1);
    let f = &l[0];
    assert_eq!(f["timestamp"], "2025-11-28T13:20:00.000001+0000");
    assert_eq!(f["event_type"], "flow");
    assert_eq!(f["flow_id"], 7);
    assert_eq!(f["proto"], "TCP");
    assert_eq!(f["src_ip"], "10.20.1.5");
    assert_eq!(f["dest_port"], 104);
    assert_eq!(f["vlan"], serde_json::json!([20]));
    assert_eq!(f["app_proto"], "dicom");
    assert_eq!(f["host"], "ward-3");
    assert_eq!(f["ether"]["src_mac"], "02:00:00:00:00:05");
    assert!(f["community_id"].as_str().unwrap().starts_with("1:"));
    assert_eq!(f["flow"]["pkts_toserver"], 3);
    assert_eq!(f["flow"]["bytes_toclient"], 120);
    assert_eq!(f["flow"]["age"], 2);
    assert_eq!(f["flow"]["end"], "2025-11-28T13:20:02.500000+0000");
    assert_eq!(counters.snapshot(), [1, 0, 0]);
}

#[test]
fn interim_flows_and_unwanted_types_are_not_written() {
    let (_d, path, mut sink, counters) = file_sink(&[EveType::Alert]);
    sink.event(Event::Flow(flow(EndReason::Fin)));
    sink.finish();
    assert!(lines(&path).is_empty(), "flow not among the types");
    let (_d, path, mut sink, _) = file_sink(&EveType::ALL);
    sink.event(Event::Flow(flow(EndReason::Interim)));
    sink.finish();
    assert!(
        lines(&path).is_empty(),
        "an interim record is not a flow's end"
    );
    assert_eq!(counters.snapshot(), [0, 0, 0]);
}

#[test]
fn an_alert_is_written_once_with_its_facts_and_observations_are_not() {
    let (_d, path, mut sink, _) = file_sink(&EveType::ALL);
    sink.event(Event::Alert(Box::new(alert(1, false))));
    // Rewritten under the same id (its evidence grew): not again.
    sink.event(Event::Alert(Box::new(alert(1, false))));
    sink.event(Event::Alert(Box::new(alert(2, true))));
    sink.finish();
    let l = lines(&path);
    assert_eq!(l.len(), 1, "{l:?}");
    let a = &l[0]["alert"];
    assert_eq!(a["signature_id"], Rule::PolicyViolation.signature_id());
    assert_eq!(a["severity"], 1);
    assert_eq!(a["action"], "allowed");
    let m = &a["metadata"];
    assert_eq!(m["rule"], serde_json::json!(["POLICY_VIOLATION"]));
    assert_eq!(m["clause"], serde_json::json!(["A.3 b)"]));
    assert_eq!(m["device_class"], serde_json::json!(["ct"]));
    assert_eq!(m["device_grade"], serde_json::json!(["3"]));
    assert_eq!(m["peer_ip"], serde_json::json!(["8.8.8.8"]));
    assert_eq!(m["evidence_port"], serde_json::json!(["4444"]));
    // The hostile message survives exactly, escaped by JSON.
    assert_eq!(
        m["message"][0].as_str().unwrap(),
        "outside the allow-list: \"CT\" ]\n\x1b[31m"
    );
    let raw = std::fs::read_to_string(&path).unwrap();
    assert_eq!(raw.matches('\n').count(), 1, "one line: {raw:?}");
    assert!(!raw.contains('\x1b'));
}

#[test]
fn sighup_reopens_the_file_logrotate_moved() {
    let (dir, path, mut sink, counters) = file_sink(&EveType::ALL);
    let reopen = Arc::clone(&sink.opts.reopen);
    sink.event(Event::Alert(Box::new(alert(1, false))));
    let rotated = dir.path().join("eve.json.1");
    std::fs::rename(&path, &rotated).unwrap();
    reopen.store(true, Ordering::Release);
    sink.event(Event::Alert(Box::new(alert(2, false))));
    sink.finish();
    assert_eq!(lines(&rotated).len(), 1);
    assert_eq!(lines(&path).len(), 1, "a new file after the reopen");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o007, 0, "not world-readable: {mode:o}");
    assert_eq!(counters.snapshot(), [2, 0, 0]);
}

#[test]
fn a_socket_nobody_listens_on_counts_failures_then_delivers_when_a_reader_comes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.sock");
    let counters = Arc::new(SinkCounters::default());
    let mut sink = EveSink::new(
        EveOptions {
            to: Destination::Unix(path.clone()),
            types: EveType::mask(&EveType::ALL),
            sensor_name: "s".into(),
            reopen: Arc::default(),
        },
        Arc::clone(&counters),
    );
    sink.event(Event::Alert(Box::new(alert(1, false))));
    assert_eq!(counters.snapshot(), [0, 0, 1], "no reader: failed");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::sleep(BACKOFF.0 + Duration::from_millis(50));
    sink.event(Event::Alert(Box::new(alert(2, false))));
    assert_eq!(
        counters.snapshot(),
        [1, 0, 1],
        "reconnected after the backoff"
    );
    let (mut conn, _) = listener.accept().unwrap();
    drop(sink);
    let mut got = String::new();
    std::io::Read::read_to_string(&mut conn, &mut got).unwrap();
    let v: Value = serde_json::from_str(got.trim_end()).unwrap();
    assert_eq!(v["alert"]["metadata"]["medtap_alert_id"][0], "2");
}

#[test]
fn destinations_parse_and_empty_ones_are_refused() {
    assert_eq!(
        "unix:/run/fever.sock".parse::<Destination>(),
        Ok(Destination::Unix("/run/fever.sock".into()))
    );
    assert_eq!(
        "/var/log/medtap/eve.json".parse::<Destination>(),
        Ok(Destination::File("/var/log/medtap/eve.json".into()))
    );
    assert!("unix:".parse::<Destination>().is_err());
    assert!("".parse::<Destination>().is_err());
    assert_eq!(EveType::from_name("dicom"), Some(EveType::Dicom));
    assert_eq!(EveType::from_name("http"), None);
}
