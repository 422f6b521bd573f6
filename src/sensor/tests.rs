//! The sensor with more than one sink: a stalled sink costs nobody else.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use super::files::read_files;
use super::{Mode, Sensor, SensorOptions};
use crate::config::Config;
use crate::event::Event;
use crate::output::{spawn_sink, Delivery, Sink, SinkSpec};
use crate::store::{SessionInfo, Store};
use crossbeam_channel::Receiver;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Takes one event, then blocks until released: a sink that is stuck
/// (a full disk, a dead syslog server).
struct Stalled {
    release: Receiver<()>,
    seen: u64,
}

impl Sink for Stalled {
    fn event(&mut self, _: Event) {
        self.seen += 1;
        if self.seen == 1 {
            let _ = self.release.recv();
        }
    }
}

fn sample() -> Vec<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    ["samples/sample.pcap", "tests/data/dicom/store_large.pcap"]
        .iter()
        .map(|f| format!("{dir}/{f}"))
        .collect()
}

#[test]
fn a_stalled_sink_does_not_slow_capture_or_the_writer_and_its_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let info = SessionInfo {
        command: "test".into(),
        source: "sample".into(),
    };
    let store = Store::open_writer(&db, &info).unwrap();
    let first = store.next_flow_id().unwrap();
    let (store_tx, store_rx) = crossbeam_channel::bounded(1 << 16);
    let writer = store
        .spawn_writer(store_rx, 500, crate::store::ALERT_COMMIT_WITHIN)
        .unwrap();
    let (release_tx, release) = crossbeam_channel::bounded(1);
    let stalled = Stalled { release, seen: 0 };
    let (stalled_spec, stalled_thread) =
        spawn_sink("stalled", 4, Delivery::BestEffort, stalled).unwrap();
    let sinks = vec![
        stalled_spec,
        SinkSpec::new("store", store_tx, Delivery::Authority),
    ];
    let opts = SensorOptions::from_config(&Config::default(), Mode::Files, first);
    let mut sensor = Sensor::new(&opts, sinks).unwrap();

    // Capture, the fan-out and the writer all finish while the sink is
    // still stuck on its first event: had it held anything up, this
    // would never return.
    let report = read_files(&mut sensor, &sample(), &AtomicBool::new(false));
    assert_eq!(report.incomplete, 0);
    assert!(report.packets > 2000, "{report:?}");
    let totals = sensor.finish("end of input");
    let written = writer.finish("end of input");
    let left_behind = stalled_thread.finish(Duration::from_millis(200));

    let store_totals = totals.sinks.iter().find(|s| s.name == "store").unwrap();
    let stalled_totals = totals.sinks.iter().find(|s| s.name == "stalled").unwrap();
    eprintln!("{totals:?}; writer {written:?}; left behind {left_behind}");
    // The writer got every event and stored every row.
    assert_eq!(totals.lost_for("store"), 0);
    assert_eq!(written.failed, 0);
    assert!(written.accounted);
    assert!(totals.counters.flows.created > 10);
    // The stalled sink was offered the same events; what its queue had no
    // room for is counted as its own loss, and it is left behind at shutdown.
    assert_eq!(
        stalled_totals.delivered + stalled_totals.dropped,
        store_totals.delivered
    );
    assert!(stalled_totals.dropped > 0);
    // One event in its hands, four waiting in its queue.
    assert_eq!(stalled_totals.delivered, 5);
    assert_eq!(left_behind, 4);
    release_tx.send(()).unwrap();
}

#[test]
fn a_lone_database_sink_is_fed_directly_and_its_totals_match_what_it_got() {
    let (tx, rx) = crossbeam_channel::bounded(1 << 16);
    let drain = std::thread::spawn(move || rx.iter().count() as u64);
    let opts = SensorOptions::from_config(&Config::default(), Mode::Files, 1);
    let sinks = vec![SinkSpec::new("store", tx, Delivery::Authority)];
    let mut sensor = Sensor::new(&opts, sinks).unwrap();
    let report = read_files(&mut sensor, &sample(), &AtomicBool::new(false));
    assert_eq!(report.incomplete, 0);
    let totals = sensor.finish("end of input");
    let received = drain.join().unwrap();
    assert!(received > 10);
    assert_eq!(totals.sinks.len(), 1);
    assert_eq!(
        (
            totals.sinks[0].name,
            totals.sinks[0].delivered,
            totals.lost_for("store")
        ),
        ("store", received, 0)
    );
}
