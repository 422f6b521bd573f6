//! One writer per database, and space kept for the last words.
//!
//! Two medtap processes writing one database would hand out the same flow
//! ids and attach application records to the other run's flows. So every
//! writer first takes an exclusive `flock(2)` on `<db>-lock`, a file beside
//! the database; a second writer is refused with the holder's pid, command
//! and start time. The kernel releases the lock when the process ends, even
//! by `kill -9`, so a crashed writer never blocks the next one.
//!
//! The lock file also keeps [`RESERVE_BYTES`] of disk space in reserve:
//! when the disk fills up, every insert fails, including the statistics row
//! that would record those failures. Truncating the reserve frees just
//! enough room for that last accounting (see [`WriterLock::release_reserve`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Disk space the lock file holds for the final accounting on a full disk:
/// a statistics row and the session row take a handful of 4 KiB WAL frames.
pub const RESERVE_BYTES: u64 = 1 << 20;

/// Longest holder description read back from a lock file.
const MAX_HOLDER_TEXT: u64 = 512;

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process writes this database.
    #[error(
        "database {db} is being written by another medtap ({holder}); two writers would mix \
         their flow ids and records. Stop that process first, or write to another --db"
    )]
    Busy {
        /// The database.
        db: PathBuf,
        /// What the lock file says about its holder.
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
}

/// The lock file's path for a database: `<db>-lock`, like SQLite's own
/// `-wal` and `-shm` companions.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

/// An exclusive claim on a database, held until dropped (or the process ends).
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
    reserved: bool,
}

impl WriterLock {
    /// Takes the lock of `db` for the process described by `holder` (one
    /// line: pid, command, start time), then writes the description and
    /// the space reserve into the lock file (mode 0600).
    pub fn acquire(db: &Path, holder: &str) -> Result<WriterLock, LockError> {
        let path = lock_path(db);
        let io = |source| LockError::Io {
            path: lock_path(db),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        // A reader probing the lock (`medtap status`) holds it shared for a
        // moment: try a few times before calling the database busy.
        let mut tries = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if tries < 5 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::Busy {
                        db: db.to_path_buf(),
                        holder: read_holder(&mut file),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let mut lock = WriterLock {
            file,
            path,
            reserved: false,
        };
        lock.write_holder(holder).map_err(io)?;
        match lock.reserve() {
            Ok(()) => lock.reserved = true,
            // A disk already full at start: run without the reserve rather
            // than not at all; the loss is still counted and exits non-zero.
            Err(e) => tracing::warn!(
                lock = %lock.path.display(),
                error = %e,
                "could not reserve disk space for the final accounting"
            ),
        }
        Ok(lock)
    }

    fn write_holder(&mut self, holder: &str) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        let line: String = holder.chars().filter(|c| !c.is_control()).collect();
        writeln!(self.file, "{line}")?;
        self.file.flush()
    }

    /// Fills the lock file up to [`RESERVE_BYTES`] with real blocks (zeros
    /// written, not a sparse hole, so the space is really taken).
    fn reserve(&mut self) -> std::io::Result<()> {
        let start = self.file.seek(SeekFrom::End(0))?;
        let zeros = [0u8; 64 * 1024];
        let mut left = RESERVE_BYTES.saturating_sub(start);
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            self.file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        self.file.sync_all()
    }

    /// Gives the reserved space back to the file system (keeping the
    /// holder line). Returns whether there was a reserve to give.
    pub fn release_reserve(&mut self) -> bool {
        if !self.reserved {
            return false;
        }
        self.reserved = false;
        let len = read_holder(&mut self.file).len() as u64 + 1;
        match self.file.set_len(len).and_then(|()| self.file.sync_all()) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(lock = %self.path.display(), error = %e, "could not release the reserve");
                false
            }
        }
    }
}

/// The holder line of a lock file (bounded), or a placeholder.
fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let read = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(MAX_HOLDER_TEXT).read_to_string(&mut text));
    match read {
        Ok(_) => match text.lines().next() {
            Some(l) if !l.trim_matches('\0').is_empty() => l.trim_matches('\0').to_string(),
            _ => "holder unknown".into(),
        },
        Err(_) => "holder unknown".into(),
    }
}

/// Who holds the write lock of `db` right now, if anyone (for `status`).
/// Probes with a shared lock that is released at once.
pub fn holder(db: &Path) -> Option<String> {
    let mut file = File::open(lock_path(db)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(TryLockError::WouldBlock) => Some(read_holder(&mut file)),
        Err(TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let first = WriterLock::acquire(&db, "pid 1 medtap run").unwrap();
        assert_eq!(holder(&db).as_deref(), Some("pid 1 medtap run"));
        let err = WriterLock::acquire(&db, "pid 2 medtap analyze").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("pid 1 medtap run"), "{msg}");
        assert!(msg.contains("another medtap"), "{msg}");
        drop(first);
        assert_eq!(holder(&db), None);
        let second = WriterLock::acquire(&db, "pid 2 medtap analyze").unwrap();
        assert_eq!(holder(&db).as_deref(), Some("pid 2 medtap analyze"));
        drop(second);
    }

    #[test]
    fn the_reserve_is_real_space_and_can_be_released() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut lock = WriterLock::acquire(&db, "pid 3 medtap run").unwrap();
        let meta = std::fs::metadata(lock_path(&db)).unwrap();
        assert_eq!(meta.len(), RESERVE_BYTES);
        assert!(meta.blocks() * 512 >= RESERVE_BYTES, "not sparse");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(lock.release_reserve());
        assert!(!lock.release_reserve(), "only once");
        let meta = std::fs::metadata(lock_path(&db)).unwrap();
        assert!(meta.len() < 100, "{}", meta.len());
        assert_eq!(holder(&db).as_deref(), Some("pid 3 medtap run"));
    }
}
