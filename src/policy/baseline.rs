//! `medtap baseline propose`: allow entries, as policy TOML ready to
//! review, that allow exactly what a device class (or one device) was seen
//! doing — one entry per direction, protocol and peer, commented with the
//! devices, flow counts, bytes and first/last seen behind it.

use super::rules::Direction;
use crate::time::{rfc3339, Micros};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Whom a proposed entry is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// A device class (`classes = [...]`).
    Class(String),
    /// One device (`devices = [...]`: an asset name, MAC or address).
    Device(String),
}

/// One device's part in one flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    /// Whom the entry is for.
    pub scope: Scope,
    /// The device, for the comment ("CT01 00:18:65:14:01:21").
    pub device: String,
    /// Its part.
    pub direction: Direction,
    /// The application protocol, when recognised (its name).
    pub app: Option<String>,
    /// IP protocol name ("tcp", "udp", ...), for flows without one.
    pub proto: String,
    /// Server port (for flows without an application protocol).
    pub port: u16,
    /// The peer as the policy names it (`device:...`, an address).
    pub peer: String,
    /// Bytes both ways.
    pub bytes: u64,
    /// Flow start and end.
    pub first: Micros,
    /// End.
    pub last: Micros,
    /// DICOM called AE title.
    pub called_ae: Option<String>,
    /// DIMSE commands.
    pub dicom_ops: Vec<String>,
    /// HL7 MSH-5 values.
    pub hl7_receiving: Vec<String>,
    /// HL7 MSH-9 values.
    pub hl7_types: Vec<String>,
    /// MQTT topics published.
    pub mqtt_publish: Vec<String>,
    /// MQTT filters subscribed.
    pub mqtt_subscribe: Vec<String>,
}

#[derive(Default)]
struct Agg {
    devices: BTreeSet<String>,
    flows: u64,
    bytes: u64,
    first: Option<Micros>,
    last: Option<Micros>,
    called: BTreeSet<String>,
    ops: BTreeSet<String>,
    receiving: BTreeSet<String>,
    types: BTreeSet<String>,
    publish: BTreeSet<String>,
    subscribe: BTreeSet<String>,
}

/// The proposal for `uses`, as TOML (`header` lines go first, commented).
pub fn propose(uses: &[Use], header: &[String]) -> String {
    type Key = (Scope, &'static str, String, String);
    let mut groups: BTreeMap<Key, Agg> = BTreeMap::new();
    for u in uses {
        let what = match &u.app {
            Some(a) => format!("app:{a}"),
            None => format!("{}:{:05}", u.proto, u.port),
        };
        let key = (u.scope.clone(), u.direction.name(), what, u.peer.clone());
        let a = groups.entry(key).or_default();
        a.devices.insert(u.device.clone());
        a.flows += 1;
        a.bytes += u.bytes;
        a.first = Some(a.first.map_or(u.first, |f| f.min(u.first)));
        a.last = Some(a.last.map_or(u.last, |l| l.max(u.last)));
        a.called.extend(u.called_ae.iter().cloned());
        a.ops.extend(u.dicom_ops.iter().cloned());
        a.receiving.extend(u.hl7_receiving.iter().cloned());
        a.types.extend(u.hl7_types.iter().cloned());
        a.publish.extend(u.mqtt_publish.iter().cloned());
        a.subscribe.extend(u.mqtt_subscribe.iter().cloned());
    }
    let mut out = String::new();
    for h in header {
        let _ = writeln!(out, "# {h}");
    }
    let classes: BTreeSet<&str> = groups
        .keys()
        .filter_map(|(s, ..)| match s {
            Scope::Class(c) => Some(c.as_str()),
            Scope::Device(_) => None,
        })
        .collect();
    for c in &classes {
        let _ = writeln!(
            out,
            "\n# The entries below are all that {c} devices were seen doing: they\n# replace the shipped entries of the class.\n[class.{c}]\nreplace = true"
        );
    }
    for ((scope, direction, what, peer), a) in &groups {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "# devices: {}",
            a.devices
                .iter()
                .map(|d| comment(d))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "# {} flow(s), {} bytes, first seen {}, last seen {}",
            a.flows,
            a.bytes,
            a.first.map(rfc3339).unwrap_or_default(),
            a.last.map(rfc3339).unwrap_or_default()
        );
        let _ = writeln!(out, "[[allow]]");
        match scope {
            Scope::Class(c) => {
                let _ = writeln!(out, "classes = [{}]", quote(c));
            }
            Scope::Device(d) => {
                let _ = writeln!(out, "devices = [{}]", quote(d));
            }
        }
        let _ = writeln!(out, "note = {}", quote("learnt by medtap baseline propose"));
        let app = what.strip_prefix("app:");
        match app {
            Some(app) => {
                let _ = writeln!(out, "app = {}", quote(app));
            }
            None => {
                let (proto, port) = what.split_once(':').unwrap_or((what.as_str(), "0"));
                let _ = writeln!(out, "proto = {}", quote(proto));
                if !matches!(proto, "icmp" | "ipv6-icmp" | "icmpv6") {
                    let port: u16 = port.parse().unwrap_or(0);
                    let _ = writeln!(out, "ports = [{port}]");
                }
            }
        }
        let _ = writeln!(out, "peer = {}", quote(peer));
        let _ = writeln!(out, "direction = {}", quote(direction));
        match app {
            Some("dicom") if !a.called.is_empty() || !a.ops.is_empty() => {
                let mut parts = Vec::new();
                if !a.called.is_empty() {
                    parts.push(format!("called_ae = {}", list(&a.called)));
                }
                if !a.ops.is_empty() {
                    parts.push(format!("operations = {}", list(&a.ops)));
                }
                let _ = writeln!(out, "dicom = {{ {} }}", parts.join(", "));
            }
            Some("hl7") if !a.types.is_empty() => {
                let mut parts = Vec::new();
                if !a.receiving.is_empty() {
                    parts.push(format!("receiving_app = {}", list(&a.receiving)));
                }
                parts.push(format!("message_types = {}", list(&a.types)));
                let _ = writeln!(out, "hl7 = {{ {} }}", parts.join(", "));
            }
            Some("mqtt") if !a.publish.is_empty() || !a.subscribe.is_empty() => {
                let mut parts = Vec::new();
                if !a.publish.is_empty() {
                    parts.push(format!("publish = {}", list(&a.publish)));
                }
                if !a.subscribe.is_empty() {
                    parts.push(format!("subscribe = {}", list(&a.subscribe)));
                }
                let _ = writeln!(out, "mqtt = {{ {} }}", parts.join(", "));
            }
            _ => {}
        }
    }
    out
}

/// A TOML string (quotes, backslashes and controls escaped by the toml
/// crate itself).
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &BTreeSet<String>) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Text safe inside a `#` comment line: no line breaks or controls.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::classes::Classes;
    use crate::policy::rules::{compile, Context};

    fn dicom_use(peer: &str, called: &str) -> Use {
        Use {
            scope: Scope::Class("ct_scanner".into()),
            device: "CT01 00:18:65:14:01:21".into(),
            direction: Direction::Initiates,
            app: Some("dicom".into()),
            proto: "tcp".into(),
            port: 104,
            peer: peer.into(),
            bytes: 1000,
            first: 0,
            last: 1_000_000,
            called_ae: Some(called.into()),
            dicom_ops: vec!["C-STORE".into()],
            hl7_receiving: vec![],
            hl7_types: vec![],
            mqtt_publish: vec![],
            mqtt_subscribe: vec![],
        }
    }

    #[test]
    fn one_entry_per_peer_that_compiles_back() {
        let mut hostile = dicom_use("device:PACS \"archive\"\n#x", "P\"A\\CS");
        hostile.device = "evil\nname".into();
        let uses = [
            dicom_use("device:10.20.2.10", "PACS"),
            dicom_use("device:10.20.2.10", "PACS"),
            dicom_use("device:10.20.2.12", "RIS"),
            hostile,
        ];
        let text = propose(&uses, &["test".into()]);
        assert_eq!(text.matches("[[allow]]").count(), 3, "{text}");
        assert!(text.contains("# 2 flow(s), 2000 bytes"), "{text}");
        assert!(text.contains("replace = true"));
        assert!(!text.contains("evil\nname"));
        // It is a policy file medtap reads (the hostile peer is not an asset
        // name: its entry is refused with a message, the others compile).
        let classes = Classes::builtin();
        let cx = Context {
            classes,
            assets: None,
            internal: vec![],
            now: 0,
        };
        let clean: Vec<Use> = uses[..3].to_vec();
        let p = compile(&[("p.toml".into(), propose(&clean, &[]))], &cx).unwrap();
        let ct = &p.classes["ct_scanner"];
        assert_eq!(ct.entries.len(), 2);
        let e = &p.entries[ct.entries[0] as usize];
        assert!(e.dicom_operation_ok("C-STORE", "PACS"));
        assert!(!e.dicom_operation_ok("C-FIND", "PACS"));
        let errs = compile(&[("p.toml".into(), text)], &cx).unwrap_err();
        assert!(
            errs.iter().any(|e| e.problem.contains("neither a MAC")),
            "{errs:?}"
        );
    }
}
