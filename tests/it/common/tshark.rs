//! Ground truth from tshark: the TCP and UDP conversations of a capture, with
//! exact per-direction frame and byte counts, to compare medtap's flow records
//! against.
//! (And [`fields`]: any fields of the frames a display filter matches, as
//! `tshark -T fields` prints them, run with the same environment.)
//!
//! # What it runs
//!
//! One tshark process per capture (`LC_ALL=C`, `WIRESHARK_CONFIG_DIR` set to a
//! fresh empty directory so a personal profile cannot change the dissection):
//!
//! ```text
//! tshark -n -q -o ip.defragment:FALSE -o ipv6.defragment:FALSE <extra_args>
//!        -X lua_script:<tap.lua> -z conv,tcp -z conv,udp -r <pcap>
//! ```
//!
//! That one dissection feeds two views of the same data:
//!
//! 1. `-z conv,tcp -z conv,udp`, the conversation tables. They decide WHICH
//!    conversations exist, their endpoints and their frame counts, but print
//!    bytes rounded ("490 bytes", "36 kB", "12 MB": integer division by
//!    powers of 1000 once the figure reaches 10 000 bytes).
//! 2. A per-frame dump: a small Lua tap listener (the script is written to the
//!    temporary directory) attached to the very same `tcp` and `udp` taps that
//!    the conversation tables listen to. It prints one line per tap record:
//!    frame number, `frame.len` (the original wire length, what the tables
//!    add up), source and destination address and port, and the TCP/UDP
//!    stream index. A plain `-T fields` dump cannot do this reliably, because
//!    tshark 4.0 shows TCP/UDP fields that the taps never count: the headers
//!    quoted inside ICMP/ICMPv6 errors carry `tcp.stream`/`udp.stream` but are
//!    not counted by `conv` (tshark does not tap packets inside error
//!    packets), a TCP header whose options throw an exception already has
//!    `tcp.stream` (and even `tcp.time_relative`) but is not counted, and a
//!    tunnelled frame (VXLAN, GRE, IP-in-IP, 6in4) has several IP/TCP/UDP
//!    layers whose field occurrences cannot be paired up safely.
//!
//! # How each number is derived
//!
//! The tap records are grouped exactly as tshark's conversation table does:
//! key = protocol + stream index + the unordered pair of endpoints (so a TCP
//! port pair reused after a close, which tshark gives a new stream, is a new
//! conversation, and IPv6 works like IPv4).
//!
//! - `a` is the source of the first counted frame of the conversation, `b` its
//!   destination; both are what tshark prints in the table's left and right
//!   address columns.
//! - `frames_a_to_b` / `bytes_a_to_b`: number and sum of `frame.len` of the
//!   tap records whose source endpoint is `a`. In tshark's table this is the
//!   `->` column (`tx`: the item's "source" is the first sender, and every
//!   later packet with the same src/dst as that first one counts as `tx`).
//! - `frames_b_to_a` / `bytes_b_to_a`: all the other records of the
//!   conversation; the `<-` column (`rx`). Note that `<-` is printed FIRST.
//!
//! # Cross-check
//!
//! For each protocol the aggregated conversations, sorted the way tshark
//! prints them (total frames descending, ties in order of first appearance),
//! must match the table rows one by one: same `a`, same `b`, same frame count
//! in each direction and in total, and each printed byte figure must be the
//! exact figure formatted the way tshark formats it. Any disagreement panics:
//! it means this harness, not medtap, is wrong.
//!
//! # Options and what they mean for the ground truth
//!
//! - `-n`: no name resolution, so addresses and ports are numeric.
//! - `ip.defragment:FALSE`, `ipv6.defragment:FALSE`: every frame is counted
//!   on its own headers, as a per-packet monitor sees it. The first fragment
//!   (it holds the TCP/UDP header) counts toward its conversation with its own
//!   length; later fragments have no ports and are counted nowhere. With
//!   tshark's default (reassembly) only the frame that completes the datagram
//!   would be counted. `extra_args` come after these and can override them.
//! - ICMP/ICMPv6 errors that quote a TCP/UDP header are never counted (tshark
//!   itself skips taps inside error packets); no option needed.
//! - A tunnelled frame is counted once per TCP/UDP layer: a VXLAN frame is in
//!   the outer UDP conversation and in the inner one, with the full frame
//!   length in both. A TCP/UDP header that tshark rejects (UDP length < 8,
//!   TCP header length < 20, exception in the TCP header or options,
//!   truncated capture) is not counted; an exception in the payload dissector
//!   (malformed MQTT, DNS, ...) does not stop the frame from being counted.
//!
//! The tshark build must include Lua (Debian's and most others do); without
//! it, or without tshark, `conversations` panics with tshark's stderr.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One TCP or UDP conversation as tshark sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conv {
    /// "tcp" or "udp"
    pub proto: &'static str,
    /// Address A as tshark prints it: the source of the conversation's first frame.
    pub a: SocketAddr,
    /// Address B: the destination of the conversation's first frame.
    pub b: SocketAddr,
    /// Frames from A to B (tshark's `->` column) and the sum of their `frame.len`.
    pub frames_a_to_b: u64,
    pub bytes_a_to_b: u64,
    /// Frames from B to A (tshark's `<-` column) and the sum of their `frame.len`.
    pub frames_b_to_a: u64,
    pub bytes_b_to_a: u64,
}

/// true when a `tshark` binary is on PATH (and runs).
pub fn available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs tshark on `pcap` (with `-n` and any `extra_args`, e.g. decode-as) and
/// returns its TCP and UDP conversations, in order of first appearance in the
/// capture. Panics if tshark fails or if the two views of tshark disagree.
pub fn conversations(pcap: &Path, extra_args: &[&str]) -> Vec<Conv> {
    let out = run_tshark(pcap, extra_args);
    let what = pcap.display();

    let mut records = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut lua_loaded = false;
    let mut table: Option<&'static str> = None;
    let mut tables_seen = Vec::new();
    for line in out.stdout.lines() {
        if let Some(rest) = line.strip_prefix("MEDTAP\t") {
            if rest == "loaded" {
                lua_loaded = true;
            } else {
                records.push(parse_record(rest, &what, &out.stderr));
            }
        } else if line.starts_with("TCP Conversations") {
            table = Some("tcp");
            tables_seen.push("tcp");
        } else if line.starts_with("UDP Conversations") {
            table = Some("udp");
            tables_seen.push("udp");
        } else if line.starts_with("====") {
            // Both the top and the bottom rule of a table: the bottom one
            // closes it, the top one precedes its title.
            table = None;
        } else if line.contains(" <-> ") {
            let proto = table.unwrap_or_else(|| {
                panic!("tshark on {what}: conversation row outside a table: {line:?}")
            });
            rows.push(parse_row(proto, line, &what));
        }
    }
    if !lua_loaded {
        panic!(
            "tshark on {what}: the Lua tap script did not run (tshark built without Lua?)\n\
             stderr:\n{}",
            out.stderr
        );
    }
    tables_seen.sort_unstable();
    if tables_seen != ["tcp", "udp"] {
        panic!(
            "tshark on {what}: expected one TCP and one UDP conversation table, saw {tables_seen:?}\n\
             stdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
    }

    let convs = aggregate(&records);
    for proto in ["tcp", "udp"] {
        cross_check(proto, &convs, &rows, &what);
    }
    convs.into_iter().map(|c| c.conv).collect()
}

/// One record of the `tcp` or `udp` tap: one TCP/UDP layer that tshark counted.
#[derive(Debug)]
struct Record {
    proto: &'static str,
    frame: u64,
    len: u64,
    src: SocketAddr,
    dst: SocketAddr,
    stream: u64,
}

/// One row of a `-z conv` table.
#[derive(Debug)]
struct Row {
    proto: &'static str,
    a: SocketAddr,
    b: SocketAddr,
    /// `<-` column: B to A.
    rx_frames: u64,
    rx_bytes: String,
    /// `->` column: A to B.
    tx_frames: u64,
    tx_bytes: String,
    total_frames: u64,
    total_bytes: String,
    line: String,
}

struct Agg {
    conv: Conv,
    /// Index of the first tap record, i.e. tshark's creation order.
    first: usize,
    first_frame: u64,
}

/// Lua tap listener; `pinfo.len` is `frame.len` (`pinfo->fd->pkt_len`), the
/// figure the conversation tables add up.
const LUA_TAP: &str = r#"-- medtap test harness: one line per record of the tcp/udp taps
local function emit(proto, pinfo, t, sport, dport, stream)
  print(string.format("MEDTAP\t%s\t%d\t%d\t%s\t%d\t%s\t%d\t%d", proto,
    pinfo.number, pinfo.len, tostring(t.ip_src), sport, tostring(t.ip_dst), dport, stream))
end
local tcp = Listener.new("tcp", nil, false)
function tcp.packet(pinfo, tvb, t) emit("tcp", pinfo, t, t.th_sport, t.th_dport, t.th_stream) end
local udp = Listener.new("udp", nil, false)
function udp.packet(pinfo, tvb, t) emit("udp", pinfo, t, t.uh_sport, t.uh_dport, t.uh_stream) end
print("MEDTAP\tloaded")
"#;

struct Output {
    stdout: String,
    stderr: String,
}

/// Temporary directory holding the Lua script; doubles as an empty
/// personal configuration directory. Removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "medtap-tshark-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    TempDir(dir)
}

/// `tshark -n` with `LC_ALL=C` and an empty personal configuration
/// directory `config` (so a personal profile cannot change the dissection).
fn tshark_command(config: &Path) -> Command {
    let mut cmd = Command::new("tshark");
    cmd.env("LC_ALL", "C")
        .env("WIRESHARK_CONFIG_DIR", config)
        .arg("-n");
    cmd
}

/// Runs `tshark -n -r PCAP -Y FILTER -T fields -e FIELD...` (every
/// occurrence of each field: `-E occurrence=a`) and returns, for each frame
/// that matches `filter`, each field's occurrences in dissection order (an
/// empty list where the frame has none). Panics if tshark fails or prints a
/// line with the wrong number of columns.
///
/// Occurrences are split on `,` (tshark's aggregator), so ask only for
/// fields whose text cannot hold one: numbers, addresses and byte fields
/// (FT_BYTES, printed as plain hex); never strings.
pub fn fields(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<Vec<String>>> {
    fields_decoded(pcap, &[], filter, fields)
}

/// [`fields`], with `-d` "decode as" rules first (e.g.
/// `tcp.port==2222,ssh`: a protocol on a port that is not its own).
pub fn fields_decoded(
    pcap: &Path,
    decode_as: &[&str],
    filter: &str,
    fields: &[&str],
) -> Vec<Vec<Vec<String>>> {
    let tmp = temp_dir();
    let mut cmd = tshark_command(&tmp.0);
    for d in decode_as {
        cmd.args(["-d", d]);
    }
    cmd.arg("-r").arg(pcap).args(["-Y", filter, "-T", "fields"]);
    cmd.args([
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run tshark (is it installed?): {e}; command: {cmd:?}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "tshark failed ({}) on {}; command: {cmd:?}\nstderr:\n{}",
            out.status,
            pcap.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
        .lines()
        .map(|line| {
            let cols: Vec<Vec<String>> = line
                .split('\t')
                .map(|c| {
                    c.split(',')
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .collect();
            if cols.len() != fields.len() {
                panic!(
                    "tshark on {}: {} columns for {} fields in {line:?}; command: {cmd:?}",
                    pcap.display(),
                    cols.len(),
                    fields.len()
                );
            }
            cols
        })
        .collect()
}

fn run_tshark(pcap: &Path, extra_args: &[&str]) -> Output {
    let tmp = temp_dir();
    let script = tmp.0.join("tap.lua");
    std::fs::write(&script, LUA_TAP)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", script.display()));
    let mut cmd = tshark_command(&tmp.0);
    cmd.arg("-q")
        .args(["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"])
        .args(extra_args)
        .arg("-X")
        .arg(format!("lua_script:{}", script.display()))
        .args(["-z", "conv,tcp", "-z", "conv,udp", "-r"])
        .arg(pcap);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run tshark (is it installed?): {e}; command: {cmd:?}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        panic!(
            "tshark failed ({}) on {}; command: {cmd:?}\nstderr:\n{stderr}",
            out.status,
            pcap.display()
        );
    }
    // Lua errors ("tshark: Lua: on packet N Error during execution ...") do
    // not change tshark's exit status.
    if stderr.contains("Lua:") {
        panic!("tshark on {}: Lua error\nstderr:\n{stderr}", pcap.display());
    }
    Output { stdout, stderr }
}

fn parse_record(rest: &str, what: &impl std::fmt::Display, stderr: &str) -> Record {
    let f: Vec<&str> = rest.split('\t').collect();
    let bad = || -> ! { panic!("tshark on {what}: bad tap line {rest:?}\nstderr:\n{stderr}") };
    if f.len() != 8 {
        bad();
    }
    let proto = match f[0] {
        "tcp" => "tcp",
        "udp" => "udp",
        _ => bad(),
    };
    let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| bad());
    let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|_| bad());
    let port = |s: &str| s.parse::<u16>().unwrap_or_else(|_| bad());
    Record {
        proto,
        frame: num(f[1]),
        len: num(f[2]),
        src: SocketAddr::new(ip(f[3]), port(f[4])),
        dst: SocketAddr::new(ip(f[5]), port(f[6])),
        stream: num(f[7]),
    }
}

/// `192.168.1.9:5353`, `2001:db8::1:443` (IPv6 without brackets, port after
/// the last colon) or `[2001:db8::1]:443`.
fn parse_endpoint(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.rsplit_once(':')?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    Some(SocketAddr::new(addr.parse().ok()?, port.parse().ok()?))
}

/// A row: `A <-> B  rxF rxN rxU  txF txN txU  totF totN totU  start  duration`
fn parse_row(proto: &'static str, line: &str, what: &impl std::fmt::Display) -> Row {
    let t: Vec<&str> = line.split_whitespace().collect();
    let bad =
        || -> ! { panic!("tshark on {what}: cannot parse {proto} conversation row {line:?}") };
    if t.len() < 12 || t[1] != "<->" {
        bad();
    }
    let ep = |s: &str| parse_endpoint(s).unwrap_or_else(|| bad());
    let frames = |s: &str| s.parse::<u64>().unwrap_or_else(|_| bad());
    let size =
        |n: &str, unit: &str| format!("{} {unit}", n.replace(|c: char| !c.is_ascii_digit(), ""));
    Row {
        proto,
        a: ep(t[0]),
        b: ep(t[2]),
        rx_frames: frames(t[3]),
        rx_bytes: size(t[4], t[5]),
        tx_frames: frames(t[6]),
        tx_bytes: size(t[7], t[8]),
        total_frames: frames(t[9]),
        total_bytes: size(t[10], t[11]),
        line: line.to_string(),
    }
}

/// Groups tap records like tshark's conversation table: key = protocol,
/// stream index and the unordered endpoint pair; A = first frame's source.
fn aggregate(records: &[Record]) -> Vec<Agg> {
    let mut index: HashMap<(&'static str, u64, SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut convs: Vec<Agg> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let (lo, hi) = if r.src <= r.dst {
            (r.src, r.dst)
        } else {
            (r.dst, r.src)
        };
        let at = *index.entry((r.proto, r.stream, lo, hi)).or_insert_with(|| {
            convs.push(Agg {
                conv: Conv {
                    proto: r.proto,
                    a: r.src,
                    b: r.dst,
                    frames_a_to_b: 0,
                    bytes_a_to_b: 0,
                    frames_b_to_a: 0,
                    bytes_b_to_a: 0,
                },
                first: i,
                first_frame: r.frame,
            });
            convs.len() - 1
        });
        let c = &mut convs[at].conv;
        if r.src == c.a && r.dst == c.b {
            c.frames_a_to_b += 1;
            c.bytes_a_to_b += r.len;
        } else {
            c.frames_b_to_a += 1;
            c.bytes_b_to_a += r.len;
        }
    }
    convs
}

/// tshark's `format_size(bytes, FORMAT_SIZE_UNIT_BYTES, SI)` without
/// thousands grouping: exact below 10 000, else truncated to k/M/G/T.
fn format_size(size: u64) -> String {
    const P: u64 = 1000;
    if size / P / P / P / P >= 10 {
        format!("{} TB", size / P / P / P / P)
    } else if size / P / P / P >= 10 {
        format!("{} GB", size / P / P / P)
    } else if size / P / P >= 10 {
        format!("{} MB", size / P / P)
    } else if size / P >= 10 {
        format!("{} kB", size / P)
    } else {
        format!("{size} bytes")
    }
}

fn cross_check(proto: &str, convs: &[Agg], rows: &[Row], what: &impl std::fmt::Display) {
    let mut mine: Vec<&Agg> = convs.iter().filter(|c| c.conv.proto == proto).collect();
    // tshark prints by total frames descending, ties in creation order.
    mine.sort_by_key(|c| {
        (
            std::cmp::Reverse(c.conv.frames_a_to_b + c.conv.frames_b_to_a),
            c.first,
        )
    });
    let theirs: Vec<&Row> = rows.iter().filter(|r| r.proto == proto).collect();
    let dump = || {
        let m: Vec<String> = mine
            .iter()
            .map(|c| format!("  first frame {}: {:?}", c.first_frame, c.conv))
            .collect();
        let t: Vec<&str> = theirs.iter().map(|r| r.line.as_str()).collect();
        format!(
            "per-frame view:\n{}\nconversation table:\n  {}",
            m.join("\n"),
            t.join("\n  ")
        )
    };
    if mine.len() != theirs.len() {
        panic!(
            "tshark harness is wrong for {what}: {} {proto} conversations from the tap records, {} in `-z conv,{proto}`\n{}",
            mine.len(),
            theirs.len(),
            dump()
        );
    }
    for (m, r) in mine.iter().zip(&theirs) {
        let c = &m.conv;
        let total = c.bytes_a_to_b + c.bytes_b_to_a;
        let ok = c.a == r.a
            && c.b == r.b
            && c.frames_a_to_b == r.tx_frames
            && c.frames_b_to_a == r.rx_frames
            && c.frames_a_to_b + c.frames_b_to_a == r.total_frames
            && format_size(c.bytes_a_to_b) == r.tx_bytes
            && format_size(c.bytes_b_to_a) == r.rx_bytes
            && format_size(total) == r.total_bytes;
        if !ok {
            panic!(
                "tshark harness is wrong for {what}: {proto} conversation (first frame {}) {:?} \
                 (A->B {}, B->A {}, total {}) does not match row {:?}\n{}",
                m.first_frame,
                c,
                format_size(c.bytes_a_to_b),
                format_size(c.bytes_b_to_a),
                format_size(total),
                r.line,
                dump()
            );
        }
    }
}
