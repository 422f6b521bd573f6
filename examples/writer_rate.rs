//! Measures the SQLite writer alone on the real record mix of a capture:
//! `cargo run --release --example writer_rate -- CAPTURE... [--batch N]`.
//!
//! First runs the sensor over the captures and keeps every event it emits
//! in memory; then starts a writer on a fresh database with all of them
//! already queued, so the writer is the only thing working, and reports
//! rows/s and the writer's CPU time (the main thread only waits).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tool code: a panic is a failure report

use medtap::config::Config;
use medtap::event::Event;
use medtap::output::{Delivery, SinkSpec};
use medtap::sensor::{files::read_files, Mode, Sensor, SensorOptions};
use medtap::store::{SessionInfo, Store};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// This process's user + system CPU seconds (from /proc, no unsafe code).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Bytes this process handed to write(2) so far (`wchar` in /proc/self/io).
fn written_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn kind(e: &Event) -> &'static str {
    match e {
        Event::Flow(_) => "flow",
        Event::Device(_) => "device",
        Event::DeviceIp(_) => "device_ip",
        Event::DeviceName(_) => "device_name",
        Event::DeviceChange(_) => "device_event",
        Event::DeviceClass(_) => "device_class",
        Event::Dhcp(..) => "dhcp",
        Event::Dhcp6(..) => "dhcp6",
        Event::Stats(_) => "stats",
        Event::Anomaly(_) => "anomaly",
        Event::Dicom(..) => "dicom",
        Event::Hl7(..) => "hl7",
        Event::Mqtt(..) => "mqtt",
        Event::Alert(_) => "alert",
        Event::AlertSeen(_) => "alert_seen",
        Event::Assets(_) => "assets",
        Event::ArchiveIndex(_) => "archive_index",
    }
}

fn main() {
    let mut files = Vec::new();
    let mut batch = Config::default().store.batch_rows;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--batch" {
            batch = args.next().unwrap().parse().unwrap();
        } else {
            files.push(a);
        }
    }
    assert!(
        !files.is_empty(),
        "usage: writer_rate CAPTURE... [--batch N]"
    );

    let (tx, rx) = crossbeam_channel::unbounded();
    let opts = SensorOptions::from_config(&Config::default(), Mode::Files, 1);
    let mut sensor = Sensor::new(
        &opts,
        vec![SinkSpec::new("collect", tx, Delivery::Authority)],
    )
    .expect("sensor");
    let t = Instant::now();
    read_files(&mut sensor, &files, &AtomicBool::new(false));
    sensor.finish("end of input");
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let events: Vec<Event> = rx.try_iter().collect();
    let mut rows = 0u64;
    for e in &events {
        *kinds.entry(kind(e)).or_default() += 1;
        rows += match e {
            Event::Mqtt(m, _) => 1 + (m.1.published.len() + m.1.subscribed.len()) as u64,
            Event::Dicom(d, _) => 1 + d.1.operations.len() as u64,
            _ => 1,
        };
    }
    eprintln!(
        "collected {} events ({rows} rows) in {:.2}s: {kinds:?}",
        events.len(),
        t.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let info = SessionInfo {
        command: "writer_rate".into(),
        source: files.join(","),
    };
    let store = Store::open_writer(&dir.path().join("w.db"), &info).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    for e in events {
        tx.send(e).unwrap();
    }
    drop(tx);
    let (cpu0, io0, t) = (cpu_secs(), written_bytes(), Instant::now());
    let writer = store
        .spawn_writer(rx, batch, medtap::store::COMMIT_EVERY)
        .unwrap();
    let totals = writer.finish("end of input");
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_secs() - cpu0);
    let io = written_bytes() - io0;
    let size = std::fs::metadata(dir.path().join("w.db")).map_or(0, |m| m.len());
    println!(
        "batch {batch}: {} records written, {} failed; wall {wall:.2}s cpu {cpu:.2}s; \
         {:.0} rows/s; db {:.1} MB, {:.1} MB written",
        totals.written,
        totals.failed,
        rows as f64 / wall,
        size as f64 / 1e6,
        io as f64 / 1e6
    );
}
