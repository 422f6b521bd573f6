//! Small address types shared by decode, flows and devices.

use std::fmt;
use std::net::IpAddr;

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Reads a MAC from the first six bytes; `None` if fewer.
    pub fn from_slice(b: &[u8]) -> Option<Mac> {
        b.get(..6)?.try_into().ok().map(Mac)
    }

    /// Group (multicast/broadcast) addresses have the I/G bit set.
    pub fn is_group(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Locally administered addresses have the U/L bit (0x02 of the first
    /// octet) set: assigned by software (VMs, containers, randomised Wi-Fi
    /// MACs), not from an IEEE block, so they name no manufacturer
    /// (the U/L address bit of IEEE Std 802, "Overview and Architecture").
    pub fn is_locally_administered(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// All zeros: "unknown" in ARP requests and some cooked captures.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also `-` separated, any case).
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in &mut out {
            let p = parts.next()?;
            if p.len() != 2 {
                return None;
            }
            *b = u8::from_str_radix(p, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(out))
    }

    /// The canonical text `aa:bb:cc:dd:ee:ff`, on the stack: the writer
    /// formats two per flow record, and `format!` machinery was 2.5% of
    /// all CPU there.
    pub fn text(&self) -> MacText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut t = [b':'; 17];
        for (i, b) in self.0.iter().enumerate() {
            t[i * 3] = HEX[usize::from(b >> 4)];
            t[i * 3 + 1] = HEX[usize::from(b & 0xf)];
        }
        MacText(t)
    }
}

/// A MAC address as text, from [`Mac::text`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MacText([u8; 17]);

impl MacText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and colons are ever written.
        std::str::from_utf8(&self.0).unwrap_or("??:??:??:??:??:??")
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An IP network in CIDR form, e.g. `10.0.0.0/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix`; the prefix must fit the address family.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.trim().parse().ok()?;
        let prefix: u8 = p.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// True when `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_and_print_round_trip() {
        let m = Mac::parse("00:1B:63:84:45:E6").unwrap();
        assert_eq!(m.to_string(), "00:1b:63:84:45:e6");
        assert_eq!(Mac::parse("00-1b-63-84-45-e6"), Some(m));
        assert!(Mac::parse("00:1b:63:84:45").is_none());
        assert!(Mac::parse("00:1b:63:84:45:e6:77").is_none());
        assert!(Mac::parse("0:1b:63:84:45:e6").is_none());
        assert!(Mac([0xff; 6]).is_group());
        assert!(!m.is_group());
    }

    #[test]
    fn locally_administered_is_the_u_l_bit_of_the_first_octet() {
        // x2, x6, xA, xE in the first octet's low nibble: U/L set.
        for first in [0x02, 0x06, 0x0a, 0x0e, 0x12, 0xfe, 0x03] {
            assert!(
                Mac([first, 0, 0, 0, 0, 1]).is_locally_administered(),
                "{first:#04x}"
            );
        }
        // Universally administered (IEEE blocks), group bit or not.
        for first in [0x00, 0x01, 0x04, 0x08, 0x0c, 0xb8, 0xfd] {
            assert!(
                !Mac([first, 0, 0, 0, 0, 1]).is_locally_administered(),
                "{first:#04x}"
            );
        }
        assert!(Mac::parse("02:00:00:78:00:01")
            .unwrap()
            .is_locally_administered());
        assert!(!Mac::parse("b8:27:eb:a6:b2:2f")
            .unwrap()
            .is_locally_administered());
    }

    #[test]
    fn cidr_membership_v4_v6_and_edges() {
        let n = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.1.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(!n.contains("fd00::1".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let host = Cidr::parse("192.168.1.5/32").unwrap();
        assert!(host.contains("192.168.1.5".parse().unwrap()));
        assert!(!host.contains("192.168.1.6".parse().unwrap()));
        let ula = Cidr::parse("fc00::/7").unwrap();
        assert!(ula.contains("fd77::2".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0").is_none());
    }
}
