//! What the EVE consumer tests (tests/it/eve.rs) need besides medtap: the
//! schemas and scripts/validate-eve.py, the shipped consumer configs
//! (config/examples) with their paths replaced, and real consumers run as
//! child processes stopped by their handles: rsyslogd, fever, a unix socket
//! that collects lines, a network namespace of the test's own.

use super::lab::{wait_until, Guard, Lab};
use crate::common;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The event types Suricata's schema knows; medtap's `dicom`, `hl7` and
/// `device` are validated by medtap's schema only.
pub const SURICATA_TYPES: &str = "alert,anomaly,flow,dhcp,mqtt,stats";

/// Every event type medtap writes.
pub const ALL_TYPES: [&str; 9] = [
    "alert", "anomaly", "flow", "dhcp", "mqtt", "dicom", "hl7", "device", "stats",
];

/// medtap's own schema (schema/eve.json).
pub fn medtap_schema() -> PathBuf {
    common::root().join("schema/eve.json")
}

/// Suricata 8's EVE schema: `$MEDTAP_EVE_SCHEMA`, else
/// `../shared/eve/schema.json` beside the repository; `None` after
/// reporting it missing ([`common::skip_or_fail`]).
pub fn require_suricata_schema(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("MEDTAP_EVE_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::root().join("../shared/eve/schema.json"));
    if path.is_file() {
        return Some(path);
    }
    common::skip_or_fail(
        test,
        &format!(
            "Suricata's EVE schema ({} is not a file): put shared/eve/schema.json (Suricata 8.0.6's \
             etc/schema.json) at ../shared/eve/ beside the repository, or set MEDTAP_EVE_SCHEMA to it",
            path.display()
        ),
    );
    None
}

/// True when python3 and its `jsonschema` module (which
/// scripts/validate-eve.py uses) are there; else reports it.
pub fn require_jsonschema(test: &str) -> bool {
    if !common::require_tools(test, &["python3"]) {
        return false;
    }
    let ok = Command::new("python3")
        .args(["-c", "import jsonschema; jsonschema.Draft202012Validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        common::skip_or_fail(
            test,
            "python3 module jsonschema 4.x (Debian package python3-jsonschema), for scripts/validate-eve.py",
        );
    }
    ok
}

/// True when `tool` is on `$PATH`; else reports it with its Debian
/// `package` ([`common::skip_or_fail`]). For the consumers whose package
/// is not named after the tool (rsyslogd: rsyslog).
pub fn require_consumer(test: &str, tool: &str, package: &str) -> bool {
    let ok = common::on_path(tool);
    if !ok {
        common::skip_or_fail(
            test,
            &format!(
                "{tool} not on PATH (Debian package {package}, which scripts/install-deps.sh installs; \
                 rsyslogd is in /usr/sbin)"
            ),
        );
    }
    ok
}

/// Runs `scripts/validate-eve.py SCHEMA DIR [TYPES]` over every EVE file
/// in `dir`, which must succeed and have read `lines` lines; returns its
/// report.
pub fn validate(schema: &Path, dir: &Path, types: Option<&str>, lines: usize) -> String {
    let out = Command::new("python3")
        .arg(common::root().join("scripts/validate-eve.py"))
        .arg(schema)
        .arg(dir)
        .args(types)
        .output()
        .expect("run scripts/validate-eve.py");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "EVE lines do not validate against {}:\n{report}{}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let first = report.lines().next().unwrap_or_default();
    assert!(
        first.ends_with(&format!(": {lines} lines")),
        "validate-eve.py read other lines than the test: {first:?} (expected {lines})"
    );
    report
}

/// The text of `config/examples/NAME` with each `(from, to)` replaced;
/// every `from` must occur exactly once (an edited example fails here
/// instead of running with its production paths), and afterwards no line
/// that is not a comment may name a path under /var or /run (the test
/// never touches the system's logs, spool or sockets).
pub fn example(name: &str, replace: &[(&str, &str)]) -> String {
    let path = common::root().join("config/examples").join(name);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in replace {
        assert_eq!(
            text.matches(from).count(),
            1,
            "{name} should hold {from:?} exactly once"
        );
        text = text.replace(from, to);
    }
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or_default();
        assert!(
            !code.contains("/var/") && !code.contains("/run/"),
            "{name}: a system path is left after the test's replacements: {line}"
        );
    }
    text
}

/// A network namespace of the test's own with only its loopback up;
/// deleted when dropped.
pub struct Netns(pub String);

impl Netns {
    /// Creates namespace `name` (removing a stale one of that name).
    pub fn new(name: &str) -> Netns {
        Lab::sh(&["ip", "netns", "del", name]);
        Lab::must(&["ip", "netns", "add", name]);
        Lab::must(&["ip", "-n", name, "link", "set", "lo", "up"]);
        Netns(name.to_string())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        Lab::sh(&["ip", "netns", "del", &self.0]);
    }
}

/// A real rsyslogd with its own configuration, work directory and pid
/// file (never the system's), in the foreground (`-n`), killed by its
/// handle when dropped. Its own messages (stderr) go to `dir/stderr`.
pub struct Rsyslogd {
    /// Its directory: `rsyslog.conf`, work files, `stderr`.
    pub dir: PathBuf,
    child: Guard,
}

impl Rsyslogd {
    /// Writes `dir/rsyslog.conf` (a `global(workDirectory=dir)` line, then
    /// `body`), checks it with `rsyslogd -N1` and starts rsyslogd with it,
    /// in namespace `netns` if given.
    pub fn start(dir: &Path, netns: Option<&str>, body: &str) -> Rsyslogd {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!("global(workDirectory=\"{}\")\n{body}", dir.display()),
        )
        .unwrap();
        let check = Command::new("rsyslogd")
            .arg("-N1")
            .arg("-f")
            .arg(&conf)
            .output()
            .expect("run rsyslogd -N1");
        assert!(
            check.status.success(),
            "rsyslogd -N1 -f {}: {}",
            conf.display(),
            String::from_utf8_lossy(&check.stderr)
        );
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "rsyslogd"]);
                c
            }
            None => Command::new("rsyslogd"),
        };
        let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
        let child = cmd
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start rsyslogd");
        Rsyslogd {
            dir: dir.to_path_buf(),
            child: Guard(child),
        }
    }

    /// What rsyslogd printed about itself so far.
    pub fn messages(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Waits (bounded) until `path` holds at least `n` complete lines
    /// (which this rsyslogd writes); fails with its messages.
    pub fn wait_lines(&self, path: &Path, n: usize) -> Vec<String> {
        wait_until(
            &format!("{n} lines from rsyslogd in {}", path.display()),
            Duration::from_secs(30),
            || {
                let lines = file_lines(path);
                if lines.len() >= n {
                    Ok(lines)
                } else {
                    Err(format!(
                        "{} lines; rsyslogd: {}",
                        lines.len(),
                        self.messages()
                    ))
                }
            },
        )
    }

    /// Fails with its messages if it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "rsyslogd ({}) exited {status}: {}",
                self.dir.display(),
                self.messages()
            );
        }
    }
}

/// A unix stream socket the test listens on (as a forwarding target
/// does): every line received on any connection, in order. The accepting
/// thread stops when this is dropped.
pub struct LineCollector {
    lines: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LineCollector {
    /// Listens on `path`.
    pub fn bind(path: &Path) -> LineCollector {
        let listener = UnixListener::bind(path).expect("bind the collecting socket");
        listener.set_nonblocking(true).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, c, s) = (lines.clone(), connections.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                c.fetch_add(1, Ordering::Relaxed);
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let mut reader = BufReader::new(conn);
                let mut line = Vec::new();
                loop {
                    if s.load(Ordering::Relaxed) {
                        return;
                    }
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) => break,
                        Ok(_) if line.ends_with(b"\n") => {
                            line.pop();
                            l.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&line).into_owned());
                            line.clear();
                        }
                        // A timeout keeps what was read in `line`.
                        Ok(_) | Err(_) => {}
                    }
                }
            }
        });
        LineCollector {
            lines,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    /// The lines received so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for LineCollector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The lines of `path` (none if it does not exist yet); a last line
/// without its newline (being written) is left out.
pub fn file_lines(path: &Path) -> Vec<String> {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        f.read_to_string(&mut text).unwrap();
    }
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses EVE lines (each must be a JSON object).
pub fn parse(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "not a JSON object: {l}");
            v
        })
        .collect()
}
