//! The archive thread: writes the blocks the hot path fills into rotating
//! capture files, keeps their index in the database and deletes the oldest
//! files past the byte and age budgets.

use super::block::Block;
use super::pcapfile::{self, dlt_of, file_header, put_record};
use super::RingCounters;
use crate::decode::LinkType;
use crate::event::archive::{FileState, IndexOp};
use crate::event::Event;
use crate::store::failure_log::FailureLog;
use crate::store::rows::archive::{self as index, FileRow};
use crate::time::Micros;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
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

/// How long the last index changes wait for room in the writer's queue
/// at the end of a session (it is draining then).
const END_WAIT: Duration = Duration::from_secs(60);

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
    name: String,
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

/// Where index changes go: the store writer's queue. Live, never waited
/// on (a change that finds it full is kept and offered again); reading
/// files, waited on as every other record is.
pub(super) struct IndexSink {
    /// The store writer's queue.
    pub tx: Sender<Event>,
    /// How long to wait for room (`None`: not at all).
    pub wait: Option<Duration>,
}

impl IndexSink {
    /// Hands `op` to the writer; gives it back if there was no room.
    fn offer(&self, op: Box<IndexOp>) -> Result<(), Option<Box<IndexOp>>> {
        let ev = Event::ArchiveIndex(op);
        let back = |e: Event| match e {
            Event::ArchiveIndex(op) => Some(op),
            _ => None,
        };
        match self.wait {
            None => self.tx.try_send(ev).map_err(|e| match e {
                crossbeam_channel::TrySendError::Full(e) => back(e),
                crossbeam_channel::TrySendError::Disconnected(_) => None,
            }),
            Some(w) => self.tx.send_timeout(ev, w).map_err(|e| match e {
                crossbeam_channel::SendTimeoutError::Timeout(e) => back(e),
                crossbeam_channel::SendTimeoutError::Disconnected(_) => None,
            }),
        }
    }
}

pub(super) struct Ring {
    opts: RingOptions,
    index: IndexSink,
    /// Index changes the writer had no room for, oldest first.
    pending: VecDeque<Box<IndexOp>>,
    /// The next file's id.
    next_id: i64,
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
    /// Takes over the files the index lists (`kept`; new files get ids from
    /// `next_id` on): those a crash left open are made whole (their flows
    /// may be incomplete in the index).
    pub(super) fn new(
        opts: RingOptions,
        kept_rows: Vec<FileRow>,
        next_id: i64,
        index: IndexSink,
        counters: Arc<RingCounters>,
    ) -> Ring {
        let mut ring = Ring {
            opts,
            index,
            pending: VecDeque::new(),
            next_id,
            current: None,
            kept: VecDeque::new(),
            newest: Micros::MIN,
            counters,
            out: Vec::with_capacity(WRITE_CHUNK + (1 << 16)),
            out_frames: 0,
            failures: FailureLog::default(),
            create_failed: false,
        };
        for mut f in kept_rows {
            if f.state == index::OPEN {
                match pcapfile::repair(&f.path(), f.link) {
                    Ok(s) => {
                        if s.truncated > 0 {
                            tracing::warn!(file = %f.path().display(), bytes = s.truncated, "archive file left by a crash: cut record removed");
                        }
                        (f.first_us, f.last_us, f.packets, f.bytes) =
                            (s.first, s.last, s.packets, s.bytes);
                        let state = FileState {
                            file_id: f.file_id,
                            dir: f.dir.clone(),
                            name: f.name.clone(),
                            link: f.link,
                            first_us: s.first,
                            last_us: s.last,
                            packets: s.packets,
                            bytes: s.bytes,
                            state: index::REPAIRED,
                            flows_complete: false,
                        };
                        ring.send(IndexOp::File {
                            file: state,
                            flows: Vec::new(),
                        });
                    }
                    Err(e) => {
                        tracing::warn!(file = %f.path().display(), "archive file left by a crash cannot be read ({e}); forgotten");
                        ring.send(IndexOp::Deleted {
                            file_id: f.file_id,
                            at: crate::time::now(),
                            reason: "unreadable",
                        });
                        continue;
                    }
                }
            }
            ring.newest = ring.newest.max(f.last_us.unwrap_or(Micros::MIN));
            ring.kept.push_back(Kept {
                id: f.file_id,
                path: f.path(),
                bytes: f.bytes,
                last: f.last_us,
            });
        }
        ring
    }

    /// Hands `op` to the writer after the changes still waiting, or keeps
    /// it waiting.
    fn send(&mut self, op: IndexOp) {
        self.pending.push_back(Box::new(op));
        self.flush_pending();
    }

    /// Offers the waiting index changes, oldest first, until one finds no
    /// room.
    fn flush_pending(&mut self) {
        while let Some(op) = self.pending.pop_front() {
            match self.index.offer(op) {
                Ok(()) => {}
                Err(Some(op)) => {
                    self.pending.push_front(op);
                    return;
                }
                Err(None) => {
                    self.failures
                        .note(&"archive index: the database writer has stopped", 1);
                }
            }
        }
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
            if !self.pending.is_empty() {
                self.flush_pending();
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
        // The session ends: the writer drains its queue, so wait for room.
        self.index.wait = Some(END_WAIT);
        self.flush_pending();
        if !self.pending.is_empty() {
            self.failures.note(
                &"archive index: changes not written at the end",
                self.pending.len() as u64,
            );
        }
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
                Ok(()) => cur.bytes += self.out.len() as u64,
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
        self.enforce_budget();
        // A name already taken (another database's archive in the same
        // directory) is skipped for the next id.
        for _ in 0..1000 {
            match self.try_open(link) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.next_id += 1,
                Err(e) => {
                    self.create_failed = true;
                    let dir = self.opts.dir.display().to_string();
                    self.failures.note(&format!("archive {dir}: {e}"), 0);
                    return;
                }
            }
        }
        self.create_failed = true;
    }

    /// Creates the file with the next id, its header written.
    fn try_open(&mut self, link: LinkType) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let id = self.next_id;
        let t = chrono::DateTime::from_timestamp_micros(self.newest.max(0))
            .unwrap_or_default()
            .format("%Y%m%dT%H%M%SZ");
        let name = format!("medtap-{id:08}-{t}.pcap");
        let path = self.opts.dir.join(&name);
        let dlt = dlt_of(link);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(&file_header(dlt))?;
        tracing::debug!(file = %path.display(), "archive file started");
        self.next_id += 1;
        self.current = Some(Current {
            id,
            name,
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
        self.index_current(index::OPEN);
        Ok(())
    }

    /// Offers the current file's row and its new flows to the index; what
    /// finds no room stays marked and goes with the next offer.
    fn index_current(&mut self, state: &'static str) {
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
        let op = IndexOp::File {
            file: FileState {
                file_id: cur.id,
                dir: self.opts.dir.display().to_string(),
                name: cur.name.clone(),
                link: dlt_of(cur.link),
                first_us: cur.first,
                last_us: cur.last,
                packets: cur.packets,
                bytes: cur.bytes,
                state,
                flows_complete: true,
            },
            flows,
        };
        // A closing file's last change must not be lost: it waits in line.
        if state != index::OPEN {
            cur.flows.values_mut().for_each(|e| e.dirty = false);
            self.send(op);
            return;
        }
        if !self.pending.is_empty() {
            return;
        }
        if self.index.offer(Box::new(op)).is_ok() {
            cur.flows.values_mut().for_each(|e| e.dirty = false);
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
            let Some(k) = self.kept.pop_front() else {
                break;
            };
            let bytes = k.bytes;
            if let Err(k) = self.delete(k, reason) {
                // Kept in the count (its bytes are still on disk) and
                // tried again at the next rotation, not forgotten.
                self.kept.push_front(k);
                break;
            }
            total -= bytes.min(total);
        }
    }

    /// Deletes a file by retention; gives it back if it could not be.
    fn delete(&mut self, k: Kept, reason: &'static str) -> Result<(), Kept> {
        match std::fs::remove_file(&k.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                self.failures.note(
                    &format!("archive {}: cannot delete: {e}", k.path.display()),
                    0,
                );
                return Err(k);
            }
        }
        self.counters.files_deleted.fetch_add(1, Ordering::Relaxed);
        tracing::info!(file = %k.path.display(), reason, "archive file deleted by retention");
        self.send(IndexOp::Deleted {
            file_id: k.id,
            at: crate::time::now(),
            reason,
        });
        Ok(())
    }
}
