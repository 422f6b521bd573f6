//! The archive's files: classic pcap (microsecond timestamps), written in
//! whole records, read back with offsets, and repaired after a crash.
//!
//! Classic pcap rather than pcapng: every tool reads it, a record's offset
//! is all an index needs, and a file cut in the middle of a record is made
//! whole again by truncating it at the last complete record.

use crate::decode::LinkType;
use crate::time::Micros;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes of the pcap file header.
pub const FILE_HEADER: u64 = 24;
/// Bytes of a pcap record header.
pub const RECORD_HEADER: usize = 16;
/// The snaplen written in the file header (libpcap's largest).
pub const SNAPLEN: u32 = 262_144;

/// The DLT a file of `link` frames is written with.
pub fn dlt_of(link: LinkType) -> u32 {
    match link {
        LinkType::Ethernet => 1,
        LinkType::LinuxSll => 113,
        LinkType::LinuxSll2 => 276,
        LinkType::RawIp => 101,
        LinkType::Null => 0,
    }
}

/// The file header of a microsecond pcap of `dlt` frames.
pub fn file_header(dlt: u32) -> [u8; FILE_HEADER as usize] {
    let mut h = [0u8; FILE_HEADER as usize];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay 0.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&dlt.to_le_bytes());
    h
}

/// Appends a record for a frame captured at `ts` of `wire_len` bytes on the
/// wire of which `data` was kept.
pub fn put_record(out: &mut Vec<u8>, ts: Micros, wire_len: u32, data: &[u8]) {
    let (sec, usec) = (ts.div_euclid(1_000_000), ts.rem_euclid(1_000_000));
    out.extend_from_slice(&(sec.clamp(0, u32::MAX as i64) as u32).to_le_bytes());
    out.extend_from_slice(&(usec as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&wire_len.max(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
}

/// Why an archive file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Open, read or seek failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Not a pcap file medtap wrote.
    #[error("not a little-endian microsecond pcap file")]
    NotPcap,
}

/// One record read from an archive file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// Offset of the record header in the file.
    pub offset: u64,
    /// Capture time.
    pub ts: Micros,
    /// Length on the wire.
    pub wire_len: u32,
}

/// Reads an archive file's records in order; stops cleanly at a record
/// that is cut short (a file still being written, or one left by a crash).
pub struct Reader<R: Read + Seek = BufReader<File>> {
    inner: R,
    pos: u64,
    dlt: u32,
    /// A record was cut short where reading stopped.
    pub cut: bool,
}

impl Reader {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<Reader, ReadError> {
        Reader::new(BufReader::with_capacity(1 << 16, File::open(path)?))
    }
}

impl<R: Read + Seek> Reader<R> {
    /// Reads from `inner` (a file, or bytes in memory), checking the header.
    pub fn new(mut inner: R) -> Result<Reader<R>, ReadError> {
        let mut h = [0u8; FILE_HEADER as usize];
        inner.read_exact(&mut h).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ReadError::NotPcap,
            _ => ReadError::Io(e),
        })?;
        if h[0..4] != 0xa1b2_c3d4u32.to_le_bytes() {
            return Err(ReadError::NotPcap);
        }
        Ok(Reader {
            inner,
            pos: FILE_HEADER,
            dlt: u32::from_le_bytes([h[20], h[21], h[22], h[23]]),
            cut: false,
        })
    }

    /// The file's link type (DLT).
    pub fn dlt(&self) -> u32 {
        self.dlt
    }

    /// Continues from `offset` (a record's start, from the index).
    pub fn seek(&mut self, offset: u64) -> Result<(), ReadError> {
        let offset = offset.max(FILE_HEADER);
        self.inner.seek(SeekFrom::Start(offset))?;
        self.pos = offset;
        Ok(())
    }

    /// The next record, its bytes in `data`; `None` at the end or at a
    /// record cut short (then [`Reader::cut`] is set).
    pub fn next(&mut self, data: &mut Vec<u8>) -> Result<Option<FileRecord>, ReadError> {
        let mut h = [0u8; RECORD_HEADER];
        match read_full(&mut self.inner, &mut h)? {
            0 => return Ok(None),
            n if n < RECORD_HEADER => {
                self.cut = true;
                return Ok(None);
            }
            _ => {}
        }
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let caplen = word(8);
        if caplen > SNAPLEN {
            // Garbage where a record should be: what follows is not ours.
            self.cut = true;
            return Ok(None);
        }
        data.resize(caplen as usize, 0);
        if read_full(&mut self.inner, data)? < caplen as usize {
            self.cut = true;
            return Ok(None);
        }
        let r = FileRecord {
            offset: self.pos,
            ts: i64::from(word(0)) * 1_000_000 + i64::from(word(4)),
            wire_len: word(12),
        };
        self.pos += RECORD_HEADER as u64 + u64::from(caplen);
        Ok(Some(r))
    }

    /// Offset just past the last whole record read.
    pub fn position(&self) -> u64 {
        self.pos
    }
}

/// Reads until `buf` is full or the end; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What a file holds, from reading it through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records.
    pub packets: u64,
    /// Bytes of whole records (the file's length once repaired).
    pub bytes: u64,
    /// First and last record times.
    pub first: Option<Micros>,
    /// Last record time.
    pub last: Option<Micros>,
    /// Bytes cut off the end (a record left half-written).
    pub truncated: u64,
}

/// Reads `path` through and truncates it after its last whole record, so
/// that every reader (tshark included) reads it without error: a file left
/// by a crash. A file too short for its header gets a fresh header.
pub fn repair(path: &Path, dlt_if_empty: u32) -> Result<Summary, ReadError> {
    let len = std::fs::metadata(path)?.len();
    if len < FILE_HEADER {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.set_len(0)?;
        f.write_all(&file_header(dlt_if_empty))?;
        return Ok(Summary {
            bytes: FILE_HEADER,
            truncated: len,
            ..Summary::default()
        });
    }
    let mut r = Reader::open(path)?;
    let mut s = Summary::default();
    let mut data = Vec::new();
    while let Some(rec) = r.next(&mut data)? {
        s.packets += 1;
        s.first.get_or_insert(rec.ts);
        s.last = Some(s.last.map_or(rec.ts, |l: Micros| l.max(rec.ts)));
    }
    s.bytes = r.position();
    if s.bytes < len {
        s.truncated = len - s.bytes;
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(s.bytes)?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn file_of(records: &[(Micros, &[u8])]) -> Vec<u8> {
        let mut out = file_header(1).to_vec();
        for (ts, d) in records {
            put_record(&mut out, *ts, d.len() as u32 + 10, d);
        }
        out
    }

    #[test]
    fn a_file_cut_anywhere_reads_up_to_its_last_whole_record_and_is_repaired() {
        let whole = file_of(&[
            (1_000_000_123_456, b"first"),
            (1_000_000_223_456, b"second!"),
        ]);
        let first_end = FILE_HEADER as usize + RECORD_HEADER + 5;
        let dir = tempfile::tempdir().unwrap();
        for cut in 0..=whole.len() {
            let p = dir.path().join(format!("cut{cut}.pcap"));
            std::fs::write(&p, &whole[..cut]).unwrap();
            let s = repair(&p, 1).unwrap();
            let expect = if cut == whole.len() {
                2
            } else if cut >= first_end {
                1
            } else {
                0
            };
            assert_eq!(s.packets, expect, "cut at {cut}");
            let len = std::fs::metadata(&p).unwrap().len();
            assert_eq!(len, s.bytes, "cut at {cut}");
            // Read again: whole, nothing cut.
            let mut r = Reader::open(&p).unwrap();
            let mut data = Vec::new();
            let mut n = 0;
            while let Some(rec) = r.next(&mut data).unwrap() {
                n += 1;
                if n == 1 {
                    assert_eq!(
                        (rec.ts, rec.wire_len, &data[..]),
                        (1_000_000_123_456, 15, &b"first"[..])
                    );
                }
            }
            assert_eq!((n, r.cut), (expect, false), "cut at {cut}");
        }
    }

    #[test]
    fn seeking_to_a_record_offset_reads_from_it() {
        let whole = file_of(&[(1, b"a"), (2, b"bb"), (3, b"ccc")]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pcap");
        std::fs::write(&p, &whole).unwrap();
        let mut r = Reader::open(&p).unwrap();
        let mut data = Vec::new();
        let _ = r.next(&mut data).unwrap();
        let second = r.next(&mut data).unwrap().unwrap();
        let mut r = Reader::open(&p).unwrap();
        r.seek(second.offset).unwrap();
        assert_eq!(r.next(&mut data).unwrap().unwrap(), second);
        assert_eq!(data, b"bb");
    }
}
