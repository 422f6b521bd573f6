//! The DICOM association parser on its own, fed the chunks of
//! [`medtap_fuzz::chunks`] (directions and gaps).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::dicom::Association;
use medtap_fuzz::{chunks, Chunk};

fuzz_target!(|data: &[u8]| {
    let mut a = Association::default();
    for chunk in chunks(data) {
        match chunk {
            Chunk::Data { to_server, bytes } => a.data(to_server, bytes, &mut |_, _| {}),
            Chunk::Gap { to_server, len } => a.gap(to_server, len, &mut |_, _| {}),
        }
    }
    let r = a.take_record();
    assert!(r.operations.len() <= 256);
});
