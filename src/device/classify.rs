//! What a device is: the fingerprint rules that hold for it, added up per
//! class, give each class a confidence (0–1); the best-supported class
//! wins, with the evidence behind it and a runner-up when one is close.
//! A class the hospital's asset list gives always wins (the evidence is
//! still shown). The grade follows from the class's Appendix B attributes
//! ([`super::grade`]), or the asset list's for that one device.
//!
//! Confidence: rules are independent witnesses, each right with
//! probability `weight`, so a class's confidence is `1 − Π(1 − weight)`
//! over its rules that hold (two hints of 0.4 give 0.64; a decisive 0.9
//! stays decisive). Below [`MIN_CONFIDENCE`] the device stays `unknown`.

use super::classes::Classes;
use super::facts::Facts;
use super::fingerprint::{Fingerprints, Subject};
use super::grade::{Attributes, Grade};
use super::{DeviceKey, VendorInfo};
use crate::net::Mac;
use crate::time::Micros;
use std::collections::HashMap;
use std::net::IpAddr;

/// Least confidence for a class to be given.
pub const MIN_CONFIDENCE: f64 = 0.5;
/// A runner-up this close to the winner (or closer) is shown.
pub const RUNNER_UP_MARGIN: f64 = 0.3;
/// Class id of a device nothing identifies.
pub const UNKNOWN: &str = "unknown";
/// Most evidence lines kept for a device.
pub const MAX_EVIDENCE: usize = 12;

/// Where a device's class came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassSource {
    /// Inferred from its traffic by the fingerprint rules.
    Fingerprint,
    /// The hospital's asset list.
    Asset,
}

impl ClassSource {
    /// Stable name used in the database and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ClassSource::Fingerprint => "fingerprint",
            ClassSource::Asset => "asset",
        }
    }
}

/// Where a device's Appendix B attributes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BasisSource {
    /// The shipped class table.
    Class,
    /// The asset list, for this one device.
    Asset,
    /// The hospital's own class file, for the whole class.
    Override,
}

impl BasisSource {
    /// Stable name used in the database and JSON (`grade_basis.source`).
    pub fn name(self) -> &'static str {
        match self {
            BasisSource::Class => "class",
            BasisSource::Asset => "asset",
            BasisSource::Override => "override",
        }
    }
}

/// The attributes a grade was computed from, and where they came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradeBasis {
    /// Contact, usage form and level.
    pub attributes: Attributes,
    /// Their source.
    pub source: BasisSource,
}

/// What the asset list says about one device's class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetClass {
    /// Its class id (checked against the class table at load).
    pub class: Option<String>,
    /// Attributes that replace the class's for this device (checked at
    /// load: a "—" cell is rejected there).
    pub attributes: Option<Attributes>,
}

/// The asset list's classes and attributes, by device.
#[derive(Clone, Debug, Default)]
pub struct AssetClasses {
    by_mac: HashMap<Mac, AssetClass>,
    /// Entries that give an address and no MAC.
    by_ip: HashMap<IpAddr, AssetClass>,
}

impl AssetClasses {
    /// Registers an entry (one with neither class nor attributes is left
    /// out). An entry with a MAC matches that MAC only; one with only an
    /// address matches whoever uses it, as the asset snapshot's own
    /// matching does (`store::rows::assets::matching`).
    pub fn insert(&mut self, mac: Option<Mac>, ip: Option<IpAddr>, c: AssetClass) {
        if c.class.is_none() && c.attributes.is_none() {
            return;
        }
        match (mac, ip) {
            (Some(m), _) => {
                self.by_mac.insert(m, c);
            }
            (None, Some(ip)) => {
                self.by_ip.insert(ip, c);
            }
            (None, None) => {}
        }
    }

    /// The entry of the device with `mac` using `ips`.
    pub fn lookup(
        &self,
        mac: Option<Mac>,
        mut ips: impl Iterator<Item = IpAddr>,
    ) -> Option<&AssetClass> {
        if let Some(c) = mac.and_then(|m| self.by_mac.get(&m)) {
            return Some(c);
        }
        if self.by_ip.is_empty() {
            return None;
        }
        ips.find_map(|ip| self.by_ip.get(&ip))
    }

    /// Whether an address-only entry names `ip`.
    pub fn has_ip(&self, ip: IpAddr) -> bool {
        self.by_ip.contains_key(&ip)
    }

    /// Whether an entry names `mac`.
    pub fn has_mac(&self, mac: Mac) -> bool {
        self.by_mac.contains_key(&mac)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_mac.len() + self.by_ip.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A device's classification changed: what the sinks store.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassRecord {
    /// The device.
    pub device: DeviceKey,
    /// When the evidence that changed it arrived.
    pub ts: Micros,
    /// The new classification.
    pub class: Classification,
}

/// A device's classification.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// Class id (`unknown` when nothing identifies it).
    pub class: String,
    /// English name of the class.
    pub class_name: String,
    /// Chinese name of the class.
    pub class_name_zh: String,
    /// Whether the class is a medical device.
    pub medical: bool,
    /// How sure, 0–1 (1 for a class from the asset list; the best
    /// candidate's for `unknown`, below [`MIN_CONFIDENCE`]).
    pub confidence: f64,
    /// Where the class came from.
    pub source: ClassSource,
    /// The next-best class when close (or the inferred one when the asset
    /// list's differs).
    pub runner_up: Option<String>,
    /// The evidence behind the class (then the runner-up's), one line
    /// per rule.
    pub evidence: Vec<String>,
    /// Its grade (None: not a medical class).
    pub grade: Option<Grade>,
    /// The attributes the grade came from.
    pub basis: Option<GradeBasis>,
}

impl Classification {
    /// Whether `other` says the same thing (confidence to two decimals),
    /// so nothing need be reported.
    pub fn same_as(&self, other: &Classification) -> bool {
        let round = |c: f64| (c * 100.0).round() as i64;
        self.class == other.class
            && round(self.confidence) == round(other.confidence)
            && self.source == other.source
            && self.runner_up == other.runner_up
            && self.evidence == other.evidence
            && self.basis == other.basis
    }
}

/// One class's support.
struct Candidate<'r> {
    class: &'r str,
    /// Π(1 − weight) of its rules.
    doubt: f64,
    lines: Vec<String>,
}

impl Candidate<'_> {
    fn confidence(&self) -> f64 {
        1.0 - self.doubt
    }
}

/// The class table and the rules: everything classification needs.
#[derive(Clone, Debug)]
pub struct Classifier {
    classes: Classes,
    rules: Fingerprints,
}

impl Default for Classifier {
    /// The shipped classes and rules.
    fn default() -> Self {
        Classifier::new(Classes::builtin().clone(), Fingerprints::builtin().clone())
    }
}

impl Classifier {
    /// A classifier over these classes and rules (checked against each
    /// other when loaded).
    pub fn new(classes: Classes, rules: Fingerprints) -> Classifier {
        Classifier { classes, rules }
    }

    /// The class table.
    pub fn classes(&self) -> &Classes {
        &self.classes
    }

    /// Whether any fingerprint rule reads `f` (see [`Fingerprints::reads`]).
    pub fn reads(&self, f: &super::facts::FactRef<'_>) -> bool {
        self.rules.reads(f)
    }

    /// Classifies one device from its vendor, facts and asset entry.
    pub fn classify(
        &self,
        vendor: Option<VendorInfo>,
        facts: &Facts,
        asset: Option<&AssetClass>,
    ) -> Classification {
        let subject = Subject { vendor, facts };
        let mut candidates: Vec<Candidate<'_>> = Vec::new();
        for rule in self.rules.iter() {
            let Some(line) = rule.matches(&subject) else {
                continue;
            };
            match candidates.iter_mut().find(|c| c.class == rule.class) {
                Some(c) => {
                    c.doubt *= 1.0 - rule.weight;
                    c.lines.push(line);
                }
                None => candidates.push(Candidate {
                    class: &rule.class,
                    doubt: 1.0 - rule.weight,
                    lines: vec![line],
                }),
            }
        }
        // Best first; equal confidence keeps rule order (stable sort).
        candidates.sort_by(|a, b| b.confidence().total_cmp(&a.confidence()));
        let best = candidates.first();
        let inferred = best.filter(|b| b.confidence() >= MIN_CONFIDENCE);
        let asset_class = asset
            .and_then(|a| a.class.as_deref())
            .filter(|c| self.classes.get(c).is_some());
        let (class, confidence, source) = match (asset_class, inferred) {
            (Some(c), _) => (c, 1.0, ClassSource::Asset),
            (None, Some(b)) => (b.class, b.confidence(), ClassSource::Fingerprint),
            (None, None) => (
                UNKNOWN,
                best.map_or(0.0, Candidate::confidence),
                ClassSource::Fingerprint,
            ),
        };
        let runner_up = match source {
            // The asset list's class stands; what the traffic suggests
            // instead is worth showing.
            ClassSource::Asset => inferred.filter(|b| b.class != class).map(|b| b.class),
            ClassSource::Fingerprint => candidates
                .iter()
                .find(|c| c.class != class)
                .filter(|c| confidence - c.confidence() <= RUNNER_UP_MARGIN + 1e-9)
                .map(|c| c.class),
        };
        let mut evidence: Vec<String> = Vec::new();
        for c in [class, runner_up.unwrap_or(class)] {
            if let Some(cand) = candidates.iter().find(|x| x.class == c) {
                for l in &cand.lines {
                    let line = match c == class {
                        true => l.clone(),
                        false => format!("[{c}] {l}"),
                    };
                    if evidence.len() < MAX_EVIDENCE && !evidence.contains(&line) {
                        evidence.push(line);
                    }
                }
            }
        }
        if class == UNKNOWN {
            // What fell short is still evidence a person may want.
            for c in candidates.iter().take(2) {
                for l in &c.lines {
                    if evidence.len() < MAX_EVIDENCE {
                        evidence.push(format!("[{} {:.2}] {l}", c.class, c.confidence()));
                    }
                }
            }
        }
        self.graded(
            class,
            confidence,
            source,
            runner_up.map(str::to_string),
            evidence,
            asset,
        )
    }

    /// The classification of `class` with its names and grade.
    fn graded(
        &self,
        class: &str,
        confidence: f64,
        source: ClassSource,
        runner_up: Option<String>,
        evidence: Vec<String>,
        asset: Option<&AssetClass>,
    ) -> Classification {
        let c = self.classes.get(class);
        let class_basis = c.and_then(|c| {
            c.attributes.map(|attributes| GradeBasis {
                attributes,
                source: match c.overridden {
                    true => BasisSource::Override,
                    false => BasisSource::Class,
                },
            })
        });
        // The asset list's attributes apply to the device whatever its
        // class (checked at load to have a grade).
        let basis = asset
            .and_then(|a| a.attributes)
            .map(|attributes| GradeBasis {
                attributes,
                source: BasisSource::Asset,
            })
            .or(class_basis);
        Classification {
            class: class.to_string(),
            class_name: c.map_or_else(|| class.to_string(), |c| c.name.clone()),
            class_name_zh: c.map_or_else(String::new, |c| c.name_zh.clone()),
            medical: c.is_some_and(|c| c.medical) || basis.is_some(),
            confidence,
            source,
            runner_up,
            evidence,
            grade: basis.and_then(|b| b.attributes.grade().ok()),
            basis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::facts::{DicomService, Fact, PeerKind, TextKind};
    use crate::device::grade::{ContactForm, ContactLevel};

    fn facts(list: &[Fact]) -> Facts {
        let mut f = Facts::default();
        for x in list {
            f.add(x);
        }
        f
    }

    fn sent(sop: &str, ae: &str) -> Fact {
        Fact::DicomSent {
            sop_class: sop.into(),
            to_ae: ae.into(),
        }
    }

    const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
    const MR: &str = "1.2.840.10008.5.1.4.1.1.4";

    #[test]
    fn a_device_sending_ct_images_is_a_ct_scanner_of_grade_3() {
        let c = Classifier::default();
        let f = facts(&[sent(CT, "ARCHIVE"), Fact::DicomUses(DicomService::Storage)]);
        let k = c.classify(None, &f, None);
        assert_eq!(k.class, "ct_scanner");
        assert_eq!(k.source, ClassSource::Fingerprint);
        assert!(k.confidence >= 0.85, "{k:?}");
        assert_eq!(k.grade.map(Grade::get), Some(3));
        assert_eq!(k.basis.unwrap().source, BasisSource::Class);
        assert!(k.evidence[0].contains("CT Image Storage"), "{k:?}");
        assert!(k.medical);
    }

    #[test]
    fn an_archive_answering_queries_is_a_pacs_not_what_it_forwards() {
        let c = Classifier::default();
        let peer = |i| {
            Fact::Peer(
                PeerKind::DicomStoredBy,
                std::net::IpAddr::from([10, 0, 0, i]),
            )
        };
        let f = facts(&[
            Fact::DicomProvides(DicomService::Storage),
            Fact::DicomProvides(DicomService::QueryFind),
            Fact::DicomProvides(DicomService::QueryMove),
            peer(1),
            peer(2),
            // C-MOVE sub-operations to a workstation.
            sent(CT, "WS1"),
            sent(MR, "WS1"),
            Fact::DicomMoveAsked("WS1".into()),
        ]);
        let k = c.classify(None, &f, None);
        assert_eq!(k.class, "pacs", "{k:?}");
        assert_eq!(k.grade, None);
        assert_eq!(k.runner_up, None, "{k:?}");
        assert!(!k.medical);
    }

    #[test]
    fn no_evidence_is_unknown_and_an_asset_class_always_wins() {
        let c = Classifier::default();
        let none = c.classify(None, &Facts::default(), None);
        assert_eq!(none.class, UNKNOWN);
        assert_eq!(none.grade, None);
        let f = facts(&[sent(CT, "PACS")]);
        let asset = AssetClass {
            class: Some("xray".into()),
            attributes: None,
        };
        let k = c.classify(None, &f, Some(&asset));
        assert_eq!(k.class, "xray");
        assert_eq!(k.source, ClassSource::Asset);
        assert_eq!(k.confidence, 1.0);
        assert_eq!(k.runner_up.as_deref(), Some("ct_scanner"));
        assert!(
            k.evidence.iter().any(|e| e.starts_with("[ct_scanner]")),
            "{k:?}"
        );
        assert_eq!(k.grade.map(Grade::get), Some(2));
    }

    #[test]
    fn asset_attributes_change_the_grade_and_say_so() {
        let c = Classifier::default();
        let asset = AssetClass {
            class: Some("ultrasound".into()),
            attributes: Some(Attributes::Contact(
                ContactForm::DiagnosisMonitoring,
                ContactLevel::Serious,
            )),
        };
        let k = c.classify(None, &Facts::default(), Some(&asset));
        assert_eq!(k.grade.map(Grade::get), Some(3));
        assert_eq!(k.basis.unwrap().source, BasisSource::Asset);
        let plain = c.classify(
            None,
            &Facts::default(),
            Some(&AssetClass {
                class: Some("ultrasound".into()),
                attributes: None,
            }),
        );
        assert_eq!(plain.grade.map(Grade::get), Some(2));
    }

    #[test]
    fn a_hospital_override_regrades_the_class() {
        let classes = Classes::builtin()
            .with_overrides(
                "[[class]]\nid = \"ultrasound\"\ncontact = true\nusage_form = \"diagnosis_monitoring\"\nlevel = \"serious\"\nreason = \"cardiac TEE probes\"\n",
                "rules.d/device_classes.toml",
            )
            .unwrap();
        let c = Classifier::new(classes, Fingerprints::builtin().clone());
        let asset = AssetClass {
            class: Some("ultrasound".into()),
            attributes: None,
        };
        let k = c.classify(None, &Facts::default(), Some(&asset));
        assert_eq!(k.grade.map(Grade::get), Some(3));
        assert_eq!(k.basis.unwrap().source, BasisSource::Override);
    }

    #[test]
    fn weak_hints_alone_do_not_classify() {
        let c = Classifier::default();
        let braun = VendorInfo {
            organization: "B.Braun Melsungen AG",
            medical: true,
        };
        let k = c.classify(Some(braun), &Facts::default(), None);
        assert_eq!(k.class, UNKNOWN, "{k:?}");
        // With a pump-like DHCP host name the two agree.
        let f = facts(&[Fact::text(TextKind::Hostname, "infusion-pump-07")]);
        let k = c.classify(Some(braun), &f, None);
        assert_eq!(k.class, "infusion_pump", "{k:?}");
        assert_eq!(k.evidence.len(), 2, "{k:?}");
    }
}
