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

use crate::config::span::Located;
use std::path::PathBuf;

/// Policy loading errors.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Every problem found, one a line, each with file, line and key.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Located>),
}
