//! Which application protocol a TCP flow speaks, decided from the client's
//! first bytes on any port. Ports are hints only, except for the TLS ports
//! of protocols whose content cannot be read (DICOM TLS 2761/2762, MQTT
//! TLS 8883). Each protocol adds its probe to `PROBES`.

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

/// MQTT's own port (a hint: on it, a session need not start with CONNECT).
const MQTT_PORT: u16 = 1883;

/// Whether `first` starts with a well-formed MQTT fixed header: a packet
/// type 1..15 with the flags MQTT requires for it, and a remaining length
/// of at most four bytes. `None` while the length is incomplete.
fn mqtt_fixed_header(first: &[u8]) -> Option<bool> {
    let (&b, rest) = first.split_first()?;
    let flags_ok = match b >> 4 {
        0 => false,
        3 => (b >> 1) & 3 != 3, // PUBLISH: any flags but QoS 3
        6 | 8 | 10 => b & 0x0f == 0x02,
        _ => b & 0x0f == 0,
    };
    if !flags_ok {
        return Some(false);
    }
    match rest.iter().take(4).position(|&l| l & 0x80 == 0) {
        Some(_) => Some(true),
        None if rest.len() >= 4 => Some(false),
        None => None,
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
    // On MQTT's port a session may be picked up mid-way (or a client may
    // skip CONNECT, which the parser flags): a well-formed packet will do.
    if dest_port == MQTT_PORT {
        match mqtt_fixed_header(first) {
            Some(true) if !need_more => return Verdict::Match(AppProto::Mqtt),
            None => need_more = true,
            _ => {}
        }
    }
    if need_more && first.len() < MAX_PROBE_LEN {
        Verdict::NeedMore
    } else {
        Verdict::NoMatch
    }
}

/// Probes a flow whose server spoke first. Only MQTT on its port is
/// recognised this way: a CONNACK opening the capture means the CONNECT was
/// missed (or never sent). Any other server bytes leave the flow undecided
/// there (`NeedMore`): its client may still show MQTT.
pub fn probe_server(first: &[u8], server_port: u16) -> Verdict {
    if server_port != MQTT_PORT {
        return Verdict::NoMatch;
    }
    match first {
        [0x20, len, ..] if len & 0x80 == 0 => Verdict::Match(AppProto::Mqtt),
        _ => Verdict::NeedMore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dicom_is_found_on_any_port_and_tls_on_its_ports() {
        let mut rq = vec![0x01, 0x00, 0, 0, 0, 93, 0x00, 0x01, 0, 0]; // PDU header, version 1
        rq.extend_from_slice(b"PACS            "); // called AE
        rq.extend_from_slice(b"CT01            "); // calling AE
        rq.extend_from_slice(&[0; 32]); // reserved
        rq.extend_from_slice(b"\x10\x00\x00\x15"); // application context item, 21 bytes
        rq.extend_from_slice(b"1.2.840.10008.3.1.1.1");
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
        // Issue 8 item 5: one ESC in an AE title hid the association.
        let mut bad_ae = rq.clone();
        bad_ae[12] = 0x1b; // ESC in the called AE
        bad_ae[28] = 0xff; // a high byte in the calling AE
        assert_eq!(probe_client(&bad_ae, 104), Verdict::Match(AppProto::Dicom));
    }

    #[test]
    fn mqtt_port_is_a_hint_for_sessions_without_connect() {
        let connect = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04ab12";
        assert_eq!(probe_client(connect, 17501), Verdict::Match(AppProto::Mqtt));
        let publish = b"\x30\x07\x00\x03a/bxy";
        assert_eq!(probe_client(publish, 1883), Verdict::Match(AppProto::Mqtt));
        assert_eq!(probe_client(publish, 1884), Verdict::NoMatch);
        let subscribe = b"\x82\x08\x00\x01\x00\x03a/b\x00";
        assert_eq!(
            probe_client(subscribe, 1883),
            Verdict::Match(AppProto::Mqtt)
        );
        assert_eq!(
            probe_client(b"\x80\x08", 1883),
            Verdict::NoMatch,
            "SUBSCRIBE flags"
        );
        assert_eq!(probe_client(b"\x36\x01", 1883), Verdict::NoMatch, "QoS 3");
        assert_eq!(
            probe_client(b"\x00\x00", 1883),
            Verdict::NoMatch,
            "reserved type"
        );
        assert_eq!(probe_client(b"GET / HTTP/1.1", 1883), Verdict::NoMatch);
        assert_eq!(
            probe_client(b"\xc0\xff\xff\xff\xff", 1883),
            Verdict::NoMatch
        );
        let connack = b"\x20\x02\x00\x00";
        assert_eq!(probe_server(connack, 1883), Verdict::Match(AppProto::Mqtt));
        assert_eq!(probe_server(connack, 80), Verdict::NoMatch);
        assert_eq!(probe_server(b"\x20", 1883), Verdict::NeedMore);
        assert_eq!(probe_server(b"\x32\x00\x00", 1883), Verdict::NeedMore);
    }

    #[test]
    fn hl7_is_found_on_any_port() {
        let m = b"\x0bMSH|^~\\&|LAB|X|||2024||ORU^R01|1|P|2.3\r\x1c\x0d";
        assert_eq!(probe_client(m, 6661), Verdict::Match(AppProto::Hl7));
        assert_eq!(probe_client(&m[..3], 2575), Verdict::NeedMore);
        assert_eq!(probe_client(b"\x0bHELLO", 2575), Verdict::NoMatch);
    }
}
