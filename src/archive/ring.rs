//! The archive thread: writes the blocks the hot path fills into rotating
//! capture files, keeps their index in the database and deletes the oldest
//! files past the byte and age budgets.

use super::block::Block;
use super::pcapfile::{self, dlt_of, file_header, put_record};
use super::RingCounters;
use crate::decode::LinkType;
use crate::store::failure_log::FailureLog;
use crate::store::rows::archive::{self as index, FileUpdate};
use crate::time::Micros;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the index of the file being written reaches the database, so
/// that a live sensor's recent frames can be extracted.
const INDEX_EVERY: Duration = Duration::from_secs(2);

/// Bytes gathered before one write to the file: whole records per write,
/// so that a killed process leaves whole records in all but rare cases.
const WRITE_CHUNK: usize = 256 << 10;

/// What the archive thread is told.
#[derive(Clone, Debug)]
pub struct RingOptions {
    /// Directory of the files.
    pub dir: PathBuf,
    /// A file is closed past this many bytes.
    pub file_bytes: u64,
    /// ... or once it spans this long (packet time).
    pub file_span: Micros,
    /// Most bytes of files kept.
    pub max_total: u64,
    /// Files older than this (packet time) are deleted; 0: no age limit.
    pub max_age: Micros,
}

/// Where a flow's frames start in the current file.
struct FlowEntry {
    first_offset: u64,
    packets: u64,
    dirty: bool,
}

/// The file being written.
struct Current {
    id: i64,
    path: PathBuf,
    file: File,
    link: LinkType,
    first: Option<Micros>,
    last: Option<Micros>,
    packets: u64,
    /// Bytes written to the file (header included).
    bytes: u64,
    flows: HashMap<u64, FlowEntry>,
    indexed_at: Instant,
}

/// A file kept, oldest first.
struct Kept {
    id: i64,
    path: PathBuf,
    bytes: u64,
    last: Option<Micros>,
}

pub(super) struct Ring {
    opts: RingOptions,
    conn: Connection,
    current: Option<Current>,
    kept: VecDeque<Kept>,
    newest: Micros,
    counters: Arc<RingCounters>,
    /// Records gathered for the next write, and how many.
    out: Vec<u8>,
    out_frames: u64,
    failures: FailureLog,
    /// Creating a file failed: retried with the next block, not per frame.
    create_failed: bool,
}

impl Ring {
    /// Takes over the files already in the index: those a crash left open
    /// are made whole (their flows may be incomplete in the index).
    pub(super) fn new(
        opts: RingOptions,
        conn: Connection,
        counters: Arc<RingCounters>,
    ) -> rusqlite::Result<Ring> {
        let mut kept = VecDeque::new();
        let mut newest = Micros::MIN;
        for f in index::kept_files(&conn)? {
            let mut f = f;
            if f.state == index::OPEN {
                match pcapfile::repair(&f.path(), f.link) {
                    Ok(s) => {
                        if s.truncated > 0 {
                            tracing::warn!(file = %f.path().display(), bytes = s.truncated, "archive file left by a crash: cut record removed");
                        }
                        (f.first_us, f.last_us, f.packets, f.bytes) =
                            (s.first, s.last, s.packets, s.bytes);
                        index::update_file(
                            &conn,
                            f.file_id,
                            &FileUpdate {
                                first_us: s.first,
                                last_us: s.last,
                                packets: s.packets,
                                bytes: s.bytes,
                                state: index::REPAIRED,
                                flows_complete: false,
                            },
                            &[],
                        )?;
                    }
                    Err(e) => {
                        tracing::warn!(file = %f.path().display(), "archive file left by a crash cannot be read ({e}); forgotten");
                        index::mark_deleted(&conn, f.file_id, crate::time::now(), "unreadable")?;
                        continue;
                    }
                }
            }
            newest = newest.max(f.last_us.unwrap_or(Micros::MIN));
            kept.push_back(Kept {
                id: f.file_id,
                path: f.path(),
                bytes: f.bytes,
                last: f.last_us,
            });
        }
        Ok(Ring {
            opts,
            conn,
            current: None,
            kept,
            newest,
            counters,
            out: Vec::with_capacity(WRITE_CHUNK + (1 << 16)),
            out_frames: 0,
            failures: FailureLog::default(),
            create_failed: false,
        })
    }

    /// Writes blocks from `full` until the hot path's end closes it,
    /// handing each emptied block back on `free`.
    pub(super) fn run(mut self, full: Receiver<Block>, free: Sender<Block>) {
        self.enforce_budget();
        loop {
            match full.recv_timeout(INDEX_EVERY) {
                Ok(block) => {
                    self.write_block(&block);
                    // The hot path holds the other end until it finishes.
                    let _ = free.send(block);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self
                .current
                .as_ref()
                .is_some_and(|c| c.indexed_at.elapsed() >= INDEX_EVERY)
            {
                self.index_current(index::OPEN);
            }
        }
        self.close_current();
        self.failures.finish();
    }

    fn write_block(&mut self, block: &Block) {
        self.create_failed = false;
        for rec in block.records() {
            self.newest = self.newest.max(rec.ts);
            let size = (pcapfile::RECORD_HEADER + rec.data.len()) as u64;
            if self.must_rotate(block.link, rec.ts, size) {
                self.close_current();
                self.open_file(block.link);
            }
            let Some(cur) = self.current.as_mut() else {
                self.counters.not_written.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let offset = cur.bytes + self.out.len() as u64;
            put_record(&mut self.out, rec.ts, rec.wire_len, rec.data);
            self.out_frames += 1;
            cur.packets += 1;
            cur.first.get_or_insert(rec.ts);
            cur.last = Some(cur.last.map_or(rec.ts, |l| l.max(rec.ts)));
            if rec.flow_id != 0 {
                let e = cur.flows.entry(rec.flow_id).or_insert(FlowEntry {
                    first_offset: offset,
                    packets: 0,
                    dirty: true,
                });
                e.packets += 1;
                e.dirty = true;
            }
            if self.out.len() >= WRITE_CHUNK {
                self.write_out();
            }
        }
        self.write_out();
    }

    /// Whether a record of `size` bytes at `ts` of `link` starts a new file.
    fn must_rotate(&self, link: LinkType, ts: Micros, size: u64) -> bool {
        match &self.current {
            None => !self.create_failed,
            Some(c) => {
                let bytes = c.bytes + self.out.len() as u64;
                c.link != link
                    || (c.packets > 0 && bytes + size > self.opts.file_bytes)
                    || c.first
                        .is_some_and(|f| ts.saturating_sub(f) >= self.opts.file_span)
            }
        }
    }

    /// Writes the gathered records to the current file. On an error the
    /// file is cut back to its last whole record and the records are
    /// counted as not written.
    fn write_out(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let frames = std::mem::take(&mut self.out_frames);
        if let Some(cur) = self.current.as_mut() {
            match cur.file.write_all(&self.out) {
                Ok(()) => {
                    cur.bytes += self.out.len() as u64;
                    self.counters
                        .frames_written
                        .fetch_add(frames, Ordering::Relaxed);
                }
                Err(e) => {
                    let _ = cur.file.set_len(cur.bytes);
                    self.counters
                        .not_written
                        .fetch_add(frames, Ordering::Relaxed);
                    self.failures
                        .note(&format!("archive {}: {e}", cur.path.display()), frames);
                }
            }
        }
        self.out.clear();
    }

    /// Starts a new file for `link` frames (mode 0600, never an existing
    /// one), after making room for it.
    fn open_file(&mut self, link: LinkType) {
        use std::os::unix::fs::OpenOptionsExt;
        self.enforce_budget();
        let dir = self.opts.dir.display().to_string();
        let newest = self.newest;
        let name_of = |id: i64| {
            let t = chrono::DateTime::from_timestamp_micros(newest.max(0))
                .unwrap_or_default()
                .format("%Y%m%dT%H%M%SZ");
            format!("medtap-{id:08}-{t}.pcap")
        };
        let dlt = dlt_of(link);
        let created = index::create_file(&self.conn, &dir, dlt, &name_of)
            .map_err(|e| e.to_string())
            .and_then(|(id, name)| {
                let path = self.opts.dir.join(&name);
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .and_then(|mut f| f.write_all(&file_header(dlt)).map(|()| f))
                    .map_err(|e| format!("archive {}: {e}", path.display()))
                    .map(|f| (id, path, f))
            });
        match created {
            Ok((id, path, file)) => {
                tracing::debug!(file = %path.display(), "archive file started");
                self.current = Some(Current {
                    id,
                    path,
                    file,
                    link,
                    first: None,
                    last: None,
                    packets: 0,
                    bytes: pcapfile::FILE_HEADER,
                    flows: HashMap::new(),
                    indexed_at: Instant::now(),
                });
            }
            Err(e) => {
                self.create_failed = true;
                self.failures.note(&e, 0);
            }
        }
    }

    /// Writes the current file's row and its new flows to the index.
    fn index_current(&mut self, state: &str) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        cur.indexed_at = Instant::now();
        let flows: Vec<(u64, u64, u64)> = cur
            .flows
            .iter()
            .filter(|(_, e)| e.dirty)
            .map(|(&id, e)| (id, e.first_offset, e.packets))
            .collect();
        let u = FileUpdate {
            first_us: cur.first,
            last_us: cur.last,
            packets: cur.packets,
            bytes: cur.bytes,
            state,
            flows_complete: true,
        };
        match index::update_file(&self.conn, cur.id, &u, &flows) {
            Ok(()) => cur.flows.values_mut().for_each(|e| e.dirty = false),
            Err(e) => self.failures.note(&format!("archive index: {e}"), 0),
        }
    }

    /// Closes the file being written: flushed, synced, indexed as closed.
    fn close_current(&mut self) {
        self.write_out();
        if self.current.is_none() {
            return;
        }
        if let Some(cur) = self.current.as_mut() {
            if let Err(e) = cur.file.sync_data() {
                self.failures
                    .note(&format!("archive {}: {e}", cur.path.display()), 0);
            }
        }
        self.index_current(index::CLOSED);
        if let Some(cur) = self.current.take() {
            self.kept.push_back(Kept {
                id: cur.id,
                path: cur.path,
                bytes: cur.bytes,
                last: cur.last,
            });
        }
    }

    /// Deletes the oldest files while the files (the one being written and
    /// the next one included) exceed the byte budget, and every file older
    /// than the age limit.
    fn enforce_budget(&mut self) {
        let current = self.current.as_ref().map_or(0, |c| c.bytes);
        let mut total: u64 = self.kept.iter().map(|k| k.bytes).sum::<u64>() + current;
        let room_for_next = self.opts.file_bytes;
        while let Some(oldest) = self.kept.front() {
            let too_old = self.opts.max_age > 0
                && oldest
                    .last
                    .is_some_and(|l| l < self.newest.saturating_sub(self.opts.max_age));
            let over = total + room_for_next > self.opts.max_total;
            if !too_old && !over {
                break;
            }
            let reason = if over { "max_total_mib" } else { "max_days" };
            if let Some(k) = self.kept.pop_front() {
                total -= k.bytes.min(total);
                self.delete(k, reason);
            }
        }
    }

    fn delete(&mut self, k: Kept, reason: &str) {
        match std::fs::remove_file(&k.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                self.failures.note(
                    &format!("archive {}: cannot delete: {e}", k.path.display()),
                    0,
                );
                return;
            }
        }
        self.counters.files_deleted.fetch_add(1, Ordering::Relaxed);
        tracing::info!(file = %k.path.display(), reason, "archive file deleted by retention");
        if let Err(e) = index::mark_deleted(&self.conn, k.id, crate::time::now(), reason) {
            self.failures.note(&format!("archive index: {e}"), 0);
        }
    }
}
