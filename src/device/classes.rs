//! Device classes (rules/device_classes.toml): what kinds of device medtap
//! names, in English and Chinese, whether each is a medical device, and
//! for medical classes the DB3205/T Appendix B attributes from which the
//! risk grade is computed ([`super::grade`]). Errors name the file, line
//! and class.

use super::grade::{Attributes, Grade};
use crate::config::span::Located;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;
use toml::Spanned;

/// One device class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// Stable id (`ct_scanner`).
    pub id: String,
    /// English name.
    pub name: String,
    /// Chinese name.
    pub name_zh: String,
    /// Whether it is a medical device (has Appendix B attributes).
    pub medical: bool,
    /// The Appendix B attributes of a medical class.
    pub attributes: Option<Attributes>,
    /// The grade Table B.1 gives them (None for non-medical classes).
    pub grade: Option<Grade>,
    /// Why the attributes are what they are.
    pub reason: Option<String>,
    /// The file that last defined or changed it.
    pub file: String,
    /// Line of the class in that file.
    pub line: usize,
    /// The attributes come from the hospital's own rules file, not the
    /// shipped one.
    pub overridden: bool,
}

/// The class table.
#[derive(Clone, Debug, Default)]
pub struct Classes {
    classes: Vec<Class>,
    by_id: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    class: Vec<Spanned<RawClass>>,
}

/// A `[[class]]` as written. In the shipped file every key but the
/// attributes is required; in a hospital's file, an entry with a shipped
/// id may give only what it changes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    id: Spanned<String>,
    name: Option<String>,
    name_zh: Option<String>,
    medical: Option<bool>,
    contact: Option<Spanned<bool>>,
    usage_form: Option<Spanned<String>>,
    level: Option<Spanned<String>>,
    reason: Option<String>,
}

/// The shipped rules/device_classes.toml.
pub const BUILTIN: &str = include_str!("../../rules/device_classes.toml");

/// Its name in messages.
pub const BUILTIN_FILE: &str = "rules/device_classes.toml";

impl Classes {
    /// The shipped classes, parsed once.
    pub fn builtin() -> &'static Classes {
        static TABLE: OnceLock<Classes> = OnceLock::new();
        // The shipped file is checked by the tests: it cannot fail here.
        TABLE.get_or_init(|| Classes::parse(BUILTIN, BUILTIN_FILE).unwrap_or_default())
    }

    /// Parses and checks a complete class file (`file` names it in
    /// errors). Every problem is reported.
    pub fn parse(text: &str, file: &str) -> Result<Classes, Vec<Located>> {
        let mut out = Classes::default();
        out.apply(text, file, false)?;
        Ok(out)
    }

    /// These classes changed by a hospital's own class file: an entry
    /// with a known id replaces what it gives (typically the attributes,
    /// which are then marked overridden); an entry with a new id adds a
    /// class and must be complete.
    pub fn with_overrides(&self, text: &str, file: &str) -> Result<Classes, Vec<Located>> {
        let mut out = self.clone();
        out.apply(text, file, true)?;
        Ok(out)
    }

    fn apply(&mut self, text: &str, file: &str, overriding: bool) -> Result<(), Vec<Located>> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| vec![Located::from_toml(file, text, &e)])?;
        let mut problems = Vec::new();
        // Every id this file gives, valid or not (id → line), for duplicates.
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, c) in raw.class.into_iter().enumerate() {
            let start = c.span().start;
            let c = c.into_inner();
            let at = |offset: usize, key: &str, problem: String| {
                Located::at(
                    file,
                    text,
                    offset,
                    Some(format!("class[{i}].{key}")),
                    problem,
                )
            };
            let id = c.id.get_ref().clone();
            let line = crate::config::span::line_at(text, start);
            if let Some(&first) = seen.get(&id) {
                let problem = format!("duplicate class id {id:?} (first at line {first})");
                problems.push(at(c.id.span().start, "id", problem));
                continue;
            }
            seen.insert(id.clone(), line);
            let base = overriding.then(|| self.get(&id)).flatten();
            match entry(c, base) {
                Ok(mut class) => {
                    class.file = file.to_string();
                    class.line = line;
                    class.overridden = base.is_some();
                    match self.by_id.get(&id) {
                        Some(&k) => self.classes[k] = class,
                        None => {
                            self.by_id.insert(id, self.classes.len());
                            self.classes.push(class);
                        }
                    }
                }
                Err((offset, key, problem)) => {
                    let offset = offset.unwrap_or(start);
                    problems.push(at(offset, key, format!("class {id:?}: {problem}")));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The class with `id`.
    pub fn get(&self, id: &str) -> Option<&Class> {
        self.by_id.get(id).map(|&i| &self.classes[i])
    }

    /// Every class, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Class> {
        self.classes.iter()
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

/// A problem with a class entry: (offset of the value, key, what).
type EntryProblem = (Option<usize>, &'static str, String);

/// Checks one entry; `base` is the shipped class a hospital's entry
/// changes (none for a complete definition).
fn entry(c: RawClass, base: Option<&Class>) -> Result<Class, EntryProblem> {
    let missing = |key: &'static str| (None, key, format!("needs `{key}`"));
    let name = c
        .name
        .clone()
        .or_else(|| base.map(|b| b.name.clone()))
        .ok_or_else(|| missing("name"))?;
    let name_zh = c
        .name_zh
        .clone()
        .or_else(|| base.map(|b| b.name_zh.clone()))
        .ok_or_else(|| missing("name_zh"))?;
    let medical = c
        .medical
        .or_else(|| base.map(|b| b.medical))
        .ok_or_else(|| missing("medical"))?;
    let given = c.contact.is_some() || c.usage_form.is_some() || c.level.is_some();
    let attributes = match (given, base) {
        // A hospital's entry that leaves the attributes alone keeps them.
        (false, Some(b)) => b.attributes,
        _ => attributes(&c, medical)?,
    };
    let grade = match attributes.map(Attributes::grade).transpose() {
        Ok(g) => g,
        Err(e) => {
            let offset = c.level.as_ref().map(|l| l.span().start);
            return Err((offset, "level", e.to_string()));
        }
    };
    let reason = c.reason.or_else(|| base.and_then(|b| b.reason.clone()));
    if medical && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        let problem = "a medical class needs a reason for its attributes".to_string();
        return Err((None, "reason", problem));
    }
    Ok(Class {
        id: c.id.into_inner(),
        name,
        name_zh,
        medical,
        attributes,
        grade,
        reason,
        file: String::new(),
        line: 0,
        overridden: false,
    })
}

/// The Appendix B attributes an entry declares: required for a medical
/// class, forbidden for the others.
fn attributes(c: &RawClass, medical: bool) -> Result<Option<Attributes>, EntryProblem> {
    if !medical {
        return match c.contact.is_some() || c.usage_form.is_some() || c.level.is_some() {
            true => Err((
                None,
                "medical",
                "a non-medical class has no contact, usage_form or level".into(),
            )),
            false => Ok(None),
        };
    }
    let (Some(contact), Some(form), Some(level)) = (&c.contact, &c.usage_form, &c.level) else {
        return Err((
            None,
            "medical",
            "a medical class needs contact, usage_form and level".into(),
        ));
    };
    Attributes::from_names(*contact.get_ref(), form.get_ref(), level.get_ref())
        .map(Some)
        .map_err(|e| {
            let at = if e.key == "level" { level } else { form };
            (Some(at.span().start), e.key, e.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classes the identity and policy work rely on.
    const REQUIRED: [&str; 28] = [
        "ct_scanner",
        "mr_scanner",
        "xray",
        "mammography",
        "ultrasound",
        "nuclear_medicine",
        "radiotherapy",
        "patient_monitor",
        "infusion_pump",
        "ventilator",
        "anesthesia_machine",
        "dialysis_machine",
        "ecg",
        "lab_analyzer",
        "endoscopy",
        "medical_gateway",
        "pacs",
        "modality_worklist",
        "his",
        "lis",
        "interface_engine",
        "imaging_workstation",
        "mqtt_broker",
        "dhcp_server",
        "printer",
        "workstation",
        "network_device",
        "unknown",
    ];

    #[test]
    fn the_shipped_classes_load_with_their_grades() {
        let t = Classes::parse(BUILTIN, "rules/device_classes.toml").unwrap();
        for id in REQUIRED {
            let c = t.get(id).unwrap_or_else(|| panic!("class {id} missing"));
            assert_eq!(c.medical, c.grade.is_some(), "{id}: graded iff medical");
            assert!(!c.name.is_empty() && !c.name_zh.is_empty(), "{id}");
        }
        let g = |id: &str| t.get(id).unwrap().grade.map(Grade::get);
        // CT: ionizing radiation, serious → 3 (the issue's own example).
        assert_eq!(g("ct_scanner"), Some(3));
        assert_eq!(g("infusion_pump"), Some(3));
        assert_eq!(g("lab_analyzer"), Some(2));
        assert_eq!(g("pacs"), None);
        assert_eq!(Classes::builtin().len(), t.len());
    }

    #[test]
    fn a_dash_cell_is_rejected_with_file_line_and_class() {
        let text = "[[class]]\nid = \"a\"\nname = \"A\"\nname_zh = \"甲\"\nmedical = false\n\n\
                    [[class]]\nid = \"sw\"\nname = \"Software\"\nname_zh = \"软件\"\nmedical = true\n\
                    contact = false\nusage_form = \"standalone_software\"\nlevel = \"none\"\nreason = \"r\"\n";
        let e = Classes::parse(text, "c.toml").unwrap_err();
        assert_eq!(e.len(), 1);
        let msg = e[0].to_string();
        assert!(
            msg.starts_with("c.toml:14: `class[1].level`: class \"sw\": Table B.1 has no grade"),
            "{msg}"
        );
    }

    #[test]
    fn bad_attributes_duplicates_and_missing_reasons_are_named() {
        let text = "[[class]]\nid = \"x\"\nname = \"X\"\nname_zh = \"X\"\nmedical = true\n\
                    contact = true\nusage_form = \"lab_instrument\"\nlevel = \"serious\"\nreason = \"r\"\n\
                    [[class]]\nid = \"y\"\nname = \"Y\"\nname_zh = \"Y\"\nmedical = false\nlevel = \"none\"\n\
                    [[class]]\nid = \"z\"\nname = \"Z\"\nname_zh = \"Z\"\nmedical = true\n\
                    contact = true\nusage_form = \"implant\"\nlevel = \"slight\"\n\
                    [[class]]\nid = \"z\"\nname = \"Z\"\nname_zh = \"Z\"\nmedical = false\n";
        let e: Vec<String> = Classes::parse(text, "c.toml")
            .unwrap_err()
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(e[0].starts_with("c.toml:7: `class[0].usage_form`: class \"x\": \"lab_instrument\" is not one of the contact forms"), "{}", e[0]);
        assert!(
            e[1].contains("`class[1].medical`: class \"y\": a non-medical class has no"),
            "{}",
            e[1]
        );
        assert!(
            e[2].contains("`class[2].reason`: class \"z\": a medical class needs a reason"),
            "{}",
            e[2]
        );
        assert!(
            e[3].contains("`class[3].id`: duplicate class id \"z\""),
            "{}",
            e[3]
        );
    }
}
