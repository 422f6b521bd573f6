//! The packet archive's formats on arbitrary bytes: a block of records
//! (what the hot path hands the archive thread) and an archive file (what
//! extraction and crash repair read). Neither may panic; what the block
//! iterator yields must lie within the input; and every frame written
//! through a block and a pcap record reads back unchanged.
//!
//! Input layout: byte 0 picks the part (even: file reader, odd: round trip
//! of the rest as frames cut at every 0xff byte), the rest is the data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::archive::block::Block;
use medtap::archive::pcapfile::{file_header, put_record, Reader};
use medtap::decode::LinkType;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel % 2 == 0 {
        // An arbitrary file: read to the end or to the cut.
        if let Ok(mut r) = Reader::new(Cursor::new(rest)) {
            let mut buf = Vec::new();
            let mut last = 0;
            while let Ok(Some(rec)) = r.next(&mut buf) {
                assert!(rec.offset >= last);
                last = rec.offset;
                assert!(r.position() as usize <= rest.len());
            }
        }
        return;
    }
    // Frames through a block, then a pcap file, then back.
    let frames: Vec<&[u8]> = rest.split(|&b| b == 0xff).collect();
    let mut block = Block::with_capacity(4096);
    block.reset(LinkType::Ethernet);
    for (i, f) in frames.iter().enumerate() {
        block.push(i as i64 * 1_000_001, f.len() as u32 + 7, i as u64, f);
    }
    let mut file = file_header(1).to_vec();
    for (rec, f) in block.records().zip(&frames) {
        assert_eq!(rec.data, *f);
        put_record(&mut file, rec.ts, rec.wire_len, rec.data);
    }
    let mut r = Reader::new(Cursor::new(&file[..])).expect("our own header");
    let mut buf = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let rec = r.next(&mut buf).expect("in memory").expect("written");
        assert_eq!((rec.ts, rec.wire_len, &buf[..]), (i as i64 * 1_000_001, f.len() as u32 + 7, *f));
    }
    assert!(r.next(&mut buf).expect("in memory").is_none() && !r.cut);
});
