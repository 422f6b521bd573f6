//! Nothing lost silently, nothing mixed: one writer per database, every
//! record not written counted and shown, interrupted and killed sessions
//! leave a trace, the database is private, readers never see a half-built
//! schema. Each test is named after the defect it pins (issue 8).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A synthetic capture of about `packets` frames (many short TCP and UDP
/// flows between 2,000 hosts), written once per test.
fn mix_capture(dir: &Path, packets: usize) -> PathBuf {
    let path = dir.join(format!("mix{packets}.pcap"));
    let frames = common::traffic::mix(packets, 2_000, 1_700_000_000_000_000, 1);
    let mut w = common::garbage::PcapWriter::new(&path, 1, 65_535).unwrap();
    for f in &frames {
        w.write(f.ts as u64, &f.data, f.data.len() as u32).unwrap();
    }
    w.finish().unwrap();
    path
}

fn status_json(db: &Path) -> serde_json::Value {
    let out = common::run_ok(common::medtap().args(["status", "--json", "--db"]).arg(db));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sql_u64(db: &Path, sql: &str) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as u64
}

/// Waits (bounded) until `db`'s write lock is held, i.e. a writer started.
fn wait_for_writer(db: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while medtap::store::lock::holder(db).is_none() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer exited before taking the lock"
        );
        assert!(Instant::now() < deadline, "no writer took the lock in 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn analyze_in_background(db: &Path, files: &[&Path]) -> Child {
    common::medtap()
        .arg("analyze")
        .args(files)
        .arg("--db")
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Regression: two `analyze` runs into one database both started their flow
/// ids at MAX(flow_id)+1: ~120 k of 278 k flows lost to UNIQUE failures and
/// DICOM/MQTT rows attached to the other run's flows. The second writer is
/// now refused, naming the first; sequential runs keep every flow.
#[test]
fn two_analyze_runs_into_one_database_are_refused_not_mixed() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = mix_capture(dir.path(), 200_000);
    let files: Vec<&Path> = vec![&pcap; 4];
    let db = dir.path().join("shared.db");
    let mut first = analyze_in_background(&db, &files);
    wait_for_writer(&db, &mut first);
    let second = common::run_ok(
        common::medtap()
            .arg("analyze")
            .arg(&pcap)
            .arg("--db")
            .arg(&db),
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("being written by another medtap")
            && err.contains(&format!("pid {}", first.id()))
            && err.contains("medtap analyze"),
        "the refusal names the holder: {err}"
    );
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same capture alone, for reference.
    let alone = dir.path().join("alone.db");
    common::analyze(&alone, &files);
    let flows = sql_u64(&alone, "SELECT COUNT(*) FROM flows");
    assert!(flows > 10_000, "{flows}");
    assert_eq!(sql_u64(&db, "SELECT COUNT(*) FROM flows"), flows);

    // One after the other: both runs' flows, with ids of their own.
    common::analyze(&db, &[&pcap]);
    let one = {
        let d = dir.path().join("one.db");
        common::analyze(&d, &[&pcap]);
        sql_u64(&d, "SELECT COUNT(*) FROM flows")
    };
    assert_eq!(sql_u64(&db, "SELECT COUNT(*) FROM flows"), flows + one);
    assert_eq!(sql_u64(&db, "SELECT MAX(flow_id) FROM flows"), flows + one);
    let s = status_json(&db);
    assert_eq!(s["records_lost"], 0);
    assert_eq!(s["last_session"]["state"], "stopped");
    assert_eq!(sql_u64(&db, "SELECT COUNT(*) FROM sessions"), 2);
}

/// Regression: the database (and so the SQLite files beside it) was
/// created world-readable without systemd's UMask.
#[test]
fn database_is_created_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    // Hold a connection so the WAL and shared-memory files stay for the check.
    let out = common::run_ok(
        Command::new("sh")
            .arg("-c")
            .arg("umask 000 && exec \"$0\" analyze \"$1\" --db \"$2\"")
            .arg(env!("CARGO_BIN_EXE_medtap"))
            .arg(common::sample_pcap())
            .arg(&db),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keep = rusqlite::Connection::open(&db).unwrap();
    keep.execute_batch("SELECT COUNT(*) FROM flows").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600, "database");
    let lock = medtap::store::lock::lock_path(&db);
    assert_eq!(mode(&lock), 0o600, "lock file");
    // A second session while a reader keeps the WAL: its files too.
    common::analyze(&db, &[&common::sample_pcap()]);
    for companion in ["-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(companion);
        let p = PathBuf::from(p);
        assert!(p.exists(), "{companion} kept open by the reader");
        assert_eq!(mode(&p), 0o600, "{companion}");
    }
}

/// Regression: a reader opening the database while `analyze` created it
/// saw "no such column" (migrations ran in several transactions).
#[test]
fn readers_never_see_a_half_built_schema() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..15 {
        let db = dir.path().join(format!("r{i}.db"));
        let mut writer = analyze_in_background(&db, &[&common::sample_pcap()]);
        // Query as early as possible: before, during and after creation.
        for _ in 0..10 {
            let out = common::run_ok(common::medtap().args(["flows", "--json", "--db"]).arg(&db));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() || err.contains("does not exist"),
                "reader during creation: {err}"
            );
            assert!(!err.contains("no such"), "{err}");
        }
        assert!(writer.wait().unwrap().success());
    }
}

/// Regression: `analyze` stopped by SIGINT/SIGTERM exited at once, leaving
/// flows without statistics. Now it stops reading, flushes, records the
/// end and exits 1 (input not read completely).
#[test]
fn interrupted_analyze_flushes_and_records_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = mix_capture(dir.path(), 200_000);
    let files: Vec<&Path> = vec![&pcap; 30];
    for signal in ["INT", "TERM"] {
        let db = dir.path().join(format!("{signal}.db"));
        let mut child = analyze_in_background(&db, &files);
        wait_for_writer(&db, &mut child);
        // Let it read some frames first.
        std::thread::sleep(Duration::from_millis(700));
        let killed = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "SIG{signal}: {err}");
        assert!(err.contains("interrupted"), "{err}");
        let s = status_json(&db);
        assert_eq!(s["last_session"]["state"], "stopped", "{s}");
        assert_eq!(s["last_session"]["end_reason"], "interrupted by signal");
        let packets = s["packets"].as_u64().unwrap();
        assert!(
            packets > 0 && packets < 30 * 200_000,
            "part of the input: {packets}"
        );
        // Every stored flow's packets are in the statistics (none orphaned).
        let in_flows = sql_u64(
            &db,
            "SELECT COALESCE(SUM(pkts_toserver + pkts_toclient), 0) FROM flows",
        );
        assert!(
            in_flows > 0 && in_flows <= packets,
            "{in_flows} > {packets}"
        );
        assert_eq!(s["records_lost"], 0);
    }
}

/// A tmpfs of `size` mounted on a new directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mount tmpfs");
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Regression: after 572,818 records failed on a full disk, `status`
/// showed 0 not written and "last update never", `analyze` exited 0, and the
/// log held one line per failed record (49,868 lines).
#[test]
fn records_lost_on_a_full_disk_are_counted_shown_and_exit_non_zero() {
    if !common::require_root("records_lost_on_a_full_disk_are_counted_shown_and_exit_non_zero") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = mix_capture(dir.path(), 300_000);
    // 1 MiB of it is the writer's reserve: about 2 MiB for rows.
    let disk = SmallDisk::mount("3m");
    let db = disk.dir.path().join("full.db");
    let out = common::run_ok(
        common::medtap()
            .arg("analyze")
            .arg(&pcap)
            .arg("--db")
            .arg(&db)
            .env("RUST_LOG", "info"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "records lost: exit 3: {err}");
    let lines = err.lines().count();
    assert!(
        lines <= 12,
        "bounded log, not a line per record: {lines}\n{err}"
    );
    let printed: u64 = err
        .lines()
        .find(|l| l.starts_with("medtap: analyzed"))
        .and_then(|l| l.split(" records not written").next())
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in: {err}"));
    assert!(printed > 1_000, "the disk filled up: {printed}");
    let s = status_json(&db);
    assert_eq!(s["records_failed"].as_u64(), Some(printed), "{s}");
    assert_eq!(s["records_lost"].as_u64(), Some(printed));
    assert_eq!(s["last_session"]["records_failed"].as_u64(), Some(printed));
    assert_eq!(s["last_session"]["state"], "stopped");
    assert!(s["last_update"].is_string(), "{s}");
    let frames = common::garbage::read_pcap(&pcap).unwrap().1.len();
    assert_eq!(s["packets"], frames, "the statistics made it too");
    let table = common::run_ok(common::medtap().args(["status", "--db"]).arg(&db));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains(&format!("{printed} (0 dropped, {printed} not written)")),
        "{text}"
    );
}

/// A network namespace with only its loopback up, deleted on drop, with
/// the processes started in it (stopped by PID).
struct Netns {
    name: String,
    children: Vec<Child>,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("mtlock-{tag}-{}", std::process::id());
        let ok = |args: &[&str]| Command::new("ip").args(args).status().unwrap().success();
        assert!(ok(&["netns", "add", &name]), "ip netns add");
        assert!(ok(&["-n", &name, "link", "set", "lo", "up"]));
        Netns {
            name,
            children: Vec::new(),
        }
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    fn spawn(&mut self, program: &str, args: &[&str]) {
        let child = self
            .cmd(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// `medtap run -i lo` inside `ns`, writing `db`, returning once it captures.
fn start_run(ns: &Netns, db: &Path, config: &Path) -> Child {
    let mut child = ns
        .cmd(env!("CARGO_BIN_EXE_medtap"))
        .args(["run", "-i", "lo", "--db"])
        .arg(db)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.contains("capturing") => break,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("medtap run ended before capturing: {e}"),
        }
        assert!(Instant::now() < deadline, "medtap run did not start");
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    child
}

/// Regression (run + analyze on one database): the second writer is refused
/// while `run` holds the database, naming it.
#[test]
fn analyze_into_the_database_of_a_running_capture_is_refused() {
    if !common::require_root("analyze_into_the_database_of_a_running_capture_is_refused") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medtap.toml");
    std::fs::write(&config, "[log]\nlevel = \"info\"\n").unwrap();
    let db = dir.path().join("live.db");
    let ns = Netns::new("ra");
    let mut run = start_run(&ns, &db, &config);
    let out = common::run_ok(
        common::medtap()
            .arg("analyze")
            .arg(common::sample_pcap())
            .arg("--db")
            .arg(&db),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("being written by another medtap") && err.contains("`medtap run lo`"),
        "{err}"
    );
    let s = status_json(&db);
    assert_eq!(s["last_session"]["state"], "running", "{s}");
    assert_eq!(s["last_session"]["command"], "run");
    Command::new("kill")
        .arg("-TERM")
        .arg(run.id().to_string())
        .status()
        .unwrap();
    assert!(run.wait().unwrap().success());
    assert_eq!(status_json(&db)["last_session"]["state"], "stopped");
    // Now free: analyze gets the next flow ids.
    common::analyze(&db, &[&common::sample_pcap()]);
    assert_eq!(sql_u64(&db, "SELECT COUNT(*) FROM sessions"), 2);
}

/// Regression: `kill -9` of `run` lost up to a minute of statistics and
/// every open flow, and `status` could not tell. Statistics every second
/// and interim flow records every second (from the config) reach the
/// database while it runs; after the kill, `status` says it ended without
/// a clean stop.
#[test]
fn killed_run_keeps_recent_statistics_and_open_flows_and_says_it_crashed() {
    if !common::require_root(
        "killed_run_keeps_recent_statistics_and_open_flows_and_says_it_crashed",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medtap.toml");
    std::fs::write(
        &config,
        "[capture]\nstats_interval_secs = 1\n[flow]\ninterim_interval_secs = 1\n[log]\nlevel = \"info\"\n",
    )
    .unwrap();
    let db = dir.path().join("crash.db");
    let mut ns = Netns::new("kill");
    let mut run = start_run(&ns, &db, &config);
    // A long-open TCP connection (nc would do; python3 is installed) and pings.
    ns.spawn(
        "python3",
        &[
            "-c",
            "import socket,time\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1', 2575)); s.listen(1); c,_=s.accept()\n\
             while c.recv(100): pass",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    ns.spawn(
        "python3",
        &[
            "-c",
            "import socket,time\n\
             c=socket.create_connection(('127.0.0.1', 2575))\n\
             for i in range(100): c.send(b'x'*10); time.sleep(0.1)",
        ],
    );
    ns.spawn("ping", &["-i", "0.2", "-c", "50", "127.0.0.1"]);
    // Several statistics and interim periods.
    std::thread::sleep(Duration::from_millis(4_000));
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let s = status_json(&db);
    let session = &s["last_session"];
    assert_eq!(session["state"], "crashed", "{s}");
    assert!(session["ended"].is_null());
    assert!(s["stats_rows"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["packets"].as_u64().unwrap() >= 20, "{s}");
    let long = sql_u64(
        &db,
        "SELECT COUNT(*) FROM flows WHERE dest_port = 2575 AND reason = 'interim' \
         AND pkts_toserver >= 10",
    );
    assert_eq!(long, 1, "the open TCP flow was written before the kill");
    let text = common::run_ok(common::medtap().args(["status", "--db"]).arg(&db));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("ENDED WITHOUT A CLEAN STOP"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}
