//! What a device was seen doing that says what it is: the facts the
//! fingerprint rules ([`super::fingerprint`]) are matched against. Facts
//! come from events (a DHCP message, a finished DICOM association, an HL7
//! message, a finished MQTT session or flow), never from single packets;
//! each is kept once per device, within fixed bounds, so a busy device
//! costs no more than a quiet one and a hostile one cannot grow the table.

use std::net::IpAddr;

/// Longest text kept in a fact (bytes; whole characters).
pub const MAX_FACT_TEXT: usize = 128;
/// Most facts of one kind kept per device: the first ones seen stay.
pub const MAX_PER_KIND: usize = 8;
/// Most distinct peers counted for one "many peers" fact (a PACS that
/// receives from many modalities, an engine, a broker): enough for any
/// threshold a rule may ask (see [`super::fingerprint`]).
pub const MAX_PEERS: usize = 16;

/// A DICOM service a device used (as SCU) or provided (as SCP), from the
/// DIMSE operations of its associations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DicomService {
    /// C-STORE: storage.
    Storage,
    /// C-FIND on a Patient/Study Root query model.
    QueryFind,
    /// C-MOVE.
    QueryMove,
    /// C-GET.
    QueryGet,
    /// C-FIND on the Modality Worklist model (PS3.4 K).
    Worklist,
    /// N-ACTION on Storage Commitment Push (PS3.4 J).
    StorageCommitment,
    /// N-CREATE/N-SET on Modality Performed Procedure Step (PS3.4 F).
    Mpps,
    /// Print management (PS3.4 H).
    Print,
}

impl DicomService {
    /// Every service, in the order of [`DicomService::name`].
    pub const ALL: [DicomService; 8] = [
        DicomService::Storage,
        DicomService::QueryFind,
        DicomService::QueryMove,
        DicomService::QueryGet,
        DicomService::Worklist,
        DicomService::StorageCommitment,
        DicomService::Mpps,
        DicomService::Print,
    ];

    /// Stable name used in the fingerprint rules.
    pub fn name(self) -> &'static str {
        match self {
            DicomService::Storage => "storage",
            DicomService::QueryFind => "query",
            DicomService::QueryMove => "move",
            DicomService::QueryGet => "get",
            DicomService::Worklist => "worklist",
            DicomService::StorageCommitment => "storage_commitment",
            DicomService::Mpps => "mpps",
            DicomService::Print => "print",
        }
    }

    /// The service named `name`.
    pub fn from_name(name: &str) -> Option<DicomService> {
        DicomService::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The service a DIMSE request serves, from its command and SOP class
    /// (PS3.4 annexes; verification and unknown classes serve none).
    pub fn of(command: &str, sop_class: &str) -> Option<DicomService> {
        // PS3.4 C.6 query/retrieve information models; K.6 worklist.
        const WORKLIST: &str = "1.2.840.10008.5.1.4.31";
        const QR_ROOTS: [&str; 3] = [
            "1.2.840.10008.5.1.4.1.2.1.",
            "1.2.840.10008.5.1.4.1.2.2.",
            "1.2.840.10008.5.1.4.1.2.3.",
        ];
        let qr = QR_ROOTS.iter().any(|r| sop_class.starts_with(r));
        Some(match command {
            "C-STORE" => DicomService::Storage,
            "C-FIND" if sop_class == WORKLIST => DicomService::Worklist,
            "C-FIND" if qr => DicomService::QueryFind,
            "C-MOVE" => DicomService::QueryMove,
            "C-GET" => DicomService::QueryGet,
            "N-ACTION" if sop_class == "1.2.840.10008.1.20.1" => DicomService::StorageCommitment,
            "N-CREATE" | "N-SET" if sop_class == "1.2.840.10008.3.1.2.3.3" => DicomService::Mpps,
            // Basic Grayscale/Color Print Management Meta SOP classes and
            // their film session/box classes (PS3.4 H.3).
            "N-CREATE" | "N-SET" | "N-ACTION" if sop_class.starts_with("1.2.840.10008.5.1.1.") => {
                DicomService::Print
            }
            _ => return None,
        })
    }
}

/// Kinds of text fact (one bounded list each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextKind {
    /// DHCP option 12.
    Hostname,
    /// DHCP option 60.
    DhcpVendorClass,
    /// DHCP option 55 as "1,3,6".
    DhcpFingerprint,
    /// A DICOM AE title it used.
    DicomAe,
    /// A DICOM implementation class UID it announced.
    DicomImplementation,
    /// A DICOM implementation version name.
    DicomVersion,
    /// HL7 MSH-3 of a message it sent.
    Hl7App,
    /// HL7 MSH-4 of a message it sent.
    Hl7Facility,
    /// HL7 MSH-21 of a message it sent.
    Hl7Profile,
    /// HL7 MSH-9 of a message it originated (acknowledgements left out).
    Hl7Sends,
    /// Its MQTT client id.
    MqttClientId,
    /// A topic it published to.
    MqttTopic,
}

/// Kinds of peer-count fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// Peers that stored DICOM objects to it (C-STORE SCU → it).
    DicomStoredBy,
    /// MLLP clients that sent it HL7 messages.
    Hl7Client,
    /// MQTT clients that connected to it.
    MqttClient,
}

/// One fact; `S` is its text: `Box<str>` when kept (the default),
/// `&str` ([`FactRef`]) as read from a record, so that a fact already
/// known costs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fact<S = Box<str>> {
    /// A text it used (names, classes, topics).
    Text(TextKind, S),
    /// It sent a DICOM object of `sop_class` as C-STORE SCU to `to_ae`.
    DicomSent {
        /// SOP class UID.
        sop_class: S,
        /// The called AE title (trimmed).
        to_ae: S,
    },
    /// It was asked (as C-MOVE SCP) to move objects to this AE: its
    /// C-STOREs to that AE are the move's sub-operations, not objects it
    /// made.
    DicomMoveAsked(S),
    /// It used a DICOM service as SCU.
    DicomUses(DicomService),
    /// It provided a DICOM service as SCP (answered a request).
    DicomProvides(DicomService),
    /// A peer of a kind (counted, never shown).
    Peer(PeerKind, IpAddr),
    /// It accepted a TCP connection on this port and answered.
    Serves(u16),
    /// It answered as a DHCP server.
    DhcpServer,
    /// It forwards for other hosts (recognised as a router).
    Router,
}

/// A fact as read from a record, borrowing its text.
pub type FactRef<'a> = Fact<&'a str>;

impl Fact {
    /// A kept text fact, cut to [`MAX_FACT_TEXT`] bytes (whole characters).
    pub fn text(kind: TextKind, value: &str) -> Fact {
        Fact::Text(kind, bounded(value))
    }
}

impl<S> Fact<S> {
    /// The same fact with its text mapped by `f`.
    pub fn map_text<'s, T>(&'s self, f: impl Fn(&'s S) -> T) -> Fact<T> {
        match self {
            Fact::Text(k, v) => Fact::Text(*k, f(v)),
            Fact::DicomSent { sop_class, to_ae } => Fact::DicomSent {
                sop_class: f(sop_class),
                to_ae: f(to_ae),
            },
            Fact::DicomMoveAsked(ae) => Fact::DicomMoveAsked(f(ae)),
            Fact::DicomUses(s) => Fact::DicomUses(*s),
            Fact::DicomProvides(s) => Fact::DicomProvides(*s),
            Fact::Peer(k, ip) => Fact::Peer(*k, *ip),
            Fact::Serves(p) => Fact::Serves(*p),
            Fact::DhcpServer => Fact::DhcpServer,
            Fact::Router => Fact::Router,
        }
    }

    /// Whether `other` counts against the same bound as this fact.
    fn same_kind<T>(&self, other: &Fact<T>) -> bool {
        match (self, other) {
            (Fact::Text(a, _), Fact::Text(b, _)) => a == b,
            (Fact::Peer(a, _), Fact::Peer(b, _)) => a == b,
            _ => {
                std::mem::discriminant(&self.map_text(|_| ()))
                    == std::mem::discriminant(&other.map_text(|_| ()))
            }
        }
    }

    /// The kind's bound: how many facts like this one a device keeps.
    fn limit(&self) -> usize {
        match self {
            Fact::Peer(..) => MAX_PEERS,
            Fact::DicomSent { .. } | Fact::Serves(_) => 2 * MAX_PER_KIND,
            _ => MAX_PER_KIND,
        }
    }
}

impl<S: AsRef<str>> Fact<S> {
    /// The same fact borrowing its text, cut as it would be kept.
    pub fn view(&self) -> FactRef<'_> {
        self.map_text(|s| cut(s.as_ref()))
    }

    /// The fact as kept (text cut to [`MAX_FACT_TEXT`] bytes).
    pub fn kept(&self) -> Fact {
        self.view().map_text(|s| Box::from(*s))
    }
}

/// `value` cut to [`MAX_FACT_TEXT`] bytes on a character boundary.
fn cut(value: &str) -> &str {
    let mut end = value.len().min(MAX_FACT_TEXT);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Cuts `value` to [`MAX_FACT_TEXT`] bytes on a character boundary.
pub fn bounded(value: &str) -> Box<str> {
    cut(value).into()
}

/// The facts one record gives one side, gathered without allocating (a
/// fixed buffer, repeats dropped): a DICOM association with many
/// operations gives each service and SOP class once.
#[derive(Debug)]
pub struct FactBuf<'a> {
    facts: [FactRef<'a>; FACT_BUF],
    len: usize,
}

/// Room in a [`FactBuf`]; facts beyond it are dropped (each kind is
/// bounded per device far below this anyway).
const FACT_BUF: usize = 48;

impl Default for FactBuf<'_> {
    fn default() -> Self {
        FactBuf {
            // Placeholders past `len`, never read.
            facts: [Fact::Router; FACT_BUF],
            len: 0,
        }
    }
}

impl<'a> FactBuf<'a> {
    /// Adds `f` unless it is there already or the buffer is full.
    pub fn push(&mut self, f: FactRef<'a>) {
        let f = f.view_owned();
        if self.len < FACT_BUF && !self.facts().contains(&f) {
            self.facts[self.len] = f;
            self.len += 1;
        }
    }

    /// Adds a text fact of `kind` when `value` is there and not empty.
    pub fn text(&mut self, kind: TextKind, value: Option<&'a str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.push(Fact::Text(kind, v));
        }
    }

    /// The facts gathered.
    pub fn facts(&self) -> &[FactRef<'a>] {
        &self.facts[..self.len]
    }
}

impl<'a> FactRef<'a> {
    /// The fact with its text cut as it would be kept, keeping the
    /// borrow's lifetime.
    fn view_owned(self) -> FactRef<'a> {
        self.map_text(|s| cut(s))
    }
}

/// One device's facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    facts: Vec<Fact>,
    /// Facts not kept because their kind's bound was reached.
    dropped: u32,
}

impl Facts {
    /// Adds `fact` (kept with its text cut); false when it was already
    /// known or its kind is full (nothing new to classify on). A known
    /// fact costs no allocation.
    pub fn add<S: AsRef<str>>(&mut self, fact: &Fact<S>) -> bool {
        let view = fact.view();
        if self.facts.iter().any(|f| f.view() == view) {
            return false;
        }
        let same = self.facts.iter().filter(|f| f.same_kind(fact)).count();
        if same >= fact.limit() {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        self.facts.push(fact.kept());
        true
    }

    /// Every fact, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = &Fact> {
        self.facts.iter()
    }

    /// The texts of one kind.
    pub fn texts(&self, kind: TextKind) -> impl Iterator<Item = &str> {
        self.facts.iter().filter_map(move |f| match f {
            Fact::Text(k, v) if *k == kind => Some(&**v),
            _ => None,
        })
    }

    /// Distinct peers of one kind (at most [`MAX_PEERS`]).
    pub fn peers(&self, kind: PeerKind) -> usize {
        self.facts
            .iter()
            .filter(|f| matches!(f, Fact::Peer(k, _) if *k == kind))
            .count()
    }

    /// Whether the fact is known.
    pub fn has<S: AsRef<str>>(&self, fact: &Fact<S>) -> bool {
        let view = fact.view();
        self.facts.iter().any(|f| f.view() == view)
    }

    /// SOP classes it sent as C-STORE SCU of its own: leaving out what it
    /// sent to an AE it was asked to move objects to (C-MOVE
    /// sub-operations of an archive, PS3.4 C.4.2.3).
    pub fn sent_sop_classes(&self) -> impl Iterator<Item = &str> {
        self.facts.iter().filter_map(|f| match f {
            Fact::DicomSent { sop_class, to_ae } if !self.has(&Fact::DicomMoveAsked(&**to_ae)) => {
                Some(&**sop_class)
            }
            _ => None,
        })
    }

    /// Facts not kept because their kind was full.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_kept_once_and_bounded_per_kind() {
        let mut f = Facts::default();
        assert!(f.add(&Fact::text(TextKind::Hostname, "a")));
        assert!(!f.add(&Fact::Text(TextKind::Hostname, "a")));
        for i in 1..20 {
            f.add(&Fact::Text(TextKind::Hostname, format!("h{i}").as_str()));
        }
        assert_eq!(f.texts(TextKind::Hostname).count(), MAX_PER_KIND);
        assert_eq!(f.dropped(), 20 - MAX_PER_KIND as u32);
        // Another kind has its own bound.
        assert!(f.add(&Fact::text(TextKind::DicomAe, "PACS")));
        for i in 0..40u8 {
            f.add(&FactRef::Peer(
                PeerKind::Hl7Client,
                IpAddr::from([10, 0, 0, i]),
            ));
        }
        assert_eq!(f.peers(PeerKind::Hl7Client), MAX_PEERS);
        assert_eq!(f.peers(PeerKind::MqttClient), 0);
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let long = "é".repeat(100);
        let Fact::Text(_, v) = Fact::text(TextKind::MqttTopic, &long) else {
            unreachable!()
        };
        assert!(v.len() <= MAX_FACT_TEXT && v.len() >= MAX_FACT_TEXT - 1);
        assert!(v.chars().all(|c| c == 'é'));
        // The long text read again is the same fact.
        let mut f = Facts::default();
        assert!(f.add(&Fact::Text(TextKind::MqttTopic, long.as_str())));
        assert!(!f.add(&Fact::Text(TextKind::MqttTopic, long.as_str())));
        // A buffer keeps each fact once.
        let mut b = FactBuf::default();
        b.push(Fact::Text(TextKind::MqttTopic, long.as_str()));
        b.push(Fact::Text(TextKind::MqttTopic, &long[..130]));
        b.push(FactRef::Serves(22));
        assert_eq!(b.facts().len(), 2);
    }

    #[test]
    fn move_sub_operations_are_not_the_archives_own_objects() {
        let mut f = Facts::default();
        let sent = |sop: &'static str, ae: &'static str| FactRef::DicomSent {
            sop_class: sop,
            to_ae: ae,
        };
        f.add(&sent("1.2.840.10008.5.1.4.1.1.2", "WS1"));
        f.add(&sent("1.2.840.10008.5.1.4.1.1.4", "OTHER"));
        assert_eq!(f.sent_sop_classes().count(), 2);
        // The C-MOVE record may come after the sub-association's.
        f.add(&FactRef::DicomMoveAsked("WS1"));
        let own: Vec<&str> = f.sent_sop_classes().collect();
        assert_eq!(own, ["1.2.840.10008.5.1.4.1.1.4"]);
    }

    #[test]
    fn dicom_services_by_command_and_sop_class() {
        let s = DicomService::of;
        assert_eq!(
            s("C-FIND", "1.2.840.10008.5.1.4.31"),
            Some(DicomService::Worklist)
        );
        assert_eq!(
            s("C-FIND", "1.2.840.10008.5.1.4.1.2.2.1"),
            Some(DicomService::QueryFind)
        );
        assert_eq!(
            s("C-MOVE", "1.2.840.10008.5.1.4.1.2.2.2"),
            Some(DicomService::QueryMove)
        );
        assert_eq!(
            s("N-ACTION", "1.2.840.10008.1.20.1"),
            Some(DicomService::StorageCommitment)
        );
        assert_eq!(s("C-ECHO", "1.2.840.10008.1.1"), None);
        assert_eq!(s("C-FIND", "1.2.3"), None);
        for svc in DicomService::ALL {
            assert_eq!(DicomService::from_name(svc.name()), Some(svc));
        }
    }
}
