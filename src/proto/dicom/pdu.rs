//! DICOM upper-layer PDUs (PS3.8 §9.3): checked, borrowed views.
//!
//! Every function takes the PDU *body* (after the 6-byte PDU header) and
//! returns views that borrow from it, or a [`Malformed`] that says where and
//! why. Variable items are walked with their length fields checked against
//! the bytes actually present; nothing here allocates.

/// PDU types (PS3.8 Table 9-1 ff.).
pub mod pdu_type {
    /// A-ASSOCIATE-RQ
    pub const ASSOCIATE_RQ: u8 = 0x01;
    /// A-ASSOCIATE-AC
    pub const ASSOCIATE_AC: u8 = 0x02;
    /// A-ASSOCIATE-RJ
    pub const ASSOCIATE_RJ: u8 = 0x03;
    /// P-DATA-TF
    pub const P_DATA_TF: u8 = 0x04;
    /// A-RELEASE-RQ
    pub const RELEASE_RQ: u8 = 0x05;
    /// A-RELEASE-RP
    pub const RELEASE_RP: u8 = 0x06;
    /// A-ABORT
    pub const ABORT: u8 = 0x07;
}

/// Length of the PDU header: type, reserved, 32-bit big-endian length.
pub const PDU_HEADER_LEN: usize = 6;
/// Fixed part of A-ASSOCIATE-RQ/AC bodies: version, reserved, called AE,
/// calling AE, 32 reserved bytes (PS3.8 §9.3.2).
pub const ASSOCIATE_FIXED_LEN: usize = 68;

/// Where and why a PDU or item is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// Offset in the PDU body.
    pub offset: usize,
    /// What is wrong.
    pub why: &'static str,
}

fn bad<T>(offset: usize, why: &'static str) -> Result<T, Malformed> {
    Err(Malformed { offset, why })
}

/// Reads the PDU header: (type, body length).
pub fn header(h: &[u8; PDU_HEADER_LEN]) -> (u8, u32) {
    (h[0], u32::from_be_bytes([h[2], h[3], h[4], h[5]]))
}

/// Trims DICOM padding (spaces, and NULs that some toolkits send).
pub fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != 0)
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// One variable item: type and value (PS3.8 §9.3.2.x, 16-bit length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// Item type.
    pub item_type: u8,
    /// Offset of the item in the enclosing buffer.
    pub offset: usize,
    /// Item value.
    pub value: &'a [u8],
}

/// Iterates over items with 16-bit lengths; stops with an error on a lying length.
pub struct Items<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

/// Items in `buf`, whose first byte is at `base` in the PDU body (for error offsets).
pub fn items(buf: &[u8], base: usize) -> Items<'_> {
    Items { buf, pos: 0, base }
}

impl<'a> Iterator for Items<'a> {
    type Item = Result<Item<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let at = self.base + self.pos;
        if rest.len() < 4 {
            self.pos = self.buf.len();
            return Some(bad(at, "item header cut short"));
        }
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let Some(value) = rest.get(4..4 + len) else {
            self.pos = self.buf.len();
            return Some(bad(at, "item length runs past the PDU"));
        };
        self.pos += 4 + len;
        Some(Ok(Item {
            item_type: rest[0],
            offset: at,
            value,
        }))
    }
}

/// The fixed fields of an A-ASSOCIATE-RQ or -AC body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Associate<'a> {
    /// Protocol version bit field (bit 0 = version 1).
    pub protocol_version: u16,
    /// Called AE title, trimmed.
    pub called_ae: &'a [u8],
    /// Calling AE title, trimmed.
    pub calling_ae: &'a [u8],
    /// The variable items.
    pub items: &'a [u8],
}

/// Parses the fixed part of A-ASSOCIATE-RQ/AC.
pub fn associate(body: &[u8]) -> Result<Associate<'_>, Malformed> {
    if body.len() < ASSOCIATE_FIXED_LEN {
        return bad(body.len(), "A-ASSOCIATE shorter than its fixed fields");
    }
    Ok(Associate {
        protocol_version: u16::from_be_bytes([body[0], body[1]]),
        called_ae: trim(&body[4..20]),
        calling_ae: trim(&body[20..36]),
        items: &body[ASSOCIATE_FIXED_LEN..],
    })
}

/// Variable item types (PS3.8 §9.3.2.x, §D.3.3).
pub mod item_type {
    /// Application Context
    pub const APPLICATION_CONTEXT: u8 = 0x10;
    /// Presentation Context (RQ)
    pub const PRESENTATION_CONTEXT_RQ: u8 = 0x20;
    /// Presentation Context (AC)
    pub const PRESENTATION_CONTEXT_AC: u8 = 0x21;
    /// Abstract Syntax sub-item
    pub const ABSTRACT_SYNTAX: u8 = 0x30;
    /// Transfer Syntax sub-item
    pub const TRANSFER_SYNTAX: u8 = 0x40;
    /// User Information
    pub const USER_INFORMATION: u8 = 0x50;
    /// Maximum Length sub-item
    pub const MAX_LENGTH: u8 = 0x51;
    /// Implementation Class UID sub-item
    pub const IMPLEMENTATION_CLASS_UID: u8 = 0x52;
    /// Asynchronous Operations Window sub-item
    pub const ASYNC_OPS: u8 = 0x53;
    /// SCP/SCU Role Selection sub-item
    pub const ROLE_SELECTION: u8 = 0x54;
    /// Implementation Version Name sub-item
    pub const IMPLEMENTATION_VERSION: u8 = 0x55;
    /// User Identity Negotiation (RQ) sub-item
    pub const USER_IDENTITY_RQ: u8 = 0x58;
    /// User Identity Negotiation (AC) sub-item
    pub const USER_IDENTITY_AC: u8 = 0x59;
}

/// A presentation context item (RQ: 0x20, AC: 0x21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresentationContext<'a> {
    /// Presentation context id (odd, 1..255).
    pub id: u8,
    /// AC only: 0 acceptance, 1 user-rejection, 2 no-reason, 3 abstract
    /// syntax not supported, 4 transfer syntaxes not supported.
    pub result: u8,
    /// Sub-items (abstract syntax, transfer syntaxes).
    pub sub_items: &'a [u8],
    /// Offset of the sub-items in the PDU body.
    pub sub_offset: usize,
}

/// Reads a presentation context item's fixed part.
pub fn presentation_context<'a>(item: &Item<'a>) -> Result<PresentationContext<'a>, Malformed> {
    let v = item.value;
    if v.len() < 4 {
        return bad(item.offset, "presentation context shorter than 4 bytes");
    }
    Ok(PresentationContext {
        id: v[0],
        result: v[2],
        sub_items: &v[4..],
        sub_offset: item.offset + 8,
    })
}

/// SCP/SCU role selection sub-item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleSelection<'a> {
    /// SOP class UID, trimmed.
    pub sop_class_uid: &'a [u8],
    /// SCU role proposed/accepted.
    pub scu: u8,
    /// SCP role proposed/accepted.
    pub scp: u8,
}

/// Reads a role selection sub-item (PS3.7 §D.3.3.4).
pub fn role_selection<'a>(item: &Item<'a>) -> Result<RoleSelection<'a>, Malformed> {
    let v = item.value;
    let n = v
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    match n.and_then(|n| Some((n, v.get(2..2 + n)?, v.get(2 + n..4 + n)?))) {
        Some((_, uid, roles)) => Ok(RoleSelection {
            sop_class_uid: trim(uid),
            scu: roles[0],
            scp: roles[1],
        }),
        None => bad(item.offset, "role selection UID length runs past the item"),
    }
}

/// User identity type (PS3.7 §D.3.3.7): 1 username, 2 username+passcode,
/// 3 Kerberos, 4 SAML, 5 JWT. The credential itself is never read.
pub fn user_identity_type(item: &Item<'_>) -> Result<u8, Malformed> {
    item.value.first().copied().ok_or(Malformed {
        offset: item.offset,
        why: "empty user identity sub-item",
    })
}

/// A-ASSOCIATE-RJ fields (PS3.8 §9.3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reject {
    /// 1 rejected-permanent, 2 rejected-transient.
    pub result: u8,
    /// 1 service-user, 2 service-provider (ACSE), 3 service-provider (presentation).
    pub source: u8,
    /// Reason/diagnostic, meaning depends on the source.
    pub reason: u8,
}

/// Parses an A-ASSOCIATE-RJ body.
pub fn reject(body: &[u8]) -> Result<Reject, Malformed> {
    match body.get(..4) {
        Some(b) => Ok(Reject {
            result: b[1],
            source: b[2],
            reason: b[3],
        }),
        None => bad(body.len(), "A-ASSOCIATE-RJ shorter than 4 bytes"),
    }
}

/// A-ABORT fields (PS3.8 §9.3.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Abort {
    /// 0 service-user, 2 service-provider.
    pub source: u8,
    /// Provider reason (meaningful when source is 2).
    pub reason: u8,
}

/// Parses an A-ABORT body.
pub fn abort(body: &[u8]) -> Result<Abort, Malformed> {
    match body.get(..4) {
        Some(b) => Ok(Abort {
            source: b[2],
            reason: b[3],
        }),
        None => bad(body.len(), "A-ABORT shorter than 4 bytes"),
    }
}

/// Names for reject result/source/reason (PS3.8 Table 9-21).
pub fn reject_text(r: &Reject) -> (&'static str, &'static str, &'static str) {
    let result = match r.result {
        1 => "rejected-permanent",
        2 => "rejected-transient",
        _ => "unknown",
    };
    let (source, reason) = match (r.source, r.reason) {
        (1, 1) => ("service-user", "no-reason-given"),
        (1, 2) => ("service-user", "application-context-name-not-supported"),
        (1, 3) => ("service-user", "calling-AE-title-not-recognized"),
        (1, 7) => ("service-user", "called-AE-title-not-recognized"),
        (1, _) => ("service-user", "reserved"),
        (2, 1) => ("service-provider-acse", "no-reason-given"),
        (2, 2) => ("service-provider-acse", "protocol-version-not-supported"),
        (2, _) => ("service-provider-acse", "reserved"),
        (3, 1) => ("service-provider-presentation", "temporary-congestion"),
        (3, 2) => ("service-provider-presentation", "local-limit-exceeded"),
        (3, _) => ("service-provider-presentation", "reserved"),
        _ => ("unknown", "unknown"),
    };
    (result, source, reason)
}

/// Names for abort source/reason (PS3.8 Table 9-26).
pub fn abort_text(a: &Abort) -> (&'static str, &'static str) {
    let source = match a.source {
        0 => "service-user",
        1 => "reserved",
        2 => "service-provider",
        _ => "unknown",
    };
    let reason = match (a.source, a.reason) {
        (2, 0) => "reason-not-specified",
        (2, 1) => "unrecognized-PDU",
        (2, 2) => "unexpected-PDU",
        (2, 4) => "unrecognized-PDU-parameter",
        (2, 5) => "unexpected-PDU-parameter",
        (2, 6) => "invalid-PDU-parameter-value",
        (2, _) => "reserved",
        _ => "not-applicable",
    };
    (source, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_removes_space_and_nul_padding_on_both_sides() {
        assert_eq!(trim(b"  CT_SCANNER \0\0"), b"CT_SCANNER");
        assert_eq!(trim(b"        "), b"");
        assert_eq!(trim(b""), b"");
    }

    #[test]
    fn items_stop_at_a_lying_length() {
        // item 0x10 len 3 "abc", then item 0x20 claiming 200 bytes.
        let buf = [0x10, 0, 0, 3, b'a', b'b', b'c', 0x20, 0, 0, 200, 1, 2];
        let mut it = items(&buf, 68);
        assert_eq!(
            it.next(),
            Some(Ok(Item {
                item_type: 0x10,
                offset: 68,
                value: b"abc"
            }))
        );
        assert_eq!(
            it.next(),
            Some(Err(Malformed {
                offset: 75,
                why: "item length runs past the PDU"
            }))
        );
        assert_eq!(it.next(), None);
        let mut cut = items(&[0x10, 0], 0);
        assert!(matches!(cut.next(), Some(Err(_))));
    }

    #[test]
    fn role_selection_checks_its_inner_length() {
        let ok = [0, 3, b'1', b'.', b'2', 1, 0];
        let item = Item {
            item_type: 0x54,
            offset: 0,
            value: &ok,
        };
        assert_eq!(
            role_selection(&item).unwrap(),
            RoleSelection {
                sop_class_uid: b"1.2",
                scu: 1,
                scp: 0
            }
        );
        let lying = [0, 9, b'1', b'.', b'2', 1, 0];
        assert!(role_selection(&Item {
            item_type: 0x54,
            offset: 0,
            value: &lying
        })
        .is_err());
    }

    #[test]
    fn short_fixed_pdus_are_malformed() {
        assert!(associate(&[0; 67]).is_err());
        assert!(reject(&[0; 3]).is_err());
        assert!(abort(&[0; 3]).is_err());
        assert_eq!(
            reject(&[0, 1, 1, 7]).unwrap(),
            Reject {
                result: 1,
                source: 1,
                reason: 7
            }
        );
        assert_eq!(
            reject_text(&Reject {
                result: 1,
                source: 1,
                reason: 7
            })
            .2,
            "called-AE-title-not-recognized"
        );
        assert_eq!(
            abort_text(&Abort {
                source: 2,
                reason: 2
            }),
            ("service-provider", "unexpected-PDU")
        );
    }
}
