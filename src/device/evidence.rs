//! Identity evidence from the parsers' records: the names a device uses
//! in DICOM, HL7 and MQTT, and what a DHCP message says. Runs once per
//! record (an association, a message, a session), never per packet.

use super::inventory::{DeviceEvent, DhcpEvidence, Inventory};
use super::NameKind;
use crate::app::AppEvent;
use crate::net::Mac;
use crate::proto::dhcp;
use std::net::IpAddr;

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
}

/// What the inventory needs from a DHCP message carried on `vlan`.
pub fn dhcp(rec: &dhcp::MessageRecord, vlan: Option<u16>) -> DhcpEvidence<'_> {
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
