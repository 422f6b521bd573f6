//! Support for the packet archive's tests (tests/it/archive.rs): tcpdump
//! beside `medtap run` on the lab's veth, medtap's configuration with an
//! archive of the test's own, what tshark says of a capture file, the
//! archive's index read straight from the database, frames taken apart
//! down to their TCP payload, and the real servers and files the scenarios
//! need (dcmtk's dump2dcm, mosquitto, python-hl7, dropbear and OpenSSH).

use super::lab::{wait_for_stderr, wait_until, Lab};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// tcpdump on one of the lab's interfaces, writing every frame to a file
/// as it comes (`-U --immediate-mode`, full snaplen, a 64 MiB ring).
pub struct Tcpdump {
    /// Its index in [`Lab::children`].
    pub index: usize,
    /// Its PID (signals go to it by PID).
    pub pid: u32,
    /// The file it writes.
    pub path: PathBuf,
    stderr: mpsc::Receiver<String>,
}

impl Tcpdump {
    /// Starts tcpdump on `dev` in `ns`, writing `path`, and waits (bounded)
    /// until it listens.
    pub fn start(lab: &mut Lab, ns: &str, dev: &str, path: &Path) -> Tcpdump {
        let out = path.to_str().expect("UTF-8 path");
        let index = lab.spawn(
            ns,
            &[
                "tcpdump",
                "-i",
                dev,
                "-n",
                "-s",
                "0",
                // 64 MiB: in immediate mode each frame takes a slot of the
                // snaplen, and a veth's segmentation offload makes frames
                // of up to 64 KiB.
                "-B",
                "65536",
                "-U",
                "--immediate-mode",
                "-w",
                out,
            ],
        );
        let stderr = wait_for_stderr(
            &mut lab.children[index],
            "listening on",
            Duration::from_secs(10),
        );
        Tcpdump {
            index,
            pid: lab.children[index].id(),
            path: path.to_path_buf(),
            stderr,
        }
    }

    /// Asks tcpdump (SIGUSR1) for its counters: (written, received by
    /// filter, dropped by kernel), from its report line on stderr.
    fn counts(&self) -> Result<(u64, u64, u64), String> {
        Lab::must(&["kill", "-USR1", &self.pid.to_string()]);
        let line = self
            .stderr
            .recv_timeout(Duration::from_secs(5))
            .map_err(|e| format!("no answer from tcpdump: {e}"))?;
        // "tcpdump: 12 packets captured, 12 packets received by filter, 0 packets dropped by kernel"
        let n: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        match n[..] {
            [written, received, dropped, ..] if line.contains("captured") => {
                Ok((written, received, dropped))
            }
            _ => Err(format!("unexpected tcpdump line {line:?}")),
        }
    }

    /// Waits (bounded) until tcpdump has written every frame it received
    /// and the kernel dropped none; returns how many.
    pub fn caught_up(&self) -> u64 {
        wait_until(
            "tcpdump caught up",
            Duration::from_secs(10),
            || match self.counts()? {
                (w, r, 0) if w == r => Ok(w),
                c => Err(format!("written, received, dropped: {c:?}")),
            },
        )
    }

    /// Stops it (SIGINT, by PID) and waits for it to exit: the file is
    /// complete.
    pub fn stop(self, lab: &mut Lab) {
        Lab::must(&["kill", "-INT", &self.pid.to_string()]);
        super::lab::wait_exit(&mut lab.children[self.index], Duration::from_secs(10));
    }
}

/// Sends `signal` (e.g. "TERM", "KILL") to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    Lab::must(&["kill", &format!("-{signal}"), &pid.to_string()]);
}

/// The `[archive]` table and the rest of a live test's configuration:
/// frames archived under `archive`, the asset list `assets` (`None`:
/// none), no rules directory, a statistics row a second, the whole frame
/// kept (full snaplen, so that the segmentation offload's large frames on
/// a veth are archived whole) and a small kernel ring; `archive_extra`
/// lines go into `[archive]` (a line `[table]` among them starts another
/// table).
pub fn config(path: &Path, archive: &Path, assets: Option<&Path>, archive_extra: &[&str]) {
    let assets = assets.map_or(String::new(), |a| a.display().to_string());
    let text = format!(
        "[capture]\nsnaplen = 262144\nbuffer_mib = 32\nstats_interval_secs = 1\n\
         [log]\nlevel = \"info\"\n\
         [identity]\nassets = {assets:?}\n\
         [policy]\nrules_dir = \"\"\n\
         [archive]\nenabled = true\ndir = {:?}\n{}\n",
        archive.display().to_string(),
        archive_extra.join("\n")
    );
    std::fs::write(path, text).expect("write config");
}

/// Bytes of the regular files in `dir` (0 for a missing directory): read
/// while the archive thread writes, a file it deletes meanwhile counts 0.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The `.pcap` files in `dir`, by name (their ids order them).
pub fn pcap_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read archive dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    files
}

/// What tshark made of a capture file: its frames, or its complaint.
#[derive(Debug)]
pub struct TsharkRead {
    /// Whether it exited 0.
    pub ok: bool,
    /// Frames it listed.
    pub frames: u64,
    /// Its stderr, less its note about running as root.
    pub stderr: String,
}

impl TsharkRead {
    /// Read through without a word of complaint.
    pub fn clean(&self) -> bool {
        self.ok && self.stderr.trim().is_empty()
    }

    /// tshark stopped at a record cut short (a file whose writer died).
    pub fn cut_short(&self) -> bool {
        self.stderr.contains("cut short")
    }
}

/// `tshark -r PATH` with every frame dissected.
pub fn tshark_read(path: &Path) -> TsharkRead {
    let out = Command::new("tshark")
        .env("LC_ALL", "C")
        .args(["-n", "-T", "fields", "-e", "frame.number", "-r"])
        .arg(path)
        .output()
        .expect("run tshark");
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("Running as user"))
        .collect::<Vec<_>>()
        .join("\n");
    TsharkRead {
        ok: out.status.success(),
        frames: String::from_utf8_lossy(&out.stdout).lines().count() as u64,
        stderr,
    }
}

/// The frames of `src` that match the display filter `filter`, written by
/// tshark to `out` as a classic pcap.
pub fn tshark_select(src: &Path, filter: &str, out: &Path) {
    let o = Command::new("tshark")
        .env("LC_ALL", "C")
        .args(["-n", "-r"])
        .arg(src)
        .args(["-Y", filter, "-F", "pcap", "-w"])
        .arg(out)
        .output()
        .expect("run tshark");
    assert!(
        o.status.success(),
        "tshark -Y {filter:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// tshark's display filter for the frames of one TCP or UDP conversation.
pub fn conversation_filter(flow: &serde_json::Value) -> String {
    let proto = flow["proto"].as_str().unwrap_or("tcp").to_ascii_lowercase();
    format!(
        "ip.addr == {} && ip.addr == {} && {proto}.port == {} && {proto}.port == {}",
        flow["src_ip"].as_str().expect("src_ip"),
        flow["dest_ip"].as_str().expect("dest_ip"),
        flow["src_port"],
        flow["dest_port"]
    )
}

/// The SHA-256 of a file, in hex (coreutils' sha256sum).
pub fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// One row of the archive's index (`archive_files`).
#[derive(Clone, Debug)]
pub struct IndexFile {
    /// Its id (files are numbered as they are started).
    pub id: i64,
    /// Its name in the archive directory.
    pub name: String,
    /// open, closed, repaired or deleted.
    pub state: String,
    /// Bytes, as the index has them.
    pub bytes: u64,
    /// Frames, as the index has them.
    pub packets: u64,
    /// Its first and last frame's times (µs since the epoch).
    pub span: Option<(i64, i64)>,
    /// When retention deleted it (µs since the epoch).
    pub deleted_us: Option<i64>,
    /// Why (max_total_mib or max_days).
    pub deleted_reason: Option<String>,
}

/// Every row of `archive_files` in the database `db`, by id.
pub fn index_files(db: &Path) -> Vec<IndexFile> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    let mut st = conn
        .prepare(
            "SELECT file_id, name, state, bytes, packets, deleted_us, deleted_reason,
                first_us, last_us
             FROM archive_files ORDER BY file_id",
        )
        .expect("archive_files");
    st.query_map([], |r| {
        Ok(IndexFile {
            id: r.get(0)?,
            name: r.get(1)?,
            state: r.get(2)?,
            bytes: r.get::<_, i64>(3)? as u64,
            packets: r.get::<_, i64>(4)? as u64,
            deleted_us: r.get(5)?,
            deleted_reason: r.get(6)?,
            span: r.get::<_, Option<i64>>(7)?.zip(r.get::<_, Option<i64>>(8)?),
        })
    })
    .expect("query archive_files")
    .map(|r| r.expect("archive_files row"))
    .collect()
}

/// A TCP segment's place in an Ethernet frame: its connection and the
/// payload bytes the frame holds (the captured bytes past the TCP header,
/// up to the IP packet's end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSegment {
    /// Source address and port.
    pub src: (std::net::Ipv4Addr, u16),
    /// Destination address and port.
    pub dst: (std::net::Ipv4Addr, u16),
    /// Offset of the payload in the frame.
    pub payload_at: usize,
    /// Payload bytes captured.
    pub payload_len: usize,
}

impl TcpSegment {
    /// Whether the segment belongs to the connection between `a` and `b`
    /// (either way).
    pub fn between(&self, a: (std::net::Ipv4Addr, u16), b: (std::net::Ipv4Addr, u16)) -> bool {
        (self.src, self.dst) == (a, b) || (self.src, self.dst) == (b, a)
    }
}

/// The TCP segment in an Ethernet/IPv4 frame, if it is one.
pub fn tcp_segment(frame: &[u8]) -> Option<TcpSegment> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ip[9] != 6 || ip.len() < ihl + 20 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let tcp = &ip[ihl..];
    let doff = usize::from(tcp[12] >> 4) * 4;
    let addr = |i: usize| std::net::Ipv4Addr::new(ip[i], ip[i + 1], ip[i + 2], ip[i + 3]);
    let port = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
    let start = 14 + ihl + doff;
    let end = (14 + total).min(frame.len());
    Some(TcpSegment {
        src: (addr(12), port(0)),
        dst: (addr(16), port(2)),
        payload_at: start,
        payload_len: end.saturating_sub(start),
    })
}

/// `(address, port)` of a flow's client and server, from `medtap flows
/// --json`.
pub fn flow_ends(
    flow: &serde_json::Value,
) -> ((std::net::Ipv4Addr, u16), (std::net::Ipv4Addr, u16)) {
    let ip = |k: &str| {
        flow[k]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{k} of {flow}"))
    };
    let port = |k: &str| {
        flow[k]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("{k} of {flow}"))
    };
    (
        (ip("src_ip"), port("src_port")),
        (ip("dest_ip"), port("dest_port")),
    )
}

/// A synthetic CT image of `rows` × `cols` 16-bit pixels (a gradient),
/// made by dcmtk's dump2dcm (explicit VR little endian, with its meta
/// header) from a text dump and the raw pixels written in `dir`. No
/// patient data.
pub fn ct_image(dir: &Path, name: &str, rows: u16, cols: u16) -> PathBuf {
    let raw = dir.join(format!("{name}.raw"));
    let mut pixels = Vec::with_capacity(usize::from(rows) * usize::from(cols) * 2);
    for r in 0..u32::from(rows) {
        for c in 0..u32::from(cols) {
            pixels.extend_from_slice(&(((r * 7 + c * 3) % 4096) as u16).to_le_bytes());
        }
    }
    std::fs::write(&raw, pixels).expect("write pixels");
    let uid = |n: u32| format!("2.25.{}{n}", 314_159_265_358_979u64 + u64::from(rows));
    let dump = format!(
        "(0008,0016) UI [1.2.840.10008.5.1.4.1.1.2]\n(0008,0018) UI [{}]\n\
         (0008,0060) CS [CT]\n(0008,0070) LO [SYNTHETIC]\n\
         (0010,0010) PN [TEST^ARCHIVE]\n(0010,0020) LO [TEST0015]\n\
         (0020,000d) UI [{}]\n(0020,000e) UI [{}]\n(0020,0013) IS [1]\n\
         (0020,4000) LT [SYNTHETIC TEST IMAGE - NOT PATIENT DATA]\n\
         (0028,0002) US 1\n(0028,0004) CS [MONOCHROME2]\n(0028,0010) US {rows}\n\
         (0028,0011) US {cols}\n(0028,0100) US 16\n(0028,0101) US 12\n(0028,0102) US 11\n\
         (0028,0103) US 0\n(7fe0,0010) OW ={}\n",
        uid(1),
        uid(2),
        uid(3),
        raw.display()
    );
    let dump_path = dir.join(format!("{name}.dump"));
    std::fs::write(&dump_path, dump).expect("write dump");
    let dcm = dir.join(format!("{name}.dcm"));
    let out = Command::new("dump2dcm")
        .args(["-q", "+te"])
        .arg(&dump_path)
        .arg(&dcm)
        .output()
        .expect("run dump2dcm");
    assert!(
        out.status.success(),
        "dump2dcm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dcm
}

/// Runs `args` in namespace `ns` to its end, bounded by coreutils'
/// `timeout` (30 s); its output, which must show success.
pub fn ns_run(ns: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", ns])
        .args(args)
        .output()
        .expect("spawn in namespace");
    assert!(
        out.status.success(),
        "{args:?} in {ns}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A mosquitto configuration for a test broker on `addr`:1883, anonymous
/// clients allowed, no persistence, its log in `log`.
pub fn mosquitto_conf(path: &Path, addr: &str, log: &Path) {
    let text = format!(
        "user root\nlistener 1883 {addr}\nallow_anonymous true\npersistence false\n\
         log_dest file {}\nlog_type all\nsys_interval 0\n",
        log.display()
    );
    std::fs::write(path, text).expect("write mosquitto.conf");
}

/// An HL7 v2.6 ORU^R01 from an infusion pump, every segment ended by CR,
/// in an MLLP block (VT ... FS CR: the form `mllp_send --file` reads).
/// Synthetic.
pub fn hl7_message(path: &Path) {
    let segments = [
        "MSH|^~\\&|PUMP_APP|ICU|HIS_ENGINE|HOSPITAL|20240105100000||ORU^R01^ORU_R01|PUMP-0015|P|2.6|||AL|NE",
        "PID|||TEST0015^^^HOSPITAL^MR||TEST^ARCHIVE||19700101|O",
        "OBR|1|PUMP-0015^PUMP_APP||69986^MDC_DEV_PUMP_INFUS_VMD^MDC|||20240105100000",
        "OBX|1|NM|157784^MDC_FLOW_FLUID_PUMP^MDC|1.1.1.1|12.5|265266^MDC_DIM_MILLI_L_PER_HR^MDC|||||R",
    ];
    let text = format!("\x0b{}\r\x1c\r", segments.join("\r"));
    std::fs::write(path, text).expect("write HL7 message");
}

/// The keys of an SSH login made for one test: dropbear's host key, the
/// client's key, and the home (`.ssh/authorized_keys`) dropbear sees as
/// /root in its own mount namespace, so the machine's /root is neither
/// read nor written.
pub struct SshKeys {
    /// dropbear's host key.
    pub host_key: PathBuf,
    /// The client's private key (OpenSSH).
    pub client_key: PathBuf,
    /// What dropbear sees as /root.
    pub root: PathBuf,
}

impl SshKeys {
    /// Makes them in `dir`.
    pub fn new(dir: &Path) -> SshKeys {
        use std::os::unix::fs::PermissionsExt;
        let keys = SshKeys {
            host_key: dir.join("host_ed25519"),
            client_key: dir.join("client_ed25519"),
            root: dir.join("root"),
        };
        let ok = |c: &mut Command| {
            let o = c.output().expect("run key tool");
            assert!(o.status.success(), "{c:?}: {o:?}");
        };
        ok(Command::new("dropbearkey")
            .args(["-t", "ed25519", "-f"])
            .arg(&keys.host_key));
        ok(Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "medtap-archive-test",
                "-f",
            ])
            .arg(&keys.client_key));
        let ssh = keys.root.join(".ssh");
        std::fs::create_dir_all(&ssh).expect("mkdir .ssh");
        for d in [&keys.root, &ssh] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        let public = std::fs::read(keys.client_key.with_extension("pub")).expect("public key");
        let auth = ssh.join("authorized_keys");
        std::fs::write(&auth, public).expect("authorized_keys");
        std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        keys
    }

    /// dropbear on port 22 (keys only, no forwarding), in the foreground,
    /// with /root bound to [`SshKeys::root`] in a private mount namespace.
    pub fn server_args(&self, pid_file: &Path) -> Vec<String> {
        let s = |p: &Path| p.display().to_string();
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" /root && shift && exec \"$@\"",
            "sh",
            &s(&self.root),
            "dropbear",
            "-F",
            "-E",
            "-s",
            "-j",
            "-k",
            "-p",
            "22",
            "-r",
            &s(&self.host_key),
            "-P",
            &s(pid_file),
        ]
        .map(String::from)
        .to_vec()
    }

    /// OpenSSH's ssh from `from` to root@`to`, running `command`: key only,
    /// no configuration, no known_hosts written.
    pub fn client_args(&self, from: &str, to: &str, command: &str) -> Vec<String> {
        let mut a: Vec<String> = vec!["ssh".into(), "-F".into(), "/dev/null".into()];
        for o in [
            "BatchMode=yes".to_string(),
            "IdentitiesOnly=yes".into(),
            format!("IdentityFile={}", self.client_key.display()),
            "StrictHostKeyChecking=no".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "UpdateHostKeys=no".into(),
            "GSSAPIAuthentication=no".into(),
            "PasswordAuthentication=no".into(),
            "KbdInteractiveAuthentication=no".into(),
            "ConnectTimeout=10".into(),
            "LogLevel=ERROR".into(),
            format!("BindAddress={from}"),
        ] {
            a.push("-o".into());
            a.push(o);
        }
        a.push(format!("root@{to}"));
        a.push(command.into());
        a
    }
}

/// The TCP flows of the database `db` whose first and last frames fall
/// within `[from, to]` (µs): `(flow_id, packets)`, newest first.
pub fn tcp_flows_within(db: &Path, from: i64, to: i64) -> Vec<(u64, u64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    let mut st = conn
        .prepare(
            "SELECT flow_id, pkts_toserver + pkts_toclient FROM flows
             WHERE proto = 6 AND start_us >= ?1 AND end_us <= ?2 ORDER BY flow_id DESC",
        )
        .expect("flows");
    st.query_map([from, to], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })
    .expect("query flows")
    .map(|r| r.expect("flow row"))
    .collect()
}

/// The times (µs) of the whole records of a classic little-endian pcap
/// `path` that may still be being written: none while it has no header,
/// and a record cut short at its end is left out.
pub fn record_times(path: &Path) -> Vec<i64> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut times = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = word(at + 8) as usize;
        if at + 16 + caplen > bytes.len() {
            break;
        }
        times.push(i64::from(word(at)) * 1_000_000 + i64::from(word(at + 4)));
        at += 16 + caplen;
    }
    times
}
