//! Capture files: pcap and pcapng (libpcap reads both), `-` for stdin.

use super::{frame_of, link_of, CaptureError, Frame};
use crate::decode::LinkType;
use pcap::{Capture, Offline};

/// A capture file being read front to back.
pub struct FileSource {
    cap: Capture<Offline>,
    link: LinkType,
    name: String,
}

impl FileSource {
    /// Opens `path` (`-` reads standard input).
    pub fn open(path: &str) -> Result<FileSource, CaptureError> {
        // libpcap itself treats "-" as stdin.
        let cap = Capture::from_file(path).map_err(|source| CaptureError::Open {
            what: path.to_string(),
            source,
        })?;
        let link = link_of(path, cap.get_datalink().0)?;
        Ok(FileSource {
            cap,
            link,
            name: path.to_string(),
        })
    }

    /// The file's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The path as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next frame; `Ok(None)` at the end of the file. A file cut short
    /// in the middle of a record gives `Err(CaptureError::Read)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => Ok(Some(frame_of(p.header, p.data))),
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(source) => Err(CaptureError::Read {
                what: self.name.clone(),
                source,
            }),
        }
    }
}
