//! The engine on hand-made flows and facts: learning, folding, credential
//! reuse, the remote-access audit trail.

use super::*;
use crate::alert::AlertOut;
use crate::device::assets::AssetList;
use crate::device::classes::Classes;
use crate::net::{Cidr, Mac};
use crate::policy::rules::{compile, Context, BUILTIN, BUILTIN_FILE};

const CT: &str = "02:00:00:00:01:21";
const PACS: &str = "02:00:00:00:02:10";

fn policy() -> Arc<Policy> {
    let assets = AssetList::parse(
        &format!(
            "[[device]]\nmac = \"{CT}\"\nip = \"10.20.1.21\"\nname = \"CT-1\"\nclass = \"ct_scanner\"\n\
             [[device]]\nmac = \"{PACS}\"\nip = \"10.20.2.10\"\nclass = \"pacs\"\n"
        ),
        "a.toml",
    )
    .unwrap();
    let p = compile(
        &[(BUILTIN_FILE.into(), BUILTIN.into())],
        &Context {
            classes: Classes::builtin(),
            assets: Some(&assets),
            internal: vec![Cidr::parse("10.20.0.0/16").unwrap()],
            now: 0,
        },
    )
    .unwrap();
    Arc::new(p)
}

fn engine(learning: Learning) -> Engine {
    Engine::new(
        EngineOptions {
            policy: policy(),
            learning,
            ..EngineOptions::default()
        },
        16,
    )
}

fn end(mac: &str, ip: &str, class: Option<&'static str>, grade: Option<u8>) -> End<'static> {
    End {
        mac: Mac::parse(mac),
        ip: Some(ip.parse().unwrap()),
        class,
        grade,
        medical: grade.is_some(),
    }
}

/// The MQTT broker of the ward.
fn broker() -> End<'static> {
    end("02:00:00:00:02:14", "10.20.2.14", Some("mqtt_broker"), None)
}

/// A grade-2 patient monitor publishing to [`broker`].
fn monitor() -> End<'static> {
    end(
        "02:00:00:00:03:51",
        "10.20.3.51",
        Some("patient_monitor"),
        Some(2),
    )
}

fn ct() -> End<'static> {
    end(CT, "10.20.1.21", Some("ct_scanner"), Some(3))
}

fn flow<'a>(slot: u32, client: End<'a>, server: End<'a>, port: u16, ts: Micros) -> FlowCtx<'a> {
    FlowCtx {
        slot,
        flow_id: u64::from(slot) + 1,
        proto: 6,
        client: (client.ip.unwrap(), 40000 + slot as u16),
        server: (server.ip.unwrap(), port),
        ends: [client, server],
        ts,
    }
}

/// The records handed on (counts alone are left out).
fn records(out: &[AlertOut]) -> Vec<&AlertRecord> {
    out.iter()
        .filter_map(|o| match o {
            AlertOut::Record(r) => Some(&**r),
            AlertOut::Seen(_) => None,
        })
        .collect()
}

#[test]
fn learning_observes_and_enforcement_starts_by_itself() {
    let rogue = end("02:00:00:00:01:66", "10.20.1.66", None, None);
    let mut e = engine(Learning::For(60 * SECOND));
    let mut out = Vec::new();
    e.flow_started(&flow(0, ct(), rogue, 104, 0), &mut |a| out.push(a));
    e.flow_started(&flow(1, ct(), rogue, 104, 61 * SECOND), &mut |a| {
        out.push(a)
    });
    e.finish(&mut |a| out.push(a));
    let mut r = records(&out);
    r.sort_by_key(|a| a.alert_id);
    assert_eq!(r.len(), 2, "{r:#?}");
    assert!(r[0].observation && !r[1].observation);
    assert_ne!(
        r[0].alert_id, r[1].alert_id,
        "an observation never folds into an alert"
    );
    assert_eq!(r[1].severity, Severity::High);
    assert_eq!(e.counters().observations, 1);
}

#[test]
fn cleartext_is_one_finding_per_pair_whatever_the_flows() {
    let pacs = end(PACS, "10.20.2.10", Some("pacs"), None);
    let mut e = engine(Learning::Off);
    let mut out = Vec::new();
    for slot in 0..5 {
        let cx = flow(slot, ct(), pacs, 104, i64::from(slot) * SECOND);
        e.flow_started(&cx, &mut |a| out.push(a));
        e.app_recognised(&cx, AppProto::Dicom, &mut |a| out.push(a));
        let store = Fact::DicomRequest {
            command: "C-STORE",
            called: "PACS",
        };
        e.fact(&cx, store, &mut |a| out.push(a));
    }
    e.finish(&mut |a| out.push(a));
    let r = records(&out);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].rule, Rule::CleartextMedicalData);
    assert_eq!(r[0].severity, Severity::Info);
    let last = out.last().map(|o| match o {
        AlertOut::Seen(s) => s.count,
        AlertOut::Record(r) => r.count,
    });
    assert_eq!(last, Some(5));
}

#[test]
fn cleartext_credentials_and_messages_of_a_pair_are_one_finding_counting_flows() {
    let (broker, mon) = (broker(), monitor());
    let mut e = engine(Learning::Off);
    let mut out = Vec::new();
    for slot in 0..3 {
        let cx = flow(slot, mon, broker, 1883, i64::from(slot) * SECOND);
        e.app_recognised(&cx, AppProto::Mqtt, &mut |a| out.push(a));
        let connect = Fact::MqttConnect {
            client_id: "mon",
            username: Some(7),
            password: true,
            accepted: true,
        };
        e.fact(&cx, connect, &mut |a| out.push(a));
        for _ in 0..2 {
            e.fact(&cx, Fact::MqttPublish("ward/3/hr"), &mut |a| out.push(a));
        }
    }
    e.finish(&mut |a| out.push(a));
    let r: Vec<_> = records(&out)
        .into_iter()
        .filter(|r| r.rule == Rule::CleartextMedicalData)
        .collect();
    assert!(r.iter().all(|a| a.alert_id == r[0].alert_id), "{r:#?}");
    let last = r.last().unwrap();
    assert_eq!(last.detail, "mqtt");
    assert_eq!(last.evidence["credentials"], true);
    assert_eq!(last.evidence["data"], true);
    let count = out.iter().rev().find_map(|o| match o {
        AlertOut::Seen(s) if s.alert_id == last.alert_id => Some(s.count),
        AlertOut::Record(r) if r.alert_id == last.alert_id => Some(r.count),
        _ => None,
    });
    assert_eq!(count, Some(3), "one occurrence per flow");
}

#[test]
fn credentials_count_as_reused_only_when_the_broker_accepts_them() {
    let (broker, mon) = (broker(), monitor());
    let laptop = end("02:00:00:00:04:77", "10.20.4.77", None, None);
    let mut e = engine(Learning::Off);
    let mut out = Vec::new();
    let connect = |accepted| Fact::MqttConnect {
        client_id: "c",
        username: Some(42),
        password: true,
        accepted,
    };
    let anomalies = |out: &[AlertOut]| {
        records(out)
            .into_iter()
            .filter(|r| r.rule == Rule::ProtocolAnomaly)
            .count()
    };
    e.fact(&flow(0, mon, broker, 1883, 0), connect(true), &mut |a| {
        out.push(a)
    });
    e.fact(
        &flow(1, laptop, broker, 1883, 1),
        connect(false),
        &mut |a| out.push(a),
    );
    // New alerts are written FIRST_WRITE_AFTER after they open.
    e.flush(SECOND, &mut |a| out.push(a));
    assert_eq!(anomalies(&out), 0, "a refused login reuses nothing");
    e.fact(&flow(2, mon, broker, 1883, 2), connect(true), &mut |a| {
        out.push(a)
    });
    e.flush(SECOND, &mut |a| out.push(a));
    assert_eq!(anomalies(&out), 0, "the same device again");
    e.fact(&flow(3, laptop, broker, 1883, 3), connect(true), &mut |a| {
        out.push(a)
    });
    e.flush(SECOND, &mut |a| out.push(a));
    let reuse: Vec<_> = records(&out)
        .into_iter()
        .filter(|r| r.rule == Rule::ProtocolAnomaly)
        .collect();
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0].evidence["first_used_by"], "02:00:00:00:03:51");
    assert_eq!(reuse[0].severity, Severity::High);
}

#[test]
fn remote_session_audit_trail_is_written_at_its_end() {
    let pump = end(
        "02:00:00:00:03:41",
        "10.20.3.41",
        Some("infusion_pump"),
        Some(3),
    );
    let vendor = end("02:00:00:00:09:05", "10.20.9.5", None, None);
    let mut e = engine(Learning::Off);
    let mut out = Vec::new();
    let cx = flow(0, vendor, pump, 2222, 0);
    e.flow_started(&cx, &mut |a| out.push(a));
    e.app_recognised(&cx, AppProto::Ssh, &mut |a| out.push(a));
    let mut r = crate::flow::FlowRecord {
        flow_id: 1,
        start: 0,
        end: 90 * SECOND,
        proto: 6,
        src_ip: cx.client.0,
        src_port: cx.client.1,
        dest_ip: cx.server.0,
        dest_port: 2222,
        icmp: None,
        vlan: None,
        src_mac: vendor.mac,
        dest_mac: pump.mac,
        dirs: Default::default(),
        state: crate::flow::FlowState::ClosedFin,
        reason: crate::flow::EndReason::Fin,
        app_proto: Some(AppProto::Ssh),
    };
    r.dirs[0].bytes = 4000;
    r.dirs[1].bytes = 9000;
    e.flow_ended(&FlowCtx { ts: r.end, ..cx }, &r, &mut |a| out.push(a));
    e.finish(&mut |a| out.push(a));
    let ra: Vec<_> = records(&out)
        .into_iter()
        .filter(|r| r.rule == Rule::RemoteAccess)
        .collect();
    let last = ra.last().unwrap();
    assert_eq!(last.device.mac, pump.mac);
    assert_eq!(last.evidence["protocol"], "ssh");
    assert_eq!(last.evidence["last_session"]["duration_s"], 90.0);
    assert_eq!(last.evidence["last_session"]["bytes_toclient"], 9000);
    // Not on the pump's allow-list either, on a port that is not SSH's.
    assert!(records(&out)
        .iter()
        .any(|r| r.rule == Rule::PolicyViolation && r.detail == "accepts tcp/2222"));
}

fn scan_table(
    starts: impl Iterator<Item = Micros>,
) -> HashMap<IpAddr, ScanWindow, foldhash::fast::RandomState> {
    starts
        .enumerate()
        .map(|(i, start)| {
            let ip = IpAddr::from([10, 0, (i >> 8) as u8, i as u8]);
            let w = ScanWindow {
                start,
                hosts: Vec::new(),
                pairs: Vec::new(),
                raised: false,
            };
            (ip, w)
        })
        .collect()
}

#[test]
fn a_full_scan_table_drops_the_windows_that_are_over() {
    // Half the windows started more than a window ago.
    let half = MAX_SCAN_SOURCES / 2;
    let mut t = scan_table((0..MAX_SCAN_SOURCES).map(|i| if i < half { 0 } else { 100 * SECOND }));
    let now = 120 * SECOND;
    evict_scan_windows(&mut t, now, 60 * SECOND);
    assert_eq!(t.len(), MAX_SCAN_SOURCES / 2);
    assert!(t.values().all(|w| now - w.start < 60 * SECOND));
}

#[test]
fn a_full_scan_table_of_live_windows_drops_its_oldest_eighth() {
    let mut t = scan_table((0..MAX_SCAN_SOURCES as i64).rev());
    evict_scan_windows(&mut t, MAX_SCAN_SOURCES as i64, 60 * SECOND);
    let n = MAX_SCAN_SOURCES / 8;
    assert_eq!(t.len(), MAX_SCAN_SOURCES - n);
    assert!(t.values().all(|w| w.start >= n as i64), "the oldest went");
}
