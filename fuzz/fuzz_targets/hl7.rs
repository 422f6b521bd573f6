//! The HL7/MLLP conversation parser on its own: the input is a sequence of
//! chunks `dir: u8 | len: u16 LE | bytes`, where `dir` bit 0 picks the
//! direction and bit 1 turns the chunk into a gap of `len` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::hl7::{conversation, Conversation};

fuzz_target!(|data: &[u8]| {
    let mut c = Conversation::default();
    let mut rest = data;
    let mut ts = 0i64;
    while rest.len() >= 3 {
        let (dir, len) = (rest[0], usize::from(u16::from_le_bytes([rest[1], rest[2]])));
        rest = &rest[3..];
        let to_server = dir & 1 == 0;
        ts += 1;
        if dir & 2 != 0 {
            c.gap(to_server, len as u32, ts, &mut |_, _| {});
        } else {
            let n = len.min(rest.len());
            c.data(to_server, &rest[..n], ts, &mut |_, _| {});
            rest = &rest[n..];
        }
        for m in c.take_messages() {
            assert!(m.segments.len() <= conversation::MAX_SEGMENT_IDS);
        }
    }
    c.finish(ts + 1, &mut |_, _| {});
    let _ = c.take_messages().count();
});
