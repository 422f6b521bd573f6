//! MLLP framing of one direction (start block 0x0B, message, end block
//! 0x1C 0x0D) and the message's segments, streamed: a segment medtap reads
//! (MSH, MSA, and the batch headers FHS/BHS) is handed over whole — in place
//! when it lies within one chunk, else from a small capped buffer — and of
//! every other segment only its id. Message bodies are never buffered, so a
//! message of any size costs no memory; only [`MAX_MESSAGE`] bounds it.

/// Start block.
pub const START: u8 = 0x0B;
/// First end-block byte (followed by CR).
pub const END: u8 = 0x1C;
/// Messages over this many bytes are flagged; the rest of the frame is
/// still scanned for its end block, but no segment of it is read.
pub const MAX_MESSAGE: u64 = 16 << 20;
/// Most bytes kept of a segment medtap reads (MSH is rarely over 300).
pub const MAX_SEGMENT: usize = 4096;
/// Bytes of other segments kept: the id and the separator after it.
pub const ID_BYTES: usize = 4;

/// How a frame ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameEnd {
    /// End block seen.
    Complete,
    /// A new start block came before the end block: the frame had no trailer.
    NoTrailer,
    /// Bytes of the frame were lost (a capture gap).
    Gap,
    /// The stream ended inside the frame.
    Unfinished,
}

/// Framing problems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Non-blank bytes outside any frame (reported once per run of them).
    BytesOutsideFrame,
    /// The frame passed [`MAX_MESSAGE`]: the rest is scanned for the end
    /// block only.
    Oversized,
}

/// Receives what the framer finds.
pub trait Handler {
    /// A start block opened a frame.
    fn frame_start(&mut self);
    /// A segment of the current frame: whole for MSH/MSA/FHS/BHS (up to
    /// [`MAX_SEGMENT`] bytes), else its first [`ID_BYTES`].
    fn segment(&mut self, seg: &[u8]);
    /// The current frame ended; `bytes` is its length between the blocks;
    /// `oversized` if it passed [`MAX_MESSAGE`].
    fn frame_end(&mut self, how: FrameEnd, bytes: u64, oversized: bool);
    /// A framing problem.
    fn problem(&mut self, p: Problem);
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Looking for a start block; other bytes are out of frame.
    #[default]
    Outside,
    /// After a gap: looking for a start block, the rest of the lost frame
    /// is expected and not flagged.
    Resync,
    /// Inside a frame.
    InFrame,
    /// After 0x1C: a CR completes the end block.
    AfterEnd,
}

/// The framer of one direction.
#[derive(Debug, Default)]
pub struct Framer {
    state: State,
    /// Out-of-frame bytes already reported in the current run.
    outside_reported: bool,
    /// Bytes of the current frame so far.
    frame_bytes: u64,
    /// The frame passed [`MAX_MESSAGE`]: segments are no longer read.
    oversized: bool,
    /// The line break that ended the frame's first segment (CR, or LF from
    /// senders that use it): the other one is then part of a field, as in
    /// free text sent with raw line feeds, and ends nothing.
    terminator: Option<u8>,
    /// Bytes of the current segment so far (kept or not).
    seg_len: usize,
    /// Kept bytes of the current segment, when it spans chunks.
    buf: Vec<u8>,
}

/// Segments read whole; all others are counted by id only.
fn is_read_whole(id: &[u8]) -> bool {
    matches!(id, b"MSH" | b"MSA" | b"FHS" | b"BHS")
}

/// Position of the next byte that ends a segment or frame.
fn next_special(data: &[u8]) -> Option<usize> {
    data.iter()
        .position(|&b| matches!(b, b'\r' | b'\n' | END | START))
}

impl Framer {
    /// Clears everything for reuse (keeps the buffer's capacity).
    pub fn reset(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        *self = Framer {
            buf,
            ..Framer::default()
        };
    }

    /// In-order bytes of this direction.
    pub fn feed(&mut self, mut data: &[u8], h: &mut dyn Handler) {
        while !data.is_empty() {
            match self.state {
                State::Outside | State::Resync => {
                    let start = data.iter().position(|&b| b == START);
                    let stray = &data[..start.unwrap_or(data.len())];
                    if self.state == State::Outside
                        && !self.outside_reported
                        && stray.iter().any(|b| !b.is_ascii_whitespace())
                    {
                        self.outside_reported = true;
                        h.problem(Problem::BytesOutsideFrame);
                    }
                    let Some(at) = start else { return };
                    data = &data[at + 1..];
                    self.open(h);
                }
                State::AfterEnd => {
                    if data[0] == b'\r' {
                        data = &data[1..];
                    }
                    self.state = State::Outside;
                }
                State::InFrame => {
                    let special = next_special(data);
                    let (part, rest) = data.split_at(special.unwrap_or(data.len()));
                    self.frame_bytes += part.len() as u64;
                    if !self.oversized && self.frame_bytes > MAX_MESSAGE {
                        self.oversized = true;
                        h.problem(Problem::Oversized);
                    }
                    let Some((&b, after)) = rest.split_first() else {
                        self.keep(part);
                        return;
                    };
                    data = after;
                    if matches!(b, b'\r' | b'\n')
                        && *self.terminator.get_or_insert(b) != b
                        && (self.seg_len > 0 || !part.is_empty())
                    {
                        // A line break inside a field: the segment goes on.
                        // (Right after the terminator it is an empty line, as
                        // the LF of CRLF.)
                        self.keep(part);
                        self.keep(std::slice::from_ref(&b));
                        self.frame_bytes += 1;
                        continue;
                    }
                    if self.seg_len == 0 && !part.is_empty() && !self.oversized {
                        // The whole segment is in this chunk: hand it over in place.
                        let whole = is_read_whole(part.get(..3).unwrap_or(part));
                        let n = if whole {
                            part.len().min(MAX_SEGMENT)
                        } else {
                            part.len().min(ID_BYTES)
                        };
                        h.segment(&part[..n]);
                    } else {
                        self.keep(part);
                        self.end_segment(h);
                    }
                    match b {
                        b'\r' | b'\n' => self.frame_bytes += 1,
                        END => self.close(FrameEnd::Complete, h),
                        _ => {
                            // START inside a frame: the frame had no trailer.
                            self.close(FrameEnd::NoTrailer, h);
                            self.open(h);
                        }
                    }
                }
            }
        }
    }

    /// Bytes of this direction were lost: the open frame is cut, and the
    /// bytes up to the next start block belong to a lost frame (the gap may
    /// have swallowed its start block), not flagged as out of frame.
    pub fn gap(&mut self, h: &mut dyn Handler) {
        if self.state == State::InFrame {
            self.close(FrameEnd::Gap, h);
        }
        self.state = State::Resync;
    }

    /// The stream ended.
    pub fn finish(&mut self, h: &mut dyn Handler) {
        if self.state == State::InFrame {
            self.end_segment(h);
            self.close(FrameEnd::Unfinished, h);
        }
        self.state = State::Outside;
    }

    fn open(&mut self, h: &mut dyn Handler) {
        self.state = State::InFrame;
        self.outside_reported = false;
        self.frame_bytes = 0;
        self.oversized = false;
        self.terminator = None;
        self.seg_len = 0;
        self.buf.clear();
        h.frame_start();
    }

    fn close(&mut self, how: FrameEnd, h: &mut dyn Handler) {
        self.seg_len = 0;
        self.buf.clear();
        self.state = if how == FrameEnd::Complete {
            State::AfterEnd
        } else {
            State::Outside
        };
        h.frame_end(how, self.frame_bytes, self.oversized);
    }

    /// Adds a piece of the current segment, keeping only what will be read.
    fn keep(&mut self, mut part: &[u8]) {
        if self.oversized {
            return;
        }
        self.seg_len += part.len();
        if self.buf.len() < 3 {
            // The id decides how much is kept: take it first.
            let n = part.len().min(3 - self.buf.len());
            self.buf.extend_from_slice(&part[..n]);
            part = &part[n..];
            if self.buf.len() < 3 {
                return;
            }
        }
        let limit = if is_read_whole(&self.buf[..3]) {
            MAX_SEGMENT
        } else {
            ID_BYTES
        };
        let room = limit.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn end_segment(&mut self, h: &mut dyn Handler) {
        if self.seg_len > 0 && !self.oversized {
            h.segment(&self.buf);
        }
        self.seg_len = 0;
        self.buf.clear();
    }
}
