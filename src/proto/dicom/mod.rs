//! DICOM over TCP: detection, the upper layer (PS3.8) and DIMSE commands
//! (PS3.7), on any port. Metadata only: AE titles, contexts, commands, SOP
//! classes, statuses, byte counts — never data set contents.

pub mod dimse;
pub mod pdu;
pub mod stream;
pub mod uids;

mod association;

pub use association::{Association, AssociationRecord, ContextRecord, OperationRecord};

/// Bytes of client data needed to decide whether a flow is DICOM: the PDU
/// header, the fixed fields of an A-ASSOCIATE-RQ and the header of its first
/// variable item (PS3.8 9.3.2).
pub const PROBE_LEN: usize = pdu::PDU_HEADER_LEN + pdu::ASSOCIATE_FIXED_LEN + ITEM_HEADER_LEN;

/// Type, reserved byte and 16-bit length of a variable item (PS3.8 9.3.2.x).
const ITEM_HEADER_LEN: usize = 4;
/// Longest application context name taken as plausible: it is a UID, at
/// most 64 bytes (PS3.5 9.1; PS3.7 A.2.1 defines the only one in use).
const MAX_APPLICATION_CONTEXT_LEN: usize = 64;
/// Shortest plausible A-ASSOCIATE-RQ body: the fixed fields and an
/// application context item of at least one byte.
const MIN_ASSOCIATE_RQ_LEN: u32 = (pdu::ASSOCIATE_FIXED_LEN + ITEM_HEADER_LEN + 1) as u32;

/// Whether the first client bytes of a TCP flow are an A-ASSOCIATE-RQ, by
/// its structure (PS3.8 9.3.2, Table 9-11): PDU type 01H, reserved byte 00H,
/// a PDU length from the fixed fields plus an application context item up
/// to the buffering cap, protocol version bit 0 set, and a first variable
/// item that is the application context item (10H) with a length of
/// 1..=64 that fits the PDU. The AE titles, the reserved fields after the
/// header ("not tested", PS3.8 9.3.2) and the item's reserved byte are not
/// looked at: a hostile AE title is an anomaly on a recognised association
/// (`dicom.nonconforming_ae_title`), never a reason not to recognise it.
///
/// Every check reads bytes at fixed offsets as soon as they are there, so a
/// "no" comes as early as the bytes allow and the verdict does not depend on
/// where TCP split them. `None`: too few bytes yet.
pub fn probe(b: &[u8]) -> Option<bool> {
    let be16 = |at: usize| b.get(at..at + 2).map(|v| u16::from_be_bytes([v[0], v[1]]));
    let pdu_len = b
        .get(2..6)
        .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
    // PDU header (PS3.8 9.3.2): type 01H, one reserved byte, the length.
    let body = pdu::PDU_HEADER_LEN;
    let conforming = b.first().is_none_or(|&t| t == pdu::pdu_type::ASSOCIATE_RQ)
        && b.get(1).is_none_or(|&r| r == 0)
        && pdu_len.is_none_or(|l| (MIN_ASSOCIATE_RQ_LEN..=stream::MAX_ASSOCIATE_PDU).contains(&l))
        // Protocol-version: bit 0 is version 1 (PS3.8 9.3.2, Table 9-11).
        && be16(body).is_none_or(|v| v & 1 == 1)
        // The first variable item: application context (PS3.8 9.3.2.1).
        && b
            .get(body + pdu::ASSOCIATE_FIXED_LEN)
            .is_none_or(|&t| t == pdu::item_type::APPLICATION_CONTEXT)
        && be16(body + pdu::ASSOCIATE_FIXED_LEN + 2).is_none_or(|l| {
            let l = usize::from(l);
            let fits = pdu_len.is_some_and(|p| {
                (pdu::ASSOCIATE_FIXED_LEN + ITEM_HEADER_LEN + l) as u64 <= u64::from(p)
            });
            (1..=MAX_APPLICATION_CONTEXT_LEN).contains(&l) && fits
        });
    match (conforming, b.len() >= PROBE_LEN) {
        (false, _) => Some(false),
        (true, true) => Some(true),
        (true, false) => None,
    }
}

#[cfg(test)]
mod tests;
