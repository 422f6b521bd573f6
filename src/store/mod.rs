//! SQLite storage: schema and migrations, the writer thread, and the
//! queries behind the CLI. Each table's row types, insert and selects live
//! in one module of [`rows`]; [`query`] gathers the selects for the CLI.
//!
//! The database is opened in WAL mode so that the query commands can read
//! while the daemon writes. The schema version lives in
//! `PRAGMA user_version`; each entry of [`MIGRATIONS`] moves it up by one.

pub mod chain;
pub mod failure_log;
mod filter;
pub mod lock;
mod migrations;
pub mod query;
pub mod retention;
pub mod rows;
mod status;
mod writer;

pub use migrations::MIGRATIONS;
pub use rows::flow::community_id;
pub use rows::session::{SessionInfo, SessionRow};
pub use writer::{Store, Writer, WriterCounters, WriterTotals, ALERT_COMMIT_WITHIN, COMMIT_EVERY};

use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening or preparing the database failed.
    #[error("database {path}: {source}")]
    Open {
        /// Database path.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// The database was written by a newer medtap.
    #[error("database {path} has schema version {found}, newer than this medtap understands ({known}); upgrade medtap")]
    TooNew {
        /// Database path.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Highest version this build knows.
        known: u32,
    },
    /// A migration failed.
    #[error("database {path}: migration to schema version {version} failed: {source}")]
    Migrate {
        /// Database path.
        path: PathBuf,
        /// Target version.
        version: u32,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// Another process writes the database, or its lock file failed.
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    /// The database file could not be created with private permissions.
    #[error("database {path}: cannot create: {source}")]
    Create {
        /// Database path.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The database has no schema yet (being created) or an older one.
    #[error(
        "database {path} has schema version {found}, but this medtap reads version {known}: {hint}"
    )]
    NotReady {
        /// Database path.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        known: u32,
        /// What to do about it.
        hint: &'static str,
    },
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] rusqlite::Error),
}

/// The writer's SQLite page cache, in KiB. SQLite's default (2 MiB) is
/// smaller than the index pages the writer touches between checkpoints:
/// it re-read them from the kernel on almost every insert. Counted in the
/// memory formula of docs/performance.md.
pub const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// WAL pages before the writer copies them back into the database (SQLite's
/// default is 1,000). A page changed by several transactions between two
/// checkpoints is copied once: on the perf kit's `small` capture this took
/// the bytes written from 519 MB to 370 MB at 5,000-row transactions. The
/// WAL file grows to about 40 MB before it is reused.
pub const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// Opens (creating if needed) the database at `path` for writing and
/// brings its schema up to date. A new database is created mode 0600
/// (SQLite gives its `-wal` and `-shm` files the same mode): flow records
/// say who talked to whom in a hospital, for the security office only.
/// Writers go through [`Store::open_writer`], which takes the write lock
/// first.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    create_private(path)?;
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    // Before the first table: auto-vacuum can only be chosen then.
    retention::ensure_incremental_vacuum(&conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(err)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
        .map_err(err)?;
    migrate(&conn, path, MIGRATIONS.len() as u32)?;
    Ok(conn)
}

/// Creates `path` empty with mode 0600 unless it exists; warns when an
/// existing database is readable by others.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(m) = std::fs::metadata(path) {
                let mode = m.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        db = %path.display(),
                        mode = format!("{mode:o}"),
                        "database is readable by other users; `chmod 600` it"
                    );
                }
            }
            Ok(())
        }
        Err(source) => Err(StoreError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// How long a reader waits for a database that is being created (its
/// schema appears in one transaction, usually within milliseconds).
const READER_WAIT_FOR_SCHEMA: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens an existing database read-only for queries (fails if absent).
/// A database still being created is waited for (up to
/// [`READER_WAIT_FOR_SCHEMA`]); one written by an older medtap is refused
/// with a hint rather than failing later on a missing column.
pub fn open_read(path: &Path) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    let known = MIGRATIONS.len() as u32;
    let waited = std::time::Instant::now();
    let mut found = schema_version(&conn).map_err(err)?;
    while found == 0 && waited.elapsed() < READER_WAIT_FOR_SCHEMA {
        std::thread::sleep(std::time::Duration::from_millis(50));
        found = schema_version(&conn).map_err(err)?;
    }
    match found {
        f if f > known => Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        }),
        0 => Err(StoreError::NotReady {
            path: path.to_path_buf(),
            found,
            known,
            hint: "it is empty (not a medtap database, or still being created); run `medtap analyze` or `medtap run` on it first",
        }),
        f if f < known => Err(StoreError::NotReady {
            path: path.to_path_buf(),
            found,
            known,
            hint: "it was written by an older medtap; `medtap analyze` or `medtap run` with this version upgrades it",
        }),
        _ => Ok(conn),
    }
}

/// The database's schema version.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Applies migrations until the schema is at `target`, all in one
/// transaction: a reader sees the old schema or the new one, never a
/// half-built one ("no such column"), and a failure changes nothing. The
/// transaction is IMMEDIATE, so two processes opening a new database at once
/// migrate it one after the other.
pub fn migrate(conn: &Connection, path: &Path, target: u32) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as u32;
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(open_err)?;
    let found = schema_version(&tx).map_err(open_err)?;
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    let target = target.min(known);
    if found >= target {
        return Ok(());
    }
    for version in found + 1..=target {
        tx.execute_batch(MIGRATIONS[version as usize - 1])
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                version,
                source,
            })?;
    }
    tx.pragma_update(None, "user_version", target)
        .and_then(|()| tx.commit())
        .map_err(|source| StoreError::Migrate {
            path: path.to_path_buf(),
            version: target,
            source,
        })
}

#[cfg(test)]
mod tests;
