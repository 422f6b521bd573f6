//! HL7 v2 over MLLP: framing ([`mllp`]), header fields ([`message`]) and
//! the connection's messages with their acknowledgements ([`conversation`]).
//! Detection is by content on any port (port 2575 is only a hint).

pub mod conversation;
pub mod message;
pub mod mllp;
#[cfg(test)]
mod tests;

pub use conversation::{Conversation, Framing, MessageRecord, SegmentCount};

/// Client bytes the probe may need: start block, `MSH`, field separator,
/// up to five encoding characters and the next field separator.
pub const PROBE_LEN: usize = 11;

/// Whether a flow's first client bytes open an MLLP frame holding an HL7
/// header (`\x0bMSH|^~\&|`, any plausible separators; batch headers
/// FHS/BHS too). `None` while more bytes are needed.
pub fn probe(first: &[u8]) -> Option<bool> {
    let (&start, rest) = first.split_first()?;
    if start != mllp::START {
        return Some(false);
    }
    for (i, want) in [b"MSH", b"FHS", b"BHS"].iter().enumerate() {
        let n = rest.len().min(3);
        if rest[..n] == want[..n] {
            break;
        }
        if i == 2 {
            return Some(false);
        }
    }
    if rest.len() < 5 {
        return None;
    }
    // The separators are complete once MSH-2 is followed by the field separator.
    let field = rest[3];
    let complete = rest[4..].contains(&field);
    match message::header_separators(rest) {
        Some(_) if complete => Some(true),
        Some(_) if first.len() < PROBE_LEN => None,
        _ => Some(false),
    }
}
