//! Per-direction TCP stream reassembly, just enough for application parsers.
//!
//! In-order payload is handed to the consumer as borrowed slices, straight
//! from the packet. Out-of-order segments inside a bounded window are copied
//! into a small per-stream arena until the hole before them fills; bytes
//! already delivered (retransmissions, overlaps) are dropped — the first
//! copy wins. When a hole cannot be filled (lost packets, a capture that
//! started mid-stream, a full arena, the end of the flow) the consumer is
//! told how many bytes are missing and decides whether its protocol can
//! resynchronise.

use crate::decode::tcp_flags::{FIN, RST, SYN};

/// Bytes a stream may hold out of order (copied) before giving up on the hole.
pub const MAX_OOO_BYTES: usize = 64 * 1024;
/// Segments a stream may hold out of order.
pub const MAX_OOO_SEGMENTS: usize = 32;
/// How far ahead of the expected sequence number a segment may start and
/// still be held rather than treated as a gap.
pub const WINDOW: u32 = 1 << 20;

/// What the consumer (an application parser) receives.
pub trait StreamSink {
    /// Contiguous in-order bytes.
    fn data(&mut self, bytes: &[u8]);
    /// `len` bytes (at least) are missing before the next `data`.
    fn gap(&mut self, len: u32);
}

/// Counters for `medtap status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyCounters {
    /// Holes reported to parsers.
    pub gaps: u64,
    /// Bytes lost in those holes.
    pub gap_bytes: u64,
    /// Segments (or parts) that repeated bytes already seen.
    pub retransmissions: u64,
    /// Held segments whose overlapping bytes differed from the first copy
    /// (a sign of evasion or a broken stack).
    pub overlap_conflicts: u64,
    /// Out-of-order segments held until their hole filled.
    pub out_of_order: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    seq: u32,
    off: u32,
    len: u32,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    next_seq: u32,
    synced: bool,
    closed: bool,
    held: Vec<Held>,
    arena: Vec<u8>,
    /// Set when the sensor-wide reassembly memory is spent: this stream
    /// may not allocate an arena, so its holes become gaps at once.
    no_arena: bool,
}

impl Stream {
    /// Accounts one segment and delivers whatever became contiguous.
    pub fn segment(
        &mut self,
        seq: u32,
        flags: u8,
        payload: &[u8],
        sink: &mut dyn StreamSink,
        c: &mut ReassemblyCounters,
    ) {
        if flags & SYN != 0 {
            // The SYN occupies one sequence number; data after it starts at ISN+1.
            self.next_seq = seq.wrapping_add(1);
            self.synced = true;
            return;
        }
        if !self.synced {
            // Joined mid-stream: take the first segment as the start.
            self.next_seq = seq;
            self.synced = true;
        }
        if flags & (FIN | RST) != 0 && payload.is_empty() {
            self.closed = true;
            return;
        }
        if payload.is_empty() || self.closed {
            return;
        }
        let rel = seq.wrapping_sub(self.next_seq) as i32;
        if rel < 0 {
            // Starts before what we expect: drop the part already delivered.
            let skip = rel.unsigned_abs() as usize;
            if skip >= payload.len() {
                c.retransmissions += 1;
                return;
            }
            c.retransmissions += 1;
            self.deliver(&payload[skip..], sink, c);
        } else if rel == 0 {
            self.deliver(payload, sink, c);
        } else if (rel as u32) < WINDOW && self.hold(seq, payload, c) {
            c.out_of_order += 1;
        } else {
            // Too far ahead or no room: the hole will not fill.
            self.flush_with_gaps(sink, c);
            let missing = seq.wrapping_sub(self.next_seq);
            if (missing as i32) > 0 {
                self.report_gap(missing, sink, c);
            }
            self.deliver(payload, sink, c);
        }
        if flags & (FIN | RST) != 0 {
            self.closed = true;
        }
    }

    /// Delivers held segments at the end of the flow, reporting the holes.
    pub fn finish(&mut self, sink: &mut dyn StreamSink, c: &mut ReassemblyCounters) {
        self.flush_with_gaps(sink, c);
    }

    /// True once this stream owns an out-of-order arena ([`MAX_OOO_BYTES`]).
    pub fn has_arena(&self) -> bool {
        self.arena.capacity() > 0
    }

    /// Allows or forbids allocating an arena (the caller keeps a sensor-wide budget).
    pub fn allow_arena(&mut self, allowed: bool) {
        self.no_arena = !allowed;
    }

    /// Resets for reuse by another flow (keeps the arena's capacity).
    pub fn reset(&mut self) {
        self.next_seq = 0;
        self.synced = false;
        self.closed = false;
        self.held.clear();
        self.arena.clear();
    }

    fn report_gap(&mut self, missing: u32, sink: &mut dyn StreamSink, c: &mut ReassemblyCounters) {
        c.gaps += 1;
        c.gap_bytes += u64::from(missing);
        sink.gap(missing);
        self.next_seq = self.next_seq.wrapping_add(missing);
    }

    fn deliver(&mut self, bytes: &[u8], sink: &mut dyn StreamSink, c: &mut ReassemblyCounters) {
        sink.data(bytes);
        self.next_seq = self.next_seq.wrapping_add(bytes.len() as u32);
        self.drain_held(sink, c);
    }

    /// Copies a future segment into the arena; false when there is no room.
    fn hold(&mut self, seq: u32, payload: &[u8], c: &mut ReassemblyCounters) -> bool {
        // A held segment with the same start: first copy wins.
        if let Some(h) = self.held.iter().find(|h| h.seq == seq) {
            let n = (h.len as usize).min(payload.len());
            let old = &self.arena[h.off as usize..h.off as usize + n];
            if old != &payload[..n] {
                c.overlap_conflicts += 1;
            }
            c.retransmissions += 1;
            return true;
        }
        if self.held.len() >= MAX_OOO_SEGMENTS || self.arena.len() + payload.len() > MAX_OOO_BYTES {
            return false;
        }
        if self.arena.capacity() == 0 {
            if self.no_arena {
                return false;
            }
            // Once per stream, then reused: out-of-order data is the exception.
            self.arena.reserve_exact(MAX_OOO_BYTES);
        }
        self.held.push(Held {
            seq,
            off: self.arena.len() as u32,
            len: payload.len() as u32,
        });
        self.arena.extend_from_slice(payload);
        true
    }

    /// Delivers held segments that have become contiguous.
    fn drain_held(&mut self, sink: &mut dyn StreamSink, c: &mut ReassemblyCounters) {
        while let Some(i) = self
            .held
            .iter()
            .position(|h| (h.seq.wrapping_sub(self.next_seq) as i32) <= 0)
        {
            let h = self.held.swap_remove(i);
            let skip = self.next_seq.wrapping_sub(h.seq) as usize;
            if skip < h.len as usize {
                let (start, end) = ((h.off as usize) + skip, (h.off + h.len) as usize);
                sink.data(&self.arena[start..end]);
                self.next_seq = h.seq.wrapping_add(h.len);
            } else {
                c.retransmissions += 1;
            }
        }
        if self.held.is_empty() {
            self.arena.clear();
        }
    }

    /// Gives up on the current hole: jumps to the earliest held segment,
    /// repeatedly, until nothing is held.
    fn flush_with_gaps(&mut self, sink: &mut dyn StreamSink, c: &mut ReassemblyCounters) {
        while let Some(first) = self
            .held
            .iter()
            .min_by_key(|h| h.seq.wrapping_sub(self.next_seq))
            .copied()
        {
            let missing = first.seq.wrapping_sub(self.next_seq);
            if (missing as i32) > 0 {
                self.report_gap(missing, sink, c);
            }
            self.drain_held(sink, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::ACK;

    #[derive(Default)]
    struct Collect {
        bytes: Vec<u8>,
        gaps: Vec<u32>,
        events: Vec<String>,
    }
    impl StreamSink for Collect {
        fn data(&mut self, b: &[u8]) {
            self.bytes.extend_from_slice(b);
            self.events.push(String::from_utf8_lossy(b).into_owned());
        }
        fn gap(&mut self, len: u32) {
            self.gaps.push(len);
            self.events.push(format!("<gap {len}>"));
        }
    }

    fn run(segments: &[(u32, &[u8])]) -> (Collect, ReassemblyCounters) {
        let mut s = Stream::default();
        let mut sink = Collect::default();
        let mut c = ReassemblyCounters::default();
        s.segment(999, SYN, &[], &mut sink, &mut c);
        for (seq, p) in segments {
            s.segment(*seq, ACK, p, &mut sink, &mut c);
        }
        s.finish(&mut sink, &mut c);
        (sink, c)
    }

    #[test]
    fn in_order_segments_are_delivered_as_they_come() {
        let (s, c) = run(&[(1000, b"abc"), (1003, b"def")]);
        assert_eq!(s.events, ["abc", "def"]);
        assert_eq!(c, ReassemblyCounters::default());
    }

    #[test]
    fn retransmission_is_dropped_and_partial_overlap_trimmed() {
        let (s, c) = run(&[
            (1000, b"abc"),
            (1000, b"abc"),
            (1001, b"bcdef"),
            (1006, b"g"),
        ]);
        assert_eq!(s.bytes, b"abcdefg");
        assert_eq!(c.retransmissions, 2);
    }

    #[test]
    fn out_of_order_segments_wait_for_the_hole() {
        let (s, c) = run(&[(1000, b"ab"), (1004, b"ef"), (1006, b"gh"), (1002, b"cd")]);
        assert_eq!(s.bytes, b"abcdefgh");
        assert!(s.gaps.is_empty());
        assert_eq!(c.out_of_order, 2);
    }

    #[test]
    fn a_differing_copy_of_a_held_segment_is_a_conflict_and_the_first_wins() {
        let (s, c) = run(&[(1000, b"ab"), (1004, b"ef"), (1004, b"XY"), (1002, b"cd")]);
        assert_eq!(s.bytes, b"abcdef");
        assert_eq!(c.overlap_conflicts, 1);
    }

    #[test]
    fn a_hole_that_never_fills_is_reported_at_the_end() {
        let (s, _) = run(&[(1000, b"ab"), (1010, b"kl")]);
        assert_eq!(s.events, ["ab", "<gap 8>", "kl"]);
    }

    #[test]
    fn a_segment_beyond_the_window_is_a_gap_immediately() {
        let (s, c) = run(&[
            (1000, b"ab"),
            (1002 + WINDOW, b"zz"),
            (1004 + WINDOW, b"yy"),
        ]);
        assert_eq!(s.events, ["ab", &format!("<gap {WINDOW}>"), "zz", "yy"]);
        assert_eq!((c.gaps, c.gap_bytes), (1, u64::from(WINDOW)));
    }

    #[test]
    fn midstream_start_takes_the_first_segment_as_origin() {
        let mut s = Stream::default();
        let mut sink = Collect::default();
        let mut c = ReassemblyCounters::default();
        s.segment(5000, ACK, b"xyz", &mut sink, &mut c);
        s.segment(5003, ACK, b"!", &mut sink, &mut c);
        assert_eq!(sink.bytes, b"xyz!");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::default();
        let mut sink = Collect::default();
        let mut c = ReassemblyCounters::default();
        s.segment(u32::MAX - 1, SYN, &[], &mut sink, &mut c);
        s.segment(u32::MAX, ACK, b"a", &mut sink, &mut c);
        s.segment(1, ACK, b"c", &mut sink, &mut c);
        s.segment(0, ACK, b"b", &mut sink, &mut c);
        assert_eq!(sink.bytes, b"abc");
    }

    #[test]
    fn a_stream_without_arena_budget_reports_holes_at_once() {
        let mut s = Stream::default();
        s.allow_arena(false);
        let mut sink = Collect::default();
        let mut c = ReassemblyCounters::default();
        s.segment(999, SYN, &[], &mut sink, &mut c);
        s.segment(1000, ACK, b"ab", &mut sink, &mut c);
        s.segment(1004, ACK, b"ef", &mut sink, &mut c);
        assert_eq!(sink.events, ["ab", "<gap 2>", "ef"]);
        assert!(!s.has_arena());
    }

    #[test]
    fn a_full_arena_turns_the_hole_into_a_gap() {
        let big = vec![b'x'; MAX_OOO_BYTES / 2 + 1];
        let (s, _) = run(&[
            (1000, b"a"),
            (1002, &big),
            (1002 + big.len() as u32 + 5, &big),
        ]);
        assert_eq!(s.gaps, [1, 5]);
        assert_eq!(s.bytes.len(), 1 + 2 * big.len());
    }
}
