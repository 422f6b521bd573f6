//! Alerts: what medtap raises for the security office, each under a stable
//! rule id with the DB3205/T clause it evidences, and the key that folds
//! repeats of one finding into one alert (see `policy::raise`).
//!
//! An alert is metadata only: who (device and peer), what (rule, a short
//! detail, evidence such as AE titles or a port), when (first and last
//! seen, count). Never patient content; attacker-controlled strings in it
//! are kept verbatim (bounded) and escaped when printed.

use crate::kinds::{AppProto, Severity};
use crate::net::Mac;
use crate::time::Micros;
use std::net::IpAddr;

/// A detection rule. The ids are stable: the database, JSON, EVE and
/// syslog carry them, and suppressions name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// A device not in the asset list appeared.
    NewDevice,
    /// A medical device and an address outside the hospital talked.
    ExternalConnection,
    /// A flow or protocol operation outside the device class's allow-list.
    PolicyViolation,
    /// A remote-access session (SSH, RDP, VNC, Telnet, ...) with a medical device.
    RemoteAccess,
    /// Medical data (DICOM, HL7, MQTT) or credentials crossed the network
    /// without encryption.
    CleartextMedicalData,
    /// A device offered a service or spoke a protocol it did not in its baseline.
    NewService,
    /// Two MACs claimed one address, or a registered address moved.
    IpMacConflict,
    /// An attack pattern in DICOM, HL7 or MQTT (brute force, storms, ...).
    ProtocolAnomaly,
    /// A medical device sent much data to a peer outside its allow-list.
    DataExport,
    /// One source touched many devices or ports in a short time.
    Scan,
    /// DHCP offers from a server that is neither registered nor configured.
    RogueDhcpServer,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 11] = [
        Rule::NewDevice,
        Rule::ExternalConnection,
        Rule::PolicyViolation,
        Rule::RemoteAccess,
        Rule::CleartextMedicalData,
        Rule::NewService,
        Rule::IpMacConflict,
        Rule::ProtocolAnomaly,
        Rule::DataExport,
        Rule::Scan,
        Rule::RogueDhcpServer,
    ];

    /// The stable rule id.
    pub fn id(self) -> &'static str {
        match self {
            Rule::NewDevice => "NEW_DEVICE",
            Rule::ExternalConnection => "EXTERNAL_CONNECTION",
            Rule::PolicyViolation => "POLICY_VIOLATION",
            Rule::RemoteAccess => "REMOTE_ACCESS",
            Rule::CleartextMedicalData => "CLEARTEXT_MEDICAL_DATA",
            Rule::NewService => "NEW_SERVICE",
            Rule::IpMacConflict => "IP_MAC_CONFLICT",
            Rule::ProtocolAnomaly => "PROTOCOL_ANOMALY",
            Rule::DataExport => "DATA_EXPORT",
            Rule::Scan => "SCAN",
            Rule::RogueDhcpServer => "ROGUE_DHCP_SERVER",
        }
    }

    /// The rule called `id`.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The DB3205/T clause(s) the rule evidences.
    pub fn clause(self) -> &'static str {
        match self {
            // A.3 a): detect unauthorised devices joining; A.4 a): asset
            // and address management.
            Rule::NewDevice => "A.3 a), A.4 a)",
            // A.3 a): medical devices reaching outside networks.
            Rule::ExternalConnection => "A.3 a)",
            // A.3 b): fine-grained access control by protocol.
            Rule::PolicyViolation => "A.3 b)",
            // A.3 d), 6.4 a): audit of remote access and maintenance.
            Rule::RemoteAccess => "A.3 d), 6.4 a)",
            // A.2 c), d): medical data in transit encrypted.
            Rule::CleartextMedicalData => "A.2 c), A.2 d)",
            // A.4 b): ports, services and protocols watched dynamically.
            Rule::NewService => "A.4 b)",
            // A.4 a): anti-IP-theft, IP/MAC binding.
            Rule::IpMacConflict => "A.4 a)",
            // A.3 c): attacks carried by DICOM, HL7 and MQTT.
            Rule::ProtocolAnomaly => "A.3 c)",
            // 6.3 e): control of data export.
            Rule::DataExport => "6.3 e)",
            // A.3 c): network attacks (reconnaissance).
            Rule::Scan => "A.3 c)",
            // A.4 a): address management (a rogue server hands out addresses).
            Rule::RogueDhcpServer => "A.4 a)",
        }
    }

    /// Its severity unless the policy or the device's grade says otherwise;
    /// `None`: by the device's grade ([`Severity::for_grade`]).
    pub fn default_severity(self) -> Option<Severity> {
        match self {
            Rule::PolicyViolation => None,
            Rule::ExternalConnection
            | Rule::IpMacConflict
            | Rule::DataExport
            | Rule::RogueDhcpServer => Some(Severity::High),
            Rule::NewDevice
            | Rule::RemoteAccess
            | Rule::NewService
            | Rule::ProtocolAnomaly
            | Rule::Scan => Some(Severity::Medium),
            Rule::CleartextMedicalData => Some(Severity::Info),
        }
    }

    /// A short English title (the start of every message).
    pub fn title(self) -> &'static str {
        match self {
            Rule::NewDevice => "new device",
            Rule::ExternalConnection => "medical device talks to the internet",
            Rule::PolicyViolation => "outside the allow-list",
            Rule::RemoteAccess => "remote access",
            Rule::CleartextMedicalData => "medical data in clear",
            Rule::NewService => "new service",
            Rule::IpMacConflict => "IP/MAC conflict",
            Rule::ProtocolAnomaly => "protocol attack pattern",
            Rule::DataExport => "data export",
            Rule::Scan => "scan",
            Rule::RogueDhcpServer => "rogue DHCP server",
        }
    }

    /// Suricata-style signature id (EVE `alert.signature_id`): medtap's
    /// rules number from 9_300_001 in the order of [`Rule::ALL`], which
    /// never changes (new rules are appended).
    pub fn signature_id(self) -> u32 {
        9_300_001 + self as u32
    }
}

/// One end of an alert: the device it is about, or its peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Party {
    /// Its MAC, when on a local network.
    pub mac: Option<Mac>,
    /// Its address.
    pub ip: Option<IpAddr>,
    /// Its class id (registered or inferred).
    pub class: Option<String>,
    /// Its Table B.1 grade.
    pub grade: Option<u8>,
    /// Its name in the asset list.
    pub name: Option<String>,
}

/// The flow an alert came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTuple {
    /// Flow id.
    pub flow_id: u64,
    /// IP protocol number.
    pub proto: u8,
    /// Initiator address and port.
    pub src: (IpAddr, u16),
    /// Responder address and port.
    pub dest: (IpAddr, u16),
    /// Its application protocol, once known.
    pub app_proto: Option<AppProto>,
}

impl FlowTuple {
    /// A TCP flow 10.0.0.1:40000 → 10.0.0.2:104 with id `flow_id` (tests).
    #[doc(hidden)]
    pub fn test_tuple(flow_id: u64) -> FlowTuple {
        FlowTuple {
            flow_id,
            proto: 6,
            src: (IpAddr::from([10, 0, 0, 1]), 40000),
            dest: (IpAddr::from([10, 0, 0, 2]), 104),
            app_proto: None,
        }
    }
}

/// An alert as the sinks store it: created once, then written again (same
/// id) whenever its count, last-seen time or evidence grows.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    /// Its id (sensor-wide, increasing).
    pub alert_id: u64,
    /// First occurrence.
    pub first_seen: Micros,
    /// Last occurrence so far.
    pub last_seen: Micros,
    /// Occurrences folded into it.
    pub count: u64,
    /// The rule.
    pub rule: Rule,
    /// Its severity.
    pub severity: Severity,
    /// One line for humans (escaped when printed).
    pub message: String,
    /// What distinguishes it from other alerts of the rule between the
    /// same ends (e.g. "initiates tcp/104"): part of the folding key.
    pub detail: String,
    /// The device it is about.
    pub device: Party,
    /// The other end, if any.
    pub peer: Party,
    /// The first flow behind it, if it came from a flow.
    pub flow: Option<FlowTuple>,
    /// The facts behind it (never patient data).
    pub evidence: serde_json::Map<String, serde_json::Value>,
    /// Learning mode: recorded as an observation, not raised.
    pub observation: bool,
}

/// A grown alert's new count and last-seen time: what a folded repeat
/// writes (no heap data, unlike the whole record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertSeen {
    /// The alert.
    pub alert_id: u64,
    /// Occurrences folded into it so far.
    pub count: u64,
    /// Last occurrence so far.
    pub last_seen: Micros,
}

/// What the raiser hands on: a new or changed alert, or only its count.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertOut {
    /// The whole record (new, or its evidence changed).
    Record(Box<AlertRecord>),
    /// Only its count and last-seen time grew.
    Seen(AlertSeen),
}

/// What folds repeats into one alert: the same rule, device, peer and
/// detail (hashed) within the rule's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlertKey {
    /// The rule.
    pub rule: Rule,
    /// A learning-mode observation (never folded into an alert).
    pub observation: bool,
    /// The device: its MAC, else its address.
    pub device: EndKey,
    /// The peer: its MAC when local, else its address; none.
    pub peer: EndKey,
    /// Hash of the detail.
    pub detail: u64,
}

/// An end of an alert as its key sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndKey {
    /// No such end.
    None,
    /// A device by MAC.
    Mac(Mac),
    /// An address.
    Ip(IpAddr),
}

impl EndKey {
    /// The key of `p`: MAC first (a device keeps it across addresses).
    pub fn of(p: &Party) -> EndKey {
        EndKey::from_parts(p.mac, p.ip)
    }

    /// The key of an end with this MAC and address.
    pub fn from_parts(mac: Option<Mac>, ip: Option<IpAddr>) -> EndKey {
        match (mac, ip) {
            (Some(m), _) => EndKey::Mac(m),
            (None, Some(ip)) => EndKey::Ip(ip),
            (None, None) => EndKey::None,
        }
    }
}

/// The hash of a detail as formatted, computed while formatting (FNV-1a,
/// 64 bits), so a repeat is recognised without building its text: the
/// same value as for the finished string.
pub fn detail_hash(args: std::fmt::Arguments<'_>) -> u64 {
    struct Fnv(u64);
    impl std::fmt::Write for Fnv {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for b in s.bytes() {
                self.0 ^= u64::from(b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
            Ok(())
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    // Writing to the hasher cannot fail.
    let _ = std::fmt::write(&mut h, args);
    h.0
}

impl AlertRecord {
    /// Its folding key.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            rule: self.rule,
            observation: self.observation,
            device: EndKey::of(&self.device),
            peer: EndKey::of(&self.peer),
            detail: detail_hash(format_args!("{}", self.detail)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_stable_and_round_trip() {
        let mut ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
        for r in Rule::ALL {
            assert_eq!(Rule::from_id(r.id()), Some(r));
            assert!(!r.clause().is_empty());
        }
        // Stored and sent to SIEMs: a renumbering is a breaking change.
        assert_eq!(Rule::NewDevice.signature_id(), 9_300_001);
        assert_eq!(Rule::RogueDhcpServer.signature_id(), 9_300_011);
        assert_eq!(Rule::PolicyViolation.default_severity(), None);
        assert_eq!(
            Rule::CleartextMedicalData.default_severity(),
            Some(Severity::Info)
        );
    }

    #[test]
    fn key_folds_on_rule_ends_and_detail_only() {
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        let a = AlertRecord {
            alert_id: 1,
            first_seen: 0,
            last_seen: 0,
            count: 1,
            rule: Rule::PolicyViolation,
            severity: Severity::High,
            message: "m".into(),
            detail: "initiates tcp/104".into(),
            device: Party {
                mac: Some(mac),
                ip: Some("10.0.0.1".parse().unwrap()),
                ..Party::default()
            },
            peer: Party::default(),
            flow: None,
            evidence: Default::default(),
            observation: false,
        };
        let mut b = a.clone();
        b.alert_id = 2;
        b.count = 7;
        b.device.ip = Some("10.0.0.2".parse().unwrap());
        assert_eq!(a.key(), b.key(), "same device by MAC, other address");
        b.detail = "initiates tcp/105".into();
        assert_ne!(a.key(), b.key());
        // The hash while formatting is the hash of the text.
        let (role, port) = ("initiates", 105);
        assert_eq!(
            detail_hash(format_args!("{role} tcp/{port}")),
            b.key().detail
        );
        b.observation = true;
        b.detail = a.detail.clone();
        assert_ne!(a.key(), b.key(), "observations never fold into alerts");
    }
}
