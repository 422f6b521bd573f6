//! What the benches share: the real sensor (worker, event channel, fan-out)
//! sized like a sensor's default config, with no sinks (events are counted
//! at the fan-out and discarded: the writer is not part of the hot path),
//! and feeding it frames.

use medtap::capture::Frame;
use medtap::config::Config;
use medtap::decode::LinkType;
use medtap::sensor::{Mode, Sensor, SensorOptions};

/// A sensor as the default config builds it for live capture, minus
/// interim flow records, with the tables sized as these benches always were
/// (so that figures stay comparable across versions).
pub fn sensor() -> Sensor {
    let mut opts = SensorOptions::from_config(&Config::default(), Mode::Live, 1);
    opts.pipeline.interim_every = None;
    opts.pipeline.max_flows = 262_144;
    opts.pipeline.max_devices = 65_536;
    opts.pipeline.reassembly_bytes = 64 << 20;
    Sensor::new(&opts, Vec::new()).expect("starting the fan-out thread")
}

/// Processes Ethernet `frames` (time, bytes), shifted by `shift` µs.
pub fn feed<'a>(s: &mut Sensor, frames: impl IntoIterator<Item = (i64, &'a [u8])>, shift: i64) {
    for (ts, data) in frames {
        s.process(
            LinkType::Ethernet,
            &Frame {
                ts: ts + shift,
                wire_len: data.len() as u32,
                data,
            },
        );
    }
}
