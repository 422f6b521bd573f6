//! The capture file reader (`FileSource`) on arbitrary bytes, against
//! libpcap reading the same bytes from a file: ours must never panic or
//! hang, and must read what libpcap reads.
//!
//! Input: the whole capture file. Checks: every frame's bytes are at most
//! 262144 and at most its wire length; if both readers open the file, the
//! frames (timestamp in µs, wire length, bytes) are the same and both end
//! the same way (clean end or error). Where medtap deliberately differs
//! (pcapng interfaces with different snapshot lengths, sections with
//! different byte orders: libpcap stops, medtap reads on; link types medtap
//! cannot decode: medtap refuses to open), libpcap's frames must be a
//! prefix of ours.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::capture::FileSource;
use std::io::Write;

type Frames = Vec<(i64, u32, Vec<u8>)>;

fn ours(data: &[u8]) -> Result<(Frames, bool), String> {
    let mut src = FileSource::from_reader("fuzz", Box::new(std::io::Cursor::new(data.to_vec())))
        .map_err(|e| e.to_string())?;
    let mut frames = Vec::new();
    loop {
        match src.next_frame() {
            Ok(Some(f)) => {
                assert!(f.data.len() <= 262_144, "frame of {} bytes", f.data.len());
                assert!(f.data.len() as u64 <= u64::from(f.wire_len));
                frames.push((f.ts, f.wire_len, f.data.to_vec()));
            }
            Ok(None) => return Ok((frames, false)),
            Err(_) => return Ok((frames, true)),
        }
    }
}

// time_t/suseconds_t are i64 on 64-bit Linux but narrower elsewhere.
#[allow(clippy::useless_conversion)]
fn libpcap(data: &[u8]) -> Result<(Frames, Option<String>), String> {
    let path = std::env::temp_dir().join(format!("medtap-fuzz-file-{}", std::process::id()));
    let mut f = std::fs::File::create(&path).expect("temp file");
    f.write_all(data).expect("write temp file");
    drop(f);
    let mut cap = pcap::Capture::from_file(&path).map_err(|e| e.to_string())?;
    let mut frames = Vec::new();
    loop {
        match cap.next_packet() {
            Ok(p) => frames.push((
                i64::from(p.header.ts.tv_sec)
                    .saturating_mul(1_000_000)
                    .saturating_add(i64::from(p.header.ts.tv_usec)),
                p.header.len.max(p.data.len() as u32),
                p.data.to_vec(),
            )),
            Err(pcap::Error::NoMorePackets) => return Ok((frames, None)),
            Err(e) => return Ok((frames, Some(e.to_string()))),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let a = ours(data);
    let b = libpcap(data);
    match (&a, &b) {
        (Err(_), Err(_)) => {}
        (Err(e), Ok(_)) if e.contains("unsupported link type") => {}
        (Ok((fa, ea)), Ok((fb, eb))) => {
            let deliberate = eb.as_deref().is_some_and(|e| {
                e.contains("snapshot length") && e.contains("different")
                    || e.contains("different byte orders")
            });
            if deliberate {
                assert!(
                    fa.len() >= fb.len() && fa[..fb.len()] == fb[..],
                    "ours {a:?}\nlibpcap {b:?}"
                );
            } else {
                assert_eq!(fa, fb, "frames differ; libpcap ended with {eb:?}");
                assert_eq!(
                    *ea,
                    eb.is_some(),
                    "ours ended with error: {ea}, libpcap: {eb:?}"
                );
            }
        }
        _ => panic!("ours {a:?}\nlibpcap {b:?}"),
    }
});
