//! The asset list through the real binary: `medtap assets import` from a
//! spreadsheet export, and `medtap config check` reading the asset file
//! the config names.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common::{medtap, run_ok};
use std::path::Path;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A config whose `[identity] assets` is `assets`.
fn config_with_assets(dir: &Path, assets: &Path) -> std::path::PathBuf {
    let cfg = dir.join("medtap.toml");
    let body = format!("[identity]\nassets = {:?}\n", assets.display().to_string());
    std::fs::write(&cfg, body).unwrap();
    cfg
}

/// `medtap assets import devices.csv -o assets.toml` in a new directory
/// (kept alive by the returned guard), the CSV holding `body`.
struct Import {
    dir: tempfile::TempDir,
    csv: std::path::PathBuf,
    out_toml: std::path::PathBuf,
    out: std::process::Output,
}

fn import(body: &str) -> Import {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("devices.csv");
    std::fs::write(&csv, body).unwrap();
    let out_toml = dir.path().join("assets.toml");
    let out = run_ok(
        medtap()
            .args(["assets", "import"])
            .arg(&csv)
            .arg("-o")
            .arg(&out_toml),
    );
    Import {
        dir,
        csv,
        out_toml,
        out,
    }
}

#[test]
fn import_reports_the_bad_row_by_line_and_writes_nothing() {
    // Line 3 holds a quoted cell over two lines, so the bad row, the
    // fourth record, is on physical line 5.
    let Import {
        dir: _dir,
        csv,
        out_toml,
        out,
    } = import(
        "MAC,IP,Name,Notes\r\n\
         00:09:fb:bd:75:6d,10.20.1.15,ICU bed 4,\r\n\
         00:03:b1:b5:b6:48,,Pump 12,\"bought 2024\r\nserviced 2026\"\r\n\
         00:1b:63:84:45:zz,10.20.1.17,Broken,\r\n\
         ,10.20.1.18,PACS,\r\n",
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("devices.csv:5: `mac`: \"00:1b:63:84:45:zz\" is not a MAC address"),
        "{err}"
    );
    assert_eq!(err.matches(" is not a ").count(), 1, "one bad row: {err}");
    assert!(err.contains("nothing written"), "{err}");
    assert!(!out_toml.exists(), "a partial asset list was written");
    // To standard output: nothing there either.
    let out = run_ok(medtap().args(["assets", "import"]).arg(&csv));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn imported_list_passes_config_check() {
    let Import {
        dir,
        csv,
        out_toml,
        out,
    } = import(
        "mac;ip;name;department\n00:09:fb:bd:75:6d;10.20.1.15;\"ICU \"\"bed\"\" 4\";ICU\n;10.20.1.18;PACS\u{202e};Radiology\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 2 device(s)"),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&out_toml).unwrap();
    assert!(text.contains("name = \"ICU \\\"bed\\\" 4\""), "{text}");
    assert!(
        text.contains("name = \"PACS\\u202E\""),
        "bidi escaped: {text}"
    );
    // Standard output gives the same devices.
    let out = run_ok(medtap().args(["assets", "import"]).arg(&csv));
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
    );
    let cfg = config_with_assets(dir.path(), &out_toml);
    let out = run_ok(medtap().args(["config", "check"]).arg(&cfg));
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("assets.toml: ok, 2 device(s)"), "{stdout}");
}

/// `medtap config check` on a config naming an asset file that holds
/// `body`: the exit code and stderr.
fn check_assets(body: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets.toml");
    std::fs::write(&assets, body).unwrap();
    let cfg = config_with_assets(dir.path(), &assets);
    let out = run_ok(medtap().args(["config", "check"]).arg(&cfg));
    (out.status.code(), stderr(&out))
}

#[test]
fn config_check_names_file_line_and_key_of_a_broken_asset_file() {
    for (body, expected) in [
        (
            "[[device]]\nmac = \"00:09:fb:bd:75:6d\"\n\n[[device]]\nname = \"pump\"\nmac = \"00:09:fb:bd:75\"\n",
            "assets.toml:6: `device[1].mac`: \"00:09:fb:bd:75\" is not a MAC address",
        ),
        (
            "[[device]]\nip = \"10.0.0.1\"\n[[device]]\nip = \"10.0.0.2\"\nroom = \"4\"\n",
            "assets.toml:5: `device[1].room`: unknown field `room`",
        ),
        // A duplicate names both lines.
        (
            "[[device]]\nip = \"10.0.0.1\"\n[[device]]\nip = \"10.0.0.1\"\n",
            "assets.toml:4: `device[1].ip`: 10.0.0.1 is already the ip of the device on line 1",
        ),
    ] {
        let (code, err) = check_assets(body);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(expected), "{err}");
    }
    // A path the user set must exist.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_assets(dir.path(), &dir.path().join("nowhere.toml"));
    let out = run_ok(medtap().args(["config", "check"]).arg(&cfg));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot read asset list") && err.contains("nowhere.toml"),
        "{err}"
    );
}

#[test]
fn import_header_errors_and_assets_flags() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    std::fs::write(&csv, "mac,Room,colour\n00:09:fb:bd:75:6d,4,red\n").unwrap();
    let out = run_ok(medtap().args(["assets", "import"]).arg(&csv));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("d.csv:1: unknown column(s): \"room\", \"colour\""),
        "{err}"
    );
    for cmd in ["analyze", "run"] {
        let out = run_ok(medtap().args([cmd, "--help"]));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--assets <FILE>"), "{cmd}: {help}");
    }
}
