//! The writer thread: drains the record channel into SQLite in batched
//! transactions. The only thread that writes the database.
//!
//! Every record that cannot be written is counted, and the count reaches
//! the database in the next statistics row that can be written: a failure
//! is only "accounted" once a committed row holds it. Statistics rows that
//! fail are kept and retried; at the end of a session the writer makes a
//! last attempt, with the lock file's disk reserve released if needed, and
//! reports what still could not be recorded.

use super::chain;
use super::failure_log::FailureLog;
use super::lock::WriterLock;
use super::retention::{self, Retention};
use super::rows::session::{self as sessions, Progress, SessionInfo};
use super::rows::{alert, anomaly, device, dhcp, dicom, flow, hl7, mqtt, stats};
use super::StoreError;
use crate::event::Event;
use crate::kinds::PrunedTable;
use crate::stats::StatsRecord;
use crossbeam_channel::Receiver;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest a record waits in the open transaction before it is committed
/// (and visible to `medtap` queries).
pub const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// Longest an alert waits in the open transaction of a live sensor: the
/// security office tails alerts (`alerts --follow`), and sees one within a
/// second. (Reading files, alerts wait like other records: committing ten
/// times a second rewrites the same index pages ten times as often.)
pub const ALERT_COMMIT_WITHIN: Duration = Duration::from_millis(100);

/// Statistics rows kept for retry while the database refuses them; past
/// this, a new row is counted as not written.
const MAX_PENDING_STATS: usize = 1024;

/// Counters the writer keeps; readable from other threads.
#[derive(Debug, Default)]
pub struct WriterCounters {
    /// Rows written.
    pub written: AtomicU64,
    /// Records that could not be written (SQL error, failed commit).
    pub failed: AtomicU64,
    /// Rows deleted by retention, by table ([`PrunedTable::ALL`] order).
    pub pruned: [AtomicU64; PrunedTable::COUNT],
}

/// What a finished writer reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterTotals {
    /// Records written.
    pub written: u64,
    /// Records not written.
    pub failed: u64,
    /// Whether every failure and the session's end reached the database.
    /// When false, `medtap status` under-reports this session's losses.
    pub accounted: bool,
}

/// A database opened for writing by this process alone: the write lock is
/// held, the schema is current, and this session has its row.
pub struct Store {
    path: PathBuf,
    conn: Connection,
    lock: WriterLock,
    session_id: i64,
    retention: retention::Policy,
}

impl Store {
    /// Takes the write lock of `path` (refusing if another process holds
    /// it), creates the database (mode 0600) or migrates it, and records
    /// the session.
    pub fn open_writer(path: &Path, info: &SessionInfo) -> Result<Store, StoreError> {
        let now = crate::time::now();
        let holder = format!(
            "pid {} `medtap {} {}` since {}",
            std::process::id(),
            info.command,
            info.source,
            crate::time::rfc3339(now)
        );
        let lock = WriterLock::acquire(path, &holder)?;
        let conn = super::open(path)?;
        let session_id = sessions::start(&conn, info, now).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store {
            path: path.to_path_buf(),
            conn,
            lock,
            session_id,
            retention: retention::Policy::default(),
        })
    }

    /// Sets what the writer prunes ([`retention`]) and records the
    /// settings for `medtap status`. Without it nothing is pruned.
    pub fn set_retention(&mut self, policy: retention::Policy) -> Result<(), StoreError> {
        policy.record(&self.conn)?;
        self.retention = policy;
        Ok(())
    }

    /// The first flow id this session may hand out (safe: no other writer).
    pub fn next_flow_id(&self) -> Result<u64, StoreError> {
        Ok(flow::max_flow_id(&self.conn)? + 1)
    }

    /// One past the highest alert id stored.
    pub fn next_alert_id(&self) -> Result<u64, StoreError> {
        Ok(alert::max_alert_id(&self.conn)? + 1)
    }

    /// When the learning period started (microseconds), recording `now`
    /// as its start on a database that has none.
    pub fn learning_started(&self, now: crate::time::Micros) -> Result<i64, StoreError> {
        Ok(alert::state_or_set(&self.conn, "learning_started_us", now)?)
    }

    /// What earlier runs saw devices offer (see
    /// [`super::rows::baseline::served_history`]).
    pub fn served_history(&self) -> Result<super::rows::baseline::ServedHistory, StoreError> {
        Ok(super::rows::baseline::served_history(
            &self.conn,
            crate::time::Micros::MAX,
        )?)
    }

    /// Replaces the asset list snapshot (`assets` table) with `rows`: the
    /// list this session runs with, for the query commands.
    pub fn replace_assets(
        &mut self,
        rows: &[super::rows::assets::AssetRow],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        super::rows::assets::replace(&tx, rows)?;
        tx.commit()?;
        Ok(())
    }

    /// What the packet archive's index holds at start.
    pub fn archive_files(&self) -> Result<super::rows::archive::ArchiveIndex, StoreError> {
        Ok(super::rows::archive::ArchiveIndex {
            kept: super::rows::archive::kept_files(&self.conn)?,
            max_file_id: super::rows::archive::max_file_id(&self.conn)?,
        })
    }

    /// This session's row id.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// Starts the writer thread on `rx`. It ends when every
    /// [`crate::event::EventSender`] is dropped; then call
    /// [`Writer::finish`]. A transaction holds at most `batch_rows`
    /// records, and one holding an alert commits within `alert_within`
    /// ([`ALERT_COMMIT_WITHIN`] live, [`COMMIT_EVERY`] for files).
    pub fn spawn_writer(
        self,
        rx: Receiver<Event>,
        batch_rows: usize,
        alert_within: Duration,
    ) -> Result<Writer, StoreError> {
        let counters = Arc::new(WriterCounters::default());
        let c = Arc::clone(&counters);
        let retention = Retention::new(self.retention, &self.conn)?;
        let state = State {
            conn: self.conn,
            session_id: self.session_id,
            unaccounted: 0,
            pending_stats: Vec::new(),
            failures: FailureLog::default(),
            alert_within,
            retention,
        };
        let handle = std::thread::Builder::new()
            .name("medtap-writer".into())
            .spawn(move || run(state, rx, batch_rows.max(1), &c))
            .map_err(|e| StoreError::Open {
                path: self.path.clone(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(Writer {
            handle,
            counters,
            lock: self.lock,
        })
    }
}

/// A running writer thread.
pub struct Writer {
    handle: JoinHandle<State>,
    counters: Arc<WriterCounters>,
    lock: WriterLock,
}

impl Writer {
    /// Shared counters.
    pub fn counters(&self) -> Arc<WriterCounters> {
        Arc::clone(&self.counters)
    }

    /// Waits until every sender is gone and the channel is drained, then
    /// records the session's last accounting and its clean end
    /// (`end_reason`). Uses the disk reserve if the database is full.
    pub fn finish(self, end_reason: &str) -> WriterTotals {
        self.finish_with(end_reason, None)
    }

    /// As [`Writer::finish`], recording `last` (counted after the stream
    /// ended: what the outputs delivered at the very end) with the
    /// session's last accounting.
    pub fn finish_with(mut self, end_reason: &str, last: Option<StatsRecord>) -> WriterTotals {
        let c = &self.counters;
        let Ok(mut state) = self.handle.join() else {
            tracing::error!("writer thread panicked; this session's end is not recorded");
            return WriterTotals {
                written: c.written.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                accounted: false,
            };
        };
        state.pending_stats.extend(last);
        if (state.unaccounted > 0 || state.retention.has_unrecorded())
            && state.pending_stats.is_empty()
        {
            // Failures (or rows pruned) after the last statistics row: a
            // row of their own.
            let now = crate::time::now();
            state.pending_stats.push(StatsRecord {
                source: "medtap writer".into(),
                period_start: now,
                period_end: now,
                ..StatsRecord::default()
            });
        }
        let mut accounted = state.flush_stats(c, Some(end_reason)).is_ok();
        if !accounted && self.lock.release_reserve() {
            tracing::warn!(
                "database full: using the reserved space to record this session's losses"
            );
            accounted = state.flush_stats(c, Some(end_reason)).is_ok();
        }
        if !accounted {
            let lost = state.pending_stats.len() as u64;
            c.failed.fetch_add(lost, Ordering::Relaxed);
            tracing::error!(
                unrecorded_failures = state.unaccounted,
                statistics_rows_lost = lost,
                "could not record this session's losses and end in the database: `medtap status` under-reports them"
            );
        }
        state.failures.finish();
        WriterTotals {
            written: c.written.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            accounted,
        }
    }
}

/// Writes one data record into its table (a statistics row too, though
/// the writer accounts those itself, see [`State::flush_stats`]).
fn insert_record(tx: &rusqlite::Transaction<'_>, r: &Event) -> rusqlite::Result<()> {
    match r {
        Event::Flow(f) => flow::insert(tx, f),
        Event::Device(d) => device::upsert(tx, d),
        Event::DeviceIp(d) => device::upsert_ip(tx, d),
        Event::DeviceName(n) => device::upsert_name(tx, n),
        Event::DeviceChange(c) => device::insert_change(tx, c),
        Event::DeviceClass(c) => device::update_class(tx, c),
        Event::Dhcp(m, _) => dhcp::insert(tx, m.0, &m.1),
        Event::Dhcp6(m, _) => dhcp::insert_v6(tx, m.0, &m.1.record, m.1.client_mac),
        Event::Stats(s) => stats::insert(tx, s, None),
        Event::Anomaly(a) => anomaly::insert(tx, a),
        Event::Dicom(d, _) => dicom::insert(tx, d.0, &d.1),
        Event::Hl7(m, _) => hl7::insert(tx, m.0, &m.1),
        Event::Mqtt(m, _) => mqtt::insert(tx, m.0, &m.1),
        Event::Alert(a) => alert::upsert(tx, a),
        Event::AlertSeen(s) => alert::seen(tx, s),
        Event::ArchiveIndex(op) => super::rows::archive::apply(tx, op),
        Event::Assets(list) => {
            let rows: Vec<_> = list
                .iter()
                .map(super::rows::assets::AssetRow::from)
                .collect();
            super::rows::assets::replace(tx, &rows)
        }
    }
}

/// What the writer thread owns.
struct State {
    conn: Connection,
    session_id: i64,
    /// Records not written whose count is not yet in a committed
    /// statistics row.
    unaccounted: u64,
    /// Statistics rows not yet committed, oldest first.
    pending_stats: Vec<StatsRecord>,
    failures: FailureLog,
    /// Longest an alert waits in the open transaction.
    alert_within: Duration,
    /// What to prune, the clock, what was pruned.
    retention: Retention,
}

fn run(mut st: State, rx: Receiver<Event>, batch_rows: usize, c: &WriterCounters) -> State {
    // Block for the first record of a transaction (or until a retention
    // step is due); the rest of the transaction is whatever arrives within
    // COMMIT_EVERY. Retention prunes between transactions, never in one.
    loop {
        let next = match st.retention.due() {
            Some(due) => match rx.recv_deadline(due) {
                Ok(e) => Some(e),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(e) => Some(e),
                Err(_) => break,
            },
        };
        if let Some(first) = next {
            st.write_batch(first, &rx, batch_rows, c);
        }
        let pruned = st.retention.step_if_due(&mut st.conn, st.session_id);
        count_pruned(c, &pruned);
    }
    let pruned = st
        .retention
        .catch_up(&mut st.conn, st.session_id, retention::FINISH_BUDGET);
    count_pruned(c, &pruned);
    st
}

fn count_pruned(c: &WriterCounters, pruned: &retention::Counts) {
    for (a, n) in c.pruned.iter().zip(pruned) {
        if *n > 0 {
            a.fetch_add(*n, Ordering::Relaxed);
        }
    }
}

impl State {
    /// Writes `first` and the data records that follow it within
    /// [`COMMIT_EVERY`] (at most `batch_rows`) in one transaction, then any
    /// statistics row (with the failures so far) in another. A statistics
    /// row ends the transaction early: it closes a period (a file, a
    /// reporting interval) whose records should be committed with it.
    ///
    /// Why wait: a commit costs the WAL frames of every page the
    /// transaction touched, whatever its size; committing whenever the
    /// queue is momentarily empty made the writer commit a few rows at a
    /// time and spend most of its time on page writes and checksums.
    fn write_batch(
        &mut self,
        first: Event,
        rx: &Receiver<Event>,
        batch_rows: usize,
        c: &WriterCounters,
    ) {
        let deadline = Instant::now() + COMMIT_EVERY;
        let (taken, written) = self.write_data(first, rx, batch_rows, deadline, c);
        c.written.fetch_add(written, Ordering::Relaxed);
        c.failed.fetch_add(taken - written, Ordering::Relaxed);
        self.unaccounted += taken - written;
        // Stats rows that failed earlier are retried with every batch.
        if !self.pending_stats.is_empty() {
            let _ = self.flush_stats(c, None);
        }
    }

    /// The transaction of [`State::write_batch`]: returns how many data
    /// records it took from the queue and how many were committed.
    fn write_data(
        &mut self,
        first: Event,
        rx: &Receiver<Event>,
        batch_rows: usize,
        mut deadline: Instant,
        c: &WriterCounters,
    ) -> (u64, u64) {
        let tx = self.conn.transaction();
        let (mut taken, mut inserted) = (0u64, 0u64);
        let mut chained = chain::Touched::default();
        let mut next = Some(first);
        while let Some(event) = next.take() {
            if let Event::Stats(s) = event {
                if self.pending_stats.len() < MAX_PENDING_STATS {
                    self.pending_stats.push(*s);
                } else {
                    c.failed.fetch_add(1, Ordering::Relaxed);
                    self.unaccounted += 1;
                    self.failures.note(&"too many statistics rows waiting", 1);
                }
                break;
            }
            taken += 1;
            if let Ok(tx) = &tx {
                match insert_record(tx, &event) {
                    Ok(()) => {
                        inserted += 1;
                        self.retention.saw(&event);
                        chained.note(&event);
                    }
                    Err(e) => self.failures.note(&e, 1),
                }
            }
            if matches!(event, Event::Alert(_) | Event::AlertSeen(_)) {
                // An alert reaches the database within a second of its
                // packet: its batch commits soon, not at the full interval.
                deadline = deadline.min(Instant::now() + self.alert_within);
            }
            drop(event);
            if taken as usize >= batch_rows {
                break;
            }
            next = rx.recv_deadline(deadline).ok();
        }
        // The chain's batch goes in the same transaction: rows and their
        // evidence commit together, or neither does.
        let written = match tx {
            Ok(tx) => match chain::append(&tx, &mut chained, crate::time::now())
                .and_then(|_| tx.commit())
            {
                Ok(()) => inserted,
                Err(e) => {
                    self.failures.note(&e, inserted);
                    0
                }
            },
            Err(e) => {
                self.failures.note(&e, taken);
                0
            }
        };
        (taken, written)
    }

    /// Commits the pending statistics rows (the first carries every failure
    /// not yet accounted) and the session's progress, or its end.
    fn flush_stats(&mut self, c: &WriterCounters, end: Option<&str>) -> rusqlite::Result<()> {
        let res = self.try_flush_stats(c, end);
        match &res {
            Ok(()) => {
                c.written
                    .fetch_add(self.pending_stats.len() as u64, Ordering::Relaxed);
                self.pending_stats.clear();
                self.unaccounted = 0;
                self.retention.recorded();
            }
            // Not counted as failed yet: the rows stay pending for retry.
            Err(e) => self.failures.note(e, 0),
        }
        res
    }

    fn try_flush_stats(&mut self, c: &WriterCounters, end: Option<&str>) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        let unaccounted = self.unaccounted;
        let pruned = self.retention.unrecorded();
        for (i, s) in self.pending_stats.iter_mut().enumerate() {
            s.records_failed = if i == 0 { unaccounted } else { 0 };
            s.pruned_rows = if i == 0 {
                pruned
            } else {
                [0; PrunedTable::COUNT]
            };
            stats::insert(&tx, s, Some(self.session_id))?;
        }
        let progress = Progress {
            now: crate::time::now(),
            written: c.written.load(Ordering::Relaxed) + self.pending_stats.len() as u64,
            failed: c.failed.load(Ordering::Relaxed),
            end,
        };
        sessions::update(&tx, self.session_id, &progress)?;
        tx.commit()
    }
}
