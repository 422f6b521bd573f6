//! One EVE JSON line per event, in Suricata's shapes (its schema,
//! `etc/schema.json` of Suricata 8, validates every type it knows:
//! `alert`, `flow`, `anomaly`, `dhcp`, `mqtt`, `stats`) plus medtap's own
//! `dicom`, `hl7` and `device` objects (`schema/eve.json` in this
//! repository describes them all).
//!
//! Every line starts with the common header Suricata writes
//! (`timestamp`, `flow_id`, `event_type`, the 5-tuple, `proto`,
//! `app_proto`, `community_id`, `ether`, `host` = the sensor's name), then
//! the event's own object. Metadata only, as in the database: no HL7
//! field values but the header's, no DICOM data set attributes, no MQTT
//! payloads, user names or passwords.

use super::totals::Totals;
use super::EveType;
use crate::alert::{AlertRecord, FlowTuple, Party};
use crate::device::classify::ClassRecord;
use crate::device::ChangeRecord;
use crate::event::{AnomalyRecord, Dhcp6Record};
use crate::flow::community::{community_id, community_id_of};
use crate::flow::FlowRecord;
use crate::net::Mac;
use crate::proto::dhcp::MessageRecord as DhcpRecord;
use crate::proto::dicom::AssociationRecord;
use crate::proto::hl7::MessageRecord as Hl7Record;
use crate::proto::mqtt::SessionRecord;
use crate::stats::StatsRecord;
use crate::time::{eve as eve_time, Micros};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// The header every line starts with (Suricata's order and names).
#[derive(Serialize, Default)]
struct Head<'a> {
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_id: Option<u64>,
    event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<[u16; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proto: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_proto: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    community_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ether: Option<Ether>,
    host: &'a str,
}

/// Suricata's `flow` object. Without `alerted`: most of a flow's alerts
/// are decided when it ends or written a moment later (repeats folding
/// into one alert), so a flow line cannot say it honestly; an alert's
/// `flow_id` and `community_id` name its flow instead.
#[derive(Serialize)]
struct FlowBody {
    pkts_toserver: u64,
    pkts_toclient: u64,
    bytes_toserver: u64,
    bytes_toclient: u64,
    start: String,
    end: String,
    age: i64,
    state: &'static str,
    reason: &'static str,
}

/// One `mqtt.publish` line (Suricata's shape, without the payload).
#[derive(Serialize)]
struct PublishBody<'a> {
    publish: Publish<'a>,
}

#[derive(Serialize)]
struct Publish<'a> {
    topic: &'a str,
    qos: u8,
    retain: bool,
    dup: bool,
}

/// medtap's `hl7` object: the MSH header and segment counts.
#[derive(Serialize)]
struct Hl7Body<'a> {
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sending_app: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sending_facility: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receiving_app: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receiving_facility: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    processing_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msa_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_latency_us: Option<i64>,
    segments: Segments<'a>,
    bytes: u64,
    framing: &'static str,
}

/// Segment counts as `{"MSH": 1, "PID": 1, ...}` (ids are checked to be
/// segment-shaped by the parser; anything else would be escaped by JSON).
struct Segments<'a>(&'a [crate::proto::hl7::SegmentCount]);

impl Serialize for Segments<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(Some(self.0.len()))?;
        for seg in self.0 {
            m.serialize_entry(&*String::from_utf8_lossy(&seg.id), &seg.count)?;
        }
        m.end()
    }
}

/// Suricata's `ether` object.
#[derive(Serialize)]
struct Ether {
    #[serde(skip_serializing_if = "Option::is_none")]
    src_mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_mac: Option<String>,
}

fn ether(src: Option<Mac>, dest: Option<Mac>) -> Option<Ether> {
    (src.is_some() || dest.is_some()).then(|| Ether {
        src_mac: src.map(|m| m.to_string()),
        dest_mac: dest.map(|m| m.to_string()),
    })
}

/// Suricata's name of an IP protocol (`TCP`, `UDP`, `ICMP`, `IPv6-ICMP`).
fn proto_name(proto: u8) -> String {
    match proto {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "IPv6-ICMP".into(),
        132 => "SCTP".into(),
        n => crate::flow::proto_name(n).to_ascii_uppercase(),
    }
}

/// Where lines are written, with what every line carries.
pub struct Writer<'a> {
    /// The line being built (reused).
    pub out: &'a mut Vec<u8>,
    /// The sensor's name (`host`).
    pub host: &'a str,
}

impl<'a> Writer<'a> {
    /// Writes `head` and then `"key": body` as one JSON line.
    fn line(&mut self, head: &Head<'_>, key: &str, body: &impl Serialize) {
        self.out.clear();
        if serde_json::to_writer(&mut *self.out, head).is_err() {
            self.out.clear();
            return;
        }
        // Splice the event's object in before the header's closing brace.
        self.out.pop();
        self.out.push(b',');
        // Keys are ours: plain ASCII, no escaping needed.
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        if serde_json::to_writer(&mut *self.out, body).is_err() {
            self.out.clear();
            return;
        }
        self.out.extend_from_slice(b"}\n");
    }

    /// The header of an event about `flow` at `ts`.
    fn head_of(&self, event_type: &'static str, ts: Micros, flow: &FlowTuple) -> Head<'a> {
        let ports = matches!(flow.proto, 6 | 17 | 132);
        Head {
            timestamp: eve_time(ts),
            flow_id: Some(flow.flow_id),
            event_type,
            src_ip: Some(flow.src.0),
            src_port: ports.then_some(flow.src.1),
            dest_ip: Some(flow.dest.0),
            dest_port: ports.then_some(flow.dest.1),
            proto: Some(proto_name(flow.proto)),
            app_proto: flow.app_proto.map(|a| a.name()),
            community_id: ports
                .then(|| {
                    community_id_of(
                        flow.proto,
                        (flow.src.0, Some(flow.src.1)),
                        (flow.dest.0, Some(flow.dest.1)),
                    )
                })
                .flatten(),
            host: self.host,
            ..Head::default()
        }
    }

    /// A finished flow (`flow`).
    pub fn flow(&mut self, f: &FlowRecord) {
        let [s, c] = f.dirs;
        let icmp = f.icmp.filter(|_| matches!(f.proto, 1 | 58));
        let ports = matches!(f.proto, 6 | 17 | 132);
        let head = Head {
            timestamp: eve_time(f.start),
            flow_id: Some(f.flow_id),
            event_type: "flow",
            vlan: f.vlan.map(|v| [v]),
            src_ip: Some(f.src_ip),
            src_port: ports.then_some(f.src_port),
            dest_ip: Some(f.dest_ip),
            dest_port: ports.then_some(f.dest_port),
            proto: Some(proto_name(f.proto)),
            icmp_type: icmp.map(|i| i.0),
            icmp_code: icmp.map(|i| i.1),
            app_proto: f.app_proto.map(|a| a.name()),
            community_id: community_id(f),
            ether: ether(f.src_mac, f.dest_mac),
            host: self.host,
        };
        let body = FlowBody {
            pkts_toserver: s.pkts,
            pkts_toclient: c.pkts,
            bytes_toserver: s.bytes,
            bytes_toclient: c.bytes,
            start: eve_time(f.start),
            end: eve_time(f.end),
            age: (f.end - f.start).max(0) / crate::time::SECOND,
            state: f.state.name(),
            reason: f.reason.name(),
        };
        self.line(&head, "flow", &body);
    }

    /// A new alert (`alert`), with medtap's facts in `alert.metadata`.
    pub fn alert(&mut self, a: &AlertRecord) {
        let mut head = match &a.flow {
            Some(f) => self.head_of("alert", a.first_seen, f),
            None => Head {
                timestamp: eve_time(a.first_seen),
                event_type: "alert",
                src_ip: a.device.ip,
                dest_ip: a.peer.ip,
                host: self.host,
                ..Head::default()
            },
        };
        head.timestamp = eve_time(a.first_seen);
        if a.flow.is_none() || head.ether.is_none() {
            head.ether = ether(a.device.mac, a.peer.mac).filter(|_| a.flow.is_none());
        }
        let rule = a.rule;
        let body = json!({
            "action": "allowed",
            "gid": 1,
            "signature_id": rule.signature_id(),
            "rev": 1,
            "signature": format!("MEDTAP {} {}", rule.id(), rule.title()),
            "category": rule.title(),
            "severity": a.severity.number(),
            "metadata": alert_metadata(a),
        });
        self.line(&head, "alert", &body);
    }

    /// A protocol anomaly on a flow (`anomaly`).
    pub fn anomaly(&mut self, a: &AnomalyRecord) {
        let head = self.head_of("anomaly", a.ts, &a.flow);
        let name = a.anomaly.name();
        let app = name.split('.').next().unwrap_or(name);
        // Suricata's anomaly object has no room for a detail: it follows
        // the event's name in parentheses.
        let event = match a.detail {
            Some(d) => format!("{name} ({d})"),
            None => name.to_string(),
        };
        let body = json!({
            "type": "applayer",
            "event": event,
            "layer": "proto_parser",
            "app_proto": app,
        });
        self.line(&head, "anomaly", &body);
    }

    /// A DHCPv4 message (`dhcp`), in Suricata's extended shape.
    pub fn dhcp(&mut self, r: &DhcpRecord, datagram: &FlowTuple) {
        let mut head = self.head_of("dhcp", r.ts, datagram);
        head.app_proto = Some("dhcp");
        let mut d = Map::new();
        d.insert(
            "type".into(),
            (if r.op == 2 { "reply" } else { "request" }).into(),
        );
        d.insert("id".into(), r.xid.into());
        put(&mut d, "client_mac", r.client_mac.map(|m| m.to_string()));
        d.insert("assigned_ip".into(), r.yiaddr.to_string().into());
        d.insert("client_ip".into(), r.ciaddr.to_string().into());
        d.insert("relay_ip".into(), r.giaddr.to_string().into());
        d.insert("next_server_ip".into(), r.siaddr.to_string().into());
        put(
            &mut d,
            "dhcp_type",
            r.message_type.map(|t| t.name().to_ascii_lowercase()),
        );
        put(&mut d, "client_id", r.client_id.as_deref());
        put(&mut d, "hostname", r.hostname.as_deref());
        put(
            &mut d,
            "requested_ip",
            r.requested_ip.map(|a| a.to_string()),
        );
        put(&mut d, "lease_time", r.lease_secs);
        put(&mut d, "vendor_class_identifier", r.vendor_class.as_deref());
        if let Some(f) = r.fingerprint.as_deref() {
            let params: Vec<Value> = f
                .split(',')
                .filter_map(|c| c.parse::<u8>().ok())
                .map(|c| Value::from(dhcp_param_name(c)))
                .collect();
            d.insert("params".into(), params.into());
        }
        self.line(&head, "dhcp", &d);
    }

    /// A DHCPv6 message: Suricata has no DHCPv6 logger; what fits its
    /// `dhcp` object goes there (type, transaction id, client MAC,
    /// message type), so that one SIEM query finds both.
    pub fn dhcp6(&mut self, r: &Dhcp6Record, datagram: &FlowTuple) {
        let rec = &r.record;
        let mut head = self.head_of("dhcp", rec.ts, datagram);
        head.app_proto = Some("dhcpv6");
        let t = rec.msg_type.name().to_ascii_lowercase();
        let reply = matches!(t.as_str(), "advertise" | "reply" | "reconfigure");
        let mut d = Map::new();
        d.insert(
            "type".into(),
            (if reply { "reply" } else { "request" }).into(),
        );
        d.insert("id".into(), rec.xid.into());
        put(&mut d, "client_mac", r.client_mac.map(|m| m.to_string()));
        d.insert("dhcp_type".into(), t.into());
        put(&mut d, "client_id", rec.client_duid.as_deref());
        put(&mut d, "hostname", rec.fqdn.as_deref());
        put(&mut d, "assigned_ip", rec.ia_address.map(|a| a.to_string()));
        put(
            &mut d,
            "vendor_class_identifier",
            rec.vendor_class.as_deref(),
        );
        self.line(&head, "dhcp", &d);
    }

    /// An MQTT session: Suricata logs one line per message; medtap keeps
    /// a session (the CONNECT and CONNACK, then messages aggregated by
    /// topic), so it writes the CONNECT/CONNACK as one `mqtt` line and one
    /// `mqtt` line per published topic and per subscription. Never the
    /// payloads, the user name or the password (only whether they were
    /// sent).
    pub fn mqtt(
        &mut self,
        s: &SessionRecord,
        flow: &FlowTuple,
        ts: Micros,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let head = self.head_of("mqtt", ts, flow);
        if s.protocol_version.is_some() || s.client_id.is_some() {
            let mut m = Map::new();
            let mut connect = Map::new();
            put(&mut connect, "protocol_string", s.protocol_name.as_deref());
            put(&mut connect, "protocol_version", s.protocol_version);
            put(&mut connect, "client_id", s.client_id.as_deref());
            let mut flags = Map::new();
            flags.insert("username".into(), s.username_present.into());
            flags.insert("password".into(), s.password_present.into());
            put(&mut flags, "clean_session", s.clean_start);
            flags.insert("will".into(), s.will_topic.is_some().into());
            put(&mut flags, "will_retain", s.will_retain);
            connect.insert("flags".into(), flags.into());
            if let Some(topic) = &s.will_topic {
                connect.insert("will".into(), json!({ "topic": topic }));
            }
            m.insert("connect".into(), connect.into());
            if let Some(code) = s.connack_code {
                let mut connack = Map::new();
                connack.insert("return_code".into(), code.into());
                put(&mut connack, "session_present", s.session_present);
                m.insert("connack".into(), connack.into());
            }
            self.line(&head, "mqtt", &m);
            emit(self.out);
        }
        for p in &s.published {
            let body = PublishBody {
                publish: Publish {
                    topic: &p.topic,
                    qos: p.qos,
                    retain: p.retain,
                    dup: p.dup > 0,
                },
            };
            self.line(&head, "mqtt", &body);
            emit(self.out);
        }
        if !s.subscribed.is_empty() {
            let topics: Vec<Value> = s
                .subscribed
                .iter()
                .map(|f| json!({ "topic": f.filter, "qos": f.qos }))
                .collect();
            let mut sub = Map::new();
            sub.insert("topics".into(), topics.into());
            let body = json!({ "subscribe": sub });
            self.line(&head, "mqtt", &body);
            emit(self.out);
        }
    }

    /// A DICOM association (`dicom`, medtap's own object).
    pub fn dicom(&mut self, a: &AssociationRecord, flow: &FlowTuple, ts: Micros) {
        let head = self.head_of("dicom", ts, flow);
        let contexts: Vec<Value> = a
            .contexts
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "abstract_syntax": c.abstract_syntax,
                    "abstract_syntax_name": c.abstract_syntax_name,
                    "result": c.result,
                    "transfer_syntax": c.accepted_transfer_syntax,
                })
            })
            .collect();
        let operations: Vec<Value> = a
            .operations
            .iter()
            .map(|o| {
                json!({
                    "command": o.command,
                    "sop_class_uid": o.sop_class_uid,
                    "sop_class_name": o.sop_class_name,
                    "count": o.count,
                    "bytes": o.bytes,
                    "statuses": o.statuses,
                    "move_destination": o.move_destination,
                })
            })
            .collect();
        let body = json!({
            "calling_ae": a.calling_ae,
            "called_ae": a.called_ae,
            "result": a.result,
            "reject": a.reject.map(|(r, s, why)| json!({"result": r, "source": s, "reason": why})),
            "abort": a.abort.map(|(s, why)| json!({"source": s, "reason": why})),
            "implementation_class_uid": a.implementation_class_uid,
            "implementation_version": a.implementation_version,
            "acceptor_implementation_class_uid": a.acceptor_implementation_class_uid,
            "acceptor_implementation_version": a.acceptor_implementation_version,
            "user_identity_type": a.user_identity_type,
            "contexts": contexts,
            "operations": operations,
            "pdus": a.pdus,
            "data_bytes": a.data_bytes,
        });
        self.line(&head, "dicom", &without_nulls(body));
    }

    /// An HL7 message (`hl7`, medtap's own object): the MSH header and
    /// segment counts, never a field of PID, OBX or any other segment.
    pub fn hl7(&mut self, m: &Hl7Record, flow: &FlowTuple) {
        let head = self.head_of("hl7", m.ts, flow);
        let body = Hl7Body {
            direction: if m.to_server {
                "to_server"
            } else {
                "to_client"
            },
            sending_app: m.sending_app.as_deref(),
            sending_facility: m.sending_facility.as_deref(),
            receiving_app: m.receiving_app.as_deref(),
            receiving_facility: m.receiving_facility.as_deref(),
            message_type: m.message_type.as_deref(),
            control_id: m.control_id.as_deref(),
            processing_id: m.processing_id.as_deref(),
            version: m.version.as_deref(),
            msa_code: m.msa_code.as_deref(),
            ack_code: m.ack_code.as_deref(),
            ack_latency_us: m.ack_latency_us,
            segments: Segments(&m.segments),
            bytes: m.bytes,
            framing: m.framing.name(),
        };
        self.line(&head, "hl7", &body);
    }

    /// A change to the inventory (`device`, medtap's own object).
    pub fn device_change(&mut self, c: &ChangeRecord) {
        let head = Head {
            timestamp: eve_time(c.ts),
            event_type: "device",
            src_ip: c.ip,
            ether: ether(c.device.mac(), None),
            host: self.host,
            ..Head::default()
        };
        let body = json!({
            "device": c.device.to_string(),
            "change": c.kind.name(),
            "ip": c.ip,
            "other_mac": c.other_mac.map(|m| m.to_string()),
            "evidence": c.evidence.name(),
            "held_by": c.held_by.map(|h| h.name()),
            "held_until": c.held_until.map(eve_time),
        });
        self.line(&head, "device", &without_nulls(body));
    }

    /// A device (re)classified (`device` with `change: "classified"`).
    pub fn device_class(&mut self, r: &ClassRecord) {
        let head = Head {
            timestamp: eve_time(r.ts),
            event_type: "device",
            src_ip: device_ip(&r.device),
            ether: ether(r.device.mac(), None),
            host: self.host,
            ..Head::default()
        };
        let c = &r.class;
        let body = json!({
            "device": r.device.to_string(),
            "change": "classified",
            "class": c.class,
            "class_name": c.class_name,
            "medical": c.medical,
            "confidence": (c.confidence * 100.0).round() / 100.0,
            "class_source": c.source.name(),
            "grade": c.grade.map(|g| g.get()),
            "runner_up": c.runner_up,
        });
        self.line(&head, "device", &without_nulls(body));
    }

    /// Cumulative counters (`stats`) at `r`'s end, in Suricata's names
    /// where it has one; the rest are in the database and the metrics.
    pub fn stats(&mut self, r: &StatsRecord, totals: &Totals) {
        let t = &totals.sum;
        let head = Head {
            timestamp: eve_time(r.period_end),
            event_type: "stats",
            host: self.host,
            ..Head::default()
        };
        let body = json!({
            "uptime": totals.uptime_secs(r.period_end),
            "capture": {
                "kernel_packets": t.kernel_received,
                "kernel_drops": t.kernel_drops,
                "kernel_ifdrops": t.if_drops,
                "errors": t.read_errors,
            },
            "decoder": {
                "pkts": t.packets,
                "bytes": t.bytes,
                "invalid": t.decode_errors_total(),
            },
            "flow": {
                "total": t.flows_created,
            },
            "tcp": {
                "reassembly_gap": t.reassembly.gaps,
                "overlap_diff_data": t.reassembly.overlap_conflicts,
            },
            "detect": {
                "alert": t.alerts_raised,
                "alerts_suppressed": t.alerts_suppressed,
            },
        });
        self.line(&head, "stats", &body);
    }
}

/// Turns events into EVE lines (no I/O: the sink, the tests and the
/// fuzz target share it).
pub struct Formatter<'a> {
    /// The types written ([`EveType::mask`]).
    pub types: u16,
    /// The sensor's name (`host`).
    pub host: &'a str,
    /// Running totals of the statistics rows.
    pub totals: &'a mut Totals,
    /// The line being built (reused).
    pub buf: &'a mut Vec<u8>,
}

impl Formatter<'_> {
    /// Hands each EVE line of `event` (none for a type not wanted or an
    /// interim flow) to `emit`. Alerts are written as given: the caller
    /// keeps rewrites of one alert id out.
    pub fn event(&mut self, event: &crate::event::Event, emit: &mut dyn FnMut(&[u8])) {
        use crate::event::Event;
        if let Event::Stats(s) = event {
            self.totals.add(s);
        }
        // Which events make lines, and of which type, is `type_of`'s.
        if !carries(self.types, event) {
            return;
        }
        let mut w = Writer {
            out: &mut *self.buf,
            host: self.host,
        };
        match event {
            Event::Flow(f) => w.flow(f),
            Event::Alert(a) => w.alert(a),
            Event::Anomaly(a) => w.anomaly(a),
            Event::Dhcp(d, o) => w.dhcp(&d.1, &o.flow),
            Event::Dhcp6(d, o) => w.dhcp6(&d.1, &o.flow),
            Event::Mqtt(s, o) => {
                w.mqtt(&s.1, &o.flow, o.ts, &mut |l| {
                    if !l.is_empty() {
                        emit(l)
                    }
                });
                return;
            }
            Event::Dicom(a, o) => w.dicom(&a.1, &o.flow, o.ts),
            Event::Hl7(m, o) => w.hl7(&m.1, &o.flow),
            Event::DeviceChange(c) => w.device_change(c),
            Event::DeviceClass(c) => w.device_class(c),
            Event::Stats(s) => w.stats(s, self.totals),
            _ => return,
        }
        if !w.out.is_empty() {
            emit(w.out);
        }
    }
}

/// The EVE type `event` is written as, if any.
pub fn type_of(event: &crate::event::Event) -> Option<EveType> {
    use crate::event::Event;
    Some(match event {
        Event::Flow(f) if f.reason != crate::flow::EndReason::Interim => EveType::Flow,
        Event::Alert(a) if !a.observation => EveType::Alert,
        Event::Anomaly(_) => EveType::Anomaly,
        Event::Dhcp(..) | Event::Dhcp6(..) => EveType::Dhcp,
        Event::Mqtt(..) => EveType::Mqtt,
        Event::Dicom(..) => EveType::Dicom,
        Event::Hl7(..) => EveType::Hl7,
        Event::DeviceChange(_) | Event::DeviceClass(_) => EveType::Device,
        Event::Stats(_) => EveType::Stats,
        _ => return None,
    })
}

/// Whether `event` makes a line of one of the types in `mask` (the EVE
/// sink is offered only those).
pub fn carries(mask: u16, event: &crate::event::Event) -> bool {
    type_of(event).is_some_and(|t| wanted(mask, t))
}

/// Whether `t` is one of the types in `mask`.
pub fn wanted(mask: u16, t: EveType) -> bool {
    mask & (1 << t as u16) != 0
}

fn put<V: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<V>) {
    if let Some(v) = v {
        m.insert(key.into(), v.into());
    }
}

/// `v` with null members of objects left out (Suricata writes absent
/// fields by leaving them out, and its schema types them strictly).
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        v => v,
    }
}

/// medtap's facts about an alert, in `alert.metadata`. Suricata's rule
/// metadata is a map of string arrays, which SIEM mappings (Elastic's
/// Suricata module, fever) expect: every value here is one too.
fn alert_metadata(a: &AlertRecord) -> Map<String, Value> {
    let mut m = Map::new();
    let mut one = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), Value::Array(vec![Value::String(v)]));
        }
    };
    one("medtap_alert_id", Some(a.alert_id.to_string()));
    one("rule", Some(a.rule.id().into()));
    one("clause", Some(a.rule.clause().into()));
    one("severity", Some(a.severity.name().into()));
    one("message", Some(a.message.clone()));
    one("detail", Some(a.detail.clone()).filter(|d| !d.is_empty()));
    one("count", Some(a.count.to_string()));
    one("first_seen", Some(eve_time(a.first_seen)));
    party(&mut one, "device", &a.device);
    party(&mut one, "peer", &a.peer);
    for (k, v) in &a.evidence {
        let text = match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        one(&format!("evidence_{k}"), Some(text));
    }
    m
}

fn party(one: &mut dyn FnMut(&str, Option<String>), side: &str, p: &Party) {
    one(&format!("{side}_mac"), p.mac.map(|m| m.to_string()));
    one(&format!("{side}_ip"), p.ip.map(|i| i.to_string()));
    one(&format!("{side}_class"), p.class.clone());
    one(&format!("{side}_grade"), p.grade.map(|g| g.to_string()));
    one(&format!("{side}_name"), p.name.clone());
}

/// The RFC 2132 name of a DHCP option code, as Suricata writes option 55
/// (`params`); codes it has no name for as their number.
fn dhcp_param_name(code: u8) -> String {
    let name = match code {
        1 => "subnet_mask",
        2 => "time_offset",
        3 => "router",
        6 => "dns_server",
        12 => "hostname",
        15 => "domain",
        26 => "interface_mtu",
        28 => "broadcast_address",
        33 => "static_route",
        42 => "ntp_server",
        44 => "netbios_name_server",
        46 => "netbios_node_type",
        47 => "netbios_scope",
        51 => "lease_time",
        54 => "dhcp_server_id",
        58 => "renewal_time",
        59 => "rebinding_time",
        119 => "domain_search",
        121 => "classless_static_route",
        249 => "private_classless_static_route",
        252 => "wpad",
        _ => return code.to_string(),
    };
    name.into()
}

/// The address of a device kept by address (behind a router).
fn device_ip(d: &crate::device::DeviceKey) -> Option<IpAddr> {
    match d {
        crate::device::DeviceKey::Ip(ip) => Some(*ip),
        crate::device::DeviceKey::Mac(_) => None,
    }
}
