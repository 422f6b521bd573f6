//! Flow tracking: bidirectional flows keyed by a normalised 5-tuple + VLAN,
//! held in a bounded table that ends flows on FIN/RST, idle timeout, eviction
//! or shutdown and hands each ended flow on as a [`FlowRecord`].

pub mod community;
mod key;
pub mod reassembly;
pub mod table;

pub use key::{Direction, FlowKey};
pub use table::{FlowCounters, FlowTable, Timeouts};

use crate::net::Mac;
use crate::time::Micros;
use std::net::IpAddr;

/// Connection state of a flow when it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    /// Only one side seen, or a TCP handshake that never completed.
    New,
    /// Both sides seen (TCP: handshake completed, or joined mid-stream).
    Established,
    /// TCP closed by FIN from both sides.
    ClosedFin,
    /// TCP closed by RST.
    ClosedRst,
}

impl FlowState {
    /// Stable name used in the database and JSON.
    pub fn name(self) -> &'static str {
        match self {
            FlowState::New => "new",
            FlowState::Established => "established",
            FlowState::ClosedFin => "closed-fin",
            FlowState::ClosedRst => "closed-rst",
        }
    }
}

/// Why a flow record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Closed by FIN from both sides, after the grace period.
    Fin,
    /// Closed by RST, after the grace period.
    Rst,
    /// Idle longer than its protocol's timeout.
    Timeout,
    /// Pushed out of a full table (the least recently seen flow goes).
    Evicted,
    /// A new connection reused the 5-tuple of a closed one.
    Reused,
    /// End of input or daemon shutdown.
    Shutdown,
    /// Not ended: written while still open (live capture writes flows open
    /// longer than `flow.interim_interval_secs` that often, so a crash does
    /// not lose them); the final record replaces it.
    Interim,
}

impl EndReason {
    /// Stable name used in the database and JSON.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Timeout => "timeout",
            EndReason::Evicted => "evicted",
            EndReason::Reused => "reused",
            EndReason::Shutdown => "shutdown",
            EndReason::Interim => "interim",
        }
    }
}

/// Per-direction counters. Index 0 is initiator→responder ("toserver"),
/// index 1 responder→initiator ("toclient").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCounters {
    /// Packets.
    pub pkts: u64,
    /// Frame bytes as on the wire (libpcap's original length).
    pub bytes: u64,
    /// Transport payload bytes as announced by the headers.
    pub payload_bytes: u64,
    /// Union of TCP flags seen.
    pub tcp_flags: u8,
}

/// An ended flow, owned, ready for the store. Holds no heap data, so
/// handing it to the writer channel allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// Unique within one database.
    pub flow_id: u64,
    /// First packet.
    pub start: Micros,
    /// Last packet.
    pub end: Micros,
    /// IP protocol number.
    pub proto: u8,
    /// Initiator address.
    pub src_ip: IpAddr,
    /// Initiator port (ICMP: 0).
    pub src_port: u16,
    /// Responder address.
    pub dest_ip: IpAddr,
    /// Responder port (ICMP: 0).
    pub dest_port: u16,
    /// ICMP type and code of the initiator's first packet (for Community ID).
    pub icmp: Option<(u8, u8)>,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Initiator MAC.
    pub src_mac: Option<Mac>,
    /// Responder MAC (or the gateway's, for remote peers).
    pub dest_mac: Option<Mac>,
    /// [`DirCounters`] toserver, toclient.
    pub dirs: [DirCounters; 2],
    /// State at the end.
    pub state: FlowState,
    /// Why it ended.
    pub reason: EndReason,
    /// Application protocol, when detected.
    pub app_proto: Option<crate::kinds::AppProto>,
}

impl FlowRecord {
    /// A new TCP flow 10.0.0.1:1 → 10.0.0.2:2 with id `flow_id`, ended by
    /// `reason`, everything else empty (tests).
    #[doc(hidden)]
    pub fn test_record(flow_id: u64, reason: EndReason) -> FlowRecord {
        FlowRecord {
            flow_id,
            start: 0,
            end: 0,
            proto: 6,
            src_ip: IpAddr::from([10, 0, 0, 1]),
            src_port: 1,
            dest_ip: IpAddr::from([10, 0, 0, 2]),
            dest_port: 2,
            icmp: None,
            vlan: None,
            src_mac: None,
            dest_mac: None,
            dirs: Default::default(),
            state: FlowState::New,
            reason,
            app_proto: None,
        }
    }
}

/// Lower-case protocol name for well-known IP protocol numbers, else "ip".
pub fn proto_name(proto: u8) -> &'static str {
    match proto {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        58 => "ipv6-icmp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        _ => "ip",
    }
}

/// The number for a name produced by [`proto_name`] (also accepts "icmpv6"
/// and a decimal number).
pub fn proto_number(name: &str) -> Option<u8> {
    let n = name.to_ascii_lowercase();
    if let Ok(v) = n.parse() {
        return Some(v);
    }
    (0..=255u8)
        .find(|&p| proto_name(p) == n)
        .or(match n.as_str() {
            "icmpv6" | "icmp6" => Some(58),
            _ => None,
        })
}
