//! The Prometheus endpoint as its consumers see it: `promtool check
//! metrics` on what `GET /metrics` serves, and a real Prometheus scraping
//! it while statistics rows arrive through the sink.

use crate::common::prometheus::{self as prom, Prometheus};
use medtap::event::Event;
use medtap::kinds::{Anomaly, SinkKind};
use medtap::output::metrics::{self, MetricsOptions, MetricsServer, WriterProbe};
use medtap::output::{spawn_sink, Delivery, SinkCounters, SinkSpec, SinkThread};
use medtap::stats::StatsRecord;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The endpoint on a free loopback port, its sink running as the sensor
/// runs it (its own thread, best effort), and what it was handed.
struct Endpoint {
    server: MetricsServer,
    spec: SinkSpec,
    thread: SinkThread,
    counters: Arc<SinkCounters>,
    handed: u64,
}

impl Endpoint {
    fn start(sensor_name: &str) -> Endpoint {
        let eve = Arc::new(SinkCounters::default());
        eve.add_sent(3);
        let opts = MetricsOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            sensor_name: sensor_name.into(),
            assets: Vec::new(),
        };
        let writer = WriterProbe {
            queue: Box::new(|| 0),
            counters: None,
        };
        let (sink, server) = metrics::start(opts, vec![(SinkKind::Eve, eve)], writer).unwrap();
        let counters = sink.counters();
        let (spec, thread) = spawn_sink("metrics", 1024, Delivery::BestEffort, sink).unwrap();
        let spec = spec.counted(SinkKind::Metrics, Arc::clone(&counters));
        Endpoint {
            server,
            spec,
            thread,
            counters,
            handed: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Hands `e` to the sink and waits (bounded) until it has counted it.
    fn feed(&mut self, e: Event) {
        self.spec.tx.send(e).unwrap();
        self.handed += 1;
        let start = Instant::now();
        while self.counters.sent.load(Ordering::Relaxed) < self.handed {
            assert!(start.elapsed() < Duration::from_secs(10), "sink stuck");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn stop(self) {
        drop(self.spec);
        assert_eq!(self.thread.finish(Duration::from_secs(10)), 0);
        self.server.stop();
    }
}

fn stats(packets: u64) -> Event {
    let mut s = StatsRecord {
        source: "eth1".into(),
        packets,
        bytes: packets * 100,
        flows_created: 1,
        ..StatsRecord::default()
    };
    s.anomalies[Anomaly::DicomLostSync as usize] = 1;
    s.decode_errors[0] = 1;
    Event::Stats(Box::new(s))
}

#[test]
fn promtool_finds_the_exposition_clean() {
    const TEST: &str = "metrics::promtool_finds_the_exposition_clean";
    if !prom::require(TEST) {
        return;
    }
    // A sensor name with characters the format must escape.
    let mut ep = Endpoint::start("ward \"3\" east\nbed\\4");
    ep.feed(stats(10));
    let a = prom::get(ep.addr(), "/metrics").unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(a.body.contains("\nmedtap_packets_total 10\n"), "{}", a.body);
    let out = prom::promtool_check(&a.body);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {:?}\n{said}\n--- exposition:\n{}",
        out.status,
        a.body
    );

    // Only /metrics, only GET and HEAD.
    assert_eq!(prom::get(ep.addr(), "/").unwrap().status, 404);
    assert_eq!(
        prom::request(ep.addr(), "POST", "/metrics").unwrap().status,
        405
    );
    let head = prom::request(ep.addr(), "HEAD", "/metrics").unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    ep.stop();
}

#[test]
fn a_real_prometheus_scrapes_the_endpoint_and_sees_packets_rise() {
    const TEST: &str = "metrics::a_real_prometheus_scrapes_the_endpoint_and_sees_packets_rise";
    if !prom::require(TEST) {
        return;
    }
    let mut ep = Endpoint::start("ward-3");
    let p = Prometheus::start(&[ep.addr()]);
    let limit = Duration::from_secs(60);
    p.wait_for("up == 1", limit, || {
        p.value("up{job=\"medtap\"}") == Some(1.0)
    });

    ep.feed(stats(100));
    p.wait_for("packets reach 100", limit, || {
        p.value("medtap_packets_total") == Some(100.0)
    });
    let first = p.value("medtap_packets_total").unwrap();
    // The next period's row: the counter goes on from there.
    ep.feed(stats(50));
    p.wait_for("packets rise to 150", limit, || {
        p.value("medtap_packets_total") == Some(150.0)
    });
    let second = p.value("medtap_packets_total").unwrap();
    assert!(second > first, "{first} then {second}");

    // The series Prometheus took in carry their labels.
    let info = p.query("medtap_sensor_info").unwrap();
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].labels["sensor"], "ward-3");
    assert_eq!(
        p.value("medtap_anomalies_total{kind=\"dicom.lost_sync\"}"),
        Some(2.0)
    );
    assert_eq!(
        p.value("medtap_sink_events_sent_total{sink=\"eve\"}"),
        Some(3.0)
    );
    drop(p);
    ep.stop();
}
