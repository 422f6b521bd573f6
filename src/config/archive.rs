//! `[archive]`: the bounded packet archive on the sensor (DB3205/T A.3 e):
//! traffic kept completely enough to trace an incident back; A.4 e): no
//! more patient data than that needs).

use serde::Deserialize;
use std::path::PathBuf;

/// `[archive]`: rotating capture files of what the sensor saw.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Whether `medtap run` archives frames (`analyze` only with `--archive`).
    pub enabled: bool,
    /// Directory of the capture files (created mode 0700); empty: `archive`
    /// beside the database (see [`ArchiveConfig::dir_for`]).
    pub dir: PathBuf,
    /// A file is closed and a new one started past this many MiB.
    pub file_mib: u64,
    /// ... or once its first frame is this many seconds older than the
    /// newest (packet time).
    pub file_secs: u64,
    /// Most MiB of capture files kept; the oldest go first.
    pub max_total_mib: u64,
    /// Files whose last frame is older than this many days (packet time)
    /// are deleted; 0 keeps them until `max_total_mib` pushes them out.
    pub max_days: u64,
    /// Bytes of TCP/UDP payload kept per flow (both directions together):
    /// the headers of every frame are kept, payload past this is cut
    /// (counted). Enough for the DICOM association, the HL7 MSH and the
    /// MQTT CONNECT; 0 keeps everything.
    pub max_payload_per_flow: u64,
    /// MiB of frames buffered between capture and the archive thread; when
    /// it is full, frames are not archived (counted), capture never waits.
    pub queue_mib: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            enabled: true,
            dir: PathBuf::new(),
            file_mib: 64,
            file_secs: 300,
            max_total_mib: 10_240,
            max_days: 30,
            max_payload_per_flow: 65_536,
            queue_mib: 32,
        }
    }
}

impl ArchiveConfig {
    /// Checks the values; `bad(key, problem)` builds the error.
    pub fn validate<E>(&self, bad: &dyn Fn(&str, String) -> E) -> Result<(), E> {
        for (key, v, range) in [
            ("archive.file_mib", self.file_mib, 1..=4096),
            ("archive.file_secs", self.file_secs, 1..=86_400),
            ("archive.max_total_mib", self.max_total_mib, 1..=16 << 20),
            ("archive.max_days", self.max_days, 0..=36_500),
            ("archive.queue_mib", self.queue_mib, 2..=4096),
        ] {
            if !range.contains(&v) {
                return Err(bad(
                    key,
                    format!("{v} is outside {}..={}", range.start(), range.end()),
                ));
            }
        }
        if self.max_payload_per_flow > 1 << 32 {
            return Err(bad(
                "archive.max_payload_per_flow",
                format!("{} is above 4294967296", self.max_payload_per_flow),
            ));
        }
        // Retention never deletes the file being written: a budget of less
        // than two files could not be kept.
        if self.max_total_mib < 2 * self.file_mib {
            return Err(bad(
                "archive.max_total_mib",
                format!(
                    "{} is less than two files of archive.file_mib = {}",
                    self.max_total_mib, self.file_mib
                ),
            ));
        }
        Ok(())
    }

    /// The archive directory for the database `db`: `dir`, or when empty
    /// `archive` in the database's directory (`/var/lib/medtap/archive`
    /// with the default database), so that each database has its own.
    pub fn dir_for(&self, db: &std::path::Path) -> PathBuf {
        if !self.dir.as_os_str().is_empty() {
            return self.dir.clone();
        }
        match db.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.join("archive"),
            _ => PathBuf::from("archive"),
        }
    }
}
