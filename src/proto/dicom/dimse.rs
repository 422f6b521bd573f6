//! DIMSE command sets (PS3.7 §9.3, §10.3, §E): group 0000 elements in
//! implicit VR little endian. Only command fields are read — the data set
//! that may follow (patient and image attributes) is never parsed.

use super::pdu::trim;

/// Command elements medtap reads from a command set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Command<'a> {
    /// (0000,0100) Command Field.
    pub command_field: Option<u16>,
    /// (0000,0110) Message ID.
    pub message_id: Option<u16>,
    /// (0000,0120) Message ID Being Responded To.
    pub responded_to: Option<u16>,
    /// (0000,0002) Affected SOP Class UID, trimmed.
    pub affected_sop_class: Option<&'a [u8]>,
    /// (0000,0003) Requested SOP Class UID, trimmed.
    pub requested_sop_class: Option<&'a [u8]>,
    /// (0000,0600) Move Destination AE title, trimmed.
    pub move_destination: Option<&'a [u8]>,
    /// (0000,1030) Move Originator AE title, trimmed: present in a
    /// C-STORE-RQ that is a sub-operation of a C-MOVE (PS3.7 9.1.1.1).
    pub move_originator: Option<&'a [u8]>,
    /// (0000,0700) Priority.
    pub priority: Option<u16>,
    /// (0000,0800) Command Data Set Type (0x0101: no data set follows).
    pub data_set_type: Option<u16>,
    /// (0000,0900) Status.
    pub status: Option<u16>,
}

impl Command<'_> {
    /// The SOP class the command is about (affected, else requested).
    pub fn sop_class(&self) -> Option<&[u8]> {
        self.affected_sop_class.or(self.requested_sop_class)
    }

    /// A data set follows the command.
    pub fn has_data_set(&self) -> bool {
        self.data_set_type.is_some_and(|t| t != 0x0101)
    }
}

/// Why a command set could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// An element header or value runs past the end.
    Truncated {
        /// Offset of the element.
        offset: usize,
    },
    /// An element outside group 0000.
    NotCommandGroup {
        /// Offset of the element.
        offset: usize,
    },
    /// No Command Field element.
    NoCommandField,
}

/// Parses a complete command set.
pub fn parse(b: &[u8]) -> Result<Command<'_>, CommandError> {
    let mut c = Command::default();
    let mut pos = 0;
    while pos < b.len() {
        let Some(h) = b.get(pos..pos + 8) else {
            return Err(CommandError::Truncated { offset: pos });
        };
        let group = u16::from_le_bytes([h[0], h[1]]);
        let element = u16::from_le_bytes([h[2], h[3]]);
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        if group != 0 {
            return Err(CommandError::NotCommandGroup { offset: pos });
        }
        let Some(v) = b.get(pos + 8..(pos + 8).saturating_add(len)) else {
            return Err(CommandError::Truncated { offset: pos });
        };
        let us = || (v.len() >= 2).then(|| u16::from_le_bytes([v[0], v[1]]));
        match element {
            0x0002 => c.affected_sop_class = Some(trim(v)),
            0x0003 => c.requested_sop_class = Some(trim(v)),
            0x0100 => c.command_field = us(),
            0x0110 => c.message_id = us(),
            0x0120 => c.responded_to = us(),
            0x0600 => c.move_destination = Some(trim(v)),
            0x1030 => c.move_originator = Some(trim(v)),
            0x0700 => c.priority = us(),
            0x0800 => c.data_set_type = us(),
            0x0900 => c.status = us(),
            _ => {}
        }
        pos += 8 + len;
    }
    if c.command_field.is_none() {
        return Err(CommandError::NoCommandField);
    }
    Ok(c)
}

/// Name of a command field, e.g. "C-STORE-RQ"; "unknown" otherwise.
pub fn command_name(field: u16) -> &'static str {
    match field {
        0x0001 => "C-STORE-RQ",
        0x8001 => "C-STORE-RSP",
        0x0010 => "C-GET-RQ",
        0x8010 => "C-GET-RSP",
        0x0020 => "C-FIND-RQ",
        0x8020 => "C-FIND-RSP",
        0x0021 => "C-MOVE-RQ",
        0x8021 => "C-MOVE-RSP",
        0x0030 => "C-ECHO-RQ",
        0x8030 => "C-ECHO-RSP",
        0x0100 => "N-EVENT-REPORT-RQ",
        0x8100 => "N-EVENT-REPORT-RSP",
        0x0110 => "N-GET-RQ",
        0x8110 => "N-GET-RSP",
        0x0120 => "N-SET-RQ",
        0x8120 => "N-SET-RSP",
        0x0130 => "N-ACTION-RQ",
        0x8130 => "N-ACTION-RSP",
        0x0140 => "N-CREATE-RQ",
        0x8140 => "N-CREATE-RSP",
        0x0150 => "N-DELETE-RQ",
        0x8150 => "N-DELETE-RSP",
        0x0FFF => "C-CANCEL-RQ",
        _ => "unknown",
    }
}

/// The operation a command belongs to, without -RQ/-RSP ("C-STORE").
pub fn operation_name(field: u16) -> &'static str {
    let n = command_name(field);
    n.strip_suffix("-RQ")
        .or_else(|| n.strip_suffix("-RSP"))
        .unwrap_or(n)
}

/// True for responses (bit 15 of the command field).
pub fn is_response(field: u16) -> bool {
    field & 0x8000 != 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes one implicit-VR-LE element of group 0000.
    pub fn element(out: &mut Vec<u8>, el: u16, value: &[u8]) {
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&el.to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }

    /// A C-STORE-RQ command set for CT Image Storage, message id 7.
    pub fn c_store_rq() -> Vec<u8> {
        let mut b = Vec::new();
        element(&mut b, 0x0000, &0u32.to_le_bytes()); // group length (value not checked)
        element(&mut b, 0x0002, b"1.2.840.10008.5.1.4.1.1.2\0"); // Affected SOP Class, NUL-padded
        element(&mut b, 0x0100, &0x0001u16.to_le_bytes()); // C-STORE-RQ
        element(&mut b, 0x0110, &7u16.to_le_bytes()); // Message ID
        element(&mut b, 0x0700, &0u16.to_le_bytes()); // Priority medium
        element(&mut b, 0x0800, &0x0000u16.to_le_bytes()); // data set present
        element(&mut b, 0x1000, b"1.2.3.4.5.6\0"); // Affected SOP Instance UID (skipped)
        b
    }

    #[test]
    fn c_store_rq_fields() {
        let b = c_store_rq();
        let c = parse(&b).unwrap();
        assert_eq!(c.command_field, Some(1));
        assert_eq!(c.message_id, Some(7));
        assert_eq!(c.sop_class(), Some(&b"1.2.840.10008.5.1.4.1.1.2"[..]));
        assert!(c.has_data_set());
        assert_eq!(command_name(1), "C-STORE-RQ");
        assert_eq!(operation_name(0x8001), "C-STORE");
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_valid_set() {
        let b = c_store_rq();
        for cut in 0..b.len() {
            // Never panics; a cut inside an element is Truncated.
            let _ = parse(&b[..cut]);
        }
        assert!(matches!(
            parse(&b[..b.len() - 3]),
            Err(CommandError::Truncated { .. })
        ));
    }

    #[test]
    fn lying_length_and_wrong_group_are_errors() {
        let mut b = Vec::new();
        element(&mut b, 0x0100, &0x0030u16.to_le_bytes());
        b.extend_from_slice(&[0, 0, 0x10, 0x01, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(parse(&b), Err(CommandError::Truncated { .. })));
        let mut g = vec![0x08, 0x00, 0x10, 0x00, 2, 0, 0, 0, b'x', b'y'];
        assert_eq!(parse(&g), Err(CommandError::NotCommandGroup { offset: 0 }));
        g.clear();
        assert_eq!(parse(&g), Err(CommandError::NoCommandField));
    }
}
