//! A block of frames on its way from the hot path to the archive thread:
//! one reusable buffer of records `[ts i64][wire_len u32][caplen u32]
//! [flow_id u64][bytes]` (little-endian), all of one link type.

use crate::decode::LinkType;
use crate::time::Micros;

/// Bytes of a record's header in a block.
pub const RECORD_HEADER: usize = 24;

/// Bytes of frame data a block holds.
pub const BLOCK_BYTES: usize = 1 << 20;

/// A buffer of frames of one link type.
pub struct Block {
    /// The frames' link type.
    pub link: LinkType,
    buf: Vec<u8>,
    frames: u32,
}

/// One frame read back from a [`Block`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Capture time.
    pub ts: Micros,
    /// Length on the wire.
    pub wire_len: u32,
    /// The flow it belongs to (0: none).
    pub flow_id: u64,
    /// The bytes kept.
    pub data: &'a [u8],
}

impl Block {
    /// An empty block (allocated once, at start).
    pub fn new() -> Block {
        Block::with_capacity(BLOCK_BYTES)
    }

    /// An empty block of `bytes` (tests and the fuzz target use small ones).
    pub fn with_capacity(bytes: usize) -> Block {
        Block {
            link: LinkType::Ethernet,
            buf: Vec::with_capacity(bytes),
            frames: 0,
        }
    }

    /// Empties the block for frames of `link`.
    pub fn reset(&mut self, link: LinkType) {
        self.link = link;
        self.buf.clear();
        self.frames = 0;
    }

    /// Bytes still free.
    pub fn room(&self) -> usize {
        BLOCK_BYTES.saturating_sub(self.buf.len())
    }

    /// Whether it holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Frames held.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Appends a frame. A frame larger than a whole block still goes in
    /// (the buffer grows once): capture's snaplen bounds it.
    pub fn push(&mut self, ts: Micros, wire_len: u32, flow_id: u64, data: &[u8]) {
        // One header copy and one data copy: this runs per frame.
        let mut h = [0u8; RECORD_HEADER];
        h[0..8].copy_from_slice(&ts.to_le_bytes());
        h[8..12].copy_from_slice(&wire_len.to_le_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[16..24].copy_from_slice(&flow_id.to_le_bytes());
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(data);
        self.frames += 1;
    }

    /// The frames, in the order pushed.
    pub fn records(&self) -> Records<'_> {
        Records { rest: &self.buf }
    }
}

impl Default for Block {
    fn default() -> Self {
        Block::new()
    }
}

/// Iterator over a block's frames.
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let h = self.rest.get(..RECORD_HEADER)?;
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let caplen = u32_at(12) as usize;
        let data = self.rest.get(RECORD_HEADER..RECORD_HEADER + caplen)?;
        let r = Record {
            ts: u64_at(0) as i64,
            wire_len: u32_at(8),
            flow_id: u64_at(16),
            data,
        };
        self.rest = &self.rest[RECORD_HEADER + caplen..];
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_as_pushed() {
        let mut b = Block::new();
        b.reset(LinkType::RawIp);
        b.push(-5, 60, 7, b"abc");
        b.push(1_700_000_000_000_001, 1514, 0, b"");
        let r: Vec<_> = b.records().collect();
        assert_eq!(b.frames(), 2);
        assert_eq!(
            r,
            vec![
                Record {
                    ts: -5,
                    wire_len: 60,
                    flow_id: 7,
                    data: b"abc"
                },
                Record {
                    ts: 1_700_000_000_000_001,
                    wire_len: 1514,
                    flow_id: 0,
                    data: b""
                },
            ]
        );
        assert_eq!(b.room(), BLOCK_BYTES - 2 * RECORD_HEADER - 3);
    }
}
