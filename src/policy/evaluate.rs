//! The compiled policy's verdict on one device's part in a flow or a
//! protocol operation. Pure: no state, no allocation; the engine calls it
//! per new flow, per recognised protocol and per protocol event.

use super::rules::{Direction, Entry, Peer, Policy};
use crate::kinds::{AppProto, Severity};
use crate::net::{Cidr, Mac};
use std::net::IpAddr;

/// One end of a flow as the policy sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct End<'a> {
    /// Its own MAC: only for an address on a local network (an internet
    /// host's frames carry the router's MAC).
    pub mac: Option<Mac>,
    /// Its address.
    pub ip: Option<IpAddr>,
    /// The class it is held to (the asset list's, else the inferred one).
    pub class: Option<&'a str>,
    /// Its Table B.1 grade.
    pub grade: Option<u8>,
    /// Whether its class is a medical device's.
    pub medical: bool,
}

/// What is being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// The flow itself, before its protocol is known (or when it never is).
    Flow,
    /// Its application protocol was recognised.
    App(AppProto),
    /// A DICOM A-ASSOCIATE-RQ.
    DicomAssociation {
        /// Calling AE title.
        calling: &'a str,
        /// Called AE title.
        called: &'a str,
    },
    /// A DIMSE request on an association to `called`.
    DicomOperation {
        /// "C-STORE", ...
        command: &'a str,
        /// The association's called AE title.
        called: &'a str,
    },
    /// An HL7 message header.
    Hl7 {
        /// MSH-3.
        sending: &'a str,
        /// MSH-5.
        receiving: &'a str,
        /// MSH-9.
        message_type: &'a str,
    },
    /// An MQTT PUBLISH to a topic.
    MqttPublish(&'a str),
    /// An MQTT SUBSCRIBE to a filter.
    MqttSubscribe(&'a str),
}

/// The flow as the check needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transport {
    /// IP protocol number.
    pub proto: u8,
    /// The server's port.
    pub server_port: u16,
    /// Its application protocol, once known.
    pub app: Option<AppProto>,
}

/// The answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No allow-list holds this device: nothing to check.
    NotEnforced,
    /// An entry allows it.
    Allowed,
    /// Only entries that name an application protocol could allow it: wait
    /// until the protocol is known.
    Pending,
    /// Nothing allows it.
    Violation,
}

impl Policy {
    /// Whether an allow-list holds `me`.
    pub fn enforces(&self, me: &End<'_>) -> bool {
        self.own_entries(me).next().is_some()
    }

    /// The entries that hold `me`: its class's and its own (by MAC or
    /// address), then the common ones when any of those exist.
    fn own_entries<'s>(&'s self, me: &End<'_>) -> impl Iterator<Item = &'s Entry> + 's {
        // Most policies name no single device: no lookups for them.
        let class = me.class.and_then(|c| self.classes.get(c));
        let by_mac = me.mac.filter(|_| !self.by_mac.is_empty());
        let by_mac = by_mac.and_then(|m| self.by_mac.get(&m));
        let by_ip = me.ip.filter(|_| !self.by_ip.is_empty());
        let by_ip = by_ip.and_then(|ip| self.by_ip.get(&ip));
        let own = class
            .map(|c| c.entries.as_slice())
            .into_iter()
            .chain(by_mac.map(Vec::as_slice))
            .chain(by_ip.map(Vec::as_slice))
            .flatten();
        let enforced =
            class.is_some_and(|c| !c.entries.is_empty()) || by_mac.is_some() || by_ip.is_some();
        let common = if enforced {
            self.common.as_slice()
        } else {
            &[]
        };
        own.chain(common).map(move |&i| &self.entries[i as usize])
    }

    /// Whether `me`, in `role`, may do `op` with `peer` on `t`.
    pub fn check(
        &self,
        me: &End<'_>,
        role: Direction,
        peer: &End<'_>,
        t: &Transport,
        op: &Op<'_>,
    ) -> Verdict {
        let mut any = false;
        let mut pending = false;
        for e in self.own_entries(me) {
            any = true;
            if !e.direction.covers(role)
                || e.transport.is_some_and(|p| p != t.proto)
                || !e.port_ok(t.server_port)
                || !e.peers.iter().any(|p| self.peer_matches(p, peer))
            {
                continue;
            }
            if !e.app.is_empty() {
                match t.app {
                    Some(app) if e.app.contains(&app) => {}
                    Some(_) => continue,
                    None => {
                        pending = true;
                        continue;
                    }
                }
            }
            if op_allowed(e, op) {
                return Verdict::Allowed;
            }
        }
        match (any, pending) {
            (false, _) => Verdict::NotEnforced,
            (true, true) => Verdict::Pending,
            (true, false) => Verdict::Violation,
        }
    }

    /// Whether an entry for every enforced class (`classes = ["*"]`)
    /// allows `me`'s part in a flow (infrastructure: DHCP, DNS, NTP, ...).
    pub fn common_allows(&self, role: Direction, peer: &End<'_>, t: &Transport) -> bool {
        self.common
            .iter()
            .map(|&i| &self.entries[i as usize])
            .any(|e| {
                e.direction.covers(role)
                    && e.transport.is_none_or(|p| p == t.proto)
                    && e.port_ok(t.server_port)
                    && e.peers.iter().any(|p| self.peer_matches(p, peer))
                    && (e.app.is_empty() || t.app.is_some_and(|a| e.app.contains(&a)))
            })
    }

    /// Whether `peer` is one `p` names.
    pub fn peer_matches(&self, p: &Peer, peer: &End<'_>) -> bool {
        match p {
            Peer::Any => true,
            Peer::Internal => peer.ip.is_some_and(|ip| self.is_internal(ip)),
            Peer::Internet => peer.ip.is_some_and(|ip| !self.is_internal(ip)),
            Peer::Multicast => peer.ip.is_some_and(is_multicast),
            Peer::Group(_, nets) => peer.ip.is_some_and(|ip| in_any(nets, ip)),
            Peer::Class(id) => self.registered_class(peer) == Some(id.as_str()),
            Peer::Mac(m) => peer.mac == Some(*m),
            Peer::Ip(ip) => peer.ip == Some(*ip),
        }
    }

    /// The class the asset list registers `end` with: by its MAC, else
    /// (for entries that give no MAC) by its address.
    pub fn registered_class(&self, end: &End<'_>) -> Option<&str> {
        self.asset(end)?.class.as_deref()
    }

    /// The asset list's entry for `end`.
    pub fn asset(&self, end: &End<'_>) -> Option<&super::rules::AssetInfo> {
        if !self.has_assets() {
            return None;
        }
        let by_mac = end.mac.and_then(|m| self.assets_by_mac.get(&m));
        by_mac.or_else(|| end.ip.and_then(|ip| self.assets_by_ip.get(&ip)))
    }

    /// Whether an asset list was given (without one, nothing is registered).
    pub fn has_assets(&self) -> bool {
        !self.assets_by_mac.is_empty() || !self.assets_by_ip.is_empty()
    }

    /// Whether the asset list holds `end`.
    pub fn is_registered(&self, end: &End<'_>) -> bool {
        self.asset(end).is_some()
    }

    /// Whether `ip` is inside the hospital: a local network, or an address
    /// that never leaves a link (broadcast, multicast, link-local,
    /// loopback, unspecified).
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        in_any(&self.internal, ip) || is_multicast(ip) || never_routed(ip)
    }

    /// The severity of a violation by `me`: its class's setting, else by
    /// its grade.
    pub fn violation_severity(&self, me: &End<'_>) -> Severity {
        let class = me.class.and_then(|c| self.classes.get(c));
        class
            .and_then(|c| c.severity)
            .or_else(|| {
                self.severity
                    .get(&crate::alert::Rule::PolicyViolation)
                    .copied()
            })
            .unwrap_or_else(|| Severity::for_grade(me.grade))
    }
}

/// Whether entry `e` (already matching the flow) allows `op`.
fn op_allowed(e: &Entry, op: &Op<'_>) -> bool {
    match *op {
        Op::Flow | Op::App(_) => true,
        Op::DicomAssociation { calling, called } => e.dicom_association_ok(calling, called),
        Op::DicomOperation { command, called } => e.dicom_operation_ok(command, called),
        Op::Hl7 {
            sending,
            receiving,
            message_type,
        } => e.hl7_ok(sending, receiving, message_type),
        Op::MqttPublish(topic) => e.mqtt_publish_ok(topic),
        Op::MqttSubscribe(filter) => e.mqtt_subscribe_ok(filter),
    }
}

fn in_any(nets: &[Cidr], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(ip))
}

/// Multicast, or the IPv4 limited broadcast.
pub fn is_multicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

/// Addresses that stay on their link or host.
fn never_routed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_loopback() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests;
