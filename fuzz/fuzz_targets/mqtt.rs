//! The MQTT session parser on its own: the input is a sequence of chunks
//! `dir: u8 | len: u16 LE | bytes`, where `dir` bit 0 picks the direction,
//! bit 1 turns the chunk into a gap of `len` bytes, and bit 2 (on the first
//! chunk only) marks the flow as picked up mid-stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::mqtt::Session;

fuzz_target!(|data: &[u8]| {
    let mut s = Session::default();
    if data.first().is_some_and(|d| d & 4 != 0) {
        s.set_midstream();
    }
    let mut rest = data;
    while rest.len() >= 3 {
        let (dir, len) = (rest[0], usize::from(u16::from_le_bytes([rest[1], rest[2]])));
        rest = &rest[3..];
        let to_server = dir & 1 == 0;
        if dir & 2 != 0 {
            s.gap(to_server, len as u32, &mut |_, _| {});
            continue;
        }
        let n = len.min(rest.len());
        s.data(to_server, &rest[..n], &mut |_, _| {});
        rest = &rest[n..];
        let _ = s.take_auth_failure();
    }
    let _ = s.is_dead();
    let r = s.take_record();
    assert!(r.published.len() <= 256);
    assert!(r.subscribed.len() <= 256);
    assert!(r.unsubscribed.len() <= 64);
    for p in &r.published {
        assert!(p.topic.len() <= 256, "clipped");
    }
    // The state is reused after a reset, as the pipeline's pool does.
    s.reset();
    assert_eq!(s.take_record(), Default::default());
});
