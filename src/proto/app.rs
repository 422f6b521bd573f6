//! Moved to [`crate::app`]; this path stays only because
//! `tests/no_alloc.rs` names `medtap::proto::app::AppCounters`. It is the
//! one import from `proto` up to `app`: delete it once that test says
//! `medtap::app::AppCounters`.

#[doc(hidden)]
pub use crate::app::{AppCounters, AppEvent, AppLayer, Segment};
