//! Anomalies that need the whole sensor's view, on real dcmtk traffic:
//! a C-MOVE to an AE title never seen before, and bursts of associations
//! or queries from one client.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use medtap::capture::Frame;
use medtap::config::Config;
use medtap::decode::LinkType;
use medtap::event::Event;
use medtap::output::{Delivery, SinkSpec};
use medtap::proto::Anomaly;
use medtap::sensor::{Mode, Sensor, SensorOptions};
use medtap::time::SECOND;

fn replay(files: &[(&str, i64)]) -> (Vec<Anomaly>, [u64; Anomaly::COUNT]) {
    let (tx, rx) = crossbeam_channel::bounded(1 << 16);
    let drain = std::thread::spawn(move || {
        rx.iter()
            .filter_map(|r| match r {
                Event::Anomaly(a) => Some(a.anomaly),
                _ => None,
            })
            .collect::<Vec<_>>()
    });
    let mut opts = SensorOptions::from_config(&Config::default(), Mode::Files, 1);
    opts.pipeline.max_flows = 1024;
    opts.pipeline.max_devices = 64;
    opts.pipeline.reassembly_bytes = 64 << 20;
    let sink = SinkSpec::new("test", tx, Delivery::Authority);
    let mut p = Sensor::new(&opts, vec![sink]).unwrap();
    for (file, shift) in files {
        for (ts, len, data) in
            common::read_frames(&common::root().join("tests/data/dicom").join(file)).1
        {
            p.process(
                LinkType::Ethernet,
                &Frame {
                    ts: ts + shift,
                    wire_len: len,
                    data: &data,
                },
            );
        }
    }
    let counts = p.finish("test").counters.app.anomalies;
    (drain.join().unwrap(), counts)
}

#[test]
fn c_move_to_an_ae_never_seen_before_is_flagged_once_known_it_is_not() {
    let (seen, _) = replay(&[("move.pcap", 0)]);
    assert!(seen.contains(&Anomaly::DicomMoveToUnknownAe), "{seen:?}");
    // The sub-association made MEDTAP_DEST known: the same move later is fine.
    let (seen, counts) = replay(&[("move.pcap", 0), ("move.pcap", 3600 * SECOND)]);
    assert_eq!(
        counts[Anomaly::DicomMoveToUnknownAe as usize],
        1,
        "{seen:?}"
    );
}

#[test]
fn many_associations_from_one_client_in_a_minute_are_a_burst() {
    // 31 C-ECHO associations 1 s apart from the same client: one burst.
    let echoes: Vec<(&str, i64)> = (0..31).map(|i| ("echo.pcap", i * SECOND)).collect();
    let (_, counts) = replay(&echoes);
    assert_eq!(counts[Anomaly::DicomAssociationBurst as usize], 1);
    // 30 within the minute is not.
    let (_, counts) = replay(&echoes[..30]);
    assert_eq!(counts[Anomaly::DicomAssociationBurst as usize], 0);
    // Spread over 31 minutes: not a burst either.
    let slow: Vec<(&str, i64)> = (0..31).map(|i| ("echo.pcap", i * 61 * SECOND)).collect();
    assert_eq!(replay(&slow).1[Anomaly::DicomAssociationBurst as usize], 0);
}

#[test]
fn many_queries_from_one_client_in_a_minute_are_a_burst() {
    // Each find.pcap association carries one C-FIND: 101 in a minute.
    let finds: Vec<(&str, i64)> = (0..101).map(|i| ("find.pcap", i * SECOND / 2)).collect();
    let (_, counts) = replay(&finds);
    assert_eq!(counts[Anomaly::DicomQueryBurst as usize], 1);
    assert_eq!(
        replay(&finds[..100]).1[Anomaly::DicomQueryBurst as usize],
        0
    );
}
