//! Packet sources: capture files (pcap/pcapng, or stdin) through medtap's
//! own buffered reader, and live interfaces through libpcap. A source
//! yields [`Frame`]s that borrow the source's buffer until the next call.

mod file;
mod live;
mod privileges;

pub use file::{FileError, FileSource};
pub use live::{LiveOptions, LiveSource, LiveStats, BLOCK_TIMEOUT};
pub use privileges::{drop_capabilities, PrivilegeError};

use crate::decode::LinkType;
use crate::time::Micros;

/// One captured frame, borrowed from the source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture timestamp.
    pub ts: Micros,
    /// Length on the wire (may exceed `data.len()` when the snaplen cut it).
    pub wire_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// Errors from opening or reading a packet source.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file or interface could not be opened.
    #[error("cannot open {what}: {source}")]
    Open {
        /// File path or interface name.
        what: String,
        /// The file reader's or libpcap's reason.
        source: SourceError,
    },
    /// The interface could not be opened because the process may not open
    /// packet sockets.
    #[error(
        "cannot open {what} for capture: permission denied — medtap needs CAP_NET_RAW \
         (run as root, or use the systemd unit, which grants it)"
    )]
    Permission {
        /// Interface name.
        what: String,
        /// libpcap's reason.
        source: pcap::Error,
    },
    /// No interface name was given (an empty `-i` or `capture.interface`).
    #[error("no interface to capture on: the name is empty")]
    NoInterface,
    /// The source's link type is not one medtap decodes.
    #[error("{what}: unsupported link type {dlt} (medtap decodes Ethernet, Linux cooked v1/v2, raw IP, BSD loopback)")]
    UnsupportedLink {
        /// File path or interface name.
        what: String,
        /// The DLT value.
        dlt: i32,
    },
    /// Setting up the live capture failed (filter, non-blocking mode).
    #[error("{what}: {step}: {source}")]
    Setup {
        /// Interface name.
        what: String,
        /// Which step failed.
        step: &'static str,
        /// libpcap's reason.
        source: pcap::Error,
    },
    /// Reading stopped early (a cut-short file, an interface that went away).
    #[error("{what}: read error: {source}")]
    Read {
        /// File path or interface name.
        what: String,
        /// The file reader's or libpcap's reason.
        source: SourceError,
    },
}

/// Why a source failed: files are read by [`FileSource`], interfaces by
/// libpcap.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// From reading a capture file.
    #[error(transparent)]
    File(#[from] FileError),
    /// From libpcap (live capture).
    #[error(transparent)]
    Pcap(#[from] pcap::Error),
}

/// Converts a libpcap packet header to a [`Frame`].
// time_t/suseconds_t are i64 on 64-bit Linux but narrower elsewhere.
#[allow(clippy::useless_conversion)]
fn frame_of<'a>(header: &pcap::PacketHeader, data: &'a [u8]) -> Frame<'a> {
    let ts = i64::from(header.ts.tv_sec)
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(header.ts.tv_usec));
    Frame {
        ts,
        wire_len: header.len.max(data.len() as u32),
        data,
    }
}

fn link_of(what: &str, dlt: i32) -> Result<LinkType, CaptureError> {
    LinkType::from_dlt(dlt).ok_or_else(|| CaptureError::UnsupportedLink {
        what: what.to_string(),
        dlt,
    })
}

/// Compiles a BPF `filter` for `link` without opening an interface, so
/// `medtap config check` can reject a filter that `run` would fail on.
/// Needs no privilege.
pub fn check_filter(filter: &str, link: pcap::Linktype) -> Result<(), pcap::Error> {
    let dead = pcap::Capture::dead(link)?;
    dead.compile(filter, true).map(drop)
}
