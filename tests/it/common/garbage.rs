//! Garbage corpus for robustness tests: capture files full of random, truncated,
//! lying and otherwise broken frames, plus broken capture containers.
//!
//! The consumer under test must never crash, hang or allocate absurdly on any
//! of these files; it may (and for the broken containers should) report errors.
//!
//! Std only. Everything is deterministic for a given `(seed_frames, rng_seed)`.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// LINKTYPE_NULL (BSD loopback: 4-byte address family in the capturing host's byte order).
pub const LINKTYPE_NULL: u32 = 0;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// LINKTYPE_RAW (raw IPv4/IPv6, version taken from the first nibble).
pub const LINKTYPE_RAW: u32 = 101;
/// LINKTYPE_LINUX_SLL (16-byte "cooked" header).
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// LINKTYPE_LINUX_SLL2 (20-byte "cooked" header).
pub const LINKTYPE_LINUX_SLL2: u32 = 276;
/// LINKTYPE_USER0: a valid link type that a network decoder is not expected to support.
pub const LINKTYPE_USER0: u32 = 147;

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// First timestamp of every file: 2023-11-14T22:13:20Z.
const TS_BASE_US: u64 = 1_700_000_000_000_000;
const TS_STEP_US: u64 = 1_000;
const SNAPLEN: u32 = 65_535;
/// Byte budget (sum of record data) for "every truncation" files.
const TRUNC_BUDGET_ETH: usize = 3_000_000;
const TRUNC_BUDGET_OTHER: usize = 1_000_000;
const RANDOM_FRAMES_ETH: usize = 2_500;
const RANDOM_FRAMES_OTHER: usize = 400;
const MUTATED_FRAMES: usize = 1_500;
/// At most this many distinct kinds of seed frame are used.
const MAX_REPRESENTATIVES: usize = 48;
/// Seed frames longer than this are ignored (keeps the corpus small).
const MAX_SEED_LEN: usize = 4096;
/// Mutated frames are cut to at most this many bytes before mutation.
const MAX_MUTATED_LEN: usize = 2048;

/// One file of the garbage corpus and what it is meant to exercise.
#[derive(Debug, Clone)]
pub struct GarbageFile {
    /// Where the file was written.
    pub path: PathBuf,
    /// Human-readable description; for files built from named cases, the case
    /// names in record order.
    pub what: String,
    /// Records written completely (header and all `incl_len` data bytes). For
    /// files that are cut short this is the number of records a reader can get
    /// before it hits the damage.
    pub frames: usize,
    /// Link type in the file header (`None` for files without a usable header).
    pub linktype: Option<u32>,
    /// `true` when the container itself is well formed (libpcap reads it to the
    /// end without an error); `false` for deliberately broken containers, where
    /// the consumer is expected to report an error (but not crash).
    pub container_ok: bool,
}

/// Minimal classic-pcap writer (libpcap savefile format, version 2.4).
///
/// `write` never clips to the snaplen: what you pass is what ends up in the
/// file, so lying files can be produced on purpose.
pub struct PcapWriter {
    out: BufWriter<File>,
    big_endian: bool,
    nanos: bool,
    records: usize,
}

impl PcapWriter {
    /// Little-endian, microsecond-resolution pcap.
    pub fn new(path: impl AsRef<Path>, linktype: u32, snaplen: u32) -> io::Result<Self> {
        Self::with_format(path, linktype, snaplen, false, false)
    }

    /// Pcap with the given byte order and timestamp resolution
    /// (`nanos` selects magic 0xa1b23c4d).
    pub fn with_format(
        path: impl AsRef<Path>,
        linktype: u32,
        snaplen: u32,
        big_endian: bool,
        nanos: bool,
    ) -> io::Result<Self> {
        let mut w = PcapWriter {
            out: BufWriter::new(File::create(path)?),
            big_endian,
            nanos,
            records: 0,
        };
        w.put_u32(if nanos { MAGIC_NS } else { MAGIC_US })?;
        w.put_u16(2)?; // version major
        w.put_u16(4)?; // version minor
        w.put_u32(0)?; // thiszone
        w.put_u32(0)?; // sigfigs
        w.put_u32(snaplen)?;
        w.put_u32(linktype)?;
        Ok(w)
    }

    fn put_u16(&mut self, v: u16) -> io::Result<()> {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.write_all(&b)
    }

    fn put_u32(&mut self, v: u32) -> io::Result<()> {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.write_all(&b)
    }

    /// Writes one record: `incl_len` is `data.len()`, `orig_len` as given.
    pub fn write(&mut self, ts_us: u64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let incl = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record over 4 GiB"))?;
        self.write_record_header(ts_us, incl, orig_len)?;
        self.out.write_all(data)?;
        self.records += 1;
        Ok(())
    }

    /// Writes only a record header (for lying records); follow with `write_raw`.
    /// Not counted by `records()`.
    pub fn write_record_header(
        &mut self,
        ts_us: u64,
        incl_len: u32,
        orig_len: u32,
    ) -> io::Result<()> {
        let secs = (ts_us / 1_000_000) as u32;
        let frac = (ts_us % 1_000_000) as u32;
        let frac = if self.nanos { frac * 1_000 } else { frac };
        self.write_record_header_raw(secs, frac, incl_len, orig_len)
    }

    /// Writes a record header with raw timestamp fields (`ts_frac` is µs or ns
    /// depending on the file's resolution). Not counted by `records()`.
    pub fn write_record_header_raw(
        &mut self,
        ts_sec: u32,
        ts_frac: u32,
        incl_len: u32,
        orig_len: u32,
    ) -> io::Result<()> {
        self.put_u32(ts_sec)?;
        self.put_u32(ts_frac)?;
        self.put_u32(incl_len)?;
        self.put_u32(orig_len)
    }

    /// Appends raw bytes (to cut a file anywhere or follow a bare record header).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }

    /// Records written with `write`.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Flushes the file; returns the number of records written with `write`.
    pub fn finish(mut self) -> io::Result<usize> {
        self.out.flush()?;
        Ok(self.records)
    }
}

/// Reads a classic pcap (either byte order, µs or ns) completely into memory:
/// `(linktype, frames)`. Stops quietly at a cut final record. Handy for taking
/// seed frames from a real capture.
pub fn read_pcap(path: impl AsRef<Path>) -> io::Result<(u32, Vec<Vec<u8>>)> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    if buf.len() < 24 {
        return Err(bad("shorter than a pcap header"));
    }
    let magic = [buf[0], buf[1], buf[2], buf[3]];
    let big_endian =
        if u32::from_le_bytes(magic) == MAGIC_US || u32::from_le_bytes(magic) == MAGIC_NS {
            false
        } else if u32::from_be_bytes(magic) == MAGIC_US || u32::from_be_bytes(magic) == MAGIC_NS {
            true
        } else {
            return Err(bad("not a classic pcap"));
        };
    let rd = |o: usize| {
        let b = [buf[o], buf[o + 1], buf[o + 2], buf[o + 3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let linktype = rd(20);
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= buf.len() {
        let incl = rd(off + 8) as usize;
        let start = off + 16;
        if incl > buf.len() - start {
            break;
        }
        frames.push(buf[start..start + incl].to_vec());
        off = start + incl;
    }
    Ok((linktype, frames))
}

/// A small set of well-formed, hand-built Ethernet frames (IPv4/IPv6 TCP, UDP,
/// ICMP, ARP, VLAN, IP options, IPv6 extension header). `write_corpus` always
/// adds these to the caller's seeds for kinds of traffic the seeds lack.
pub fn synthetic_frames() -> Vec<Vec<u8>> {
    let syn_opts = [
        2, 4, 0x05, 0xb4, // MSS 1460
        4, 2, // SACK permitted
        8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // timestamps
        1, // NOP
        3, 3, 7, // window scale
    ];
    let http = b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: medtap-garbage\r\nAccept: */*\r\n\r\n";
    let dns = [
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 4,
        b't', b'e', b's', b't', 0, 0, 1, 0, 1,
    ];
    let echo_data: Vec<u8> = (0u8..56).collect();
    let quoted_udp = {
        let inner = ipv4(17, 0x4242, 0, &[], &udp(40000, 53, &dns));
        inner[..28].to_vec()
    };
    let mut unreach = vec![3, 3, 0, 0, 0, 0, 0, 0];
    unreach.extend_from_slice(&quoted_udp);
    let mut echo = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    echo.extend_from_slice(&echo_data);
    let mut echo6 = vec![128, 0, 0, 0, 0x12, 0x34, 0, 1];
    echo6.extend_from_slice(&echo_data);
    let hbh_udp = {
        let mut p = vec![17, 0, 5, 2, 0, 0, 1, 0]; // HBH: router alert + PadN
        p.extend_from_slice(&udp_checksummed_v6(&udp(546, 547, &dns)));
        p
    };
    let arp = [
        0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 198, 51, 100, 2,
    ];
    vec![
        eth(0x0800, &ipv4_l4(6, tcp(40000, 80, 0x02, &syn_opts, &[]))),
        eth(0x0800, &ipv4_l4(6, tcp(40000, 80, 0x18, &[], http))),
        eth(0x0800, &ipv4_l4(17, udp(40001, 53, &dns))),
        eth(0x0800, &ipv4_l4(1, echo)),
        eth(0x0800, &ipv4_l4(1, unreach)),
        eth(
            0x0800,
            &ipv4_l4_opts(17, &[0x94, 4, 0, 0], udp(40002, 5000, &dns)),
        ),
        eth(0x86dd, &ipv6_l4(6, tcp(40003, 443, 0x02, &syn_opts, &[]))),
        eth(0x86dd, &ipv6_l4(17, udp(40004, 53, &dns))),
        eth(0x86dd, &ipv6_l4(58, echo6)),
        eth(0x86dd, &ipv6(0, &hbh_udp)),
        eth(0x0806, &arp),
        eth_tagged(
            &[0x8100],
            0x0800,
            &ipv4_l4(17, udp(40005, 514, b"<13>hello")),
        ),
    ]
}

/// Writes the garbage corpus into `dir` (created if missing) and returns the
/// files in a fixed order. `seed_frames` are real Ethernet frames (taken by the
/// caller from a real capture); `rng_seed` makes it reproducible. Panics on I/O
/// errors (test support).
pub fn write_corpus(dir: &Path, seed_frames: &[Vec<u8>], rng_seed: u64) -> Vec<GarbageFile> {
    fs::create_dir_all(dir).expect("create corpus dir");
    let mut c = Corpus {
        dir: dir.to_path_buf(),
        rng: Rng(rng_seed),
        files: Vec::new(),
    };
    let reps = representatives(seed_frames);

    // 1. random bytes over Ethernet
    let recs = (0..RANDOM_FRAMES_ETH)
        .map(|_| {
            let n = c.rng.below(2000);
            c.rng.bytes(n)
        })
        .map(full)
        .collect();
    c.pcap(
        "01_eth_random.pcap",
        LINKTYPE_ETHERNET,
        "random bytes, random lengths 0..2000".into(),
        recs,
    );

    // 2. every truncation of each (representative) seed frame
    let eth_set = within_budget(&reps, TRUNC_BUDGET_ETH);
    c.pcap(
        "02_eth_truncated.pcap",
        LINKTYPE_ETHERNET,
        format!(
            "every truncation 0..=len of {} seed frames (orig_len = full length for even cut \
             lengths, = cut length for odd ones)",
            eth_set.len()
        ),
        truncations(&eth_set),
    );

    // 3. lying length fields
    let cases = lying_cases(&reps);
    c.cases(
        "03_eth_lying_lengths.pcap",
        LINKTYPE_ETHERNET,
        "lying length fields",
        cases,
    );

    // 4. IPv4 (and IPv6) fragments
    c.cases(
        "04_eth_fragments.pcap",
        LINKTYPE_ETHERNET,
        "IP fragments",
        fragment_cases(),
    );

    // extra: seed frames with a few random bytes overwritten and random cuts
    let recs = (0..MUTATED_FRAMES)
        .map(|_| {
            let mut g = c.rng.pick(&reps).clone();
            g.truncate(MAX_MUTATED_LEN);
            let flips = 1 + c.rng.below(8);
            for _ in 0..flips {
                if g.is_empty() {
                    break;
                }
                // Half of the hits land in the first 64 bytes, where the headers are.
                let span = if c.rng.below(2) == 0 {
                    g.len().min(64)
                } else {
                    g.len()
                };
                let at = c.rng.below(span);
                g[at] = c.rng.next_u64() as u8;
            }
            if c.rng.below(4) == 0 {
                let n = c.rng.below(g.len() + 1);
                g.truncate(n);
            }
            g
        })
        .map(full)
        .collect();
    c.pcap(
        "05_eth_mutated.pcap",
        LINKTYPE_ETHERNET,
        "seed frames with 1..8 random bytes overwritten (mostly headers), 1/4 randomly cut".into(),
        recs,
    );

    // 5. other link types around the same kinds of payload
    let l3: Vec<(u16, Vec<u8>)> = reps.iter().filter_map(|f| l3_payload(f)).collect();
    let ip: Vec<Vec<u8>> = l3
        .iter()
        .filter(|(et, _)| *et == 0x0800 || *et == 0x86dd)
        .map(|(_, p)| p.clone())
        .collect();
    let ip_set = within_budget(&ip, TRUNC_BUDGET_OTHER);

    // raw IP
    c.pcap(
        "10_raw_truncated.pcap",
        LINKTYPE_RAW,
        format!("raw IP: every truncation of {} IP packets", ip_set.len()),
        truncations(&ip_set),
    );
    let recs = c.random_records(|r| {
        if r.below(2) == 0 {
            vec![0x45]
        } else {
            vec![0x60 | r.below(16) as u8]
        }
    });
    c.pcap(
        "11_raw_random.pcap",
        LINKTYPE_RAW,
        "raw IP: random bytes; half start with 0x45 / 0x6X".into(),
        recs,
    );

    // DLT_NULL, both byte orders of the family word
    for (big, le_name, tr_name, rnd_name) in [
        (
            false,
            "little",
            "12_null_le_truncated.pcap",
            "13_null_le_random.pcap",
        ),
        (
            true,
            "big",
            "14_null_be_truncated.pcap",
            "15_null_be_random.pcap",
        ),
    ] {
        let fam = |v: u32| {
            if big {
                v.to_be_bytes().to_vec()
            } else {
                v.to_le_bytes().to_vec()
            }
        };
        let v6_families = [24u32, 28, 30];
        let framed: Vec<Vec<u8>> = ip_set
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let family = if p.first().map(|b| b >> 4) == Some(6) {
                    v6_families[i % 3]
                } else {
                    2
                };
                [fam(family), p.to_vec()].concat()
            })
            .collect();
        let framed: Vec<&[u8]> = framed.iter().map(|v| v.as_slice()).collect();
        c.pcap(
            tr_name,
            LINKTYPE_NULL,
            format!(
                "DLT_NULL, {le_name}-endian family (2 / 24,28,30): every truncation (header \
                 included) of {} IP packets",
                framed.len()
            ),
            truncations(&framed),
        );
        let recs = c.random_records(|r| {
            let family = *r.pick(&[2u32, 24, 28, 30, 10, 23, 0, 0xffff_ffff, 0x0200_0000]);
            let mut h = fam(family);
            if r.below(3) == 0 {
                h = r.bytes(4);
            }
            h.push(if r.below(2) == 0 { 0x45 } else { 0x60 });
            h
        });
        c.pcap(
            rnd_name,
            LINKTYPE_NULL,
            format!(
                "DLT_NULL, {le_name}-endian family: random family (incl. garbage) + random bytes"
            ),
            recs,
        );
    }

    // Linux cooked v1 and v2
    let l3_packets: Vec<Vec<u8>> = l3.iter().map(|(_, p)| p.clone()).collect();
    let l3_set = within_budget(&l3_packets, TRUNC_BUDGET_OTHER);
    let proto_of = |p: &[u8]| {
        l3.iter()
            .find(|(_, q)| q.as_slice() == p)
            .map_or(0x0800, |(et, _)| *et)
    };
    for v2 in [false, true] {
        let (lt, tag, names) = if v2 {
            (
                LINKTYPE_LINUX_SLL2,
                "SLL2",
                [
                    "19_sll2_truncated.pcap",
                    "20_sll2_random.pcap",
                    "21_sll2_bad_header.pcap",
                ],
            )
        } else {
            (
                LINKTYPE_LINUX_SLL,
                "SLL",
                [
                    "16_sll_truncated.pcap",
                    "17_sll_random.pcap",
                    "18_sll_bad_header.pcap",
                ],
            )
        };
        let cooked = |pkttype: u16, proto: u16, payload: &[u8]| {
            let h = if v2 {
                sll2_hdr(proto, 2, 1, pkttype as u8, 6, &MAC_A)
            } else {
                sll_hdr(pkttype, 1, 6, &MAC_A, proto)
            };
            [h, payload.to_vec()].concat()
        };
        let framed: Vec<Vec<u8>> = l3_set
            .iter()
            .enumerate()
            .map(|(i, p)| cooked([0u16, 4][i % 2], proto_of(p), p))
            .collect();
        let framed: Vec<&[u8]> = framed.iter().map(|v| v.as_slice()).collect();
        c.pcap(
            names[0],
            lt,
            format!(
                "{tag}: correct headers around {} real L3 payloads (IP, ARP); every truncation, \
                 header included",
                framed.len()
            ),
            truncations(&framed),
        );
        let recs = c.random_records(|r| {
            let proto = *r.pick(&[0x0800u16, 0x86dd, 0x0806, 0x8100, 0x0004, 0x1234]);
            let mut h = if v2 {
                sll2_hdr(proto, r.next_u64() as u32, 1, r.below(8) as u8, 6, &MAC_A)
            } else {
                sll_hdr(r.below(8) as u16, 1, 6, &MAC_A, proto)
            };
            if r.below(3) == 0 {
                let n = h.len();
                h = r.bytes(n);
            }
            h
        });
        c.pcap(
            names[1],
            lt,
            format!("{tag}: random payload after correct or random headers"),
            recs,
        );
        let bad = cooked_bad_headers(v2, &ip, &mut c.rng);
        c.cases(
            names[2],
            lt,
            &format!("{tag}: truncated / garbled headers"),
            bad,
        );
    }

    // 6. broken and unusual containers
    container_files(&mut c, &reps);

    c.files
}

// ---------------------------------------------------------------------------
// corpus plumbing

type Rec = (Vec<u8>, u32);

fn full(data: Vec<u8>) -> Rec {
    let n = data.len() as u32;
    (data, n)
}

struct Corpus {
    dir: PathBuf,
    rng: Rng,
    files: Vec<GarbageFile>,
}

impl Corpus {
    fn pcap(&mut self, name: &str, linktype: u32, what: String, recs: Vec<Rec>) {
        let path = self.dir.join(name);
        let mut w = PcapWriter::new(&path, linktype, SNAPLEN).expect("create pcap");
        for (i, (data, orig)) in recs.iter().enumerate() {
            w.write(TS_BASE_US + i as u64 * TS_STEP_US, data, *orig)
                .expect("write pcap");
        }
        let frames = w.finish().expect("flush pcap");
        self.push(path, what, frames, Some(linktype), true);
    }

    fn cases(&mut self, name: &str, linktype: u32, what: &str, cases: Vec<(String, Vec<u8>)>) {
        let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
        let what = format!(
            "{what}; one record per case, in order: {}",
            names.join(", ")
        );
        let recs = cases.into_iter().map(|(_, d)| full(d)).collect();
        self.pcap(name, linktype, what, recs);
    }

    fn push(&mut self, path: PathBuf, what: String, frames: usize, lt: Option<u32>, ok: bool) {
        self.files.push(GarbageFile {
            path,
            what,
            frames,
            linktype: lt,
            container_ok: ok,
        });
    }

    /// Random records of lengths 0..2000; every other one starts with `prefix`.
    fn random_records(&mut self, mut prefix: impl FnMut(&mut Rng) -> Vec<u8>) -> Vec<Rec> {
        (0..RANDOM_FRAMES_OTHER)
            .map(|i| {
                let n = self.rng.below(2000);
                let mut v = if i % 2 == 1 {
                    prefix(&mut self.rng)
                } else {
                    Vec::new()
                };
                let rest = n.saturating_sub(v.len());
                v.extend(self.rng.bytes(rest));
                full(v)
            })
            .collect()
    }
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (0 when `n == 0`).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        for chunk in v.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        v
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Every prefix 0..=len of every frame. orig_len is the full length for even
/// cut lengths (as if cut by a snaplen) and the cut length for odd ones.
fn truncations(frames: &[&[u8]]) -> Vec<Rec> {
    let mut out = Vec::new();
    for f in frames {
        let len = f.len() as u32;
        for n in 0..=f.len() {
            let orig = if n % 2 == 0 { len } else { n as u32 };
            out.push((f[..n].to_vec(), orig));
        }
    }
    out
}

/// The frames (in order) whose full truncation sets fit into `budget` bytes.
fn within_budget(frames: &[Vec<u8>], budget: usize) -> Vec<&[u8]> {
    let mut used = 0;
    let mut out = Vec::new();
    for f in frames {
        let cost = f.len() * (f.len() + 1) / 2 + 16 * (f.len() + 1);
        if used + cost <= budget {
            used += cost;
            out.push(f.as_slice());
        }
    }
    out
}

/// One frame per kind of traffic: caller's seeds first, synthetic ones fill gaps.
fn representatives(seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let synthetic = synthetic_frames();
    let mut keys = Vec::new();
    let mut out = Vec::new();
    for f in seeds.iter().filter(|f| f.len() <= MAX_SEED_LEN) {
        if out.len() == MAX_REPRESENTATIVES {
            break;
        }
        let key = kind_of(f);
        if !keys.contains(&key) {
            keys.push(key);
            out.push(f.clone());
        }
    }
    // Synthetic frames fill the kinds the seeds lack (not capped).
    for f in synthetic {
        let key = kind_of(&f);
        if !keys.contains(&key) {
            keys.push(key);
            out.push(f);
        }
    }
    out
}

/// Kind of traffic a frame represents: VLAN depth, ethertype, IP version /
/// protocol / fragment / options, L4 detail (TCP SYN, FIN|RST, options; ICMP
/// type) and a size bucket.
type Kind = (usize, u16, Option<(bool, u8, bool, bool, u16)>, usize);

fn kind_of(f: &[u8]) -> Option<Kind> {
    let l = parse_eth(f)?;
    let ip = l.ip.map(|i| {
        let opts = i.l4 - l.l3 > if i.v6 { 40 } else { 20 };
        let detail = match i.proto {
            6 if i.l4 + 14 <= i.end => {
                let flags = f[i.l4 + 13];
                u16::from(flags & 0x02 != 0)
                    | u16::from(flags & 0x05 != 0) << 1
                    | u16::from(f[i.l4 + 12] >> 4 > 5) << 2
                    | u16::from(i.end > i.l4 + usize::from(f[i.l4 + 12] >> 4) * 4) << 3
            }
            1 | 58 if i.l4 < i.end => u16::from(f[i.l4]),
            _ => 0,
        };
        (i.v6, i.proto, i.frag, opts, detail)
    });
    let size = match f.len() {
        0..=64 => 0,
        65..=256 => 1,
        257..=1000 => 2,
        _ => 3,
    };
    Some((l.vlans.min(2), l.ethertype, ip, size))
}

// ---------------------------------------------------------------------------
// packet building

const MAC_A: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const MAC_B: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
const V4_A: [u8; 4] = [192, 0, 2, 1];
const V4_B: [u8; 4] = [198, 51, 100, 2];
const V6_A: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

fn put16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_be_bytes());
}

/// Internet checksum over the concatenation of `parts` (all but the last even-sized).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for p in parts {
        let mut chunks = p.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [b] = chunks.remainder() {
            sum += u64::from(*b) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet frame MAC_A -> MAC_B, padded to the 60-byte minimum.
fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    eth_tagged(&[], ethertype, payload)
}

/// Ethernet frame with a stack of VLAN tags (one TPID each), padded to 60 bytes.
fn eth_tagged(tpids: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = eth_raw(tpids, ethertype, payload);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// Ethernet frame without padding.
fn eth_raw(tpids: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * tpids.len() + payload.len());
    f.extend_from_slice(&MAC_B);
    f.extend_from_slice(&MAC_A);
    for (i, t) in tpids.iter().enumerate() {
        f.extend_from_slice(&t.to_be_bytes());
        f.extend_from_slice(&((i as u16 + 1) * 10).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// IPv4 packet V4_A -> V4_B with a correct header checksum.
fn ipv4(proto: u8, id: u16, frag: u16, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let ihl = 20 + opts.len();
    let mut h = vec![0u8; 20];
    h[0] = 0x40 | (ihl / 4) as u8;
    put16(&mut h, 2, (ihl + payload.len()) as u16);
    put16(&mut h, 4, id);
    put16(&mut h, 6, frag);
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&V4_A);
    h[16..20].copy_from_slice(&V4_B);
    h.extend_from_slice(opts);
    let c = checksum(&[&h]);
    put16(&mut h, 10, c);
    h.extend_from_slice(payload);
    h
}

/// IPv6 packet V6_A -> V6_B; payload length = `payload.len()`.
fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_plen(next, payload.len() as u16, payload)
}

fn ipv6_plen(next: u8, plen: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 40];
    h[0] = 0x60;
    put16(&mut h, 4, plen);
    h[6] = next;
    h[7] = 64;
    h[8..24].copy_from_slice(&V6_A);
    h[24..40].copy_from_slice(&V6_B);
    h.extend_from_slice(payload);
    h
}

fn l4_csum_offset(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(16),
        17 => Some(6),
        1 | 58 => Some(2),
        _ => None,
    }
}

fn fill_l4_csum(proto: u8, seg: &mut [u8], pseudo: &[u8]) {
    if let Some(o) = l4_csum_offset(proto) {
        if seg.len() >= o + 2 {
            put16(seg, o, 0);
            let c = checksum(&[pseudo, seg]);
            put16(seg, o, c);
        }
    }
}

fn pseudo_v4(proto: u8, len: usize) -> Vec<u8> {
    if proto == 1 {
        return Vec::new();
    }
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(&V4_A);
    p.extend_from_slice(&V4_B);
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

fn pseudo_v6(next: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    p.extend_from_slice(&V6_A);
    p.extend_from_slice(&V6_B);
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, next]);
    p
}

fn ipv4_l4(proto: u8, seg: Vec<u8>) -> Vec<u8> {
    ipv4_l4_opts(proto, &[], seg)
}

fn ipv4_l4_opts(proto: u8, opts: &[u8], mut seg: Vec<u8>) -> Vec<u8> {
    let pseudo = pseudo_v4(proto, seg.len());
    fill_l4_csum(proto, &mut seg, &pseudo);
    ipv4(proto, 0x1c46, 0x4000, opts, &seg)
}

fn ipv6_l4(proto: u8, mut seg: Vec<u8>) -> Vec<u8> {
    let pseudo = pseudo_v6(proto, seg.len());
    fill_l4_csum(proto, &mut seg, &pseudo);
    ipv6(proto, &seg)
}

fn udp_checksummed_v6(seg: &[u8]) -> Vec<u8> {
    let mut seg = seg.to_vec();
    let pseudo = pseudo_v6(17, seg.len());
    fill_l4_csum(17, &mut seg, &pseudo);
    seg
}

fn tcp(sport: u16, dport: u16, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut opts = opts.to_vec();
    opts.resize(opts.len().div_ceil(4) * 4, 0);
    let mut t = vec![0u8; 20];
    put16(&mut t, 0, sport);
    put16(&mut t, 2, dport);
    t[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    if flags & 0x10 != 0 {
        t[8..12].copy_from_slice(&0x0a0b_0c0du32.to_be_bytes());
    }
    t[12] = (((20 + opts.len()) / 4) as u8) << 4;
    t[13] = flags;
    put16(&mut t, 14, 64_240);
    t.extend_from_slice(&opts);
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    put16(&mut u, 0, sport);
    put16(&mut u, 2, dport);
    put16(&mut u, 4, (8 + payload.len()) as u16);
    u.extend_from_slice(payload);
    u
}

fn icmp(typ: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![typ, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let c = checksum(&[&m]);
    put16(&mut m, 2, c);
    m
}

fn sll_hdr(pkttype: u16, arphrd: u16, addr_len: u16, addr: &[u8], proto: u16) -> Vec<u8> {
    let mut h = vec![0u8; 16];
    put16(&mut h, 0, pkttype);
    put16(&mut h, 2, arphrd);
    put16(&mut h, 4, addr_len);
    let n = addr.len().min(8);
    h[6..6 + n].copy_from_slice(&addr[..n]);
    put16(&mut h, 14, proto);
    h
}

fn sll2_hdr(
    proto: u16,
    ifindex: u32,
    arphrd: u16,
    pkttype: u8,
    addr_len: u8,
    addr: &[u8],
) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    put16(&mut h, 0, proto);
    h[4..8].copy_from_slice(&ifindex.to_be_bytes());
    put16(&mut h, 8, arphrd);
    h[10] = pkttype;
    h[11] = addr_len;
    let n = addr.len().min(8);
    h[12..12 + n].copy_from_slice(&addr[..n]);
    h
}

// ---------------------------------------------------------------------------
// just enough parsing to find the headers of seed frames

#[derive(Clone, Copy, Debug, PartialEq)]
struct IpInfo {
    v6: bool,
    /// Offset of the L4 header in the frame.
    l4: usize,
    proto: u8,
    /// End of the IP packet (per its length field, clamped to the frame).
    end: usize,
    frag: bool,
}

#[derive(Clone, Copy, Debug)]
struct Layout {
    l3: usize,
    ethertype: u16,
    vlans: usize,
    ip: Option<IpInfo>,
}

fn parse_eth(f: &[u8]) -> Option<Layout> {
    if f.len() < 14 {
        return None;
    }
    let mut off = 12;
    let mut ethertype = be16(f, off);
    let mut vlans = 0;
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        if f.len() < off + 6 || vlans == 8 {
            return None;
        }
        off += 4;
        vlans += 1;
        ethertype = be16(f, off);
    }
    let l3 = off + 2;
    let ip = match ethertype {
        0x0800 => parse_v4(f, l3),
        0x86dd => parse_v6(f, l3),
        _ => None,
    };
    Some(Layout {
        l3,
        ethertype,
        vlans,
        ip,
    })
}

fn parse_v4(f: &[u8], l3: usize) -> Option<IpInfo> {
    if f.len() < l3 + 20 || f[l3] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(f[l3] & 0x0f) * 4;
    let total = usize::from(be16(f, l3 + 2));
    if ihl < 20 || total < ihl || l3 + ihl > f.len() {
        return None;
    }
    Some(IpInfo {
        v6: false,
        l4: l3 + ihl,
        proto: f[l3 + 9],
        end: (l3 + total).min(f.len()),
        frag: be16(f, l3 + 6) & 0x3fff != 0,
    })
}

fn parse_v6(f: &[u8], l3: usize) -> Option<IpInfo> {
    if f.len() < l3 + 40 || f[l3] >> 4 != 6 {
        return None;
    }
    let end = (l3 + 40 + usize::from(be16(f, l3 + 4))).min(f.len());
    let mut next = f[l3 + 6];
    let mut off = l3 + 40;
    let mut frag = false;
    for _ in 0..16 {
        if off + 2 > end {
            return None;
        }
        let len = match next {
            0 | 43 | 60 => (usize::from(f[off + 1]) + 1) * 8,
            44 => {
                frag = true;
                8
            }
            51 => (usize::from(f[off + 1]) + 2) * 4,
            _ => break,
        };
        next = f[off];
        off += len;
    }
    if off > end {
        return None;
    }
    Some(IpInfo {
        v6: true,
        l4: off,
        proto: next,
        end,
        frag,
    })
}

/// `(ethertype, L3 packet without Ethernet padding)` of a frame, VLAN tags dropped.
fn l3_payload(f: &[u8]) -> Option<(u16, Vec<u8>)> {
    let lay = parse_eth(f)?;
    let end = lay.ip.map_or(f.len(), |i| i.end);
    (end > lay.l3).then(|| (lay.ethertype, f[lay.l3..end].to_vec()))
}

fn fix_ipv4_csum(g: &mut [u8], l3: usize) {
    if g.len() < l3 + 20 {
        return;
    }
    let ihl = usize::from(g[l3] & 0x0f) * 4;
    let end = (l3 + ihl.max(20)).min(g.len());
    put16(g, l3 + 10, 0);
    let c = checksum(&[&g[l3..end]]);
    put16(g, l3 + 10, c);
}

/// Makes the IP length field agree with the bytes present after `l3`.
fn set_ip_len_to_frame(g: &mut [u8], lay: &Layout, v6: bool) {
    let l3 = lay.l3;
    let n = g.len() - l3;
    if v6 {
        put16(g, l3 + 4, n.saturating_sub(40) as u16);
    } else {
        put16(g, l3 + 2, n as u16);
        fix_ipv4_csum(g, l3);
    }
}

/// Inserts `bytes` at `at` and fixes the IP length field.
fn insert_at(base: &[u8], lay: &Layout, v6: bool, at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut g = base.to_vec();
    g.splice(at..at, bytes.iter().copied());
    set_ip_len_to_frame(&mut g, lay, v6);
    g
}

// ---------------------------------------------------------------------------
// lying lengths

/// First representative carrying an unfragmented IP packet of version `v6`
/// and protocol `proto` with at least `min_l4` bytes of L4 header, trimmed to
/// the IP length.
fn find_ip(reps: &[Vec<u8>], v6: bool, proto: u8, min_l4: usize) -> Option<(Vec<u8>, Layout)> {
    reps.iter().find_map(|f| {
        let lay = parse_eth(f)?;
        let ip = lay.ip?;
        (ip.v6 == v6 && ip.proto == proto && !ip.frag && ip.l4 + min_l4 <= ip.end)
            .then(|| (f[..ip.end].to_vec(), lay))
    })
}

type Case = (String, Vec<u8>);

fn lying_cases(reps: &[Vec<u8>]) -> Vec<Case> {
    let mut cases = Vec::new();
    let v4_tcp = find_ip(reps, false, 6, 20);
    let v4_udp = find_ip(reps, false, 17, 8);
    let v6_tcp = find_ip(reps, true, 6, 20);
    let v6_udp = find_ip(reps, true, 17, 8);

    for (tag, seed) in [("ipv4-tcp", &v4_tcp), ("ipv4-udp", &v4_udp)] {
        if let Some((base, lay)) = seed {
            ipv4_cases(&mut cases, tag, base, lay);
        }
    }
    for (tag, seed) in [("ipv6-tcp", &v6_tcp), ("ipv6-udp", &v6_udp)] {
        if let Some((base, lay)) = seed {
            ipv6_cases(&mut cases, tag, base, lay);
        }
    }
    for (tag, seed, v6) in [("ipv4-tcp", &v4_tcp, false), ("ipv6-tcp", &v6_tcp, true)] {
        if let Some((base, lay)) = seed {
            tcp_cases(&mut cases, tag, base, lay, v6);
        }
    }
    for (tag, seed, v6) in [("ipv4-udp", &v4_udp, false), ("ipv6-udp", &v6_udp, true)] {
        if let Some((base, lay)) = seed {
            udp_cases(&mut cases, tag, base, lay, v6);
        }
    }
    ipv6_ext_cases(&mut cases);
    let inner_v4 = v4_udp
        .as_ref()
        .map(|(b, l)| b[l.l3..].to_vec())
        .unwrap_or_else(|| ipv4_l4(17, udp(1, 2, b"x")));
    vlan_eth_cases(&mut cases, &inner_v4);
    icmp_arp_cases(&mut cases);
    cases
}

fn ipv4_cases(cases: &mut Vec<Case>, tag: &str, base: &[u8], lay: &Layout) {
    let l3 = lay.l3;
    let ihl = lay.ip.map_or(20, |i| i.l4 - l3);
    let n = base.len() - l3;
    let mut v = |name: &str, m: &dyn Fn(&mut Vec<u8>)| {
        let mut g = base.to_vec();
        m(&mut g);
        fix_ipv4_csum(&mut g, l3);
        cases.push((format!("{tag}/{name}"), g));
    };
    let set_ihl = |g: &mut Vec<u8>, x: u8| g[l3] = (g[l3] & 0xf0) | x;
    v("ipv4_total_len_gt_frame_by_1", &|g| {
        put16(g, l3 + 2, (n + 1) as u16)
    });
    v("ipv4_total_len_ffff", &|g| put16(g, l3 + 2, 0xffff));
    v("ipv4_total_len_19_lt_header", &|g| put16(g, l3 + 2, 19));
    v("ipv4_total_len_0", &|g| put16(g, l3 + 2, 0));
    v("ipv4_total_len_cuts_l4_header", &|g| {
        put16(g, l3 + 2, (ihl + 4) as u16)
    });
    v("ipv4_ihl_0", &|g| set_ihl(g, 0));
    v("ipv4_ihl_4", &|g| set_ihl(g, 4));
    v("ipv4_ihl_15_eats_l4", &|g| set_ihl(g, 15));
    v("ipv4_ihl_15_past_frame_end", &|g| {
        g.truncate(l3 + 24);
        put16(g, l3 + 2, 24);
        set_ihl(g, 15);
    });
    v("ipv4_ihl_6_gt_total_len_20", &|g| {
        set_ihl(g, 6);
        put16(g, l3 + 2, 20);
    });
    v("ipv4_version_6", &|g| g[l3] = 0x60 | (g[l3] & 0x0f));
    v("ipv4_version_0", &|g| g[l3] &= 0x0f);
    v("ipv4_version_15", &|g| g[l3] |= 0xf0);
    if ihl < 60 {
        for (name, opt) in [
            ("ipv4_option_len_0", [0x83, 0, 0, 0]),
            ("ipv4_option_len_1", [0x44, 1, 0, 0]),
            ("ipv4_option_len_past_header", [0x07, 40, 4, 0]),
            ("ipv4_option_no_len_byte", [1, 1, 1, 0x83]),
        ] {
            let mut g = insert_at(base, lay, false, l3 + ihl, &opt);
            g[l3] += 1;
            fix_ipv4_csum(&mut g, l3);
            cases.push((format!("{tag}/{name}"), g));
        }
    }
    let mut g = base.to_vec();
    let c = be16(&g, l3 + 10);
    put16(&mut g, l3 + 10, !c);
    cases.push((format!("{tag}/ipv4_bad_header_checksum"), g));
}

fn ipv6_cases(cases: &mut Vec<Case>, tag: &str, base: &[u8], lay: &Layout) {
    let l3 = lay.l3;
    let l4 = lay.ip.map_or(l3 + 40, |i| i.l4);
    let plen = base.len() - l3 - 40;
    let mut v = |name: &str, m: &dyn Fn(&mut Vec<u8>)| {
        let mut g = base.to_vec();
        m(&mut g);
        cases.push((format!("{tag}/{name}"), g));
    };
    v("ipv6_payload_len_gt_frame_by_1", &|g| {
        put16(g, l3 + 4, (plen + 1) as u16)
    });
    v("ipv6_payload_len_ffff", &|g| put16(g, l3 + 4, 0xffff));
    v("ipv6_payload_len_0", &|g| put16(g, l3 + 4, 0));
    v("ipv6_payload_len_cuts_l4_header", &|g| {
        put16(g, l3 + 4, (l4 - l3 - 40 + 3) as u16)
    });
    v("ipv6_version_4", &|g| g[l3] = 0x40 | (g[l3] & 0x0f));
    v("ipv6_next_header_59_with_payload", &|g| g[l3 + 6] = 59);
    v("ipv6_header_39_bytes", &|g| g.truncate(l3 + 39));
}

fn tcp_cases(cases: &mut Vec<Case>, tag: &str, base: &[u8], lay: &Layout, v6: bool) {
    let l4 = lay.ip.map_or(lay.l3 + 20, |i| i.l4);
    let set_doff = |g: &mut Vec<u8>, d: u8| g[l4 + 12] = (d << 4) | (g[l4 + 12] & 0x0f);
    let mut v = |name: &str, m: &dyn Fn(&mut Vec<u8>)| {
        let mut g = base.to_vec();
        m(&mut g);
        cases.push((format!("{tag}/{name}"), g));
    };
    v("tcp_data_offset_0", &|g| set_doff(g, 0));
    v("tcp_data_offset_4", &|g| set_doff(g, 4));
    v("tcp_data_offset_15", &|g| set_doff(g, 15));
    v("tcp_data_offset_15_gt_remaining_20", &|g| {
        g.truncate(l4 + 20);
        set_ip_len_to_frame(g, lay, v6);
        set_doff(g, 15);
    });
    v("tcp_header_only_19_bytes", &|g| {
        g.truncate(l4 + 19);
        set_ip_len_to_frame(g, lay, v6);
    });
    let doff = base[l4 + 12] >> 4;
    if doff < 15 {
        for (name, opt) in [
            ("tcp_option_len_0", [2, 0, 1, 1]),
            ("tcp_option_len_1", [8, 1, 1, 1]),
            ("tcp_option_len_past_header", [8, 40, 0, 0]),
            ("tcp_option_no_len_byte", [1, 1, 1, 3]),
        ] {
            let mut g = insert_at(base, lay, v6, l4 + 20, &opt);
            g[l4 + 12] += 0x10;
            cases.push((format!("{tag}/{name}"), g));
        }
    }
}

fn udp_cases(cases: &mut Vec<Case>, tag: &str, base: &[u8], lay: &Layout, v6: bool) {
    let l4 = lay.ip.map_or(lay.l3 + 20, |i| i.l4);
    let actual = base.len() - l4;
    let mut v = |name: &str, m: &dyn Fn(&mut Vec<u8>)| {
        let mut g = base.to_vec();
        m(&mut g);
        cases.push((format!("{tag}/{name}"), g));
    };
    v("udp_len_gt_actual_by_1", &|g| {
        put16(g, l4 + 4, (actual + 1) as u16)
    });
    v("udp_len_ffff", &|g| put16(g, l4 + 4, 0xffff));
    if actual > 9 {
        v("udp_len_lt_actual_by_1", &|g| {
            put16(g, l4 + 4, (actual - 1) as u16)
        });
    }
    if actual > 8 {
        v("udp_len_8_with_payload", &|g| put16(g, l4 + 4, 8));
    }
    v("udp_len_7_lt_header", &|g| put16(g, l4 + 4, 7));
    v("udp_len_0", &|g| put16(g, l4 + 4, 0));
    v("udp_header_cut_at_4", &|g| {
        g.truncate(l4 + 4);
        set_ip_len_to_frame(g, lay, v6);
    });
}

fn ipv6_ext_cases(cases: &mut Vec<Case>) {
    let udp_seg = udp_checksummed_v6(&udp(40010, 40011, b"ext"));
    let mut v = |name: &str, pkt: Vec<u8>| {
        cases.push((format!("ipv6-ext/{name}"), eth_raw(&[], 0x86dd, &pkt)))
    };
    // HBH claiming (255+1)*8 bytes, 8 present.
    v(
        "hbh_len_2048_only_8_present",
        ipv6(0, &[17, 255, 1, 4, 0, 0, 0, 0]),
    );
    // HBH -> DestOpts -> Routing(24 bytes claimed), routing cut after 4 bytes.
    let mut p = vec![60, 0, 1, 4, 0, 0, 0, 0, 43, 0, 1, 4, 0, 0, 0, 0];
    p.extend_from_slice(&[17, 2, 0, 0]);
    v("hbh_dst_routing_cut_in_routing", ipv6(0, &p));
    // Same chain, payload length claims the whole routing header and more.
    v("hbh_dst_routing_cut_payload_len_lies", ipv6_plen(0, 64, &p));
    v("fragment_header_cut_at_4", ipv6(44, &[17, 0, 0, 1]));
    v("dstopts_only_next_header_byte", ipv6(60, &[17]));
    v(
        "ah_len_past_end",
        ipv6(51, &[17, 200, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]),
    );
    v("hbh_not_first", {
        let mut p = vec![0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
        p.extend_from_slice(&udp_seg);
        ipv6(60, &p)
    });
    // 100 destination-options headers, then UDP: deep but complete.
    let mut deep = Vec::new();
    for i in 0..100 {
        deep.extend_from_slice(&[if i == 99 { 17 } else { 60 }, 0, 1, 4, 0, 0, 0, 0]);
    }
    let mut complete = deep.clone();
    complete.extend_from_slice(&udp_seg);
    v("dstopts_chain_100_then_udp", ipv6(60, &complete));
    deep.truncate(deep.len() - 5);
    v("dstopts_chain_100_cut_in_last", ipv6(60, &deep));
    v(
        "payload_len_0_with_hbh",
        ipv6_plen(0, 0, &{
            let mut p = vec![17, 0, 1, 4, 0, 0, 0, 0];
            p.extend_from_slice(&udp_seg);
            p
        }),
    );
}

fn vlan_eth_cases(cases: &mut Vec<Case>, inner_v4: &[u8]) {
    let mut v = |name: &str, f: Vec<u8>| cases.push((format!("eth/{name}"), f));
    v(
        "vlan_3_tags_88a8_8100_8100",
        eth_raw(&[0x88a8, 0x8100, 0x8100], 0x0800, inner_v4),
    );
    v("vlan_4_tags_8100", eth_raw(&[0x8100; 4], 0x0800, inner_v4));
    v("vlan_200_tags", eth_raw(&[0x8100; 200], 0x0800, inner_v4));
    v(
        "vlan_9100_8100_then_ipv4",
        eth_raw(&[0x9100, 0x8100], 0x0800, inner_v4),
    );
    let mut f = eth_raw(&[0x88a8, 0x8100, 0x8100], 0x0800, &[]);
    f.truncate(f.len() - 2);
    v("vlan_3_tags_no_inner_ethertype", f);
    let mut f = eth_raw(&[], 0x8100, &[0]);
    f.truncate(15);
    v("vlan_tci_cut_after_1_byte", f);
    v("ethertype_ipv4_0_bytes_after", eth_raw(&[], 0x0800, &[]));
    v("ethertype_ipv6_0_bytes_after", eth_raw(&[], 0x86dd, &[]));
    v("ethertype_arp_0_bytes_after", eth_raw(&[], 0x0806, &[]));
    v("ethertype_vlan_0_bytes_after", eth_raw(&[], 0x8100, &[]));
    v(
        "vlan_then_ipv4_0_bytes_after",
        eth_raw(&[0x8100], 0x0800, &[]),
    );
    v(
        "ethertype_ipv6_carrying_ipv4",
        eth_raw(&[], 0x86dd, inner_v4),
    );
    v(
        "ethertype_ipv4_carrying_ipv6",
        eth_raw(&[], 0x0800, &ipv6_l4(17, udp(1, 2, b"v6"))),
    );
    let mut snap = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    snap.extend_from_slice(&inner_v4[..inner_v4.len().min(10)]);
    v(
        "ieee8023_length_1500_gt_frame_snap_ipv4",
        eth_raw(&[], 1500, &snap),
    );
    v("ieee8023_length_0", eth_raw(&[], 0, &[0xaa, 0xaa, 0x03]));
}

fn icmp_arp_cases(cases: &mut Vec<Case>) {
    let mut v = |name: &str, f: Vec<u8>| cases.push((format!("icmp-arp/{name}"), f));
    let quoted = ipv4(17, 0x4242, 0, &[], &udp(40000, 53, b"abcdefgh"));
    let unreach = |inner: &[u8]| eth(0x0800, &ipv4_l4(1, icmp(3, 3, [0; 4], inner)));
    v("icmp_1_byte", eth(0x0800, &ipv4(1, 1, 0, &[], &[8])));
    v("icmp_3_bytes", eth(0x0800, &ipv4(1, 2, 0, &[], &[8, 0, 0])));
    v("icmp_unreach_no_quote", unreach(&[]));
    v("icmp_unreach_quote_cut_at_10", unreach(&quoted[..10]));
    let mut q = quoted[..28].to_vec();
    q[0] = 0x4f;
    v("icmp_unreach_quote_ihl_15", unreach(&q));
    let mut q = quoted[..28].to_vec();
    q[0] = 0x40;
    v("icmp_unreach_quote_ihl_0", unreach(&q));
    let mut q = quoted[..28].to_vec();
    put16(&mut q, 2, 0xffff);
    v("icmp_unreach_quote_total_len_ffff", unreach(&q));
    v(
        "icmp_unreach_quoting_ipv6",
        unreach(&ipv6_l4(17, udp(1, 2, b"q"))[..48]),
    );
    // ICMP error quoting an ICMP error quoting ... 20 levels (recursion trap).
    let mut nested = quoted[..28].to_vec();
    for _ in 0..20 {
        nested = ipv4(1, 7, 0, &[], &icmp(3, 1, [0; 4], &nested));
    }
    v("icmp_unreach_nested_20_deep", unreach(&nested));
    v("icmpv6_1_byte", eth(0x86dd, &ipv6(58, &[128])));
    v(
        "icmpv6_unreach_quote_cut_at_20",
        eth(
            0x86dd,
            &ipv6_l4(58, icmp(1, 4, [0; 4], &ipv6(17, &[])[..20])),
        ),
    );
    v(
        "icmpv6_packet_too_big_4_bytes",
        eth(0x86dd, &ipv6(58, &[2, 0, 0, 0])),
    );
    let arp = |hdr: [u8; 8], body_len: usize| {
        let mut p = hdr.to_vec();
        p.extend((0..body_len).map(|i| i as u8));
        eth_raw(&[], 0x0806, &p)
    };
    v(
        "arp_hlen_255_plen_255",
        arp([0, 1, 8, 0, 255, 255, 0, 1], 20),
    );
    v("arp_hlen_0_plen_0", arp([0, 1, 8, 0, 0, 0, 0, 1], 20));
    v(
        "arp_hlen_6_plen_16_in_28_bytes",
        arp([0, 1, 0x86, 0xdd, 6, 16, 0, 1], 20),
    );
    v(
        "arp_unknown_htype_ptype_op",
        arp([0xff, 0xff, 0x12, 0x34, 6, 4, 0xff, 0xff], 20),
    );
    let mut f = arp([0, 1, 8, 0, 6, 4, 0, 1], 20);
    f.truncate(14 + 7);
    v("arp_cut_at_7", f);
}

// ---------------------------------------------------------------------------
// fragments

fn fragment_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let payload: Vec<u8> = (0..1192).map(|i| (i % 251) as u8).collect();
    let mut dgram = udp(5000, 6000, &payload);
    let pseudo = pseudo_v4(17, dgram.len());
    fill_l4_csum(17, &mut dgram, &pseudo);
    let d = &dgram; // 1200 bytes
    let frag4 = |id: u16, off: usize, mf: bool, flags: u16, proto: u8, data: &[u8]| {
        let f = (off / 8) as u16 | if mf { 0x2000 } else { 0 } | flags;
        eth(0x0800, &ipv4(proto, id, f, &[], data))
    };
    let mut v = |name: &str, f: Vec<u8>| cases.push((format!("frag/{name}"), f));
    v("inorder_first_mf", frag4(0x101, 0, true, 0, 17, &d[..480]));
    v(
        "inorder_middle_no_l4",
        frag4(0x101, 480, true, 0, 17, &d[480..960]),
    );
    v("inorder_last", frag4(0x101, 960, false, 0, 17, &d[960..]));
    v(
        "duplicate_of_inorder_first",
        frag4(0x101, 0, true, 0, 17, &d[..480]),
    );
    v("reverse_last", frag4(0x102, 960, false, 0, 17, &d[960..]));
    v(
        "reverse_middle",
        frag4(0x102, 480, true, 0, 17, &d[480..960]),
    );
    v("reverse_first", frag4(0x102, 0, true, 0, 17, &d[..480]));
    v("overlap_first", frag4(0x103, 0, true, 0, 17, &d[..480]));
    v(
        "overlap_second_at_320",
        frag4(0x103, 320, true, 0, 17, &[0xee; 480]),
    );
    v(
        "overlap_last_at_800",
        frag4(0x103, 800, false, 0, 17, &d[800..]),
    );
    let small = udp(5001, 6001, &[0x55; 32]);
    let evil = udp(31337, 31338, &[0x66; 8]);
    v("udp_hdr_first", frag4(0x104, 0, true, 0, 17, &small[..16]));
    v(
        "udp_hdr_overwritten_at_0",
        frag4(0x104, 0, true, 0, 17, &evil),
    );
    v("udp_hdr_rest", frag4(0x104, 16, false, 0, 17, &small[16..]));
    let seg = tcp(40020, 22, 0x02, &[], &[0x77; 20]);
    let mut seg_rst = seg.clone();
    seg_rst[13] = 0x04;
    v(
        "tcp_tiny_first_8_bytes",
        frag4(0x105, 0, true, 0, 6, &seg[..8]),
    );
    v("tcp_rest_at_8", frag4(0x105, 8, false, 0, 6, &seg[8..]));
    v(
        "tcp_overlap_at_8_rewrites_flags",
        frag4(0x105, 8, false, 0, 6, &seg_rst[8..]),
    );
    v("teardrop_first_36", frag4(0x106, 0, true, 0, 17, &d[..36]));
    v(
        "teardrop_second_inside_first",
        frag4(0x106, 24, false, 0, 17, &[0; 4]),
    );
    v(
        "max_offset_65528_plus_1000",
        frag4(0x107, 65_528, false, 0, 17, &[0x99; 1000]),
    );
    v(
        "df_and_mf_offset_0",
        frag4(0x108, 0, true, 0x4000, 17, &d[..480]),
    );
    v(
        "lone_last_no_first",
        frag4(0x109, 480, false, 0, 17, &d[480..600]),
    );
    v(
        "empty_fragment_mf_offset_80",
        frag4(0x10a, 80, true, 0, 17, &[]),
    );
    v(
        "first_shorter_than_udp_header",
        frag4(0x10b, 0, true, 0, 17, &d[..4]),
    );
    v(
        "reserved_flag_set_unfragmented",
        frag4(0x10c, 0, false, 0x8000, 17, &small),
    );
    // IPv6 fragment header (next header 44).
    let mut dgram6 = udp(5002, 6002, &payload[..472]);
    let pseudo = pseudo_v6(17, dgram6.len());
    fill_l4_csum(17, &mut dgram6, &pseudo);
    let frag6 = |off: usize, m: bool, data: &[u8]| {
        let mut p = vec![17, 0];
        p.extend_from_slice(&((off as u16) | u16::from(m)).to_be_bytes());
        p.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        p.extend_from_slice(data);
        eth(0x86dd, &ipv6(44, &p))
    };
    v("ipv6_first_m", frag6(0, true, &dgram6[..240]));
    v("ipv6_last_no_l4", frag6(240, false, &dgram6[240..]));
    v(
        "ipv6_atomic_fragment",
        frag6(0, false, &udp_checksummed_v6(&udp(5003, 6003, b"atomic"))),
    );
    v(
        "ipv6_first_shorter_than_udp_header",
        frag6(0, true, &dgram6[..4]),
    );
    cases
}

// ---------------------------------------------------------------------------
// cooked-capture headers

fn cooked_bad_headers(v2: bool, ip: &[Vec<u8>], rng: &mut Rng) -> Vec<Case> {
    let v4 = ip
        .iter()
        .find(|p| p.first().map(|b| b >> 4) == Some(4))
        .cloned()
        .unwrap_or_else(|| ipv4_l4(17, udp(1, 2, b"x")));
    let v6 = ip
        .iter()
        .find(|p| p.first().map(|b| b >> 4) == Some(6))
        .cloned()
        .unwrap_or_else(|| ipv6_l4(17, udp(1, 2, b"x")));
    // (pkttype, arphrd, addr_len, proto)
    let hdr = |pkttype: u16, arphrd: u16, alen: u16, proto: u16| {
        if v2 {
            sll2_hdr(proto, 3, arphrd, pkttype as u8, alen as u8, &MAC_B)
        } else {
            sll_hdr(pkttype, arphrd, alen, &MAC_B, proto)
        }
    };
    let with = |h: Vec<u8>, p: &[u8]| [h, p.to_vec()].concat();
    let mut cases = Vec::new();
    let mut v = |name: &str, f: Vec<u8>| cases.push((name.to_string(), f));
    let hlen = if v2 { 20 } else { 16 };
    let good = hdr(0, 1, 6, 0x0800);
    for n in [0, 1, 2, hlen / 2, hlen - 2, hlen - 1] {
        v(
            &format!("header_only_{n}_of_{hlen}_bytes"),
            good[..n].to_vec(),
        );
    }
    v("header_complete_no_payload", good.clone());
    v("addr_len_255", with(hdr(0, 1, 255, 0x0800), &v4));
    v("addr_len_9", with(hdr(0, 1, 9, 0x0800), &v4));
    v("addr_len_0", with(hdr(0, 1, 0, 0x0800), &v4));
    v("pkttype_unknown", with(hdr(0xff, 1, 6, 0x0800), &v4));
    v("arphrd_ffff", with(hdr(0, 0xffff, 6, 0x0800), &v4));
    v("arphrd_loopback_772", with(hdr(0, 772, 6, 0x0800), &v4));
    v(
        "arphrd_netlink_824_garbage",
        with(hdr(0, 824, 0, 0x0010), &[0xff; 12]),
    );
    v("proto_0000", with(hdr(0, 1, 6, 0x0000), &v4));
    v(
        "proto_0001_novell_raw",
        with(hdr(0, 1, 6, 0x0001), &[0xff, 0xff, 0, 30]),
    );
    v(
        "proto_0004_llc_garbage",
        with(hdr(0, 1, 6, 0x0004), &[0x42, 0x42, 0x03]),
    );
    v("proto_unknown_1234", with(hdr(0, 1, 6, 0x1234), &v4));
    v("proto_ipv6_carrying_ipv4", with(hdr(0, 1, 6, 0x86dd), &v4));
    v("proto_ipv4_carrying_ipv6", with(hdr(0, 1, 6, 0x0800), &v6));
    v("proto_ipv4_0_bytes_after", hdr(0, 1, 6, 0x0800));
    let mut tagged = vec![0x00, 0x64, 0x08, 0x00];
    tagged.extend_from_slice(&v4);
    v("proto_vlan_then_ipv4", with(hdr(0, 1, 6, 0x8100), &tagged));
    v("proto_vlan_2_bytes", with(hdr(0, 1, 6, 0x8100), &[0, 0x64]));
    v("proto_arp_3_bytes", with(hdr(0, 1, 6, 0x0806), &[0, 1, 8]));
    if v2 {
        let mut h = hdr(0, 1, 6, 0x0800);
        h[2] = 0xff;
        h[3] = 0xff;
        v("reserved_nonzero", with(h, &v4));
        let mut h = hdr(0, 1, 6, 0x0800);
        h[4..8].copy_from_slice(&[0xff; 4]);
        v("ifindex_ffffffff", with(h, &v4));
    }
    for i in 0..10 {
        let h = rng.bytes(hlen);
        v(&format!("random_header_{i}_then_ipv4"), with(h, &v4));
    }
    cases
}

// ---------------------------------------------------------------------------
// containers

fn container_files(c: &mut Corpus, reps: &[Vec<u8>]) {
    let good: Vec<&[u8]> = reps.iter().take(5).map(|f| f.as_slice()).collect();
    let ts = |i: usize| TS_BASE_US + i as u64 * TS_STEP_US;
    let dir = c.dir.clone();
    let path = |name: &str| dir.join(name);
    let io = |r: io::Result<()>| r.expect("write container file");

    // 0-byte file
    let p = path("30_empty.pcap");
    File::create(&p).expect("create empty file");
    c.push(p, "zero-length file (0 bytes)".into(), 0, None, false);

    // 24-byte header only
    let p = path("31_header_only.pcap");
    PcapWriter::new(&p, LINKTYPE_ETHERNET, SNAPLEN)
        .and_then(PcapWriter::finish)
        .expect("header-only pcap");
    c.push(
        p,
        "only the 24-byte global header, no records".into(),
        0,
        Some(LINKTYPE_ETHERNET),
        true,
    );

    // record header cut in the middle
    let p = path("32_cut_record_header.pcap");
    let mut w = PcapWriter::new(&p, LINKTYPE_ETHERNET, SNAPLEN).expect("create");
    for (i, f) in good.iter().enumerate() {
        io(w.write(ts(i), f, f.len() as u32));
    }
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&1_700_000_001u32.to_le_bytes());
    hdr.extend_from_slice(&[0, 0, 0]);
    io(w.write_raw(&hdr));
    let n = w.finish().expect("flush");
    c.push(
        p,
        format!("{n} good records, then a record header cut after 7 of 16 bytes"),
        n,
        Some(LINKTYPE_ETHERNET),
        false,
    );

    // record data shorter than incl_len
    let p = path("33_cut_record_data.pcap");
    let mut w = PcapWriter::new(&p, LINKTYPE_ETHERNET, SNAPLEN).expect("create");
    for (i, f) in good.iter().enumerate() {
        io(w.write(ts(i), f, f.len() as u32));
    }
    let last = good[0];
    io(w.write_record_header(ts(good.len()), last.len() as u32, last.len() as u32));
    io(w.write_raw(&last[..last.len() / 2]));
    let n = w.finish().expect("flush");
    c.push(
        p,
        format!(
            "{n} good records, then a record with incl_len {} but only {} data bytes",
            last.len(),
            last.len() / 2
        ),
        n,
        Some(LINKTYPE_ETHERNET),
        false,
    );

    // incl_len > snaplen (data present)
    let p = path("34_incl_len_gt_snaplen.pcap");
    let mut w = PcapWriter::new(&p, LINKTYPE_ETHERNET, 64).expect("create");
    let big = reps
        .iter()
        .find(|f| f.len() > 64)
        .cloned()
        .unwrap_or_else(|| eth(0x0800, &ipv4_l4(17, udp(1, 2, &[0x11; 200]))));
    io(w.write(
        ts(0),
        &good[0][..good[0].len().min(64)],
        good[0].len() as u32,
    ));
    io(w.write(ts(1), &big, big.len() as u32));
    io(w.write(
        ts(2),
        &good[0][..good[0].len().min(64)],
        good[0].len() as u32,
    ));
    let n = w.finish().expect("flush");
    c.push(
        p,
        format!(
            "snaplen 64; record 2 of 3 has incl_len {} > snaplen (all data present)",
            big.len()
        ),
        n,
        Some(LINKTYPE_ETHERNET),
        true,
    );

    // incl_len 0x7fffffff
    let p = path("35_incl_len_huge.pcap");
    let mut w = PcapWriter::new(&p, LINKTYPE_ETHERNET, SNAPLEN).expect("create");
    for (i, f) in good.iter().take(3).enumerate() {
        io(w.write(ts(i), f, f.len() as u32));
    }
    io(w.write_record_header(ts(3), 0x7fff_ffff, 0x7fff_ffff));
    io(w.write_raw(&good[0][..good[0].len().min(64)]));
    let n = w.finish().expect("flush");
    c.push(
        p,
        format!("{n} good records, then incl_len = orig_len = 0x7fffffff with 64 bytes of data"),
        n,
        Some(LINKTYPE_ETHERNET),
        false,
    );

    // incl_len just above libpcap's 262144 limit, data fully present
    let p = path("36_incl_len_over_libpcap_max.pcap");
    let mut w = PcapWriter::new(&p, LINKTYPE_ETHERNET, 262_144).expect("create");
    io(w.write(ts(0), good[0], good[0].len() as u32));
    let mut huge = good[0].to_vec();
    huge.resize(262_145, 0);
    io(w.write(ts(1), &huge, 262_145));
    io(w.write(ts(2), good[0], good[0].len() as u32));
    let n = w.finish().expect("flush");
    c.push(
        p,
        "snaplen 262144; record 2 of 3 has incl_len 262145 with all data present \
         (over libpcap's per-record maximum)"
            .into(),
        n.min(1), // libpcap stops with an error at record 2
        Some(LINKTYPE_ETHERNET),
        false,
    );

    // byte order / resolution variants, all valid
    for (name, big_endian, nanos, what) in [
        (
            "37_big_endian.pcap",
            true,
            false,
            "big-endian classic pcap (µs)",
        ),
        (
            "38_nanosecond.pcap",
            false,
            true,
            "nanosecond pcap (magic 0xa1b23c4d), little-endian",
        ),
        (
            "39_nanosecond_big_endian.pcap",
            true,
            true,
            "nanosecond pcap, big-endian",
        ),
    ] {
        let p = path(name);
        let mut w = PcapWriter::with_format(&p, LINKTYPE_ETHERNET, SNAPLEN, big_endian, nanos)
            .expect("create");
        for (i, f) in reps.iter().enumerate() {
            // odd sub-µs / sub-ms parts so resolution handling is visible
            io(w.write_record_header_raw(
                1_700_000_000 + i as u32,
                if nanos { 123_456_789 } else { 123_456 },
                f.len() as u32,
                f.len() as u32,
            ));
            io(w.write_raw(f));
        }
        w.finish().expect("flush");
        c.push(
            p,
            format!("{what}; {} valid seed frames", reps.len()),
            reps.len(),
            Some(LINKTYPE_ETHERNET),
            true,
        );
    }

    // not a capture at all
    let p = path("40_bad_magic.pcap");
    let mut junk = b"this is not a capture file, honestly".to_vec();
    junk.extend_from_slice(good[0]);
    fs::write(&p, &junk).expect("write bad magic");
    c.push(
        p,
        "garbage where the magic number should be".into(),
        0,
        None,
        false,
    );

    // odd but parseable record header fields
    let p = path("41_odd_record_fields.pcap");
    let mut w = PcapWriter::new(&p, LINKTYPE_ETHERNET, SNAPLEN).expect("create");
    let f = good[0];
    let len = f.len() as u32;
    let recs: [(&str, u32, u32, &[u8], u32); 6] = [
        ("orig_len < incl_len", 1_700_000_000, 0, f, len / 2),
        ("orig_len 0", 1_700_000_001, 0, f, 0),
        ("incl_len 0, orig_len 60", 1_700_000_002, 0, &[], 60),
        ("ts_usec 1500000 (>= 1 s)", 1_700_000_003, 1_500_000, f, len),
        ("ts_sec 0", 0, 0, f, len),
        ("ts_sec 0xffffffff", 0xffff_ffff, 999_999, f, len),
    ];
    for (_, sec, frac, data, orig) in recs {
        io(w.write_record_header_raw(sec, frac, data.len() as u32, orig));
        io(w.write_raw(data));
    }
    w.finish().expect("flush");
    let names: Vec<&str> = recs.iter().map(|r| r.0).collect();
    c.push(
        p,
        format!("odd record header fields, in order: {}", names.join(", ")),
        recs.len(),
        Some(LINKTYPE_ETHERNET),
        true,
    );

    // valid pcap, link type a network decoder will not support
    let p = path("42_unknown_linktype.pcap");
    let mut w = PcapWriter::new(&p, LINKTYPE_USER0, SNAPLEN).expect("create");
    for (i, f) in good.iter().enumerate() {
        io(w.write(ts(i), f, f.len() as u32));
    }
    let n = w.finish().expect("flush");
    c.push(
        p,
        "valid pcap with link type 147 (USER0) carrying Ethernet bytes".into(),
        n,
        Some(LINKTYPE_USER0),
        true,
    );

    // pcapng
    let p = path("43_minimal.pcapng");
    let mut ng = pcapng_shb_idb(LINKTYPE_ETHERNET as u16);
    ng.extend(pcapng_epb(ts(0), good[0]));
    fs::write(&p, &ng).expect("write pcapng");
    c.push(
        p,
        "minimal valid pcapng: SHB + IDB (Ethernet) + 1 EPB".into(),
        1,
        Some(LINKTYPE_ETHERNET),
        true,
    );

    let p = path("44_truncated.pcapng");
    let mut ng = pcapng_shb_idb(LINKTYPE_ETHERNET as u16);
    for i in 0..3 {
        ng.extend(pcapng_epb(ts(i), good[i % good.len()]));
    }
    ng.truncate(ng.len() - 10);
    fs::write(&p, &ng).expect("write pcapng");
    c.push(
        p,
        "pcapng SHB + IDB + 3 EPBs, the third cut 10 bytes short".into(),
        2,
        Some(LINKTYPE_ETHERNET),
        false,
    );
}

fn pcapng_shb_idb(linktype: u16) -> Vec<u8> {
    let mut b = Vec::new();
    // Section Header Block, no options.
    b.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
    b.extend_from_slice(&28u32.to_le_bytes());
    b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&(-1i64).to_le_bytes());
    b.extend_from_slice(&28u32.to_le_bytes());
    // Interface Description Block, no options (µs timestamps).
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&20u32.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&20u32.to_le_bytes());
    b
}

fn pcapng_epb(ts_us: u64, data: &[u8]) -> Vec<u8> {
    let padded = data.len().div_ceil(4) * 4;
    let total = (32 + padded) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&6u32.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&((ts_us >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(ts_us as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b.resize(28 + padded, 0);
    b.extend_from_slice(&total.to_le_bytes());
    b
}
