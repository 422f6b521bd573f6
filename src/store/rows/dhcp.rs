//! The `dhcp_messages` table: one row per DHCPv4 message (metadata only:
//! addresses, names and options a device announces about itself), and
//! `medtap dhcp`'s transactions built from it.

use super::json;
use crate::proto::dhcp::v6::MessageTypeV6;
use crate::proto::dhcp::{MessageRecord, MessageRecordV6};
use crate::time::rfc3339;
use rusqlite::{Connection, Transaction};
use serde::Serialize;
use std::net::Ipv4Addr;

/// Inserts one message of flow `flow_id`.
pub fn insert(tx: &Transaction<'_>, flow_id: u64, m: &MessageRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO dhcp_messages (ts_us, flow_id, version, op, msg_type, xid, client_mac,
             ciaddr, yiaddr, siaddr, giaddr, requested_ip, server_id, lease_secs, hostname, fqdn,
             vendor_class, fingerprint, client_id, user_class, relay_circuit_id, relay_remote_id,
             domain_name, option_order, issues)
         VALUES (:ts_us, :flow_id, 4, :op, :msg_type, :xid, :client_mac, :ciaddr, :yiaddr,
             :siaddr, :giaddr, :requested_ip, :server_id, :lease_secs, :hostname, :fqdn,
             :vendor_class, :fingerprint, :client_id, :user_class, :relay_circuit_id,
             :relay_remote_id, :domain_name, :option_order, :issues)",
    )?;
    let addr = |a: Ipv4Addr| (!a.is_unspecified()).then(|| a.to_string());
    let mac = m.client_mac.map(|c| c.text());
    let issues: Vec<&str> = m.issues.names().collect();
    execute_named!(st, {
        ":ts_us": m.ts,
        ":flow_id": flow_id as i64,
        ":op": m.op,
        ":msg_type": m.message_type.map(|t| t.code()),
        ":xid": m.xid,
        ":client_mac": mac.as_ref().map(|c| c.as_str()),
        ":ciaddr": addr(m.ciaddr),
        ":yiaddr": addr(m.yiaddr),
        ":siaddr": addr(m.siaddr),
        ":giaddr": addr(m.giaddr),
        ":requested_ip": m.requested_ip.map(|a| a.to_string()),
        ":server_id": m.server_id.map(|a| a.to_string()),
        ":lease_secs": m.lease_secs,
        ":hostname": m.hostname.as_deref(),
        ":fqdn": m.fqdn.as_deref(),
        ":vendor_class": m.vendor_class.as_deref(),
        ":fingerprint": m.fingerprint.as_deref(),
        ":client_id": m.client_id.as_deref(),
        ":user_class": m.user_class.as_deref(),
        ":relay_circuit_id": m.relay_circuit_id.as_deref(),
        ":relay_remote_id": m.relay_remote_id.as_deref(),
        ":domain_name": m.domain_name.as_deref(),
        ":option_order": m.option_order.as_deref(),
        ":issues": (!issues.is_empty()).then(|| json(&issues)),
    })?;
    Ok(())
}

/// Inserts one DHCPv6 message of flow `flow_id` (version 6): the client
/// DUID goes in `client_id`, the ORO in `fingerprint`, the first IA_NA
/// address in `yiaddr`; `client_mac` is the MAC that sent a client message.
pub fn insert_v6(
    tx: &Transaction<'_>,
    flow_id: u64,
    m: &MessageRecordV6,
    client_mac: Option<crate::net::Mac>,
) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO dhcp_messages (ts_us, flow_id, version, msg_type, xid, client_mac, yiaddr,
             fqdn, vendor_class, fingerprint, client_id, relay_remote_id, issues)
         VALUES (:ts_us, :flow_id, 6, :msg_type, :xid, :client_mac, :yiaddr, :fqdn,
             :vendor_class, :fingerprint, :client_id, :relay_peer, :issues)",
    )?;
    let mac = client_mac.map(|c| c.text());
    let issues: Vec<&str> = m.issues.names().collect();
    execute_named!(st, {
        ":ts_us": m.ts,
        ":flow_id": flow_id as i64,
        ":msg_type": m.msg_type.0,
        ":xid": m.xid,
        ":client_mac": mac.as_ref().map(|c| c.as_str()),
        ":yiaddr": m.ia_address.map(|a| a.to_string()),
        ":fqdn": m.fqdn.as_deref(),
        ":vendor_class": m.vendor_class.as_deref(),
        ":fingerprint": m.fingerprint.as_deref(),
        ":client_id": m.client_duid.as_deref(),
        ":relay_peer": m.relay_peer.map(|a| a.to_string()),
        ":issues": (!issues.is_empty()).then(|| json(&issues)),
    })?;
    Ok(())
}

/// One DHCP message as `medtap dhcp --json` shows it inside a transaction.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DhcpMessageRow {
    /// RFC 3339 time.
    pub time: String,
    /// The flow it rode on.
    pub flow_id: u64,
    /// Option 53 name (DISCOVER, ACK, ...), or the number.
    pub msg_type: Option<String>,
    /// Offered/acknowledged address (yiaddr).
    pub yiaddr: Option<String>,
    /// Client's own address (ciaddr).
    pub ciaddr: Option<String>,
    /// Option 50.
    pub requested_ip: Option<String>,
    /// Option 54.
    pub server_id: Option<String>,
    /// Option 51, seconds.
    pub lease_secs: Option<u32>,
    /// Non-fatal problems found in the message.
    pub issues: Vec<String>,
}

/// A DHCP transaction: the messages of one client with one xid.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DhcpTransaction {
    /// RFC 3339 first message.
    pub start: String,
    /// Client hardware address (chaddr).
    pub client_mac: Option<String>,
    /// Transaction id, hex.
    pub xid: String,
    /// 4 (DHCP) or 6 (DHCPv6).
    pub version: u8,
    /// The message types in order, e.g. `DISCOVER,OFFER,REQUEST,ACK`.
    pub types: Vec<String>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 81's name.
    pub fqdn: Option<String>,
    /// Option 60.
    pub vendor_class: Option<String>,
    /// Option 55 as "1,3,6,15".
    pub fingerprint: Option<String>,
    /// Option 61, hex.
    pub client_id: Option<String>,
    /// Option 77.
    pub user_class: Option<String>,
    /// The address the server acknowledged (ACK's yiaddr), if any.
    pub leased_ip: Option<String>,
    /// The server (option 54), if any.
    pub server: Option<String>,
    /// Relay agent (giaddr), if relayed.
    pub relay: Option<String>,
    /// Option 82 circuit id (switch port).
    pub relay_circuit_id: Option<String>,
    /// Option 82 remote id (switch).
    pub relay_remote_id: Option<String>,
    /// Every message.
    pub messages: Vec<DhcpMessageRow>,
}

fn type_name(version: u8, code: Option<u8>) -> Option<String> {
    code.map(|c| match version {
        6 => MessageTypeV6(c).name().to_string(),
        _ => crate::proto::dhcp::MessageType::from_code(c)
            .name()
            .to_string(),
    })
}

/// All transactions, by first message.
pub fn transactions(conn: &Connection) -> rusqlite::Result<Vec<DhcpTransaction>> {
    let mut st = conn.prepare(
        "SELECT ts_us, flow_id, msg_type, xid, client_mac, ciaddr, yiaddr, requested_ip,
                server_id, lease_secs, hostname, fqdn, vendor_class, fingerprint, client_id,
                user_class, giaddr, relay_circuit_id, relay_remote_id, issues, version
         FROM dhcp_messages ORDER BY ts_us, id",
    )?;
    let mut out: Vec<DhcpTransaction> = Vec::new();
    let mut open: std::collections::HashMap<(Option<String>, u32, u8), usize> = Default::default();
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let xid: u32 = r.get(3)?;
        let client: Option<String> = r.get(4)?;
        let code: Option<u8> = r.get(2)?;
        let issues: Option<String> = r.get(19)?;
        let msg = DhcpMessageRow {
            time: rfc3339(r.get(0)?),
            flow_id: r.get::<_, i64>(1)? as u64,
            msg_type: type_name(r.get(20)?, code),
            ciaddr: r.get(5)?,
            yiaddr: r.get(6)?,
            requested_ip: r.get(7)?,
            server_id: r.get(8)?,
            lease_secs: r.get(9)?,
            issues: issues
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
        };
        let version: u8 = r.get(20)?;
        // A DHCPv6 server's answer names no client MAC: the xid pairs it.
        let key = match version {
            6 => (None, xid, version),
            _ => (client.clone(), xid, version),
        };
        let i = *open.entry(key).or_insert_with(|| {
            out.push(DhcpTransaction {
                start: msg.time.clone(),
                client_mac: client.clone(),
                xid: format!("0x{xid:08x}"),
                version,
                types: Vec::new(),
                hostname: None,
                fqdn: None,
                vendor_class: None,
                fingerprint: None,
                client_id: None,
                user_class: None,
                leased_ip: None,
                server: None,
                relay: None,
                relay_circuit_id: None,
                relay_remote_id: None,
                messages: Vec::new(),
            });
            out.len() - 1
        });
        let t = &mut out[i];
        if t.client_mac.is_none() {
            t.client_mac = client;
        }
        t.types
            .push(msg.msg_type.clone().unwrap_or_else(|| "BOOTP".into()));
        for (field, col) in [
            (&mut t.hostname, 10),
            (&mut t.fqdn, 11),
            (&mut t.vendor_class, 12),
            (&mut t.fingerprint, 13),
            (&mut t.client_id, 14),
            (&mut t.user_class, 15),
            (&mut t.relay, 16),
            (&mut t.relay_circuit_id, 17),
            (&mut t.relay_remote_id, 18),
        ] {
            if let Some(v) = r.get::<_, Option<String>>(col)? {
                *field = Some(v);
            }
        }
        // DHCPv4 ACK (5); DHCPv6 REPLY (7) with an IA_NA address.
        if (version, code) == (4, Some(5)) || (version, code) == (6, Some(7)) {
            t.leased_ip = msg.yiaddr.clone();
        }
        if msg.server_id.is_some() {
            t.server = msg.server_id.clone();
        }
        t.messages.push(msg);
    }
    Ok(out)
}
