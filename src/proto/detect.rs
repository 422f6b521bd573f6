//! Which application protocol a TCP flow speaks, decided from the client's
//! first bytes on any port. Ports are hints only, except for the TLS ports
//! of protocols whose content cannot be read (DICOM TLS 2761/2762, MQTT
//! TLS 8883). Each protocol adds its probe to [`PROBES`].

use super::{dicom, hl7, mqtt, AppProto};

/// A content probe: `Some(true)` match, `Some(false)` no match, `None` need more.
type Probe = fn(&[u8]) -> Option<bool>;

/// Every protocol's probe.
const PROBES: [(AppProto, Probe); 3] = [
    (AppProto::Dicom, dicom::probe),
    (AppProto::Hl7, hl7::probe),
    (AppProto::Mqtt, mqtt::probe),
];

/// Outcome of probing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The flow speaks this protocol.
    Match(AppProto),
    /// No probe matches: stop looking.
    NoMatch,
    /// Some probe needs more bytes.
    NeedMore,
}

/// Most client bytes any probe needs (the probe buffer's size).
pub const MAX_PROBE_LEN: usize = max(dicom::PROBE_LEN, max(hl7::PROBE_LEN, mqtt::PROBE_LEN));

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// A TLS handshake record (0x16 0x03 ..).
fn is_tls(first: &[u8]) -> bool {
    first.len() >= 2 && first[0] == 0x16 && first[1] == 0x03
}

/// Probes the first client bytes (in stream order) of a flow to `dest_port`.
pub fn probe_client(first: &[u8], dest_port: u16) -> Verdict {
    match dest_port {
        2761 | 2762 if is_tls(first) => return Verdict::Match(AppProto::DicomTls),
        8883 if is_tls(first) => return Verdict::Match(AppProto::MqttTls),
        _ => {}
    }
    let mut need_more = false;
    for (proto, probe) in PROBES {
        match probe(first) {
            Some(true) => return Verdict::Match(proto),
            Some(false) => {}
            None => need_more = true,
        }
    }
    if need_more && first.len() < MAX_PROBE_LEN {
        Verdict::NeedMore
    } else {
        Verdict::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dicom_is_found_on_any_port_and_tls_on_its_ports() {
        let mut rq = vec![0x01, 0x00, 0, 0, 0x01, 0x00, 0x00, 0x01, 0, 0];
        rq.extend_from_slice(b"PACS            ");
        rq.extend_from_slice(b"CT01            ");
        assert_eq!(probe_client(&rq, 4711), Verdict::Match(AppProto::Dicom));
        assert_eq!(probe_client(&rq[..20], 104), Verdict::NeedMore);
        assert_eq!(probe_client(b"GET / HTTP/1.1\r\n", 104), Verdict::NoMatch);
        assert_eq!(
            probe_client(&[0x16, 0x03, 0x01], 2762),
            Verdict::Match(AppProto::DicomTls)
        );
        assert_eq!(probe_client(&[0x16, 0x03, 0x01], 443), Verdict::NoMatch);
        assert_eq!(
            probe_client(&[0x16, 0x03, 0x01], 8883),
            Verdict::Match(AppProto::MqttTls)
        );
        let mut bad_ae = rq.clone();
        bad_ae[12] = 0x1b; // ESC in the called AE
        assert_eq!(probe_client(&bad_ae, 104), Verdict::NoMatch);
    }

    #[test]
    fn hl7_is_found_on_any_port() {
        let m = b"\x0bMSH|^~\\&|LAB|X|||2024||ORU^R01|1|P|2.3\r\x1c\x0d";
        assert_eq!(probe_client(m, 6661), Verdict::Match(AppProto::Hl7));
        assert_eq!(probe_client(&m[..3], 2575), Verdict::NeedMore);
        assert_eq!(probe_client(b"\x0bHELLO", 2575), Verdict::NoMatch);
    }
}
