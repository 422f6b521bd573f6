//! DHCP over UDP: DHCPv4/BOOTP ([`parse_v4`], ports 67/68) and DHCPv6
//! ([`parse_v6`], ports 546/547).
//!
//! DHCP tells medtap who a device says it is before it says anything else:
//! its MAC and client identifier, host name, vendor class (`MSFT 5.0`,
//! `Philips IntelliVue`, `dhcpcd-6.11.5:Linux...`), the parameters it asks
//! for (a fingerprint of its DHCP stack), and which address it got from
//! which server — and DHCP is also where a rogue server shows itself.
//!
//! One datagram is one message: no stream, no state. Parsing borrows from
//! the payload and allocates nothing; [`MessageRecord::from_message`] makes
//! the owned record once per message, strings kept as sent
//! (`proto::text`) and bounded by the `MAX_*` caps of [`record`].
//!
//! # What is fatal, what is an issue (DHCPv4)
//!
//! Fatal ([`Malformed`], the `dhcp.malformed` anomaly): a payload shorter
//! than the 236-byte fixed header, or an `op` other than 1 or 2. Anything
//! else still gives a [`Message`], with the problems in
//! [`Message::issues`] (one `dhcp.bad_option` anomaly per issue, the
//! issue's name as the detail):
//!
//! | issue | when | what medtap keeps |
//! | --- | --- | --- |
//! | `bad_cookie` | no magic cookie after the header (tshark: BOOTP, "Malformed" when the 64-byte vendor area is short) | the fixed header, no options |
//! | `truncated_option` | a length byte or value past the end of its area (tshark: "Malformed") | the options before it; the code is listed in the order |
//! | `no_end` | an area without End | everything read |
//! | `bad_length` | a length that does not fit the option (53 ≠ 1, 50/51/54 ≠ 4, 57 ≠ 2, 61 < 2, 81 < 3, an empty 12/15/55/60/77, 82 sub-options past its end) | nothing of that option (82: the sub-options before) |
//! | `duplicate_option` | a code seen again, in any area (RFC 3396 splits long options so; not joined) | the first instance |
//! | `bad_overload` | option 52 not one byte of 1..=3, or inside `file`/`sname` | no overload |
//! | `bad_hlen` | `hlen` > 16 | 16 bytes of `chaddr` |
//! | `bad_fqdn` | option 81 in wire format whose labels do not parse | the name up to the bad label |
//! | `data_after_end` | non-Pad bytes after End in the options field | — |
//! | `many_options` | more than [`MAX_ORDER`] options | the first in the order list, the rest counted |
//!
//! Areas are walked as RFC 2131 §4.1 says: the options field, then `file`
//! (overload 1 or 3), then `sname` (2 or 3); [`OptionOrder`] remembers the
//! area of each code. tshark shows the overloaded areas where option 52
//! stands, `sname` first; its `dhcp.option.type` also lists a run of Pad
//! and End as `0`.
//!
//! # DHCPv6
//!
//! [`parse_v6`] reads the message type, transaction ID, client and server
//! DUIDs, ORO (the fingerprint), the first vendor class (enterprise number
//! and first data item), the client FQDN and the first IA_NA address.
//! Relay messages (RELAY-FORW/REPL) are unwrapped down to the relayed
//! message, at most [`v6::MAX_RELAY_DEPTH`] deep, keeping the innermost
//! relay's peer address, interface ID and remote ID. Fatal: a header
//! shorter than 4 bytes (34 for a relay message), message type 0, relays
//! nested too deep (`relay_too_deep`). Issues: `truncated_option`,
//! `bad_length`, `duplicate_option` (client/server ID, ORO, FQDN),
//! `bad_fqdn`. No DHCPv6 capture is in the public corpus: the tests build
//! messages from RFC 8415's layouts.

pub mod issues;
pub mod options;
pub mod record;
#[cfg(test)]
mod tests;
pub mod v4;
pub mod v6;

pub use issues::Issues;
pub use options::{Fqdn, MessageType, OptionOrder, Options, Region, RelayInfo, MAX_ORDER};
pub use record::MessageRecord;
pub use v4::{parse_v4, Malformed, Message};
pub use v6::{parse_v6, MessageRecordV6, MessageV6};

/// DHCPv4 server port (BOOTP).
pub const SERVER_PORT: u16 = 67;
/// DHCPv4 client port.
pub const CLIENT_PORT: u16 = 68;
/// DHCPv6 client port.
pub const V6_CLIENT_PORT: u16 = 546;
/// DHCPv6 server and relay agent port.
pub const V6_SERVER_PORT: u16 = 547;
