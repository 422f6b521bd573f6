//! Community ID v1 (seed 0): the flow hash SIEMs correlate on, the same
//! in the database, the CLI's JSON, EVE and syslog.

use super::FlowRecord;

/// Community ID v1 (seed 0) of a flow, `None` for protocols it does not cover.
pub fn community_id(f: &FlowRecord) -> Option<String> {
    let (sp, dp) = match (f.proto, f.icmp) {
        (1 | 58, Some((t, c))) => (Some(u16::from(t)), Some(u16::from(c))),
        (6 | 17 | 132, _) => (Some(f.src_port), Some(f.dest_port)),
        _ => (None, None),
    };
    community_id_of(f.proto, (f.src_ip, sp), (f.dest_ip, dp))
}

/// Community ID v1 (seed 0) of a 5-tuple (ports, or ICMP type and code).
pub fn community_id_of(
    proto: u8,
    src: (std::net::IpAddr, Option<u16>),
    dest: (std::net::IpAddr, Option<u16>),
) -> Option<String> {
    community_id::calculate_community_id(0, src.0, dest.0, src.1, dest.1, proto, Default::default())
        .ok()
}
