//! The rule files a sensor runs with, loaded and checked together: the
//! shipped classes and fingerprints (compiled in), changed and extended
//! by a hospital's own files in its rules directory (`policy.rules_dir`,
//! `--rules DIR`): `device_classes.toml` (overrides and new classes) and
//! `fingerprints.toml` (more rules). The asset list's classes and
//! attributes are checked against the resulting class table. Every
//! problem names its file, line and key.

use super::assets::{Asset, AssetList};
use super::classes::{self, Classes};
use super::classify::{AssetClass, AssetClasses, Classifier};
use super::fingerprint::{self, Fingerprints};
use crate::config::span::Located;
use std::path::{Path, PathBuf};

/// A hospital's class file in the rules directory.
pub const CLASSES_FILE: &str = "device_classes.toml";
/// A hospital's fingerprint file in the rules directory.
pub const FINGERPRINTS_FILE: &str = "fingerprints.toml";

/// Rule loading errors.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Every problem found, one a line, each with file, line and key.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Located>),
}

/// What was loaded, for messages.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The files read from the rules directory.
    pub files: Vec<PathBuf>,
}

/// Loads the classes and fingerprints: the shipped ones, then the
/// hospital's files in `dir` (none when `dir` is `None` or holds neither
/// file).
pub fn load(dir: Option<&Path>) -> Result<(Classifier, Loaded), RulesError> {
    let mut loaded = Loaded::default();
    let mut classes = Classes::builtin().clone();
    let mut rules = Fingerprints::builtin().clone();
    let Some(dir) = dir else {
        return Ok((Classifier::new(classes, rules), loaded));
    };
    let read = |name: &str| -> Result<Option<(PathBuf, String)>, RulesError> {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some((path, text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RulesError::Read { path, source }),
        }
    };
    if let Some((path, text)) = read(CLASSES_FILE)? {
        classes = classes
            .with_overrides(&text, &path.display().to_string())
            .map_err(RulesError::Invalid)?;
        loaded.files.push(path);
    }
    if let Some((path, text)) = read(FINGERPRINTS_FILE)? {
        let more = Fingerprints::parse(&text, &path.display().to_string(), &classes)
            .map_err(RulesError::Invalid)?;
        let clashes = clashes(&rules, &more);
        if !clashes.is_empty() {
            return Err(RulesError::Invalid(clashes));
        }
        rules = rules.extended(more);
        loaded.files.push(path);
    }
    // The shipped rules name shipped classes; a hospital file may have
    // removed none (overrides only change), so they still resolve.
    Ok((Classifier::new(classes, rules), loaded))
}

/// A hospital's rules that reuse a shipped rule's id: it would read as a
/// change to that rule, yet both would count.
fn clashes(shipped: &Fingerprints, more: &Fingerprints) -> Vec<Located> {
    more.iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let s = shipped.iter().find(|s| s.id == r.id)?;
            Some(Located {
                file: r.file.clone(),
                line: r.line,
                key: Some(format!("rule[{i}].id")),
                problem: format!(
                    "rule id {:?} is a shipped rule ({}:{}): choose another id",
                    r.id, s.file, s.line
                ),
            })
        })
        .collect()
}

/// The asset list's classes and attributes, checked against `classes`:
/// an unknown class id is an error naming the file, line and key.
pub fn asset_classes(
    list: Option<&AssetList>,
    file: &str,
    classes: &Classes,
) -> Result<AssetClasses, RulesError> {
    let mut out = AssetClasses::default();
    let mut problems = Vec::new();
    for (i, a) in list.iter().flat_map(|l| l.iter()).enumerate() {
        if let Some(c) = a.class.as_deref() {
            if classes.get(c).is_none() {
                problems.push(Located {
                    file: file.to_string(),
                    line: a.line,
                    key: Some(format!("device[{i}].class")),
                    problem: format!("unknown class {c:?} (`medtap rules classes` lists them)"),
                });
                continue;
            }
        }
        out.insert(a.mac, a.ip, asset_class(a));
    }
    match problems.is_empty() {
        true => Ok(out),
        false => Err(RulesError::Invalid(problems)),
    }
}

fn asset_class(a: &Asset) -> AssetClass {
    AssetClass {
        class: a.class.clone(),
        attributes: a.attributes,
    }
}

/// What `medtap rules check` found: one line per file checked, and
/// every problem (file, line, key).
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// `file: ok, ...` lines.
    pub ok: Vec<String>,
    /// Problems, one a line.
    pub problems: Vec<String>,
}

/// Checks everything a sensor start would load: the shipped classes,
/// fingerprints and medical vendor list; the files of the rules directory
/// `dir` (a copy of the shipped `rules/` is checked as the shipped files);
/// and the asset list `assets` against the resulting classes.
pub fn check(dir: Option<&Path>, assets: Option<&Path>) -> CheckReport {
    let mut report = CheckReport::default();
    let fail = |r: &mut CheckReport, e: Vec<Located>| {
        r.problems.extend(e.iter().map(|l| l.to_string()));
    };
    match Classes::parse(classes::BUILTIN, classes::BUILTIN_FILE) {
        Ok(c) => report.ok.push(format!(
            "{} (built in): ok, {} classes",
            classes::BUILTIN_FILE,
            c.len()
        )),
        Err(e) => fail(&mut report, e),
    }
    match Fingerprints::parse(
        fingerprint::BUILTIN,
        fingerprint::BUILTIN_FILE,
        Classes::builtin(),
    ) {
        Ok(f) => report.ok.push(format!(
            "{} (built in): ok, {} rules",
            fingerprint::BUILTIN_FILE,
            f.len()
        )),
        Err(e) => fail(&mut report, e),
    }
    match super::oui::Vendors::parse(super::oui::BUILTIN_OUI, super::oui::BUILTIN_MEDICAL) {
        Ok(v) => report.ok.push(format!(
            "rules/oui.tsv, rules/medical_vendors.toml (built in): ok, {} registry blocks",
            v.len()
        )),
        Err(e) => report.problems.push(e.to_string()),
    }
    let mut classes = Classes::builtin().clone();
    if let Some(dir) = dir {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let shown = |name: &str| dir.join(name).display().to_string();
        if let Some(text) = read(CLASSES_FILE) {
            let file = shown(CLASSES_FILE);
            let parsed = match text == classes::BUILTIN {
                true => Classes::parse(&text, &file),
                false => classes.with_overrides(&text, &file),
            };
            match parsed {
                Ok(c) => {
                    let changed = c.iter().filter(|k| k.file == file).count();
                    report
                        .ok
                        .push(format!("{file}: ok, {changed} classes defined or changed"));
                    classes = c;
                }
                Err(e) => fail(&mut report, e),
            }
        }
        if let Some(text) = read(FINGERPRINTS_FILE) {
            let file = shown(FINGERPRINTS_FILE);
            let parsed = Fingerprints::parse(&text, &file, &classes).and_then(|f| {
                // A copy of the shipped file is the shipped rules, not a
                // hospital's additions.
                let clash = match text == fingerprint::BUILTIN {
                    true => Vec::new(),
                    false => clashes(Fingerprints::builtin(), &f),
                };
                match clash.is_empty() {
                    true => Ok(f),
                    false => Err(clash),
                }
            });
            match parsed {
                Ok(f) => report.ok.push(format!("{file}: ok, {} rules", f.len())),
                Err(e) => fail(&mut report, e),
            }
        }
        if let Some(text) = read("medical_vendors.toml") {
            match super::oui::Vendors::parse(super::oui::BUILTIN_OUI, &text) {
                Ok(_) if text == super::oui::BUILTIN_MEDICAL => {
                    report.ok.push(format!("{}: ok", shown("medical_vendors.toml")))
                }
                Ok(_) => report.ok.push(format!(
                    "{}: ok (note: the sensor uses the built-in medical vendor list; this file is checked, not loaded)",
                    shown("medical_vendors.toml")
                )),
                Err(e) => report.problems.push(format!("{}: {e}", shown("medical_vendors.toml"))),
            }
        }
    }
    if let Some(path) = assets {
        match AssetList::load(path) {
            Ok(list) => {
                let file = path.display().to_string();
                match asset_classes(Some(&list), &file, &classes) {
                    Ok(_) => report
                        .ok
                        .push(format!("{file}: ok, {} device(s)", list.len())),
                    Err(e) => report.problems.push(e.to_string()),
                }
            }
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rules_directory_overrides_classes_and_adds_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CLASSES_FILE),
            "[[class]]\nid = \"ultrasound\"\ncontact = true\nusage_form = \"diagnosis_monitoring\"\nlevel = \"serious\"\nreason = \"TEE\"\n\n[[class]]\nid = \"sterilizer\"\nname = \"Sterilizer\"\nname_zh = \"灭菌器\"\nmedical = true\ncontact = false\nusage_form = \"disinfection\"\nlevel = \"indirect\"\nreason = \"r\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(FINGERPRINTS_FILE),
            "[[rule]]\nid = \"steri\"\nclass = \"sterilizer\"\nweight = 0.7\nevidence = \"host name names a sterilizer\"\nhostname = \"^steri\"\n",
        )
        .unwrap();
        let (c, loaded) = load(Some(dir.path())).unwrap();
        assert_eq!(loaded.files.len(), 2);
        let us = c.classes().get("ultrasound").unwrap();
        assert!(us.overridden);
        assert_eq!(us.grade.map(|g| g.get()), Some(3));
        assert_eq!(
            c.classes()
                .get("sterilizer")
                .unwrap()
                .grade
                .map(|g| g.get()),
            Some(2)
        );
        // A "—" cell in the hospital's file is rejected with its line.
        std::fs::write(
            dir.path().join(CLASSES_FILE),
            "[[class]]\nid = \"ultrasound\"\ncontact = false\nusage_form = \"disinfection\"\nlevel = \"none\"\n",
        )
        .unwrap();
        let e = load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("device_classes.toml:5: `class[0].level`: class \"ultrasound\": Table B.1 has no grade"), "{e}");
    }

    #[test]
    fn an_unknown_asset_class_is_named_with_its_line() {
        let list = AssetList::parse(
            "[[device]]\nmac = \"00:09:fb:00:00:01\"\nclass = \"patient_monitor\"\n\n[[device]]\nip = \"10.0.0.9\"\nclass = \"patient-monitor\"\n",
            "assets.toml",
        )
        .unwrap();
        let e = asset_classes(Some(&list), "assets.toml", Classes::builtin())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "assets.toml:5: `device[1].class`: unknown class \"patient-monitor\" (`medtap rules classes` lists them)"
        );
    }
}
