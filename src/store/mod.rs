//! SQLite storage: schema and migrations, the writer thread, and the
//! queries behind the CLI.
//!
//! The database is opened in WAL mode so that the query commands can read
//! while the daemon writes. The schema version lives in
//! `PRAGMA user_version`; each entry of [`MIGRATIONS`] moves it up by one.

mod app_rows;
mod migrations;
pub mod query;
pub mod query_app;
mod writer;

pub use migrations::MIGRATIONS;
pub use writer::{spawn_writer, Writer, WriterCounters};

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
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] rusqlite::Error),
}

/// Opens (creating if needed) the database at `path` for writing and
/// brings its schema up to date.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    migrate(&conn, path, MIGRATIONS.len() as u32)?;
    Ok(conn)
}

/// Opens an existing database read-only for queries (fails if absent).
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
    let found = schema_version(&conn).map_err(err)?;
    let known = MIGRATIONS.len() as u32;
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    Ok(conn)
}

/// The database's schema version.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Applies migrations until the schema is at `target` (each in its own
/// transaction, so a failure leaves the previous version intact).
pub fn migrate(conn: &Connection, path: &Path, target: u32) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as u32;
    let found = schema_version(conn).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    for version in found + 1..=target.min(known) {
        let sql = MIGRATIONS[version as usize - 1];
        let run = || -> rusqlite::Result<()> {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        };
        run().map_err(|source| StoreError::Migrate {
            path: path.to_path_buf(),
            version,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
