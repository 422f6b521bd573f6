//! `medtap verify` on databases `medtap analyze` wrote from real captures
//! (the policy scenario's violations, tests/data/policy), tampered with by
//! the `sqlite3` command-line shell as someone covering their tracks would:
//! a changed alert and a deleted flow are named at their batch, retention
//! pruning is not tampering, and a verify while a writer writes sees a
//! consistent snapshot.
//!
//! Which batch holds a row is read here from `chain_batches` with an
//! independent decoder of the entries format documented in
//! src/store/chain.rs, not through medtap.

use crate::common;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `verify`'s exit code on tampering (src/cli/verify.rs, README).
const EXIT_TAMPERED: i32 = 5;

fn policy(name: &str) -> PathBuf {
    common::root().join("tests/data/policy").join(name)
}

/// The violations capture analysed with the scenario's asset list: flows
/// and alerts (some written more than once as they grow).
fn analyzed() -> (tempfile::TempDir, PathBuf) {
    let assets = format!("--assets={}", policy("assets.toml").display());
    common::analyzed(
        &policy("violations.pcap"),
        &[&assets, "--rules=", "--config=/dev/null"],
        &[],
    )
}

/// A copy of `db` (a closed database: no WAL left) under `name`.
fn copy(db: &Path, name: &str) -> PathBuf {
    let to = db.with_file_name(name);
    std::fs::copy(db, &to).unwrap();
    to
}

fn verify(db: &Path, args: &[&str]) -> Output {
    common::run_ok(
        common::medtap()
            .arg("verify")
            .arg("--db")
            .arg(db)
            .args(args),
    )
}

fn verify_json(db: &Path) -> (Option<i32>, Value) {
    let out = verify(db, &["--json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

fn sqlite3(db: &Path, sql: &str) {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every (batch, tag, rowid) in `chain_batches`, decoded from the entries:
/// per row a tag byte (`f` flows, `a` alerts), the zigzag LEB128 varint of
/// the rowid's difference to the previous rowid of that table, and a
/// 16-byte digest.
fn entries(db: &Path) -> Vec<(i64, u8, i64)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT batch_id, entries FROM chain_batches ORDER BY batch_id")
        .unwrap();
    let batches: Vec<(i64, Vec<u8>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for (batch, blob) in batches {
        let (mut i, mut last) = (0, [0i64; 2]);
        while i < blob.len() {
            let tag = blob[i];
            i += 1;
            let (mut u, mut shift) = (0u64, 0);
            loop {
                let b = blob[i];
                i += 1;
                u |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let delta = ((u >> 1) as i64) ^ -((u & 1) as i64);
            let t = usize::from(tag == b'a');
            last[t] += delta;
            out.push((batch, tag, last[t]));
            i += 16;
        }
        assert_eq!(i, blob.len(), "batch {batch}'s entries end mid-entry");
    }
    out
}

/// The batches holding a write of `rowid` of the table tagged `tag`.
fn batches_of(all: &[(i64, u8, i64)], tag: u8, rowid: i64) -> Vec<i64> {
    all.iter()
        .filter(|e| e.1 == tag && e.2 == rowid)
        .map(|e| e.0)
        .collect()
}

#[test]
fn verify_names_the_batch_of_a_changed_alert_and_of_a_deleted_flow() {
    if !common::require_tools("verify_names_the_batch", &["sqlite3"]) {
        return;
    }
    let (_dir, db) = analyzed();
    let (code, r) = verify_json(&db);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["intact"], true);
    let all = entries(&db);
    let alerts: u64 =
        common::run_success(common::medtap().args(["alerts", "--json", "--db"]).arg(&db))
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
    assert!(alerts > 0, "the violations capture raises alerts");
    assert!(
        r["rows_checked"]["alerts"].as_u64().unwrap() >= alerts,
        "{r}"
    );
    assert_eq!(
        r["rows_checked"]["flows"].as_u64().unwrap(),
        common::flows_json(&db, &[]).len() as u64
    );

    // One alert's severity changed: the alert written most often, named at
    // its newest batch.
    let (alert, newest) = (1..=alerts as i64)
        .map(|id| (id, batches_of(&all, b'a', id)))
        .max_by_key(|(id, b)| (b.len(), *id))
        .map(|(id, b)| (id, *b.last().unwrap()))
        .unwrap();
    let changed = copy(&db, "changed.db");
    sqlite3(
        &changed,
        &format!(
            "UPDATE alerts SET severity = CASE severity WHEN 'low' THEN 'high' ELSE 'low' END
             WHERE alert_id = {alert}"
        ),
    );
    let (code, r) = verify_json(&changed);
    assert_eq!(code, Some(EXIT_TAMPERED), "{r}");
    let p = &r["first_problem"];
    assert_eq!(p["kind"], "changed", "{r}");
    assert_eq!(p["batch_id"], newest, "{r}");
    assert_eq!(
        (&p["table"], &p["rowid"]),
        (&"alerts".into(), &alert.into())
    );
    assert_eq!(r["problems"], 1, "{r}");
    // The text names the batch, its time and the row.
    let out = verify(&changed, &[]);
    assert_eq!(out.status.code(), Some(EXIT_TAMPERED));
    let text = String::from_utf8_lossy(&out.stdout);
    let written = p["written"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "TAMPERED: first bad batch: batch {newest} (written {written}): changed: alert {alert}"
        )),
        "{text}"
    );

    // One flow deleted: named as removed at the batch that wrote it.
    let flow = common::flows_json(&db, &[])[0]["flow_id"].as_i64().unwrap();
    let newest = *batches_of(&all, b'f', flow).last().unwrap();
    let removed = copy(&db, "removed.db");
    sqlite3(
        &removed,
        &format!("DELETE FROM flows WHERE flow_id = {flow}"),
    );
    let (code, r) = verify_json(&removed);
    assert_eq!(code, Some(EXIT_TAMPERED), "{r}");
    let p = &r["first_problem"];
    assert_eq!(
        (&p["kind"], &p["batch_id"], &p["table"], &p["rowid"]),
        (
            &"removed".into(),
            &newest.into(),
            &"flows".into(),
            &flow.into()
        ),
        "{r}"
    );
    assert_eq!(r["problems"], 1, "{r}");

    // A batch row deleted: the chain breaks at the next batch.
    let cut = copy(&db, "cut.db");
    sqlite3(&cut, "DELETE FROM chain_batches WHERE batch_id = 1");
    let (code, r) = verify_json(&cut);
    assert_eq!(code, Some(EXIT_TAMPERED), "{r}");
    assert_eq!(
        (&r["first_problem"]["kind"], &r["first_problem"]["batch_id"]),
        (&"chain_broken".into(), &2.into()),
        "{r}"
    );
}

#[test]
fn retention_pruning_below_the_mark_is_not_tampering() {
    if !common::require_tools("retention_pruning_below_the_mark", &["sqlite3"]) {
        return;
    }
    let (_dir, db) = analyzed();
    let flows: Vec<i64> = common::flows_json(&db, &[])
        .iter()
        .map(|f| f["flow_id"].as_i64().unwrap())
        .collect();
    let mut ids = flows.clone();
    ids.sort_unstable();
    let mark = ids[ids.len() / 2];
    let pruned = ids.iter().filter(|&&id| id <= mark).count();
    let db2 = copy(&db, "pruned.db");
    // What retention does: delete the oldest rows and move the mark, in one
    // transaction.
    sqlite3(
        &db2,
        &format!(
            "BEGIN;
             DELETE FROM flows WHERE rowid <= {mark};
             DELETE FROM alerts WHERE rowid <= 2;
             INSERT OR REPLACE INTO retention_marks VALUES ('flows', {mark}, {pruned}, 0);
             INSERT OR REPLACE INTO retention_marks VALUES ('alerts', 2, 2, 0);
             COMMIT;"
        ),
    );
    let (code, r) = verify_json(&db2);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["intact"], true);
    assert_eq!(r["rows_pruned"]["flows"], pruned as u64, "{r}");
    assert_eq!(r["rows_pruned"]["alerts"], 2, "{r}");
    let out = verify(&db2, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "pruned by retention  {} (flows {pruned}, alerts 2)",
            pruned + 2
        )),
        "{text}"
    );
    assert!(text.contains("intact"), "{text}");
    // Above the mark, a deletion is still removal.
    let above = *ids.last().unwrap();
    sqlite3(&db2, &format!("DELETE FROM flows WHERE flow_id = {above}"));
    let (code, r) = verify_json(&db2);
    assert_eq!(code, Some(EXIT_TAMPERED), "{r}");
    assert_eq!(r["first_problem"]["kind"], "removed");
}

#[test]
fn verify_while_analyze_writes_sees_a_consistent_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mix.pcap");
    let frames = common::traffic::mix(300_000, 2_000, 1_700_000_000_000_000, 1);
    let mut w = common::garbage::PcapWriter::new(&pcap, 1, 65_535).unwrap();
    for f in &frames {
        w.write(f.ts as u64, &f.data, f.data.len() as u32).unwrap();
    }
    w.finish().unwrap();
    let db = dir.path().join("live.db");
    // Small transactions, so that verify runs between many commits.
    let cfg = dir.path().join("medtap.toml");
    std::fs::write(&cfg, "[store]\nbatch_rows = 200\n").unwrap();
    let mut child = common::medtap()
        .arg("analyze")
        .arg(&pcap)
        .arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut runs = 0;
    let mut chained = 0;
    while child.try_wait().unwrap().is_none() {
        if db.exists() {
            let out = verify(&db, &["--json"]);
            // Before the schema exists the database is refused (exit 2).
            if out.status.code() != Some(2) {
                let r: Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(out.status.code(), Some(0), "{r}");
                chained = chained.max(r["batches"].as_u64().unwrap());
                runs += 1;
            }
        }
    }
    assert!(child.wait().unwrap().success());
    let (code, r) = verify_json(&db);
    assert_eq!(code, Some(0), "{r}");
    assert!(runs > 0, "verify ran while analyze wrote");
    assert!(
        r["batches"].as_u64().unwrap() > 1,
        "several transactions: {r}"
    );
    eprintln!("verify ran {runs} times while analyze wrote (up to {chained} batches)");
}
