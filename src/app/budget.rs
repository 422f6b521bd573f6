//! The sensor-wide reassembly budget: out-of-order arenas are allocated
//! only while it lasts, so the memory for reassembly has a named cap
//! (`flow.reassembly_bytes`).

use crate::flow::reassembly::{ReassemblyCounters, Stream, StreamSink, MAX_OOO_BYTES};

/// How many more out-of-order arenas ([`MAX_OOO_BYTES`] each) streams may
/// allocate. Arenas stay with their stream's pooled state and are reused,
/// so they are never given back.
#[derive(Debug)]
pub(super) struct ArenaBudget {
    left: usize,
}

impl ArenaBudget {
    /// A budget of `reassembly_bytes` in total.
    pub fn new(reassembly_bytes: usize) -> ArenaBudget {
        ArenaBudget {
            left: reassembly_bytes / MAX_OOO_BYTES,
        }
    }

    /// Hands one segment to `stream`, which may take an arena only while
    /// the budget lasts.
    pub fn segment(
        &mut self,
        stream: &mut Stream,
        (seq, flags, payload): (u32, u8, &[u8]),
        sink: &mut dyn StreamSink,
        counters: &mut ReassemblyCounters,
    ) {
        let had_arena = stream.has_arena();
        stream.allow_arena(self.left > 0);
        stream.segment(seq, flags, payload, sink, counters);
        if !had_arena && stream.has_arena() {
            self.left -= 1;
        }
    }
}
