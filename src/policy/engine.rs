//! The policy engine: the detections of DB3205/T Appendix A, run per new
//! flow, per recognised protocol, per protocol event, per device event and
//! at flow end (never per packet), raising alerts through the [`Raiser`].
//!
//! - `POLICY_VIOLATION` (A.3 b)): each enforced end of a flow is checked
//!   at its first packet, again when its protocol is recognised (entries
//!   that name a protocol wait for it), and at each association, DIMSE
//!   request, HL7 header, MQTT PUBLISH and SUBSCRIBE.
//! - `EXTERNAL_CONNECTION` (A.3 a)): a medical device and an `internet`
//!   address in one flow.
//! - `CLEARTEXT_MEDICAL_DATA` (A.2 c), d)): the first data-carrying
//!   DICOM/HL7/MQTT operation of a flow not under TLS, and MQTT passwords.
//! - `PROTOCOL_ANOMALY` (A.3 c)): the parsers' anomalies that signal an
//!   attack, MQTT credentials reused by another device.
//! - `NEW_DEVICE`, `IP_MAC_CONFLICT` (A.3 a), A.4 a)): from device events.
//! - `SCAN`, `DATA_EXPORT`, `ROGUE_DHCP_SERVER`, `REMOTE_ACCESS`.
//!
//! Learning mode turns what would be a violation into an observation.

use super::detections::{Detections, Thresholds};
use super::evaluate::{End, Op, Transport, Verdict};
use super::raise::{RaiseCounters, Raiser};
use super::rules::{Direction, Policy};
use super::services::{Service, Services};
use crate::alert::{AlertKey, AlertRecord, EndKey, FlowTuple, Party, Rule};
use crate::device::{ChangeKind, ChangeRecord, DeviceKey, DeviceRecord};
use crate::flow::{proto_name, FlowRecord};
use crate::kinds::{Anomaly, AppProto, Severity};
use crate::net::Mac;
use crate::proto::Fact;
use crate::time::{Micros, SECOND};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Where the engine's alerts go.
pub use super::raise::Emit;

/// Usernames remembered for the credential-reuse check.
const MAX_CREDENTIALS: usize = 4096;
/// Sources tracked by the scan check.
const MAX_SCAN_SOURCES: usize = 4096;

/// When violations are observations rather than alerts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Learning {
    /// Enforcing.
    #[default]
    Off,
    /// Learning until this time (the driving clock: wall time live).
    Until(Micros),
    /// Learning for this long from the first packet (files).
    For(Micros),
    /// Learning throughout (`analyze --learn`).
    Always,
}

/// Scan thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanLimits {
    /// Window.
    pub window: Micros,
    /// Distinct destination hosts from one source within the window.
    pub hosts: u32,
    /// Distinct (host, port) pairs from one source within the window.
    pub ports: u32,
}

impl Default for ScanLimits {
    fn default() -> ScanLimits {
        ScanLimits {
            window: 60 * SECOND,
            hosts: 32,
            ports: 64,
        }
    }
}

/// Everything the engine is built from.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// The compiled policy.
    pub policy: Arc<Policy>,
    /// Rate thresholds (bursts, brute force).
    pub thresholds: Thresholds,
    /// Scan thresholds.
    pub scan: ScanLimits,
    /// A medical device sending more than this to a peer outside its
    /// allow-list is a data export.
    pub export_bytes: u64,
    /// Repeats of one finding within this fold into one alert.
    pub window: Micros,
    /// Learning mode.
    pub learning: Learning,
    /// First alert id (one past the database's highest).
    pub first_alert_id: u64,
    /// DHCP servers the config allows besides the asset list's
    /// `dhcp_server` devices.
    pub dhcp_servers: Vec<IpAddr>,
    /// A device's services in this long after it is first seen are its
    /// baseline (NEW_SERVICE after that).
    pub service_grace: Micros,
    /// What earlier runs saw devices offer: (device, first seen, services).
    pub known_services: Arc<Vec<(EndKey, Micros, Vec<Service>)>>,
    /// How long a new alert waits for more of its flow's evidence before
    /// its first write: 0 writes it at once (a live sensor, where
    /// `alerts --follow` shows it within a second); reading files,
    /// [`super::raise::FIRST_WRITE_AFTER`] writes it once instead of twice.
    pub first_write_after: Micros,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            policy: Arc::new(Policy::default()),
            thresholds: Thresholds::default(),
            scan: ScanLimits::default(),
            export_bytes: 100 << 20,
            window: 3600 * SECOND,
            learning: Learning::Off,
            first_alert_id: 1,
            dhcp_servers: Vec::new(),
            service_grace: 86_400 * SECOND,
            known_services: Arc::default(),
            first_write_after: super::raise::FIRST_WRITE_AFTER,
        }
    }
}

/// One end's standing in a flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Standing {
    #[default]
    NotEnforced,
    Allowed,
    Pending,
    Violated,
}

/// What the engine remembers per flow (by flow-table slot): 4 bytes.
#[derive(Clone, Copy, Debug, Default)]
struct FlowState {
    ends: [Standing; 2],
    app: Option<AppProto>,
    /// Seen already on this flow in clear: medical data, credentials
    /// (indexed by [`Carried`]).
    cleartext: [bool; 2],
    remote: bool,
}

/// A flow as the engine's calls see it.
#[derive(Clone, Copy, Debug)]
pub struct FlowCtx<'a> {
    /// Flow-table slot.
    pub slot: u32,
    /// Flow id.
    pub flow_id: u64,
    /// IP protocol.
    pub proto: u8,
    /// Client (initiator) address and port.
    pub client: (IpAddr, u16),
    /// Server address and port.
    pub server: (IpAddr, u16),
    /// The two ends: client, server.
    pub ends: [End<'a>; 2],
    /// When.
    pub ts: Micros,
}

/// Counters of the engine, for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Alerts raised, folded, suppressed.
    pub raise: RaiseCounters,
    /// Checks against allow-lists.
    pub checks: u64,
    /// Violations found (alerts or observations).
    pub violations: u64,
    /// Violations recorded as observations (learning).
    pub observations: u64,
}

#[derive(Clone, Debug)]
struct ScanWindow {
    start: Micros,
    hosts: Vec<IpAddr>,
    pairs: Vec<(IpAddr, u16)>,
    raised: bool,
}

/// The policy engine for one sensor.
pub struct Engine {
    policy: Arc<Policy>,
    flows: Vec<FlowState>,
    raiser: Raiser,
    detections: Detections,
    opts: EngineOptions,
    learn_until: Option<Micros>,
    /// Keyed user-name hash → the device that first logged in with it.
    credentials: HashMap<u64, EndKey, foldhash::fast::RandomState>,
    scans: HashMap<IpAddr, ScanWindow, foldhash::fast::RandomState>,
    /// The latest new device's record (its vendor), for its NEW_DEVICE alert.
    last_seen: Option<DeviceRecord>,
    services: Services,
    counters: EngineCounters,
}

impl Engine {
    /// An engine for a flow table of `max_flows` slots.
    pub fn new(opts: EngineOptions, max_flows: usize) -> Engine {
        let learn_until = match opts.learning {
            Learning::Off => None,
            Learning::Until(t) => Some(t),
            Learning::For(_) => None,
            Learning::Always => Some(Micros::MAX),
        };
        let mut services = Services::default();
        for (device, first, list) in opts.known_services.iter() {
            services.preload(*device, *first, list);
        }
        Engine {
            services,
            policy: Arc::clone(&opts.policy),
            // Grown as slots are used: pages are touched by flows seen.
            flows: Vec::with_capacity(max_flows.min(1 << 16)),
            raiser: Raiser::new(opts.first_alert_id, opts.window)
                .first_write_after(opts.first_write_after),
            detections: Detections::with_thresholds(opts.thresholds),
            learn_until,
            opts,
            credentials: HashMap::default(),
            scans: HashMap::default(),
            last_seen: None,
            counters: EngineCounters::default(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the policy (a reload); flow and device state are kept.
    pub fn set_policy(&mut self, policy: Arc<Policy>) {
        self.policy = policy;
    }

    /// Counters.
    pub fn counters(&self) -> EngineCounters {
        EngineCounters {
            raise: self.raiser.counters(),
            ..self.counters
        }
    }

    /// Whether violations at `ts` are observations.
    fn learning(&mut self, ts: Micros) -> bool {
        if let (Learning::For(d), None) = (self.opts.learning, self.learn_until) {
            self.learn_until = Some(ts.saturating_add(d));
        }
        self.learn_until.is_some_and(|u| ts < u)
    }

    fn state(&mut self, slot: u32) -> &mut FlowState {
        let i = slot as usize;
        if i >= self.flows.len() {
            self.flows.resize(i + 1, FlowState::default());
        }
        &mut self.flows[i]
    }

    /// The first packet of a flow.
    pub fn flow_started(&mut self, cx: &FlowCtx<'_>, emit: Emit<'_>) {
        *self.state(cx.slot) = FlowState::default();
        let t = transport(cx, None);
        for i in 0..2 {
            self.restand(cx, i, &t, None, emit);
        }
        for i in 0..2 {
            let (me, peer) = (&cx.ends[i], &cx.ends[1 - i]);
            let outside = peer.ip.is_some_and(|ip| !self.policy.is_internal(ip));
            if me.medical && outside {
                let way = if i == 0 { "outbound" } else { "inbound" };
                let key = key_of(
                    Rule::ExternalConnection,
                    false,
                    me,
                    Some(peer),
                    format_args!("{way}"),
                );
                if self.folds(&key, cx.ts, emit) {
                    continue;
                }
                let mut ev = Map::new();
                ev.insert("direction".into(), way.into());
                let msg = format!(
                    "{}: {} {} {} ({}/{})",
                    Rule::ExternalConnection.title(),
                    self.describe(me),
                    if i == 0 {
                        "connects to"
                    } else {
                        "is reached from"
                    },
                    self.describe(peer),
                    proto_name(cx.proto),
                    cx.server.1
                );
                let rec = self.record(Rule::ExternalConnection, cx, i, way, msg, ev);
                self.raise(rec, emit);
            }
        }
        self.scan(cx, emit);
    }

    /// The flow's application protocol was recognised.
    pub fn app_recognised(&mut self, cx: &FlowCtx<'_>, app: AppProto, emit: Emit<'_>) {
        self.state(cx.slot).app = Some(app);
        // Violations raised at the first packet learn the protocol.
        self.enrich_violations(cx, &Map::new());
        let t = transport(cx, Some(app));
        for i in 0..2 {
            if self.state(cx.slot).ends[i] != Standing::Pending {
                continue;
            }
            let standing = match self.check(cx, i, &t, &Op::App(app)) {
                Verdict::Violation | Verdict::Pending => {
                    self.violation(
                        cx,
                        i,
                        Some(app),
                        &|| (app.name().to_string(), Map::new()),
                        emit,
                    );
                    Standing::Violated
                }
                Verdict::Allowed => Standing::Allowed,
                Verdict::NotEnforced => Standing::NotEnforced,
            };
            self.state(cx.slot).ends[i] = standing;
        }
        if is_remote_access(app) {
            self.remote_access(cx, app, emit);
        }
        for i in 0..2 {
            self.service(cx, i, Service::App(app), emit);
        }
    }

    /// A protocol fact of the flow: the cross-flow rate checks' anomaly
    /// (raised on the flow by the caller, and back here as an anomaly),
    /// and the policy's checks of the operation.
    pub fn fact(&mut self, cx: &FlowCtx<'_>, fact: Fact<'_>, emit: Emit<'_>) -> Option<Anomaly> {
        let anomaly = self.detections.fact(cx.client.0, fact, cx.ts);
        let app = self.state(cx.slot).app;
        match fact {
            Fact::AssociationStarted { calling, called } => {
                let describe = || {
                    let mut ev = Map::new();
                    ev.insert("calling_ae".into(), calling.into());
                    ev.insert("called_ae".into(), called.into());
                    (format!("A-ASSOCIATE {calling} → {called}"), ev)
                };
                if self.state(cx.slot).ends.contains(&Standing::Violated) {
                    self.enrich_violations(cx, &describe().1);
                }
                let op = Op::DicomAssociation { calling, called };
                self.operation(cx, app, &op, &describe, emit);
            }
            Fact::DicomRequest { command, called } => {
                let describe = || {
                    let mut ev = Map::new();
                    ev.insert("operation".into(), command.into());
                    ev.insert("called_ae".into(), called.into());
                    (format!("{command} to AE {called}"), ev)
                };
                let op = Op::DicomOperation { command, called };
                self.operation(cx, app, &op, &describe, emit);
                if command != "C-ECHO" {
                    self.cleartext(cx, AppProto::Dicom, Carried::Data, emit);
                }
            }
            Fact::MqttPublish(topic) => {
                let describe = || {
                    let mut ev = Map::new();
                    ev.insert("topic".into(), topic.into());
                    (format!("PUBLISH {topic}"), ev)
                };
                self.operation(cx, app, &Op::MqttPublish(topic), &describe, emit);
                self.cleartext(cx, AppProto::Mqtt, Carried::Data, emit);
            }
            Fact::MqttSubscribe(filter) => {
                let describe = || {
                    let mut ev = Map::new();
                    ev.insert("filter".into(), filter.into());
                    (format!("SUBSCRIBE {filter}"), ev)
                };
                self.operation(cx, app, &Op::MqttSubscribe(filter), &describe, emit);
            }
            Fact::MqttConnect {
                client_id,
                username,
                password,
                accepted,
            } => {
                if password {
                    self.cleartext(cx, AppProto::Mqtt, Carried::Credentials, emit);
                }
                if let (Some(h), true) = (username, accepted) {
                    self.credentials(cx, h, client_id, emit);
                }
            }
            Fact::MoveDestination(_) | Fact::Queries(_) | Fact::AuthFailure => {}
        }
        anomaly
    }

    /// An HL7 message header of the flow (sent by the client when
    /// `to_server`).
    pub fn hl7_message(
        &mut self,
        cx: &FlowCtx<'_>,
        m: &crate::proto::hl7::MessageRecord,
        emit: Emit<'_>,
    ) {
        let (sending, receiving) = (
            m.sending_app.as_deref().unwrap_or(""),
            m.receiving_app.as_deref().unwrap_or(""),
        );
        let message_type = m.message_type.as_deref().unwrap_or("");
        if message_type.starts_with("ACK") {
            // Acknowledgements answer what was allowed or not.
            return;
        }
        let describe = || {
            let mut ev = Map::new();
            ev.insert("sending_app".into(), sending.into());
            ev.insert("receiving_app".into(), receiving.into());
            ev.insert("message_type".into(), message_type.into());
            (format!("HL7 {message_type} {sending} → {receiving}"), ev)
        };
        let op = Op::Hl7 {
            sending,
            receiving,
            message_type,
        };
        let app = self.state(cx.slot).app;
        self.operation(cx, app, &op, &describe, emit);
        self.cleartext(cx, AppProto::Hl7, Carried::Data, emit);
    }

    /// A protocol anomaly on the flow.
    pub fn anomaly(
        &mut self,
        cx: &FlowCtx<'_>,
        anomaly: Anomaly,
        detail: Option<&str>,
        emit: Emit<'_>,
    ) {
        let Some(severity) = anomaly_severity(anomaly) else {
            return;
        };
        // A `#` subscription is a dashboard's job when the dashboard is
        // registered; from an unknown client it reads everything.
        if anomaly == Anomaly::MqttWildcardSubscription && self.policy.is_registered(&cx.ends[0]) {
            return;
        }
        let key = key_of(
            Rule::ProtocolAnomaly,
            false,
            &cx.ends[0],
            Some(&cx.ends[1]),
            format_args!("{}", anomaly.name()),
        );
        if self.folds(&key, cx.ts, emit) {
            return;
        }
        let mut ev = Map::new();
        ev.insert("anomaly".into(), anomaly.name().into());
        if let Some(d) = detail {
            ev.insert("detail".into(), d.into());
        }
        let msg = format!(
            "{}: {} from {} to {}{}",
            Rule::ProtocolAnomaly.title(),
            anomaly.name(),
            self.describe(&cx.ends[0]),
            self.describe(&cx.ends[1]),
            detail.map(|d| format!(" ({d})")).unwrap_or_default()
        );
        let mut rec = self.record(Rule::ProtocolAnomaly, cx, 0, anomaly.name(), msg, ev);
        rec.severity = self
            .rule_severity(Rule::ProtocolAnomaly)
            .unwrap_or(severity);
        self.raise(rec, emit);
    }

    /// The flow ended.
    pub fn flow_ended(&mut self, cx: &FlowCtx<'_>, r: &FlowRecord, emit: Emit<'_>) {
        let st = *self.state(cx.slot);
        for i in 0..2 {
            // Data flowed and no protocol an entry names was recognised.
            if st.ends[i] == Standing::Pending && r.dirs.iter().any(|d| d.payload_bytes > 0) {
                let describe = || {
                    let mut ev = Map::new();
                    ev.insert("protocol".into(), "not recognised".into());
                    (detail_of(cx, None).to_string(), ev)
                };
                self.violation(cx, i, None, &describe, emit);
            }
        }
        for i in 0..2 {
            let sent = r.dirs[i].bytes;
            let outside = matches!(st.ends[i], Standing::Violated | Standing::Pending);
            if cx.ends[i].medical && outside && sent > self.opts.export_bytes {
                let mut ev = Map::new();
                ev.insert("bytes_sent".into(), sent.into());
                ev.insert("threshold".into(), self.opts.export_bytes.into());
                ev.insert("duration_s".into(), secs(r.end - r.start).into());
                let msg = format!(
                    "{}: {} sent {} bytes to {}, outside its allow-list",
                    Rule::DataExport.title(),
                    self.describe(&cx.ends[i]),
                    sent,
                    self.describe(&cx.ends[1 - i])
                );
                let rec = self.record(Rule::DataExport, cx, i, "", msg, ev);
                self.raise(rec, emit);
            }
        }
        if st.remote {
            if let Some(app) = st.app {
                self.remote_access_ended(cx, app, r);
            }
        }
        if served(r) {
            self.service(cx, 1, Service::Port(r.proto, r.dest_port), emit);
        }
    }

    /// End `i` of the flow offers or speaks `s`: NEW_SERVICE when that is
    /// new after its baseline (never while learning).
    fn service(&mut self, cx: &FlowCtx<'_>, i: usize, s: Service, emit: Emit<'_>) {
        let me = &cx.ends[i];
        if me.mac.is_none() {
            // Only devices on the local networks have a service history.
            return;
        }
        let device = EndKey::from_parts(me.mac, me.ip);
        let learning = self.learning(cx.ts);
        let grace = self.opts.service_grace;
        let until = |first: Micros| {
            let end = first.saturating_add(grace);
            end.max(if learning { Micros::MAX } else { Micros::MIN })
        };
        if !self.services.observe(device, s, cx.ts, until) {
            return;
        }
        let mut ev = Map::new();
        ev.insert("service".into(), s.name().into());
        let verb = match s {
            Service::Port(..) => "accepts on",
            Service::App(_) => "speaks",
        };
        let msg = format!(
            "{}: {} {} {} for the first time (with {})",
            Rule::NewService.title(),
            self.describe(me),
            verb,
            s.name(),
            self.describe(&cx.ends[1 - i])
        );
        let rec = self.record(Rule::NewService, cx, i, &s.name(), msg, ev);
        self.raise(rec, emit);
    }

    /// A device event: new devices and address conflicts.
    pub fn device_event(&mut self, e: &crate::device::inventory::DeviceEvent, emit: Emit<'_>) {
        use crate::device::inventory::DeviceEvent;
        match e {
            DeviceEvent::Seen(d) => self.last_seen = Some(*d),
            DeviceEvent::Change(c) => self.change(c, emit),
            // Without an asset list no NEW_DEVICE alert is open to enrich.
            _ if !self.policy.has_assets() => {}
            DeviceEvent::Ip(b) => {
                let key = self.new_device_key(b.device);
                let ip = b.ip;
                self.raiser.update(&key, |a| {
                    a.device.ip.get_or_insert(ip);
                });
            }
            // Evidence for an open NEW_DEVICE alert only: no map is built
            // for the devices that have none.
            DeviceEvent::Name(n) if self.raiser.is_open(&self.new_device_key(n.device)) => {
                let mut ev = Map::new();
                ev.insert(n.kind.name().into(), (*n.value).into());
                self.enrich_new_device(n.device, ev);
            }
            DeviceEvent::Class(c) if self.raiser.is_open(&self.new_device_key(c.device)) => {
                let mut ev = Map::new();
                ev.insert("class".into(), c.class.class.clone().into());
                self.enrich_new_device(c.device, ev);
            }
            DeviceEvent::Name(_) | DeviceEvent::Class(_) => {}
        }
    }

    /// A DHCP server's message (OFFER or ACK) from `mac` at `ip`.
    pub fn dhcp_server(&mut self, ts: Micros, mac: Option<Mac>, ip: IpAddr, emit: Emit<'_>) {
        let end = End {
            mac,
            ip: Some(ip),
            ..End::default()
        };
        let registered = self.policy.registered_class(&end) == Some("dhcp_server");
        if registered || self.opts.dhcp_servers.contains(&ip) {
            return;
        }
        if !self.policy.has_assets() && self.opts.dhcp_servers.is_empty() {
            // Nobody said which servers are the hospital's.
            return;
        }
        let msg = format!(
            "{}: {} offers addresses and is neither a registered dhcp_server nor in the config",
            Rule::RogueDhcpServer.title(),
            self.describe(&end)
        );
        let rec = AlertRecord {
            alert_id: 0,
            first_seen: ts,
            last_seen: ts,
            count: 0,
            rule: Rule::RogueDhcpServer,
            severity: self.severity_of(Rule::RogueDhcpServer, &end),
            message: msg,
            detail: String::new(),
            device: self.party(&end),
            peer: Party::default(),
            flow: None,
            evidence: Map::new(),
            observation: false,
        };
        self.raise(rec, emit);
    }

    /// Hands on alerts that grew; closes those whose window is over.
    pub fn flush(&mut self, now: Micros, emit: Emit<'_>) {
        self.raiser.flush(now, emit);
    }

    /// Hands on every alert in its latest state (end of input, shutdown).
    pub fn finish(&mut self, emit: Emit<'_>) {
        self.raiser.finish(emit);
    }

    // ---- the checks ----------------------------------------------------

    fn check(&mut self, cx: &FlowCtx<'_>, i: usize, t: &Transport, op: &Op<'_>) -> Verdict {
        let role = if i == 0 {
            Direction::Initiates
        } else {
            Direction::Accepts
        };
        let v = self.policy.check(&cx.ends[i], role, &cx.ends[1 - i], t, op);
        if v != Verdict::NotEnforced {
            self.counters.checks += 1;
        }
        v
    }

    /// Checks `op` for every end that is allowed so far.
    fn operation(
        &mut self,
        cx: &FlowCtx<'_>,
        app: Option<AppProto>,
        op: &Op<'_>,
        describe: &dyn Fn() -> (String, Map<String, Value>),
        emit: Emit<'_>,
    ) {
        let t = transport(cx, app);
        for i in 0..2 {
            if self.state(cx.slot).ends[i] == Standing::NotEnforced {
                // Its class may have been learnt since the flow started
                // (from this very flow's facts): hold it to its list now.
                self.restand(cx, i, &t, app, emit);
            }
            if self.state(cx.slot).ends[i] != Standing::Allowed {
                continue;
            }
            if self.check(cx, i, &t, op) == Verdict::Violation {
                self.violation(cx, i, app, describe, emit);
            }
        }
    }

    /// The standing of end `i` in the flow, from its allow-list now: at the
    /// flow's first packet, and later for an end whose class was learnt
    /// after the flow started.
    fn restand(
        &mut self,
        cx: &FlowCtx<'_>,
        i: usize,
        t: &Transport,
        app: Option<AppProto>,
        emit: Emit<'_>,
    ) {
        let op = app.map_or(Op::Flow, Op::App);
        let standing = match self.check(cx, i, t, &op) {
            Verdict::NotEnforced => Standing::NotEnforced,
            Verdict::Allowed => Standing::Allowed,
            Verdict::Pending if app.is_none() => Standing::Pending,
            Verdict::Pending | Verdict::Violation => {
                self.violation(
                    cx,
                    i,
                    app,
                    &|| (detail_of(cx, app).to_string(), Map::new()),
                    emit,
                );
                Standing::Violated
            }
        };
        self.state(cx.slot).ends[i] = standing;
    }

    /// Raises a violation by end `i` (an observation while learning).
    fn violation(
        &mut self,
        cx: &FlowCtx<'_>,
        i: usize,
        app: Option<AppProto>,
        describe: &dyn Fn() -> (String, Map<String, Value>),
        emit: Emit<'_>,
    ) {
        self.counters.violations += 1;
        let observation = self.learning(cx.ts);
        self.counters.observations += u64::from(observation);
        let role = if i == 0 { "initiates" } else { "accepts" };
        let (me, peer) = (&cx.ends[i], &cx.ends[1 - i]);
        let d = detail_of(cx, app);
        let key = key_of(
            Rule::PolicyViolation,
            observation,
            me,
            Some(peer),
            format_args!("{role} {d}"),
        );
        if self.folds(&key, cx.ts, emit) {
            return;
        }
        let (what, ev) = describe();
        let msg = format!(
            "{}: {} ({}) {} {} {} {}",
            Rule::PolicyViolation.title(),
            self.describe(me),
            me.class.unwrap_or("unknown"),
            role,
            what,
            if i == 0 { "to" } else { "from" },
            self.describe(peer),
        );
        let detail = format!("{role} {d}");
        let mut rec = self.record(Rule::PolicyViolation, cx, i, &detail, msg, ev);
        rec.severity = self.policy.violation_severity(me);
        rec.observation = observation;
        if let Some(app) = app {
            if let Some(f) = rec.flow.as_mut() {
                f.app_proto = Some(app);
            }
        }
        self.raise(rec, emit);
    }

    /// Adds a flow's later facts (AE titles) to the violations its ends
    /// raised at its first packet.
    fn enrich_violations(&mut self, cx: &FlowCtx<'_>, ev: &Map<String, Value>) {
        let st = *self.state(cx.slot);
        for i in 0..2 {
            if st.ends[i] != Standing::Violated {
                continue;
            }
            let role = if i == 0 { "initiates" } else { "accepts" };
            // The detail the violation was raised with: at the first
            // packet (transport), or when the protocol was recognised.
            for app in [None, st.app] {
                let detail = format!("{role} {}", detail_of(cx, app));
                let key = self.key(Rule::PolicyViolation, cx, i, &detail);
                let (flow_id, known) = (cx.flow_id, st.app);
                self.raiser.update(&key, |a| {
                    for (k, v) in ev {
                        a.evidence.entry(k.clone()).or_insert(v.clone());
                    }
                    if let Some(f) = a.flow.as_mut().filter(|f| f.flow_id == flow_id) {
                        f.app_proto = f.app_proto.or(known);
                    }
                });
            }
        }
    }

    /// A posture finding per device pair, protocol and day: the flows that
    /// carried the protocol in clear are its count; its evidence says
    /// what they carried (data, credentials).
    fn cleartext(&mut self, cx: &FlowCtx<'_>, app: AppProto, what: Carried, emit: Emit<'_>) {
        let st = self.state(cx.slot);
        if st.cleartext[what as usize] {
            return;
        }
        let flow_counted = st.cleartext.contains(&true);
        st.cleartext[what as usize] = true;
        let violated = st.ends.contains(&Standing::Violated);
        // The device of the pair: the medical end, else the client.
        let i = usize::from(!cx.ends[0].medical && cx.ends[1].medical);
        let (me, peer) = (&cx.ends[i], &cx.ends[1 - i]);
        let key = key_of(
            Rule::CleartextMedicalData,
            false,
            me,
            Some(peer),
            format_args!("{}", app.name()),
        );
        // One occurrence per flow; what else the flow carries is evidence.
        if flow_counted || self.folds(&key, cx.ts, emit) {
            let mut ev = Map::new();
            ev.insert(what.key().into(), true.into());
            self.raiser.enrich(&key, ev, false);
            return;
        }
        let mut ev = Map::new();
        ev.insert("protocol".into(), app.name().into());
        ev.insert("tls".into(), false.into());
        ev.insert(what.key().into(), true.into());
        let msg = format!(
            "{}: {} between {} and {} without TLS",
            Rule::CleartextMedicalData.title(),
            app.name().to_uppercase(),
            self.describe(&cx.ends[i]),
            self.describe(&cx.ends[1 - i])
        );
        let mut rec = self.record(Rule::CleartextMedicalData, cx, i, app.name(), msg, ev);
        // A posture finding; worth a look today when the peer is not even allowed.
        rec.severity = match (self.rule_severity(Rule::CleartextMedicalData), violated) {
            (Some(s), _) => s,
            (None, true) => Severity::Medium,
            (None, false) => Severity::Info,
        };
        self.raise(rec, emit);
    }

    fn credentials(&mut self, cx: &FlowCtx<'_>, hash: u64, client_id: &str, emit: Emit<'_>) {
        let me = EndKey::from_parts(cx.ends[0].mac, cx.ends[0].ip);
        if me == EndKey::None {
            return;
        }
        match self.credentials.get(&hash) {
            None => {
                if self.credentials.len() < MAX_CREDENTIALS {
                    self.credentials.insert(hash, me);
                }
            }
            Some(&first) if first == me => {}
            Some(&first) => {
                let first_end = match first {
                    EndKey::Mac(m) => End {
                        mac: Some(m),
                        ..End::default()
                    },
                    EndKey::Ip(ip) => End {
                        ip: Some(ip),
                        ..End::default()
                    },
                    EndKey::None => End::default(),
                };
                let first_name = self.describe(&first_end);
                let mut ev = Map::new();
                ev.insert("anomaly".into(), "mqtt.credential_reuse".into());
                ev.insert("client_id".into(), client_id.into());
                ev.insert("first_used_by".into(), end_key_text(first).into());
                let msg = format!(
                    "{}: {} logged in to {} with the MQTT user name of {} (client id {:?})",
                    Rule::ProtocolAnomaly.title(),
                    self.describe(&cx.ends[0]),
                    self.describe(&cx.ends[1]),
                    first_name,
                    client_id
                );
                let mut rec = self.record(
                    Rule::ProtocolAnomaly,
                    cx,
                    0,
                    "mqtt.credential_reuse",
                    msg,
                    ev,
                );
                rec.severity = self
                    .rule_severity(Rule::ProtocolAnomaly)
                    .unwrap_or(Severity::High);
                self.raise(rec, emit);
            }
        }
    }

    fn remote_access(&mut self, cx: &FlowCtx<'_>, app: AppProto, emit: Emit<'_>) {
        // About the medical end; a session between two other devices is
        // not this rule's business.
        let Some(i) = (0..2).find(|&i| cx.ends[i].medical) else {
            return;
        };
        self.state(cx.slot).remote = true;
        let key = key_of(
            Rule::RemoteAccess,
            false,
            &cx.ends[i],
            Some(&cx.ends[1 - i]),
            format_args!("{}", app.name()),
        );
        if self.folds(&key, cx.ts, emit) {
            return;
        }
        let mut ev = Map::new();
        ev.insert("protocol".into(), app.name().into());
        ev.insert("client".into(), cx.client.0.to_string().into());
        ev.insert("server".into(), cx.server.0.to_string().into());
        let msg = format!(
            "{}: {} session from {} to {}",
            Rule::RemoteAccess.title(),
            app.name(),
            self.describe(&cx.ends[0]),
            self.describe(&cx.ends[1])
        );
        let mut rec = self.record(Rule::RemoteAccess, cx, i, app.name(), msg, ev);
        if let Some(f) = rec.flow.as_mut() {
            f.app_proto = Some(app);
        }
        self.raise(rec, emit);
    }

    /// The audit trail of a remote session: its duration and bytes.
    fn remote_access_ended(&mut self, cx: &FlowCtx<'_>, app: AppProto, r: &FlowRecord) {
        let Some(i) = (0..2).find(|&i| cx.ends[i].medical) else {
            return;
        };
        let key = self.key(Rule::RemoteAccess, cx, i, app.name());
        let mut ev = Map::new();
        ev.insert(
            "last_session".into(),
            json!({
                "flow_id": r.flow_id,
                "start": crate::time::rfc3339(r.start),
                "end": crate::time::rfc3339(r.end),
                "duration_s": secs(r.end - r.start),
                "bytes_toserver": r.dirs[0].bytes,
                "bytes_toclient": r.dirs[1].bytes,
            }),
        );
        self.raiser.enrich(&key, ev, true);
    }

    fn scan(&mut self, cx: &FlowCtx<'_>, emit: Emit<'_>) {
        let limits = self.opts.scan;
        let (src, dst) = (cx.client.0, cx.server.0);
        if super::evaluate::is_multicast(dst) {
            return;
        }
        if self.scans.len() >= MAX_SCAN_SOURCES && !self.scans.contains_key(&src) {
            evict_scan_windows(&mut self.scans, cx.ts, limits.window);
        }
        // Each source's lists grow as it touches hosts (most touch a few:
        // sizing them for the thresholds up front cost ~2 KB per source)
        // and keep their room window after window.
        let w = self.scans.entry(src).or_insert_with(|| ScanWindow {
            start: cx.ts,
            hosts: Vec::new(),
            pairs: Vec::new(),
            raised: false,
        });
        if cx.ts - w.start >= limits.window {
            w.start = cx.ts;
            w.hosts.clear();
            w.pairs.clear();
            w.raised = false;
        }
        if w.raised {
            return;
        }
        // Bounded: the lists stop growing at their threshold.
        if !w.hosts.contains(&dst) {
            w.hosts.push(dst);
        }
        let pair = (dst, cx.server.1);
        if !w.pairs.contains(&pair) {
            w.pairs.push(pair);
        }
        let hosts = w.hosts.len() as u32 >= limits.hosts.max(2);
        let ports = w.pairs.len() as u32 >= limits.ports.max(2);
        if !(hosts || ports) {
            return;
        }
        w.raised = true;
        let (n_hosts, n_pairs) = (w.hosts.len(), w.pairs.len());
        let kind = if hosts { "hosts" } else { "ports" };
        let mut ev = Map::new();
        ev.insert("hosts".into(), n_hosts.into());
        ev.insert("host_ports".into(), n_pairs.into());
        ev.insert("window_s".into(), secs(limits.window).into());
        let msg = format!(
            "{}: {} touched {} hosts and {} host:port pairs within {} s",
            Rule::Scan.title(),
            self.describe(&cx.ends[0]),
            n_hosts,
            n_pairs,
            secs(limits.window)
        );
        let mut rec = self.record(Rule::Scan, cx, 0, kind, msg, ev);
        rec.peer = Party::default();
        self.raise(rec, emit);
    }

    fn change(&mut self, c: &ChangeRecord, emit: Emit<'_>) {
        let end = self.end_of_key(c.device, c.ip);
        match c.kind {
            ChangeKind::NewDevice => {
                if !self.policy.has_assets() {
                    // No asset list: every device would be new.
                    return;
                }
                if self.policy.is_registered(&end) {
                    return;
                }
                let mut ev = Map::new();
                ev.insert("seen_by".into(), c.evidence.name().into());
                if let Some(d) = self.last_seen.filter(|d| d.key == c.device) {
                    if let Some(v) = d.vendor {
                        ev.insert("vendor".into(), v.organization.into());
                        ev.insert("medical_vendor".into(), v.medical.into());
                    }
                    ev.insert(
                        "locally_administered_mac".into(),
                        d.locally_administered.into(),
                    );
                }
                let msg = format!(
                    "{}: {} is not in the asset list",
                    Rule::NewDevice.title(),
                    self.describe(&end)
                );
                let rec = self.device_record(Rule::NewDevice, c.ts, &end, None, "", msg, ev);
                self.raise(rec, emit);
            }
            ChangeKind::IpConflict
            | ChangeKind::GatewayIpClaimed
            | ChangeKind::ManyIpsClaimed
            | ChangeKind::IpTheft => {
                let other = c.other_mac.map(|m| End {
                    mac: Some(m),
                    ip: c.ip,
                    ..End::default()
                });
                let mut ev = Map::new();
                ev.insert("seen_by".into(), c.evidence.name().into());
                if let Some(ip) = c.ip {
                    ev.insert("ip".into(), ip.to_string().into());
                }
                // One alert per claimed address: the identity layer's
                // views of one takeover (a conflict, a theft of a
                // registered address) are its evidence.
                let why = c.detail.as_deref().unwrap_or("");
                ev.insert(c.kind.name().into(), why.into());
                let claimer = End { ip: None, ..end };
                let msg = format!(
                    "{}: {} claimed {}{} ({})",
                    Rule::IpMacConflict.title(),
                    self.describe(&claimer),
                    c.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    other
                        .as_ref()
                        .map(|o| format!(
                            ", the address of {}",
                            self.describe(&End { ip: None, ..*o })
                        ))
                        .unwrap_or_default(),
                    c.kind.name().replace('_', " ")
                );
                let detail = c.ip.map(|i| i.to_string()).unwrap_or_default();
                // The claimer by its MAC: the address is the holder's (the
                // peer's), in the detail and the evidence.
                let claimer = match end.mac {
                    Some(_) => End { ip: None, ..end },
                    None => end,
                };
                let rec = self.device_record(
                    Rule::IpMacConflict,
                    c.ts,
                    &claimer,
                    other.as_ref(),
                    &detail,
                    msg,
                    ev,
                );
                let key = rec.key();
                let kind = c.kind.name();
                let why = why.to_string();
                // Folded into an open alert: its evidence gains this kind.
                self.raiser.update(&key, |a| {
                    a.evidence.entry(kind.to_string()).or_insert(why.into());
                });
                self.raise(rec, emit);
            }
            _ => {}
        }
    }

    fn new_device_key(&self, device: DeviceKey) -> AlertKey {
        let end = self.end_of_key(device, None);
        key_of(Rule::NewDevice, false, &end, None, format_args!(""))
    }

    fn enrich_new_device(&mut self, device: DeviceKey, ev: Map<String, Value>) {
        let key = self.new_device_key(device);
        self.raiser.enrich(&key, ev, false);
    }

    // ---- records ---------------------------------------------------------

    fn end_of_key<'a>(&self, key: DeviceKey, ip: Option<IpAddr>) -> End<'a> {
        match key {
            DeviceKey::Mac(m) => End {
                mac: Some(m),
                ip,
                ..End::default()
            },
            DeviceKey::Ip(ip) => End {
                ip: Some(ip),
                ..End::default()
            },
        }
    }

    fn raise(&mut self, rec: AlertRecord, emit: Emit<'_>) {
        self.raiser.raise(&self.policy, rec, emit);
    }

    fn rule_severity(&self, rule: Rule) -> Option<Severity> {
        self.policy.severity.get(&rule).copied()
    }

    fn severity_of(&self, rule: Rule, me: &End<'_>) -> Severity {
        self.rule_severity(rule)
            .or(rule.default_severity())
            .unwrap_or_else(|| Severity::for_grade(me.grade))
    }

    fn party(&self, e: &End<'_>) -> Party {
        Party {
            mac: e.mac,
            ip: e.ip,
            class: e.class.map(str::to_string),
            grade: e.grade,
            name: self.policy.asset(e).and_then(|a| a.name.clone()),
        }
    }

    /// "CT01 10.20.1.10", "10.20.1.66", "02:00:00:00:00:01": written
    /// straight into the message that shows it.
    fn describe<'s>(&'s self, e: &End<'_>) -> Described<'s> {
        Described {
            name: self.policy.asset(e).and_then(|a| a.name.as_deref()),
            ip: e.ip,
            mac: e.mac,
        }
    }

    fn key(&self, rule: Rule, cx: &FlowCtx<'_>, i: usize, detail: &str) -> AlertKey {
        key_of(
            rule,
            false,
            &cx.ends[i],
            Some(&cx.ends[1 - i]),
            format_args!("{detail}"),
        )
    }

    /// Folds an occurrence into its open alert without building a record;
    /// false when a new alert must be raised.
    fn folds(&mut self, key: &AlertKey, ts: Micros, emit: Emit<'_>) -> bool {
        self.raiser.fold(key, ts, emit)
    }

    /// An alert of `rule` about end `i` of the flow, the other end its peer.
    fn record(
        &self,
        rule: Rule,
        cx: &FlowCtx<'_>,
        i: usize,
        detail: &str,
        message: String,
        evidence: Map<String, Value>,
    ) -> AlertRecord {
        let (me, peer) = (&cx.ends[i], &cx.ends[1 - i]);
        AlertRecord {
            alert_id: 0,
            first_seen: cx.ts,
            last_seen: cx.ts,
            count: 0,
            rule,
            severity: self.severity_of(rule, me),
            message,
            detail: detail.to_string(),
            device: self.party(me),
            peer: self.party(peer),
            flow: Some(FlowTuple {
                flow_id: cx.flow_id,
                proto: cx.proto,
                src: cx.client,
                dest: cx.server,
                app_proto: self.flows.get(cx.slot as usize).and_then(|s| s.app),
            }),
            evidence,
            observation: false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn device_record(
        &self,
        rule: Rule,
        ts: Micros,
        me: &End<'_>,
        peer: Option<&End<'_>>,
        detail: &str,
        message: String,
        evidence: Map<String, Value>,
    ) -> AlertRecord {
        AlertRecord {
            alert_id: 0,
            first_seen: ts,
            last_seen: ts,
            count: 0,
            rule,
            severity: self.severity_of(rule, me),
            message,
            detail: detail.to_string(),
            device: self.party(me),
            peer: peer.map(|p| self.party(p)).unwrap_or_default(),
            flow: None,
            evidence,
            observation: false,
        }
    }
}

/// Makes room in a full table of scan windows in one pass: drops the
/// windows that are over, else the oldest eighth. (Batched so that a
/// full table costs one pass per many new sources, not one per source.)
fn evict_scan_windows(
    scans: &mut HashMap<IpAddr, ScanWindow, foldhash::fast::RandomState>,
    now: Micros,
    window: Micros,
) {
    scans.retain(|_, w| now.saturating_sub(w.start) < window);
    if scans.len() < MAX_SCAN_SOURCES {
        return;
    }
    let mut starts: Vec<Micros> = scans.values().map(|w| w.start).collect();
    let n = (starts.len() / 8).max(1);
    let (_, &mut cut, _) = starts.select_nth_unstable(n - 1);
    let mut dropped = 0;
    scans.retain(|_, w| {
        let drop = w.start <= cut && dropped < n;
        dropped += usize::from(drop);
        !drop
    });
}

/// Whether the flow's responder served it: a TCP handshake answered or
/// data sent back, on a port below the dynamic range (RFC 6335), or a UDP
/// answer to a port below it.
pub fn served(r: &FlowRecord) -> bool {
    const SYN_ACK: u8 = 0x12;
    let back = &r.dirs[1];
    let below = r.dest_port != 0 && r.dest_port < 49152;
    match r.proto {
        6 => below && back.tcp_flags & SYN_ACK == SYN_ACK,
        17 => below && back.pkts > 0,
        _ => false,
    }
}

fn transport(cx: &FlowCtx<'_>, app: Option<AppProto>) -> Transport {
    Transport {
        proto: cx.proto,
        server_port: cx.server.1,
        app,
    }
}

/// What a violation of a flow is about: its protocol when known, else its
/// transport and server port.
fn detail_of(cx: &FlowCtx<'_>, app: Option<AppProto>) -> DetailOf {
    DetailOf(cx.proto, cx.server.1, app)
}

/// The folding key of an alert of `rule` about `me` and `peer` with this
/// detail, built without allocating.
fn key_of(
    rule: Rule,
    observation: bool,
    me: &End<'_>,
    peer: Option<&End<'_>>,
    detail: std::fmt::Arguments<'_>,
) -> AlertKey {
    AlertKey {
        rule,
        observation,
        device: EndKey::from_parts(me.mac, me.ip),
        peer: peer.map_or(EndKey::None, |p| EndKey::from_parts(p.mac, p.ip)),
        detail: crate::alert::detail_hash(detail),
    }
}

/// An end as a message names it: its asset name, then its address (or
/// MAC).
struct Described<'a> {
    name: Option<&'a str>,
    ip: Option<IpAddr>,
    mac: Option<crate::net::Mac>,
}

impl std::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(n) = self.name {
            write!(f, "{n} ")?;
        }
        match (self.ip, self.mac) {
            (Some(ip), _) => write!(f, "{ip}"),
            (None, Some(m)) => f.write_str(m.text().as_str()),
            (None, None) => f.write_str("?"),
        }
    }
}

/// What a flow carried in clear (the evidence key of a cleartext finding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Carried {
    /// Medical data: DICOM objects or queries, HL7 messages, MQTT messages.
    Data = 0,
    /// MQTT credentials (a password in CONNECT).
    Credentials = 1,
}

impl Carried {
    fn key(self) -> &'static str {
        match self {
            Carried::Data => "data",
            Carried::Credentials => "credentials",
        }
    }
}

/// A violation's detail: the protocol when known, else transport/port.
struct DetailOf(u8, u16, Option<AppProto>);

impl std::fmt::Display for DetailOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.2 {
            Some(a) => f.write_str(a.name()),
            None => write!(f, "{}/{}", proto_name(self.0), self.1),
        }
    }
}

fn end_key_text(k: EndKey) -> String {
    match k {
        EndKey::Mac(m) => m.text().as_str().to_string(),
        EndKey::Ip(ip) => ip.to_string(),
        EndKey::None => String::new(),
    }
}

fn secs(us: Micros) -> f64 {
    us as f64 / SECOND as f64
}

/// Remote-access protocols (A.3 d)).
fn is_remote_access(app: AppProto) -> bool {
    app.is_remote_access()
}

/// The anomalies that are attack patterns worth an alert (A.3 c)), and
/// how urgent; the others stay anomaly records (parser trouble, capture
/// artefacts, operational noise such as negative acknowledgements).
pub fn anomaly_severity(a: Anomaly) -> Option<Severity> {
    use Anomaly::*;
    Some(match a {
        MqttAuthBruteForce => Severity::High,
        DicomAssociationBurst
        | DicomQueryBurst
        | DicomMoveToUnknownAe
        | DicomPduOverMaxLength
        | DicomPduOverHardCap
        | MqttWildcardSubscription
        | MqttPublishToSystemTopic
        | MqttPacketOverHardCap
        | Hl7OversizedMessage => Severity::Medium,
        DicomAssociationRejected
        | DicomProviderAbort
        | DicomMalformedPdu
        | DicomMalformedItem
        | DicomMalformedCommand
        | DicomUnknownPduType
        | DicomPdataBeforeAccept
        | DicomUnexpectedPdu
        | DicomNonconformingAeTitle
        | Hl7MalformedMsh
        | MqttMalformedRemainingLength
        | MqttReservedPacketType
        | MqttInvalidQos
        | MqttPacketBeforeConnect
        | MqttMalformedPacket => Severity::Low,
        DicomLostSync
        | MqttLostSync
        | MqttTruncatedPacket
        | MqttConnackRefused
        | Hl7FrameWithoutTrailer
        | Hl7NegativeAck
        | Hl7BytesOutsideFrame
        | DhcpMalformed
        | DhcpBadOption => return None,
    })
}

#[cfg(test)]
mod tests;
