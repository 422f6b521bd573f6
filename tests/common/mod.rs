//! Support shared by the integration tests.
#![allow(dead_code)]

pub mod garbage;
pub mod traffic;
pub mod tshark;

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

/// The public corpus (`../shared/corpus/public`, or `$MEDTAP_CORPUS`), if present.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MEDTAP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus/public"));
    dir.join("README.md").exists().then_some(dir)
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

/// Says plainly that the corpus part of a test did not run.
pub fn corpus_absent(test: &str) {
    eprintln!(
        "NOTE: {test}: public corpus not found (../shared/corpus/public or $MEDTAP_CORPUS); \
         its captures were NOT checked. Only the project's own captures were."
    );
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
    let out = run_ok(
        medtap()
            .args(["flows", "--json", "--limit", "0", "--db"])
            .arg(db)
            .args(extra),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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
    let out = run_ok(
        medtap()
            .env("RUST_LOG", "trace")
            .arg("analyze")
            .args(captures)
            .arg("--db")
            .arg(&db),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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

/// Runs `scripts/SCRIPT TMPDIR` to make fresh captures of real traffic
/// (with their tshark ground truth) and returns the directory; `None`, said
/// plainly, when not root or when `tools_check` (a shell command) fails.
/// The scripts check each capture with tshark before keeping it; on a loaded
/// 2-core machine tshark once missed a packet there, so a script gets three
/// tries (a parser regression still fails the comparison that follows).
pub fn fresh_captures(script: &str, tools_check: &str) -> Option<tempfile::TempDir> {
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let have_tools = Command::new("sh")
        .args([
            "-c",
            &format!("{tools_check} && command -v tcpdump && command -v tshark"),
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !root_user || !have_tools {
        eprintln!(
            "NOTE: fresh captures from {script} NOT made: needs root and the tools \
             scripts/install-deps.sh installs"
        );
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut last = String::new();
    for _ in 0..3 {
        let out = Command::new("bash")
            .arg(root().join("scripts").join(script))
            .arg(dir.path())
            .output()
            .expect("run capture script");
        if out.status.success() {
            return Some(dir);
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
    }
    panic!("{script} failed three times: {last}");
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
