//! The HL7/MLLP conversation parser on its own, fed the chunks of
//! [`medtap_fuzz::chunks`] (directions and gaps); each chunk is one tick of
//! the clock, so ACK latencies are computed too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::hl7::{conversation, Conversation};
use medtap_fuzz::{chunks, Chunk};

fuzz_target!(|data: &[u8]| {
    let mut c = Conversation::default();
    let mut ts = 0i64;
    for chunk in chunks(data) {
        ts += 1;
        match chunk {
            Chunk::Data { to_server, bytes } => c.data(to_server, bytes, ts, &mut |_, _| {}),
            Chunk::Gap { to_server, .. } => c.gap(to_server, ts, &mut |_, _| {}),
        }
        for m in c.take_messages() {
            assert!(m.segments.len() <= conversation::MAX_SEGMENT_IDS);
        }
    }
    c.finish(ts + 1, &mut |_, _| {});
    let _ = c.take_messages().count();
});
