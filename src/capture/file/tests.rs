//! The file reader against libpcap (the `pcap` crate) as ground truth:
//! every test writes a file, reads it with both, and compares timestamps,
//! lengths, bytes and where (and whether) each stops with an error.

use super::*;
use proptest::prelude::*;
use std::io::Write;

/// What a reader made of a file: the frames `(ts µs, wire_len, bytes)`
/// and how it ended (`None` = clean end, `Some(message)` = error).
#[derive(Debug, PartialEq, Eq)]
struct Read {
    frames: Vec<(i64, u32, Vec<u8>)>,
    end: Option<String>,
}

fn ours_from(r: Result<FileSource, CaptureError>) -> Result<Read, String> {
    let mut src = r.map_err(|e| e.to_string())?;
    let mut frames = Vec::new();
    loop {
        match src.next_frame() {
            Ok(Some(f)) => frames.push((f.ts, f.wire_len, f.data.to_vec())),
            Ok(None) => return Ok(Read { frames, end: None }),
            Err(e) => {
                return Ok(Read {
                    frames,
                    end: Some(e.to_string()),
                })
            }
        }
    }
}

fn ours(bytes: &[u8]) -> Result<Read, String> {
    ours_from(FileSource::from_reader(
        "test",
        Box::new(io::Cursor::new(bytes.to_vec())),
    ))
}

// time_t/suseconds_t are i64 on 64-bit Linux but narrower elsewhere.
#[allow(clippy::useless_conversion)]
fn libpcap(bytes: &[u8]) -> Result<Read, String> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    let mut cap = pcap::Capture::from_file(f.path()).map_err(|e| e.to_string())?;
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
            Err(pcap::Error::NoMorePackets) => return Ok(Read { frames, end: None }),
            Err(e) => {
                return Ok(Read {
                    frames,
                    end: Some(e.to_string()),
                })
            }
        }
    }
}

/// Both readers agree: both refuse to open, or give the same frames and
/// both end cleanly or both with an error. Returns ours.
fn same(what: &str, bytes: &[u8]) -> Result<Read, String> {
    let (a, b) = (ours(bytes), libpcap(bytes));
    match (&a, &b) {
        (Err(_), Err(_)) => {}
        (Ok(x), Ok(y)) => {
            assert_eq!(x.frames, y.frames, "{what}: frames differ");
            assert_eq!(
                x.end.is_some(),
                y.end.is_some(),
                "{what}: ours ended with {:?}, libpcap with {:?}",
                x.end,
                y.end
            );
        }
        _ => panic!("{what}: ours {a:?}, libpcap {b:?}"),
    }
    a
}

// ---- legacy pcap writer ----

struct Rec<'a> {
    sec: u32,
    frac: u32,
    caplen: u32,
    len: u32,
    data: &'a [u8],
}

fn rec(sec: u32, frac: u32, data: &[u8]) -> Rec<'_> {
    Rec {
        sec,
        frac,
        caplen: data.len() as u32,
        len: data.len() as u32,
        data,
    }
}

fn put32(out: &mut Vec<u8>, v: u32, be: bool) {
    out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

fn put16(out: &mut Vec<u8>, v: u16, be: bool) {
    out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

fn pcap_file(be: bool, magic: u32, snaplen: u32, link: u32, recs: &[Rec]) -> Vec<u8> {
    let mut b = Vec::new();
    put32(&mut b, magic, be);
    put16(&mut b, 2, be);
    put16(&mut b, 4, be);
    put32(&mut b, 0, be);
    put32(&mut b, 0, be);
    put32(&mut b, snaplen, be);
    put32(&mut b, link, be);
    for r in recs {
        put32(&mut b, r.sec, be);
        put32(&mut b, r.frac, be);
        put32(&mut b, r.caplen, be);
        put32(&mut b, r.len, be);
        b.extend_from_slice(r.data);
    }
    b
}

fn frame(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

// ---- pcapng writer ----

fn block(be: bool, kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut b = Vec::new();
    put32(&mut b, kind, be);
    put32(&mut b, total, be);
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    put32(&mut b, total, be);
    b
}

fn shb(be: bool) -> Vec<u8> {
    let mut body = Vec::new();
    put32(&mut body, BYTE_ORDER_MAGIC, be);
    put16(&mut body, 1, be);
    put16(&mut body, 0, be);
    body.extend_from_slice(&[0xff; 8]);
    block(be, BT_SHB, &body)
}

fn opt(be: bool, code: u16, value: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    put16(&mut o, code, be);
    put16(&mut o, value.len() as u16, be);
    o.extend_from_slice(value);
    o.resize(4 + value.len().div_ceil(4) * 4, 0);
    o
}

/// An IDB; `tsresol`/`tsoffset` become options when given.
fn idb(be: bool, link: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) -> Vec<u8> {
    let mut body = Vec::new();
    put16(&mut body, link, be);
    put16(&mut body, 0, be);
    put32(&mut body, snaplen, be);
    body.extend(opt(be, 2, b"eth0"));
    if let Some(r) = tsresol {
        body.extend(opt(be, 9, &[r]));
    }
    if let Some(o) = tsoffset {
        body.extend(opt(
            be,
            14,
            &if be { o.to_be_bytes() } else { o.to_le_bytes() },
        ));
    }
    body.extend(opt(be, 0, &[]));
    block(be, BT_IDB, &body)
}

fn epb(be: bool, iface: u32, t: u64, caplen: u32, len: u32, data: &[u8], flags: bool) -> Vec<u8> {
    let mut body = Vec::new();
    put32(&mut body, iface, be);
    put32(&mut body, (t >> 32) as u32, be);
    put32(&mut body, t as u32, be);
    put32(&mut body, caplen, be);
    put32(&mut body, len, be);
    body.extend_from_slice(data);
    body.resize(20 + data.len().div_ceil(4) * 4, 0);
    if flags {
        body.extend(opt(be, 2, &1u32.to_le_bytes()));
        body.extend(opt(be, 0, &[]));
    }
    block(be, BT_EPB, &body)
}

fn pb(be: bool, iface: u16, t: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put16(&mut body, iface, be);
    put16(&mut body, 7, be);
    put32(&mut body, (t >> 32) as u32, be);
    put32(&mut body, t as u32, be);
    put32(&mut body, data.len() as u32, be);
    put32(&mut body, data.len() as u32 + 10, be);
    body.extend_from_slice(data);
    block(be, BT_PB, &body)
}

fn spb(be: bool, len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put32(&mut body, len, be);
    body.extend_from_slice(data);
    block(be, BT_SPB, &body)
}

/// A pcapng file with one block of each kind libpcap reads or skips.
fn ng_file(be: bool) -> Vec<u8> {
    let mut b = shb(be);
    b.extend(block(be, 4, &[0; 12])); // name resolution block, skipped
    b.extend(idb(be, 1, 65535, None, None));
    b.extend(idb(be, 1, 65535, Some(9), Some(-3600)));
    b.extend(idb(be, 1, 65535, Some(0x80 | 20), Some(1_000_000_000)));
    b.extend(idb(be, 1, 65535, Some(3), None));
    let f = frame(60, 1);
    b.extend(epb(be, 0, 1_700_000_000_123_456, 60, 60, &f, false));
    b.extend(epb(be, 1, 1_700_000_000_123_456_789, 60, 1514, &f, true));
    b.extend(epb(
        be,
        2,
        (1_700_000_000u64 << 20) | 0xabcde,
        60,
        60,
        &f,
        false,
    ));
    b.extend(epb(be, 3, 1_700_000_000_999, 13, 60, &f[..13], false));
    b.extend(block(be, 5, &[0; 16])); // interface statistics, skipped
    b.extend(block(be, 0x0bad, &[1, 2, 3, 4])); // custom, skipped
    b.extend(spb(be, 60, &f));
    b.extend(pb(be, 1, 1_700_000_001_000_000_001, &f[..33]));
    b.extend(epb(be, 0, 5, 0, 0, &[], false));
    b
}

#[test]
fn legacy_pcap_both_byte_orders_micro_and_nano_match_libpcap() {
    let f = frame(100, 7);
    for be in [false, true] {
        for magic in [PCAP_MAGIC_US, PCAP_MAGIC_NS] {
            let recs = [
                rec(1_700_000_000, 123_456, &f),
                rec(1_700_000_001, 999_999_999, &f[..10]),
                // ts_sec and the fraction: signed or unsigned to libpcap,
                // depending on the byte order
                rec(0xffff_ffff, 999_999, &f),
                rec(5, 0xffff_fff0, &f),
                rec(0x8000_0000, 1_500_000, &f),
                Rec {
                    caplen: 50,
                    len: 20, // caplen > len: wire_len is the larger
                    ..rec(7, 1, &f[..50])
                },
                Rec {
                    caplen: 0,
                    len: 60,
                    ..rec(8, 2, &[])
                },
            ];
            let file = pcap_file(be, magic, 65535, 1, &recs);
            let r = same(&format!("be={be} magic={magic:#x}"), &file).unwrap();
            assert_eq!(r.frames.len(), recs.len());
            assert_eq!(r.end, None);
            let ns = magic == PCAP_MAGIC_NS;
            assert_eq!(
                r.frames[0].0,
                1_700_000_000_000_000 + if ns { 123 } else { 123_456 }
            );
            assert_eq!(r.frames[5].1, 50);
            assert_eq!(r.frames[6], (8_000_000 + i64::from(!ns) * 2, 60, vec![]));
        }
    }
}

#[test]
fn pcapng_tsresol_tsoffset_spb_pb_and_skipped_blocks_match_libpcap() {
    for be in [false, true] {
        let r = same(&format!("pcapng be={be}"), &ng_file(be)).unwrap();
        assert_eq!(r.end, None);
        let ts: Vec<i64> = r.frames.iter().map(|f| f.0).collect();
        assert_eq!(
            ts,
            [
                1_700_000_000_123_456,
                // 10^-9, offset -3600 s
                (1_700_000_000 - 3600) * 1_000_000 + 123_456,
                // 2^-20 s: 0xabcde / 2^20 s = 671_110.6 µs, truncated
                (1_700_000_000 + 1_000_000_000) * 1_000_000 + 671_110,
                // 10^-3
                1_700_000_000_999_000,
                // SPB: interface 0, no timestamp
                0,
                // PB on interface 1 (10^-9, -3600 s)
                (1_700_000_001 - 3600) * 1_000_000,
                5,
            ]
        );
        assert_eq!(r.frames[1].1, 1514);
        assert_eq!(r.frames[3].2.len(), 13);
        assert_eq!(r.frames[5].1, 43);
    }
}

#[test]
fn a_file_cut_anywhere_reads_like_libpcap() {
    let f = frame(70, 3);
    let legacy = pcap_file(
        false,
        PCAP_MAGIC_US,
        65535,
        1,
        &[rec(1, 2, &f), rec(3, 4, &f[..33]), rec(5, 6, &f)],
    );
    for (name, file) in [
        ("pcap", legacy),
        ("pcapng", ng_file(false)),
        ("pcapng-be", ng_file(true)),
    ] {
        for cut in 0..file.len() {
            let r = same(&format!("{name} cut at {cut}"), &file[..cut]);
            if let Ok(r) = r {
                // cut inside a record: frames before it, then an error
                let clean = r.end.is_none();
                assert!(clean || r.end.as_deref().is_some_and(|e| !e.is_empty()));
            }
        }
    }
}

#[test]
fn cut_short_record_is_a_read_error_with_a_clear_message() {
    let f = frame(70, 3);
    let mut file = pcap_file(
        false,
        PCAP_MAGIC_US,
        65535,
        1,
        &[rec(1, 2, &f), rec(3, 4, &f)],
    );
    file.truncate(file.len() - 20);
    let r = ours(&file).unwrap();
    assert_eq!(r.frames.len(), 1);
    let e = r.end.unwrap();
    assert!(
        e.contains("truncated") && e.contains("70") && e.contains("50"),
        "{e}"
    );
    file.truncate(24 + 16 + 70 + 7);
    let e = ours(&file).unwrap().end.unwrap();
    assert!(e.contains("record header"), "{e}");
}

#[test]
fn lying_lengths_match_libpcap_and_never_hang() {
    let f = frame(300, 9);
    let big = frame(262_145, 1);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "caplen over libpcap's maximum, data present",
            pcap_file(
                false,
                PCAP_MAGIC_US,
                262_144,
                1,
                &[rec(1, 0, &f), rec(2, 0, &big), rec(3, 0, &f)],
            ),
        ),
        (
            "caplen 0x7fffffff",
            pcap_file(
                false,
                PCAP_MAGIC_US,
                65535,
                1,
                &[
                    rec(1, 0, &f),
                    Rec {
                        caplen: 0x7fff_ffff,
                        len: 0x7fff_ffff,
                        ..rec(2, 0, &f[..64])
                    },
                ],
            ),
        ),
        (
            "caplen over the snaplen, data present: cut to the snaplen",
            pcap_file(
                true,
                PCAP_MAGIC_US,
                64,
                1,
                &[rec(1, 0, &f[..60]), rec(2, 0, &f), rec(3, 0, &f[..10])],
            ),
        ),
        (
            "snaplen 0 means the maximum",
            pcap_file(false, PCAP_MAGIC_NS, 0, 1, &[rec(1, 0, &f)]),
        ),
    ];
    let mut ng = shb(false);
    ng.extend(idb(false, 1, 128, None, None));
    ng.extend(epb(false, 0, 1, 200, 200, &f[..200], false));
    let mut ng_huge = shb(false);
    ng_huge.extend(idb(false, 1, 0, None, None));
    ng_huge.extend(epb(false, 0, 1, 60, 60, &f[..60], false));
    let mut lie = epb(false, 0, 2, 60, 60, &f[..60], false);
    lie[4..8].copy_from_slice(&0x7fff_fffcu32.to_le_bytes());
    ng_huge.extend(lie);
    let mut ng_caplen = shb(false);
    ng_caplen.extend(idb(false, 1, 0, None, None));
    ng_caplen.extend(epb(false, 0, 1, 100, 100, &f[..60], false));
    let mut ng_iface = shb(false);
    ng_iface.extend(idb(false, 1, 0, None, None));
    ng_iface.extend(epb(false, 1, 1, 60, 60, &f[..60], false));
    let mut cases = cases;
    cases.extend([
        ("pcapng caplen over the interface's snaplen", ng),
        ("pcapng block length 0x7ffffffc", ng_huge),
        ("pcapng caplen past the block", ng_caplen),
        ("pcapng packet on an unknown interface", ng_iface),
    ]);
    for (what, file) in &cases {
        let r = same(what, file).unwrap();
        eprintln!("{what}: {} frames, {:?}", r.frames.len(), r.end);
    }
    let r = ours(&cases[0].1).unwrap();
    assert_eq!(r.frames.len(), 1);
    let e = r.end.unwrap();
    assert!(e.contains("invalid packet capture length 262145"), "{e}");
    let r = ours(&cases[2].1).unwrap();
    assert_eq!((r.frames[1].1, r.frames[1].2.len()), (300, 64));
}

#[test]
fn a_block_larger_than_the_buffer_grows_it() {
    let mut b = shb(false);
    b.extend(idb(false, 1, 0, None, None));
    b.extend(block(false, 0x0bad, &vec![7; 3 << 20]));
    let f = frame(1000, 5);
    for i in 0..3000u64 {
        b.extend(epb(false, 0, i, 1000, 1000, &f, false));
    }
    let r = same("3 MiB custom block", &b).unwrap();
    assert_eq!((r.frames.len(), r.end), (3000, None));
    let mut over = shb(false);
    over.extend(idb(false, 1, 0, None, None));
    over.extend(block(false, 0x0bad, &vec![7; 17 << 20]));
    let e = ours(&over).unwrap().end.unwrap();
    assert!(e.contains("maximum"), "{e}");
}

#[test]
fn empty_and_non_capture_files_are_open_errors() {
    let e = ours(b"").unwrap_err();
    assert!(
        e.contains("not a pcap/pcapng file") && e.contains("0 bytes"),
        "{e}"
    );
    let e = ours(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
    assert!(e.contains("not a pcap/pcapng file"), "{e}");
    let e = ours(b"\n\r\r\nthis is text, not pcapng").unwrap_err();
    assert!(e.contains("not a pcap/pcapng file"), "{e}");
    assert!(libpcap(b"").is_err() && libpcap(b"GET / HTTP/1.1\r\n").is_err());
    let e = ours(&pcap_file(false, PCAP_MAGIC_US, 65535, 147, &[])).unwrap_err();
    assert!(e.contains("unsupported link type 147"), "{e}");
    let mut v = pcap_file(false, PCAP_MAGIC_US, 65535, 1, &[]);
    v[4] = 1;
    let e = ours(&v).unwrap_err();
    assert!(e.contains("archaic"), "{e}");
    let mut ng = shb(false);
    ng.extend(block(false, 4, &[0; 12]));
    let e = ours(&ng).unwrap_err();
    assert!(e.contains("no Interface Description Blocks"), "{e}");
    same("pcapng without IDB", &ng).unwrap_err();
}

#[test]
fn interfaces_of_different_link_types_are_an_error_like_libpcap() {
    let mut b = shb(false);
    b.extend(idb(false, 1, 0, None, None));
    b.extend(epb(false, 0, 1, 60, 60, &frame(60, 0), false));
    b.extend(idb(false, 113, 0, None, None));
    b.extend(epb(false, 1, 1, 60, 60, &frame(60, 0), false));
    let r = same("two link types", &b).unwrap();
    assert_eq!(r.frames.len(), 1);
    assert!(r.end.unwrap().contains("link type 113"));
}

#[test]
fn several_sections_and_interfaces_of_different_snaplens_are_read() {
    let f = frame(60, 2);
    let mut b = shb(false);
    b.extend(idb(false, 1, 65535, None, None));
    b.extend(idb(false, 1, 128, Some(9), None));
    b.extend(epb(false, 1, 2_000_000_000, 60, 60, &f, false));
    b.extend(shb(true));
    b.extend(idb(true, 1, 0, Some(3), None));
    b.extend(epb(true, 0, 5_000, 60, 60, &f, false));
    // libpcap refuses both (snaplens, byte orders); these are ours alone
    let r = ours(&b).unwrap();
    assert_eq!(r.end, None);
    assert_eq!(
        r.frames.iter().map(|f| f.0).collect::<Vec<_>>(),
        [2_000_000, 5_000_000]
    );
}

/// A reader that hands out at most 7 bytes per call, as a pipe may.
struct Trickle(io::Cursor<Vec<u8>>);

impl io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(7);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn short_reads_give_the_same_frames() {
    for file in [
        ng_file(true),
        pcap_file(false, PCAP_MAGIC_NS, 0, 1, &[rec(1, 2, &frame(99, 1))]),
    ] {
        let a = ours(&file).unwrap();
        let b = ours_from(FileSource::from_reader(
            "trickle",
            Box::new(Trickle(io::Cursor::new(file))),
        ))
        .unwrap();
        assert_eq!(a, b);
    }
}

fn valid_header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(pcap_file(false, PCAP_MAGIC_US, 65535, 1, &[])),
        Just(pcap_file(true, PCAP_MAGIC_NS, 0, 1, &[])),
        Just(pcap_file(false, PCAP_MAGIC_KUZNETZOV, 64, 1, &[])),
        Just({
            let mut b = shb(false);
            b.extend(idb(false, 1, 0, Some(0x80 | 30), Some(-7)));
            b
        }),
        Just({
            let mut b = shb(true);
            b.extend(idb(true, 1, 100, Some(9), None));
            b
        }),
    ]
}

proptest! {
    /// Arbitrary bytes after a valid header never panic or loop: the
    /// reader ends, cleanly or with an error, having consumed input.
    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        header in valid_header(),
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut file = header;
        file.extend_from_slice(&tail);
        let r = ours(&file).unwrap();
        // every frame costs at least a 12-byte block or 16-byte header
        prop_assert!(r.frames.len() <= tail.len() / 12);
    }
}

#[test]
fn old_versions_and_kuznetzov_records_match_libpcap() {
    let f = frame(80, 4);
    // version 2.2 (caplen and len swapped), 2.3 (swapped when caplen > len)
    for minor in [2u16, 3] {
        let recs = [
            Rec {
                caplen: 80,
                len: 40,
                ..rec(1, 2, &f)
            },
            Rec {
                caplen: 40,
                len: 80,
                ..rec(3, 4, &f[..40])
            },
        ];
        let mut file = pcap_file(false, PCAP_MAGIC_US, 65535, 1, &recs);
        file[6..8].copy_from_slice(&minor.to_le_bytes());
        same(&format!("version 2.{minor}"), &file).unwrap();
    }
    // Kuznetzov: 8 more bytes per record header
    for be in [false, true] {
        let mut file = pcap_file(be, PCAP_MAGIC_KUZNETZOV, 64, 1, &[]);
        for (i, data) in [&f[..70], &f[..20]].into_iter().enumerate() {
            put32(&mut file, i as u32, be);
            put32(&mut file, 7, be);
            put32(&mut file, data.len() as u32, be);
            put32(&mut file, 80, be);
            file.extend_from_slice(&[0xee; 8]);
            file.extend_from_slice(data);
        }
        let r = same(&format!("kuznetzov be={be}"), &file).unwrap();
        assert_eq!(r.frames.len(), 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// A valid file with a few bytes overwritten reads like libpcap reads
    /// it (libpcap is the ground truth): same frames, same kind of end.
    #[test]
    fn corrupted_files_read_like_libpcap(
        ng in any::<bool>(),
        be in any::<bool>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let f = frame(90, 6);
        let mut file = if ng {
            let mut b = shb(be);
            b.extend(idb(be, 1, 0, Some(0x80 | 16), Some(3)));
            b.extend(epb(be, 0, 1 << 40, 90, 90, &f, true));
            b.extend(spb(be, 90, &f));
            b.extend(block(be, 4, &[0; 8]));
            b.extend(pb(be, 0, 1 << 41, &f[..50]));
            b.extend(epb(be, 0, 1 << 42, 90, 200, &f, false));
            b
        } else {
            pcap_file(be, PCAP_MAGIC_NS, 100, 1, &[rec(1, 2, &f), rec(3, 4, &f[..9]), rec(5, 6, &f)])
        };
        for (at, v) in flips {
            let i = at.index(file.len());
            file[i] = v;
        }
        let (a, b) = (ours(&file), libpcap(&file));
        match (&a, &b) {
            (Err(_), Err(_)) => {}
            // libpcap reads any link type; medtap refuses those it cannot decode
            (Err(e), Ok(_)) if e.contains("unsupported link type") => {}
            (Ok(x), Ok(y)) => {
                prop_assert_eq!(&x.frames, &y.frames);
                prop_assert_eq!(x.end.is_some(), y.end.is_some(), "{:?} / {:?}", x.end, y.end);
            }
            _ => prop_assert!(false, "ours {:?}, libpcap {:?}", a, b),
        }
    }
}

/// Found by the `file` fuzz target: before the first interface libpcap
/// skips a second Section Header Block unread (no version check).
#[test]
fn a_section_header_before_the_first_interface_is_skipped_like_libpcap() {
    let mut b = shb(false);
    let mut odd = shb(false);
    odd[12] = 40; // major version 40
    b.extend(odd);
    b.extend(idb(false, 1, 0, None, None));
    b.extend(epb(false, 0, 1, 60, 60, &frame(60, 0), false));
    let r = same("SHB before the first IDB", &b).unwrap();
    assert_eq!((r.frames.len(), r.end), (1, None));
}

/// Found by the `file` fuzz target: libpcap bounds the first Section
/// Header Block's length (28 to 1 MiB) but checks neither that it is a
/// multiple of 4 nor its trailer.
#[test]
fn the_first_section_header_length_is_only_bounded_like_libpcap() {
    let mut b = shb(false);
    // an option of 1 byte, the block length 29 (not a multiple of 4)
    let n = b.len();
    b.truncate(n - 4);
    b.push(0xaa);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b[4..8].copy_from_slice(&((n + 1) as u32).to_le_bytes());
    b.extend(idb(false, 1, 0, None, None));
    b.extend(epb(false, 0, 1, 60, 60, &frame(60, 0), false));
    same("SHB length 29", &b).unwrap();
}
