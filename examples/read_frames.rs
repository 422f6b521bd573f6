//! Reads every frame of capture files with `FileSource` and does nothing
//! else, to time the file read path alone against libpcap's floor:
//! `cargo run --release --example read_frames -- [--hash] FILE...`.
//! Prints frames, captured bytes and, with `--hash`, an FNV-1a digest over
//! every frame's timestamp, wire length and bytes (to check two readers
//! agree).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool: a panic is a failure report

use medtap::capture::FileSource;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut hash = false;
    let mut files = Vec::new();
    for a in std::env::args().skip(1) {
        if a == "--hash" {
            hash = true;
        } else {
            files.push(a);
        }
    }
    if files.is_empty() {
        return Err("usage: read_frames [--hash] FILE...".into());
    }
    let t = std::time::Instant::now();
    let (mut frames, mut bytes, mut digest) = (0u64, 0u64, 0xcbf2_9ce4_8422_2325u64);
    let mut mix = |b: &[u8]| {
        for &x in b {
            digest = (digest ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in &files {
        let mut src = FileSource::open(f)?;
        let end = loop {
            match src.next_frame() {
                Ok(Some(fr)) => {
                    frames += 1;
                    bytes += fr.data.len() as u64;
                    if hash {
                        mix(&fr.ts.to_le_bytes());
                        mix(&fr.wire_len.to_le_bytes());
                        mix(fr.data);
                    }
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        if let Some(e) = end {
            eprintln!("{e}");
        }
    }
    let secs = t.elapsed().as_secs_f64();
    print!("frames={frames} bytes={bytes} secs={secs:.3}");
    if hash {
        print!(" digest={digest:016x}");
    }
    println!();
    Ok(())
}
