//! medtap's TCP/UDP flow records equal tshark's conversations, packet for
//! packet and byte for byte in each direction, on the project's own
//! captures and on every capture of the public corpus (when present).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use common::tshark::{self, Conv};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

fn endpoint(flow: &Value, side: &str) -> SocketAddr {
    let ip = flow[format!("{side}_ip")]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let port = flow[format!("{side}_port")].as_u64().unwrap() as u16;
    SocketAddr::new(ip, port)
}

/// Compares one capture; returns a description of every mismatch.
fn compare(pcap: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    common::run_ok(
        common::medtap()
            .arg("analyze")
            .arg(pcap)
            .arg("--db")
            .arg(&db),
    );
    let flows: Vec<Value> = common::flows_json(&db, &[])
        .into_iter()
        .filter(|f| matches!(f["proto"].as_str(), Some("tcp" | "udp")))
        .collect();
    let convs = tshark::conversations(pcap, &[]);
    let mut problems = Vec::new();
    if flows.len() != convs.len() {
        problems.push(format!(
            "{} medtap tcp/udp flows, tshark has {} conversations",
            flows.len(),
            convs.len()
        ));
    }
    // Pair the n-th conversation of an endpoint pair with the n-th flow of
    // that pair (port reuse gives several of each, in time order).
    let key = |proto: &str, x: SocketAddr, y: SocketAddr| (proto.to_string(), x.min(y), x.max(y));
    let mut by_pair: HashMap<_, Vec<&Value>> = HashMap::new();
    for f in &flows {
        let k = key(
            f["proto"].as_str().unwrap(),
            endpoint(f, "src"),
            endpoint(f, "dest"),
        );
        by_pair.entry(k).or_default().push(f);
    }
    for list in by_pair.values_mut() {
        list.reverse(); // pop() takes the earliest
    }
    for c in &convs {
        let Conv { proto, a, b, .. } = c;
        let Some(f) = by_pair.get_mut(&key(proto, *a, *b)).and_then(|l| l.pop()) else {
            problems.push(format!("tshark {proto} {a} <-> {b}: no medtap flow"));
            continue;
        };
        // medtap orients by initiator, tshark by first sender.
        let (a_to_b, b_to_a) = if endpoint(f, "src") == *a {
            ("toserver", "toclient")
        } else {
            ("toclient", "toserver")
        };
        let got = (
            f[format!("pkts_{a_to_b}")].as_u64().unwrap(),
            f[format!("bytes_{a_to_b}")].as_u64().unwrap(),
            f[format!("pkts_{b_to_a}")].as_u64().unwrap(),
            f[format!("bytes_{b_to_a}")].as_u64().unwrap(),
        );
        let want = (
            c.frames_a_to_b,
            c.bytes_a_to_b,
            c.frames_b_to_a,
            c.bytes_b_to_a,
        );
        if got != want {
            problems.push(format!(
                "{proto} {a} <-> {b}: medtap (pkts a->b, bytes a->b, pkts b->a, bytes b->a) = {got:?}, tshark {want:?}"
            ));
        }
    }
    problems
}

fn check_all(captures: &[std::path::PathBuf]) {
    assert!(
        tshark::available(),
        "tshark is required: run scripts/install-deps.sh"
    );
    let mut failed = Vec::new();
    for pcap in captures {
        let problems = compare(pcap);
        if !problems.is_empty() {
            failed.push(format!("{}:\n  {}", pcap.display(), problems.join("\n  ")));
        }
    }
    eprintln!(
        "compared {} captures with tshark, {} differ",
        captures.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "medtap differs from tshark:\n{}",
        failed.join("\n")
    );
}

#[test]
fn sample_capture_matches_tshark() {
    check_all(&[common::sample_pcap()]);
}

/// The prerequisite switch of tests/common (`skip_or_fail`) really switches:
/// this binary's own `public_corpus_matches_tshark`, run as a child with
/// `MEDTAP_CORPUS` pointing where there is no corpus, is a printed skip that
/// passes by default, and a failure naming the corpus under
/// `MEDTAP_REQUIRE_ALL=1` and under `CI=true`.
#[test]
fn missing_corpus_is_a_printed_skip_here_and_a_failure_in_ci() {
    let nowhere = "/nonexistent/medtap-corpus";
    let run_child = |env: Option<(&str, &str)>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        // Its full name in the one test binary (tests/it) is module::test.
        cmd.args([
            "tshark_conv::public_corpus_matches_tshark",
            "--exact",
            "--test-threads=1",
        ])
        .env("MEDTAP_CORPUS", nowhere)
        .env_remove("CI")
        .env_remove("MEDTAP_REQUIRE_ALL");
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run this test binary again");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("running 1 test"), "{text}");
        (out.status.success(), text)
    };
    let (ok, text) = run_child(None);
    assert!(ok, "without CI or MEDTAP_REQUIRE_ALL it is a skip: {text}");
    assert!(
        text.contains(&format!(
            "SKIPPED: public_corpus_matches_tshark: the public corpus ({nowhere} has no README.md)"
        )),
        "the skip is printed: {text}"
    );
    for env in [("MEDTAP_REQUIRE_ALL", "1"), ("CI", "true")] {
        let (ok, text) = run_child(Some(env));
        assert!(!ok, "{env:?}: a missing corpus fails: {text}");
        assert!(
            text.contains(&format!(
                "public_corpus_matches_tshark: missing prerequisite: the public corpus ({nowhere}"
            )) && text.contains("MEDTAP_CORPUS"),
            "{env:?}: the failure names what is missing and how to get it: {text}"
        );
        assert!(!text.contains("SKIPPED"), "{env:?}: {text}");
    }
}

#[test]
fn public_corpus_matches_tshark() {
    let Some(dir) = common::require_corpus("public_corpus_matches_tshark") else {
        return;
    };
    let captures = common::corpus_captures(&dir);
    assert!(
        captures.len() >= 70,
        "corpus incomplete: {} captures",
        captures.len()
    );
    check_all(&captures);
}
