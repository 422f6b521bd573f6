//! Support shared by every integration test binary (tests/it and
//! tests/no_alloc.rs): the binary under test, paths, the prerequisite
//! switch (`skip_or_fail`), JSON and capture helpers, and the synthetic
//! traffic mix. The capture generators and the tshark harness, which only
//! tests/it uses, live in tests/it/common/ so that no other binary compiles
//! them.
#![allow(dead_code)]

pub mod traffic;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The medtap binary under test.
pub fn medtap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medtap"))
}

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample capture.
pub fn sample_pcap() -> PathBuf {
    root().join("samples/sample.pcap")
}

/// Where the public corpus is looked for: `$MEDTAP_CORPUS`, else
/// `../shared/corpus/public` beside the repository.
pub fn corpus_path() -> PathBuf {
    std::env::var_os("MEDTAP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus/public"))
}

/// The public corpus (`../shared/corpus/public`, or `$MEDTAP_CORPUS`), if present.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = corpus_path();
    dir.join("README.md").exists().then_some(dir)
}

// --- prerequisites: skipped on a user's machine, a failure in CI -------------

/// Whether a missing prerequisite fails the test instead of skipping it:
/// `CI=true` (set by CI services) or `MEDTAP_REQUIRE_ALL=1` (set by `.ci/run`).
pub fn require_all() -> bool {
    let set = |key: &str| {
        std::env::var(key)
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true"))
    };
    set("CI") || set("MEDTAP_REQUIRE_ALL")
}

/// The one way a test reports a missing prerequisite (`missing`: what, and
/// how to get it). Under [`require_all`] it panics, so the test fails and
/// names it; otherwise it prints `SKIPPED: <test>: <missing>` on stderr and
/// the caller returns. The note bypasses the test harness's output capture
/// (a direct write to stderr, not `eprintln!`), so `cargo test` shows it.
pub fn skip_or_fail(test: &str, missing: &str) {
    if require_all() {
        panic!(
            "{test}: missing prerequisite: {missing}. \
             (CI=true or MEDTAP_REQUIRE_ALL=1 is set: a test that cannot run is a failure here, not a skip.)"
        );
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {test}: {missing}");
}

/// True when running as root; else reports it ([`skip_or_fail`]) and false.
pub fn require_root(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        skip_or_fail(
            test,
            "root (it creates network namespaces and captures on them): run the tests as root, \
             e.g. `sudo ./scripts/test.sh`",
        );
    }
    root
}

/// The Debian package that installs `tool` (all of them are in
/// scripts/install-deps.sh).
fn package_of(tool: &str) -> &str {
    match tool {
        "mosquitto_pub" | "mosquitto_sub" | "mosquitto_passwd" => "mosquitto-clients",
        "echoscu" | "storescu" | "storescp" | "findscu" | "movescu" | "dcmqrscp" | "dcmqridx"
        | "dump2dcm" => "dcmtk",
        "mllp_send" => "python3-hl7",
        "dnsmasq" => "dnsmasq-base",
        "dhclient" => "isc-dhcp-client",
        "ip" | "ss" => "iproute2",
        "ping" => "iputils-ping",
        "arping" => "iputils-arping",
        "timeout" | "stdbuf" | "sha256sum" => "coreutils",
        "setpriv" | "unshare" => "util-linux",
        "mount" | "umount" => "mount",
        "systemd-analyze" => "systemd",
        "dropbear" | "dropbearkey" => "dropbear-bin",
        "ssh" | "ssh-keygen" => "openssh-client",
        "telnet" => "inetutils-telnet",
        "busybox" => "busybox-static",
        "Xvnc" => "tigervnc-standalone-server",
        "editcap" | "mergecap" | "capinfos" => "wireshark-common",
        other => other,
    }
}

/// Whether an executable `tool` is on `$PATH`.
pub fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// True when every tool is on `$PATH`; else reports the missing ones, each
/// with its Debian package ([`skip_or_fail`]), and false.
pub fn require_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<String> = tools
        .iter()
        .filter(|t| !on_path(t))
        .map(|t| format!("{t} (Debian package {})", package_of(t)))
        .collect();
    if !missing.is_empty() {
        skip_or_fail(
            test,
            &format!(
                "not on PATH: {}; scripts/install-deps.sh installs them",
                missing.join(", ")
            ),
        );
    }
    missing.is_empty()
}

/// The public corpus, or `None` after reporting it missing ([`skip_or_fail`]).
pub fn require_corpus(test: &str) -> Option<PathBuf> {
    let dir = corpus_dir();
    if dir.is_none() {
        skip_or_fail(
            test,
            &format!(
                "the public corpus ({} has no README.md): put a copy of shared/corpus/public \
                 at ../shared/corpus/public beside the repository, or set MEDTAP_CORPUS to its directory",
                corpus_path().display()
            ),
        );
    }
    dir
}

/// Every capture file in the corpus, sorted.
pub fn corpus_captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir).expect("read corpus dir").flatten() {
        if !sub.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(sub.path())
            .expect("read corpus subdir")
            .flatten()
        {
            let p = f.path();
            let name = p.to_string_lossy().to_string();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs a medtap command, panicking with its output if it crashed.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run medtap");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "medtap panicked: {stderr}");
    assert!(
        out.status.code().is_some(),
        "medtap killed by a signal: {stderr}"
    );
    out
}

/// [`run_ok`], and the command must have succeeded (its stderr is the
/// failure message).
pub fn run_success(cmd: &mut Command) -> Output {
    let out = run_ok(cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `medtap analyze FILES --db DB`, expected to succeed.
pub fn analyze(db: &Path, files: &[&Path]) -> Output {
    let out = run_ok(medtap().arg("analyze").args(files).arg("--db").arg(db));
    assert!(
        out.status.success(),
        "analyze {files:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Parses JSON lines.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// `medtap flows --json --limit 0 --db DB` plus extra args.
pub fn flows_json(db: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = run_success(
        medtap()
            .args(["flows", "--json", "--limit", "0", "--db"])
            .arg(db)
            .args(extra),
    );
    json_lines(&out)
}

/// `medtap status --json --db DB`.
pub fn status_json(db: &Path) -> serde_json::Value {
    let out = run_ok(medtap().args(["status", "--json", "--db"]).arg(db));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

/// Reads every frame of a capture with libpcap: (link type, ts µs, wire len, bytes).
pub fn read_frames(path: &Path) -> (i32, Vec<(i64, u32, Vec<u8>)>) {
    let mut cap = pcap::Capture::from_file(path).expect("open capture");
    let dlt = cap.get_datalink().0;
    let mut frames = Vec::new();
    while let Ok(p) = cap.next_packet() {
        let ts = p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec;
        frames.push((ts, p.header.len, p.data.to_vec()));
    }
    (dlt, frames)
}

/// A tshark ground-truth TSV: one map (column → value) per row.
pub fn read_tsv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `medtap analyze PCAP` into a fresh database, then `medtap QUERY --json`:
/// the rows, plus the database's `status --json`.
pub fn analyze_and_query(pcap: &Path, query: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("q.db");
    analyze(&db, &[pcap]);
    let out = run_ok(medtap().args([query, "--json", "--db"]).arg(&db));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (json_lines(&out), status_json(&db))
}

/// Captures with a `.tshark.tsv` next to them in `dir`, sorted.
pub fn captures_with_truth(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
                .filter_map(|p| {
                    let tsv = PathBuf::from(format!("{}.tshark.tsv", p.display()));
                    tsv.exists().then_some((p, tsv))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs `analyze` (with trace logging) over `captures`, which must carry
/// every `needle`, checks `medtap QUERY --json` found at least `min_rows`,
/// and asserts no needle reached the database files, stdout or the logs.
pub fn assert_no_phi(captures: &[PathBuf], needles: &[&[u8]], query: &str, min_rows: usize) {
    let has = |hay: &[u8], n: &[u8]| hay.windows(n.len()).any(|w| w == n);
    let mut raw = Vec::new();
    for c in captures {
        raw.extend(std::fs::read(c).unwrap_or_else(|e| panic!("{c:?}: {e}")));
    }
    for n in needles {
        assert!(
            has(&raw, n),
            "the captures should carry {:?}",
            String::from_utf8_lossy(n)
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("phi.db");
    let out = run_success(
        medtap()
            .env("RUST_LOG", "trace")
            .arg("analyze")
            .args(captures)
            .arg("--db")
            .arg(&db),
    );
    let rows = json_lines(&run_ok(medtap().args([query, "--json", "--db"]).arg(&db)));
    assert!(
        rows.len() >= min_rows,
        "{query}: {} rows parsed",
        rows.len()
    );
    // Checkpoint the WAL so every byte written is in the files we scan.
    drop(
        rusqlite::Connection::open(&db)
            .expect("open db")
            .pragma_update(None, "wal_checkpoint", "TRUNCATE"),
    );
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("read dir").flatten() {
        stored.extend(std::fs::read(entry.path()).expect("read db file"));
    }
    stored.extend(&out.stdout);
    stored.extend(&out.stderr);
    for n in needles {
        assert!(!has(&stored, n), "{:?} leaked", String::from_utf8_lossy(n));
    }
}

/// What every capture script needs besides its own tools.
const CAPTURE_TOOLS: [&str; 6] = ["tcpdump", "tshark", "ip", "ss", "timeout", "python3"];

/// Runs `scripts/SCRIPT TMPDIR` to make fresh captures of real traffic
/// (with their tshark ground truth) and returns the directory; `None` after
/// reporting a missing prerequisite ([`require_root`], [`require_tools`]:
/// `tools` and what every capture script needs).
///
/// One run, no retry: every wait in the scripts is for an observable event
/// (a port listening, a broker log line, a message received, every TCP
/// connection closed, tcpdump's packet counters), bounded, and each failure
/// names what did not happen. A retry would hide a regression in a script or
/// a race in it, which is what issue 8 was (a fixed sleep, and a $SYS check
/// that depended on the machine's uptime).
pub fn fresh_captures(test: &str, script: &str, tools: &[&str]) -> Option<tempfile::TempDir> {
    let all: Vec<&str> = CAPTURE_TOOLS.iter().chain(tools).copied().collect();
    if !require_root(test) || !require_tools(test, &all) {
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new("bash")
        .arg(root().join("scripts").join(script))
        .arg(dir.path())
        .output()
        .expect("run capture script");
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dir)
}

/// The tools scripts/make-policy-captures.sh needs besides
/// [`CAPTURE_TOOLS`].
pub const POLICY_CAPTURE_TOOLS: &[&str] = &[
    "storescu",
    "storescp",
    "dcmqrscp",
    "findscu",
    "wlmscpfs",
    "mosquitto",
    "mosquitto_pub",
    "mosquitto_sub",
    "dnsmasq",
    "udhcpc",
    "dropbear",
    "ssh",
    "arping",
];

/// The policy scenario made now by scripts/make-policy-captures.sh (see
/// [`fresh_captures`]).
pub fn fresh_policy_captures(test: &str) -> Option<tempfile::TempDir> {
    fresh_captures(test, "make-policy-captures.sh", POLICY_CAPTURE_TOOLS)
}

/// The tools scripts/make-hostile-dicom-captures.sh needs.
pub const HOSTILE_CAPTURE_TOOLS: &[&str] = &[
    "storescp",
    "storescu",
    "echoscu",
    "dump2dcm",
    "mosquitto",
    "mosquitto_pub",
    "mllp_send",
];

/// Runs scripts/make-hostile-dicom-captures.sh into `dirs` (DICOM, HL7,
/// MQTT), which must succeed; returns the script's PID (its namespaces
/// carry it).
pub fn make_hostile_captures(dirs: &[PathBuf; 3]) -> u32 {
    let script = Command::new("bash")
        .arg(root().join("scripts/make-hostile-dicom-captures.sh"))
        .args(dirs)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run make-hostile-dicom-captures.sh");
    let pid = script.id();
    let out = script.wait_with_output().expect("wait for the script");
    assert!(
        out.status.success(),
        "make-hostile-dicom-captures.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pid
}

/// Runs `compare` (medtap vs tshark; returns the differences) on every
/// (capture, ground truth) pair, prints how many were compared, and fails
/// with every difference of every capture at once. Returns the count.
pub fn compare_all(
    what: &str,
    pairs: &[(PathBuf, PathBuf)],
    compare: impl Fn(&Path, &Path) -> Vec<String>,
) -> usize {
    let mut failed = Vec::new();
    for (pcap, tsv) in pairs {
        let p = compare(pcap, tsv);
        if !p.is_empty() {
            failed.push(format!("{}:\n  {}", pcap.display(), p.join("\n  ")));
        }
    }
    eprintln!(
        "compared {} {what} captures with tshark, {} differ",
        pairs.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    pairs.len()
}

/// `medtap analyze PCAP` into a fresh database with `defaults` (flags
/// like `--assets=` that keep the machine's /etc/medtap out of the result)
/// and `extra`; an `extra` flag replaces the default of the same name.
/// Returns the database path, kept alive by the directory.
pub fn analyzed(pcap: &Path, defaults: &[&str], extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("t.db");
    let name = |flag: &str| flag.split('=').next().unwrap_or(flag).to_string();
    let kept = defaults
        .iter()
        .filter(|d| !extra.iter().any(|e| name(e) == name(d)));
    run_success(
        medtap()
            .arg("analyze")
            .arg(pcap)
            .arg("--db")
            .arg(&db)
            .args(kept)
            .args(extra),
    );
    (dir, db)
}
