//! Policy: per-class allow-lists and the detections of DB3205/T Appendix A,
//! raised as alerts that fold repeats.
//!
//! - `rules`: the policy files (shipped and the hospital's), compiled;
//! - `evaluate`: the compiled policy's verdict on one flow or operation;
//! - `engine`: the detections, run per flow, protocol event and device event;
//! - `raise`: folding repeats into one alert, suppressions;
//! - `detections`: cross-flow rates (bursts, brute force, known AE titles);
//! - `topic`: MQTT topic filters.

pub mod baseline;
pub mod detections;
pub mod engine;
pub mod evaluate;
pub mod raise;
pub mod rules;
pub mod services;
pub mod topic;

pub use detections::Detections;
pub use engine::{Engine, EngineOptions, FlowCtx, Learning};
pub use rules::Policy;

/// Policy loading errors: the rule files' (a file unreadable, or every
/// problem with its file, line and key).
pub use crate::device::rules::RulesError as PolicyError;
