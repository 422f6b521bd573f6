//! A real Prometheus for the metrics tests: Debian's `prometheus` started
//! on a free loopback port with its own configuration and storage in a
//! temporary directory, scraping the targets given every second, stopped
//! (by its PID) when dropped; its HTTP query API; `promtool check
//! metrics`; and a plain HTTP GET over std (no client to install).
//!
//! Usable by any test that has a metrics endpoint to scrape (the
//! endpoint in-process, or `medtap run`'s). A Prometheus can also run in
//! a network namespace ([`Prometheus::start_in`]), beside a `medtap run`
//! of the live lab: its API is then reached with `ip netns exec NS curl`
//! ([`get_in`]), the namespace being a network stack of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// True when `prometheus` and `promtool` are on `$PATH`; else reports
/// them missing ([`super::skip_or_fail`]) and false.
pub fn require(test: &str) -> bool {
    let missing: Vec<&str> = ["prometheus", "promtool"]
        .into_iter()
        .filter(|t| !super::on_path(t))
        .collect();
    if !missing.is_empty() {
        super::skip_or_fail(
            test,
            &format!(
                "not on PATH: {} (Debian package prometheus)",
                missing.join(", ")
            ),
        );
    }
    missing.is_empty()
}

/// A loopback port free when asked (another process may take it before
/// it is used: the callers bind it at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An HTTP answer: status code, headers (lower-case names), body.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header lines as `(name, value)`, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (as text).
    pub body: String,
}

impl Answer {
    /// The value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method target` to `addr` over HTTP/1.1 (connection closed after
/// the answer), bounded by 10 s. Err: the connection or a read failed.
pub fn request(addr: SocketAddr, method: &str, target: &str) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: medtap-test\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    // Chunked bodies are not decoded: medtap's endpoint and Prometheus'
    // API answer these small requests with a Content-Length.
    Ok(parse_answer(&raw))
}

/// An answer as received: status line, header lines, blank line, body.
fn parse_answer(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `GET target` from `addr`.
pub fn get(addr: SocketAddr, target: &str) -> std::io::Result<Answer> {
    request(addr, "GET", target)
}

/// `GET target` from `addr` in network namespace `ns`: `ip netns exec NS
/// curl` (which decodes any transfer encoding), bounded by 10 s, no proxy.
/// Err: curl could not run, or did not get an answer.
pub fn get_in(ns: &str, addr: SocketAddr, target: &str) -> std::io::Result<Answer> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "curl", "--silent", "--show-error"])
        .args(["--include", "--noproxy", "*", "--connect-timeout", "5"])
        .args(["--max-time", "10"])
        .arg(format!("http://{addr}{target}"))
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "curl in {ns}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(parse_answer(&out.stdout))
}

/// `promtool check metrics` on `exposition` (on its standard input).
pub fn promtool_check(exposition: &str) -> Output {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let text = exposition.to_string();
    // Written from a thread: promtool may answer before reading it all.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().expect("promtool ran");
    let _ = writer.join();
    out
}

/// Percent-encodes a query for a URL.
pub fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A running Prometheus, stopped (killed by its PID and reaped) on drop.
pub struct Prometheus {
    child: Child,
    /// Its HTTP API.
    pub addr: SocketAddr,
    /// The network namespace it runs in (`None`: this process').
    ns: Option<String>,
    dir: tempfile::TempDir,
}

/// One series of an instant query: its labels and value.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The series' labels (`__name__` included when the query keeps it).
    pub labels: serde_json::Map<String, serde_json::Value>,
    /// Its value.
    pub value: f64,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every second (job `medtap`)
    /// and waits (up to 60 s) until it is ready.
    pub fn start(targets: &[SocketAddr]) -> Prometheus {
        Prometheus::launch(None, targets)
    }

    /// [`Prometheus::start`] in network namespace `ns` (`ip netns exec`,
    /// which execs it: the child's PID is Prometheus'), listening on the
    /// namespace's loopback (which must be up); `targets` are addresses
    /// in that namespace. Its API is queried from inside it ([`get_in`]).
    pub fn start_in(ns: &str, targets: &[SocketAddr]) -> Prometheus {
        Prometheus::launch(Some(ns), targets)
    }

    fn launch(ns: Option<&str>, targets: &[SocketAddr]) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: medtap\n    static_configs:\n      - targets: [{list}]\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        // Free here, and none of the targets' (in a namespace of the lab,
        // new, nothing else listens).
        let port = loop {
            let p = free_port();
            if targets.iter().all(|t| t.port() != p) {
                break p;
            }
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "prometheus"]);
                c
            }
            None => Command::new("prometheus"),
        };
        let child = cmd
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let p = Prometheus {
            child,
            addr,
            ns: ns.map(str::to_string),
            dir,
        };
        p.wait_for("ready", Duration::from_secs(60), || {
            p.get("/-/ready").is_ok_and(|a| a.status == 200)
        });
        p
    }

    /// `GET target` from its API (from inside its namespace, if any).
    pub fn get(&self, target: &str) -> std::io::Result<Answer> {
        match &self.ns {
            Some(ns) => get_in(ns, self.addr, target),
            None => get(self.addr, target),
        }
    }

    /// Its log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    /// Polls `ok` every 200 ms until it holds; panics after `limit`,
    /// showing Prometheus' log.
    pub fn wait_for(&self, what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ok() {
            assert!(
                start.elapsed() < limit,
                "prometheus: {what}: not within {limit:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The series of instant query `q` now. Err: Prometheus did not
    /// answer, or its answer was not a successful vector.
    pub fn query(&self, q: &str) -> Result<Vec<Sample>, String> {
        let a = self
            .get(&format!("/api/v1/query?query={}", encode(q)))
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value =
            serde_json::from_str(&a.body).map_err(|e| format!("{e}: {}", a.body))?;
        if v["status"] != "success" {
            return Err(a.body);
        }
        let result = v["data"]["result"]
            .as_array()
            .ok_or_else(|| a.body.clone())?;
        result
            .iter()
            .map(|r| {
                let labels = r["metric"].as_object().cloned().unwrap_or_default();
                let value = r["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("no value in {r}"))?;
                Ok(Sample { labels, value })
            })
            .collect()
    }

    /// The value of a query expected to give one series (None: no series
    /// or no answer yet).
    pub fn value(&self, q: &str) -> Option<f64> {
        match self.query(q) {
            Ok(s) if s.len() == 1 => Some(s[0].value),
            _ => None,
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Child::kill signals this child's own PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `promtool check metrics` of `body` exits 0 and says nothing.
pub fn assert_promtool_clean(body: &str) {
    let out = promtool_check(body);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {:?}\n{said}\n--- exposition:\n{body}",
        out.status
    );
}
