//! Identity evidence from the parsers' records: the names a device uses
//! in DICOM, HL7 and MQTT, what a DHCP message says, and the facts that
//! classify a device (the DICOM objects it sends and services it answers,
//! the HL7 messages it originates, the MQTT topics it publishes, the ports
//! it serves). Runs once per record (an association, a message, a
//! session, a finished flow), never per packet.

use super::facts::{DicomService, Fact, FactBuf, FactRef, PeerKind, TextKind};
use super::inventory::{DeviceEvent, DhcpEvidence, Inventory};
use super::NameKind;
use crate::app::AppEvent;
use crate::flow::{FlowRecord, FlowState};
use crate::net::Mac;
use crate::proto::dhcp;
use crate::proto::dicom::AssociationRecord;
use crate::proto::hl7::MessageRecord;
use crate::proto::mqtt::SessionRecord;
use crate::time::Micros;
use std::net::IpAddr;

/// Ports from here up are the dynamic range (RFC 6335 §6): a device
/// answering on one (an FTP data port, a DICOM sub-association's
/// ephemeral listener) says nothing about what it is.
const DYNAMIC_PORTS: u16 = 49152;

/// The two ends of a flow: (MAC, IP) of the side that opened it and of
/// the side that accepted it.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    /// The side that opened the connection.
    pub client: (Option<Mac>, IpAddr),
    /// The side that accepted it.
    pub server: (Option<Mac>, IpAddr),
}

/// Hands the names in an application record to the inventory: DICOM
/// calling AE (requestor) and called AE (acceptor), the HL7 sending and
/// receiving applications, the MQTT client id. `ts` is when the flow
/// started (a DICOM or MQTT record comes when it ends).
pub fn app_names(
    inv: &mut Inventory,
    ts: crate::time::Micros,
    ends: &Endpoints,
    e: &AppEvent,
    emit: &mut dyn FnMut(DeviceEvent),
) {
    let mut name = |side: (Option<Mac>, IpAddr), ts, kind, value: &str| {
        // AE titles are space-padded to 16 bytes (PS3.5 6.2).
        inv.observe_name(ts, side.0, side.1, kind, value.trim(), emit);
    };
    match e {
        AppEvent::Dicom(d) => {
            let (_, a) = &**d;
            name(ends.client, ts, NameKind::DicomAeTitle, &a.calling_ae);
            name(ends.server, ts, NameKind::DicomAeTitle, &a.called_ae);
        }
        AppEvent::Hl7(m) => {
            let (_, m) = &**m;
            let (sender, receiver) = if m.to_server {
                (ends.client, ends.server)
            } else {
                (ends.server, ends.client)
            };
            if let Some(app) = &m.sending_app {
                name(sender, m.ts, NameKind::Hl7App, app);
            }
            if let Some(app) = &m.receiving_app {
                name(receiver, m.ts, NameKind::Hl7App, app);
            }
        }
        AppEvent::Mqtt(s) => {
            let (_, s) = &**s;
            if let Some(id) = &s.client_id {
                name(ends.client, ts, NameKind::MqttClientId, id);
            }
        }
        AppEvent::Anomaly { .. } => {}
    }
    app_facts(inv, ts, ends, e, emit);
}

/// The facts in an application record, for each side.
fn app_facts(
    inv: &mut Inventory,
    ts: Micros,
    ends: &Endpoints,
    e: &AppEvent,
    emit: &mut dyn FnMut(DeviceEvent),
) {
    let (client, server) = match e {
        AppEvent::Dicom(d) => dicom_facts(&d.1, ends.client.1),
        AppEvent::Hl7(m) => {
            let (client, server) = hl7_facts(&m.1, ends.client.1);
            match m.1.to_server {
                true => (client, server),
                // A message from the connection's server: its sender is
                // the server side.
                false => (server, client),
            }
        }
        AppEvent::Mqtt(s) => mqtt_facts(&s.1, ends.client.1),
        AppEvent::Anomaly { .. } => return,
    };
    for (side, facts) in [(ends.client, &client), (ends.server, &server)] {
        inv.observe_facts(ts, side.0, side.1, facts.facts(), emit);
    }
}

/// (requestor's, acceptor's) facts of a DICOM association: the SOP
/// classes the requestor sent as C-STORE SCU (with the AE it sent to),
/// the services each side used and answered, the C-MOVE destinations the
/// acceptor was asked to send to, and the implementation each announced.
fn dicom_facts(a: &AssociationRecord, requestor: IpAddr) -> (FactBuf<'_>, FactBuf<'_>) {
    let mut req = FactBuf::default();
    let mut acc = FactBuf::default();
    // AE titles are space-padded (PS3.5 6.2), and so may the others be.
    req.text(TextKind::DicomAe, Some(a.calling_ae.trim()));
    acc.text(TextKind::DicomAe, Some(a.called_ae.trim()));
    req.text(
        TextKind::DicomImplementation,
        a.implementation_class_uid.as_deref().map(str::trim),
    );
    req.text(
        TextKind::DicomVersion,
        a.implementation_version.as_deref().map(str::trim),
    );
    acc.text(
        TextKind::DicomImplementation,
        a.acceptor_implementation_class_uid
            .as_deref()
            .map(str::trim),
    );
    acc.text(
        TextKind::DicomVersion,
        a.acceptor_implementation_version.as_deref().map(str::trim),
    );
    // In a C-GET association the C-STOREs come from the acceptor: they
    // are its sub-operations, not objects the requestor made (PS3.4
    // C.4.3.3).
    let has_get = a.operations.iter().any(|o| o.command == "C-GET");
    for op in &a.operations {
        if op.command == "C-STORE" && has_get {
            continue;
        }
        let answered = !op.statuses.is_empty();
        if let Some(svc) = DicomService::of(op.command, &op.sop_class_uid) {
            req.push(Fact::DicomUses(svc));
            if answered {
                acc.push(Fact::DicomProvides(svc));
            }
        }
        match op.command {
            "C-STORE" => {
                // Every request a C-MOVE's sub-operation (it named the
                // move's originator, PS3.7 9.1.1.1): objects forwarded,
                // not made.
                let forwarded = op.count > 0 && op.move_sub_operations >= op.count;
                if !forwarded {
                    req.push(Fact::DicomSent {
                        sop_class: &op.sop_class_uid,
                        to_ae: a.called_ae.trim(),
                    });
                }
                if answered {
                    acc.push(Fact::Peer(PeerKind::DicomStoredBy, requestor));
                }
            }
            "C-MOVE" => {
                if let Some(dest) = op.move_destination.as_deref() {
                    acc.push(Fact::DicomMoveAsked(dest.trim()));
                }
            }
            _ => {}
        }
    }
    (req, acc)
}

/// (sender's, receiver's) facts of an HL7 message: the sender's MSH-3,
/// MSH-4, MSH-21 and the type of a message it originated; the receiver,
/// when it is the connection's server, counts the client as a sender.
fn hl7_facts(m: &MessageRecord, client: IpAddr) -> (FactBuf<'_>, FactBuf<'_>) {
    let mut sender = FactBuf::default();
    let mut receiver = FactBuf::default();
    sender.text(TextKind::Hl7App, m.sending_app.as_deref());
    sender.text(TextKind::Hl7Facility, m.sending_facility.as_deref());
    sender.text(TextKind::Hl7Profile, m.profile.as_deref());
    let ack = m.msa_code.is_some()
        || m.message_type
            .as_deref()
            .is_some_and(|t| t.starts_with("ACK"));
    if !ack {
        sender.text(TextKind::Hl7Sends, m.message_type.as_deref());
    }
    if m.to_server {
        receiver.push(Fact::Peer(PeerKind::Hl7Client, client));
    }
    (sender, receiver)
}

/// (client's, broker's) facts of an MQTT session: the client's id and the
/// topics it published; the broker, when it answered the CONNECT, counts
/// the client.
fn mqtt_facts(s: &SessionRecord, client: IpAddr) -> (FactBuf<'_>, FactBuf<'_>) {
    let mut c = FactBuf::default();
    let mut b = FactBuf::default();
    c.text(TextKind::MqttClientId, s.client_id.as_deref());
    for p in s.published.iter().filter(|p| p.to_server) {
        c.text(TextKind::MqttTopic, Some(&p.topic));
    }
    if s.connack_code.is_some() {
        b.push(Fact::Peer(PeerKind::MqttClient, client));
    }
    (c, b)
}

/// Learns from a finished flow: a TCP port its responder answered on
/// (SYN-ACK or data back), below the dynamic range.
pub fn flow_facts(inv: &mut Inventory, r: &FlowRecord, emit: &mut dyn FnMut(DeviceEvent)) {
    const SYN_ACK: u8 = 0x12;
    let back = &r.dirs[1];
    let answered = back.tcp_flags & SYN_ACK == SYN_ACK || back.payload_bytes > 0;
    if r.proto != 6 || !answered || r.dest_port >= DYNAMIC_PORTS || r.dest_port == 0 {
        return;
    }
    // A flow joined mid-stream may have its ends the wrong way round:
    // only a seen handshake names the responder for sure.
    if r.state == FlowState::New && back.tcp_flags & SYN_ACK != SYN_ACK {
        return;
    }
    let fact = [FactRef::Serves(r.dest_port)];
    inv.observe_facts(r.start, r.dest_mac, r.dest_ip, &fact, emit);
}

/// What the inventory needs from a DHCP message carried on `vlan` in a
/// frame from `sender`.
pub fn dhcp(rec: &dhcp::MessageRecord, vlan: Option<u16>, sender: Option<Mac>) -> DhcpEvidence<'_> {
    let ip = |a: std::net::Ipv4Addr| (!a.is_unspecified()).then_some(IpAddr::V4(a));
    DhcpEvidence {
        client: rec.client_mac,
        from_server: rec.op == 2,
        message_type: rec.message_type.map(|t| t.code()),
        ciaddr: ip(rec.ciaddr),
        yiaddr: ip(rec.yiaddr),
        requested_ip: rec.requested_ip.map(IpAddr::V4),
        lease_secs: rec.lease_secs,
        hostname: rec.hostname.as_deref(),
        fqdn: rec.fqdn.as_deref(),
        vendor_class: rec.vendor_class.as_deref(),
        fingerprint: rec.fingerprint.as_deref(),
        client_id: rec.client_id.as_deref(),
        // A relayed reply comes from the relay agent, not the server.
        server: sender.filter(|_| rec.op == 2 && rec.giaddr.is_unspecified()),
        vlan,
    }
}

/// What the inventory needs from a DHCPv6 message sent by the client with
/// MAC `client` (none for a server's or relay's message): its DUID, FQDN
/// and vendor class. The ORO is not a DHCPv4 fingerprint and is left out;
/// addresses are learnt from the client's own traffic.
pub fn dhcp6(rec: &dhcp::MessageRecordV6, client: Option<Mac>) -> DhcpEvidence<'_> {
    DhcpEvidence {
        client,
        fqdn: rec.fqdn.as_deref(),
        vendor_class: rec.vendor_class.as_deref(),
        client_id: rec.client_duid.as_deref(),
        ..DhcpEvidence::default()
    }
}
