//! Database retention (issue 15, item 5): the writer deletes what is older
//! than `store.retention_days` (flows and application records) and
//! `store.alert_retention_days` (alerts and device history), and the oldest
//! rows first while the database is larger than `store.max_db_mib`. A
//! sensor runs for months: China's Cybersecurity Law (art. 21) asks that
//! network logs be kept at least six months, and DB3205/T A.4 e) limits how
//! long data about patients' devices is kept.
//!
//! **Clock.** Age is counted back from the newest record time the writer
//! has written (packet time: a flow's end, an alert's last sighting, an
//! HL7 or DHCP message), not from the wall clock, so an imported 2019
//! capture is aged by its own clock and not deleted at once; a live
//! sensor's packet time is wall time anyway. A record time more than
//! [`CLOCK_SLACK`] past the wall clock (a broken capture header) is not
//! trusted: it would age everything else out.
//!
//! **What goes with what.** A flow is aged by its start; its DICOM, HL7 and
//! MQTT records (which the query commands show joined to their flow) go
//! with it, by flow id. DHCP messages and anomalies go by their own time
//! with the flows. Alerts go by their last sighting; device events and
//! statistics rows by their time with the alerts, never the writing
//! session's statistics. The inventory (devices, their addresses and names)
//! is never pruned.
//!
//! **Size cap.** The cap counts the database's pages in use,
//! `(page_count - freelist_count) * page_size`. Not counted: the WAL file
//! beside it (a work area of at most about `WAL_CHECKPOINT_PAGES` pages,
//! reused, removed when the last connection closes) and the free pages
//! incremental vacuum has not yet returned ([`FREE_RESERVE_PAGES`] kept for
//! the next inserts, at most [`VACUUM_PAGES`] returned per step). Over the
//! cap, the oldest flows go first (by flow id) with their application
//! records, and DHCP messages and anomalies older than the oldest flow
//! kept; only when none of those is left do the oldest alerts, device
//! events and statistics rows (not the writing session's) go. If even that
//! cannot bring it under (the inventory alone is larger), the writer warns
//! once and keeps writing.
//!
//! **Steps.** The writer prunes between its transactions, never inside
//! one: a step runs rounds of at most [`ROWS_PER_TABLE`] rows per table,
//! each round its own transaction, until caught up or [`STEP_BUDGET`] is
//! spent; then returns free pages with `PRAGMA incremental_vacuum`. With
//! work left, the next step waits three times as long as this one took
//! (one time while over the cap), so pruning takes at most a quarter (a
//! half) of the writer's time; caught up, it looks again every
//! [`CHECK_EVERY`]. At the end of a session the writer catches up for up
//! to [`FINISH_BUDGET`].
//!
//! **Marks** (`retention_marks`, `medtap verify` relies on them). `flows`
//! and `alerts` are deleted strictly in id order: every row with an id up
//! to `pruned_through` is gone or may be gone by retention, no row above it
//! was deleted by retention. Flows go while `start_us` is older than the
//! cutoff and alerts while `last_seen_us` is, stopping at the first that is
//! not (or, over the cap, whatever their age); a row written again below
//! the mark later (a long flow's final record after its interim one was
//! pruned) is deleted when it is old too. The other tables' marks say how
//! far they were pruned: the flow id for the application records, the
//! newest time deleted for the tables pruned by time. The mark moves in
//! the transaction of its delete, and `pruned_rows` adds up what went.

use super::StoreError;
use crate::config::StoreConfig;
use crate::event::Event;
use crate::kinds::PrunedTable;
use crate::time::{rfc3339, Micros, SECOND};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A day in microseconds.
pub const DAY: Micros = 86_400 * SECOND;

/// Most rows one round deletes from one table.
pub const ROWS_PER_TABLE: i64 = 2_000;

/// Longest a step deletes before the writer goes back to its records.
pub const STEP_BUDGET: Duration = Duration::from_millis(50);

/// How often a caught-up writer looks for rows to prune.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Longest the writer goes on pruning at the end of a session.
pub const FINISH_BUDGET: Duration = Duration::from_secs(10);

/// Most free pages one step returns to the file system (8 MiB of 4 KiB
/// pages): the vacuum moves pages from the end of the file into the holes,
/// a cost like writing them.
pub const VACUUM_PAGES: i64 = 2_048;

/// Free pages left in the file for the next inserts rather than returned
/// and allocated again.
pub const FREE_RESERVE_PAGES: i64 = 64;

/// How far past the wall clock a record time is still believed.
pub const CLOCK_SLACK: Micros = DAY;

/// Over the cap, a round deletes one row per this many bytes over...
const CAP_BYTES_PER_ROW: u64 = 512;

/// ...but at least this many rows per table.
const CAP_MIN_ROWS: u64 = 64;

/// Least time between two info lines about pruning.
const LOG_EVERY: Duration = Duration::from_secs(600);

/// Application tables that go with their flow, by `flow_id`.
const BY_FLOW: [PrunedTable; 6] = [
    PrunedTable::DicomAssociations,
    PrunedTable::DicomOperations,
    PrunedTable::Hl7Messages,
    PrunedTable::MqttSessions,
    PrunedTable::MqttPublishes,
    PrunedTable::MqttSubscriptions,
];

/// Tables that go by their own time (column) with the flows.
const FLOW_TIMED: [(PrunedTable, &str); 2] = [
    (PrunedTable::DhcpMessages, "ts_us"),
    (PrunedTable::Anomalies, "ts_us"),
];

/// The `policy_state` keys the writer records its settings under, for
/// `medtap status`.
const SETTING_KEYS: [&str; 3] = [
    "store.retention_days",
    "store.alert_retention_days",
    "store.max_db_mib",
];

/// The retention settings (`[store]`); 0 is "forever" / "no cap".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Days flows and application records are kept.
    pub retention_days: u32,
    /// Days alerts and device history are kept.
    pub alert_retention_days: u32,
    /// MiB of pages in use past which the oldest rows go.
    pub max_db_mib: u64,
}

impl Policy {
    /// The settings of `c`.
    pub fn from_config(c: &StoreConfig) -> Policy {
        Policy {
            retention_days: c.retention_days,
            alert_retention_days: c.alert_retention_days,
            max_db_mib: c.max_db_mib,
        }
    }

    /// Nothing is ever pruned.
    pub fn is_off(&self) -> bool {
        self.retention_days == 0 && self.alert_retention_days == 0 && self.max_db_mib == 0
    }

    fn age(days: u32) -> Option<Micros> {
        (days > 0).then(|| i64::from(days) * DAY)
    }

    fn max_bytes(&self) -> Option<u64> {
        (self.max_db_mib > 0).then(|| self.max_db_mib.saturating_mul(1 << 20))
    }

    /// Records the settings in `policy_state` for `medtap status`.
    pub fn record(&self, conn: &Connection) -> rusqlite::Result<()> {
        let values = [
            i64::from(self.retention_days),
            i64::from(self.alert_retention_days),
            i64::try_from(self.max_db_mib).unwrap_or(i64::MAX),
        ];
        let mut st = conn.prepare(
            "INSERT INTO policy_state (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )?;
        for (k, v) in SETTING_KEYS.iter().zip(values) {
            st.execute(params![k, v])?;
        }
        Ok(())
    }
}

/// Per-table row counts, in [`PrunedTable::ALL`] order.
pub type Counts = [u64; PrunedTable::COUNT];

/// The pages of `conn`'s database in use, in bytes: what
/// `store.max_db_mib` limits.
pub fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let (pages, free, size) = pages(conn)?;
    Ok((pages - free).max(0) as u64 * size.max(0) as u64)
}

/// (page_count, freelist_count, page_size).
fn pages(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    let p = |name| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
    Ok((p("page_count")?, p("freelist_count")?, p("page_size")?))
}

/// `PRAGMA auto_vacuum`: 0 none, 1 full, 2 incremental.
fn auto_vacuum(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))
}

/// Makes `conn`'s database shrink when rows are deleted: a new (empty)
/// database gets `auto_vacuum = INCREMENTAL` before its first table (it
/// can only be set then, or by rewriting the file); an existing one
/// without auto-vacuum is rewritten once with `VACUUM` (logged with its
/// duration; it needs free disk space for a copy). A failed rewrite is
/// logged and the database used as it is: it works, it only does not
/// shrink. Call outside any transaction, before the schema is created.
pub fn ensure_incremental_vacuum(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let (page_count, _, _) = pages(conn).map_err(err)?;
    if page_count == 0 {
        return conn
            .pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(err);
    }
    // FULL is left alone: someone chose it, and it shrinks the file too.
    if auto_vacuum(conn).map_err(err)? != 0 {
        return Ok(());
    }
    let started = Instant::now();
    let bytes = page_count.max(0) as u64 * pages(conn).map_err(err)?.2.max(0) as u64;
    tracing::info!(
        db = %path.display(),
        bytes,
        "converting the database to incremental auto-vacuum (once; the file is rewritten)"
    );
    let res = conn
        .pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .and_then(|()| conn.execute_batch("VACUUM"));
    match res {
        Ok(()) => tracing::info!(
            db = %path.display(),
            seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
            "database converted to incremental auto-vacuum"
        ),
        Err(e) => tracing::warn!(
            db = %path.display(),
            error = %e,
            "could not convert the database to incremental auto-vacuum; it works as it is, \
             but does not shrink when rows are pruned (the next start tries again)"
        ),
    }
    Ok(())
}

/// What the writer keeps for retention: the settings, the clock, what it
/// pruned and not yet recorded, and when to prune next.
#[derive(Debug)]
pub struct Retention {
    policy: Policy,
    /// Newest record time written (the clock ages are counted on); 0: none.
    newest: Micros,
    /// Record times past this are not believed (wall clock + slack when
    /// last looked at).
    horizon: Micros,
    /// Whether the file returns free pages (auto_vacuum = incremental).
    incremental: bool,
    /// Rows pruned not yet in a committed statistics row.
    unrecorded: Counts,
    /// Rows pruned since the last info line, and the time it took.
    unlogged: Counts,
    unlogged_time: Duration,
    last_log: Option<Instant>,
    /// When the next step may run.
    next: Instant,
    /// Over the cap with nothing left to prune (warned once).
    stuck: bool,
    /// Failed rounds (each logged at 1, 2, 4, ...).
    errors: u64,
    /// The first flow and alert ids of this session: pruning by age never
    /// deletes what this session wrote (an imported capture spanning
    /// years is not pruned by its own newest packet), only the size cap
    /// may.
    flow_floor: i64,
    alert_floor: i64,
}

/// What one round did.
#[derive(Debug, Default)]
struct Round {
    pruned: Counts,
    /// A table had more to prune than the round took.
    more: bool,
    /// The database was over its cap.
    over_cap: bool,
}

impl Round {
    fn add(&mut self, t: PrunedTable, n: u64, limit: i64) {
        self.pruned[t as usize] += n;
        if n >= limit as u64 {
            self.more = true;
        }
    }

    fn total(&self) -> u64 {
        self.pruned.iter().sum()
    }
}

/// What a round deletes: its cutoffs (None: that age pruning is off), the
/// cap, the session whose statistics stay, how many rows per table and
/// until when.
#[derive(Clone, Copy, Debug)]
struct Plan {
    flow_cutoff: Option<Micros>,
    alert_cutoff: Option<Micros>,
    /// This session's first flow and alert ids (see `Retention`).
    flow_floor: i64,
    alert_floor: i64,
    max_bytes: Option<u64>,
    session_id: i64,
    limit: i64,
    deadline: Instant,
}

impl Retention {
    /// Retention by `policy` on `conn`'s database; the clock starts at the
    /// newest flow start or alert sighting stored.
    pub fn new(policy: Policy, conn: &Connection) -> rusqlite::Result<Retention> {
        let horizon = crate::time::now().saturating_add(CLOCK_SLACK);
        let stored: Option<Micros> = conn.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(start_us) FROM flows), 0),
                        COALESCE((SELECT MAX(last_seen_us) FROM alerts), 0))",
            [],
            |r| r.get(0),
        )?;
        let newest = stored.filter(|t| *t <= horizon).unwrap_or(0);
        Ok(Retention {
            policy,
            newest,
            horizon,
            incremental: auto_vacuum(conn)? == 2,
            unrecorded: [0; PrunedTable::COUNT],
            unlogged: [0; PrunedTable::COUNT],
            unlogged_time: Duration::ZERO,
            last_log: None,
            next: Instant::now(),
            stuck: false,
            errors: 0,
            flow_floor: max_id(conn, "flows", "flow_id")? + 1,
            alert_floor: max_id(conn, "alerts", "alert_id")? + 1,
        })
    }

    /// The settings.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The clock: the newest record time written (0: none yet).
    pub fn newest(&self) -> Micros {
        self.newest
    }

    /// Moves the clock to `e`'s time if it is newer (cheap: a comparison
    /// or two per record).
    pub fn saw(&mut self, e: &Event) {
        let t = match e {
            Event::Flow(f) => f.end,
            Event::Alert(a) => a.last_seen,
            Event::AlertSeen(s) => s.last_seen,
            Event::Hl7(m, _) => m.1.ts,
            Event::Dhcp(m, _) => m.1.ts,
            Event::Dhcp6(m, _) => m.1.record.ts,
            Event::Anomaly(a) => a.ts,
            _ => return,
        };
        self.saw_time(t);
    }

    /// Moves the clock to `t` if newer and believable.
    pub fn saw_time(&mut self, t: Micros) {
        if t <= self.newest {
            return;
        }
        if t > self.horizon {
            self.horizon = crate::time::now().saturating_add(CLOCK_SLACK);
            if t > self.horizon {
                return;
            }
        }
        self.newest = t;
    }

    /// When the next step may run (None: retention is off).
    pub fn due(&self) -> Option<Instant> {
        (!self.policy.is_off()).then_some(self.next)
    }

    /// Rows pruned whose count is not yet in a committed statistics row.
    pub fn unrecorded(&self) -> Counts {
        self.unrecorded
    }

    /// Whether any pruned row is not yet counted in a statistics row.
    pub fn has_unrecorded(&self) -> bool {
        self.unrecorded.iter().any(|n| *n > 0)
    }

    /// The counts of [`Retention::unrecorded`] were committed.
    pub fn recorded(&mut self) {
        self.unrecorded = [0; PrunedTable::COUNT];
    }

    fn plan(&self, session_id: i64, deadline: Instant) -> Plan {
        let cutoff = |days| {
            Policy::age(days)
                .filter(|_| self.newest > 0)
                .map(|age| self.newest.saturating_sub(age))
        };
        Plan {
            flow_cutoff: cutoff(self.policy.retention_days),
            alert_cutoff: cutoff(self.policy.alert_retention_days),
            flow_floor: self.flow_floor,
            alert_floor: self.alert_floor,
            max_bytes: self.policy.max_bytes(),
            session_id,
            limit: ROWS_PER_TABLE,
            deadline,
        }
    }

    /// Runs one step if it is due: rounds until caught up or
    /// [`STEP_BUDGET`] is spent, then some incremental vacuum. Returns the
    /// rows pruned, by table.
    pub fn step_if_due(&mut self, conn: &mut Connection, session_id: i64) -> Counts {
        if self.policy.is_off() || Instant::now() < self.next {
            return [0; PrunedTable::COUNT];
        }
        self.step(conn, session_id, STEP_BUDGET).0
    }

    /// Steps until caught up or `budget` is spent (the end of a session),
    /// then logs what was pruned. Returns the rows pruned, by table.
    pub fn catch_up(&mut self, conn: &mut Connection, session_id: i64, budget: Duration) -> Counts {
        let mut all = [0; PrunedTable::COUNT];
        if self.policy.is_off() {
            return all;
        }
        let started = Instant::now();
        loop {
            let (pruned, more) = self.step(conn, session_id, STEP_BUDGET);
            for (a, n) in all.iter_mut().zip(pruned) {
                *a += n;
            }
            if !more || started.elapsed() >= budget {
                if more {
                    tracing::info!(
                        "retention not caught up at the end of the session; the next session goes on"
                    );
                }
                break;
            }
        }
        self.log(conn, true);
        all
    }

    /// One step; returns what it pruned and whether work is left.
    fn step(&mut self, conn: &mut Connection, session_id: i64, budget: Duration) -> (Counts, bool) {
        let started = Instant::now();
        let plan = self.plan(session_id, started + budget);
        let mut pruned = [0; PrunedTable::COUNT];
        let mut more;
        let mut over_cap = false;
        loop {
            let r = match round(conn, &plan) {
                Ok(r) => r,
                Err(e) => {
                    self.errors += 1;
                    if self.errors.is_power_of_two() {
                        tracing::warn!(error = %e, failures = self.errors, "retention: pruning failed; retrying later");
                    }
                    more = false;
                    break;
                }
            };
            for (a, n) in pruned.iter_mut().zip(r.pruned) {
                *a += n;
            }
            over_cap = r.over_cap;
            more = r.more;
            if r.over_cap {
                let still = plan
                    .max_bytes
                    .is_some_and(|max| used_bytes(conn).is_ok_and(|b| b > max));
                if still && r.total() == 0 && !r.more {
                    if !self.stuck {
                        self.stuck = true;
                        tracing::warn!(
                            max_db_mib = self.policy.max_db_mib,
                            "database over store.max_db_mib with nothing left that retention \
                             prunes (the device inventory is kept); raise the cap"
                        );
                    }
                } else {
                    more |= still;
                }
            }
            if !more || Instant::now() >= plan.deadline {
                break;
            }
        }
        if !over_cap {
            self.stuck = false;
        }
        // The evidence chain's entries for rows now all below the marks
        // can no longer show anything: their batches keep only the hashes.
        if pruned[PrunedTable::Flows as usize] + pruned[PrunedTable::Alerts as usize] > 0 {
            if let Err(e) = super::chain::drop_pruned_entries(conn) {
                tracing::debug!(error = %e, "retention: clearing chain entries failed");
            }
        }
        if self.incremental {
            match vacuum_some(conn) {
                Ok(left) => more |= left > 0,
                Err(e) => tracing::debug!(error = %e, "retention: incremental vacuum failed"),
            }
        }
        for (i, n) in pruned.iter().enumerate() {
            self.unrecorded[i] += n;
            self.unlogged[i] += n;
        }
        let took = started.elapsed();
        self.unlogged_time += took;
        self.next = Instant::now()
            + match (more, over_cap) {
                (true, true) => took,
                (true, false) => took * 3,
                (false, _) => CHECK_EVERY,
            };
        if !more {
            self.log(conn, false);
        }
        (pruned, more)
    }

    /// One info line with the rows pruned since the last, at most every
    /// [`LOG_EVERY`] (`force`: now, at the end of a session).
    fn log(&mut self, conn: &Connection, force: bool) {
        let total: u64 = self.unlogged.iter().sum();
        if total == 0 || (!force && self.last_log.is_some_and(|t| t.elapsed() < LOG_EVERY)) {
            return;
        }
        let by_table: Vec<String> = PrunedTable::ALL
            .iter()
            .zip(self.unlogged)
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{}={n}", t.name()))
            .collect();
        let p = self.plan(0, Instant::now());
        tracing::info!(
            rows = total,
            by_table = by_table.join(" "),
            flows_before = p.flow_cutoff.map(rfc3339),
            alerts_before = p.alert_cutoff.map(rfc3339),
            used_bytes = used_bytes(conn).ok(),
            seconds = format!("{:.3}", self.unlogged_time.as_secs_f64()),
            "retention: pruned old rows"
        );
        self.unlogged = [0; PrunedTable::COUNT];
        self.unlogged_time = Duration::ZERO;
        self.last_log = Some(Instant::now());
    }
}

/// Returns up to [`VACUUM_PAGES`] free pages beyond the reserve to the file
/// system; returns how many free pages beyond the reserve are left.
fn vacuum_some(conn: &Connection) -> rusqlite::Result<i64> {
    let (_, free, _) = pages(conn)?;
    let n = (free - FREE_RESERVE_PAGES).min(VACUUM_PAGES);
    if n <= 0 {
        return Ok(0);
    }
    // The pragma frees pages as it is stepped: run it to its end.
    let mut st = conn.prepare(&format!("PRAGMA incremental_vacuum({n})"))?;
    let mut rows = st.query([])?;
    while rows.next()?.is_some() {}
    Ok((free - n - FREE_RESERVE_PAGES).max(0))
}

/// One round in one transaction: the age pruning, then the cap's.
fn round(conn: &mut Connection, plan: &Plan) -> rusqlite::Result<Round> {
    let tx = conn.transaction()?;
    let mut r = Round::default();
    if let Some(cut) = plan.flow_cutoff {
        prune_flows(&tx, Some(cut), plan, &mut r)?;
    }
    if let Some(cut) = plan.alert_cutoff {
        prune_alerts(&tx, Some(cut), plan, &mut r)?;
    }
    if let Some(max) = plan.max_bytes {
        let used = used_bytes(&tx)?;
        if used > max {
            r.over_cap = true;
            // Rows are a few hundred bytes with their index entries: take
            // one per 512 bytes over (the next round measures again), so
            // the cap is not undershot by a whole round's worth.
            let per_round = Plan {
                limit: ((used - max) / CAP_BYTES_PER_ROW).clamp(CAP_MIN_ROWS, plan.limit as u64)
                    as i64,
                ..*plan
            };
            let before = r.total();
            prune_flows(&tx, None, &per_round, &mut r)?;
            // Flows and their records alone cannot bring it under: alerts
            // and device history, oldest first.
            if r.total() == before {
                prune_alerts(&tx, None, &per_round, &mut r)?;
            }
        }
    }
    tx.commit()?;
    Ok(r)
}

/// Flows older than `cutoff` (None: the oldest, whatever their age), the
/// application records of every flow pruned, and DHCP messages and
/// anomalies older than `cutoff` (None: than the oldest flow kept).
fn prune_flows(
    tx: &Transaction<'_>,
    cutoff: Option<Micros>,
    plan: &Plan,
    r: &mut Round,
) -> rusqlite::Result<()> {
    let (n, mark) = prune_in_id_order(
        tx,
        PrunedTable::Flows,
        "flow_id",
        "start_us",
        cutoff.map(|c| (c, plan.flow_floor)),
        plan.limit,
    )?;
    r.add(PrunedTable::Flows, n, plan.limit);
    for t in BY_FLOW {
        if Instant::now() >= plan.deadline {
            r.more = true;
            return Ok(());
        }
        let n = tx
            .prepare_cached(&format!(
                "DELETE FROM {0} WHERE rowid IN
                 (SELECT rowid FROM {0} WHERE flow_id <= ?1 LIMIT ?2)",
                t.name()
            ))?
            .execute(params![mark, plan.limit])? as u64;
        if n > 0 {
            set_mark(tx, t, mark, n)?;
        }
        r.add(t, n, plan.limit);
    }
    let before = match cutoff {
        Some(c) => c,
        None => tx
            .query_row("SELECT MIN(start_us) FROM flows", [], |row| {
                row.get::<_, Option<i64>>(0)
            })?
            .unwrap_or(i64::MAX),
    };
    for (t, col) in FLOW_TIMED {
        if Instant::now() >= plan.deadline {
            r.more = true;
            return Ok(());
        }
        let floor = cutoff.map(|_| plan.flow_floor);
        let n = delete_older(tx, t, col, before, plan.limit, None, floor)?;
        r.add(t, n, plan.limit);
    }
    Ok(())
}

/// Alerts last seen before `cutoff` (None: the oldest, whatever their age),
/// and device events and statistics rows (not the writing session's)
/// older than it.
fn prune_alerts(
    tx: &Transaction<'_>,
    cutoff: Option<Micros>,
    plan: &Plan,
    r: &mut Round,
) -> rusqlite::Result<()> {
    if Instant::now() >= plan.deadline {
        r.more = true;
        return Ok(());
    }
    let (n, _) = prune_in_id_order(
        tx,
        PrunedTable::Alerts,
        "alert_id",
        "last_seen_us",
        cutoff.map(|c| (c, plan.alert_floor)),
        plan.limit,
    )?;
    r.add(PrunedTable::Alerts, n, plan.limit);
    let before = cutoff.unwrap_or(i64::MAX);
    let n = delete_older(
        tx,
        PrunedTable::DeviceEvents,
        "ts_us",
        before,
        plan.limit,
        None,
        None,
    )?;
    r.add(PrunedTable::DeviceEvents, n, plan.limit);
    let n = delete_older(
        tx,
        PrunedTable::CaptureStats,
        "period_end_us",
        before,
        plan.limit,
        Some(plan.session_id),
        None,
    )?;
    r.add(PrunedTable::CaptureStats, n, plan.limit);
    Ok(())
}

/// Deletes `t`'s rows in id order from its mark while their `time` is
/// before `cutoff` (None: whatever their time), at most `limit`, stopping
/// at the first that is not; then (with a cutoff) rows at or below the
/// mark written after it passed them and as old. Moves the mark. Returns
/// the rows deleted and the mark.
fn prune_in_id_order(
    tx: &Transaction<'_>,
    t: PrunedTable,
    id: &str,
    time: &str,
    age: Option<(Micros, i64)>,
    limit: i64,
) -> rusqlite::Result<(u64, i64)> {
    let table = t.name();
    // By age: before the cutoff, and below this session's first id.
    let (cutoff, floor) = (age.map(|a| a.0), age.map(|a| a.1));
    let mark = mark_of(tx, t)?;
    let mut last = mark;
    {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {id}, {time} FROM {table} WHERE {id} > ?1 ORDER BY {id} LIMIT ?2"
        ))?;
        let mut rows = st.query(params![mark, limit])?;
        while let Some(row) = rows.next()? {
            let (i, at): (i64, i64) = (row.get(0)?, row.get(1)?);
            if cutoff.is_some_and(|c| at >= c) || floor.is_some_and(|f| i >= f) {
                break;
            }
            last = i;
        }
    }
    let mut n = 0;
    if last > mark {
        n += tx
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE {id} > ?1 AND {id} <= ?2"
            ))?
            .execute(params![mark, last])? as u64;
    }
    if let Some(c) = cutoff {
        // Below the mark only rows written after it passed are left: scan
        // them by id (`+` keeps SQLite off the time index, which would
        // walk every old row above the mark too).
        n += tx
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE {id} IN
                 (SELECT {id} FROM {table} WHERE {id} <= ?1 AND +{time} < ?2 LIMIT ?3)"
            ))?
            .execute(params![last, c, limit])? as u64;
    }
    if n > 0 || last > mark {
        set_mark(tx, t, last, n)?;
    }
    Ok((n, last))
}

/// Deletes up to `limit` of `t`'s rows with `col` before `before`, oldest
/// first, keeping session `keep`'s rows (statistics); marks the newest
/// time deleted. Returns the rows deleted.
fn delete_older(
    tx: &Transaction<'_>,
    t: PrunedTable,
    col: &str,
    before: Micros,
    limit: i64,
    keep: Option<i64>,
    flow_floor: Option<i64>,
) -> rusqlite::Result<u64> {
    let table = t.name();
    let keep_sql = if keep.is_some() {
        " AND (session_id IS NULL OR session_id <> ?3)"
    } else {
        " AND ?3 IS NULL"
    };
    // By age, this session's records stay (see `Retention`).
    let floor_sql = if flow_floor.is_some() {
        " AND flow_id < ?4"
    } else {
        " AND ?4 IS NULL"
    };
    let mut st = tx.prepare_cached(&format!(
        "DELETE FROM {table} WHERE rowid IN
         (SELECT rowid FROM {table} WHERE {col} < ?1{keep_sql}{floor_sql} ORDER BY {col} LIMIT ?2)
         RETURNING {col}"
    ))?;
    let mut rows = st.query(params![before, limit, keep, flow_floor])?;
    let (mut n, mut newest) = (0u64, i64::MIN);
    while let Some(row) = rows.next()? {
        n += 1;
        newest = newest.max(row.get::<_, i64>(0)?);
    }
    drop(rows);
    if n > 0 {
        set_mark(tx, t, newest, n)?;
    }
    Ok(n)
}

/// The highest `id` in `table` (0: empty).
fn max_id(conn: &Connection, table: &str, id: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        &format!("SELECT COALESCE(MAX({id}), 0) FROM {table}"),
        [],
        |r| r.get(0),
    )
}

/// `t`'s mark (0: never pruned).
fn mark_of(tx: &Transaction<'_>, t: PrunedTable) -> rusqlite::Result<i64> {
    Ok(tx
        .prepare_cached("SELECT pruned_through FROM retention_marks WHERE tbl = ?1")?
        .query_row([t.name()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Moves `t`'s mark up to `through` (never down) and adds `rows`.
fn set_mark(tx: &Transaction<'_>, t: PrunedTable, through: i64, rows: u64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO retention_marks (tbl, pruned_through, pruned_rows, last_pruned_us)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(tbl) DO UPDATE SET
            pruned_through = MAX(pruned_through, excluded.pruned_through),
            pruned_rows = pruned_rows + excluded.pruned_rows,
            last_pruned_us = excluded.last_pruned_us",
    )?
    .execute(params![t.name(), through, rows as i64, crate::time::now()])?;
    Ok(())
}

/// Retention as `medtap status` shows it.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RetentionStatus {
    /// `store.retention_days` of the newest writer (None: none recorded).
    pub retention_days: Option<u64>,
    /// `store.alert_retention_days` of the newest writer.
    pub alert_retention_days: Option<u64>,
    /// `store.max_db_mib` of the newest writer.
    pub max_db_mib: Option<u64>,
    /// Bytes of the pages in use: what `max_db_mib` limits.
    pub used_bytes: u64,
    /// Bytes of free pages in the file (returned over time by incremental
    /// vacuum).
    pub free_bytes: u64,
    /// "none", "full" or "incremental".
    pub auto_vacuum: String,
    /// RFC 3339 start of the oldest flow kept.
    pub oldest_flow: Option<String>,
    /// RFC 3339 first sighting of the oldest alert kept.
    pub oldest_alert: Option<String>,
    /// Rows pruned since the database was created.
    pub pruned_rows: u64,
    /// The same by table (only tables pruned).
    pub pruned_by_table: BTreeMap<String, u64>,
    /// RFC 3339 time of the last prune.
    pub last_pruned: Option<String>,
}

/// Reads [`RetentionStatus`] from `conn`.
pub fn status(conn: &Connection) -> rusqlite::Result<RetentionStatus> {
    let setting = |key: &str| -> rusqlite::Result<Option<u64>> {
        conn.query_row(
            "SELECT value FROM policy_state WHERE key = ?1",
            [key],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map(|v| v.map(|v| v.max(0) as u64))
    };
    let (page_count, free, size) = pages(conn)?;
    let min = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0));
    let mut s = RetentionStatus {
        retention_days: setting(SETTING_KEYS[0])?,
        alert_retention_days: setting(SETTING_KEYS[1])?,
        max_db_mib: setting(SETTING_KEYS[2])?,
        used_bytes: (page_count - free).max(0) as u64 * size.max(0) as u64,
        free_bytes: free.max(0) as u64 * size.max(0) as u64,
        auto_vacuum: match auto_vacuum(conn)? {
            0 => "none",
            1 => "full",
            _ => "incremental",
        }
        .into(),
        oldest_flow: min("SELECT MIN(start_us) FROM flows")?.map(rfc3339),
        oldest_alert: min("SELECT MIN(first_seen_us) FROM alerts")?.map(rfc3339),
        last_pruned: min("SELECT MAX(last_pruned_us) FROM retention_marks")?.map(rfc3339),
        ..RetentionStatus::default()
    };
    let mut st =
        conn.prepare("SELECT tbl, pruned_rows FROM retention_marks WHERE pruned_rows > 0")?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (t, n) = row?;
        s.pruned_rows += n.max(0) as u64;
        s.pruned_by_table.insert(t, n.max(0) as u64);
    }
    Ok(s)
}

#[cfg(test)]
mod tests;
