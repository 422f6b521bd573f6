//! The bidirectional flow key.

use std::net::IpAddr;

/// A flow's identity: both endpoints in a canonical order (lower
/// address/port first), the IP protocol and the outer VLAN id. Both
/// directions of a conversation produce the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The lower (address, port) endpoint.
    pub lo: (IpAddr, u16),
    /// The higher (address, port) endpoint.
    pub hi: (IpAddr, u16),
    /// IP protocol number.
    pub proto: u8,
    /// Outer VLAN id, 0 when untagged (VLAN 0 means "priority tag only").
    pub vlan: u16,
}

/// Which way a packet travels relative to the key's canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From `lo` to `hi`.
    LoToHi,
    /// From `hi` to `lo`.
    HiToLo,
}

impl FlowKey {
    /// Builds the key for a packet from `src` to `dst`, and the packet's
    /// direction relative to it.
    pub fn new(
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        proto: u8,
        vlan: Option<u16>,
    ) -> (FlowKey, Direction) {
        let vlan = vlan.unwrap_or(0);
        if src <= dst {
            (
                FlowKey {
                    lo: src,
                    hi: dst,
                    proto,
                    vlan,
                },
                Direction::LoToHi,
            )
        } else {
            (
                FlowKey {
                    lo: dst,
                    hi: src,
                    proto,
                    vlan,
                },
                Direction::HiToLo,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_one_key() {
        let a = ("10.0.0.1".parse().unwrap(), 40000);
        let b = ("10.0.0.2".parse().unwrap(), 104);
        let (k1, d1) = FlowKey::new(a, b, 6, None);
        let (k2, d2) = FlowKey::new(b, a, 6, None);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
        let (k3, _) = FlowKey::new(a, b, 6, Some(20));
        assert_ne!(k1, k3, "VLAN separates flows");
        let (k4, _) = FlowKey::new(a, b, 17, None);
        assert_ne!(k1, k4, "protocol separates flows");
    }
}
