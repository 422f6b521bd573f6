//! Application protocols over TCP: detection by content on any port, and
//! the parsers: DICOM, HL7 v2 over MLLP and MQTT; and DHCP over UDP.
//! Remote-access protocols (SSH, RDP, VNC, Telnet, TeamViewer, AnyDesk)
//! and TLS are recognised (`remote`) but not parsed.
//!
//! Parser contract (see ARCHITECTURE.md): input is borrowed bytes, nothing
//! is allocated per packet, length fields are checked against named caps
//! before anything is taken, unknown codes are kept, and protocol
//! violations become [`Anomaly`] events — they never stop the pipeline.

mod conversation;
pub mod detect;
pub mod dhcp;
pub mod dicom;
pub mod hl7;
pub mod mqtt;
pub mod remote;
pub mod text;

pub use crate::kinds::{Anomaly, AppProto};
pub(crate) use conversation::{dir, Side, TwoWay};
pub use conversation::{Conversation, Fact, Output};

/// Where a parser reports anomalies: the kind and, for some kinds, a short
/// static detail (a reason's name or an acknowledgement code; never data).
pub type Emit<'a> = &'a mut dyn FnMut(Anomaly, Option<&'static str>);

/// An owned record of a conversation, ready to become an event. It names
/// every protocol's record, so it lives here beside the protocols rather
/// than in the contract that they implement.
#[derive(Debug)]
pub enum Record {
    /// A DICOM association (at the end of its flow).
    Dicom(dicom::AssociationRecord),
    /// An HL7 message, with its acknowledgement when one came.
    Hl7(hl7::MessageRecord),
    /// An MQTT session (at the end of its flow).
    Mqtt(mqtt::SessionRecord),
}
