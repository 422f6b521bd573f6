//! Non-fatal problems of one DHCP message, as a set of named flags.

use std::fmt;

/// Defines [`Issues`] from one list of `CONST = bit => "name"` lines, so
/// the flags, [`Issues::ALL`] and the names cannot disagree.
macro_rules! issues {
    ($($(#[$doc:meta])* $flag:ident = $bit:literal => $name:literal,)*) => {
        impl Issues {
            $($(#[$doc])* pub const $flag: Issues = Issues(1 << $bit);)*

            /// Every issue with its stable name, in bit order.
            pub const ALL: [(Issues, &'static str); [$($name),*].len()] =
                [$((Issues::$flag, $name)),*];
        }
    };
}

/// Problems found in a message that was still read (a set: each flag once,
/// no heap). Each has a stable name ([`Issues::names`]) that medtap reports
/// as the detail of a `dhcp.bad_option` anomaly.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Issues(u16);

issues! {
    /// No DHCP magic cookie (99.130.83.99) after the fixed header: a BOOTP
    /// message without options (RFC 951), or not DHCP at all. The fixed
    /// header is still read; no option is.
    BAD_COOKIE = 0 => "bad_cookie",
    /// An option whose length byte, or value, runs past the end of its area
    /// (options field, `file` or `sname`). Its value is not taken and the
    /// rest of that area is not read.
    TRUNCATED_OPTION = 1 => "truncated_option",
    /// An area that ends without an End option (255).
    NO_END = 2 => "no_end",
    /// An option whose length does not fit its kind (53 not 1 byte, 50/51/54
    /// not 4, 57 not 2, a client identifier under 2 bytes, an empty host
    /// name (or only NULs), FQDN under 3 bytes, relay agent sub-options past the option's
    /// end, ...): its value is ignored (RFC 2132).
    BAD_LENGTH = 3 => "bad_length",
    /// An option code seen again (in any area): the first instance is kept.
    /// RFC 3396 splits long options this way; medtap does not join them.
    DUPLICATE_OPTION = 4 => "duplicate_option",
    /// Option 52 (overload) not 1 byte, not 1..=3, or found inside `file`
    /// or `sname` (RFC 2131 §4.1: only the options field may overload).
    BAD_OVERLOAD = 5 => "bad_overload",
    /// `hlen` over 16, the size of `chaddr`: the address is cut to 16 bytes.
    BAD_HLEN = 6 => "bad_hlen",
    /// A client FQDN (option 81) in DNS wire format whose labels do not
    /// parse (a label past the end, a compression pointer, bytes after the
    /// root label): rendered only up to the bad label.
    BAD_FQDN = 7 => "bad_fqdn",
    /// Bytes other than Pad (0) after the End option of the options field.
    DATA_AFTER_END = 8 => "data_after_end",
    /// More options than [`super::MAX_ORDER`]: the order list keeps the
    /// first ones and counts the rest.
    MANY_OPTIONS = 9 => "many_options",
}

impl Issues {
    /// No issue.
    pub const fn empty() -> Issues {
        Issues(0)
    }

    /// The flags as bits (bit `n` is `ALL[n]`).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// The set with these bits; bits without an issue are dropped.
    pub const fn from_bits(bits: u16) -> Issues {
        let all = (1u16 << Issues::ALL.len()) - 1;
        Issues(bits & all)
    }

    /// Whether no issue was found.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Issues) -> bool {
        self.0 & other.0 == other.0
    }

    /// Adds the flags of `other`.
    pub fn insert(&mut self, other: Issues) {
        self.0 |= other.0;
    }

    /// The names of the flags that are set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Issues::ALL
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| n)
    }
}

impl std::ops::BitOr for Issues {
    type Output = Issues;

    fn bitor(self, other: Issues) -> Issues {
        Issues(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for Issues {
    fn bitor_assign(&mut self, other: Issues) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for Issues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Issues(")?;
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            f.write_str(n)?;
        }
        f.write_str(")")
    }
}
