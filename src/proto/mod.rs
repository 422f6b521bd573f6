//! Application protocols over TCP: detection by content on any port, and
//! the parsers: DICOM, HL7 v2 over MLLP and MQTT.
//!
//! Parser contract (see ARCHITECTURE.md): input is borrowed bytes, nothing
//! is allocated per packet, length fields are checked against named caps
//! before anything is taken, unknown codes are kept, and protocol
//! violations become [`Anomaly`] events — they never stop the pipeline.

pub mod app;
pub mod detect;
pub mod dicom;
pub mod hl7;
pub mod mqtt;
pub mod text;

use serde::Serialize;

/// An application protocol medtap recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AppProto {
    /// DICOM upper layer (PS3.8).
    Dicom,
    /// DICOM over TLS (ports 2761/2762): recorded, not decoded.
    DicomTls,
    /// HL7 v2 over MLLP.
    Hl7,
    /// MQTT 3.1, 3.1.1 or 5.0.
    Mqtt,
    /// MQTT over TLS (port 8883): recorded, not decoded.
    MqttTls,
}

impl AppProto {
    /// Stable name used in `flows.app_proto` and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Dicom => "dicom",
            AppProto::DicomTls => "dicom-tls",
            AppProto::Hl7 => "hl7",
            AppProto::Mqtt => "mqtt",
            AppProto::MqttTls => "mqtt-tls",
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
    /// A calling or called AE title in an A-ASSOCIATE-RQ outside PS3.5 6.2
    /// (control character, byte outside the default repertoire, backslash,
    /// or only spaces). Detail: which title and why, never the title.
    DicomNonconformingAeTitle,
    /// An MLLP frame cut short by the next start block (0x0B) before its end
    /// block (0x1C 0x0D): ended there, parsing goes on with the new frame.
    Hl7FrameWithoutTrailer,
    /// A message over medtap's size cap: the rest of its frame is scanned
    /// for the end block only, no segment of it is read.
    Hl7OversizedMessage,
    /// A frame that does not start with a well-formed MSH segment.
    Hl7MalformedMsh,
    /// An acknowledgement with code AE, AR, CE or CR (detail: the code).
    Hl7NegativeAck,
    /// Bytes outside any MLLP frame.
    Hl7BytesOutsideFrame,
    /// A remaining-length varint longer than 4 bytes.
    MqttMalformedRemainingLength,
    /// Packet type 0 (reserved), or 15 (AUTH) before MQTT 5.0.
    MqttReservedPacketType,
    /// QoS 3 in a PUBLISH, will or subscription.
    MqttInvalidQos,
    /// A packet other than CONNECT opened the session.
    MqttPacketBeforeConnect,
    /// A packet whose fields do not parse (lying lengths, bad flags,
    /// properties longer than the packet).
    MqttMalformedPacket,
    /// A packet over medtap's hard cap: skipped by count.
    MqttPacketOverHardCap,
    /// The broker refused the connection (detail: the reason's name).
    MqttConnackRefused,
    /// One client failed authentication many times within a minute.
    MqttAuthBruteForce,
    /// A subscription to everything: `#` or `$SYS/#`.
    MqttWildcardSubscription,
    /// A client published to a `$` (broker system) topic.
    MqttPublishToSystemTopic,
    /// Bytes were lost where framing cannot be recovered; parsing stopped.
    MqttLostSync,
}

impl Anomaly {
    /// Number of kinds.
    pub const COUNT: usize = 31;
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
        Anomaly::DicomNonconformingAeTitle,
        Anomaly::Hl7FrameWithoutTrailer,
        Anomaly::Hl7OversizedMessage,
        Anomaly::Hl7MalformedMsh,
        Anomaly::Hl7NegativeAck,
        Anomaly::Hl7BytesOutsideFrame,
        Anomaly::MqttMalformedRemainingLength,
        Anomaly::MqttReservedPacketType,
        Anomaly::MqttInvalidQos,
        Anomaly::MqttPacketBeforeConnect,
        Anomaly::MqttMalformedPacket,
        Anomaly::MqttPacketOverHardCap,
        Anomaly::MqttConnackRefused,
        Anomaly::MqttAuthBruteForce,
        Anomaly::MqttWildcardSubscription,
        Anomaly::MqttPublishToSystemTopic,
        Anomaly::MqttLostSync,
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
            Anomaly::DicomNonconformingAeTitle => "dicom.nonconforming_ae_title",
            Anomaly::Hl7FrameWithoutTrailer => "hl7.frame_without_trailer",
            Anomaly::Hl7OversizedMessage => "hl7.oversized_message",
            Anomaly::Hl7MalformedMsh => "hl7.malformed_msh",
            Anomaly::Hl7NegativeAck => "hl7.negative_ack",
            Anomaly::Hl7BytesOutsideFrame => "hl7.bytes_outside_frame",
            Anomaly::MqttMalformedRemainingLength => "mqtt.malformed_remaining_length",
            Anomaly::MqttReservedPacketType => "mqtt.reserved_packet_type",
            Anomaly::MqttInvalidQos => "mqtt.invalid_qos",
            Anomaly::MqttPacketBeforeConnect => "mqtt.packet_before_connect",
            Anomaly::MqttMalformedPacket => "mqtt.malformed_packet",
            Anomaly::MqttPacketOverHardCap => "mqtt.packet_over_hard_cap",
            Anomaly::MqttConnackRefused => "mqtt.connack_refused",
            Anomaly::MqttAuthBruteForce => "mqtt.auth_brute_force",
            Anomaly::MqttWildcardSubscription => "mqtt.wildcard_subscription",
            Anomaly::MqttPublishToSystemTopic => "mqtt.publish_to_system_topic",
            Anomaly::MqttLostSync => "mqtt.lost_sync",
        }
    }
}

/// Where a parser reports anomalies: the kind and, for some kinds, a short
/// static detail (a reason's name or an acknowledgement code; never data).
pub type Emit<'a> = &'a mut dyn FnMut(Anomaly, Option<&'static str>);

#[cfg(test)]
mod tests {
    use super::Anomaly;

    #[test]
    fn anomaly_table_is_complete_and_names_are_unique() {
        for (i, a) in Anomaly::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
        }
        let mut names: Vec<_> = Anomaly::ALL.iter().map(|a| a.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Anomaly::COUNT);
    }

    /// One bit per kind in the per-flow "reported" set (`u64`).
    const _: () = assert!(Anomaly::COUNT <= 64);
}
