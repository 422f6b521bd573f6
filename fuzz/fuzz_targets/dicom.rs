//! The DICOM association parser on its own: the input is a sequence of
//! chunks `dir: u8 | len: u16 LE | bytes`, where `dir` bit 0 picks the
//! direction and bit 1 turns the chunk into a gap of `len` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::dicom::Association;

fuzz_target!(|data: &[u8]| {
    let mut a = Association::default();
    let mut rest = data;
    while rest.len() >= 3 {
        let (dir, len) = (rest[0], usize::from(u16::from_le_bytes([rest[1], rest[2]])));
        rest = &rest[3..];
        let to_server = dir & 1 == 0;
        if dir & 2 != 0 {
            a.gap(to_server, len as u32, &mut |_, _| {});
            continue;
        }
        let n = len.min(rest.len());
        a.data(to_server, &rest[..n], &mut |_, _| {});
        rest = &rest[n..];
    }
    let r = a.take_record();
    assert!(r.operations.len() <= 256);
});
