#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use super::http::Page;
use super::*;
use crate::alert::{AlertRecord, AlertSeen, Party, Rule};
use crate::device::classify::{ClassRecord, ClassSource, Classification};
use crate::device::grade::{
    Attributes, ContactForm, ContactLevel, NonContactForm, NonContactLevel,
};
use crate::device::{DeviceIpRecord, DeviceKey, DeviceRecord, IpSource};
use crate::flow::{EndReason, FlowRecord};
use crate::kinds::{Anomaly, Severity};
use crate::net::Mac;
use crate::stats::StatsRecord;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicUsize;

/// One sample line: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// The samples of an exposition (label values in the tests hold no `,`
/// or `"`).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            (name.to_string(), labels, value.parse().unwrap())
        })
        .collect()
}

/// The value of series `name{labels}` in `text`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples(text)
        .into_iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| v)
}

struct Fixture {
    sink: MetricsSink,
    page: Exposition,
    queue: Arc<AtomicUsize>,
    eve: Arc<SinkCounters>,
    writer: Arc<WriterCounters>,
}

fn fixture(assets: Vec<Asset>) -> Fixture {
    let queue = Arc::new(AtomicUsize::new(0));
    let q = Arc::clone(&queue);
    let eve = Arc::new(SinkCounters::default());
    let writer = Arc::new(WriterCounters::default());
    let opts = MetricsOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        sensor_name: "ward-3".into(),
        assets,
    };
    let (sink, page) = build(
        &opts,
        vec![(SinkKind::Eve, Arc::clone(&eve))],
        WriterProbe {
            queue: Box::new(move || q.load(Ordering::Relaxed)),
            counters: Some(Arc::clone(&writer)),
        },
    );
    Fixture {
        sink,
        page,
        queue,
        eve,
        writer,
    }
}

fn mac(n: u8) -> Mac {
    Mac([2, 0, 0, 0, 0, n])
}

fn device(n: u8) -> Event {
    Event::Device(DeviceRecord {
        key: DeviceKey::Mac(mac(n)),
        first_seen: 1,
        last_seen: 1,
        vendor: None,
        locally_administered: false,
        role: None,
    })
}

fn class(n: u8, class: &str, attributes: Option<Attributes>) -> Event {
    Event::DeviceClass(Box::new(ClassRecord {
        device: DeviceKey::Mac(mac(n)),
        ts: 2,
        class: Classification {
            class: class.into(),
            class_name: class.into(),
            class_name_zh: String::new(),
            medical: attributes.is_some(),
            confidence: 0.9,
            source: ClassSource::Fingerprint,
            runner_up: None,
            evidence: Vec::new(),
            grade: attributes.map(|a| a.grade().unwrap()),
            basis: None,
        },
    }))
}

fn alert(id: u64, rule: Rule, severity: Severity, observation: bool) -> Event {
    Event::Alert(Box::new(AlertRecord {
        alert_id: id,
        first_seen: 1,
        last_seen: 1,
        count: 1,
        rule,
        severity,
        message: "m".into(),
        detail: "d".into(),
        device: Party::default(),
        peer: Party::default(),
        flow: None,
        evidence: Default::default(),
        observation,
    }))
}

fn flow(reason: EndReason) -> Event {
    Event::Flow(FlowRecord::test_record(1, reason))
}

#[test]
fn statistics_deltas_add_up_in_their_counters() {
    let mut f = fixture(Vec::new());
    let mut a = StatsRecord {
        packets: 5,
        bytes: 600,
        kernel_drops: 2,
        if_drops: 1,
        flows_created: 3,
        records_dropped: 4,
        ..StatsRecord::default()
    };
    a.decode_errors[1] = 2;
    a.anomalies[Anomaly::MqttLostSync as usize] = 1;
    a.reassembly.gaps = 1;
    let mut b = StatsRecord {
        packets: 7,
        bytes: 900,
        ..StatsRecord::default()
    };
    b.decode_errors[1] = 3;
    b.anomalies[Anomaly::MqttLostSync as usize] = 2;
    f.sink.event(Event::Stats(Box::new(a)));
    f.sink.event(Event::Stats(Box::new(b)));
    let text = f.page.render();
    let v = |name, labels: &[(&str, &str)]| value(&text, name, labels);
    assert_eq!(v("medtap_packets_total", &[]), Some(12.0));
    assert_eq!(v("medtap_bytes_total", &[]), Some(1500.0));
    assert_eq!(v("medtap_kernel_dropped_packets_total", &[]), Some(2.0));
    assert_eq!(v("medtap_interface_dropped_packets_total", &[]), Some(1.0));
    assert_eq!(v("medtap_flows_created_total", &[]), Some(3.0));
    assert_eq!(v("medtap_records_dropped_total", &[]), Some(4.0));
    assert_eq!(v("medtap_tcp_gaps_total", &[]), Some(1.0));
    let kind = crate::decode::DecodeErrorKind::ALL[1].name();
    assert_eq!(
        v("medtap_decode_errors_total", &[("kind", kind)]),
        Some(5.0)
    );
    let other = crate::decode::DecodeErrorKind::ALL[0].name();
    assert_eq!(
        v("medtap_decode_errors_total", &[("kind", other)]),
        Some(0.0)
    );
    assert_eq!(
        v("medtap_anomalies_total", &[("kind", "mqtt.lost_sync")]),
        Some(3.0)
    );
    assert_eq!(
        v("medtap_records_total", &[("table", "capture_stats")]),
        Some(2.0)
    );
    assert_eq!(v("medtap_flows_active", &[]), Some(3.0));
    // Flows that end (not interim records of open ones) leave the gauge.
    f.sink.event(flow(EndReason::Interim));
    f.sink.event(flow(EndReason::Fin));
    let text = f.page.render();
    assert_eq!(value(&text, "medtap_flows_active", &[]), Some(2.0));
    assert_eq!(
        value(&text, "medtap_records_total", &[("table", "flows")]),
        Some(2.0)
    );
}

#[test]
fn an_alert_rewritten_under_its_id_counts_once() {
    let mut f = fixture(Vec::new());
    f.sink.event(alert(7, Rule::Scan, Severity::Medium, false));
    // Its evidence grew: written again under the same id.
    f.sink.event(alert(7, Rule::Scan, Severity::Medium, false));
    f.sink.event(Event::AlertSeen(AlertSeen {
        alert_id: 7,
        count: 5,
        last_seen: 9,
    }));
    f.sink.event(alert(8, Rule::Scan, Severity::Medium, false));
    f.sink.event(alert(9, Rule::Scan, Severity::High, false));
    // A learning-mode observation is not an alert.
    f.sink.event(alert(10, Rule::Scan, Severity::Medium, true));
    let text = f.page.render();
    let by = |s: Severity| {
        value(
            &text,
            "medtap_alerts_total",
            &[("rule", "SCAN"), ("severity", s.name())],
        )
    };
    assert_eq!(by(Severity::Medium), Some(2.0));
    assert_eq!(by(Severity::High), Some(1.0));
    assert_eq!(by(Severity::Low), Some(0.0));
    assert_eq!(
        value(&text, "medtap_records_total", &[("table", "alerts")]),
        Some(6.0)
    );
}

#[test]
fn devices_moving_class_move_between_gauges() {
    let registered = Asset {
        mac: Some(mac(2)),
        ..Asset::default()
    };
    let by_address = Asset {
        ip: Some("10.0.0.9".parse().unwrap()),
        ..Asset::default()
    };
    let mut f = fixture(vec![registered, by_address]);
    let implant = Attributes::Contact(ContactForm::Implant, ContactLevel::Slight);
    let lab = Attributes::NonContact(NonContactForm::LabInstrument, NonContactLevel::None);
    for n in 1..=3 {
        f.sink.event(device(n));
        // Seen again: still one device.
        f.sink.event(device(n));
    }
    let gauge = |text: &str, class: &str, grade: &str| {
        value(
            text,
            "medtap_devices",
            &[("class", class), ("grade", grade)],
        )
    };
    let text = f.page.render();
    assert_eq!(gauge(&text, "unknown", "none"), Some(3.0));
    assert_eq!(value(&text, "medtap_devices_unregistered", &[]), Some(2.0));

    f.sink
        .event(class(1, "pacemaker_programmer", Some(implant)));
    f.sink
        .event(class(3, "pacemaker_programmer", Some(implant)));
    let text = f.page.render();
    assert_eq!(gauge(&text, "unknown", "none"), Some(1.0));
    assert_eq!(gauge(&text, "pacemaker_programmer", "3"), Some(2.0));

    // Device 1 is reclassified: it leaves one label set for the other.
    f.sink.event(class(1, "analyzer", Some(lab)));
    f.sink.event(class(3, "workstation", None));
    let text = f.page.render();
    assert_eq!(gauge(&text, "pacemaker_programmer", "3"), Some(0.0));
    assert_eq!(gauge(&text, "analyzer", "1"), Some(1.0));
    assert_eq!(gauge(&text, "workstation", "none"), Some(1.0));
    assert_eq!(gauge(&text, "unknown", "none"), Some(1.0));
    let total: f64 = samples(&text)
        .iter()
        .filter(|(n, _, _)| n == "medtap_devices")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(total, 3.0, "every device in exactly one label set");

    // Device 3 uses an address the asset list registers.
    f.sink.event(Event::DeviceIp(DeviceIpRecord {
        device: DeviceKey::Mac(mac(3)),
        ip: "10.0.0.9".parse::<IpAddr>().unwrap(),
        first_seen: 3,
        last_seen: 3,
        source: IpSource::Dhcp,
    }));
    let text = f.page.render();
    assert_eq!(value(&text, "medtap_devices_unregistered", &[]), Some(1.0));

    // A reload registers device 1 and forgets device 2's entry.
    f.sink.event(Event::Assets(Box::new(vec![Asset {
        mac: Some(mac(1)),
        ..Asset::default()
    }])));
    let text = f.page.render();
    assert_eq!(value(&text, "medtap_devices_unregistered", &[]), Some(2.0));
    assert_eq!(f.sink.tally.devices().len(), 3);
}

#[test]
fn live_counters_are_read_at_each_scrape() {
    let f = fixture(Vec::new());
    f.eve.add_sent(10);
    f.eve.add_failed(2);
    f.eve.dropped.fetch_add(3, Ordering::Relaxed);
    f.queue.store(42, Ordering::Relaxed);
    f.writer.written.fetch_add(100, Ordering::Relaxed);
    f.writer.failed.fetch_add(1, Ordering::Relaxed);
    f.writer.pruned[crate::kinds::PrunedTable::Flows as usize].fetch_add(7, Ordering::Relaxed);
    let text = f.page.render();
    let v = |name, labels: &[(&str, &str)]| value(&text, name, labels);
    assert_eq!(
        v("medtap_sink_events_sent_total", &[("sink", "eve")]),
        Some(10.0)
    );
    assert_eq!(
        v("medtap_sink_events_dropped_total", &[("sink", "eve")]),
        Some(3.0)
    );
    assert_eq!(
        v("medtap_sink_events_failed_total", &[("sink", "eve")]),
        Some(2.0)
    );
    assert_eq!(v("medtap_writer_queue_events", &[]), Some(42.0));
    assert_eq!(v("medtap_records_written_total", &[]), Some(100.0));
    assert_eq!(v("medtap_records_not_written_total", &[]), Some(1.0));
    assert_eq!(
        v("medtap_db_pruned_rows_total", &[("table", "flows")]),
        Some(7.0)
    );
    assert_eq!(
        v("medtap_db_pruned_rows_total", &[("table", "alerts")]),
        Some(0.0)
    );
    assert_eq!(
        v(
            "medtap_sensor_info",
            &[("sensor", "ward-3"), ("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    // Syslog is not configured here: no series for it.
    assert_eq!(
        v("medtap_sink_events_sent_total", &[("sink", "syslog")]),
        None
    );
    // The metrics sink counts itself.
    let mut f = f;
    f.sink.event(flow(EndReason::Fin));
    let text = f.page.render();
    assert_eq!(
        value(
            &text,
            "medtap_sink_events_sent_total",
            &[("sink", "metrics")]
        ),
        Some(1.0)
    );
    f.queue.store(0, Ordering::Relaxed);
    assert_eq!(
        value(&f.page.render(), "medtap_writer_queue_events", &[]),
        Some(0.0)
    );
}

#[test]
fn every_metric_is_exposed_with_help_and_type_from_the_start() {
    let f = fixture(Vec::new());
    let text = f.page.render();
    assert_eq!(
        value(
            &text,
            "medtap_devices",
            &[("class", "unknown"), ("grade", "none")]
        ),
        Some(0.0)
    );
    for d in catalog::all() {
        let kind = match d.kind {
            catalog::Kind::Counter => "counter",
            catalog::Kind::Gauge => "gauge",
        };
        assert!(
            text.contains(&format!("# HELP {} {}\n", d.name, d.help)),
            "no HELP for {}:\n{text}",
            d.name
        );
        assert!(
            text.contains(&format!("# TYPE {} {kind}\n", d.name)),
            "no TYPE for {}",
            d.name
        );
        assert!(
            samples(&text).iter().any(|(n, _, _)| n == d.name),
            "no series of {}",
            d.name
        );
    }
    // And nothing undescribed.
    for (name, _, _) in samples(&text) {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
}
