//! Schema migrations and the writer/query round trip.

use super::*;
use crate::device::{DeviceIpRecord, DeviceKey, DeviceRecord, IpSource};
use crate::event::{channel, Backpressure, Event};
use crate::flow::{DirCounters, EndReason, FlowRecord, FlowState};
use crate::net::Mac;
use crate::stats::StatsRecord;
use query::{DeviceSel, FlowFilter};

fn flow(id: u64, start: i64, src: &str, dst: &str) -> FlowRecord {
    FlowRecord {
        flow_id: id,
        start,
        end: start + 5,
        proto: 6,
        src_ip: src.parse().unwrap(),
        src_port: 40000,
        dest_ip: dst.parse().unwrap(),
        dest_port: 104,
        icmp: None,
        vlan: Some(12),
        src_mac: Some(Mac([2, 0, 0, 0, 0, 1])),
        dest_mac: None,
        dirs: [
            DirCounters {
                pkts: 3,
                bytes: 300,
                payload_bytes: 100,
                tcp_flags: 0x12,
            },
            DirCounters {
                pkts: 2,
                bytes: 200,
                payload_bytes: 0,
                tcp_flags: 0x10,
            },
        ],
        state: FlowState::Established,
        reason: EndReason::Timeout,
        app_proto: None,
    }
}

fn write(path: &std::path::Path, records: Vec<Event>) {
    let (mut tx, rx) = channel(16, Backpressure::Wait(std::time::Duration::from_secs(5)));
    let info = SessionInfo {
        command: "test".into(),
        source: "unit".into(),
    };
    let w = Store::open_writer(path, &info)
        .unwrap()
        .spawn_writer(rx, 2, super::writer::ALERT_COMMIT_WITHIN)
        .unwrap();
    for r in records {
        tx.send(r);
    }
    drop(tx);
    let totals = w.finish("end of test");
    assert_eq!(totals.failed, 0);
    assert!(totals.accounted);
}

#[test]
fn writer_round_trip_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    write(
        &db,
        vec![
            Event::Flow(flow(1, 1_000, "10.0.0.1", "10.0.0.2")),
            Event::Flow(flow(2, 9_000, "10.0.0.3", "fd00::2")),
            Event::Stats(Box::new(StatsRecord {
                source: "a.pcap".into(),
                packets: 10,
                ..Default::default()
            })),
        ],
    );
    let conn = open_read(&db).unwrap();
    assert_eq!(query::max_flow_id(&conn).unwrap(), 2);
    let all = query::flows(&conn, &FlowFilter::default()).unwrap();
    assert_eq!(all.len(), 2);
    let f = &all[0];
    assert_eq!(
        (f.flow_id, f.proto.as_str(), f.src_ip.as_str(), f.dest_port),
        (1, "tcp", "10.0.0.1", 104)
    );
    assert_eq!(
        (
            f.pkts_toserver,
            f.pkts_toclient,
            f.bytes_toserver,
            f.bytes_toclient
        ),
        (3, 2, 300, 200)
    );
    assert_eq!(
        (f.state.as_str(), f.reason.as_str(), f.vlan),
        ("established", "timeout", Some(12))
    );
    assert_eq!(f.start, "1970-01-01T00:00:00.001000Z");
    assert_eq!(f.src_mac.as_deref(), Some("02:00:00:00:00:01"));
    assert!(f.community_id.as_deref().unwrap().starts_with("1:"));
    let by_ip = FlowFilter {
        device: DeviceSel::parse("fd00::2"),
        ..Default::default()
    };
    assert_eq!(
        query::flows(&conn, &by_ip)
            .unwrap()
            .iter()
            .map(|f| f.flow_id)
            .collect::<Vec<_>>(),
        [2]
    );
    let since = FlowFilter {
        since: Some(5_000),
        ..Default::default()
    };
    assert_eq!(query::flows(&conn, &since).unwrap().len(), 1);
    let until = FlowFilter {
        until: Some(5_000),
        ..Default::default()
    };
    assert_eq!(query::flows(&conn, &until).unwrap()[0].flow_id, 1);
    let udp = FlowFilter {
        proto: Some(17),
        ..Default::default()
    };
    assert!(query::flows(&conn, &udp).unwrap().is_empty());
    let limited = FlowFilter {
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(query::flows(&conn, &limited).unwrap().len(), 1);
    let st = query::status(&conn, 0, false).unwrap();
    assert_eq!((st.flows, st.packets, st.stats_rows), (2, 10, 1));
}

#[test]
fn device_upserts_keep_the_earliest_first_and_latest_last_seen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let mac = Mac([2, 0, 0, 0, 0, 9]);
    let ip = "10.1.1.1".parse().unwrap();
    let dev = |first, last| {
        Event::Device(DeviceRecord {
            key: DeviceKey::Mac(mac),
            first_seen: first,
            last_seen: last,
            vendor: None,
            locally_administered: true,
            role: None,
        })
    };
    let bind = |first, last| {
        Event::DeviceIp(DeviceIpRecord {
            device: DeviceKey::Mac(mac),
            ip,
            first_seen: first,
            last_seen: last,
            source: IpSource::Arp,
        })
    };
    write(&db, vec![dev(100, 100), bind(100, 100)]);
    write(&db, vec![dev(50, 70), dev(100, 900), bind(100, 800)]);
    let conn = open_read(&db).unwrap();
    let d = query::devices(&conn, &Default::default()).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].mac.as_deref(), Some("02:00:00:00:00:09"));
    assert!(d[0].locally_administered && d[0].vendor.is_none());
    assert_eq!(d[0].ips, ["10.1.1.1"]);
    assert_eq!(d[0].first_seen, crate::time::rfc3339(50));
    assert_eq!(d[0].last_seen, crate::time::rfc3339(900));
}

#[test]
fn every_schema_version_migrates_to_the_latest_keeping_data() {
    for start in 0..=MIGRATIONS.len() as u32 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v.db");
        {
            let conn = rusqlite::Connection::open(&db).unwrap();
            migrate(&conn, &db, start).unwrap();
            assert_eq!(schema_version(&conn).unwrap(), start);
            if (1..6).contains(&start) {
                conn.execute("INSERT INTO devices VALUES ('02:00:00:00:00:01', 1, 2)", [])
                    .unwrap();
            } else if start >= 6 {
                conn.execute(
                    "INSERT INTO devices (device, mac, first_seen_us, last_seen_us)
                     VALUES ('02:00:00:00:00:01', '02:00:00:00:00:01', 1, 2)",
                    [],
                )
                .unwrap();
            }
        }
        let conn = open(&db).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), MIGRATIONS.len() as u32);
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM devices", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            n,
            i64::from(start >= 1),
            "data written at v{start} survives"
        );
    }
}

#[test]
fn a_database_from_a_newer_medtap_is_refused_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let err = open(&db).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade medtap"));
    assert!(matches!(
        open_read(&db).unwrap_err(),
        StoreError::TooNew { .. }
    ));
}

/// A writer on `db` whose inserts into `flows` all fail (a trigger aborts
/// them), like a disk that refuses data but not the small accounting rows.
fn failing_flows_writer(db: &std::path::Path) -> (crate::event::EventSender, Writer) {
    let info = SessionInfo {
        command: "test".into(),
        source: "unit".into(),
    };
    let store = Store::open_writer(db, &info).unwrap();
    rusqlite::Connection::open(db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_flows BEFORE INSERT ON flows
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
        )
        .unwrap();
    let (tx, rx) = channel(64, Backpressure::Wait(std::time::Duration::from_secs(5)));
    (
        tx,
        store
            .spawn_writer(rx, 3, super::writer::ALERT_COMMIT_WITHIN)
            .unwrap(),
    )
}

/// Regression: a statistics row read the failure count before its own
/// batch's failures were added, so the last batch's failures were never
/// recorded (572,818 records failed on a full disk, `status` showed 0).
#[test]
fn records_not_written_after_the_last_statistics_row_are_still_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let (mut tx, w) = failing_flows_writer(&db);
    for i in 0..10 {
        tx.send(Event::Flow(flow(i + 1, 1_000, "10.0.0.1", "10.0.0.2")));
    }
    tx.send(Event::Stats(Box::new(StatsRecord {
        source: "unit".into(),
        packets: 7,
        ..Default::default()
    })));
    // Failures in the same batch as the stats row, and after it.
    for i in 10..15 {
        tx.send(Event::Flow(flow(i + 1, 1_000, "10.0.0.1", "10.0.0.2")));
    }
    drop(tx);
    let totals = w.finish("end of test");
    assert_eq!(totals.failed, 15);
    assert!(totals.accounted);
    let conn = open_read(&db).unwrap();
    let st = query::status(&conn, 0, false).unwrap();
    assert_eq!(st.records_failed, 15, "every failure reaches the database");
    assert_eq!(st.records_lost, 15);
    assert_eq!(st.packets, 7);
    assert_eq!(st.flows, 0);
    let s = st.last_session.unwrap();
    assert_eq!((s.records_failed, s.state), (15, "stopped"));
    assert_eq!(s.end_reason.as_deref(), Some("end of test"));
}

#[test]
fn statistics_rows_that_fail_are_kept_and_written_later() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (mut tx, w) = failing_flows_writer(&db);
    let side = rusqlite::Connection::open(&db).unwrap();
    side.execute_batch(
        "CREATE TRIGGER refuse_stats BEFORE INSERT ON capture_stats
         BEGIN SELECT RAISE(ABORT, 'stats refused by test'); END;",
    )
    .unwrap();
    tx.send(Event::Flow(flow(1, 1_000, "10.0.0.1", "10.0.0.2")));
    tx.send(Event::Stats(Box::new(StatsRecord {
        source: "unit".into(),
        packets: 3,
        ..Default::default()
    })));
    // Let the writer try (and fail) before the statistics are allowed in.
    std::thread::sleep(std::time::Duration::from_millis(300));
    side.execute_batch("DROP TRIGGER refuse_stats").unwrap();
    drop(tx);
    let totals = w.finish("end of test");
    assert!(totals.accounted);
    let st = query::status(&open_read(&db).unwrap(), 0, false).unwrap();
    assert_eq!((st.packets, st.records_failed), (3, 1));
}

#[test]
fn migrations_run_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // A table the last migration creates, made in the way: it fails, and
    // nothing of the earlier migrations may be left behind.
    conn.execute_batch("CREATE TABLE sessions (x)").unwrap();
    let err = migrate(&conn, &db, MIGRATIONS.len() as u32).unwrap_err();
    assert!(matches!(err, StoreError::Migrate { .. }), "{err}");
    assert_eq!(schema_version(&conn).unwrap(), 0);
    let flows: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'flows'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(flows, 0, "no half-built schema");
}

/// Regression: a reader opening the database while it was being created
/// saw "no such column"; now it waits for the schema, or says what is wrong.
#[test]
fn readers_wait_for_a_schema_or_say_why_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    rusqlite::Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let started = std::time::Instant::now();
    let err = open_read(&empty).unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_secs(4));
    assert!(err.to_string().contains("still being created"), "{err}");

    let old = dir.path().join("old.db");
    let conn = rusqlite::Connection::open(&old).unwrap();
    migrate(&conn, &old, 2).unwrap();
    let err = open_read(&old).unwrap_err();
    assert!(err.to_string().contains("older medtap"), "{err}");

    // A schema that appears while the reader waits is taken.
    let late = dir.path().join("late.db");
    let conn = rusqlite::Connection::open(&late).unwrap();
    conn.execute_batch("CREATE TABLE t (x)").unwrap();
    let late2 = late.clone();
    let migrator = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        drop(open(&late2).unwrap());
    });
    assert!(open_read(&late).is_ok());
    migrator.join().unwrap();
}

#[test]
fn interim_flow_records_are_replaced_by_the_final_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.db");
    let mut interim = flow(1, 1_000, "10.0.0.1", "10.0.0.2");
    interim.reason = EndReason::Interim;
    let mut last = interim;
    last.reason = EndReason::Fin;
    last.state = FlowState::ClosedFin;
    last.end = 9_000;
    last.dirs[0].pkts = 30;
    write(&db, vec![Event::Flow(interim)]);
    let conn = open_read(&db).unwrap();
    let rows = query::flows(&conn, &FlowFilter::default()).unwrap();
    assert_eq!(rows[0].reason, "interim");
    write(&db, vec![Event::Flow(last)]);
    let rows = query::flows(&conn, &FlowFilter::default()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].reason.as_str(), rows[0].pkts_toserver),
        ("fin", 30)
    );
}

/// Issue 9: the statistics insert and sums are built from the counter
/// table; per-kind counters keep their total and their by-name JSON column.
#[test]
fn per_kind_and_nested_counters_reach_their_columns_and_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let mut s = StatsRecord {
        source: "k.pcap".into(),
        flows_evicted: 5,
        ..Default::default()
    };
    s.decode_errors[1] = 4;
    s.anomalies[0] = 2;
    s.reassembly.gaps = 3;
    s.reassembly.gap_bytes = 1200;
    write(&db, vec![Event::Stats(Box::new(s))]);
    let conn = open_read(&db).unwrap();
    let (errors, by_kind, anomalies, by_name, gap_bytes): (i64, String, i64, String, i64) = conn
        .query_row(
            "SELECT decode_errors, decode_errors_by_kind, anomalies, anomalies_by_name,
                    reasm_gap_bytes FROM capture_stats",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    let first_anomaly = crate::proto::Anomaly::ALL[0].name();
    assert_eq!((errors, by_kind.as_str()), (4, r#"{"link_invalid":4}"#));
    assert_eq!(
        (anomalies, by_name),
        (2, format!(r#"{{"{first_anomaly}":2}}"#))
    );
    assert_eq!(gap_bytes, 1200);
    let st = query::status(&conn, 0, false).unwrap();
    assert_eq!(
        (st.flows_evicted, st.reasm_gaps, st.reasm_gap_bytes),
        (5, 3, 1200)
    );
    assert_eq!(st.decode_errors_by_kind.get("link_invalid"), Some(&4));
    assert_eq!(st.anomalies_by_name.get(first_anomaly), Some(&2));
    let json = serde_json::to_string(&st).unwrap();
    assert!(
        json.contains(r#""decode_errors":4,"decode_errors_by_kind":{"link_invalid":4},"not_ip":0"#),
        "{json}"
    );
}
