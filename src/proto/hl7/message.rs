//! One HL7 v2 segment's fields, read in place: the separators from MSH-1 and
//! MSH-2, the header fields medtap keeps (MSH-3..MSH-12, MSH-21) and MSA-1/MSA-2.
//! Nothing here allocates; the conversation copies out what it keeps.

/// Longest field value kept (bytes); longer values are clipped.
pub const MAX_FIELD: usize = 128;

/// The separators a message declares in MSH-1 and MSH-2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Separators {
    /// Field separator (MSH-1), usually `|`.
    pub field: u8,
    /// Component separator (first MSH-2 character), usually `^`.
    pub component: u8,
    /// Subcomponent separator (fourth MSH-2 character), usually `&`.
    pub subcomponent: Option<u8>,
}

impl Default for Separators {
    fn default() -> Separators {
        Separators {
            field: b'|',
            component: b'^',
            subcomponent: Some(b'&'),
        }
    }
}

/// The segment id of `seg`, if it has the shape of one: an upper-case
/// letter, two upper-case letters or digits, then the field separator or the
/// end of the segment (HL7 v2 §2.5.2: `PID`, `OBX`, `ZPD`, ...). A line of
/// free text (a report sent with raw line feeds inside OBX-5 or NTE-3) is
/// not a segment: its first bytes are patient data and must not be kept.
pub fn segment_id(seg: &[u8], seps: Separators) -> Option<[u8; 3]> {
    let (&[a, b, c], rest) = seg.split_first_chunk::<3>()?;
    let shaped = a.is_ascii_uppercase()
        && [b, c]
            .iter()
            .all(|x| x.is_ascii_uppercase() || x.is_ascii_digit());
    let ends = rest.first().is_none_or(|&x| x == seps.field);
    (shaped && ends).then_some([a, b, c])
}

/// A delimiter must be visible punctuation: never a letter, digit, space
/// or control byte (those would make the message ambiguous).
fn is_delimiter(b: u8) -> bool {
    b.is_ascii_punctuation()
}

/// Checks the `MSH` (or `FHS`/`BHS`) header start: returns the separators
/// and the offset of MSH-3 (just after the field separator that ends MSH-2).
/// `None` if the header is malformed. Needs the segment up to MSH-2's end.
pub fn header_separators(seg: &[u8]) -> Option<(Separators, usize)> {
    let id = seg.get(..3)?;
    if !matches!(id, b"MSH" | b"FHS" | b"BHS") {
        return None;
    }
    let field = *seg.get(3)?;
    if !is_delimiter(field) {
        return None;
    }
    let rest = seg.get(4..)?;
    // Encoding characters end at the next field separator (or the segment).
    let enc_len = rest.iter().position(|&b| b == field).unwrap_or(rest.len());
    let enc = &rest[..enc_len];
    // Component, repetition, escape, subcomponent (+ truncation in v2.7).
    if enc.is_empty() || enc.len() > 5 {
        return None;
    }
    for (i, &c) in enc.iter().enumerate() {
        if !is_delimiter(c) || c == field || enc[..i].contains(&c) {
            return None;
        }
    }
    let seps = Separators {
        field,
        component: enc[0],
        subcomponent: enc.get(3).copied(),
    };
    Some((seps, (4 + enc_len + 1).min(seg.len())))
}

/// Field `n` (1-based, `MSA-1` is `n = 1`) of a segment that is not MSH.
pub fn field(seg: &[u8], seps: Separators, n: usize) -> Option<&[u8]> {
    seg.split(|&b| b == seps.field).nth(n)
}

/// The MSH fields medtap keeps, borrowed from the segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Msh<'a> {
    /// MSH-3 sending application.
    pub sending_app: &'a [u8],
    /// MSH-4 sending facility.
    pub sending_facility: &'a [u8],
    /// MSH-5 receiving application.
    pub receiving_app: &'a [u8],
    /// MSH-6 receiving facility.
    pub receiving_facility: &'a [u8],
    /// MSH-7 date/time of message.
    pub time: &'a [u8],
    /// MSH-9 message type (`ADT^A01`, `ACK`, ...).
    pub message_type: &'a [u8],
    /// MSH-10 message control id.
    pub control_id: &'a [u8],
    /// MSH-11 processing id (`P`, `T`, `D`).
    pub processing_id: &'a [u8],
    /// MSH-12 version id (`2.5.1`).
    pub version: &'a [u8],
    /// MSH-21 message profile identifier (`IHE_PCD_001^IHE PCD^...`).
    pub profile: &'a [u8],
}

/// Reads an MSH segment: `None` if its start is malformed.
pub fn msh(seg: &[u8]) -> Option<(Separators, Msh<'_>)> {
    if seg.get(..3) != Some(b"MSH") {
        return None;
    }
    let (seps, at) = header_separators(seg)?;
    let mut m = Msh::default();
    // Fields from MSH-3 on, in order.
    for (i, f) in seg[at..].split(|&b| b == seps.field).enumerate().take(19) {
        match i + 3 {
            3 => m.sending_app = f,
            4 => m.sending_facility = f,
            5 => m.receiving_app = f,
            6 => m.receiving_facility = f,
            7 => m.time = f,
            9 => m.message_type = f,
            10 => m.control_id = f,
            11 => m.processing_id = f,
            12 => m.version = f,
            21 => m.profile = f,
            _ => {}
        }
    }
    Some((seps, m))
}

/// A field value as kept: `None` when empty; components joined with `^`
/// and subcomponents with `&` whatever the message declared (so queries
/// read alike across senders); everything else as sent — control,
/// bidirectional and line-separator characters included, invalid UTF-8
/// escaped reversibly (see [`crate::proto::text`]); whole characters only,
/// at most [`MAX_FIELD`] bytes of output. Escaping for a terminal happens
/// when printed, never here.
pub fn text(v: &[u8], seps: Separators) -> Option<String> {
    if v.is_empty() {
        return None;
    }
    // Each input byte yields at least one output byte: never read more than
    // can be kept.
    let v = &v[..v.len().min(MAX_FIELD)];
    let mut out = String::with_capacity(v.len());
    let component = char::from(seps.component);
    let subcomponent = seps.subcomponent.map(char::from);
    crate::proto::text::push_kept(&mut out, v, MAX_FIELD, |c| {
        if c == component {
            '^'
        } else if Some(c) == subcomponent {
            '&'
        } else {
            c
        }
    });
    Some(out)
}

/// A negative acknowledgement code's static name, or `None` for a positive
/// (or unknown) one: AE/AR (original mode) and CE/CR (enhanced mode).
pub fn negative_ack(code: &[u8]) -> Option<&'static str> {
    match code {
        b"AE" => Some("AE"),
        b"AR" => Some("AR"),
        b"CE" => Some("CE"),
        b"CR" => Some("CR"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_header() {
        let seg = b"MSH|^~\\&|MONITOR|ICU|HIS|HOSP|20240101120000||ORU^R01^ORU_R01|MSG001|P|2.5.1";
        let (seps, m) = msh(seg).unwrap();
        assert_eq!(seps, Separators::default());
        assert_eq!(m.sending_app, b"MONITOR");
        assert_eq!(m.sending_facility, b"ICU");
        assert_eq!(m.receiving_app, b"HIS");
        assert_eq!(m.receiving_facility, b"HOSP");
        assert_eq!(m.time, b"20240101120000");
        assert_eq!(m.message_type, b"ORU^R01^ORU_R01");
        assert_eq!(m.control_id, b"MSG001");
        assert_eq!(m.processing_id, b"P");
        assert_eq!(m.version, b"2.5.1");
        assert_eq!(m.profile, b"");
    }

    #[test]
    fn the_message_profile_is_msh_21() {
        // IHE PCD TF-2 B.1: MSH-21 of a PCD-01 message.
        let seg = b"MSH|^~\\&|PUMPGW^0012210000000001^EUI-64|ICU||HOSP|20240101120000||ORU^R01^ORU_R01|1|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO";
        let (_, m) = msh(seg).unwrap();
        assert_eq!(
            m.profile,
            b"IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
        );
        assert_eq!(m.version, b"2.6");
        // Nothing after MSH-21 is read as it.
        let (_, m) = msh(b"MSH|^~\\&|A|B|C|D|T||ADT^A01|1|P|2.5|||||||||P21|P22").unwrap();
        assert_eq!(m.profile, b"P21");
    }

    #[test]
    fn separators_come_from_the_message() {
        let seg = b"MSH#$%*!#LAB#MAIN#LIS#HOSP#2024##ORU$R01#X1#P#2.3";
        let (seps, m) = msh(seg).unwrap();
        assert_eq!(
            (seps.field, seps.component, seps.subcomponent),
            (b'#', b'$', Some(b'!'))
        );
        assert_eq!(m.sending_app, b"LAB");
        assert_eq!(m.message_type, b"ORU$R01");
        assert_eq!(text(m.message_type, seps).unwrap(), "ORU^R01");
        assert_eq!(m.version, b"2.3");
    }

    #[test]
    fn short_and_malformed_headers() {
        assert!(msh(b"MSH|^~\\&").is_some());
        let (_, m) = msh(b"MSH|^~\\&|APP").unwrap();
        assert_eq!(m.sending_app, b"APP");
        assert_eq!(m.message_type, b"");
        for bad in [
            &b"MSX|^~\\&|"[..],
            b"MSH",
            b"MSH|",
            b"MSH||",
            b"MSHA^~\\&A",
            b"MSH ^~\\& ",
            b"MSH|^^\\&|",
            b"MSH|^~\\&#@!|",
            b"MSH|^a\\&|",
            b"PID|1",
        ] {
            assert!(msh(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(header_separators(b"BHS|^~\\&|X").is_some());
    }

    #[test]
    fn msa_fields_and_ack_codes() {
        let seps = Separators::default();
        let seg = b"MSA|AE|MSG001|bad PID";
        assert_eq!(field(seg, seps, 1), Some(&b"AE"[..]));
        assert_eq!(field(seg, seps, 2), Some(&b"MSG001"[..]));
        assert_eq!(field(b"MSA", seps, 1), None);
        assert_eq!(negative_ack(b"AE"), Some("AE"));
        assert_eq!(negative_ack(b"CR"), Some("CR"));
        assert_eq!(negative_ack(b"AA"), None);
        assert_eq!(negative_ack(b"CA"), None);
    }

    #[test]
    fn kept_text_is_clipped_and_clean() {
        let seps = Separators::default();
        assert_eq!(text(b"", seps), None);
        assert_eq!(text(b"A\x07B\xffC", seps).unwrap(), "A\u{7}B\\xffC");
        assert_eq!(text(&[b'x'; 500], seps).unwrap().len(), MAX_FIELD);
    }
}
