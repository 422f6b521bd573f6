//! The policy files: rules/policy.toml (shipped) and the hospital's
//! `policy.toml` in its rules directory, read into a compiled [`Policy`]
//! that answers per flow and per protocol operation (see `evaluate`).
//!
//! A file holds:
//! - `[groups]`: named peer groups, lists of CIDR networks or addresses
//!   (`pacs = ["10.20.2.10"]`). Built in: `any`, `internal` (the config's
//!   local networks, plus broadcast, multicast and link-local),
//!   `internet` (everything else) and `multicast` (multicast and broadcast).
//! - `[[allow]]`: allow entries, each for `classes` (ids, `"*"` for every
//!   enforced class) and/or `devices` (asset name, MAC or IP): an
//!   application protocol (`app`) or a transport (`proto`) and `ports`, the
//!   `peer` (a group, `class:ID` for devices *registered* with that class
//!   in the asset list, `device:NAME|MAC|IP`), the `direction`
//!   (`initiates`, `accepts`, `both`), and protocol conditions: `dicom`
//!   (`called_ae`, `calling_ae`, `operations`), `hl7` (`sending_app`,
//!   `receiving_app`, `message_types`), `mqtt` (`publish`, `subscribe`
//!   topic filters).
//! - `[class.ID]`: `severity` of its violations, `replace = true` (the
//!   hospital's entries for the class replace the shipped ones).
//! - `[severity]`: a rule id → severity, overriding the rule's default.
//! - `[[suppress]]`: `rule`, `device`, `peer`, `until` (a date), `reason`.
//!
//! A class is enforced when an entry names it (not only through `"*"`);
//! a device when an entry names it. Others are not checked against
//! allow-lists (the other detections still watch them).

use super::topic;
use crate::alert::Rule;
use crate::config::span::{line_at, Located};
use crate::device::assets::{parse_ip, parse_mac, AssetList};
use crate::device::classes::Classes;
use crate::kinds::{AppProto, Severity};
use crate::net::{Cidr, Mac};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The shipped rules/policy.toml.
pub const BUILTIN: &str = include_str!("../../rules/policy.toml");
/// Its name in messages.
pub const BUILTIN_FILE: &str = "rules/policy.toml";
/// The hospital's policy file in the rules directory.
pub const POLICY_FILE: &str = "policy.toml";

/// Longest list in a condition or a group (a bound on the work per check).
const MAX_LIST: usize = 1024;

/// DIMSE operations a `dicom.operations` list may name (PS3.7 9 and 10).
pub const DICOM_OPERATIONS: [&str; 12] = [
    "C-STORE",
    "C-FIND",
    "C-GET",
    "C-MOVE",
    "C-ECHO",
    "C-CANCEL",
    "N-EVENT-REPORT",
    "N-GET",
    "N-SET",
    "N-ACTION",
    "N-CREATE",
    "N-DELETE",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    severity: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    class: BTreeMap<String, Spanned<RawClass>>,
    #[serde(default)]
    allow: Vec<Spanned<RawAllow>>,
    #[serde(default)]
    suppress: Vec<Spanned<RawSuppress>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    severity: Option<Spanned<String>>,
    #[serde(default)]
    replace: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    #[serde(default)]
    classes: Vec<Spanned<String>>,
    #[serde(default)]
    devices: Vec<Spanned<String>>,
    note: Option<String>,
    #[serde(default)]
    app: OneOrMany,
    proto: Option<Spanned<String>>,
    #[serde(default)]
    ports: Vec<Spanned<PortSpec>>,
    #[serde(default)]
    peer: OneOrMany,
    direction: Option<Spanned<String>>,
    dicom: Option<RawDicom>,
    hl7: Option<RawHl7>,
    mqtt: Option<RawMqtt>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    // Plain strings: an untagged enum reads through a buffer, which keeps
    // no spans; problems point at the entry instead.
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

impl Default for OneOrMany {
    fn default() -> OneOrMany {
        OneOrMany::Many(Vec::new())
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PortSpec {
    One(u16),
    Range(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDicom {
    called_ae: Option<Vec<String>>,
    calling_ae: Option<Vec<String>>,
    operations: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHl7 {
    sending_app: Option<Vec<String>>,
    receiving_app: Option<Vec<String>>,
    message_types: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMqtt {
    publish: Option<Vec<Spanned<String>>>,
    subscribe: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuppress {
    rule: Spanned<String>,
    device: Option<Spanned<String>>,
    peer: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
    reason: Spanned<String>,
}

/// Which way a device takes part in a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// It opened the flow (the client).
    Initiates,
    /// It answered (the server).
    Accepts,
    /// Either.
    Both,
}

impl Direction {
    /// Whether an entry with this direction covers a device in `role`.
    pub fn covers(self, role: Direction) -> bool {
        self == Direction::Both || self == role
    }

    /// Its name in the files.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Initiates => "initiates",
            Direction::Accepts => "accepts",
            Direction::Both => "both",
        }
    }
}

/// A peer an entry allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Anyone.
    Any,
    /// The local networks, broadcast, multicast and link-local.
    Internal,
    /// Anything not internal.
    Internet,
    /// Multicast and broadcast addresses.
    Multicast,
    /// A named group's networks (`name`, networks).
    Group(String, Vec<Cidr>),
    /// Devices registered with this class in the asset list.
    Class(String),
    /// One device by MAC.
    Mac(Mac),
    /// One device by address.
    Ip(IpAddr),
}

/// A name pattern: exact, or with `*` matching any run of characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        glob(self.0.as_bytes(), text.as_bytes())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `*`-only glob, iterative (no recursion depth to exhaust).
fn glob(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn any_matches(list: &Option<Vec<Pattern>>, text: &str) -> bool {
    list.as_ref()
        .is_none_or(|l| l.iter().any(|p| p.matches(text)))
}

/// DICOM conditions of an entry (absent lists allow anything).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DicomCond {
    /// Called AE titles allowed.
    pub called_ae: Option<Vec<Pattern>>,
    /// Calling AE titles allowed.
    pub calling_ae: Option<Vec<Pattern>>,
    /// DIMSE operations allowed.
    pub operations: Option<Vec<&'static str>>,
}

/// HL7 conditions of an entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hl7Cond {
    /// MSH-3 values allowed.
    pub sending_app: Option<Vec<Pattern>>,
    /// MSH-5 values allowed.
    pub receiving_app: Option<Vec<Pattern>>,
    /// MSH-9 values allowed (`ORU^R01`, `ADT^*`).
    pub message_types: Option<Vec<Pattern>>,
}

/// MQTT conditions of an entry (topic filters, MQTT 3.1.1 §4.7).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MqttCond {
    /// Topics the device may publish to.
    pub publish: Option<Vec<String>>,
    /// Filters the device may subscribe to (a subscription is allowed when
    /// one of these covers it).
    pub subscribe: Option<Vec<String>>,
}

/// One allow entry, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where it was written (`file:line`).
    pub at: String,
    /// Its note.
    pub note: Option<String>,
    /// The application protocols it allows (empty: it names none, and
    /// allows by transport and port).
    pub app: Vec<AppProto>,
    /// The IP protocol number, if it names one.
    pub transport: Option<u8>,
    /// Server port ranges (empty: any).
    pub ports: Vec<(u16, u16)>,
    /// Peers (any of them).
    pub peers: Vec<Peer>,
    /// Direction.
    pub direction: Direction,
    /// DICOM conditions.
    pub dicom: Option<DicomCond>,
    /// HL7 conditions.
    pub hl7: Option<Hl7Cond>,
    /// MQTT conditions.
    pub mqtt: Option<MqttCond>,
}

impl Entry {
    /// Whether the server port is allowed.
    pub fn port_ok(&self, port: u16) -> bool {
        self.ports.is_empty() || self.ports.iter().any(|&(a, b)| (a..=b).contains(&port))
    }

    /// The DICOM association with these AE titles is allowed.
    pub fn dicom_association_ok(&self, calling: &str, called: &str) -> bool {
        self.dicom.as_ref().is_none_or(|d| {
            any_matches(&d.calling_ae, calling) && any_matches(&d.called_ae, called)
        })
    }

    /// The DIMSE request `command` (on an association to `called`) is allowed.
    pub fn dicom_operation_ok(&self, command: &str, called: &str) -> bool {
        self.dicom.as_ref().is_none_or(|d| {
            any_matches(&d.called_ae, called)
                && d.operations
                    .as_ref()
                    .is_none_or(|ops| ops.contains(&command))
        })
    }

    /// The HL7 message with this header is allowed.
    pub fn hl7_ok(&self, sending: &str, receiving: &str, message_type: &str) -> bool {
        self.hl7.as_ref().is_none_or(|h| {
            any_matches(&h.sending_app, sending)
                && any_matches(&h.receiving_app, receiving)
                && any_matches(&h.message_types, message_type)
        })
    }

    /// Publishing to `topic` is allowed.
    pub fn mqtt_publish_ok(&self, topic: &str) -> bool {
        self.mqtt.as_ref().is_none_or(|m| {
            m.publish
                .as_ref()
                .is_none_or(|l| l.iter().any(|f| topic::matches(f, topic)))
        })
    }

    /// Subscribing to `filter` is allowed.
    pub fn mqtt_subscribe_ok(&self, filter: &str) -> bool {
        self.mqtt.as_ref().is_none_or(|m| {
            m.subscribe
                .as_ref()
                .is_none_or(|l| l.iter().any(|f| topic::covers(f, filter)))
        })
    }
}

/// A suppression: known-good noise silenced until a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// Where it was written.
    pub at: String,
    /// The rule silenced.
    pub rule: Rule,
    /// The device (by MAC or address), if limited to one.
    pub device: Option<Peer>,
    /// The peer, if limited to one.
    pub peer: Option<Peer>,
    /// The end of the day it stops (microseconds), if it ends.
    pub until: Option<crate::time::Micros>,
    /// As written.
    pub until_text: Option<String>,
    /// Why.
    pub reason: String,
}

/// A class's own settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassRules {
    /// Its entries (indices into [`Policy::entries`]).
    pub entries: Vec<u32>,
    /// Severity of its violations, when not by grade.
    pub severity: Option<Severity>,
}

/// What the asset list says about a device, for peers and names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetInfo {
    /// Its name.
    pub name: Option<String>,
    /// Its registered class.
    pub class: Option<String>,
}

/// A map the engine looks up per flow and per protocol event: foldhash,
/// not SipHash (its keys come from the policy files and the asset list,
/// not from the wire).
pub type FastHashMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The compiled policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Every entry.
    pub entries: Vec<Entry>,
    /// Entries for every enforced class (`classes = ["*"]`).
    pub common: Vec<u32>,
    /// Enforced classes.
    pub classes: FastHashMap<String, ClassRules>,
    /// Entries for single devices, by MAC or address.
    pub by_mac: FastHashMap<Mac, Vec<u32>>,
    /// Entries for single devices by address.
    pub by_ip: FastHashMap<IpAddr, Vec<u32>>,
    /// Severity per rule, overriding its default.
    pub severity: FastHashMap<Rule, Severity>,
    /// Suppressions.
    pub suppressions: Vec<Suppression>,
    /// The config's local networks (`internal`).
    pub internal: Vec<Cidr>,
    /// The asset list, by MAC.
    pub assets_by_mac: FastHashMap<Mac, AssetInfo>,
    /// The asset list's entries without a MAC, by address.
    pub assets_by_ip: FastHashMap<IpAddr, AssetInfo>,
    /// Files read, shipped first.
    pub files: Vec<String>,
}

/// What the policy is compiled against.
pub struct Context<'a> {
    /// The class table (ids are checked against it).
    pub classes: &'a Classes,
    /// The asset list, if any.
    pub assets: Option<&'a AssetList>,
    /// The config's local networks.
    pub internal: Vec<Cidr>,
    /// Now, for reporting expired suppressions (not applied to them: a
    /// suppression's end is compared with the alert's own time).
    pub now: crate::time::Micros,
}

/// Loads the shipped policy and, when `dir` has one, the hospital's.
pub fn load(dir: Option<&Path>, cx: &Context<'_>) -> Result<Policy, super::PolicyError> {
    let mut texts = vec![(BUILTIN_FILE.to_string(), BUILTIN.to_string())];
    if let Some(dir) = dir {
        let path: PathBuf = dir.join(POLICY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(t) => texts.push((path.display().to_string(), t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(super::PolicyError::Read { path, source }),
        }
    }
    compile(&texts, cx).map_err(super::PolicyError::Invalid)
}

/// Compiles policy files `(name, text)`, in order: later files add
/// entries, groups and suppressions, and override severities.
pub fn compile(texts: &[(String, String)], cx: &Context<'_>) -> Result<Policy, Vec<Located>> {
    let mut p = Policy {
        internal: cx.internal.clone(),
        ..Policy::default()
    };
    index_assets(&mut p, cx.assets);
    let mut problems = Vec::new();
    let mut raws = Vec::new();
    for (file, text) in texts {
        match toml::from_str::<RawFile>(text) {
            Ok(r) => raws.push((file, text, r)),
            Err(e) => problems.push(Located::from_toml(file, text, &e)),
        }
    }
    // Groups first, from every file (a later file's group replaces an
    // earlier one of the same name), so that a hospital's `pacs = [...]`
    // reaches the shipped entries that name `pacs`.
    let mut groups: HashMap<String, Vec<Cidr>> = HashMap::new();
    for (file, text, raw) in &mut raws {
        let mut c = Compiler {
            file,
            text,
            cx,
            problems: &mut problems,
        };
        c.groups(std::mem::take(&mut raw.groups), &mut groups);
    }
    for (file, text, raw) in raws {
        let mut c = Compiler {
            file,
            text,
            cx,
            problems: &mut problems,
        };
        c.file_into(raw, &mut p, &groups);
        p.files.push(file.clone());
    }
    if problems.is_empty() {
        Ok(p)
    } else {
        Err(problems)
    }
}

fn index_assets(p: &mut Policy, assets: Option<&AssetList>) {
    for a in assets.iter().flat_map(|l| l.iter()) {
        let info = AssetInfo {
            name: a.name.clone(),
            class: a.class.clone(),
        };
        match (a.mac, a.ip) {
            (Some(m), _) => {
                p.assets_by_mac.insert(m, info);
            }
            (None, Some(ip)) => {
                p.assets_by_ip.insert(ip, info);
            }
            (None, None) => {}
        }
    }
}

struct Compiler<'a, 'p> {
    file: &'a str,
    text: &'a str,
    cx: &'a Context<'a>,
    problems: &'p mut Vec<Located>,
}

impl Compiler<'_, '_> {
    fn problem(&mut self, offset: usize, key: String, problem: String) {
        self.problems.push(Located::at(
            self.file,
            self.text,
            offset,
            Some(key),
            problem,
        ));
    }

    fn groups(
        &mut self,
        raw: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
        groups: &mut HashMap<String, Vec<Cidr>>,
    ) {
        for (name, list) in raw {
            let key = format!("groups.{name}");
            if builtin_peer(&name).is_some() || name.contains(':') {
                let problem = format!(
                    "{name:?} is a built-in group or a prefixed name and cannot be a group"
                );
                self.problem(list.span().start, key, problem);
                continue;
            }
            let mut nets = Vec::new();
            for (i, n) in list.into_inner().into_iter().take(MAX_LIST).enumerate() {
                match parse_net(n.get_ref()) {
                    Some(c) => nets.push(c),
                    None => self.problem(
                        n.span().start,
                        format!("{key}[{i}]"),
                        format!("{:?} is not an address or CIDR network", n.get_ref()),
                    ),
                }
            }
            groups.insert(name, nets);
        }
    }

    fn file_into(&mut self, raw: RawFile, p: &mut Policy, groups: &HashMap<String, Vec<Cidr>>) {
        for (rule, sev) in raw.severity {
            let key = format!("severity.{rule}");
            match (Rule::from_id(&rule), Severity::from_name(sev.get_ref())) {
                (Some(r), Some(s)) => {
                    p.severity.insert(r, s);
                }
                (None, _) => self.problem(
                    sev.span().start,
                    key,
                    format!("{rule:?} is not a rule id (one of {})", rule_ids()),
                ),
                (_, None) => self.problem(
                    sev.span().start,
                    key,
                    format!("{:?} is not high, medium, low or info", sev.get_ref()),
                ),
            }
        }
        for (id, class) in raw.class {
            let start = class.span().start;
            let class = class.into_inner();
            let key = format!("class.{id}");
            if self.cx.classes.get(&id).is_none() {
                self.problem(start, key, format!("{id:?} is not a device class id"));
                continue;
            }
            let entry = p.classes.entry(id).or_default();
            if class.replace {
                entry.entries.clear();
            }
            if let Some(s) = class.severity {
                match Severity::from_name(s.get_ref()) {
                    Some(sev) => entry.severity = Some(sev),
                    None => {
                        let problem = format!("{:?} is not high, medium, low or info", s.get_ref());
                        self.problem(s.span().start, format!("{key}.severity"), problem);
                    }
                }
            }
        }
        for (i, a) in raw.allow.into_iter().enumerate() {
            let start = a.span().start;
            let a = a.into_inner();
            let key = format!("allow[{i}]");
            let (classes, devices) = (a.classes.clone(), a.devices.clone());
            if classes.is_empty() && devices.is_empty() {
                let problem = "names no `classes` and no `devices`: it would allow nothing".into();
                self.problem(start, key.clone(), problem);
            }
            // Who the entry is for, checked whether or not the rest is valid.
            let mut for_classes = Vec::new();
            let mut for_devices = Vec::new();
            for (j, c) in classes.iter().enumerate() {
                let id = c.get_ref();
                if id == "*" || self.cx.classes.get(id).is_some() {
                    for_classes.push(id.clone());
                } else {
                    let problem = format!("{id:?} is not a device class id");
                    self.problem(c.span().start, format!("{key}.classes[{j}]"), problem);
                }
            }
            for (j, d) in devices.iter().enumerate() {
                match self.device_ref(d.get_ref()) {
                    Ok(peer) => for_devices.push(peer),
                    Err(problem) => {
                        self.problem(d.span().start, format!("{key}.devices[{j}]"), problem)
                    }
                }
            }
            let Some(entry) = self.entry(a, start, &key, groups) else {
                continue;
            };
            let n = p.entries.len() as u32;
            p.entries.push(entry);
            for id in for_classes {
                if id == "*" {
                    p.common.push(n);
                } else {
                    p.classes.entry(id).or_default().entries.push(n);
                }
            }
            for d in for_devices {
                match d {
                    Peer::Mac(m) => p.by_mac.entry(m).or_default().push(n),
                    Peer::Ip(ip) => p.by_ip.entry(ip).or_default().push(n),
                    _ => {}
                }
            }
        }
        for (i, s) in raw.suppress.into_iter().enumerate() {
            let start = s.span().start;
            let s = s.into_inner();
            let key = format!("suppress[{i}]");
            if let Some(sup) = self.suppression(s, start, &key, p) {
                p.suppressions.push(sup);
            }
        }
    }

    fn entry(
        &mut self,
        a: RawAllow,
        start: usize,
        key: &str,
        groups: &HashMap<String, Vec<Cidr>>,
    ) -> Option<Entry> {
        let before = self.problems.len();
        let mut app = Vec::new();
        for (j, s) in a.app.into_vec().iter().enumerate() {
            match AppProto::from_name(s) {
                Some(p) => app.push(p),
                None => {
                    let problem = format!("{s:?} is not an application protocol medtap knows");
                    self.problem(start, format!("{key}.app[{j}]"), problem);
                }
            }
        }
        let transport = match a.proto.as_ref() {
            None if app.is_empty() => None,
            // Every application protocol medtap recognises runs over TCP.
            None => Some(6),
            Some(s) if s.get_ref() == "any" => None,
            Some(s) => {
                let t = crate::flow::proto_number(s.get_ref());
                if t.is_none() {
                    let problem = format!("{:?} is not tcp, udp, icmp, icmpv6 or any", s.get_ref());
                    self.problem(s.span().start, format!("{key}.proto"), problem);
                }
                t
            }
        };
        let mut ports = Vec::new();
        for (j, spec) in a.ports.iter().enumerate() {
            match port_range(spec.get_ref()) {
                Some(r) => ports.push(r),
                None => self.problem(
                    spec.span().start,
                    format!("{key}.ports[{j}]"),
                    "not a port or a range like \"8000-8100\"".into(),
                ),
            }
        }
        let peer_list = a.peer.into_vec();
        let mut peers = Vec::new();
        for (j, s) in peer_list.iter().enumerate() {
            match self.peer(s, groups) {
                Ok(peer) => peers.push(peer),
                Err(problem) => self.problem(start, format!("{key}.peer[{j}]"), problem),
            }
        }
        if peers.is_empty() {
            peers.push(Peer::Any);
        }
        let direction = match a.direction.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("both") => Direction::Both,
            Some("initiates") => Direction::Initiates,
            Some("accepts") => Direction::Accepts,
            Some(other) => {
                let problem = format!("{other:?} is not initiates, accepts or both");
                let at = a.direction.as_ref().map_or(start, |s| s.span().start);
                self.problem(at, format!("{key}.direction"), problem);
                Direction::Both
            }
        };
        let dicom = a.dicom.map(|d| self.dicom(d, key));
        let hl7 = a.hl7.map(|h| Hl7Cond {
            sending_app: patterns(h.sending_app),
            receiving_app: patterns(h.receiving_app),
            message_types: patterns(h.message_types),
        });
        let mqtt = a.mqtt.map(|m| MqttCond {
            publish: self.filters(m.publish, &format!("{key}.mqtt.publish")),
            subscribe: self.filters(m.subscribe, &format!("{key}.mqtt.subscribe")),
        });
        let conditions = [
            (dicom.is_some(), AppProto::Dicom, "dicom"),
            (hl7.is_some(), AppProto::Hl7, "hl7"),
            (mqtt.is_some(), AppProto::Mqtt, "mqtt"),
        ];
        for (given, proto, name) in conditions {
            if given && !app.contains(&proto) {
                let problem = format!("`{name}` conditions need app = \"{}\"", proto.name());
                self.problem(start, format!("{key}.{name}"), problem);
            }
        }
        if self.problems.len() > before {
            return None;
        }
        Some(Entry {
            at: format!("{}:{}", self.file, line_at(self.text, start)),
            note: a.note,
            app,
            transport,
            ports,
            peers,
            direction,
            dicom,
            hl7,
            mqtt,
        })
    }

    fn dicom(&mut self, d: RawDicom, key: &str) -> DicomCond {
        let operations = d.operations.map(|ops| {
            let mut out = Vec::new();
            for (j, op) in ops.iter().enumerate() {
                let name = op.get_ref().to_ascii_uppercase();
                match DICOM_OPERATIONS.iter().find(|o| **o == name) {
                    Some(o) => out.push(*o),
                    None => {
                        let problem = format!(
                            "{:?} is not a DIMSE operation (one of {})",
                            op.get_ref(),
                            DICOM_OPERATIONS.join(", ")
                        );
                        self.problem(
                            op.span().start,
                            format!("{key}.dicom.operations[{j}]"),
                            problem,
                        );
                    }
                }
            }
            out
        });
        DicomCond {
            called_ae: patterns(d.called_ae),
            calling_ae: patterns(d.calling_ae),
            operations,
        }
    }

    fn filters(&mut self, list: Option<Vec<Spanned<String>>>, key: &str) -> Option<Vec<String>> {
        let list = list?;
        let mut out = Vec::new();
        for (j, f) in list.into_iter().take(MAX_LIST).enumerate() {
            match topic::check_filter(f.get_ref()) {
                Ok(()) => out.push(f.into_inner()),
                Err(why) => self.problem(f.span().start, format!("{key}[{j}]"), why.into()),
            }
        }
        Some(out)
    }

    fn peer(&self, text: &str, groups: &HashMap<String, Vec<Cidr>>) -> Result<Peer, String> {
        if let Some(p) = builtin_peer(text) {
            return Ok(p);
        }
        if let Some(id) = text.strip_prefix("class:") {
            return match self.cx.classes.get(id) {
                Some(_) => Ok(Peer::Class(id.to_string())),
                None => Err(format!("{id:?} is not a device class id")),
            };
        }
        if let Some(d) = text.strip_prefix("device:") {
            return self.device_ref(d);
        }
        match groups.get(text) {
            Some(nets) => Ok(Peer::Group(text.to_string(), nets.clone())),
            None => Err(format!(
                "{text:?} is not a group (defined in [groups] before use, or any, internal, internet, multicast), class:ID or device:NAME|MAC|IP"
            )),
        }
    }

    /// A device named by asset name, MAC or address.
    fn device_ref(&self, text: &str) -> Result<Peer, String> {
        if let Ok(m) = parse_mac(text) {
            return Ok(Peer::Mac(m));
        }
        if let Ok(ip) = parse_ip(text) {
            return Ok(Peer::Ip(ip));
        }
        let by_name = self
            .cx
            .assets
            .iter()
            .flat_map(|l| l.iter())
            .find(|a| a.name.as_deref() == Some(text));
        match by_name {
            Some(a) => match (a.mac, a.ip) {
                (Some(m), _) => Ok(Peer::Mac(m)),
                (None, Some(ip)) => Ok(Peer::Ip(ip)),
                (None, None) => Err(format!("asset {text:?} has neither a MAC nor an address")),
            },
            None => Err(format!(
                "{text:?} is neither a MAC, an address nor the name of a device in the asset list"
            )),
        }
    }

    fn suppression(
        &mut self,
        s: RawSuppress,
        start: usize,
        key: &str,
        _p: &Policy,
    ) -> Option<Suppression> {
        let before = self.problems.len();
        let rule = Rule::from_id(s.rule.get_ref());
        if rule.is_none() {
            let problem = format!(
                "{:?} is not a rule id (one of {})",
                s.rule.get_ref(),
                rule_ids()
            );
            self.problem(s.rule.span().start, format!("{key}.rule"), problem);
        }
        let mut end = |v: &Option<Spanned<String>>, name: &str| {
            v.as_ref().and_then(|d| match self.device_ref(d.get_ref()) {
                Ok(p) => Some(p),
                Err(problem) => {
                    self.problem(d.span().start, format!("{key}.{name}"), problem);
                    None
                }
            })
        };
        let device = end(&s.device, "device");
        let peer = end(&s.peer, "peer");
        let until = s
            .until
            .as_ref()
            .and_then(|u| match end_of_day(u.get_ref()) {
                Some(t) => Some(t),
                None => {
                    let problem = format!("{:?} is not a date like 2026-12-31", u.get_ref());
                    self.problem(u.span().start, format!("{key}.until"), problem);
                    None
                }
            });
        if s.reason.get_ref().trim().is_empty() {
            let problem = "a suppression needs a reason".to_string();
            self.problem(s.reason.span().start, format!("{key}.reason"), problem);
        }
        if self.problems.len() > before {
            return None;
        }
        Some(Suppression {
            at: format!("{}:{}", self.file, line_at(self.text, start)),
            rule: rule?,
            device,
            peer,
            until,
            until_text: s.until.map(|u| u.into_inner()),
            reason: s.reason.into_inner(),
        })
    }
}

fn rule_ids() -> String {
    Rule::ALL.map(|r| r.id()).join(", ")
}

fn patterns(list: Option<Vec<String>>) -> Option<Vec<Pattern>> {
    list.map(|l| l.into_iter().take(MAX_LIST).map(Pattern).collect())
}

fn builtin_peer(name: &str) -> Option<Peer> {
    match name {
        "any" => Some(Peer::Any),
        "internal" => Some(Peer::Internal),
        "internet" => Some(Peer::Internet),
        "multicast" => Some(Peer::Multicast),
        _ => None,
    }
}

/// An address (a /32 or /128) or a CIDR network.
fn parse_net(text: &str) -> Option<Cidr> {
    if text.contains('/') {
        return Cidr::parse(text);
    }
    let ip: IpAddr = text.parse().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    Cidr::parse(&format!("{ip}/{bits}"))
}

fn port_range(spec: &PortSpec) -> Option<(u16, u16)> {
    match spec {
        PortSpec::One(p) => Some((*p, *p)),
        PortSpec::Range(s) => {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        }
    }
}

/// The end (last microsecond, UTC) of the day `YYYY-MM-DD`.
fn end_of_day(text: &str) -> Option<crate::time::Micros> {
    let day = crate::time::parse_date(text)?;
    Some(day + 86_400 * crate::time::SECOND - 1)
}

#[cfg(test)]
mod tests;
