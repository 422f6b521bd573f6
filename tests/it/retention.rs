//! Database retention over a long replay (issue 15, item 5): ten days of
//! real traffic, analyzed day after day into one database with
//! `retention_days = 2`, `alert_retention_days = 5` and `max_db_mib = 1`.
//! The database stays within its cap, the oldest rows go first, alerts
//! outlive flows as configured, every prune is counted, and no record is
//! dropped or left unwritten.
//!
//! A day is the bundled sample capture (real traffic, 12 flows) cut to 96
//! bytes a frame (`editcap -s`: the flows, not the payload, fill the
//! database) and repeated 256 times, 336 s apart (`editcap -t`, `mergecap`),
//! plus the policy test capture once (real hospital traffic that raises
//! alerts and holds DICOM, HL7 and MQTT sessions). Day `d` is day 0 shifted
//! by `d` days; day 0 is 20 days before the sample was made, so every
//! record time is in the past (the writer does not believe record times
//! more than a day past the wall clock).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use medtap::store::retention::FREE_RESERVE_PAGES;
use std::path::{Path, PathBuf};
use std::process::Command;

const DAY_S: i64 = 86_400;
const DAY_US: i64 = DAY_S * 1_000_000;
/// The sample is doubled this often: 2^8 = 256 copies a day.
const DOUBLINGS: u32 = 8;
/// Seconds between two copies (256 of them fill a day).
const SPACING_S: i64 = 336;
/// The cap, MiB.
const CAP_MIB: u64 = 1;
/// SQLite's default page size, which medtap keeps.
const PAGE: u64 = 4096;

fn tool(name: &str, args: &[&str]) {
    let out = Command::new(name).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// First packet time of `pcap`, in whole seconds.
fn first_second(pcap: &Path) -> i64 {
    common::read_frames(pcap).1[0].0.div_euclid(1_000_000)
}

/// Day 0 (see the module): returns its path.
fn make_day0(dir: &Path) -> PathBuf {
    let p = |name: &str| dir.join(name).display().to_string();
    let sample = common::sample_pcap();
    let policy = common::root().join("tests/data/policy/violations.pcap");
    let back = (-20 * DAY_S).to_string();
    tool(
        "editcap",
        &[
            "-s",
            "96",
            "-t",
            &back,
            &sample.display().to_string(),
            &p("c.pcap"),
        ],
    );
    let mut step = SPACING_S;
    for _ in 0..DOUBLINGS {
        tool(
            "editcap",
            &["-t", &step.to_string(), &p("c.pcap"), &p("c2.pcap")],
        );
        tool(
            "mergecap",
            &["-w", &p("c3.pcap"), &p("c.pcap"), &p("c2.pcap")],
        );
        std::fs::rename(dir.join("c3.pcap"), dir.join("c.pcap")).unwrap();
        step *= 2;
    }
    // The policy capture half an hour into the day.
    let shift = first_second(&sample) - first_second(&policy) + 1_800 - 20 * DAY_S;
    tool(
        "editcap",
        &[
            "-t",
            &shift.to_string(),
            &policy.display().to_string(),
            &p("v.pcap"),
        ],
    );
    tool(
        "mergecap",
        &["-w", &p("day0.pcap"), &p("c.pcap"), &p("v.pcap")],
    );
    for f in ["c.pcap", "c2.pcap", "v.pcap"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    dir.join("day0.pcap")
}

/// Day `d`: day 0 shifted by `d` days.
fn day(dir: &Path, day0: &Path, d: i64) -> PathBuf {
    let out = dir.join(format!("shifted{d}.pcap"));
    tool(
        "editcap",
        &[
            "-t",
            &(d * DAY_S).to_string(),
            &day0.display().to_string(),
            &out.display().to_string(),
        ],
    );
    out
}

fn analyze(cfg: &Path, db: &Path, files: &[PathBuf]) -> String {
    let out = common::run_success(
        common::medtap()
            .arg("analyze")
            .arg("--config")
            .arg(cfg)
            .args(files)
            .arg("--db")
            .arg(db),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stderr.contains("0 records dropped, 0 records not written"),
        "{stderr}"
    );
    stderr
}

fn sql(conn: &rusqlite::Connection, q: &str) -> i64 {
    conn.query_row(q, [], |r| r.get::<_, Option<i64>>(0))
        .unwrap()
        .unwrap_or(0)
}

fn file_bytes(db: &Path) -> u64 {
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(db.to_path_buf()) + size(db.with_extension("db-wal"))
}

/// The database is within its cap: the pages in use (what the cap
/// measures) are, and the file is within the cap plus the free pages the
/// writer keeps for its next inserts.
fn assert_within_cap(db: &Path, when: &str) -> serde_json::Value {
    let st = common::status_json(db);
    let r = &st["retention"];
    let used = r["used_bytes"].as_u64().unwrap();
    let cap = CAP_MIB << 20;
    assert!(used <= cap, "{when}: {used} bytes in use, cap {cap}: {r}");
    let slack = FREE_RESERVE_PAGES as u64 * PAGE;
    let file = file_bytes(db);
    assert!(
        file <= cap + slack,
        "{when}: file {file} bytes, cap {cap} + {slack} of free pages kept: {r}"
    );
    assert_eq!(st["records_dropped"], 0, "{when}");
    assert_eq!(st["records_failed"], 0, "{when}");
    st
}

#[test]
fn a_long_replay_stays_within_its_cap_oldest_first_and_alerts_outlive_flows() {
    let test =
        "retention::a_long_replay_stays_within_its_cap_oldest_first_and_alerts_outlive_flows";
    if !common::require_tools(test, &["editcap", "mergecap"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("medtap.toml");
    std::fs::write(
        &cfg,
        format!("[store]\nretention_days = 2\nalert_retention_days = 5\nmax_db_mib = {CAP_MIB}\n"),
    )
    .unwrap();
    let db = dir.path().join("r.db");
    let day0 = make_day0(dir.path());

    // Days 0-4, one `analyze` a day: each session goes on where the last
    // stopped (the clock is the newest record stored).
    let mut devices = 0;
    let mut logged = false;
    for d in 0..5 {
        let f = day(dir.path(), &day0, d);
        let stderr = analyze(&cfg, &db, std::slice::from_ref(&f));
        logged |= stderr.contains("retention: pruned old rows");
        std::fs::remove_file(f).unwrap();
        let st = assert_within_cap(&db, &format!("after day {d}"));
        assert!(
            st["devices"].as_u64().unwrap() >= devices,
            "devices are never pruned"
        );
        devices = st["devices"].as_u64().unwrap();
    }
    assert!(logged, "no info line about pruning");

    // Days 5-9 in one session: a long replay the writer prunes while it
    // writes.
    let files: Vec<PathBuf> = (5..10).map(|d| day(dir.path(), &day0, d)).collect();
    analyze(&cfg, &db, &files);
    for f in files {
        std::fs::remove_file(f).unwrap();
    }
    let st = assert_within_cap(&db, "after day 9");
    assert_eq!(st["retention"]["max_db_mib"], CAP_MIB);
    assert_eq!(st["retention"]["retention_days"], 2);
    assert_eq!(st["retention"]["alert_retention_days"], 5);
    assert_eq!(st["retention"]["auto_vacuum"], "incremental");

    let conn = rusqlite::Connection::open(&db).unwrap();
    // The clock: the newest record time (a flow's end, an alert's sighting).
    let newest = sql(
        &conn,
        "SELECT MAX((SELECT MAX(end_us) FROM flows), (SELECT MAX(last_seen_us) FROM alerts))",
    );
    let last_day_start = first_second(&day0) * 1_000_000 + 9 * DAY_US;
    assert!(newest > last_day_start, "{newest} {last_day_start}");

    // Old rows first: no flow older than the retention (the cap took more,
    // oldest first), and the flows kept are one unbroken run of ids up to
    // the newest, the mark just below it.
    let flows = sql(&conn, "SELECT COUNT(*) FROM flows");
    let (min_id, max_id) = (
        sql(&conn, "SELECT MIN(flow_id) FROM flows"),
        sql(&conn, "SELECT MAX(flow_id) FROM flows"),
    );
    let oldest_flow = sql(&conn, "SELECT MIN(start_us) FROM flows");
    assert!(flows > 1_000, "{flows} flows kept");
    assert!(
        oldest_flow >= newest - 2 * DAY_US,
        "oldest flow {oldest_flow}, newest record {newest}"
    );
    assert_eq!(
        max_id - min_id + 1,
        flows,
        "flows kept are not one run of ids"
    );
    let mark = sql(
        &conn,
        "SELECT pruned_through FROM retention_marks WHERE tbl = 'flows'",
    );
    assert_eq!(
        mark,
        min_id - 1,
        "the flows mark is not just below the oldest flow kept"
    );
    // The cap bit: flows within 2 days of the newest went too.
    assert!(
        oldest_flow > newest - 2 * DAY_US + DAY_US / 4,
        "the cap did not prune past the age limit: oldest flow {oldest_flow}, newest {newest}"
    );
    // Application records went with their flows; the last days' remain.
    for t in [
        "dicom_associations",
        "hl7_messages",
        "mqtt_sessions",
        "mqtt_publishes",
    ] {
        assert_eq!(
            sql(
                &conn,
                &format!("SELECT COUNT(*) FROM {t} WHERE flow_id <= {mark}")
            ),
            0,
            "{t} rows of pruned flows"
        );
    }
    // (How many days' sessions the cap leaves depends on what else the
    // database holds, the evidence chain among it: that some went with
    // their flows is what is certain.)
    assert!(
        st["retention"]["pruned_by_table"]["mqtt_sessions"].as_u64() > Some(0),
        "oldest flow {oldest_flow}, newest {newest}, day 9 from {last_day_start}; {}",
        st["retention"]
    );

    // Alerts outlive flows as configured: some are older than every flow
    // kept, none is older than 5 days, and the older ones went in id order.
    let oldest_alert = sql(&conn, "SELECT MIN(last_seen_us) FROM alerts");
    assert!(
        oldest_alert >= newest - 5 * DAY_US,
        "alert last seen {oldest_alert}, newest record {newest}"
    );
    assert!(
        sql(
            &conn,
            &format!("SELECT COUNT(*) FROM alerts WHERE last_seen_us < {oldest_flow}")
        ) > 0,
        "no alert outlived its flows"
    );
    assert!(
        oldest_alert < newest - 3 * DAY_US,
        "alerts from 3-5 days back are gone: {oldest_alert}, newest {newest}"
    );
    let alerts_mark = sql(
        &conn,
        "SELECT pruned_through FROM retention_marks WHERE tbl = 'alerts'",
    );
    assert!(alerts_mark > 0);
    assert_eq!(
        sql(
            &conn,
            &format!("SELECT COUNT(*) FROM alerts WHERE alert_id <= {alerts_mark}")
        ),
        0
    );

    // Every prune counted: by table since the database was created, and in
    // the statistics rows kept.
    let r = &st["retention"];
    let by_table = &r["pruned_by_table"];
    for t in ["flows", "alerts", "hl7_messages", "capture_stats"] {
        assert!(by_table[t].as_u64().unwrap_or(0) > 0, "{t}: {r}");
    }
    let marks = sql(&conn, "SELECT SUM(pruned_rows) FROM retention_marks");
    assert_eq!(r["pruned_rows"].as_i64(), Some(marks));
    assert_eq!(
        by_table["flows"].as_i64(),
        Some(mark),
        "every flow up to the mark was pruned"
    );
    let in_stats = st["pruned_rows"].as_u64().unwrap();
    assert!(
        in_stats > 0 && in_stats <= marks as u64,
        "statistics rows kept count {in_stats} of {marks} pruned"
    );
    assert!(st["pruned_by_table"]["flows"].as_u64().unwrap() > 0);
}
