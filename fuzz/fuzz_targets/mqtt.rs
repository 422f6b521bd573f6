//! The MQTT session parser on its own, fed the chunks of
//! [`medtap_fuzz::chunks`] (directions and gaps); bit 2 of the first byte
//! marks the flow as picked up mid-stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::mqtt::Session;
use medtap_fuzz::{chunks, Chunk};

fuzz_target!(|data: &[u8]| {
    let mut s = Session::default();
    if data.first().is_some_and(|d| d & 4 != 0) {
        s.set_midstream();
    }
    for chunk in chunks(data) {
        match chunk {
            Chunk::Data { to_server, bytes } => {
                s.data(to_server, bytes, &mut |_, _| {});
                let _ = s.take_auth_failure();
            }
            Chunk::Gap { to_server, len } => s.gap(to_server, len, &mut |_, _| {}),
        }
    }
    let _ = s.is_dead();
    s.finish(&mut |_, _| {});
    let r = s.take_record();
    assert!(r.published.len() <= 256);
    assert!(r.subscribed.len() <= 256);
    assert!(r.unsubscribed.len() <= 64);
    for p in &r.published {
        assert!(p.topic.len() <= 256, "clipped");
        // Only whole messages count, and a row is kept only for them.
        assert!(p.count > 0 && p.dup <= p.count, "counted");
    }
    // The state is reused after a reset, as the pipeline's pool does.
    s.reset();
    assert_eq!(s.take_record(), Default::default());
});
