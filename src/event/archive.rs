//! Changes to the packet archive's index, written by the store writer like
//! every other record: the archive thread never waits on the database
//! (a second writer would wait for the store writer's transactions, and
//! its frames with it).

use crate::time::Micros;

/// A change to the index (`archive_files`, `archive_flows`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexOp {
    /// A file's row as it is now (inserted or replaced), and the flows
    /// first seen in it or grown since the last op:
    /// `(flow_id, offset of its first frame, frames)`.
    File {
        /// The file.
        file: FileState,
        /// Its flows changed since the last op.
        flows: Vec<(u64, u64, u64)>,
    },
    /// A file deleted by retention (`reason`: the limit).
    Deleted {
        /// The file's id.
        file_id: i64,
        /// When.
        at: Micros,
        /// `max_total_mib` or `max_days`.
        reason: &'static str,
    },
}

/// One archive file's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    /// Its id (given by the archive thread, one past the highest stored).
    pub file_id: i64,
    /// Directory.
    pub dir: String,
    /// File name.
    pub name: String,
    /// Link type (DLT).
    pub link: u32,
    /// First frame.
    pub first_us: Option<Micros>,
    /// Last frame.
    pub last_us: Option<Micros>,
    /// Frames.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// open, closed or repaired.
    pub state: &'static str,
    /// Whether the index lists every flow with frames in it.
    pub flows_complete: bool,
}
