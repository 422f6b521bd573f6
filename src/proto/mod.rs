//! Application protocols over TCP: detection by content on any port, and
//! the parsers: DICOM, HL7 v2 over MLLP and MQTT.
//!
//! Parser contract (see ARCHITECTURE.md): input is borrowed bytes, nothing
//! is allocated per packet, length fields are checked against named caps
//! before anything is taken, unknown codes are kept, and protocol
//! violations become [`Anomaly`] events — they never stop the pipeline.

pub mod app;
mod conversation;
pub mod detect;
pub mod dicom;
pub mod hl7;
pub mod mqtt;
pub mod text;

pub use crate::kinds::{Anomaly, AppProto};
pub(crate) use conversation::{dir, Side, TwoWay};
pub use conversation::{Conversation, Fact, Output, Record};

/// Where a parser reports anomalies: the kind and, for some kinds, a short
/// static detail (a reason's name or an acknowledgement code; never data).
pub type Emit<'a> = &'a mut dyn FnMut(Anomaly, Option<&'static str>);
