//! Capture files: pcap and pcapng, `-` for stdin, read by medtap's own
//! reader in 1 MiB reads.
//!
//! libpcap reads files through stdio with its default 4 KiB buffer (one
//! `read` call per 4 KiB: 18% of the CPU of `medtap analyze` went there on
//! a 1.8 GB file), and the `pcap` crate exposes neither `setvbuf` nor an
//! open from a `FILE*`. This reader keeps libpcap's behaviour, checked
//! against it record by record in the tests: the same magic numbers and
//! versions, the same timestamp arithmetic (nanosecond files truncated to
//! microseconds; pcapng `if_tsresol` as a power of 10 or of 2, and
//! `if_tsoffset`), the same limits on lying lengths (a caplen over 262144
//! is an error, a caplen over the file's snaplen is cut to it, a pcapng
//! block over 16 MiB is an error), and errors for a file cut short
//! anywhere. It does better than libpcap in two places: pcapng interfaces
//! may have different snapshot lengths, and sections may change byte order.
//!
//! Why not the `pcap-parser` crate: its streaming reader parses each
//! Enhanced Packet Block's options into a `Vec` (an allocation per packet
//! whenever a writer adds, say, `epb_flags`), it has no obsolete Packet
//! Block, and its `if_tsresol`/`if_tsoffset` helpers get binary resolutions
//! and big-endian offsets wrong (0.17). What is left to do after the
//! framing is a few fixed-layout headers, done here.

use super::{link_of, CaptureError, Frame};
use crate::decode::LinkType;
use std::io::{self, Read};

/// The read size: one `read` call per MiB instead of per 4 KiB.
const BUF_SIZE: usize = 1 << 20;

/// libpcap's `max_snaplen_for_dlt` for every link type medtap decodes: a
/// larger caplen is a corrupt record.
const MAX_SNAPLEN: u32 = 262_144;

/// libpcap's largest pcapng block (`INITIAL_MAX_BLOCKSIZE`), which bounds
/// how far the buffer may grow.
const MAX_BLOCK: u32 = 16 << 20;

/// libpcap's sanity bound on a Section Header Block's length
/// (`BT_SHB_INSANE_MAX`).
const MAX_SHB: u32 = 1 << 20;

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetzov's patched libpcap: 8 more bytes per record header.
const PCAP_MAGIC_KUZNETZOV: u32 = 0xa1b2_cd34;

const BT_SHB: u32 = 0x0a0d_0d0a;
const BT_IDB: u32 = 1;
const BT_PB: u32 = 2;
const BT_SPB: u32 = 3;
const BT_EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

/// Why a capture file could not be opened or read further.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The operating system's error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The first bytes are neither a pcap nor a pcapng magic number.
    #[error("not a pcap/pcapng file (magic number {0:#010x})")]
    NotCapture(u32),
    /// The file is shorter than the first magic number.
    #[error("not a pcap/pcapng file: {0} bytes, too short for a file header")]
    TooShort(usize),
    /// The input ended inside a header or record.
    #[error("truncated file: {what} needs {wanted} bytes, only {got} left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        wanted: u64,
        /// Bytes there were.
        got: u64,
    },
    /// A header field that libpcap rejects too (the text says which).
    #[error("{0}")]
    Corrupt(String),
}

/// A capture file being read front to back.
pub struct FileSource {
    input: Box<dyn Read + Send>,
    /// `buf[start..end]` is read but not yet parsed. Grows past
    /// [`BUF_SIZE`] only for a larger pcapng block, up to [`MAX_BLOCK`].
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The input said end of file.
    eof: bool,
    format: Format,
    /// The pcapng state (empty for a legacy file).
    ng: Ng,
    link: LinkType,
    name: String,
}

#[derive(Clone, Copy)]
enum Format {
    Pcap(Legacy),
    PcapNg,
}

/// A legacy pcap file's header, as libpcap keeps it.
#[derive(Clone, Copy)]
struct Legacy {
    swapped: bool,
    nanos: bool,
    /// 16, or 24 for Kuznetzov's format.
    record_header: usize,
    lengths: Lengths,
    /// The snapshot length, adjusted like libpcap's `pcap_adjust_snapshot`.
    snapshot: u32,
}

/// Files written before pcap 2.3 (and DG/UX's 543.0) have caplen and len
/// the other way round; some 2.3 files do and some do not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lengths {
    Normal,
    Swapped,
    Maybe,
}

/// The pcapng reader's state: the current section's byte order and
/// interfaces, and the file's link type (from its first interface).
struct Ng {
    swapped: bool,
    ifaces: Vec<Iface>,
    dlt: u32,
}

/// One pcapng interface's timestamp rules and snapshot length.
#[derive(Clone, Copy, Debug)]
struct Iface {
    /// Ticks per second: `10^n` or `2^n`.
    tsresol: u64,
    binary: bool,
    /// Seconds added to every timestamp (`if_tsoffset`).
    tsoffset: u64,
    snapshot: u32,
}

/// What one pcapng block is, where its body lies in the buffer.
struct Block {
    kind: u32,
    body: std::ops::Range<usize>,
}

fn corrupt(msg: String) -> FileError {
    FileError::Corrupt(msg)
}

fn u32_at(b: &[u8], at: usize, swapped: bool) -> u32 {
    let v = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if swapped {
        v.swap_bytes()
    } else {
        v
    }
}

fn u16_at(b: &[u8], at: usize, swapped: bool) -> u16 {
    let v = u16::from_le_bytes([b[at], b[at + 1]]);
    if swapped {
        v.swap_bytes()
    } else {
        v
    }
}

/// libpcap's `pcap_adjust_snapshot`: 0 or anything over the maximum means
/// the maximum.
fn adjust_snapshot(snaplen: u32) -> u32 {
    if snaplen == 0 || snaplen > MAX_SNAPLEN {
        MAX_SNAPLEN
    } else {
        snaplen
    }
}

/// libpcap's `LT_LINKTYPE`: the low 26 bits; the rest are flags.
fn link_type_of(raw: u32) -> u32 {
    raw & 0x03ff_ffff
}

/// `sec` seconds and `frac` microseconds as libpcap's `struct timeval`
/// gives them, in [`crate::time::Micros`] (saturating, like the live path).
fn micros(sec: i64, usec: i64) -> i64 {
    sec.saturating_mul(1_000_000).saturating_add(usec)
}

impl FileSource {
    /// Opens `path` (`-` reads standard input) and reads its header (for
    /// pcapng, up to its first interface).
    pub fn open(path: &str) -> Result<FileSource, CaptureError> {
        let open_err = |e: FileError| CaptureError::Open {
            what: path.to_string(),
            source: e.into(),
        };
        let input: Box<dyn Read + Send> = if path == "-" {
            // Stdin's own 8 KiB buffer is bypassed by reads larger than it.
            Box::new(io::stdin())
        } else {
            Box::new(std::fs::File::open(path).map_err(|e| open_err(e.into()))?)
        };
        Self::from_reader(path, input)
    }

    /// Reads a capture from any byte stream; `name` is used in messages.
    pub fn from_reader(
        name: &str,
        input: Box<dyn Read + Send>,
    ) -> Result<FileSource, CaptureError> {
        let mut src = FileSource {
            input,
            buf: vec![0; BUF_SIZE],
            start: 0,
            end: 0,
            eof: false,
            // Replaced by the header's.
            format: Format::Pcap(Legacy {
                swapped: false,
                nanos: false,
                record_header: 16,
                lengths: Lengths::Normal,
                snapshot: MAX_SNAPLEN,
            }),
            ng: Ng {
                swapped: false,
                ifaces: Vec::new(),
                dlt: 0,
            },
            link: LinkType::Ethernet,
            name: name.to_string(),
        };
        let dlt = src.read_header().map_err(|e| CaptureError::Open {
            what: name.to_string(),
            source: e.into(),
        })?;
        src.link = link_of(name, dlt as i32)?;
        Ok(src)
    }

    /// The file's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The path as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next frame, borrowed from the reader's buffer until the next
    /// call; `Ok(None)` at the end of the file. A file cut short in the
    /// middle of a record, or a record libpcap would reject, gives
    /// `Err(CaptureError::Read)`; the frames before it were good.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        let next = match self.format {
            Format::Pcap(l) => self.next_legacy(l),
            Format::PcapNg => self.next_ng(),
        };
        match next {
            Ok(Some((ts, wire_len, range))) => Ok(Some(Frame {
                ts,
                wire_len,
                data: &self.buf[range],
            })),
            Ok(None) => Ok(None),
            Err(e) => Err(CaptureError::Read {
                what: self.name.clone(),
                source: e.into(),
            }),
        }
    }

    /// Makes `n` bytes available at `buf[start..]` if the input has them;
    /// returns how many are available (fewer than `n` only at the end of
    /// the input). `n` must be at most [`MAX_BLOCK`] plus a header.
    #[inline]
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        let have = self.end - self.start;
        if have >= n || self.eof {
            return Ok(have);
        }
        self.refill(n)
    }

    #[cold]
    fn refill(&mut self, n: usize) -> io::Result<usize> {
        // Move the partial record (less than one record) to the front, so
        // every read asks for the rest of the buffer: about 1 MiB.
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if n > self.buf.len() {
            self.buf.resize(n.next_power_of_two(), 0);
        }
        while self.end < n {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end)
    }

    /// Reads the file header: the legacy pcap header, or a pcapng Section
    /// Header Block and the blocks up to the first Interface Description
    /// Block. Returns the link type.
    fn read_header(&mut self) -> Result<u32, FileError> {
        let have = self.fill(4)?;
        if have < 4 {
            return Err(FileError::TooShort(have));
        }
        let magic = u32_at(&self.buf, self.start, false);
        match magic {
            PCAP_MAGIC_US | PCAP_MAGIC_NS | PCAP_MAGIC_KUZNETZOV => self.read_legacy_header(false),
            m if matches!(
                m.swap_bytes(),
                PCAP_MAGIC_US | PCAP_MAGIC_NS | PCAP_MAGIC_KUZNETZOV
            ) =>
            {
                self.read_legacy_header(true)
            }
            BT_SHB => self.read_ng_header(),
            m => Err(FileError::NotCapture(m)),
        }
    }

    fn read_legacy_header(&mut self, swapped: bool) -> Result<u32, FileError> {
        let have = self.fill(24)?;
        if have < 24 {
            return Err(FileError::Truncated {
                what: "the pcap file header",
                wanted: 24,
                got: have as u64,
            });
        }
        let h = &self.buf[self.start..self.start + 24];
        let magic = u32_at(h, 0, swapped);
        let (major, minor) = (u16_at(h, 4, swapped), u16_at(h, 6, swapped));
        let snaplen = u32_at(h, 16, swapped);
        let dlt = link_type_of(u32_at(h, 20, swapped));
        if major < 2 {
            return Err(corrupt("archaic pcap savefile format".into()));
        }
        if !((major == 2 && minor <= 4) || (major == 543 && minor == 0)) {
            return Err(corrupt(format!(
                "unsupported pcap savefile version {major}.{minor}"
            )));
        }
        let lengths = match (major, minor) {
            (2, 0..=2) | (543, _) => Lengths::Swapped,
            (2, 3) => Lengths::Maybe,
            _ => Lengths::Normal,
        };
        let mut snapshot = adjust_snapshot(snaplen);
        let kuznetzov = magic == PCAP_MAGIC_KUZNETZOV;
        if kuznetzov && dlt == 1 {
            // libpcap: such captures may carry a faked 14-byte Ethernet
            // header on top of the snapshot length.
            snapshot += 14;
        }
        self.start += 24;
        self.format = Format::Pcap(Legacy {
            swapped,
            nanos: magic == PCAP_MAGIC_NS,
            record_header: if kuznetzov { 24 } else { 16 },
            lengths,
            snapshot,
        });
        Ok(dlt)
    }

    /// One legacy record: `(ts, wire_len, data range)`.
    #[inline]
    fn next_legacy(
        &mut self,
        l: Legacy,
    ) -> Result<Option<(i64, u32, std::ops::Range<usize>)>, FileError> {
        let (swapped, nanos, hlen, lengths, snapshot) =
            (l.swapped, l.nanos, l.record_header, l.lengths, l.snapshot);
        let have = self.fill(hlen)?;
        if have == 0 {
            return Ok(None);
        }
        if have < hlen {
            return Err(FileError::Truncated {
                what: "a record header",
                wanted: hlen as u64,
                got: have as u64,
            });
        }
        let h = &self.buf[self.start..self.start + hlen];
        // As libpcap (1.10) widens the on-disk timeval: its fields are
        // signed 32-bit, so a file in the host's byte order gives a ts_sec
        // of 0xffffffff as -1 s; but its byte swap yields an unsigned
        // value, so a swapped file gives the same field as 2106.
        let widen = |v: u32| {
            if swapped {
                i64::from(v)
            } else {
                i64::from(v as i32)
            }
        };
        let sec = widen(u32_at(h, 0, swapped));
        let mut frac = widen(u32_at(h, 4, swapped));
        let (mut caplen, mut len) = (u32_at(h, 8, swapped), u32_at(h, 12, swapped));
        if nanos {
            // libpcap's default microsecond precision: truncated.
            frac /= 1000;
        }
        if lengths == Lengths::Swapped || (lengths == Lengths::Maybe && caplen > len) {
            std::mem::swap(&mut caplen, &mut len);
        }
        if caplen > MAX_SNAPLEN {
            return Err(corrupt(if caplen > snapshot {
                format!("invalid packet capture length {caplen}, bigger than snaplen of {snapshot}")
            } else {
                format!(
                    "invalid packet capture length {caplen}, bigger than maximum of {MAX_SNAPLEN}"
                )
            }));
        }
        let total = hlen + caplen as usize;
        let have = self.fill(total)?;
        if have < total {
            return Err(FileError::Truncated {
                what: "a record's captured bytes",
                wanted: u64::from(caplen),
                got: (have - hlen) as u64,
            });
        }
        let data = self.start + hlen;
        self.start += total;
        // libpcap reads a record longer than the snapshot length but hands
        // out only the snapshot length's worth.
        let caplen = caplen.min(snapshot);
        Ok(Some((
            micros(sec, frac),
            len.max(caplen),
            data..data + caplen as usize,
        )))
    }

    /// Reads the Section Header Block and the blocks after it up to the
    /// first Interface Description Block, which gives the link type.
    fn read_ng_header(&mut self) -> Result<u32, FileError> {
        self.format = Format::PcapNg;
        let have = self.fill(12)?;
        if have < 12 {
            return Err(FileError::TooShort(have));
        }
        let bom = u32_at(&self.buf, self.start + 8, false);
        if bom != BYTE_ORDER_MAGIC && bom.swap_bytes() != BYTE_ORDER_MAGIC {
            // A text file can start with \n\r\r\n.
            return Err(FileError::NotCapture(BT_SHB));
        }
        let total = u32_at(&self.buf, self.start + 4, bom != BYTE_ORDER_MAGIC);
        if !(28..=MAX_SHB).contains(&total) {
            return Err(corrupt(format!(
                "Section Header Block in pcapng file has invalid length {total} (28 to {MAX_SHB})"
            )));
        }
        let Some(b) = self.read_block(true, true)? else {
            return Err(FileError::TooShort(0));
        };
        self.section(&b, true)?;
        loop {
            // Like libpcap, until the first interface: any other block is
            // skipped unread, a Section Header Block too (its byte order is
            // not followed).
            let Some(b) = self.read_block(false, false)? else {
                return Err(corrupt(
                    "the pcapng file has no Interface Description Blocks".into(),
                ));
            };
            match b.kind {
                BT_IDB => {
                    let dlt = self.interface(&b, true)?;
                    return Ok(dlt);
                }
                BT_EPB | BT_SPB | BT_PB => {
                    return Err(corrupt(
                        "the pcapng file has a packet block before any Interface Description Block"
                            .into(),
                    ))
                }
                _ => {}
            }
        }
    }

    /// The next pcapng block, checked like libpcap's `read_block`: at least
    /// 12 bytes, a multiple of 4, at most [`MAX_BLOCK`], the trailer's
    /// length equal to the header's; `first_shb` (the file's first Section
    /// Header Block, whose length libpcap only bounds) skips the last two
    /// checks. A Section Header Block sets the byte order (if
    /// `follow_shb`). `None` at the end of the file.
    #[inline]
    fn read_block(
        &mut self,
        first_shb: bool,
        follow_shb: bool,
    ) -> Result<Option<Block>, FileError> {
        let have = self.fill(12)?;
        if have == 0 {
            return Ok(None);
        }
        if have < 8 {
            return Err(FileError::Truncated {
                what: "a pcapng block header",
                wanted: 8,
                got: have as u64,
            });
        }
        let at = self.start;
        let mut swapped = self.ng.swapped;
        let kind = u32_at(&self.buf, at, swapped);
        if kind == BT_SHB && follow_shb {
            // A new section may change the byte order: its byte-order magic
            // says, and its length is in the new order.
            if have < 12 {
                return Err(FileError::Truncated {
                    what: "a Section Header Block",
                    wanted: 12,
                    got: have as u64,
                });
            }
            let bom = u32_at(&self.buf, at + 8, false);
            swapped = if bom == BYTE_ORDER_MAGIC {
                false
            } else if bom.swap_bytes() == BYTE_ORDER_MAGIC {
                true
            } else {
                return Err(corrupt(
                    "the file has a section with a bad byte order magic field".into(),
                ));
            };
            self.ng.swapped = swapped;
        }
        let total = u32_at(&self.buf, at + 4, swapped);
        if total < 12 {
            return Err(corrupt(format!(
                "block in pcapng file has a length of {total} < 12"
            )));
        }
        if !first_shb && !total.is_multiple_of(4) {
            return Err(corrupt(format!(
                "block in pcapng file has a length of {total} that is not a multiple of 4"
            )));
        }
        if total > MAX_BLOCK {
            return Err(corrupt(format!(
                "pcapng block size {total} > maximum {MAX_BLOCK}"
            )));
        }
        let total = total as usize;
        let have = self.fill(total)?;
        if have < total {
            return Err(FileError::Truncated {
                what: "a pcapng block",
                wanted: total as u64,
                got: have as u64,
            });
        }
        let at = self.start;
        let trailer = u32_at(&self.buf, at + total - 4, swapped) as usize;
        if !first_shb && trailer != total {
            return Err(corrupt(format!(
                "block total length in header {total} and trailer {trailer} don't match"
            )));
        }
        self.start += total;
        Ok(Some(Block {
            kind,
            body: at + 8..at + total - 4,
        }))
    }

    /// A Section Header Block: a new set of interfaces. Versions are
    /// checked as libpcap checks them: 1.0 and 1.2 for the file's first
    /// section, any 1.x after it.
    fn section(&mut self, b: &Block, first: bool) -> Result<(), FileError> {
        if b.body.len() < 16 {
            return Err(too_short(b));
        }
        let swapped = self.ng.swapped;
        let major = u16_at(&self.buf, b.body.start + 4, swapped);
        let minor = u16_at(&self.buf, b.body.start + 6, swapped);
        if first && !(major == 1 && (minor == 0 || minor == 2)) {
            return Err(corrupt(format!(
                "unsupported pcapng savefile version {major}.{minor}"
            )));
        }
        if major != 1 {
            return Err(corrupt(format!(
                "unknown pcapng savefile major version number {major}"
            )));
        }
        self.ng.ifaces.clear();
        Ok(())
    }

    /// An Interface Description Block: its link type must be the file's
    /// (the first interface's), since a [`Frame`] carries no link type.
    /// Returns the link type.
    fn interface(&mut self, b: &Block, first: bool) -> Result<u32, FileError> {
        if b.body.len() < 8 {
            return Err(too_short(b));
        }
        let swapped = self.ng.swapped;
        let body = &self.buf[b.body.clone()];
        let dlt = link_type_of(u32::from(u16_at(body, 0, swapped)));
        let snaplen = u32_at(body, 4, swapped);
        let (tsresol, binary, tsoffset) = idb_options(&body[8..], swapped)?;
        let ng = &mut self.ng;
        if first {
            ng.dlt = dlt;
        } else if dlt != ng.dlt {
            return Err(corrupt(format!(
                "an interface has link type {dlt}, different from the first interface's {}: \
                 medtap reads one link type per file",
                ng.dlt
            )));
        }
        ng.ifaces.push(Iface {
            tsresol,
            binary,
            tsoffset,
            snapshot: adjust_snapshot(snaplen),
        });
        Ok(dlt)
    }

    /// The next packet of a pcapng file, skipping (and taking note of)
    /// other blocks.
    fn next_ng(&mut self) -> Result<Option<(i64, u32, std::ops::Range<usize>)>, FileError> {
        loop {
            let Some(b) = self.read_block(false, true)? else {
                return Ok(None);
            };
            let swapped = self.ng.swapped;
            let body = &self.buf[b.body.clone()];
            let (iface_id, t, caplen, len, data_at) = match b.kind {
                BT_EPB => {
                    if body.len() < 20 {
                        return Err(too_short(&b));
                    }
                    let t = u64::from(u32_at(body, 4, swapped)) << 32
                        | u64::from(u32_at(body, 8, swapped));
                    let caplen = u32_at(body, 12, swapped);
                    (
                        u32_at(body, 0, swapped),
                        t,
                        caplen,
                        u32_at(body, 16, swapped),
                        20,
                    )
                }
                BT_PB => {
                    // The obsolete Packet Block: a 16-bit interface id and a
                    // drop count where the EPB has its 32-bit id.
                    if body.len() < 20 {
                        return Err(too_short(&b));
                    }
                    let t = u64::from(u32_at(body, 4, swapped)) << 32
                        | u64::from(u32_at(body, 8, swapped));
                    let caplen = u32_at(body, 12, swapped);
                    let id = u32::from(u16_at(body, 0, swapped));
                    (id, t, caplen, u32_at(body, 16, swapped), 20)
                }
                BT_SPB => {
                    // No timestamp, no caplen: interface 0, time 0, the
                    // packet length cut to the snapshot length (libpcap).
                    if body.len() < 4 {
                        return Err(too_short(&b));
                    }
                    let len = u32_at(body, 0, swapped);
                    let snapshot = self.ng.ifaces.first().map_or(u32::MAX, |i| i.snapshot);
                    (0, 0, len.min(snapshot), len, 4)
                }
                BT_IDB => {
                    self.interface(&b, false)?;
                    continue;
                }
                BT_SHB => {
                    self.section(&b, false)?;
                    continue;
                }
                // Name resolution, statistics, decryption secrets, custom
                // and unknown blocks carry no packets.
                _ => continue,
            };
            let Some(&iface) = self.ng.ifaces.get(iface_id as usize) else {
                return Err(corrupt(format!(
                    "a packet arrived on interface {iface_id}, but there's no \
                     Interface Description Block for that interface"
                )));
            };
            if caplen > iface.snapshot {
                return Err(corrupt(format!(
                    "invalid packet capture length {caplen}, bigger than snaplen of {}",
                    iface.snapshot
                )));
            }
            if caplen as usize > b.body.len() - data_at {
                return Err(too_short(&b));
            }
            let data = b.body.start + data_at;
            return Ok(Some((
                iface.micros(t),
                len.max(caplen),
                data..data + caplen as usize,
            )));
        }
    }
}

fn too_short(b: &Block) -> FileError {
    corrupt(format!(
        "block of type {} in pcapng file is too short",
        b.kind
    ))
}

impl Iface {
    /// A timestamp in this interface's ticks, in microseconds, with
    /// libpcap's arithmetic (unsigned, wrapping; the fraction scaled by
    /// the exact power of 10, or multiplied by 10^6 and divided by the
    /// binary resolution).
    fn micros(&self, t: u64) -> i64 {
        const US: u64 = 1_000_000;
        let sec = (t / self.tsresol).wrapping_add(self.tsoffset);
        let mut frac = t % self.tsresol;
        if self.binary {
            frac = frac.wrapping_mul(US) / self.tsresol;
        } else if self.tsresol > US {
            frac /= self.tsresol / US;
        } else {
            frac *= US / self.tsresol;
        }
        // time_t and libpcap's (int) cast of the fraction.
        micros(sec as i64, i64::from(frac as i32))
    }
}

/// The timestamp options of an Interface Description Block, checked like
/// libpcap's `process_idb_options`: `(ticks per second, binary, offset)`.
fn idb_options(mut opts: &[u8], swapped: bool) -> Result<(u64, bool, u64), FileError> {
    let (mut tsresol, mut binary, mut tsoffset) = (1_000_000u64, false, 0u64);
    let (mut saw_resol, mut saw_offset) = (false, false);
    let short = || corrupt("block of type 1 in pcapng file is too short".into());
    while !opts.is_empty() {
        if opts.len() < 4 {
            return Err(short());
        }
        let code = u16_at(opts, 0, swapped);
        let len = usize::from(u16_at(opts, 2, swapped));
        let padded = len.div_ceil(4) * 4;
        if opts.len() - 4 < padded {
            return Err(short());
        }
        let value = &opts[4..4 + len];
        opts = &opts[4 + padded..];
        match code {
            0 => {
                if len != 0 {
                    return Err(corrupt(format!(
                        "Interface Description Block has opt_endofopt option with length {len} != 0"
                    )));
                }
                break;
            }
            9 => {
                if len != 1 {
                    return Err(corrupt(format!(
                        "Interface Description Block has if_tsresol option with length {len} != 1"
                    )));
                }
                if saw_resol {
                    return Err(corrupt(
                        "Interface Description Block has more than one if_tsresol option".into(),
                    ));
                }
                saw_resol = true;
                let v = value[0];
                if v & 0x80 != 0 {
                    let shift = v & 0x7f;
                    if shift > 63 {
                        return Err(corrupt(format!(
                            "Interface Description Block if_tsresol option resolution 2^-{shift} is too high"
                        )));
                    }
                    (tsresol, binary) = (1 << shift, true);
                } else {
                    if v > 19 {
                        return Err(corrupt(format!(
                            "Interface Description Block if_tsresol option resolution 10^-{v} is too high"
                        )));
                    }
                    (tsresol, binary) = (10u64.pow(u32::from(v)), false);
                }
            }
            14 => {
                if len != 8 {
                    return Err(corrupt(format!(
                        "Interface Description Block has if_tsoffset option with length {len} != 8"
                    )));
                }
                if saw_offset {
                    return Err(corrupt(
                        "Interface Description Block has more than one if_tsoffset option".into(),
                    ));
                }
                saw_offset = true;
                let mut v = [0u8; 8];
                v.copy_from_slice(value);
                let v = u64::from_le_bytes(v);
                tsoffset = if swapped { v.swap_bytes() } else { v };
            }
            _ => {}
        }
    }
    Ok((tsresol, binary, tsoffset))
}

#[cfg(test)]
mod tests;
