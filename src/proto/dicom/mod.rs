//! DICOM over TCP: detection, the upper layer (PS3.8) and DIMSE commands
//! (PS3.7), on any port. Metadata only: AE titles, contexts, commands, SOP
//! classes, statuses, byte counts — never data set contents.

pub mod dimse;
pub mod pdu;
pub mod stream;
pub mod uids;

mod association;

pub use association::{Association, AssociationRecord, ContextRecord, OperationRecord};

/// Bytes of client data needed to decide whether a flow is DICOM.
pub const PROBE_LEN: usize = 42;

/// Whether the first client bytes of a TCP flow are a plausible
/// A-ASSOCIATE-RQ: PDU type 1, reserved 0, a length that fits the fixed
/// fields and the buffering cap, protocol version bit 0, and printable
/// (space-padded) called and calling AE titles. `None`: too few bytes yet.
pub fn probe(b: &[u8]) -> Option<bool> {
    if b.len() < PROBE_LEN {
        // Reject early on what is already visible.
        if b.first().is_some_and(|&t| t != 0x01) || b.get(1).is_some_and(|&r| r != 0) {
            return Some(false);
        }
        return None;
    }
    let len = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
    let version = u16::from_be_bytes([b[6], b[7]]);
    let ae_ok =
        |ae: &[u8]| ae.iter().all(|&c| (0x20..0x7f).contains(&c)) && ae.iter().any(|&c| c != b' ');
    Some(
        b[0] == 0x01
            && b[1] == 0
            && (pdu::ASSOCIATE_FIXED_LEN as u32..=stream::MAX_ASSOCIATE_PDU).contains(&len)
            && version & 1 == 1
            && ae_ok(&b[10..26])
            && ae_ok(&b[26..42]),
    )
}

#[cfg(test)]
mod tests;
