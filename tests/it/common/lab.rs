//! The live tests' laboratory: two network namespaces joined by a veth
//! pair (IPv4 only, so the link carries nothing but the test's own traffic
//! and ARP), processes started in them and stopped by their handles when
//! the lab is dropped, and bounded waits for observable events (a log
//! line, a condition polled, a process exit).
//!
//! Needs root; callers check with `common::require_root` first.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Namespaces `<tag>-a` (10.99.0.1/24 on veth `<tag>a`) and `<tag>-b`
/// (10.99.0.2/24 on `<tag>b`), and the processes started in them.
pub struct Lab {
    /// The first namespace.
    pub ns_a: String,
    /// The second namespace.
    pub ns_b: String,
    /// The veth end in `ns_a`.
    pub veth_a: String,
    /// The veth end in `ns_b`.
    pub veth_b: String,
    /// Processes to kill (by their handles) when the lab is dropped.
    pub children: Vec<Child>,
}

/// `ns_a`'s address.
pub const IP_A: &str = "10.99.0.1";
/// `ns_b`'s address.
pub const IP_B: &str = "10.99.0.2";

impl Lab {
    /// Runs a command; whether it succeeded (stderr discarded).
    pub fn sh(args: &[&str]) -> bool {
        Command::new(args[0])
            .args(&args[1..])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs a command that must succeed.
    pub fn must(args: &[&str]) {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .expect("spawn");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The lab, with the kernel's random MACs on the veth ends.
    pub fn new(tag: &str) -> Lab {
        Lab::with_macs(tag, None)
    }

    /// The lab; `macs` (for `ns_a`, `ns_b`) are set on the veth ends
    /// before they come up, so that every frame carries them.
    pub fn with_macs(tag: &str, macs: Option<[&str; 2]>) -> Lab {
        let lab = Lab {
            ns_a: format!("{tag}-a"),
            ns_b: format!("{tag}-b"),
            veth_a: format!("{tag}a"),
            veth_b: format!("{tag}b"),
            children: Vec::new(),
        };
        lab.remove();
        for ns in [&lab.ns_a, &lab.ns_b] {
            Lab::must(&["ip", "netns", "add", ns]);
            for key in ["all", "default"] {
                Lab::must(&[
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                ]);
            }
        }
        Lab::must(&[
            "ip",
            "link",
            "add",
            &lab.veth_a,
            "netns",
            &lab.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            &lab.veth_b,
            "netns",
            &lab.ns_b,
        ]);
        for (i, (ns, dev, addr)) in [
            (&lab.ns_a, &lab.veth_a, IP_A),
            (&lab.ns_b, &lab.veth_b, IP_B),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(macs) = macs {
                Lab::must(&["ip", "-n", ns, "link", "set", dev, "address", macs[i]]);
            }
            Lab::must(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                dev,
            ]);
            Lab::must(&["ip", "-n", ns, "link", "set", dev, "up"]);
            Lab::must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    /// Starts `args` in namespace `ns` (stdin and stdout null, stderr
    /// piped); returns its index in [`Lab::children`].
    pub fn spawn(&mut self, ns: &str, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn in namespace");
        self.children.push(child);
        self.children.len() - 1
    }

    /// Starts `medtap run --config CFG -i <veth_a> --db DB EXTRA...` in
    /// `ns_a` and waits (bounded) until it says it is capturing; returns its
    /// index in [`Lab::children`] and the rest of its stderr.
    pub fn run_medtap(
        &mut self,
        cfg: &Path,
        db: &Path,
        extra: &[&str],
    ) -> (usize, mpsc::Receiver<String>) {
        let (ns, veth) = (self.ns_a.clone(), self.veth_a.clone());
        let (cfg, db) = (cfg.to_string_lossy(), db.to_string_lossy());
        let mut args = vec![
            env!("CARGO_BIN_EXE_medtap"),
            "run",
            "--config",
            &cfg,
            "-i",
            &veth,
            "--db",
            &db,
        ];
        args.extend_from_slice(extra);
        let mt = self.spawn(&ns, &args);
        let err = wait_for_stderr(&mut self.children[mt], "capturing", Duration::from_secs(10));
        (mt, err)
    }

    fn remove(&self) {
        Lab::sh(&["ip", "netns", "del", &self.ns_a]);
        Lab::sh(&["ip", "netns", "del", &self.ns_b]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.remove();
    }
}

/// A child process killed (by its handle) and reaped when dropped, so a
/// failing test leaves no follower or client behind.
pub struct Guard(pub Child);

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) until a line of `child`'s stderr contains `needle`;
/// the rest of stderr keeps draining into the returned receiver.
pub fn wait_for_stderr(
    child: &mut Child,
    needle: &'static str,
    limit: Duration,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < limit {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            if line.contains(needle) {
                return rx;
            }
            seen.push(line);
        }
    }
    panic!("no {needle:?} within {limit:?}; stderr so far: {seen:#?}");
}

/// Polls `ready` every 50 ms until it returns `Ok`, failing after `limit`
/// with `what` and the last thing `ready` reported.
pub fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut ready: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match ready() {
            Ok(v) => return v,
            Err(last) => assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?}; last: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines of `ip netns exec NS ARGS...`.
pub fn ns_lines(ns: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("spawn in namespace");
    assert!(out.status.success(), "{args:?} in {ns}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until a TCP socket in `ns` listens on `port`.
pub fn wait_listening(ns: &str, port: u16, limit: Duration) {
    wait_until(&format!("a listener on :{port}"), limit, || {
        let l = ns_lines(ns, &["ss", "-Hltn", &format!("sport = :{port}")]);
        if l.is_empty() {
            Err("no listener".into())
        } else {
            Ok(())
        }
    });
}

/// Waits until process `pid` holds `path` open (read from
/// `/proc/PID/fd`): e.g. a query command is past its start-up. Needs no
/// root for the caller's own children.
pub fn wait_opened(pid: u32, path: &Path) {
    let want = std::fs::canonicalize(path).unwrap();
    wait_until(
        &format!("process {pid} opens {}", path.display()),
        Duration::from_secs(10),
        || {
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| e.to_string())?;
            let open = fds
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == want));
            if open {
                Ok(())
            } else {
                Err("not open yet".into())
            }
        },
    );
}

/// TCP sockets in `namespaces` still in the middle of an exchange: any state
/// but LISTEN and TIME-WAIT (an unacknowledged segment or FIN, a close
/// handshake not done on both ends). Empty once every packet of every
/// connection has been sent and taken in by its receiver, hence seen by a
/// capture on the link.
pub fn tcp_busy(namespaces: &[&str]) -> Vec<String> {
    namespaces
        .iter()
        .flat_map(|ns| {
            ns_lines(ns, &["ss", "-Htan"])
                .into_iter()
                .filter(|l| !l.starts_with("LISTEN") && !l.starts_with("TIME-WAIT"))
                .map(move |l| format!("{ns}: {l}"))
        })
        .collect()
}

/// Waits (bounded) for `child` to exit; its status.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(start.elapsed() < limit, "did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
