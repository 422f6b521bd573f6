//! Schema migrations and the writer/query round trip.

use super::*;
use crate::device::{DeviceIpRecord, DeviceRecord, IpSource};
use crate::flow::{DirCounters, EndReason, FlowRecord, FlowState};
use crate::net::Mac;
use crate::record::{channel, Backpressure, Record, StatsRecord};
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

fn write(path: &std::path::Path, records: Vec<Record>) {
    let (mut tx, rx) = channel(16, Backpressure::Wait(std::time::Duration::from_secs(5)));
    let w = spawn_writer(path, rx, 2).unwrap();
    for r in records {
        tx.send(r);
    }
    drop(tx);
    let c = w.join();
    assert_eq!(c.failed.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn writer_round_trip_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    write(
        &db,
        vec![
            Record::Flow(flow(1, 1_000, "10.0.0.1", "10.0.0.2")),
            Record::Flow(flow(2, 9_000, "10.0.0.3", "fd00::2")),
            Record::Stats(Box::new(StatsRecord {
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
    let st = query::status(&conn, 0).unwrap();
    assert_eq!((st.flows, st.packets, st.stats_rows), (2, 10, 1));
}

#[test]
fn device_upserts_keep_the_earliest_first_and_latest_last_seen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let mac = Mac([2, 0, 0, 0, 0, 9]);
    let ip = "10.1.1.1".parse().unwrap();
    let dev = |first, last| {
        Record::Device(DeviceRecord {
            mac,
            first_seen: first,
            last_seen: last,
        })
    };
    let bind = |first, last| {
        Record::DeviceIp(DeviceIpRecord {
            mac,
            ip,
            first_seen: first,
            last_seen: last,
            source: IpSource::Arp,
        })
    };
    write(&db, vec![dev(100, 100), bind(100, 100)]);
    write(&db, vec![dev(50, 70), dev(100, 900), bind(100, 800)]);
    let conn = open_read(&db).unwrap();
    let d = query::devices(&conn).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].mac, "02:00:00:00:00:09");
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
            if start >= 1 {
                conn.execute("INSERT INTO devices VALUES ('02:00:00:00:00:01', 1, 2)", [])
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
