//! The chain through the real writer: intact databases verify, and each
//! kind of tampering is named at its batch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::alert::{AlertRecord, AlertSeen, FlowTuple, Party, Rule};
use crate::event::{channel, Backpressure, Event};
use crate::flow::{EndReason, FlowRecord};
use crate::kinds::Severity;
use crate::store::{open_read, SessionInfo, Store};
use std::path::Path;

fn flow(id: u64, pkts: u64, reason: EndReason) -> Event {
    let mut f = FlowRecord::test_record(id, reason);
    f.start = 1_000 * id as i64;
    f.end = f.start + 10;
    f.dirs[0].pkts = pkts;
    Event::Flow(f)
}

fn alert(id: u64, count: u64) -> Event {
    Event::Alert(Box::new(AlertRecord {
        alert_id: id,
        first_seen: 5_000,
        last_seen: 5_000 + count as i64,
        count,
        rule: Rule::PolicyViolation,
        severity: Severity::High,
        message: "CT scanner talks to an unknown peer".into(),
        detail: "initiates tcp/104".into(),
        device: Party {
            ip: Some("10.0.0.1".parse().unwrap()),
            ..Party::default()
        },
        peer: Party::default(),
        flow: Some(FlowTuple::test_tuple(1)),
        evidence: Default::default(),
        observation: false,
    }))
}

fn seen(id: u64, count: u64) -> Event {
    Event::AlertSeen(AlertSeen {
        alert_id: id,
        count,
        last_seen: 9_000,
    })
}

/// Writes `records` through the writer, one record per transaction, so
/// that the n-th chained record is batch n (of this session).
fn write(path: &Path, records: Vec<Event>) {
    let (mut tx, rx) = channel(16, Backpressure::Wait(std::time::Duration::from_secs(5)));
    let info = SessionInfo {
        command: "test".into(),
        source: "chain".into(),
    };
    let w = Store::open_writer(path, &info)
        .unwrap()
        .spawn_writer(rx, 1, crate::store::ALERT_COMMIT_WITHIN)
        .unwrap();
    for r in records {
        tx.send(r);
    }
    drop(tx);
    let totals = w.finish("end of test");
    assert_eq!(totals.failed, 0);
}

fn check(path: &Path) -> Report {
    verify(&open_read(path).unwrap(), None).unwrap()
}

fn sql(path: &Path, statements: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(statements)
        .unwrap();
}

/// Flows 1–4 (batches 1–4), alert 1 (batch 5), flow 5 (batch 6).
fn standard(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let db = dir.path().join("c.db");
    write(
        &db,
        vec![
            flow(1, 3, EndReason::Fin),
            flow(2, 3, EndReason::Fin),
            flow(3, 3, EndReason::Fin),
            flow(4, 3, EndReason::Fin),
            alert(1, 1),
            flow(5, 3, EndReason::Fin),
        ],
    );
    db
}

fn first(r: &Report) -> &Problem {
    r.first_problem.as_ref().expect("a problem")
}

#[test]
fn an_intact_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!(r.batches, 6);
    assert_eq!(
        r.rows_checked,
        Counts {
            flows: 5,
            alerts: 1
        }
    );
    assert_eq!(r.rows_unchained.total() + r.rows_pruned.total(), 0);
    let head = r.head.as_ref().unwrap();
    assert_eq!(head.batch_id, 6);
    assert_eq!(head.hash.len(), 64);
    // A second session goes on from the same head.
    write(&db, vec![flow(6, 1, EndReason::Rst)]);
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!((r.batches, r.rows_checked.flows), (7, 6));
}

#[test]
fn a_changed_alert_column_names_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    sql(&db, "UPDATE alerts SET severity = 'low' WHERE alert_id = 1");
    let r = check(&db);
    assert!(!r.intact);
    let p = first(&r);
    assert_eq!(
        (p.kind, p.batch_id, p.table, p.rowid),
        (ProblemKind::Changed, Some(5), Some(Table::Alerts), Some(1))
    );
    assert!(p.written.is_some());
    assert_eq!(r.problems, 1);
    assert_eq!(r.problems_by_kind.get("changed"), Some(&1));
}

#[test]
fn a_deleted_flow_is_named_as_removed_at_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    sql(&db, "DELETE FROM flows WHERE flow_id = 3");
    let r = check(&db);
    assert!(!r.intact);
    let p = first(&r);
    assert_eq!(
        (p.kind, p.batch_id, p.table, p.rowid),
        (ProblemKind::Removed, Some(3), Some(Table::Flows), Some(3))
    );
    assert_eq!(r.problems, 1);
    assert_eq!(r.rows_checked.flows, 4);
}

#[test]
fn a_deleted_batch_breaks_the_chain_at_the_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    sql(&db, "DELETE FROM chain_batches WHERE batch_id = 2");
    let r = check(&db);
    let p = first(&r);
    assert_eq!((p.kind, p.batch_id), (ProblemKind::ChainBroken, Some(3)));
    assert!(p.detail.contains("batch 2 is missing"), "{}", p.detail);
    // Its row is still there, but no batch vouches for it.
    assert_eq!(r.problems_by_kind.get("unrecorded"), Some(&1));
    assert!(r
        .listed
        .iter()
        .any(|p| p.kind == ProblemKind::Unrecorded && p.rowid == Some(2)));
}

#[test]
fn an_edited_batch_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    sql(
        &db,
        "UPDATE chain_batches SET written_us = written_us + 1 WHERE batch_id = 4",
    );
    let r = check(&db);
    let p = first(&r);
    assert_eq!((p.kind, p.batch_id), (ProblemKind::BatchChanged, Some(4)));
    // Replacing the entries with those of another batch is caught too.
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    sql(
        &db,
        "UPDATE chain_batches SET entries = (SELECT entries FROM chain_batches WHERE batch_id = 1)
         WHERE batch_id = 2",
    );
    let p = first(&check(&db)).clone();
    assert_eq!((p.kind, p.batch_id), (ProblemKind::BatchChanged, Some(2)));
}

#[test]
fn rows_rewritten_by_later_batches_verify_against_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    write(
        &db,
        vec![
            flow(1, 3, EndReason::Interim), // 1
            alert(1, 1),                    // 2
            flow(1, 9, EndReason::Fin),     // 3: the final record replaces it
            seen(1, 4),                     // 4
            alert(1, 6),                    // 5: grown, written again
            seen(1, 7),                     // 6
            seen(99, 1),                    // an alert not stored: no batch
        ],
    );
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!(r.batches, 6);
    assert_eq!(
        r.rows_checked,
        Counts {
            flows: 1,
            alerts: 1
        }
    );
    // Tampering after that is named at the newest write.
    sql(&db, "UPDATE alerts SET count = 1 WHERE alert_id = 1");
    let r = check(&db);
    assert_eq!(
        (first(&r).kind, first(&r).batch_id),
        (ProblemKind::Changed, Some(6))
    );
    sql(&db, "UPDATE alerts SET count = 7 WHERE alert_id = 1");
    assert!(check(&db).intact);
    sql(&db, "UPDATE flows SET pkts_toserver = 3 WHERE flow_id = 1");
    let r = check(&db);
    assert_eq!(
        (first(&r).kind, first(&r).batch_id),
        (ProblemKind::Changed, Some(3))
    );
}

#[test]
fn retention_pruning_is_not_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    // What retention does: delete in rowid order, and move the mark in the
    // same transaction.
    sql(
        &db,
        "BEGIN;
         DELETE FROM flows WHERE rowid <= 3;
         INSERT INTO retention_marks VALUES ('flows', 3, 3, 1);
         COMMIT;",
    );
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!(
        r.rows_pruned,
        Counts {
            flows: 3,
            alerts: 0
        }
    );
    assert_eq!(
        r.rows_checked,
        Counts {
            flows: 2,
            alerts: 1
        }
    );
    assert_eq!(r.retention_marks.get("flows"), Some(&3));
    // A deletion above the mark is still removal.
    sql(&db, "DELETE FROM flows WHERE flow_id = 5");
    let r = check(&db);
    assert_eq!(
        (first(&r).kind, first(&r).batch_id),
        (ProblemKind::Removed, Some(6))
    );
}

#[test]
fn batches_whose_entries_retention_cleared_still_link() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    sql(
        &db,
        "DELETE FROM flows WHERE rowid <= 2;
         INSERT INTO retention_marks VALUES ('flows', 2, 2, 1);",
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(drop_pruned_entries(&conn).unwrap(), 2);
    drop(conn);
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!(r.batches_pruned, 2);
    assert_eq!(r.batches, 6);
    // Batch 3 (flow 3, above the mark) may not lose its entries.
    sql(
        &db,
        "UPDATE chain_batches SET entries = NULL WHERE batch_id = 3",
    );
    let r = check(&db);
    assert_eq!(
        (first(&r).kind, first(&r).batch_id),
        (ProblemKind::EntriesRemoved, Some(3))
    );
}

#[test]
fn a_database_from_before_the_chain_has_unchained_rows_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        // What medtap wrote before migration 10.
        let mut conn = rusqlite::Connection::open(&db).unwrap();
        crate::store::migrate(&conn, &db, 9).unwrap();
        let tx = conn.transaction().unwrap();
        for id in 1..=3 {
            let Event::Flow(f) = flow(id, 1, EndReason::Fin) else {
                unreachable!()
            };
            crate::store::rows::flow::insert(&tx, &f).unwrap();
        }
        let Event::Alert(a) = alert(1, 1) else {
            unreachable!()
        };
        crate::store::rows::alert::upsert(&tx, &a).unwrap();
        tx.commit().unwrap();
    }
    write(&db, vec![flow(4, 1, EndReason::Fin), alert(2, 1)]);
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!(
        r.rows_unchained,
        Counts {
            flows: 3,
            alerts: 1
        }
    );
    assert_eq!(
        r.rows_checked,
        Counts {
            flows: 1,
            alerts: 1
        }
    );
    // A row slipped in above the chain's start is in no batch.
    sql(
        &db,
        "INSERT INTO flows SELECT 7, community_id, start_us, end_us, proto, src_ip, src_port,
            dest_ip, dest_port, icmp_type, icmp_code, vlan, src_mac, dest_mac, app_proto,
            pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient,
            payload_bytes_toserver, payload_bytes_toclient, tcp_flags_toserver,
            tcp_flags_toclient, state, reason FROM flows WHERE flow_id = 4",
    );
    let r = check(&db);
    let p = first(&r);
    assert_eq!(
        (p.kind, p.batch_id, p.rowid),
        (ProblemKind::Unrecorded, None, Some(7))
    );
}

#[test]
fn an_added_column_is_not_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    // What a later migration may do: the rows hashed keep their first
    // columns.
    sql(
        &db,
        "ALTER TABLE flows ADD COLUMN extra TEXT DEFAULT 'x';
         ALTER TABLE alerts ADD COLUMN extra INTEGER",
    );
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!(
        r.rows_checked,
        Counts {
            flows: 5,
            alerts: 1
        }
    );
}

#[test]
fn entries_round_trip() {
    let d = |b: u8| [b; ROW_DIGEST_LEN];
    let entries = vec![
        Entry {
            table: Table::Flows,
            rowid: -5,
            digest: d(1),
        },
        Entry {
            table: Table::Flows,
            rowid: 1 << 40,
            digest: d(2),
        },
        Entry {
            table: Table::Alerts,
            rowid: i64::MAX,
            digest: d(3),
        },
        Entry {
            table: Table::Alerts,
            rowid: i64::MIN,
            digest: d(4),
        },
    ];
    let blob = encode(&entries);
    assert_eq!(decode(&blob), Some(entries));
    // A single small entry: tag, one varint byte, digest.
    let one = encode(&[Entry {
        table: Table::Flows,
        rowid: 3,
        digest: d(0),
    }]);
    assert_eq!(one.len(), 2 + ROW_DIGEST_LEN);
    // Cut short, a bad tag, an overlong varint: not entries.
    assert_eq!(decode(&blob[..blob.len() - 1]), None);
    assert_eq!(decode(&[b'x', 0]), None);
    let mut long = vec![b'f'];
    long.extend([0xff; 10]);
    long.push(0);
    assert_eq!(decode(&long), None);
    assert_eq!(decode(&[]), Some(vec![]));
}

#[test]
fn row_digests_tell_types_and_nulls_apart() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (v);
         INSERT INTO t VALUES (NULL), (''), (1), ('1'), (1.0), (X'31'), (X''), (0), (-0.0);",
    )
    .unwrap();
    let mut st = conn.prepare("SELECT rowid, v FROM t").unwrap();
    let digests: Vec<RowDigest> = st
        .query_map([], |r| row_digest(Table::Flows, 1, r, 1, 1))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let distinct: std::collections::HashSet<_> = digests.iter().collect();
    assert_eq!(distinct.len(), digests.len(), "{digests:?}");
    // The same value in another row or table is another digest.
    let mut st = conn
        .prepare("SELECT rowid, v FROM t WHERE v IS NULL")
        .unwrap();
    let other = st
        .query_row([], |r| {
            Ok([
                row_digest(Table::Flows, 2, r, 1, 1)?,
                row_digest(Table::Alerts, 1, r, 1, 1)?,
                // Asked for a column the row does not have.
                row_digest(Table::Flows, 1, r, 1, 2)?,
            ])
        })
        .unwrap();
    for o in other {
        assert_ne!(o, digests[0]);
    }
}

#[test]
fn a_recorded_head_catches_a_cut_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    let head = check(&db).head.unwrap();
    let known: KnownHead = format!("{}:{}", head.batch_id, head.hash.to_uppercase())
        .parse()
        .unwrap();
    let with = |db: &Path| verify(&open_read(db).unwrap(), Some(&known)).unwrap();
    assert!(with(&db).intact);
    // The newest batch and its row deleted together: the chain alone
    // cannot tell, the recorded head can.
    sql(
        &db,
        "DELETE FROM flows WHERE flow_id = 5; DELETE FROM chain_batches WHERE batch_id = 6",
    );
    assert!(check(&db).intact);
    let r = with(&db);
    assert_eq!(
        (first(&r).kind, first(&r).batch_id),
        (ProblemKind::HeadMismatch, None)
    );
    assert!("6:abc".parse::<KnownHead>().is_err());
    assert!("x:".parse::<KnownHead>().is_err());
}

#[test]
fn a_database_with_no_batch_yet_is_unchained() {
    let dir = tempfile::tempdir().unwrap();
    let db = standard(&dir);
    sql(&db, "DELETE FROM chain_batches");
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!(
        r.rows_unchained,
        Counts {
            flows: 5,
            alerts: 1
        }
    );
    assert_eq!((r.batches, r.head.clone()), (0, None));
    // Only a head recorded earlier tells this from an older database.
    let known: KnownHead = format!("6:{}", "0".repeat(64)).parse().unwrap();
    let r = verify(&open_read(&db).unwrap(), Some(&known)).unwrap();
    assert_eq!(first(&r).kind, ProblemKind::HeadMismatch);
}

#[test]
fn dense_and_sparse_batches_read_rows_back_alike() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let mut conn = crate::store::open(&db).unwrap();
    let tx = conn.transaction().unwrap();
    for id in [1, 2, 3, 1000] {
        let Event::Flow(f) = flow(id, id, EndReason::Fin) else {
            unreachable!()
        };
        crate::store::rows::flow::insert(&tx, &f).unwrap();
    }
    // Batch 1: ids 1–3 and a missing 4, one range scan; batch 2: the same
    // and 1000, one lookup each.
    let mut dense = Touched::default();
    for id in [3, 1, 2, 4, 2] {
        dense.note(&flow(id, 0, EndReason::Fin));
    }
    assert_eq!(append(&tx, &mut dense, 7).unwrap(), Some(1));
    let mut sparse = Touched::default();
    for id in [1000, 1, 2, 3] {
        sparse.note(&flow(id, 0, EndReason::Fin));
    }
    assert_eq!(append(&tx, &mut sparse, 8).unwrap(), Some(2));
    tx.commit().unwrap();
    let entries = |id: i64| -> Vec<Entry> {
        let blob: Vec<u8> = conn
            .query_row(
                "SELECT entries FROM chain_batches WHERE batch_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        decode(&blob).unwrap()
    };
    let (a, b) = (entries(1), entries(2));
    assert_eq!(a.iter().map(|e| e.rowid).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        b.iter().map(|e| e.rowid).collect::<Vec<_>>(),
        [1, 2, 3, 1000]
    );
    assert_eq!(a[..], b[..3]);
    drop(conn);
    let r = check(&db);
    assert!(r.intact, "{r:#?}");
    assert_eq!(r.rows_checked.flows, 4);
}
