//! The hospital's asset list: what each known device is, where it stands
//! and who owns it, keyed by MAC and/or IP (`/etc/medtap/assets.toml`).
//!
//! ```toml
//! [[device]]
//! mac = "00:09:fb:bd:75:6d"
//! ip = "10.20.1.15"
//! name = "ICU bed 4 monitor"
//! class = "patient_monitor"
//! department = "ICU"
//! ```
//!
//! Each `[[device]]` needs `mac` or `ip` (or both); the other keys are
//! optional text. A MAC or an IP given to two devices is an error naming
//! both lines. Errors name the file, line and key: `assets.toml:12:
//! `device[3].mac`: ...` (array indices from 0). `medtap assets import`
//! writes this file from a spreadsheet export (src/cli/assets.rs).

use super::grade::Attributes;
use crate::config::span::Located;
use crate::config::IdentityConfig;
use crate::net::Mac;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Most problems listed in one error; the rest are counted.
const MAX_PROBLEMS: usize = 50;

/// Asset list errors.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The file could not be read.
    #[error("cannot read asset list {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Syntax, unknown keys, bad values, duplicates: every problem found
    /// (up to 50), one a line, each with file, line and key.
    #[error("{}", list_problems(.0))]
    Invalid(Vec<Located>),
}

fn list_problems(problems: &[Located]) -> String {
    let mut out: Vec<String> = problems
        .iter()
        .take(MAX_PROBLEMS)
        .map(|p| p.to_string())
        .collect();
    if problems.len() > MAX_PROBLEMS {
        out.push(format!(
            "... and {} more problems",
            problems.len() - MAX_PROBLEMS
        ));
    }
    out.join("\n")
}

/// One device of the asset list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Asset {
    /// Its MAC address.
    pub mac: Option<Mac>,
    /// Its (static) IP address.
    pub ip: Option<IpAddr>,
    /// Display name, e.g. "ICU bed 4 monitor".
    pub name: Option<String>,
    /// Device class id, e.g. "patient_monitor" (checked against the class
    /// table by [`super::rules::asset_classes`]).
    pub class: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Room or place.
    pub location: Option<String>,
    /// Responsible person or team.
    pub owner: Option<String>,
    /// The hospital's inventory number.
    pub asset_id: Option<String>,
    /// Unique Device Identifier (the manufacturer's UDI-DI/PI).
    pub udi: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
    /// This device's own Appendix B attributes, replacing its class's
    /// (`contact`, `usage_form` and `level` given together; checked to
    /// have a grade).
    pub attributes: Option<Attributes>,
    /// Line of the entry in its file (TOML: the device's first key; CSV:
    /// the row's first line).
    pub line: usize,
}

/// A device's fields as text, before checking: a `[[device]]` table or a
/// spreadsheet row. Empty or all-space values count as absent. (`T` is
/// `Spanned<String>` while reading TOML, for the lines in messages.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssetFields<T = String> {
    /// `mac`
    pub mac: Option<T>,
    /// `ip`
    pub ip: Option<T>,
    /// `name`
    pub name: Option<T>,
    /// `class`
    pub class: Option<T>,
    /// `department`
    pub department: Option<T>,
    /// `location`
    pub location: Option<T>,
    /// `owner`
    pub owner: Option<T>,
    /// `asset_id`
    pub asset_id: Option<T>,
    /// `udi`
    pub udi: Option<T>,
    /// `notes`
    pub notes: Option<T>,
    /// `contact` (`true`/`false`, or `yes`/`no`, `1`/`0`)
    pub contact: Option<T>,
    /// `usage_form`
    pub usage_form: Option<T>,
    /// `level`
    pub level: Option<T>,
}

/// A problem with one device's fields: the field (`None`: the device as a
/// whole) and what is wrong.
pub type FieldProblem = (Option<&'static str>, String);

impl<T> AssetFields<T> {
    /// The same fields with `f` applied to each value.
    pub fn map<U>(self, f: impl Fn(T) -> U) -> AssetFields<U> {
        AssetFields {
            mac: self.mac.map(&f),
            ip: self.ip.map(&f),
            name: self.name.map(&f),
            class: self.class.map(&f),
            department: self.department.map(&f),
            location: self.location.map(&f),
            owner: self.owner.map(&f),
            asset_id: self.asset_id.map(&f),
            udi: self.udi.map(&f),
            notes: self.notes.map(&f),
            contact: self.contact.map(&f),
            usage_form: self.usage_form.map(&f),
            level: self.level.map(&f),
        }
    }
}

impl AssetFields {
    /// The field names: TOML keys and spreadsheet columns, in file order.
    pub const NAMES: [&'static str; 13] = [
        "mac",
        "ip",
        "name",
        "class",
        "department",
        "location",
        "owner",
        "asset_id",
        "udi",
        "notes",
        "contact",
        "usage_form",
        "level",
    ];

    /// The field called `name` (one of [`AssetFields::NAMES`]).
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "mac" => &mut self.mac,
            "ip" => &mut self.ip,
            "name" => &mut self.name,
            "class" => &mut self.class,
            "department" => &mut self.department,
            "location" => &mut self.location,
            "owner" => &mut self.owner,
            "asset_id" => &mut self.asset_id,
            "udi" => &mut self.udi,
            "notes" => &mut self.notes,
            "contact" => &mut self.contact,
            "usage_form" => &mut self.usage_form,
            "level" => &mut self.level,
            _ => return None,
        })
    }

    /// Checks the fields and makes the asset found at `line`, or lists
    /// every problem.
    pub fn check(self, line: usize) -> Result<Asset, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mac = present(self.mac).and_then(|m| {
            parse_mac(&m)
                .map_err(|p| problems.push((Some("mac"), p)))
                .ok()
        });
        let ip = present(self.ip).and_then(|i| {
            parse_ip(&i)
                .map_err(|p| problems.push((Some("ip"), p)))
                .ok()
        });
        let attributes = attributes(
            present(self.contact),
            present(self.usage_form),
            present(self.level),
        )
        .map_err(|p| problems.push(p))
        .ok()
        .flatten();
        if problems.is_empty() && mac.is_none() && ip.is_none() {
            problems.push((None, "needs `mac` or `ip` (or both)".to_string()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Asset {
            mac,
            ip,
            name: present(self.name),
            class: present(self.class),
            department: present(self.department),
            location: present(self.location),
            owner: present(self.owner),
            asset_id: present(self.asset_id),
            udi: present(self.udi),
            notes: present(self.notes),
            attributes,
            line,
        })
    }
}

impl From<&Asset> for AssetFields {
    fn from(a: &Asset) -> AssetFields {
        AssetFields {
            mac: a.mac.map(|m| m.to_string()),
            ip: a.ip.map(|i| i.to_string()),
            name: a.name.clone(),
            class: a.class.clone(),
            department: a.department.clone(),
            location: a.location.clone(),
            owner: a.owner.clone(),
            asset_id: a.asset_id.clone(),
            udi: a.udi.clone(),
            notes: a.notes.clone(),
            contact: a.attributes.map(|x| x.contact().to_string()),
            usage_form: a.attributes.map(|x| x.form_name().to_string()),
            level: a.attributes.map(|x| x.level_name().to_string()),
        }
    }
}

/// A device's own Appendix B attributes: all three or none, with a grade.
fn attributes(
    contact: Option<String>,
    form: Option<String>,
    level: Option<String>,
) -> Result<Option<Attributes>, FieldProblem> {
    let (contact, form, level) = match (contact, form, level) {
        (None, None, None) => return Ok(None),
        (Some(c), Some(f), Some(l)) => (c, f, l),
        _ => {
            let problem = "`contact`, `usage_form` and `level` go together: give all three or none";
            return Err((Some("contact"), problem.to_string()));
        }
    };
    let contact = match contact.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => true,
        "false" | "no" | "0" => false,
        other => return Err((Some("contact"), format!("{other:?} is not true or false"))),
    };
    let a = Attributes::from_names(contact, form.trim(), level.trim())
        .map_err(|e| (Some(e.key), e.to_string()))?;
    a.grade().map_err(|e| (Some("level"), e.to_string()))?;
    Ok(Some(a))
}

/// `None` for absent, empty and all-whitespace values.
fn present(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// A device's MAC: `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff`,
/// `aabb.ccdd.eeff` (Cisco) or `aabbccddeeff`, any case, surrounding
/// spaces ignored. Group and all-zero addresses name no device.
pub fn parse_mac(text: &str) -> Result<Mac, String> {
    let s = text.trim();
    let mac = Mac::parse(s).or_else(|| {
        let cisco = s.len() == 14 && s.get(4..5) == Some(".") && s.get(9..10) == Some(".");
        let hex = if cisco {
            s.replace('.', "")
        } else {
            s.to_string()
        };
        if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let b = u64::from_str_radix(&hex, 16).ok()?.to_be_bytes();
        Some(Mac([b[2], b[3], b[4], b[5], b[6], b[7]]))
    });
    let Some(mac) = mac else {
        return Err(format!(
            "{text:?} is not a MAC address (like 00:09:fb:bd:75:6d)"
        ));
    };
    if mac.is_group() {
        return Err(format!(
            "{text:?} is a group (multicast or broadcast) address, not a device's"
        ));
    }
    if mac.is_zero() {
        return Err(format!("{text:?} is the all-zero address, not a device's"));
    }
    Ok(mac)
}

/// A device's IP address (IPv4 or IPv6, surrounding spaces ignored); not
/// the unspecified, a multicast or the broadcast address. An IPv4-mapped
/// IPv6 address (`::ffff:10.0.0.1`) is taken as the IPv4 address, which
/// is what the device's packets carry.
pub fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let ip = text
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("{text:?} is not an IP address (like 10.20.1.15 or fd00::15)"))?
        .to_canonical();
    let why = if ip.is_unspecified() {
        Some("the unspecified address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip == IpAddr::from([255, 255, 255, 255]) {
        Some("the broadcast address")
    } else {
        None
    };
    match why {
        Some(w) => Err(format!("{text:?} is {w}, not a device's")),
        None => Ok(ip),
    }
}

/// The asset list, indexed by MAC and by IP.
#[derive(Clone, Debug, Default)]
pub struct AssetList {
    assets: Vec<Asset>,
    by_mac: HashMap<Mac, usize>,
    by_ip: HashMap<IpAddr, usize>,
}

/// An asset whose MAC or IP another asset already has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// `"mac"` or `"ip"`.
    pub field: &'static str,
    /// The address, as text.
    pub value: String,
    /// Line of the asset that has it already.
    pub first_line: usize,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is already the {} of the device on line {}",
            self.value, self.field, self.first_line
        )
    }
}

/// The file as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    device: Vec<Spanned<AssetFields<Spanned<String>>>>,
}

impl AssetList {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<AssetList, AssetError> {
        let text = std::fs::read_to_string(path).map_err(|source| AssetError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        AssetList::parse(&text, &path.display().to_string())
    }

    /// The list `[identity] assets` names: `None` when that is empty, or
    /// is the default path ([`crate::config::DEFAULT_ASSETS_PATH`]) and no
    /// file is there. A path set to anything else must exist.
    pub fn load_configured(id: &IdentityConfig) -> Result<Option<AssetList>, AssetError> {
        let path = id.assets.as_path();
        if path.as_os_str().is_empty() {
            return Ok(None);
        }
        if path == Path::new(crate::config::DEFAULT_ASSETS_PATH) && !path.exists() {
            return Ok(None);
        }
        AssetList::load(path).map(Some)
    }

    /// Parses and checks `text`; `file` names it in messages. Every
    /// problem is reported, not only the first.
    pub fn parse(text: &str, file: &str) -> Result<AssetList, AssetError> {
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| AssetError::Invalid(vec![Located::from_toml(file, text, &e)]))?;
        let mut list = AssetList::default();
        let mut problems = Vec::new();
        for (i, dev) in raw.device.into_iter().enumerate() {
            let device_span = dev.span();
            let d = dev.into_inner();
            let span = |f: &Option<Spanned<String>>| f.as_ref().map(|v| v.span().start);
            let spans = [
                ("mac", span(&d.mac)),
                ("ip", span(&d.ip)),
                ("class", span(&d.class)),
                ("contact", span(&d.contact)),
                ("usage_form", span(&d.usage_form)),
                ("level", span(&d.level)),
            ];
            // The line of the key a problem concerns, else of the device.
            let offset_of = |field: Option<&str>| {
                spans
                    .iter()
                    .find(|(k, _)| Some(*k) == field)
                    .and_then(|(_, s)| *s)
                    .unwrap_or(device_span.start)
            };
            let key = |field: Option<&str>| match field {
                Some(f) => format!("device[{i}].{f}"),
                None => format!("device[{i}]"),
            };
            let line = crate::config::span::line_at(text, device_span.start);
            let fields = d.map(Spanned::into_inner);
            match fields.check(line) {
                Ok(asset) => {
                    if let Err(dups) = list.insert(asset) {
                        for dup in dups {
                            let field = Some(dup.field);
                            problems.push(Located::at(
                                file,
                                text,
                                offset_of(field),
                                Some(key(field)),
                                dup.to_string(),
                            ));
                        }
                    }
                }
                Err(ps) => problems.extend(ps.into_iter().map(|(field, problem)| {
                    Located::at(file, text, offset_of(field), Some(key(field)), problem)
                })),
            }
        }
        if problems.is_empty() {
            Ok(list)
        } else {
            Err(AssetError::Invalid(problems))
        }
    }

    /// Adds `asset` unless another one has its MAC or IP (then nothing is
    /// added, and each clash is returned).
    pub fn insert(&mut self, asset: Asset) -> Result<(), Vec<Duplicate>> {
        let line_of = |i: usize| self.assets.get(i).map_or(0, |a| a.line);
        let mut dups = Vec::new();
        if let Some(&i) = asset.mac.as_ref().and_then(|m| self.by_mac.get(m)) {
            dups.push(Duplicate {
                field: "mac",
                value: asset.mac.map(|m| m.to_string()).unwrap_or_default(),
                first_line: line_of(i),
            });
        }
        if let Some(&i) = asset.ip.as_ref().and_then(|ip| self.by_ip.get(ip)) {
            dups.push(Duplicate {
                field: "ip",
                value: asset.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                first_line: line_of(i),
            });
        }
        if !dups.is_empty() {
            return Err(dups);
        }
        let i = self.assets.len();
        if let Some(m) = asset.mac {
            self.by_mac.insert(m, i);
        }
        if let Some(ip) = asset.ip {
            self.by_ip.insert(ip, i);
        }
        self.assets.push(asset);
        Ok(())
    }

    /// The device with this MAC.
    pub fn by_mac(&self, mac: &Mac) -> Option<&Asset> {
        self.by_mac.get(mac).and_then(|&i| self.assets.get(i))
    }

    /// The device with this IP.
    pub fn by_ip(&self, ip: &IpAddr) -> Option<&Asset> {
        self.by_ip.get(ip).and_then(|&i| self.assets.get(i))
    }

    /// Every device, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Asset> {
        self.assets.iter()
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// True when the list has no device.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }
}

#[cfg(test)]
mod tests;
