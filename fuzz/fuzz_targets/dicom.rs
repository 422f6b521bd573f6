//! The DICOM association parser on its own, fed the chunks of
//! [`medtap_fuzz::chunks`] (directions and gaps); and the DICOM probe on the
//! first client chunk: a verdict given on fewer bytes never differs from the
//! verdict on all of them (its checks read fixed offsets, PS3.8 9.3.2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::dicom::{probe, Association};
use medtap_fuzz::{chunks, Chunk};

fuzz_target!(|data: &[u8]| {
    let mut a = Association::default();
    let mut probed = false;
    for chunk in chunks(data) {
        match chunk {
            Chunk::Data { to_server, bytes } => {
                if to_server && !probed {
                    probed = true;
                    let full = probe(bytes);
                    // Every check reads an offset below PROBE_LEN: longer prefixes add nothing.
                    for n in 0..bytes.len().min(medtap::proto::dicom::PROBE_LEN + 1) {
                        if let Some(v) = probe(&bytes[..n]) {
                            assert_eq!(Some(v), full, "verdict changed after {n} bytes");
                        }
                    }
                }
                a.data(to_server, bytes, &mut |_, _| {})
            }
            Chunk::Gap { to_server, len } => a.gap(to_server, len, &mut |_, _| {}),
        }
    }
    let r = a.take_record();
    assert!(r.operations.len() <= 256);
    // Kept texts are bounded: a 16-byte AE title escapes to at most 64.
    assert!(r.calling_ae.len() <= 64 && r.called_ae.len() <= 64);
});
