//! The packet archive: a bounded ring of capture files on the sensor, from
//! which an alert's packets are extracted and replayed (DB3205/T A.3 e):
//! traffic kept to trace an incident back; 5.5 d): evidence after one).
//!
//! ```text
//! hot path: Tap ──(1 MiB blocks, bounded pool)──▶ archive thread: Ring
//!   copy, cut to the per-flow                      pcap files (0600, rotation,
//!   payload cap; drop when no                      retention), index in the
//!   block is free (counted)                        database (own connection)
//! ```
//!
//! The hot path copies each frame into a block taken from a fixed pool and
//! hands full blocks over; the archive thread writes them and gives them
//! back. No allocation per frame, no lock, no I/O on the hot path; a slow
//! disk costs archived frames (counted), never capture.

pub mod block;
pub mod extract;
pub mod pcapfile;
mod ring;
pub mod tap;

pub use crate::store::rows::archive::ArchiveIndex;
pub use tap::{FlowFrame, Tap, TapCounters};

use crate::config::ArchiveConfig;
use crate::time::{Micros, SECOND};
use ring::{Ring, RingOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the archive thread counts (running totals, read with the
/// statistics).
#[derive(Debug, Default)]
pub struct RingCounters {
    /// Frames that could not be written (a file could not be created or
    /// written: disk full, permissions).
    pub not_written: AtomicU64,
    /// Files deleted by retention.
    pub files_deleted: AtomicU64,
}

/// The archive's running totals, hot path and thread together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchiveCounters {
    /// Frames handed to the archive thread.
    pub frames: u64,
    /// Frames not archived because its queue was full.
    pub dropped: u64,
    /// Payload bytes cut by the per-flow cap.
    pub cut_bytes: u64,
    /// Frames the thread could not write.
    pub not_written: u64,
    /// Files deleted by retention.
    pub files_deleted: u64,
}

impl ArchiveCounters {
    /// Frames lost to the archive: dropped or not written.
    pub fn lost(&self) -> u64 {
        self.dropped + self.not_written
    }
}

impl Tap {
    /// The archive's running totals so far.
    pub fn archive_counters(&self) -> ArchiveCounters {
        let t = self.counters();
        let r = self.ring_counters();
        ArchiveCounters {
            frames: t.frames,
            dropped: t.dropped,
            cut_bytes: t.cut_bytes,
            not_written: r.not_written.load(Ordering::Relaxed),
            files_deleted: r.files_deleted.load(Ordering::Relaxed),
        }
    }
}

/// Why the archive could not start.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The directory could not be made or used.
    #[error("archive directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The thread could not be started.
    #[error("cannot start the archive thread: {0}")]
    Thread(std::io::Error),
}

/// What the archive is built from (the config's `[archive]`).
#[derive(Clone, Debug)]
pub struct ArchiveOptions {
    /// Directory of the files.
    pub dir: PathBuf,
    /// Largest file.
    pub file_bytes: u64,
    /// Longest span of a file (packet time).
    pub file_span: Micros,
    /// Most bytes kept.
    pub max_total: u64,
    /// Oldest file kept (0: no limit).
    pub max_age: Micros,
    /// Payload bytes kept per flow (0: all).
    pub max_payload_per_flow: u64,
    /// Bytes of the block pool.
    pub queue_bytes: u64,
    /// How long the hot path waits for a free block before dropping a
    /// frame: `None` live (never wait), some time reading files (nothing
    /// is gained by dropping).
    pub wait: Option<Duration>,
}

impl ArchiveOptions {
    /// The options `cfg` asks for, writing to `dir`.
    pub fn from_config(cfg: &ArchiveConfig, dir: &Path, wait: Option<Duration>) -> ArchiveOptions {
        let days = i64::try_from(cfg.max_days).unwrap_or(36_500);
        ArchiveOptions {
            dir: dir.to_path_buf(),
            file_bytes: cfg.file_mib << 20,
            file_span: i64::try_from(cfg.file_secs).unwrap_or(86_400) * SECOND,
            max_total: cfg.max_total_mib << 20,
            max_age: days * 86_400 * SECOND,
            max_payload_per_flow: cfg.max_payload_per_flow,
            queue_bytes: cfg.queue_mib << 20,
            wait,
        }
    }
}

/// The running archive thread.
pub struct Archive {
    handle: JoinHandle<()>,
    counters: Arc<RingCounters>,
}

impl Archive {
    /// Makes the directory (0700), takes over the files the index lists
    /// (`index`: [`Store::archive_files`](crate::store::Store::archive_files),
    /// repairing any a crash left open) and starts the thread. Index
    /// changes go to the store writer's queue `store`. Returns the hot
    /// path's end, sized for `max_flows` flow slots.
    pub fn start(
        opts: &ArchiveOptions,
        index: ArchiveIndex,
        store: crossbeam_channel::Sender<crate::event::Event>,
        max_flows: usize,
    ) -> Result<(Archive, Tap), ArchiveError> {
        private_dir(&opts.dir)?;
        // The index keeps the absolute path: `medtap extract` may run
        // from anywhere.
        let dir = std::fs::canonicalize(&opts.dir).map_err(|source| ArchiveError::Dir {
            path: opts.dir.clone(),
            source,
        })?;
        let counters = Arc::new(RingCounters::default());
        let ring_opts = RingOptions {
            dir,
            file_bytes: opts.file_bytes,
            file_span: opts.file_span,
            max_total: opts.max_total,
            max_age: opts.max_age,
        };
        let sink = ring::IndexSink {
            tx: store,
            wait: opts.wait,
        };
        let ring = Ring::new(
            ring_opts,
            index.kept,
            index.max_file_id + 1,
            sink,
            Arc::clone(&counters),
        );
        let blocks = usize::try_from(opts.queue_bytes / block::BLOCK_BYTES as u64)
            .unwrap_or(2)
            .max(2);
        let (free_tx, free_rx) = crossbeam_channel::bounded(blocks);
        let (full_tx, full_rx) = crossbeam_channel::bounded(blocks);
        for _ in 0..blocks {
            let _ = free_tx.send(block::Block::new());
        }
        let handle = std::thread::Builder::new()
            .name("medtap-archive".into())
            .spawn(move || ring.run(full_rx, free_tx))
            .map_err(ArchiveError::Thread)?;
        let tap = Tap::new(
            free_rx,
            full_tx,
            max_flows,
            opts.max_payload_per_flow,
            Arc::clone(&counters),
            opts.wait,
        );
        tracing::info!(dir = %opts.dir.display(), max_mib = opts.max_total >> 20, payload_cap = opts.max_payload_per_flow, "archiving frames");
        Ok((Archive { handle, counters }, tap))
    }

    /// Waits for the thread to write what the (dropped) [`Tap`] handed it
    /// and close its file; returns its counters then.
    pub fn finish(self) -> (u64, u64) {
        if self.handle.join().is_err() {
            tracing::error!("archive thread panicked");
        }
        (
            self.counters.not_written.load(Ordering::Relaxed),
            self.counters.files_deleted.load(Ordering::Relaxed),
        )
    }
}

/// Creates `dir` mode 0700, or makes an existing one 0700: the files hold
/// raw traffic of a hospital.
fn private_dir(dir: &Path) -> Result<(), ArchiveError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let err = |source| ArchiveError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    let mode = std::fs::metadata(dir).map_err(err)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "archive directory was readable by others: made 0700");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
