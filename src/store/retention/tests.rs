//! Retention on real SQLite databases (temporary files): what goes, what
//! stays, the marks, the cap, the vacuum and the conversion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::store::{open, SessionInfo, Store};

/// 2026-01-01T00:00:00Z: a clock well before the wall clock of any test run
/// would be wrong, and one after it would be ignored (see CLOCK_SLACK).
const T0: Micros = 1_767_225_600 * SECOND;

fn db() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let conn = open(&path).unwrap();
    (dir, path, conn)
}

fn flow(conn: &Connection, id: i64, start: Micros) {
    conn.execute(
        "INSERT INTO flows (flow_id, start_us, end_us, proto, src_ip, src_port, dest_ip,
            dest_port, pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient,
            payload_bytes_toserver, payload_bytes_toclient, tcp_flags_toserver,
            tcp_flags_toclient, state, reason)
         VALUES (?1, ?2, ?2 + 1000, 6, '10.0.0.1', 40000, '10.0.0.2', 104, 1, 1, 60, 60, 0, 0,
            2, 18, 'established', 'timeout')",
        params![id, start],
    )
    .unwrap();
}

/// One row in each application table of flow `id`, at `ts`.
fn app_records(conn: &Connection, id: i64, ts: Micros) {
    conn.execute_batch(&format!(
        "INSERT INTO dicom_associations (flow_id, calling_ae, called_ae, result, roles, contexts,
            pdus, data_bytes) VALUES ({id}, 'MOD', 'PACS', 'accepted', '[]', '[]', 3, 0);
         INSERT INTO dicom_operations (flow_id, command, sop_class_uid, count, bytes, statuses)
            VALUES ({id}, 'C-ECHO', '1.2.840.10008.1.1', 1, 0, '{{}}');
         INSERT INTO hl7_messages (flow_id, ts_us, to_server, segments, other_segments, bytes,
            framing) VALUES ({id}, {ts}, 1, '{{}}', 0, 100, 'mllp');
         INSERT INTO mqtt_sessions (flow_id, username_present, password_present,
            user_properties, packets_toserver, packets_toclient, pings, auth_packets,
            topics_dropped, unsubscribed) VALUES ({id}, 0, 0, 0, 1, 1, 0, 0, 0, '[]');
         INSERT INTO mqtt_publishes (flow_id, to_server, topic, qos, retain, count, bytes, dup)
            VALUES ({id}, 1, 'ward/3/bed/7', 0, 0, 1, 10, 0);
         INSERT INTO mqtt_subscriptions (flow_id, filter, qos) VALUES ({id}, 'ward/#', 0);
         INSERT INTO dhcp_messages (ts_us, flow_id, version, xid) VALUES ({ts}, {id}, 4, 1);
         INSERT INTO anomalies (ts_us, flow_id, name) VALUES ({ts}, {id}, 'dicom.bad_pdu');"
    ))
    .unwrap();
}

fn alert(conn: &Connection, id: i64, last_seen: Micros) {
    conn.execute(
        "INSERT INTO alerts (alert_id, first_seen_us, last_seen_us, count, rule, severity,
            clause, message, detail, evidence, observation)
         VALUES (?1, ?2 - 1000, ?2, 1, 'new_peer', 'medium', 'A.3', 'm', 'd', '{}', 0)",
        params![id, last_seen],
    )
    .unwrap();
}

fn device_event(conn: &Connection, ts: Micros) {
    conn.execute(
        "INSERT INTO device_events (ts_us, device, kind, evidence) VALUES (?1, 'aa', 'new', 'x')",
        [ts],
    )
    .unwrap();
}

fn stats_row(conn: &Connection, end: Micros, session: Option<i64>) {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)
        .unwrap();
    let s = crate::stats::StatsRecord {
        source: "x".into(),
        period_start: end - 1,
        period_end: end,
        ..Default::default()
    };
    crate::store::rows::stats::insert(&tx, &s, session).unwrap();
    tx.commit().unwrap();
}

fn ids(conn: &Connection, sql: &str) -> Vec<i64> {
    let mut st = conn.prepare(sql).unwrap();
    let rows = st.query_map([], |r| r.get(0)).unwrap();
    rows.map(|r| r.unwrap()).collect()
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn mark(conn: &Connection, table: &str) -> Option<(i64, i64)> {
    conn.query_row(
        "SELECT pruned_through, pruned_rows FROM retention_marks WHERE tbl = ?1",
        [table],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .unwrap()
}

fn policy(days: u32, alert_days: u32, mib: u64) -> Policy {
    Policy {
        retention_days: days,
        alert_retention_days: alert_days,
        max_db_mib: mib,
    }
}

/// Retention on `conn` with the clock at `now` (a record seen then).
fn retention(conn: &Connection, p: Policy, now: Micros) -> Retention {
    let mut r = Retention::new(p, conn).unwrap();
    r.saw_time(now);
    r
}

#[test]
fn old_flows_go_young_stay_and_the_mark_never_passes_a_young_flow() {
    let (_d, _p, mut conn) = db();
    // Ids 1-5 old, 6 young, 7 old again (an older capture imported after
    // a newer one), 8-10 young.
    for id in 1..=10 {
        let start = match id {
            1..=5 | 7 => T0 + id * SECOND,
            _ => T0 + 5 * DAY + id * SECOND,
        };
        flow(&conn, id, start);
    }
    let mut r = retention(&conn, policy(2, 0, 0), T0 + 6 * DAY);
    let pruned = r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(pruned[PrunedTable::Flows as usize], 5);
    // Flow 7 is old but above young flow 6: the mark stops at 5, and
    // nothing above it is deleted.
    assert_eq!(
        ids(&conn, "SELECT flow_id FROM flows ORDER BY 1"),
        [6, 7, 8, 9, 10]
    );
    assert_eq!(mark(&conn, "flows"), Some((5, 5)));
    // Once 6 is old too, the mark passes 6 and 7 in order and stops at 8.
    r.saw_time(T0 + 7 * DAY + 7 * SECOND);
    r.next = Instant::now();
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(
        ids(&conn, "SELECT flow_id FROM flows ORDER BY 1"),
        [8, 9, 10]
    );
    assert_eq!(mark(&conn, "flows"), Some((7, 7)));
    assert!(r.has_unrecorded());
    assert_eq!(r.unrecorded()[PrunedTable::Flows as usize], 7);
}

#[test]
fn application_records_go_with_their_flow_and_dhcp_and_anomalies_by_time() {
    let (_d, _p, mut conn) = db();
    for id in 1..=6 {
        let start = T0 + id * DAY;
        flow(&conn, id, start);
        app_records(&conn, id, start + SECOND);
    }
    // Retention 2 days, clock at day 6: flows 1-3 (start before day 4) go.
    let mut r = retention(&conn, policy(2, 0, 0), T0 + 6 * DAY);
    let pruned = r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(
        ids(&conn, "SELECT flow_id FROM flows ORDER BY 1"),
        [4, 5, 6]
    );
    for t in BY_FLOW {
        assert_eq!(
            ids(
                &conn,
                &format!("SELECT flow_id FROM {} ORDER BY 1", t.name())
            ),
            [4, 5, 6],
            "{}",
            t.name()
        );
        assert_eq!(pruned[t as usize], 3, "{}", t.name());
        assert_eq!(mark(&conn, t.name()), Some((3, 3)), "{}", t.name());
    }
    for (t, _) in FLOW_TIMED {
        assert_eq!(
            ids(
                &conn,
                &format!("SELECT flow_id FROM {} ORDER BY 1", t.name())
            ),
            [4, 5, 6],
            "{}",
            t.name()
        );
        // Marked with the newest time deleted.
        assert_eq!(mark(&conn, t.name()), Some((T0 + 3 * DAY + SECOND, 3)));
    }
    // Devices are the inventory: never pruned (none here, and no mark).
    assert_eq!(mark(&conn, "devices"), None);
}

#[test]
fn alerts_and_device_history_outlive_flows_and_the_session_keeps_its_statistics() {
    let (_d, _p, mut conn) = db();
    for day in 0..10 {
        let t = T0 + day * DAY;
        flow(&conn, day + 1, t);
        alert(&conn, day + 1, t);
        device_event(&conn, t);
        stats_row(&conn, t, Some(1));
    }
    // The writing session (2) has an old statistics row of its own (its
    // first file was old): it stays.
    stats_row(&conn, T0, Some(2));
    let mut r = retention(&conn, policy(2, 5, 0), T0 + 9 * DAY);
    let pruned = r.catch_up(&mut conn, 2, FINISH_BUDGET);
    // Flows from day 7 (9 - 2) on; alerts and history from day 4 (9 - 5).
    assert_eq!(
        ids(&conn, "SELECT flow_id FROM flows ORDER BY 1"),
        [8, 9, 10]
    );
    assert_eq!(
        ids(&conn, "SELECT alert_id FROM alerts ORDER BY 1"),
        [5, 6, 7, 8, 9, 10]
    );
    assert_eq!(mark(&conn, "alerts"), Some((4, 4)));
    assert_eq!(count(&conn, "device_events"), 6);
    assert_eq!(
        ids(
            &conn,
            "SELECT session_id FROM capture_stats ORDER BY period_end_us"
        ),
        [2, 1, 1, 1, 1, 1, 1]
    );
    assert_eq!(pruned[PrunedTable::Alerts as usize], 4);
    assert_eq!(pruned[PrunedTable::DeviceEvents as usize], 4);
    assert_eq!(pruned[PrunedTable::CaptureStats as usize], 4);
    // Alerts of days 4-6 outlive their flows, as configured.
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM alerts WHERE last_seen_us < (SELECT MIN(start_us) FROM flows)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 3);
}

#[test]
fn rows_written_again_below_the_mark_go_when_old_and_stay_when_young() {
    let (_d, _p, mut conn) = db();
    for id in 1..=4 {
        flow(&conn, id, T0 + id * SECOND);
        alert(&conn, id, T0 + id * SECOND);
    }
    flow(&conn, 5, T0 + 5 * DAY);
    alert(&conn, 5, T0 + 5 * DAY);
    let mut r = retention(&conn, policy(2, 2, 0), T0 + 5 * DAY);
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(mark(&conn, "flows"), Some((4, 4)));
    // A long flow's final record rewrites its pruned interim record (old
    // start); an alert folded again after it was pruned (young).
    flow(&conn, 2, T0 + 2 * SECOND);
    alert(&conn, 3, T0 + 5 * DAY);
    r.next = Instant::now();
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(ids(&conn, "SELECT flow_id FROM flows ORDER BY 1"), [5]);
    assert_eq!(mark(&conn, "flows"), Some((4, 5)));
    assert_eq!(ids(&conn, "SELECT alert_id FROM alerts ORDER BY 1"), [3, 5]);
    assert_eq!(mark(&conn, "alerts"), Some((4, 4)));
}

#[test]
fn a_round_is_bounded_and_steps_catch_up_in_id_order() {
    let (_d, _p, mut conn) = db();
    let tx = conn.transaction().unwrap();
    for id in 1..=5_000 {
        flow(&tx, id, T0 + id);
    }
    tx.commit().unwrap();
    let r = retention(&conn, policy(1, 0, 0), T0 + 3 * DAY);
    let plan = Plan {
        deadline: Instant::now() + Duration::from_secs(60),
        ..r.plan(0, Instant::now())
    };
    let first = round(&mut conn, &plan).unwrap();
    assert_eq!(first.pruned[PrunedTable::Flows as usize], 2_000);
    assert!(first.more);
    assert_eq!(mark(&conn, "flows"), Some((2_000, 2_000)));
    assert_eq!(
        ids(&conn, "SELECT MIN(flow_id) FROM flows"),
        [2_001],
        "oldest first"
    );
    let mut r = r;
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(count(&conn, "flows"), 0);
    assert_eq!(mark(&conn, "flows"), Some((5_000, 5_000)));
}

#[test]
fn the_clock_is_the_newest_record_not_the_wall_clock() {
    let (_d, _p, mut conn) = db();
    // A 2019 capture, imported years later: 180 days' retention keeps it.
    let t2019 = 1_546_300_800 * SECOND;
    for id in 1..=3 {
        flow(&conn, id, t2019 + id * DAY);
    }
    let mut r = Retention::new(policy(180, 730, 0), &conn).unwrap();
    assert_eq!(
        r.newest(),
        t2019 + 3 * DAY,
        "the clock starts at the stored flows"
    );
    // A bogus timestamp from the future is not believed.
    r.saw_time(crate::time::now() + 30 * DAY);
    assert_eq!(r.newest(), t2019 + 3 * DAY);
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(count(&conn, "flows"), 3);
    // Its own clock ages it: 180 days after the second flow, the first
    // two go.
    r.saw_time(t2019 + 182 * DAY + SECOND);
    r.next = Instant::now();
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(ids(&conn, "SELECT flow_id FROM flows ORDER BY 1"), [3]);
}

/// Fills `conn` with `n` young flows (ids from `first`), each with its
/// application records, in one transaction.
fn fill(conn: &mut Connection, first: i64, n: i64) {
    let tx = conn.transaction().unwrap();
    for id in first..first + n {
        flow(&tx, id, T0 + id * SECOND);
        app_records(&tx, id, T0 + id * SECOND);
    }
    tx.commit().unwrap();
}

#[test]
fn over_the_cap_the_oldest_flows_go_first_then_alerts() {
    let (_d, _p, mut conn) = db();
    for id in 1..=50 {
        alert(&conn, id, T0 + id * SECOND);
    }
    fill(&mut conn, 1, 8_000);
    let used = used_bytes(&conn).unwrap();
    assert!(
        used > 3 << 20,
        "{used} bytes: the test needs more than 3 MiB"
    );
    // Nothing is old (retention 180 days); the 2 MiB cap alone prunes.
    let mut r = retention(&conn, policy(180, 730, 2), T0 + 8_000 * SECOND);
    let pruned = r.catch_up(&mut conn, 0, FINISH_BUDGET);
    let used = used_bytes(&conn).unwrap();
    assert!(used <= 2 << 20, "{used} bytes, cap 2 MiB");
    let kept = ids(&conn, "SELECT flow_id FROM flows ORDER BY 1");
    assert!(!kept.is_empty());
    // The oldest went, the newest stayed, in id order.
    assert_eq!(*kept.last().unwrap(), 8_000);
    assert_eq!(kept.len() as i64, 8_000 - kept[0] + 1);
    assert_eq!(mark(&conn, "flows").unwrap().0, kept[0] - 1);
    assert_eq!(
        ids(&conn, "SELECT MIN(flow_id) FROM hl7_messages"),
        [kept[0]]
    );
    // Flows alone could do it: every alert is still there.
    assert_eq!(count(&conn, "alerts"), 50);
    assert_eq!(pruned[PrunedTable::Alerts as usize], 0);

    // Alerts alone over a cap: the oldest alerts go, in id order.
    let (_d2, _p2, mut conn) = db();
    let tx = conn.transaction().unwrap();
    for id in 1..=15_000 {
        alert(&tx, id, T0 + id * SECOND);
    }
    tx.commit().unwrap();
    assert!(used_bytes(&conn).unwrap() > 1 << 20);
    let mut r = retention(&conn, policy(180, 730, 1), T0 + 15_000 * SECOND);
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert!(used_bytes(&conn).unwrap() <= 1 << 20);
    let kept = ids(&conn, "SELECT alert_id FROM alerts ORDER BY 1");
    assert_eq!(*kept.last().unwrap(), 15_000);
    assert_eq!(kept.len() as i64, 15_000 - kept[0] + 1);
    assert_eq!(mark(&conn, "alerts").unwrap().0, kept[0] - 1);
}

fn checkpoint(conn: &Connection) {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

fn file_pages(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len() / 4096
}

#[test]
fn incremental_vacuum_shrinks_the_file() {
    let (_d, path, mut conn) = db();
    fill(&mut conn, 1, 4_000);
    checkpoint(&conn);
    let before = file_pages(&path);
    let mut r = retention(&conn, policy(1, 0, 0), T0 + 30 * DAY);
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(count(&conn, "flows"), 0);
    checkpoint(&conn);
    let after = file_pages(&path);
    let (_, free, _) = pages(&conn).unwrap();
    assert!(
        after * 4 < before,
        "file {before} pages before, {after} after pruning"
    );
    assert!(free <= FREE_RESERVE_PAGES, "{free} free pages left");
}

#[test]
fn a_new_database_gets_incremental_auto_vacuum() {
    let (_d, _p, conn) = db();
    assert_eq!(auto_vacuum(&conn).unwrap(), 2);
    assert_eq!(status(&conn).unwrap().auto_vacuum, "incremental");
}

#[test]
fn a_database_without_auto_vacuum_is_converted_once_when_a_writer_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // As an older medtap made it: WAL, no auto-vacuum, some rows.
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        crate::store::migrate(&conn, &path, crate::store::MIGRATIONS.len() as u32).unwrap();
        assert_eq!(auto_vacuum(&conn).unwrap(), 0);
        for id in 1..=100 {
            flow(&conn, id, T0 + id);
        }
    }
    let conn = open(&path).unwrap();
    assert_eq!(auto_vacuum(&conn).unwrap(), 2);
    assert_eq!(count(&conn, "flows"), 100);
    // Its deletes now shrink the file.
    let mut conn = conn;
    let mut r = retention(&conn, policy(1, 0, 0), T0 + 30 * DAY);
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    assert_eq!(count(&conn, "flows"), 0);
    drop(conn);
    // Opened again: already incremental, nothing to do.
    let conn = open(&path).unwrap();
    assert_eq!(auto_vacuum(&conn).unwrap(), 2);
}

#[test]
fn status_shows_settings_oldest_rows_and_pruned_counts() {
    let (_d, _p, mut conn) = db();
    assert_eq!(status(&conn).unwrap().retention_days, None);
    for id in 1..=4 {
        flow(&conn, id, T0 + id * DAY);
        alert(&conn, id, T0 + id * DAY);
    }
    let p = policy(2, 3, 100);
    p.record(&conn).unwrap();
    let mut r = retention(&conn, p, T0 + 4 * DAY);
    r.catch_up(&mut conn, 0, FINISH_BUDGET);
    let s = status(&conn).unwrap();
    assert_eq!(
        (s.retention_days, s.alert_retention_days, s.max_db_mib),
        (Some(2), Some(3), Some(100))
    );
    assert_eq!(s.oldest_flow, Some(rfc3339(T0 + 2 * DAY)));
    assert_eq!(s.oldest_alert, Some(rfc3339(T0 + DAY - 1000)));
    assert_eq!(s.pruned_rows, 1);
    assert_eq!(s.pruned_by_table.get("flows"), Some(&1));
    assert!(s.last_pruned.is_some());
    assert!(s.used_bytes > 0);
}

fn flow_event(id: u64, start: Micros) -> Event {
    Event::Flow(crate::flow::FlowRecord {
        flow_id: id,
        start,
        end: start + SECOND,
        proto: 17,
        src_ip: "10.0.0.1".parse().unwrap(),
        src_port: 5000,
        dest_ip: "10.0.0.2".parse().unwrap(),
        dest_port: 2575,
        icmp: None,
        vlan: None,
        src_mac: None,
        dest_mac: None,
        dirs: Default::default(),
        state: crate::flow::FlowState::Established,
        reason: crate::flow::EndReason::Timeout,
        app_proto: None,
    })
}

/// One writer session on `path` with retention `policy(2, 0, 0)`: the
/// flows `days` (id = day + 1), then a statistics row; returns the rows
/// it pruned.
fn session_of_days(path: &std::path::Path, days: std::ops::Range<i64>) -> u64 {
    use crate::event::{channel, Backpressure};
    let info = SessionInfo {
        command: "test".into(),
        source: "unit".into(),
    };
    let mut store = Store::open_writer(path, &info).unwrap();
    store.set_retention(policy(2, 0, 0)).unwrap();
    let (mut tx, rx) = channel(64, Backpressure::Wait(Duration::from_secs(5)));
    let w = store
        .spawn_writer(rx, 10, crate::store::ALERT_COMMIT_WITHIN)
        .unwrap();
    let counters = w.counters();
    for day in days.clone() {
        tx.send(flow_event(day as u64 + 1, T0 + day * DAY));
    }
    tx.send(Event::Stats(Box::new(crate::stats::StatsRecord {
        source: "days.pcap".into(),
        period_start: T0 + days.start * DAY,
        period_end: T0 + (days.end - 1) * DAY,
        ..Default::default()
    })));
    drop(tx);
    let totals = w.finish("end of test");
    assert_eq!(totals.failed, 0);
    assert!(totals.accounted);
    counters.pruned[PrunedTable::Flows as usize].load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn the_writer_prunes_by_its_records_clock_and_counts_it_in_a_statistics_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    // Ten days of flows, one a day, in one session: by age, a session
    // never prunes what it wrote itself (an imported capture is not cut
    // by its own newest packet).
    assert_eq!(session_of_days(&path, 0..10), 0);
    let conn = crate::store::open_read(&path).unwrap();
    assert_eq!(ids(&conn, "SELECT flow_id FROM flows ORDER BY 1").len(), 10);
    drop(conn);
    // The next session's day 10: the clock is its flow's end (day 10 +
    // 1 s), and the flows of earlier sessions that started before day
    // 8 + 1 s go.
    assert_eq!(session_of_days(&path, 10..11), 9);
    let conn = crate::store::open_read(&path).unwrap();
    assert_eq!(ids(&conn, "SELECT flow_id FROM flows ORDER BY 1"), [10, 11]);
    let (sum, by_table): (i64, String) = conn
        .query_row(
            "SELECT SUM(pruned_rows), GROUP_CONCAT(pruned_by_table, ' ') FROM capture_stats
             WHERE pruned_rows > 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(sum, 9);
    assert_eq!(by_table, r#"{"flows":9}"#);
    let s = crate::store::query::status(&conn, 0, false).unwrap();
    assert_eq!(s.pruned_rows, 9);
    assert_eq!(s.retention.pruned_rows, 9);
    assert_eq!(s.retention.retention_days, Some(2));
}
