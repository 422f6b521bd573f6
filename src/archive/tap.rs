//! The hot path's side of the archive: frames are copied, cut to the
//! per-flow payload cap, into large reusable blocks that go to the archive
//! thread whole. Nothing is allocated per frame and nothing waits: when no
//! empty block is free (the thread is behind), frames are counted and not
//! archived.

use super::block::{Block, RECORD_HEADER};
use super::RingCounters;
use crate::capture::Frame;
use crate::decode::LinkType;
use crate::time::Micros;
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;

/// Bytes kept of a frame that belongs to no flow (ARP, LLDP, fragments,
/// undecodable frames) while a payload cap is set: every header medtap
/// decodes fits, and ARP, the frames incidents about addresses need, are
/// far shorter.
pub const UNFLOWED_KEEP: usize = 256;

/// Where a frame's TCP/UDP payload sits, and which flow it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct FlowFrame {
    /// The flow's slot in the flow table.
    pub slot: u32,
    /// The slot holds a new flow since the last frame seen in it.
    pub new: bool,
    /// The flow's id.
    pub flow_id: u64,
    /// Offset of the payload in the frame's captured bytes.
    pub payload_offset: usize,
    /// Payload bytes captured.
    pub payload_len: usize,
}

/// The hot path's archive counters (running totals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapCounters {
    /// Frames handed to the archive thread.
    pub frames: u64,
    /// Frames not archived: no free block (the archive thread was behind).
    pub dropped: u64,
    /// Payload bytes not archived because of the per-flow cap.
    pub cut_bytes: u64,
}

/// The hot path's end of the archive.
pub struct Tap {
    free: Receiver<Block>,
    full: Sender<Block>,
    block: Option<Block>,
    /// Payload bytes kept so far per flow slot (empty without a cap).
    kept: Vec<u32>,
    cap: u32,
    counters: TapCounters,
    /// What the archive thread counts (read with the statistics only).
    ring: Arc<RingCounters>,
    /// Packet time of the first frame in the current block.
    block_since: Micros,
    /// How long to wait for a free block (`None`: never).
    wait: Option<std::time::Duration>,
}

impl Tap {
    pub(super) fn new(
        free: Receiver<Block>,
        full: Sender<Block>,
        max_flows: usize,
        cap: u64,
        ring: Arc<RingCounters>,
        wait: Option<std::time::Duration>,
    ) -> Tap {
        let cap = u32::try_from(cap).unwrap_or(u32::MAX);
        Tap {
            free,
            full,
            block: None,
            kept: if cap > 0 {
                vec![0; max_flows]
            } else {
                Vec::new()
            },
            cap,
            counters: TapCounters::default(),
            ring,
            block_since: 0,
            wait,
        }
    }

    /// Archives `frame`, cut to the payload cap of its flow (`flow`), or to
    /// [`UNFLOWED_KEEP`] bytes when it has no flow and a cap is set.
    #[inline]
    pub fn frame(&mut self, link: LinkType, frame: &Frame<'_>, flow: Option<FlowFrame>) {
        let len = frame.data.len();
        let (keep, flow_id) = match flow {
            _ if self.cap == 0 => (len, flow.map_or(0, |f| f.flow_id)),
            None => (len.min(UNFLOWED_KEEP), 0),
            Some(f) => {
                let cap = self.cap;
                // A slot past the table's size cannot happen; it would keep
                // the headers only rather than panic.
                let allowed = self.kept.get_mut(f.slot as usize).map_or(0, |used| {
                    if f.new {
                        *used = 0;
                    }
                    let allowed = (cap.saturating_sub(*used) as usize).min(f.payload_len);
                    *used = used.saturating_add(allowed as u32);
                    allowed
                });
                // A frame whose payload is kept whole is kept whole
                // (Ethernet padding too); past the cap, the padding goes
                // with the payload.
                let keep = if allowed == f.payload_len {
                    len
                } else {
                    (f.payload_offset + allowed).min(len)
                };
                (keep, f.flow_id)
            }
        };
        self.counters.cut_bytes += (len - keep) as u64;
        self.push(link, frame, keep, flow_id);
    }

    /// Copies the first `keep` bytes of `frame` into the current block.
    #[inline]
    fn push(&mut self, link: LinkType, frame: &Frame<'_>, keep: usize, flow_id: u64) {
        let need = RECORD_HEADER + keep;
        let fits = self
            .block
            .as_ref()
            .is_some_and(|b| b.link == link && b.room() >= need);
        if !fits && !self.next_block(link, frame.ts) {
            self.counters.dropped += 1;
            return;
        }
        if let Some(b) = self.block.as_mut() {
            b.push(frame.ts, frame.wire_len, flow_id, &frame.data[..keep]);
            self.counters.frames += 1;
        }
    }

    /// Sends the current block on and takes an empty one for `link`;
    /// false when none is free.
    fn next_block(&mut self, link: LinkType, ts: Micros) -> bool {
        self.flush();
        let free = match self.wait {
            None => self.free.try_recv().ok(),
            Some(wait) => self.free.recv_timeout(wait).ok(),
        };
        match free {
            Some(mut b) => {
                b.reset(link);
                self.block = Some(b);
                self.block_since = ts;
                true
            }
            None => false,
        }
    }

    /// Sends the current block to the archive thread if it holds frames.
    pub fn flush(&mut self) {
        if let Some(b) = self.block.take() {
            if b.is_empty() {
                self.block = Some(b);
                return;
            }
            let frames = u64::from(b.frames());
            // The channel holds every block there is, so it is never full;
            // it is closed only if the archive thread died.
            if self.full.try_send(b).is_err() {
                self.counters.dropped += frames;
                self.counters.frames -= frames.min(self.counters.frames);
            }
        }
    }

    /// Sends the current block on when its first frame is at least
    /// `every` older than `now`, so a quiet link's frames reach the files
    /// within about that time.
    pub fn flush_if_older(&mut self, now: Micros, every: Micros) {
        if self
            .block
            .as_ref()
            .is_some_and(|b| !b.is_empty() && now.saturating_sub(self.block_since) >= every)
        {
            self.flush();
        }
    }

    /// Running totals of the hot path's counters.
    pub fn counters(&self) -> TapCounters {
        self.counters
    }

    /// What the archive thread counted.
    pub fn ring_counters(&self) -> &RingCounters {
        &self.ring
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.flush();
    }
}
