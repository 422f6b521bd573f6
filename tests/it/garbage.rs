//! No input crashes medtap: random bytes, every truncation of real frames,
//! lying length fields, fragments, odd link types and broken capture files
//! go through `analyze`; bad frames are counted by reason in `status`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use common::garbage;
use std::collections::BTreeMap;

/// Real Ethernet frames: the sample capture, plus the corpus when present.
fn seed_frames() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = common::read_frames(&common::sample_pcap())
        .1
        .into_iter()
        .map(|f| f.2)
        .collect();
    // Without the corpus the test still runs on the sample's frames; the
    // corpus part is reported as skipped (a failure in CI).
    if let Some(dir) = common::require_corpus(
        "garbage_corpus_never_crashes_and_errors_are_counted_by_kind (its corpus seeds)",
    ) {
        for p in common::corpus_captures(&dir) {
            let (dlt, frames) = common::read_frames(&p);
            if dlt == 1 {
                seeds.extend(frames.into_iter().map(|f| f.2));
            }
        }
    }
    seeds
}

#[test]
fn garbage_corpus_never_crashes_and_errors_are_counted_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let files = garbage::write_corpus(&dir.path().join("corpus"), &seed_frames(), 0x6d65_6474_6170);
    assert!(files.len() >= 30, "corpus has {} files", files.len());
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut frames_read = 0u64;
    for (i, f) in files.iter().enumerate() {
        let db = dir.path().join(format!("{i}.db"));
        let out = common::run_ok(
            common::medtap()
                .arg("analyze")
                .arg(&f.path)
                .arg("--db")
                .arg(&db),
        );
        let code = out.status.code().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let supported = f.linktype.is_some_and(|l| l != garbage::LINKTYPE_USER0);
        if f.container_ok && supported {
            assert_eq!(code, 0, "{} ({}): {stderr}", f.path.display(), f.what);
        } else {
            assert_eq!(
                code,
                1,
                "{} ({}) must be reported as unreadable: {stderr}",
                f.path.display(),
                f.what
            );
        }
        let status = common::status_json(&db);
        if !f.container_ok || !supported {
            assert!(
                status["read_errors"].as_u64().unwrap() >= 1,
                "{}: read error not counted",
                f.what
            );
        }
        frames_read += status["packets"].as_u64().unwrap();
        for (k, v) in status["decode_errors_by_kind"].as_object().unwrap() {
            *by_kind.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
    }
    eprintln!(
        "{} files, {frames_read} frames, decode errors by kind: {by_kind:?}",
        files.len()
    );
    for kind in [
        "link_truncated",
        "link_invalid",
        "vlan_truncated",
        "ipv4_truncated",
        "ipv4_invalid",
        "ipv6_truncated",
        "ip_ext_invalid",
        "tcp_truncated",
        "tcp_invalid",
        "udp_truncated",
        "arp_invalid",
    ] {
        assert!(
            by_kind.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} counted: {by_kind:?}"
        );
    }
}

#[test]
fn zero_length_and_missing_files_are_errors_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let db = dir.path().join("e.db");
    let missing = dir.path().join("missing.pcap");
    let out = common::run_ok(
        common::medtap()
            .arg("analyze")
            .arg(&empty)
            .arg(&missing)
            .arg(common::sample_pcap())
            .arg("--db")
            .arg(&db),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("empty.pcap") && stderr.contains("missing.pcap"),
        "{stderr}"
    );
    // The readable file among them was still processed.
    let status = common::status_json(&db);
    assert_eq!(status["read_errors"], 2);
    assert!(status["packets"].as_u64().unwrap() > 100);
}
