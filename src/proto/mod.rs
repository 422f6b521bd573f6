//! Application protocols over TCP: detection by content on any port, and
//! the parsers (DICOM now; HL7 and MQTT plug in the same way).
//!
//! Parser contract (see ARCHITECTURE.md): input is borrowed bytes, nothing
//! is allocated per packet, length fields are checked against named caps
//! before anything is taken, unknown codes are kept, and protocol
//! violations become [`Anomaly`] events — they never stop the pipeline.

pub mod app;
pub mod detect;
pub mod dicom;

use serde::Serialize;

/// An application protocol medtap recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AppProto {
    /// DICOM upper layer (PS3.8).
    Dicom,
    /// DICOM over TLS (ports 2761/2762): recorded, not decoded.
    DicomTls,
}

impl AppProto {
    /// Stable name used in `flows.app_proto` and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Dicom => "dicom",
            AppProto::DicomTls => "dicom-tls",
        }
    }
}

/// Protocol anomalies with stable names (counted in `medtap status`,
/// stored per flow, turned into alerts by policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Anomaly {
    /// A PDU whose fields do not parse.
    DicomMalformedPdu,
    /// A variable item that is unknown in its place or does not parse.
    DicomMalformedItem,
    /// A DIMSE command set that does not parse.
    DicomMalformedCommand,
    /// PDU type outside 1..7.
    DicomUnknownPduType,
    /// A P-DATA PDU longer than the receiver's negotiated maximum.
    DicomPduOverMaxLength,
    /// A PDU over medtap's hard cap: skipped by count.
    DicomPduOverHardCap,
    /// P-DATA or a DIMSE command before the association was accepted.
    DicomPdataBeforeAccept,
    /// A PDU from the wrong side (an AC from the requestor, ...).
    DicomUnexpectedPdu,
    /// The association was rejected.
    DicomAssociationRejected,
    /// The service provider aborted the association.
    DicomProviderAbort,
    /// Bytes were lost where framing cannot be recovered; parsing stopped.
    DicomLostSync,
    /// A C-MOVE asks to send images to an AE title never seen before in any
    /// association on this sensor (possible exfiltration).
    DicomMoveToUnknownAe,
    /// One client opened many associations within a minute.
    DicomAssociationBurst,
    /// One client sent many C-FIND/C-MOVE/C-GET requests within a minute.
    DicomQueryBurst,
}

impl Anomaly {
    /// Number of kinds.
    pub const COUNT: usize = 14;
    /// Every kind, in discriminant order.
    pub const ALL: [Anomaly; Self::COUNT] = [
        Anomaly::DicomMalformedPdu,
        Anomaly::DicomMalformedItem,
        Anomaly::DicomMalformedCommand,
        Anomaly::DicomUnknownPduType,
        Anomaly::DicomPduOverMaxLength,
        Anomaly::DicomPduOverHardCap,
        Anomaly::DicomPdataBeforeAccept,
        Anomaly::DicomUnexpectedPdu,
        Anomaly::DicomAssociationRejected,
        Anomaly::DicomProviderAbort,
        Anomaly::DicomLostSync,
        Anomaly::DicomMoveToUnknownAe,
        Anomaly::DicomAssociationBurst,
        Anomaly::DicomQueryBurst,
    ];

    /// Stable dotted name.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::DicomMalformedPdu => "dicom.malformed_pdu",
            Anomaly::DicomMalformedItem => "dicom.malformed_item",
            Anomaly::DicomMalformedCommand => "dicom.malformed_command",
            Anomaly::DicomUnknownPduType => "dicom.unknown_pdu_type",
            Anomaly::DicomPduOverMaxLength => "dicom.pdu_over_max_length",
            Anomaly::DicomPduOverHardCap => "dicom.pdu_over_hard_cap",
            Anomaly::DicomPdataBeforeAccept => "dicom.pdata_before_accept",
            Anomaly::DicomUnexpectedPdu => "dicom.unexpected_pdu",
            Anomaly::DicomAssociationRejected => "dicom.association_rejected",
            Anomaly::DicomProviderAbort => "dicom.provider_abort",
            Anomaly::DicomLostSync => "dicom.lost_sync",
            Anomaly::DicomMoveToUnknownAe => "dicom.move_to_unknown_ae",
            Anomaly::DicomAssociationBurst => "dicom.association_burst",
            Anomaly::DicomQueryBurst => "dicom.query_burst",
        }
    }
}
