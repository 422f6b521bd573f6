//! Writes a synthetic capture for timing `medtap analyze`:
//! `cargo run --release --example gen_capture -- OUT.pcap [PACKETS] [HOSTS]`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

#[path = "../tests/common/traffic.rs"]
mod traffic;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: gen_capture OUT.pcap [PACKETS] [HOSTS]")?;
    let packets: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let hosts: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2_000);
    let frames = traffic::mix(packets, hosts, 1_700_000_000_000_000, 1);
    let cap = pcap::Capture::dead(pcap::Linktype::ETHERNET)?;
    let mut file = cap.savefile(&out)?;
    for f in &frames {
        let header = pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec: f.ts / 1_000_000,
                tv_usec: f.ts % 1_000_000,
            },
            caplen: f.data.len() as u32,
            len: f.data.len() as u32,
        };
        file.write(&pcap::Packet::new(&header, &f.data));
    }
    file.flush()?;
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    eprintln!("{out}: {} frames, {bytes} bytes", frames.len());
    Ok(())
}
