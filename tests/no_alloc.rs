//! The hot path allocates nothing per packet once warmed up.
//!
//! A counting global allocator counts allocations made by this thread only
//! while counting is switched on; the writer side of the channel is drained
//! by another thread whose allocations do not count.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report
#![allow(unsafe_code)]

mod common;

use medtap::capture::Frame;
use medtap::config::Config;
use medtap::decode::LinkType;
use medtap::output::{Delivery, SinkSpec};
use medtap::sensor::{Mode, Sensor, SensorOptions};
use medtap::time::SECOND;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;
// Both the switch and the count are per thread: the tests run in parallel
// threads, and one test must not see another's allocations.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn allocs() -> u64 {
    ALLOCS.with(|a| a.get())
}

// SAFETY: defers to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // try_with: the thread-locals may already be gone while a thread exits.
        if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
            let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
            let _ = BYTES.try_with(|a| a.set(a.get() + layout.size() as u64));
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // try_with: the thread-locals may already be gone while a thread exits.
        if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
            let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
            let _ = BYTES.try_with(|a| a.set(a.get() + new_size as u64));
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The real sensor (worker, channel, fan-out) with one sink that counts
/// what reaches it on another thread, whose allocations do not count.
fn sensor() -> (Sensor, std::thread::JoinHandle<u64>) {
    let (tx, rx) = crossbeam_channel::bounded(1 << 16);
    let drain = std::thread::spawn(move || rx.iter().count() as u64);
    let mut opts = SensorOptions::from_config(&Config::default(), Mode::Files, 1);
    opts.pipeline.max_flows = 50_000;
    opts.pipeline.max_devices = 4096;
    opts.pipeline.device_flush_every = 10 * SECOND;
    opts.pipeline.reassembly_bytes = 64 << 20;
    let sink = SinkSpec::new("test", tx, Delivery::Authority);
    (Sensor::new(&opts, vec![sink]).unwrap(), drain)
}

/// Processes `frames` shifted by `shift` µs, counting allocations.
fn count_allocs(p: &mut Sensor, link: LinkType, frames: &[(i64, u32, Vec<u8>)], shift: i64) -> u64 {
    let before = allocs();
    COUNTING.with(|c| c.set(true));
    for (ts, wire_len, data) in frames {
        let f = Frame {
            ts: ts + shift,
            wire_len: *wire_len,
            data,
        };
        p.process(link, &f);
    }
    COUNTING.with(|c| c.set(false));
    allocs() - before
}

fn assert_steady_state_allocates_nothing(link: LinkType, frames: &[(i64, u32, Vec<u8>)]) {
    let (p, drain) = sensor();
    let _ = assert_steady_state_of(p, drain, link, frames);
}

/// As [`assert_steady_state_allocates_nothing`] on `p`; returns its
/// counters at the end.
fn assert_steady_state_of(
    mut p: Sensor,
    drain: std::thread::JoinHandle<u64>,
    link: LinkType,
    frames: &[(i64, u32, Vec<u8>)],
) -> medtap::pipeline::Counters {
    // Warm-up: devices appear (allocations allowed: they outlive the
    // packet); and, as the first round's flows end during the second,
    // what their records say about each device (the ports it serves, its
    // DICOM/HL7/MQTT facts) is learnt once.
    let warm =
        count_allocs(&mut p, link, frames, 0) + count_allocs(&mut p, link, frames, 3600 * SECOND);
    // Same hosts, new connections hours later: flows are created, closed,
    // timed out and written, devices flushed. Nothing may allocate.
    let mut total = 0;
    for round in 2..=4 {
        total += count_allocs(&mut p, link, frames, round * 3600 * SECOND);
    }
    let c = p.finish("test").counters;
    let records = drain.join().unwrap();
    eprintln!(
        "{} frames x3: {total} allocations (warm-up {warm}); {} flows, {} records",
        frames.len(),
        c.flows.created,
        records
    );
    assert!(
        c.flows.created as usize > frames.len() / 100,
        "test traffic must create flows"
    );
    assert!(
        records > c.flows.created,
        "flows and devices reached the writer"
    );
    assert_eq!(total, 0, "the hot path allocated per packet");
    c
}

#[test]
fn synthetic_mix_allocates_nothing_after_warm_up() {
    let frames: Vec<(i64, u32, Vec<u8>)> =
        common::traffic::mix(20_000, 200, 1_700_000_000 * SECOND, 7)
            .into_iter()
            .map(|f| (f.ts, f.data.len() as u32, f.data))
            .collect();
    assert_steady_state_allocates_nothing(LinkType::Ethernet, &frames);
}

/// The packet archive's hot-path end copies frames into blocks from a
/// fixed pool and hands them over whole: nothing per frame, with the
/// per-flow payload cap applied.
#[test]
fn archiving_allocates_nothing_after_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = medtap::config::ArchiveConfig {
        file_mib: 4,
        max_total_mib: 64,
        ..Default::default()
    };
    let opts = medtap::archive::ArchiveOptions::from_config(
        &cfg,
        &dir.path().join("archive"),
        Some(std::time::Duration::from_secs(60)),
    );
    // The index changes go to a queue drained on another thread.
    let (index_tx, index_rx) = crossbeam_channel::bounded(1024);
    let index_drain = std::thread::spawn(move || index_rx.iter().count());
    let (archive, tap) =
        medtap::archive::Archive::start(&opts, Default::default(), index_tx, 50_000).unwrap();
    let (mut p, drain) = sensor();
    p.attach_archive(tap);
    let frames: Vec<(i64, u32, Vec<u8>)> =
        common::traffic::mix(20_000, 200, 1_700_000_000 * SECOND, 7)
            .into_iter()
            .map(|f| (f.ts, f.data.len() as u32, f.data))
            .collect();
    let c = assert_steady_state_of(p, drain, LinkType::Ethernet, &frames);
    let (not_written, _) = archive.finish();
    assert!(
        index_drain.join().unwrap() > 0,
        "the index was told of the files"
    );
    // Five rounds of every frame, all archived, none lost.
    assert_eq!(c.archive.frames, 5 * frames.len() as u64);
    assert_eq!((c.archive.dropped, not_written), (0, 0));
}

#[test]
fn real_sample_capture_allocates_nothing_after_warm_up() {
    let (dlt, frames) = common::read_frames(&common::sample_pcap());
    assert_steady_state_allocates_nothing(LinkType::from_dlt(dlt).unwrap(), &frames);
}

/// DICOM: state per association comes from a pool, data PDVs are counted
/// in place; what allocates is the owned association record written when
/// the flow ends. So allocations grow with associations, not with packets:
/// a 3 MiB C-STORE over 2000+ segments costs the same as a C-ECHO.
/// Remote-access and TLS flows are recognised and labelled without a
/// parser: after warm-up, their packets allocate nothing either.
#[test]
fn remote_access_labelling_allocates_nothing_after_warm_up() {
    let (dlt, frames) = common::read_frames(&common::root().join("tests/data/remote/remote.pcap"));
    assert_steady_state_allocates_nothing(LinkType::from_dlt(dlt).unwrap(), &frames);
}

#[test]
fn dicom_allocates_per_association_not_per_packet() {
    let per_round = |f: &str| measured_round("dicom", &[f], |c| c.dicom_associations);
    let (echo_allocs, echo_frames, echo_assocs) = per_round("echo.pcap");
    let (big_allocs, big_frames, big_assocs) = per_round("store_large.pcap");
    eprintln!(
        "echo: {echo_frames} frames, {echo_assocs} association(s), {echo_allocs} allocations"
    );
    eprintln!(
        "3 MiB store: {big_frames} frames, {big_assocs} association(s), {big_allocs} allocations"
    );
    assert_eq!((echo_assocs, big_assocs), (2, 2));
    assert!(big_frames > 2000);
    // The large association proposes 128 contexts: its record holds more
    // strings (about 5 allocations per context), but nothing scales with
    // the 2000+ data segments.
    assert!(
        big_allocs / big_assocs < 128 * 6,
        "{big_allocs} allocations for {big_assocs} associations"
    );
    assert!(
        echo_allocs / echo_assocs < 40,
        "{echo_allocs} allocations for {echo_assocs} C-ECHO associations"
    );
}

/// A warm-up round over `tests/data/DIR/FILES`, then a measured one (an
/// hour later, so every flow is new): (allocations, frames, units ended),
/// units counted by `units` from the application counters.
fn measured_round(
    dir: &str,
    files: &[&str],
    units: fn(&medtap::app::AppCounters) -> u64,
) -> (u64, usize, u64) {
    let data = common::root().join("tests/data").join(dir);
    let mut frames = Vec::new();
    for f in files {
        frames.extend(common::read_frames(&data.join(f)).1);
    }
    let (mut p, drain) = sensor();
    // Two warm-up rounds: the first round's flows end (idle timeout)
    // during the second, so what their records say about each device is
    // learnt (once) before measuring.
    count_allocs(&mut p, LinkType::Ethernet, &frames, 0);
    count_allocs(&mut p, LinkType::Ethernet, &frames, 3600 * SECOND);
    let before = units(&p.counters().app);
    // The warm-up's flows end during this round (idle timeout), this
    // round's when the timers pass on the next frame.
    let allocs = count_allocs(&mut p, LinkType::Ethernet, &frames, 2 * 3600 * SECOND)
        + count_allocs(&mut p, LinkType::Ethernet, &frames[..1], 3 * 3600 * SECOND);
    let n = units(&p.counters().app) - before;
    p.finish("test");
    drain.join().unwrap();
    (allocs, frames.len(), n)
}

/// HL7 allocates for each message's record (a handful of header strings),
/// never for the segments a message travels in: a 150 KB ORU over many
/// segments costs what a small message costs.
#[test]
fn hl7_allocates_per_message_not_per_packet() {
    let (small, small_frames, small_msgs) =
        measured_round("hl7", &["adt_oru_orm.pcap"], |c| c.hl7_messages);
    let (big, big_frames, big_msgs) =
        measured_round("hl7", &["large_oru.pcap"], |c| c.hl7_messages);
    eprintln!("ADT/ORU/ORM: {small_frames} frames, {small_msgs} messages, {small} allocations");
    eprintln!("large ORU: {big_frames} frames, {big_msgs} messages, {big} allocations");
    assert!(small_msgs >= 6 && big_msgs >= 2);
    assert!(big_frames > 40, "the large ORU spans many segments");
    assert!(
        small / small_msgs <= 16,
        "{small} allocations for {small_msgs} messages"
    );
    assert!(
        big / big_msgs <= 16,
        "{big} allocations for {big_msgs} messages"
    );
}

/// MQTT allocates for each session's record and each new topic in it,
/// never per packet: a 300 KiB PUBLISH over many segments costs nothing more.
#[test]
fn mqtt_allocates_per_session_not_per_packet() {
    let (small, small_frames, small_sessions) =
        measured_round("mqtt", &["v311.pcap"], |c| c.mqtt_sessions);
    let (big, big_frames, big_sessions) =
        measured_round("mqtt", &["large_payload.pcap"], |c| c.mqtt_sessions);
    eprintln!("v3.1.1: {small_frames} frames, {small_sessions} sessions, {small} allocations");
    eprintln!("large payload: {big_frames} frames, {big_sessions} sessions, {big} allocations");
    assert!(small_sessions >= 2 && big_sessions >= 1);
    assert!(big_frames > 100, "the large PUBLISH spans many segments");
    assert!(
        small / small_sessions <= 24,
        "{small} allocations for {small_sessions} sessions"
    );
    assert!(
        big / big_sessions <= 24,
        "{big} allocations for {big_sessions} sessions"
    );
}

/// Reads every frame of `path` through `FileSource`, counting allocations
/// after the open: (frames, allocations).
fn read_file_counting(path: &std::path::Path) -> (u64, u64) {
    let mut src = medtap::capture::FileSource::open(path.to_str().unwrap()).unwrap();
    let before = allocs();
    COUNTING.with(|c| c.set(true));
    let mut n = 0u64;
    while let Some(f) = src.next_frame().unwrap() {
        std::hint::black_box(f.data);
        n += 1;
    }
    COUNTING.with(|c| c.set(false));
    (n, allocs() - before)
}

/// The capture file reader allocates nothing per frame: legacy pcap, and
/// pcapng whose Enhanced Packet Blocks carry options (a block larger than
/// the read buffer in the middle grows the buffer once).
#[test]
fn file_reader_allocates_nothing_per_frame() {
    let sample = common::sample_pcap();
    let (n, a) = read_file_counting(&sample);
    eprintln!("sample.pcap: {n} frames, {a} allocations");
    assert!(n > 100);
    assert_eq!(a, 0, "the pcap reader allocated per frame");

    let (_, frames) = common::read_frames(&sample);
    let le = |v: u32| v.to_le_bytes();
    let block = |kind: u32, body: &[u8]| {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut b = [le(kind), le(total)].concat();
        b.extend_from_slice(body);
        b.resize(8 + padded, 0);
        b.extend_from_slice(&le(total));
        b
    };
    let mut ng = block(
        0x0a0d_0d0a,
        &[&le(0x1a2b_3c4d)[..], &[1, 0, 0, 0], &[0xff; 8]].concat(),
    );
    // IDB: Ethernet, snaplen 0, if_tsresol 10^-9
    ng.extend(block(
        1,
        &[&[1, 0, 0, 0][..], &le(0), &[9, 0, 1, 0, 9, 0, 0, 0]].concat(),
    ));
    for (i, (ts, wire, data)) in frames.iter().enumerate() {
        if i == frames.len() / 2 {
            ng.extend(block(0x0bad, &vec![0; 3 << 20]));
        }
        let t = (*ts as u64) * 1000;
        let mut body = [
            le(0),
            le((t >> 32) as u32),
            le(t as u32),
            le(data.len() as u32),
            le(*wire),
        ]
        .concat();
        body.extend_from_slice(data);
        body.resize(20 + data.len().div_ceil(4) * 4, 0);
        // epb_flags, then opt_endofopt
        body.extend_from_slice(&[2, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        ng.extend(block(6, &body));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.pcapng");
    std::fs::write(&path, &ng).unwrap();
    let (n, a) = read_file_counting(&path);
    eprintln!("sample as pcapng with options: {n} frames, {a} allocations");
    assert_eq!(n as usize, frames.len());
    // growing the buffer for the 3 MiB block is the one allowed
    assert!(a <= 1, "the pcapng reader allocated per frame: {a}");
}

/// Vendor lookups (MAC → IEEE registry organisation) allocate nothing;
/// loading the table allocates once. Prints the bytes allocated while
/// parsing (temporary index included) and the bytes the table keeps.
#[test]
fn vendor_lookup_allocates_nothing() {
    use medtap::device::oui::Vendors;
    use medtap::net::Mac;
    let (allocs_before, bytes_before) = (allocs(), BYTES.with(|b| b.get()));
    COUNTING.with(|c| c.set(true));
    let v = Vendors::builtin();
    COUNTING.with(|c| c.set(false));
    eprintln!(
        "vendor table: {} blocks; loading made {} allocations of {} bytes in all; keeps {} bytes",
        v.len(),
        allocs() - allocs_before,
        BYTES.with(|b| b.get()) - bytes_before,
        v.heap_bytes()
    );
    // An address in every 4th block of the table, and as many random ones.
    let tsv = std::fs::read_to_string(common::root().join("rules/oui.tsv")).unwrap();
    let mut macs: Vec<Mac> = tsv
        .lines()
        .filter(|l| !l.starts_with('#'))
        .step_by(4)
        .map(|l| {
            let hex = format!("{:0<12}", l.split('\t').next().unwrap());
            let n = u64::from_str_radix(&hex, 16).unwrap();
            Mac(n.to_be_bytes()[2..].try_into().unwrap())
        })
        .collect();
    let blocks = macs.len();
    macs.extend((0u64..blocks as u64).map(|i| {
        Mac(i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes()[2..]
            .try_into()
            .unwrap())
    }));
    let before = allocs();
    COUNTING.with(|c| c.set(true));
    let mut found = 0;
    for m in &macs {
        if let Some(vendor) = v.lookup(*m) {
            std::hint::black_box(vendor.organization);
            found += 1;
        }
    }
    COUNTING.with(|c| c.set(false));
    assert!(found > blocks * 9 / 10, "{found} of {blocks}");
    assert_eq!(allocs() - before, 0, "a vendor lookup allocated");
}

/// DHCP allocates for each message's record (a handful of kept names)
/// and for the names it reports again, never for the packets around it:
/// the ARP, ICMP and UDP of the same captures allocate nothing.
#[test]
fn dhcp_allocates_per_message_not_per_packet() {
    let data = common::root().join("tests/data/identity");
    let mut frames = Vec::new();
    for f in [
        "dhcp_udhcpc.pcap",
        "dhcp_dhclient.pcap",
        "dhcp_decline_inform.pcap",
        "arp_takeover.pcap",
    ] {
        frames.extend(common::read_frames(&data.join(f)).1);
    }
    let (mut p, drain) = sensor();
    count_allocs(&mut p, LinkType::Ethernet, &frames, 0);
    let before = p.counters().dhcp_messages;
    let allocs = count_allocs(&mut p, LinkType::Ethernet, &frames, 3600 * SECOND)
        + count_allocs(&mut p, LinkType::Ethernet, &frames[..1], 2 * 3600 * SECOND);
    let messages = p.counters().dhcp_messages - before;
    p.finish("test");
    drain.join().unwrap();
    eprintln!(
        "{} frames, {messages} DHCP messages, {allocs} allocations",
        frames.len()
    );
    assert!(messages >= 28 && frames.len() > 3 * messages as usize);
    assert!(
        allocs / messages <= 24,
        "{allocs} allocations for {messages} DHCP messages"
    );
}

/// DHCP parsing allocates nothing, whatever the message: every DHCPv4 and
/// DHCPv6 payload of the public corpus and tests/data/dhcp, each parsed
/// whole and cut at every length, and the fingerprints rendered into a
/// fixed buffer (only building the owned record allocates).
#[test]
fn dhcp_parsing_allocates_nothing() {
    use medtap::decode::{decode, Network, Transport};
    use medtap::proto::dhcp;
    let mut files = vec![
        common::root().join("tests/data/dhcp/v4.pcap"),
        common::root().join("tests/data/dhcp/v6.pcap"),
    ];
    if let Some(corpus) = common::require_corpus("dhcp_parsing_allocates_nothing (corpus captures)")
    {
        files.extend(
            common::captures_with_truth(&corpus.join("dhcp"))
                .into_iter()
                .map(|(p, _)| p),
        );
    }
    let mut payloads = Vec::new();
    for f in &files {
        let (dlt, frames) = common::read_frames(f);
        let link = LinkType::from_dlt(dlt).unwrap();
        for (_, _, data) in frames {
            if let Ok(v) = decode(link, &data) {
                if let Network::Ip(ip) = v.network {
                    if let Transport::Udp {
                        dst_port,
                        src_port,
                        payload,
                    } = ip.transport
                    {
                        if [67, 68, 546, 547]
                            .iter()
                            .any(|p| *p == src_port || *p == dst_port)
                        {
                            payloads.push(payload.to_vec());
                        }
                    }
                }
            }
        }
    }
    assert!(payloads.len() >= 17, "{} DHCP payloads", payloads.len());
    /// A `fmt::Write` into a fixed buffer.
    struct Buf([u8; 2048], usize);
    impl std::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.1 + s.len();
            self.0
                .get_mut(self.1..end)
                .ok_or(std::fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }
    let before = allocs();
    COUNTING.with(|c| c.set(true));
    let mut parsed = 0u64;
    for p in &payloads {
        for n in 0..=p.len() {
            let mut buf = Buf([0; 2048], 0);
            if let Ok(m) = dhcp::parse_v4(&p[..n]) {
                let _ = m.fingerprint(&mut buf);
                let _ = m.options.order.write(&mut buf);
                if let Some(f) = m.options.fqdn {
                    let _ = f.write_name(&mut buf);
                }
                std::hint::black_box(m.issues.names().count());
                parsed += 1;
            }
            if let Ok(m) = dhcp::parse_v6(&p[..n]) {
                let _ = m.fingerprint(&mut buf);
                if let Some(f) = m.fqdn {
                    let _ = f.write_name(&mut buf);
                }
                parsed += 1;
            }
        }
    }
    COUNTING.with(|c| c.set(false));
    let a = allocs() - before;
    eprintln!(
        "{} payloads, {parsed} parses, {a} allocations",
        payloads.len()
    );
    assert!(parsed > 1000);
    assert_eq!(a, 0, "DHCP parsing allocated");
}
