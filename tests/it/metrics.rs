//! The Prometheus endpoint as its consumers see it: `promtool check
//! metrics` on what `GET /metrics` serves, and a real Prometheus scraping
//! it while statistics rows arrive through the sink; and end to end, a
//! real Prometheus scraping `medtap run` live on the lab's veth while
//! traffic crosses it (root, in network namespaces).

use crate::common;
use crate::common::lab::{wait_exit, Lab, IP_A};
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
    prom::assert_promtool_clean(&a.body);

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

/// The sensor's name in the end-to-end test's config.
const E2E_SENSOR: &str = "ward-3-e2e";

/// Issue 14's check through the daemon: `medtap run` live on the lab's
/// veth with `[outputs] metrics_listen`, scraped every second by Debian's
/// `prometheus` while ping crosses the link. Prometheus runs in medtap's
/// namespace and scrapes it on that namespace's loopback, so the scrapes
/// add nothing to what medtap captures on the veth: before the ping the
/// link is silent (IPv6 off in the lab) and the packet counter is 0.
///
/// Asserts, through Prometheus' query API: `up` is 1 while medtap runs
/// (and 0 once it has stopped: the target is that process);
/// `medtap_packets_total` is 0 before the traffic and rises strictly
/// between two queries while it flows; `medtap_sensor_info` carries the
/// configured `sensor_name` and medtap's version; flows were created and
/// records written. And `promtool check metrics` finds the exposition
/// `run` serves clean. `run` stops on SIGTERM with exit 0 (no record and
/// no output event lost).
#[test]
fn medtap_run_is_scraped_by_a_real_prometheus_and_its_packets_rise_during_a_replay() {
    const TEST: &str =
        "metrics::medtap_run_is_scraped_by_a_real_prometheus_and_its_packets_rise_during_a_replay";
    if !common::require_root(TEST)
        || !common::require_tools(TEST, &["ip", "ping", "curl", "kill"])
        || !prom::require(TEST)
    {
        return;
    }
    let started = Instant::now();
    let tag = format!("mtpm{}", std::process::id() % 10_000);
    let mut lab = Lab::new(&tag);
    let (ns_a, ns_b) = (lab.ns_a.clone(), lab.ns_b.clone());
    let dir = tempfile::tempdir().unwrap();
    // The documented example port, on ns_a's loopback: the namespace is
    // the test's own, nothing else listens there.
    let endpoint: SocketAddr = "127.0.0.1:9187".parse().unwrap();
    let cfg = dir.path().join("medtap.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nstats_interval_secs = 1\n[log]\nlevel = \"info\"\n\
             [outputs]\nsensor_name = \"{E2E_SENSOR}\"\nmetrics_listen = \"{endpoint}\"\n"
        ),
    )
    .unwrap();
    let db = dir.path().join("live.db");

    // The endpoint is bound before `run` says it is capturing.
    // No hospital rules: the machine's /etc/medtap must not matter.
    let (mt, mt_err) = lab.run_medtap(&cfg, &db, &["--assets=", "--rules="]);

    let p = Prometheus::start_in(&ns_a, &[endpoint]);
    let limit = Duration::from_secs(30);
    let up = "up{job=\"medtap\"}";
    let packets = "medtap_packets_total{job=\"medtap\"}";
    p.wait_for("up == 1", limit, || p.value(up) == Some(1.0));
    // Scraped at least once after a statistics row (every second): the
    // silent link's count.
    p.wait_for("medtap_records_written_total > 0", limit, || {
        p.value("medtap_records_written_total{job=\"medtap\"}")
            .is_some_and(|v| v > 0.0)
    });
    let before = p.value(packets);
    assert_eq!(before, Some(0.0), "packets before any traffic");

    // The replay: ping from ns_b, 20 a second, for at most 60 s (killed
    // below, or by the lab on failure).
    let ping = lab.spawn(&ns_b, &["ping", "-n", "-q", "-i", "0.05", "-w", "60", IP_A]);
    let mut first = 0.0;
    p.wait_for("packets counted", limit, || {
        first = p.value(packets).unwrap_or(0.0);
        first > 0.0
    });
    // A later query, some seconds on (several statistics periods and
    // scrapes), while the ping goes on.
    let first_at = Instant::now();
    let mut second = first;
    p.wait_for("packets rise", limit, || {
        second = p.value(packets).unwrap_or(0.0);
        first_at.elapsed() >= Duration::from_secs(3) && second > first
    });
    let apart = first_at.elapsed();
    assert!(
        lab.children[ping].try_wait().unwrap().is_none(),
        "the ping was still running"
    );
    eprintln!(
        "{TEST}: medtap_packets_total 0 before the ping, {first} then {second} \
         ({apart:?} apart) during it"
    );
    assert!(second > first, "{first} then {second}");

    let info = p
        .query(&format!("medtap_sensor_info{{sensor=\"{E2E_SENSOR}\"}}"))
        .unwrap();
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].value, 1.0, "{info:?}");
    assert_eq!(info[0].labels["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info[0].labels["job"], "medtap");
    assert_eq!(info[0].labels["instance"], endpoint.to_string());
    let flows = p.value("medtap_flows_created_total{job=\"medtap\"}");
    assert!(flows.is_some_and(|f| f > 0.0), "flows created: {flows:?}");
    let kernel = p.value("medtap_kernel_received_packets_total{job=\"medtap\"}");
    assert!(
        kernel.is_some_and(|k| k > 0.0),
        "kernel received: {kernel:?}"
    );
    let dropped = p.value("medtap_sink_events_dropped_total{job=\"medtap\",sink=\"metrics\"}");
    assert_eq!(dropped, Some(0.0), "the metrics sink dropped events");

    // The exposition `run` serves, fetched directly: promtool finds it clean.
    let a = prom::get_in(&ns_a, endpoint, "/metrics").unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    assert!(
        a.body.contains(&format!(
            "\nmedtap_sensor_info{{sensor=\"{E2E_SENSOR}\",version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        a.body
    );
    prom::assert_promtool_clean(&a.body);

    // The traffic ends; SIGTERM: `run` exits 0, and the target goes down.
    lab.children[ping].kill().unwrap();
    lab.children[ping].wait().unwrap();
    Lab::must(&["kill", "-TERM", &lab.children[mt].id().to_string()]);
    let status = wait_exit(&mut lab.children[mt], Duration::from_secs(15));
    let logs: Vec<String> = mt_err.try_iter().collect();
    assert!(status.success(), "medtap run exited {status}: {logs:#?}");
    p.wait_for("up == 0 after medtap stopped", limit, || {
        p.value(up) == Some(0.0)
    });
    drop(p);
    eprintln!("{TEST}: took {:?}", started.elapsed());
}
