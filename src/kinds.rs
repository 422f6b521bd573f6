//! Leaf types used everywhere: the application protocols medtap recognises
//! and the anomaly kinds, each defined once. This module imports nothing
//! from the crate, so any layer may use it without an arrow against the
//! data flow (`flow` labels flows with [`AppProto`] without knowing
//! `proto`).

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
    /// SSH (RFC 4253), by its identification string: labelled, not decoded.
    Ssh,
    /// RDP ([MS-RDPBCGR]), by the client's X.224 Connection Request:
    /// labelled, not decoded.
    Rdp,
    /// VNC (RFB, RFC 6143), by its ProtocolVersion message: labelled, not
    /// decoded.
    Vnc,
    /// Telnet (RFC 854), by its option negotiation: labelled, not decoded.
    Telnet,
    /// TeamViewer, by its packet header magic: labelled, not decoded.
    TeamViewer,
    /// AnyDesk, by its TLS ClientHello (ALPN `anydesk/...`): labelled, not
    /// decoded.
    AnyDesk,
    /// TLS on a port that is not a known DICOM-TLS or MQTT-TLS one, by its
    /// ClientHello: labelled, not decoded.
    Tls,
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
            AppProto::Ssh => "ssh",
            AppProto::Rdp => "rdp",
            AppProto::Vnc => "vnc",
            AppProto::Telnet => "telnet",
            AppProto::TeamViewer => "teamviewer",
            AppProto::AnyDesk => "anydesk",
            AppProto::Tls => "tls",
        }
    }

    /// Every protocol, in declaration order.
    pub const ALL: [AppProto; 12] = [
        AppProto::Dicom,
        AppProto::DicomTls,
        AppProto::Hl7,
        AppProto::Mqtt,
        AppProto::MqttTls,
        AppProto::Ssh,
        AppProto::Rdp,
        AppProto::Vnc,
        AppProto::Telnet,
        AppProto::TeamViewer,
        AppProto::AnyDesk,
        AppProto::Tls,
    ];

    /// The protocol of a stable name ([`AppProto::name`]), e.g. from a
    /// policy file; `None` for a name medtap does not know.
    pub fn from_name(name: &str) -> Option<AppProto> {
        AppProto::ALL.into_iter().find(|p| p.name() == name)
    }

    /// A remote-access protocol (DB3205/T A.3 d), audit of remote
    /// maintenance): SSH, RDP, VNC, Telnet, TeamViewer, AnyDesk.
    pub fn is_remote_access(self) -> bool {
        matches!(
            self,
            AppProto::Ssh
                | AppProto::Rdp
                | AppProto::Vnc
                | AppProto::Telnet
                | AppProto::TeamViewer
                | AppProto::AnyDesk
        )
    }

    /// Known to be encrypted on the wire: TLS (DICOM-TLS, MQTT-TLS, other
    /// TLS), SSH, and AnyDesk and TeamViewer (both encrypt every session).
    /// False means "not known to be": RDP is false because its security
    /// (TLS, CredSSP, or RDP's own RC4 "Standard RDP Security", or none) is
    /// chosen in the server's RDP_NEG_RSP ([MS-RDPBCGR] 2.2.1.2.1), which
    /// medtap does not read; VNC is false because RFB (RFC 6143 7.2) only
    /// protects the password exchange unless a vendor security type wraps
    /// the session, which medtap does not read either; Telnet, DICOM, HL7
    /// and MQTT are cleartext.
    pub fn is_encrypted(self) -> bool {
        matches!(
            self,
            AppProto::DicomTls
                | AppProto::MqttTls
                | AppProto::Tls
                | AppProto::Ssh
                | AppProto::TeamViewer
                | AppProto::AnyDesk
        )
    }
}

/// Defines [`Anomaly`] from one list of `Variant => "stable.name"` lines:
/// the enum, [`Anomaly::ALL`], [`Anomaly::COUNT`] and [`Anomaly::name`]
/// cannot disagree, and a new kind is one line.
/// An output sink besides the database, as counted in `capture_stats`
/// (`sink_*_by_name`), `medtap status` and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SinkKind {
    /// EVE JSON lines (a file or a unix socket).
    Eve,
    /// RFC 5424 syslog (UDP, TCP or a unix socket).
    Syslog,
    /// The Prometheus metrics endpoint.
    Metrics,
}

impl SinkKind {
    /// How many kinds there are.
    pub const COUNT: usize = 3;
    /// Every kind, in column order.
    pub const ALL: [SinkKind; Self::COUNT] = [SinkKind::Eve, SinkKind::Syslog, SinkKind::Metrics];

    /// Stable name (status, metrics label, logs).
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Eve => "eve",
            SinkKind::Syslog => "syslog",
            SinkKind::Metrics => "metrics",
        }
    }
}

/// A database table that retention prunes (`store.retention_days`,
/// `store.alert_retention_days`, `store.max_db_mib`), as counted in
/// `capture_stats` (`pruned_by_table`), `retention_marks`, `medtap status`
/// and the metrics. The device inventory (`devices`, `device_ips`,
/// `device_names`) is never pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrunedTable {
    /// Flow records.
    Flows,
    /// DICOM associations (by flow).
    DicomAssociations,
    /// DICOM operations (by flow).
    DicomOperations,
    /// HL7 messages (by flow).
    Hl7Messages,
    /// MQTT sessions (by flow).
    MqttSessions,
    /// MQTT publishes (by flow).
    MqttPublishes,
    /// MQTT subscriptions (by flow).
    MqttSubscriptions,
    /// DHCP messages (by time).
    DhcpMessages,
    /// Protocol anomalies (by time).
    Anomalies,
    /// Alerts and observations (kept `alert_retention_days`).
    Alerts,
    /// Device history: conflicts, thefts, role changes (kept with alerts).
    DeviceEvents,
    /// Statistics rows (kept with alerts; never the writing session's).
    CaptureStats,
}

impl PrunedTable {
    /// How many tables there are.
    pub const COUNT: usize = 12;
    /// Every table, in column order.
    pub const ALL: [PrunedTable; Self::COUNT] = [
        PrunedTable::Flows,
        PrunedTable::DicomAssociations,
        PrunedTable::DicomOperations,
        PrunedTable::Hl7Messages,
        PrunedTable::MqttSessions,
        PrunedTable::MqttPublishes,
        PrunedTable::MqttSubscriptions,
        PrunedTable::DhcpMessages,
        PrunedTable::Anomalies,
        PrunedTable::Alerts,
        PrunedTable::DeviceEvents,
        PrunedTable::CaptureStats,
    ];

    /// The table's name in the database (status, metrics label, logs).
    pub fn name(self) -> &'static str {
        match self {
            PrunedTable::Flows => "flows",
            PrunedTable::DicomAssociations => "dicom_associations",
            PrunedTable::DicomOperations => "dicom_operations",
            PrunedTable::Hl7Messages => "hl7_messages",
            PrunedTable::MqttSessions => "mqtt_sessions",
            PrunedTable::MqttPublishes => "mqtt_publishes",
            PrunedTable::MqttSubscriptions => "mqtt_subscriptions",
            PrunedTable::DhcpMessages => "dhcp_messages",
            PrunedTable::Anomalies => "anomalies",
            PrunedTable::Alerts => "alerts",
            PrunedTable::DeviceEvents => "device_events",
            PrunedTable::CaptureStats => "capture_stats",
        }
    }
}

/// How urgent an alert is. Ordered most urgent first, so `a < b` means
/// `a` is more urgent; Suricata's EVE numbers them the same way (1 = high).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    /// Act now: a grade-3 device broke its policy, an address was stolen.
    High,
    /// Look today.
    Medium,
    /// Worth knowing.
    Low,
    /// A posture finding, not an incident (e.g. medical data in clear).
    Info,
}

impl Severity {
    /// Every severity, most urgent first.
    pub const ALL: [Severity; 4] = [
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// Stable name used in the database, rules and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    /// The severity called `name`.
    pub fn from_name(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Suricata's number for it (EVE `alert.severity`: 1 is the highest).
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// The default severity of a violation by a device of risk `grade`
    /// (DB3205/T Table B.1: 3 → high, 2 → medium, 1 or none → low).
    pub fn for_grade(grade: Option<u8>) -> Severity {
        match grade {
            Some(3) => Severity::High,
            Some(2) => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

macro_rules! anomalies {
    ($($(#[$doc:meta])* $kind:ident => $name:literal,)*) => {
        /// Protocol anomalies with stable names (counted in `medtap status`,
        /// stored per flow, turned into alerts by policy).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Anomaly {
            $($(#[$doc])* $kind,)*
        }

        impl Anomaly {
            /// Number of kinds.
            pub const COUNT: usize = [$($name),*].len();
            /// Every kind, in discriminant order.
            pub const ALL: [Anomaly; Self::COUNT] = [$(Anomaly::$kind),*];

            /// Stable dotted name (written to the database and JSON).
            pub fn name(self) -> &'static str {
                match self {
                    $(Anomaly::$kind => $name,)*
                }
            }
        }
    };
}

anomalies! {
    /// A PDU whose fields do not parse.
    DicomMalformedPdu => "dicom.malformed_pdu",
    /// A variable item that is unknown in its place or does not parse.
    DicomMalformedItem => "dicom.malformed_item",
    /// A DIMSE command set that does not parse.
    DicomMalformedCommand => "dicom.malformed_command",
    /// PDU type outside 1..7.
    DicomUnknownPduType => "dicom.unknown_pdu_type",
    /// A P-DATA PDU longer than the receiver's negotiated maximum.
    DicomPduOverMaxLength => "dicom.pdu_over_max_length",
    /// A PDU over medtap's hard cap: skipped by count.
    DicomPduOverHardCap => "dicom.pdu_over_hard_cap",
    /// P-DATA or a DIMSE command before the association was accepted.
    DicomPdataBeforeAccept => "dicom.pdata_before_accept",
    /// A PDU from the wrong side (an AC from the requestor, ...).
    DicomUnexpectedPdu => "dicom.unexpected_pdu",
    /// The association was rejected.
    DicomAssociationRejected => "dicom.association_rejected",
    /// The service provider aborted the association.
    DicomProviderAbort => "dicom.provider_abort",
    /// Bytes were lost where framing cannot be recovered; parsing stopped.
    DicomLostSync => "dicom.lost_sync",
    /// A C-MOVE asks to send images to an AE title never seen before in any
    /// association on this sensor (possible exfiltration).
    DicomMoveToUnknownAe => "dicom.move_to_unknown_ae",
    /// One client opened many associations within a minute.
    DicomAssociationBurst => "dicom.association_burst",
    /// One client sent many C-FIND/C-MOVE/C-GET requests within a minute.
    DicomQueryBurst => "dicom.query_burst",
    /// A calling or called AE title in an A-ASSOCIATE-RQ outside PS3.5 6.2
    /// (control character, byte outside the default repertoire, backslash,
    /// or only spaces). Detail: which title and why, never the title.
    DicomNonconformingAeTitle => "dicom.nonconforming_ae_title",
    /// An MLLP frame cut short by the next start block (0x0B) before its end
    /// block (0x1C 0x0D): ended there, parsing goes on with the new frame.
    Hl7FrameWithoutTrailer => "hl7.frame_without_trailer",
    /// A message over medtap's size cap: the rest of its frame is scanned
    /// for the end block only, no segment of it is read.
    Hl7OversizedMessage => "hl7.oversized_message",
    /// A frame that does not start with a well-formed MSH segment.
    Hl7MalformedMsh => "hl7.malformed_msh",
    /// An acknowledgement with code AE, AR, CE or CR (detail: the code).
    Hl7NegativeAck => "hl7.negative_ack",
    /// Bytes outside any MLLP frame.
    Hl7BytesOutsideFrame => "hl7.bytes_outside_frame",
    /// A remaining-length varint longer than 4 bytes.
    MqttMalformedRemainingLength => "mqtt.malformed_remaining_length",
    /// Packet type 0 (reserved), or 15 (AUTH) before MQTT 5.0.
    MqttReservedPacketType => "mqtt.reserved_packet_type",
    /// QoS 3 in a PUBLISH, will or subscription.
    MqttInvalidQos => "mqtt.invalid_qos",
    /// A packet other than CONNECT opened the session.
    MqttPacketBeforeConnect => "mqtt.packet_before_connect",
    /// A packet whose fields do not parse (lying lengths, bad flags,
    /// properties longer than the packet).
    MqttMalformedPacket => "mqtt.malformed_packet",
    /// A packet over medtap's hard cap: skipped by count.
    MqttPacketOverHardCap => "mqtt.packet_over_hard_cap",
    /// The broker refused the connection (detail: the reason's name).
    MqttConnackRefused => "mqtt.connack_refused",
    /// One client failed authentication many times within a minute.
    MqttAuthBruteForce => "mqtt.auth_brute_force",
    /// A subscription to everything: `#` or `$SYS/#`.
    MqttWildcardSubscription => "mqtt.wildcard_subscription",
    /// A client published to a `$` (broker system) topic.
    MqttPublishToSystemTopic => "mqtt.publish_to_system_topic",
    /// Bytes were lost where framing cannot be recovered; parsing stopped.
    MqttLostSync => "mqtt.lost_sync",
    /// The connection ended inside a packet (the capture stopped, the flow
    /// was evicted): the packet is not counted (detail: its type).
    MqttTruncatedPacket => "mqtt.truncated_packet",
    /// A datagram on the DHCP ports that is not a message medtap can read:
    /// shorter than the fixed header, `op` neither 1 nor 2 (DHCPv6: type
    /// 0), relay messages nested too deep (detail: `too_short`, `bad_op`
    /// or `relay_too_deep`).
    DhcpMalformed => "dhcp.malformed",
    /// A DHCP message read despite a problem, mostly in its options: a
    /// length that runs past the end or does not fit, a missing End, a
    /// duplicate, a bad overload or cookie (detail: the name,
    /// `proto::dhcp::Issues`).
    DhcpBadOption => "dhcp.bad_option",
}

/// A set of anomaly kinds: one bit per kind in a fixed array sized from
/// [`Anomaly::COUNT`] (no heap, no cap on the number of kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnomalySet([u64; AnomalySet::WORDS]);

impl AnomalySet {
    /// 64-bit words needed for one bit per kind.
    const WORDS: usize = Anomaly::COUNT.div_ceil(64);

    /// The empty set.
    pub const fn new() -> AnomalySet {
        AnomalySet([0; AnomalySet::WORDS])
    }

    /// Adds `a`; true when it was not in the set yet.
    pub fn insert(&mut self, a: Anomaly) -> bool {
        let (word, bit) = position(a as usize);
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    /// Whether `a` is in the set.
    pub fn contains(&self, a: Anomaly) -> bool {
        let (word, bit) = position(a as usize);
        self.0[word] & bit != 0
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.0 = [0; AnomalySet::WORDS];
    }
}

/// The word and the bit of kind number `i` in an [`AnomalySet`].
fn position(i: usize) -> (usize, u64) {
    (i / 64, 1u64 << (i % 64))
}

impl Default for AnomalySet {
    fn default() -> AnomalySet {
        AnomalySet::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{position, Anomaly, AnomalySet};

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

    #[test]
    fn names_are_the_stored_ones() {
        // Written to the database and JSON: a rename is a schema change.
        assert_eq!(Anomaly::COUNT, 34);
        assert_eq!(Anomaly::ALL[0].name(), "dicom.malformed_pdu");
        assert_eq!(
            Anomaly::DicomMoveToUnknownAe.name(),
            "dicom.move_to_unknown_ae"
        );
        assert_eq!(Anomaly::MqttTruncatedPacket.name(), "mqtt.truncated_packet");
        assert_eq!(Anomaly::DhcpMalformed.name(), "dhcp.malformed");
        assert_eq!(Anomaly::ALL[Anomaly::COUNT - 1].name(), "dhcp.bad_option");
    }

    #[test]
    fn severities_order_and_names() {
        use super::Severity;
        assert!(Severity::High < Severity::Medium && Severity::Low < Severity::Info);
        for s in Severity::ALL {
            assert_eq!(Severity::from_name(s.name()), Some(s));
        }
        assert_eq!(Severity::High.number(), 1);
        assert_eq!(Severity::Info.number(), 4);
        assert_eq!(Severity::for_grade(Some(3)), Severity::High);
        assert_eq!(Severity::for_grade(Some(2)), Severity::Medium);
        assert_eq!(Severity::for_grade(Some(1)), Severity::Low);
        assert_eq!(Severity::for_grade(None), Severity::Low);
    }

    #[test]
    fn set_holds_every_kind_once() {
        let mut s = AnomalySet::new();
        for a in Anomaly::ALL {
            assert!(!s.contains(a));
            assert!(s.insert(a), "{a:?} first time");
            assert!(!s.insert(a), "{a:?} second time");
            assert!(s.contains(a));
        }
        s.clear();
        assert_eq!(s, AnomalySet::default());
    }

    #[test]
    fn set_positions_go_past_one_word() {
        // Kind 64 and beyond land in the next word, not on bit 0 again.
        assert_eq!(AnomalySet::WORDS, Anomaly::COUNT.div_ceil(64));
        assert_eq!(position(63), (0, 1 << 63));
        assert_eq!(position(64), (1, 1));
        assert_eq!(position(70), (1, 1 << 6));
    }
}
