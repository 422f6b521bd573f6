//! The archive end to end inside the library: tap → thread → files and
//! index → extraction, with rotation, retention, the payload cap and a
//! crash's leftovers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::extract::{extract, FlowSpan, Selection};
use super::*;
use crate::capture::Frame;
use crate::decode::LinkType;
use crate::store::rows::archive as index;

/// An Ethernet/IPv4/TCP frame from 10.0.0.`a`:`sp` to 10.0.0.`b`:`dp`
/// with `payload` bytes of payload.
fn tcp_frame(a: u8, sp: u16, b: u8, dp: u16, payload: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, b, 0x02, 0, 0, 0, 0, a, 0x08, 0x00];
    let total = (20 + 20 + payload) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[10, 0, 0, a, 10, 0, 0, b]);
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend(std::iter::repeat_n(0xabu8, payload));
    f
}

struct Lab {
    dir: tempfile::TempDir,
    db: std::path::PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        drop(crate::store::open(&db).unwrap());
        Lab { dir, db }
    }

    fn opts(&self, file_bytes: u64, max_total: u64, cap: u64) -> ArchiveOptions {
        ArchiveOptions {
            dir: self.dir.path().join("archive"),
            file_bytes,
            file_span: 3600 * SECOND,
            max_total,
            max_age: 0,
            max_payload_per_flow: cap,
            queue_bytes: 4 << 20,
            wait: Some(Duration::from_secs(10)),
        }
    }

    fn conn(&self) -> rusqlite::Connection {
        crate::store::open(&self.db).unwrap()
    }

    /// The archive with a real store writer behind it, as a session runs it.
    fn start(&self, opts: &ArchiveOptions) -> Running {
        let info = crate::store::SessionInfo {
            command: "test".into(),
            source: "archive".into(),
        };
        let store = crate::store::Store::open_writer(&self.db, &info).unwrap();
        let index = store.archive_files().unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1024);
        let writer = store
            .spawn_writer(rx, 1000, Duration::from_millis(100))
            .unwrap();
        let (archive, tap) = Archive::start(opts, index, tx, 16).unwrap();
        Running {
            archive,
            tap,
            writer,
        }
    }
}

struct Running {
    archive: Archive,
    tap: Tap,
    writer: crate::store::Writer,
}

impl Running {
    /// Stops the hot path, the archive thread and the writer, in a
    /// session's order; returns the archive thread's counters.
    fn stop(self) -> (u64, u64) {
        drop(self.tap);
        let r = self.archive.finish();
        let w = self.writer.finish("test");
        assert_eq!(w.failed, 0);
        r
    }
}

fn flow(id: u64, sp: u16, start: Micros, end: Micros) -> FlowSpan {
    FlowSpan {
        flow_id: id,
        proto: 6,
        src: ("10.0.0.1".parse().unwrap(), sp),
        dest: ("10.0.0.2".parse().unwrap(), 104),
        start,
        end,
    }
}

#[test]
fn frames_are_cut_to_the_per_flow_payload_cap_and_extracted_by_flow() {
    let lab = Lab::new();
    let mut run = lab.start(&lab.opts(1 << 20, 8 << 20, 1000));
    let data = tcp_frame(1, 40000, 2, 104, 600);
    let other = tcp_frame(1, 40001, 2, 104, 600);
    for i in 0..4 {
        let ts = 1_000 * SECOND + i;
        let f = Frame {
            ts,
            wire_len: data.len() as u32,
            data: &data,
        };
        let at = FlowFrame {
            slot: 3,
            new: i == 0,
            flow_id: 7,
            payload_offset: 54,
            payload_len: 600,
        };
        run.tap.frame(LinkType::Ethernet, &f, Some(at));
        let g = Frame {
            ts: ts + 10,
            wire_len: other.len() as u32,
            data: &other,
        };
        let at = FlowFrame {
            slot: 4,
            new: i == 0,
            flow_id: 8,
            payload_offset: 54,
            payload_len: 600,
        };
        run.tap.frame(LinkType::Ethernet, &g, Some(at));
    }
    // Per flow: 600 kept, then 400 (200 cut), then headers only (600 cut twice).
    assert_eq!(run.tap.counters().cut_bytes, 2 * (200 + 600 + 600));
    assert_eq!(run.stop(), (0, 0));
    let conn = lab.conn();
    let mut out = Vec::new();
    let sel = Selection::Flows(vec![flow(7, 40000, 1_000 * SECOND, 1_000 * SECOND + 3)]);
    let r = extract(&conn, &sel, None, &mut out).unwrap();
    assert_eq!(r.packets, 4);
    assert!(r.complete());
    // Read back: full, cut to 400, then headers only (54 bytes).
    let p = lab.dir.path().join("x.pcap");
    std::fs::write(&p, &out).unwrap();
    let mut rd = pcapfile::Reader::open(&p).unwrap();
    let mut buf = Vec::new();
    let mut lens = Vec::new();
    while let Some(rec) = rd.next(&mut buf).unwrap() {
        assert_eq!(rec.wire_len as usize, data.len());
        lens.push(buf.len());
    }
    assert_eq!(lens, vec![654, 454, 54, 54]);
}

#[test]
fn retention_deletes_the_oldest_files_and_extraction_names_the_gap() {
    let lab = Lab::new();
    // Files of about 10 frames; room for three of them.
    let data = tcp_frame(1, 40000, 2, 104, 960);
    let file = 10 * (16 + data.len() as u64) + 24;
    let mut run = lab.start(&lab.opts(file, 3 * file + 100, 0));
    for i in 0..100 {
        let f = Frame {
            ts: (1_000 + i) * SECOND,
            wire_len: data.len() as u32,
            data: &data,
        };
        let at = FlowFrame {
            slot: 1,
            new: i == 0,
            flow_id: 1,
            payload_offset: 54,
            payload_len: 960,
        };
        run.tap.frame(LinkType::Ethernet, &f, Some(at));
        // Several blocks, so that the thread rotates as it goes.
        run.tap.flush();
    }
    let (not_written, deleted) = run.stop();
    assert_eq!(not_written, 0);
    let conn = lab.conn();
    let kept = index::kept_files(&conn).unwrap();
    let on_disk: u64 = std::fs::read_dir(lab.dir.path().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 3 * file + 100, "{on_disk} bytes kept");
    assert_eq!(deleted, 10 - kept.len() as u64);
    // The oldest went first: the kept ones are the newest ids.
    let ids: Vec<i64> = kept.iter().map(|f| f.file_id).collect();
    assert_eq!(ids, (11 - kept.len() as i64..=10).collect::<Vec<_>>());
    let s = index::summary(&conn).unwrap();
    assert_eq!((s.files, s.files_deleted), (kept.len() as u64, deleted));
    // The flow spans every file: what is left comes out, the rest is named.
    let sel = Selection::Flows(vec![flow(1, 40000, 1_000 * SECOND, 1_100 * SECOND)]);
    let r = extract(&conn, &sel, None, &mut Vec::new()).unwrap();
    assert_eq!(r.packets, 10 * kept.len() as u64);
    assert_eq!(r.gaps.len() as u64, deleted);
    assert!(
        r.gaps[0]
            .reason
            .starts_with("deleted by retention (max_total_mib)"),
        "{:?}",
        r.gaps[0]
    );
}

#[test]
fn a_file_left_open_by_a_crash_is_repaired_and_the_next_start_writes_a_new_one() {
    let lab = Lab::new();
    let data = tcp_frame(1, 40000, 2, 104, 100);
    let mut run = lab.start(&lab.opts(1 << 20, 8 << 20, 0));
    for i in 0..3 {
        let f = Frame {
            ts: (1_000 + i) * SECOND,
            wire_len: data.len() as u32,
            data: &data,
        };
        run.tap.frame(LinkType::Ethernet, &f, None);
    }
    run.stop();
    // As a crash leaves it: still "open" in the index, half a record at the end.
    let conn = lab.conn();
    let f = index::kept_files(&conn).unwrap().remove(0);
    conn.execute("UPDATE archive_files SET state = 'open', packets = 0", [])
        .unwrap();
    let mut bytes = std::fs::read(f.path()).unwrap();
    bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 200, 0, 0, 0, 1, 2]);
    std::fs::write(f.path(), &bytes).unwrap();
    let mut run = lab.start(&lab.opts(1 << 20, 8 << 20, 0));
    let g = Frame {
        ts: 2_000 * SECOND,
        wire_len: data.len() as u32,
        data: &data,
    };
    run.tap.frame(LinkType::Ethernet, &g, None);
    run.stop();
    let files = index::kept_files(&conn).unwrap();
    assert_eq!(files.len(), 2, "a new file, not appended to the old");
    assert_eq!(
        (
            files[0].state.as_str(),
            files[0].packets,
            files[0].flows_complete
        ),
        ("repaired", 3, false)
    );
    assert_eq!(std::fs::metadata(f.path()).unwrap().len(), files[0].bytes);
    assert_eq!((files[1].state.as_str(), files[1].packets), ("closed", 1));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&files[1].path()), 0o600);
    assert_eq!(mode(&lab.dir.path().join("archive")), 0o700);
}

#[test]
fn a_full_pool_drops_frames_live_and_counts_them() {
    let lab = Lab::new();
    let mut opts = lab.opts(1 << 20, 8 << 20, 0);
    opts.wait = None;
    opts.queue_bytes = 2 << 20;
    let mut run = lab.start(&opts);
    let big = vec![0u8; 60_000];
    // Far more than two blocks at once: the thread cannot keep up.
    for i in 0..2_000 {
        let f = Frame {
            ts: i,
            wire_len: big.len() as u32,
            data: &big,
        };
        run.tap.frame(LinkType::Ethernet, &f, None);
    }
    let c = run.tap.archive_counters();
    run.stop();
    assert_eq!(c.frames + c.dropped, 2_000);
    assert!(c.dropped > 0, "{c:?}");
}
