//! Policy: what medtap raises beyond a single flow's protocol checks. For
//! now the cross-flow detections ([`detections`]); allow-lists and the
//! learned baseline will live here too.

pub mod detections;

pub use detections::Detections;
