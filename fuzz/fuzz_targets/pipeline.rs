//! The whole hot path (`Pipeline::process` ... `finish`) on a fuzzed stream
//! of frames: must never panic, whatever the bytes and timestamps.
//!
//! Input layout:
//! - byte 0: link type for the whole stream (`% 5` over DLT 1, 113, 276, 101, 0);
//! - then repeated records, each
//!   `len: u16 LE | delta: i32 LE (µs, may be negative) | len bytes`;
//!   a short last record takes whatever bytes remain.
//!
//! The top bit of `len` marks the frame as cut by a snaplen (wire length
//! larger than the captured bytes). A small flow table (64) makes eviction
//! happen; the writer channel holds 1024 records with `Backpressure::Drop`, and its
//! receiver is dropped at the end (records beyond its room are counted as
//! dropped, never block). Every event that came out is then written as EVE
//! lines, each of which must be one JSON object on one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::capture::Frame;
use medtap::decode::LinkType;
use medtap::event::{channel, Backpressure};
use medtap::output::eve::line::Formatter;
use medtap::output::eve::totals::Totals;
use medtap::output::eve::EveType;
use medtap::pipeline::{Pipeline, PipelineOptions};
use medtap::time::SECOND;
use std::hint::black_box;

/// DLTs the first byte chooses from (index = byte % 5).
const DLTS: [i32; 5] = [1, 113, 276, 101, 0];
/// Mon 2023-11-13 00:00:00 UTC, so the stream starts at a plausible time.
const START: i64 = 1_699_833_600 * SECOND;

/// The registered device's class, and one registered by address only, so
/// that the asset list's side of classification runs too.
fn asset_classes() -> medtap::device::classify::AssetClasses {
    use medtap::device::classify::{AssetClass, AssetClasses};
    let mut a = AssetClasses::default();
    let class = |c: &str| AssetClass {
        class: Some(c.to_string()),
        attributes: None,
    };
    a.insert(
        medtap::net::Mac::parse("00:09:5c:82:00:03"),
        None,
        class("patient_monitor"),
    );
    a.insert(None, "10.82.0.104".parse().ok(), class("infusion_pump"));
    a
}

/// The shipped policy with a small asset list, compiled once: every flow,
/// protocol event and device event of the input runs through the engine.
fn policy() -> std::sync::Arc<medtap::policy::Policy> {
    static POLICY: std::sync::OnceLock<std::sync::Arc<medtap::policy::Policy>> =
        std::sync::OnceLock::new();
    POLICY
        .get_or_init(|| {
            let assets = medtap::device::assets::AssetList::parse(
                "[[device]]\nmac = \"00:09:5c:82:00:03\"\nip = \"10.82.0.103\"\nclass = \"patient_monitor\"\n\
                 [[device]]\nip = \"10.82.0.104\"\nclass = \"infusion_pump\"\n\
                 [[device]]\nip = \"10.82.0.10\"\nclass = \"pacs\"\n",
                "fuzz-assets.toml",
            )
            .expect("the fuzz asset list parses");
            let cx = medtap::policy::rules::Context {
                classes: medtap::device::classes::Classes::builtin(),
                assets: Some(&assets),
                internal: medtap::config::IdentityConfig::default().networks(),
                now: 0,
            };
            let policy = medtap::policy::rules::load(None, &cx).expect("the shipped policy compiles");
            std::sync::Arc::new(policy)
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let link = LinkType::from_dlt(DLTS[usize::from(sel) % DLTS.len()])
        .expect("every DLT in DLTS is supported");

    let (tx, rx) = channel(1024, Backpressure::Drop);
    let opts = PipelineOptions {
        max_flows: 64,
        timeouts: medtap::flow::Timeouts::default(),
        max_devices: 64,
        local_networks: medtap::config::IdentityConfig::default().networks(),
        // One registered device and a static network, so that the IP plan's
        // checks run too.
        plan: medtap::device::plan::IpPlan::new(
            [(
                medtap::net::Mac::parse("00:09:5c:82:00:03"),
                "10.82.0.103".parse().ok(),
                1,
            )],
            medtap::net::Cidr::parse("10.82.0.0/24")
                .into_iter()
                .collect(),
        ),
        device_flush_every: 10 * SECOND,
        first_flow_id: 1,
        reassembly_bytes: 64 << 20,
        interim_every: None,
        classifier: medtap::device::classify::Classifier::default(),
        asset_classes: asset_classes(),
        engine: medtap::policy::EngineOptions {
            policy: policy(),
            ..Default::default()
        },
    };
    let mut p = Pipeline::new(&opts, tx);

    let mut ts = START;
    while rest.len() >= 6 {
        let raw_len = u16::from_le_bytes([rest[0], rest[1]]);
        let delta = i32::from_le_bytes([rest[2], rest[3], rest[4], rest[5]]);
        rest = &rest[6..];
        let len = usize::from(raw_len & 0x7fff).min(rest.len());
        let (bytes, tail) = rest.split_at(len);
        rest = tail;
        ts = ts.saturating_add(i64::from(delta));
        let cut = raw_len & 0x8000 != 0;
        let wire_len = len as u32
            + if cut {
                1 + u32::from(raw_len & 0x7fff)
            } else {
                0
            };
        p.process(
            link,
            &Frame {
                ts,
                wire_len,
                data: bytes,
            },
        );
    }
    p.finish();
    black_box(p.counters());
    // Whatever reached the sinks must make valid EVE: each line one JSON
    // object on one line, whatever hostile strings the frames carried.
    let mut totals = Totals::default();
    let mut buf = Vec::new();
    let mut f = Formatter {
        types: EveType::mask(&EveType::ALL),
        host: "fuzz",
        totals: &mut totals,
        buf: &mut buf,
    };
    for event in rx.try_iter() {
        f.event(&event, &mut |line| {
            let (last, body) = line.split_last().expect("a line is never empty");
            assert_eq!(*last, b'\n', "a line ends with its newline");
            assert!(!body.contains(&b'\n'), "one line per event");
            let v: serde_json::Value = serde_json::from_slice(body).expect("valid JSON");
            assert!(v["timestamp"].is_string() && v["event_type"].is_string());
        });
    }
});
