//! medtap's integration tests, as one test binary (`cargo test --test it`).
//!
//! Each file here was once its own binary under tests/; as modules of one
//! binary, medtap, its dependencies and the test support are linked once
//! instead of once per file, and the test harness runs them all in one pool
//! of threads. `cargo test --test it MODULE::` runs one file's tests, e.g.
//! `cargo test --test it dicom_tshark::`.
//!
//! tests/no_alloc.rs is a binary of its own: it installs a counting global
//! allocator, which would count (and slow) every other test's allocations.
//!
//! Several tests create network namespaces, temporary directories and
//! scripts' work directories: they are all named per test (a test's own
//! tag, a tempfile directory or the PID of the script that made them), never
//! only per process, since every test here shares this process's PID.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

#[path = "../common/mod.rs"]
mod shared;

/// What the tests call `common`: the support every test binary shares
/// (tests/common) plus the capture generators, the tshark harness, the
/// network-namespace lab and the hand-built conversations, which only this
/// binary needs (tests/it/common/).
mod common {
    pub use crate::shared::*;

    pub mod archive;
    pub mod garbage;
    pub mod lab;
    pub mod prometheus;
    pub mod siem;
    pub mod tshark;
    pub mod wire;
}

mod alert_hostile;
mod alerts_follow;
mod archive;
mod assets;
mod classify;
mod cli;
mod dhcp_tshark;
mod dicom_anomalies;
mod dicom_tshark;
mod eve;
mod extract;
mod garbage;
mod hardening;
mod hl7_mqtt_anomalies;
mod hl7_tshark;
mod hostile_strings;
mod identity;
mod identity_captures;
mod live_netns;
mod metrics;
mod mqtt_tshark;
mod policy;
mod remote_access;
mod retention;
mod store_integrity;
mod syslog;
mod tshark_conv;
mod verify;
