//! Fingerprint rules (rules/fingerprints.toml, and a hospital's own file
//! in the rules directory): each rule names a device class, a weight and
//! an evidence line a person can read, and the signals that must all hold
//! for it to apply (registry vendor, DHCP names, the DICOM classes a device
//! sends and the services it provides, HL7 applications and profiles, MQTT
//! client ids and topics, ports served). [`super::classify`] adds up the
//! rules that apply to a device.
//!
//! Patterns are regular expressions (the `regex` crate: linear time, no
//! back-references), matched case-insensitively anywhere in the value
//! unless anchored with `^`/`$`.

use super::classes::Classes;
use super::facts::{DicomService, Fact, FactRef, Facts, PeerKind, TextKind, MAX_PEERS};
use super::VendorInfo;
use crate::config::span::Located;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;
use toml::Spanned;

/// Compiled size limit of one pattern: far above any sensible pattern,
/// far below what would slow the classifier.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;
/// Longest value quoted in an evidence line (characters).
const MAX_QUOTED: usize = 64;

/// The shipped rules/fingerprints.toml.
pub const BUILTIN: &str = include_str!("../../rules/fingerprints.toml");
/// Its name in messages.
pub const BUILTIN_FILE: &str = "rules/fingerprints.toml";

/// One condition of a rule.
#[derive(Clone, Debug)]
enum Cond {
    /// The registry organisation matches.
    Vendor(Regex),
    /// The registry organisation is (or is not) a medical maker.
    MedicalVendor(bool),
    /// A text fact of this kind matches.
    Text(TextKind, Regex),
    /// It sent one of these SOP classes of its own as C-STORE SCU.
    DicomSends(Vec<String>),
    /// It provided every one of these services as SCP.
    DicomProvides(Vec<DicomService>),
    /// It used every one of these services as SCU.
    DicomUses(Vec<DicomService>),
    /// At least this many distinct peers of a kind.
    Peers(PeerKind, usize),
    /// It serves one of these TCP ports.
    Serves(Vec<u16>),
    /// It answered as a DHCP server.
    DhcpServer,
    /// It forwards for others.
    Router,
}

/// One rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stable id.
    pub id: String,
    /// The class it supports.
    pub class: String,
    /// How strongly, in (0, 1].
    pub weight: f64,
    /// What a person reads.
    pub evidence: String,
    /// Its file.
    pub file: String,
    /// Its line.
    pub line: usize,
    conds: Vec<Cond>,
}

/// What a rule is matched against: one device.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// Its manufacturer by MAC prefix.
    pub vendor: Option<VendorInfo>,
    /// What it was seen doing.
    pub facts: &'a Facts,
}

impl Rule {
    /// When every condition holds, the evidence line with the values that
    /// matched (`sends CT images: 1.2.840.10008.5.1.4.1.1.2`).
    pub fn matches(&self, s: &Subject<'_>) -> Option<String> {
        let mut values: Vec<String> = Vec::new();
        for c in &self.conds {
            let v = cond_value(c, s)?;
            if !v.is_empty() && !values.contains(&v) {
                values.push(v);
            }
        }
        Some(match values.is_empty() {
            true => self.evidence.clone(),
            false => format!("{}: {}", self.evidence, values.join(", ")),
        })
    }
}

/// The value that makes `c` hold ("" when there is nothing to quote), or
/// `None` when it does not hold.
fn cond_value(c: &Cond, s: &Subject<'_>) -> Option<String> {
    let quote = |v: &str| {
        let cut: String = v.chars().take(MAX_QUOTED).collect();
        format!("{cut:?}")
    };
    match c {
        Cond::Vendor(re) => s
            .vendor
            .filter(|v| re.is_match(v.organization))
            .map(|v| quote(v.organization)),
        Cond::MedicalVendor(want) => {
            (s.vendor.is_some_and(|v| v.medical) == *want).then(String::new)
        }
        Cond::Text(kind, re) => s.facts.texts(*kind).find(|v| re.is_match(v)).map(quote),
        Cond::DicomSends(uids) => s
            .facts
            .sent_sop_classes()
            .find(|u| uids.iter().any(|w| w == u))
            .map(|u| {
                let name = crate::proto::dicom::uids::name(u);
                name.map_or_else(|| u.to_string(), |n| format!("{n} ({u})"))
            }),
        Cond::DicomProvides(svcs) => svcs
            .iter()
            .all(|v| s.facts.has(&FactRef::DicomProvides(*v)))
            .then(String::new),
        Cond::DicomUses(svcs) => svcs
            .iter()
            .all(|v| s.facts.has(&FactRef::DicomUses(*v)))
            .then(String::new),
        Cond::Peers(kind, min) => {
            let n = s.facts.peers(*kind);
            (n >= *min).then(|| format!("{n} peers"))
        }
        Cond::Serves(ports) => ports
            .iter()
            .find(|p| s.facts.has(&FactRef::Serves(**p)))
            .map(|p| format!("TCP {p}")),
        Cond::DhcpServer => s.facts.has(&FactRef::DhcpServer).then(String::new),
        Cond::Router => s.facts.has(&FactRef::Router).then(String::new),
    }
}

/// The rule set.
#[derive(Clone, Debug, Default)]
pub struct Fingerprints {
    rules: Vec<Rule>,
    reads: Reads,
}

/// Which facts any rule reads, so that a fact no rule reads (a port no
/// rule names, say) costs the inventory no lookup and no reclassification.
#[derive(Clone, Debug, Default)]
struct Reads {
    /// Ports some `serves` names, sorted.
    ports: Vec<u16>,
    /// Bit per [`TextKind`].
    texts: u32,
    /// Bit per [`PeerKind`].
    peers: u32,
    /// Bit per [`DicomService`], used and provided.
    uses: u32,
    provides: u32,
    dicom_sends: bool,
    dhcp_server: bool,
    router: bool,
}

impl Reads {
    fn of(rules: &[Rule]) -> Reads {
        let mut r = Reads::default();
        for c in rules.iter().flat_map(|rule| &rule.conds) {
            match c {
                Cond::Text(k, _) => r.texts |= 1 << *k as u32,
                Cond::Peers(k, _) => r.peers |= 1 << *k as u32,
                Cond::DicomUses(list) => list.iter().for_each(|s| r.uses |= 1 << *s as u32),
                Cond::DicomProvides(list) => list.iter().for_each(|s| r.provides |= 1 << *s as u32),
                Cond::DicomSends(_) => r.dicom_sends = true,
                Cond::Serves(ports) => r.ports.extend(ports),
                Cond::DhcpServer => r.dhcp_server = true,
                Cond::Router => r.router = true,
                Cond::Vendor(_) | Cond::MedicalVendor(_) => {}
            }
        }
        r.ports.sort_unstable();
        r.ports.dedup();
        r
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

type Pattern = Option<Spanned<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    class: Spanned<String>,
    weight: Spanned<f64>,
    evidence: String,
    vendor: Pattern,
    medical_vendor: Option<bool>,
    hostname: Pattern,
    dhcp_vendor_class: Pattern,
    dhcp_fingerprint: Pattern,
    dicom_ae: Pattern,
    dicom_sends: Option<Vec<String>>,
    dicom_provides: Option<Spanned<Vec<String>>>,
    dicom_uses: Option<Spanned<Vec<String>>>,
    dicom_store_peers: Option<Spanned<i64>>,
    dicom_implementation: Pattern,
    dicom_version: Pattern,
    hl7_app: Pattern,
    hl7_facility: Pattern,
    hl7_profile: Pattern,
    hl7_sends: Pattern,
    hl7_clients: Option<Spanned<i64>>,
    mqtt_client_id: Pattern,
    mqtt_topic: Pattern,
    mqtt_clients: Option<Spanned<i64>>,
    serves: Option<Spanned<Vec<i64>>>,
    dhcp_server: Option<bool>,
    router: Option<bool>,
}

/// A problem: (offset of the value, key, what).
type Problem = (usize, &'static str, String);

impl Fingerprints {
    /// The shipped rules, against the shipped classes, parsed once.
    pub fn builtin() -> &'static Fingerprints {
        static RULES: OnceLock<Fingerprints> = OnceLock::new();
        // The shipped file is checked by the tests: it cannot fail here.
        RULES.get_or_init(|| {
            Fingerprints::parse(BUILTIN, BUILTIN_FILE, Classes::builtin()).unwrap_or_default()
        })
    }

    /// Parses and checks `text` (`file` names it in errors); every class a
    /// rule names must be in `classes`. Every problem is reported.
    pub fn parse(text: &str, file: &str, classes: &Classes) -> Result<Fingerprints, Vec<Located>> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| vec![Located::from_toml(file, text, &e)])?;
        let mut out = Fingerprints::default();
        let mut problems = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, r) in raw.rule.into_iter().enumerate() {
            let start = r.span().start;
            let line = crate::config::span::line_at(text, start);
            let r = r.into_inner();
            let at = |(offset, key, problem): Problem| {
                let key = Some(format!("rule[{i}].{key}"));
                Located::at(file, text, offset, key, problem)
            };
            let id = r.id.get_ref().clone();
            if let Some(first) = seen.insert(id.clone(), line) {
                let problem = format!("duplicate rule id {id:?} (first at line {first})");
                problems.push(at((r.id.span().start, "id", problem)));
                continue;
            }
            match rule(r, start, classes) {
                Ok(conds) => out.rules.push(Rule {
                    line,
                    file: file.to_string(),
                    ..conds
                }),
                Err(list) => problems.extend(list.into_iter().map(|p| {
                    let (o, k, m) = p;
                    at((o, k, format!("rule {id:?}: {m}")))
                })),
            }
        }
        match problems.is_empty() {
            true => Ok(Fingerprints::of(out.rules)),
            false => Err(problems),
        }
    }

    /// These rules followed by `more` (a hospital's own).
    pub fn extended(&self, more: Fingerprints) -> Fingerprints {
        let mut rules = self.rules.clone();
        rules.extend(more.rules);
        Fingerprints::of(rules)
    }

    fn of(rules: Vec<Rule>) -> Fingerprints {
        let reads = Reads::of(&rules);
        Fingerprints { rules, reads }
    }

    /// Whether any rule reads `f`: a fact no rule reads cannot change a
    /// classification. Constant time (a port: a binary search).
    pub fn reads(&self, f: &FactRef<'_>) -> bool {
        let r = &self.reads;
        match f {
            Fact::Text(k, _) => r.texts & (1 << *k as u32) != 0,
            Fact::Peer(k, _) => r.peers & (1 << *k as u32) != 0,
            Fact::DicomUses(s) => r.uses & (1 << *s as u32) != 0,
            Fact::DicomProvides(s) => r.provides & (1 << *s as u32) != 0,
            Fact::DicomSent { .. } | Fact::DicomMoveAsked(_) => r.dicom_sends,
            Fact::Serves(p) => r.ports.binary_search(p).is_ok(),
            Fact::DhcpServer => r.dhcp_server,
            Fact::Router => r.router,
        }
    }

    /// Every rule, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Checks one rule: its conditions, or every problem found.
fn rule(r: RawRule, start: usize, classes: &Classes) -> Result<Rule, Vec<Problem>> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut conds = Vec::new();
    if classes.get(r.class.get_ref()).is_none() {
        let problem = format!("unknown class {:?}", r.class.get_ref());
        problems.push((r.class.span().start, "class", problem));
    }
    let w = *r.weight.get_ref();
    if !(w > 0.0 && w <= 1.0) {
        let problem = format!("weight {w} is not in (0, 1]");
        problems.push((r.weight.span().start, "weight", problem));
    }
    if r.evidence.trim().is_empty() {
        problems.push((start, "evidence", "needs an evidence line".into()));
    }
    let mut pattern = |p: Pattern, key: &'static str, make: &dyn Fn(Regex) -> Cond| {
        let Some(p) = p else { return };
        match RegexBuilder::new(p.get_ref())
            .case_insensitive(true)
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
        {
            Ok(re) => conds.push(make(re)),
            Err(e) => {
                let msg = e.to_string().replace('\n', " ");
                let problem = format!("bad pattern {:?}: {msg}", p.get_ref());
                problems.push((p.span().start, key, problem));
            }
        }
    };
    pattern(r.vendor, "vendor", &Cond::Vendor);
    let texts = [
        (r.hostname, "hostname", TextKind::Hostname),
        (
            r.dhcp_vendor_class,
            "dhcp_vendor_class",
            TextKind::DhcpVendorClass,
        ),
        (
            r.dhcp_fingerprint,
            "dhcp_fingerprint",
            TextKind::DhcpFingerprint,
        ),
        (r.dicom_ae, "dicom_ae", TextKind::DicomAe),
        (
            r.dicom_implementation,
            "dicom_implementation",
            TextKind::DicomImplementation,
        ),
        (r.dicom_version, "dicom_version", TextKind::DicomVersion),
        (r.hl7_app, "hl7_app", TextKind::Hl7App),
        (r.hl7_facility, "hl7_facility", TextKind::Hl7Facility),
        (r.hl7_profile, "hl7_profile", TextKind::Hl7Profile),
        (r.hl7_sends, "hl7_sends", TextKind::Hl7Sends),
        (r.mqtt_client_id, "mqtt_client_id", TextKind::MqttClientId),
        (r.mqtt_topic, "mqtt_topic", TextKind::MqttTopic),
    ];
    for (p, key, kind) in texts {
        pattern(p, key, &move |re| Cond::Text(kind, re));
    }
    if let Some(m) = r.medical_vendor {
        conds.push(Cond::MedicalVendor(m));
    }
    if let Some(uids) = r.dicom_sends {
        conds.push(Cond::DicomSends(uids));
    }
    for (list, key, make) in [
        (
            r.dicom_provides,
            "dicom_provides",
            Cond::DicomProvides as fn(_) -> Cond,
        ),
        (r.dicom_uses, "dicom_uses", Cond::DicomUses),
    ] {
        let Some(list) = list else { continue };
        let mut svcs = Vec::new();
        for name in list.get_ref() {
            match DicomService::from_name(name) {
                Some(s) => svcs.push(s),
                None => {
                    let all: Vec<&str> = DicomService::ALL.iter().map(|s| s.name()).collect();
                    let problem =
                        format!("unknown DICOM service {name:?} (one of {})", all.join(", "));
                    problems.push((list.span().start, key, problem));
                }
            }
        }
        conds.push(make(svcs));
    }
    for (min, key, kind) in [
        (
            r.dicom_store_peers,
            "dicom_store_peers",
            PeerKind::DicomStoredBy,
        ),
        (r.hl7_clients, "hl7_clients", PeerKind::Hl7Client),
        (r.mqtt_clients, "mqtt_clients", PeerKind::MqttClient),
    ] {
        let Some(min) = min else { continue };
        match usize::try_from(*min.get_ref()) {
            Ok(n) if (1..=MAX_PEERS).contains(&n) => conds.push(Cond::Peers(kind, n)),
            _ => {
                let problem = format!("{} is not a peer count in 1..={MAX_PEERS}", min.get_ref());
                problems.push((min.span().start, key, problem));
            }
        }
    }
    if let Some(ports) = r.serves {
        let mut list = Vec::new();
        for p in ports.get_ref() {
            match u16::try_from(*p) {
                Ok(p) if p > 0 => list.push(p),
                _ => {
                    let problem = format!("{p} is not a TCP port");
                    problems.push((ports.span().start, "serves", problem));
                }
            }
        }
        conds.push(Cond::Serves(list));
    }
    if r.dhcp_server == Some(true) {
        conds.push(Cond::DhcpServer);
    }
    if r.router == Some(true) {
        conds.push(Cond::Router);
    }
    if conds.is_empty() && problems.is_empty() {
        problems.push((
            start,
            "id",
            "has no condition: it would match every device".into(),
        ));
    }
    match problems.is_empty() {
        true => Ok(Rule {
            id: r.id.into_inner(),
            class: r.class.into_inner(),
            weight: w,
            evidence: r.evidence,
            file: String::new(),
            line: 0,
            conds,
        }),
        false => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::facts::Fact;

    fn parse(text: &str) -> Result<Fingerprints, Vec<String>> {
        Fingerprints::parse(text, "f.toml", Classes::builtin())
            .map_err(|e| e.iter().map(|l| l.to_string()).collect())
    }

    #[test]
    fn the_shipped_rules_load() {
        let f = Fingerprints::parse(BUILTIN, BUILTIN_FILE, Classes::builtin()).unwrap();
        assert!(f.len() >= 40, "{}", f.len());
        assert_eq!(Fingerprints::builtin().len(), f.len());
    }

    #[test]
    fn problems_are_named_with_file_line_and_key() {
        let text = "[[rule]]\nid = \"a\"\nclass = \"ct_scannr\"\nweight = 0.5\nevidence = \"x\"\nhostname = \"ct\"\n\
                    [[rule]]\nid = \"b\"\nclass = \"pacs\"\nweight = 1.5\nevidence = \"x\"\nhostname = \"(\"\n\
                    [[rule]]\nid = \"a\"\nclass = \"pacs\"\nweight = 0.5\nevidence = \"x\"\nrouter = true\n\
                    [[rule]]\nid = \"c\"\nclass = \"pacs\"\nweight = 0.5\nevidence = \"x\"\ndicom_provides = [\"storage\", \"archive\"]\nhl7_clients = 0\n\
                    [[rule]]\nid = \"d\"\nclass = \"pacs\"\nweight = 0.5\nevidence = \"x\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.len(), 7, "{e:#?}");
        assert!(
            e[0].starts_with("f.toml:3: `rule[0].class`: rule \"a\": unknown class \"ct_scannr\""),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("f.toml:10: `rule[1].weight`: rule \"b\": weight 1.5"),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("f.toml:12: `rule[1].hostname`: rule \"b\": bad pattern \"(\""),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with("f.toml:14: `rule[2].id`: duplicate rule id \"a\" (first at line 1)"),
            "{}",
            e[3]
        );
        assert!(
            e[4].contains(
                "`rule[3].dicom_provides`: rule \"c\": unknown DICOM service \"archive\""
            ),
            "{}",
            e[4]
        );
        assert!(
            e[5].contains("`rule[3].hl7_clients`: rule \"c\": 0 is not a peer count"),
            "{}",
            e[5]
        );
        assert!(
            e[6].contains("`rule[4].id`: rule \"d\": has no condition"),
            "{}",
            e[6]
        );
    }

    #[test]
    fn all_conditions_must_hold_and_the_evidence_quotes_what_matched() {
        let text = "[[rule]]\nid = \"pump\"\nclass = \"infusion_pump\"\nweight = 0.6\n\
                    evidence = \"DHCP names a pump\"\nhostname = \"^infusion-pump\"\nmedical_vendor = true\n";
        let f = parse(text).unwrap();
        let r = f.iter().next().unwrap();
        let mut facts = Facts::default();
        facts.add(&Fact::text(TextKind::Hostname, "Infusion-Pump-07"));
        let braun = VendorInfo {
            organization: "B.Braun Melsungen AG",
            medical: true,
        };
        let dell = VendorInfo {
            organization: "Dell Inc.",
            medical: false,
        };
        let subject = |vendor| Subject {
            vendor,
            facts: &facts,
        };
        assert_eq!(
            r.matches(&subject(Some(braun))).as_deref(),
            Some("DHCP names a pump: \"Infusion-Pump-07\"")
        );
        assert_eq!(r.matches(&subject(Some(dell))), None);
        assert_eq!(r.matches(&subject(None)), None);
    }

    #[test]
    fn hostile_values_are_quoted_escaped_and_cut_in_evidence() {
        let f = Fingerprints::builtin();
        let mut facts = Facts::default();
        let hostile = format!("bed-4\u{1b}[2J\r\n\u{202e}{}", "x".repeat(300));
        facts.add(&FactRef::Text(TextKind::MqttClientId, hostile.as_str()));
        let s = Subject {
            vendor: None,
            facts: &facts,
        };
        let line = f
            .iter()
            .find_map(|r| r.matches(&s))
            .expect("a monitor-like client id matches");
        assert!(
            line.starts_with(
                "MQTT client id names a patient monitor: \"bed-4\\u{1b}[2J\\r\\n\\u{202e}"
            ),
            "{line}"
        );
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{line:?}"
        );
        assert!(line.len() < 200, "{}", line.len());
    }

    #[test]
    fn facts_no_rule_reads_are_known_as_such() {
        let f = Fingerprints::builtin();
        assert!(f.reads(&FactRef::Serves(9100)));
        assert!(!f.reads(&FactRef::Serves(12345)));
        assert!(f.reads(&FactRef::Text(TextKind::Hostname, "x")));
        assert!(!f.reads(&FactRef::Text(TextKind::DicomImplementation, "1.2")));
        assert!(f.reads(&FactRef::DicomProvides(DicomService::Worklist)));
        assert!(f.reads(&FactRef::Router));
        // A hospital's rule makes its port read.
        let more = Fingerprints::parse(
            "[[rule]]\nid = \"h\"\nclass = \"workstation\"\nweight = 0.5\nevidence = \"e\"\nserves = [12345]\n",
            "h.toml",
            Classes::builtin(),
        )
        .unwrap();
        assert!(f.extended(more).reads(&FactRef::Serves(12345)));
    }
}
