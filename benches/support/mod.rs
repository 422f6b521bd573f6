//! What the benches share: a pipeline whose records go nowhere (the writer
//! is not part of the hot path: one failed `try_send` per record), and
//! feeding it frames.

use medtap::capture::Frame;
use medtap::decode::LinkType;
use medtap::event::{channel, Backpressure};
use medtap::pipeline::{Pipeline, PipelineOptions};
use medtap::time::SECOND;

/// A pipeline sized like a sensor's default config.
pub fn pipeline() -> Pipeline {
    let (tx, _rx) = channel(1 << 16, Backpressure::Drop);
    let opts = PipelineOptions {
        max_flows: 262_144,
        timeouts: medtap::flow::Timeouts::default(),
        max_devices: 65_536,
        local_networks: medtap::config::IdentityConfig::default().networks(),
        device_flush_every: 60 * SECOND,
        first_flow_id: 1,
        reassembly_bytes: 64 << 20,
        interim_every: None,
    };
    Pipeline::new(&opts, tx)
}

/// Processes Ethernet `frames` (time, bytes), shifted by `shift` µs.
pub fn feed<'a>(p: &mut Pipeline, frames: impl IntoIterator<Item = (i64, &'a [u8])>, shift: i64) {
    for (ts, data) in frames {
        p.process(
            LinkType::Ethernet,
            &Frame {
                ts: ts + shift,
                wire_len: data.len() as u32,
                data,
            },
        );
    }
}
