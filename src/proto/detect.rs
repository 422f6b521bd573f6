//! Which application protocol a TCP flow speaks, decided from the first
//! bytes of the side that speaks first, on any port. Ports are hints only,
//! except for the TLS ports of protocols whose content cannot be read
//! (DICOM TLS 2761/2762, MQTT TLS 8883): TLS there is that protocol, TLS
//! anywhere else is `Tls` (or AnyDesk, by its ALPN). Each protocol adds its
//! probe to `CLIENT_PROBES` and, when its server may speak first, to
//! `SERVER_PROBES`.
//!
//! Every probe's first byte differs from every other's (DICOM 0x01, HL7
//! 0x0B, MQTT 0x10, TLS 0x16, TeamViewer 0x17/0x11, RDP 0x03, SSH 'S', VNC
//! 'R', Telnet 0xFF), so at most one probe can ever match a flow: the order
//! of the lists does not change a verdict, and a match on a prefix stays
//! the same match on a longer input.

use super::{dicom, hl7, mqtt, remote, AppProto};

/// A content probe: `Some(true)` match, `Some(false)` no match, `None` need more.
type Probe = fn(&[u8]) -> Option<bool>;

/// Every protocol's probe of the client's first bytes.
const CLIENT_PROBES: [(AppProto, Probe); 10] = [
    (AppProto::Dicom, dicom::probe),
    (AppProto::Hl7, hl7::probe),
    (AppProto::Mqtt, mqtt::probe),
    (AppProto::Ssh, remote::ssh),
    (AppProto::Rdp, remote::rdp),
    (AppProto::Vnc, remote::vnc),
    (AppProto::Telnet, remote::telnet),
    (AppProto::TeamViewer, remote::teamviewer),
    (AppProto::AnyDesk, remote::anydesk),
    (AppProto::Tls, remote::tls),
];

/// The probes of a server's first bytes, for protocols whose server may
/// speak first (see `remote`).
const SERVER_PROBES: [(AppProto, Probe); 4] = [
    (AppProto::Ssh, remote::ssh),
    (AppProto::Vnc, remote::vnc),
    (AppProto::Telnet, remote::telnet),
    (AppProto::TeamViewer, remote::teamviewer),
];

/// Outcome of probing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The flow speaks this protocol.
    Match(AppProto),
    /// No probe matches: stop looking (at this side).
    NoMatch,
    /// Some probe needs more bytes.
    NeedMore,
}

/// Most bytes any probe needs, either side (the probe buffer's size).
pub const MAX_PROBE_LEN: usize = max(
    remote::PROBE_LEN,
    max(dicom::PROBE_LEN, max(hl7::PROBE_LEN, mqtt::PROBE_LEN)),
);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Runs `probes` over `first`: the first match, else whether any needs more.
fn run(probes: &[(AppProto, Probe)], first: &[u8]) -> Result<AppProto, bool> {
    let mut need_more = false;
    for (proto, probe) in probes {
        match probe(first) {
            Some(true) => return Ok(*proto),
            Some(false) => {}
            None => need_more = true,
        }
    }
    Err(need_more)
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

/// A TLS handshake record (0x16 0x03 ..): on the DICOM-TLS and MQTT-TLS
/// ports this is enough (kept as loose as before generic TLS was added).
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
    let mut need_more = match run(&CLIENT_PROBES, first) {
        Ok(proto) => return Verdict::Match(proto),
        Err(need_more) => need_more,
    };
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

/// Probes the first server bytes (in stream order) of a flow whose server
/// spoke first: SSH, VNC, Telnet and TeamViewer on any port, and MQTT on
/// its port (a CONNACK opening the capture means the CONNECT was missed, or
/// never sent). `NoMatch` says only that the server's bytes tell nothing:
/// the client's first bytes are still probed (`probe_client`).
pub fn probe_server(first: &[u8], server_port: u16) -> Verdict {
    if server_port == MQTT_PORT {
        match first {
            [0x20, len, ..] if len & 0x80 == 0 => return Verdict::Match(AppProto::Mqtt),
            [0x20] => return Verdict::NeedMore,
            _ => {}
        }
    }
    match run(&SERVER_PROBES, first) {
        Ok(proto) => Verdict::Match(proto),
        Err(true) if first.len() < MAX_PROBE_LEN => Verdict::NeedMore,
        Err(_) => Verdict::NoMatch,
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
        // Was NoMatch before generic TLS: 3 bytes of a TLS record are now
        // too few to tell (a whole ClientHello on 443 is `Tls`).
        assert_eq!(probe_client(&[0x16, 0x03, 0x01], 443), Verdict::NeedMore);
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
        // Was NeedMore: "nothing to tell from the server" is NoMatch now,
        // and the application layer still probes the client's bytes
        // (`Slot::AwaitClient`).
        assert_eq!(probe_server(b"\x32\x00\x00", 1883), Verdict::NoMatch);
    }

    #[test]
    fn hl7_is_found_on_any_port() {
        let m = b"\x0bMSH|^~\\&|LAB|X|||2024||ORU^R01|1|P|2.3\r\x1c\x0d";
        assert_eq!(probe_client(m, 6661), Verdict::Match(AppProto::Hl7));
        assert_eq!(probe_client(&m[..3], 2575), Verdict::NeedMore);
        assert_eq!(probe_client(b"\x0bHELLO", 2575), Verdict::NoMatch);
    }

    /// A ClientHello with the given ALPN protocol (SNI-less, like AnyDesk's).
    fn hello(alpn: &str) -> Vec<u8> {
        let mut ext = vec![0, 16]; // ALPN
        ext.extend_from_slice(&((alpn.len() + 3) as u16).to_be_bytes());
        ext.extend_from_slice(&((alpn.len() + 1) as u16).to_be_bytes());
        ext.push(alpn.len() as u8);
        ext.extend_from_slice(alpn.as_bytes());
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]); // random
        body.push(0); // no session id
        body.extend_from_slice(&[0, 2, 0xc0, 0x2f, 1, 0]); // 1 suite, null compression
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut v = vec![0x16, 3, 1];
        v.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        v.push(1); // client_hello
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend(body);
        v
    }

    #[test]
    fn tls_is_labelled_on_any_port_and_keeps_its_port_meaning() {
        let h2 = hello("h2");
        let any = hello("anydesk/6.2.0/linux");
        for port in [443, 9443, 104, 1883, 22, 5938] {
            assert_eq!(probe_client(&h2, port), Verdict::Match(AppProto::Tls));
            assert_eq!(probe_client(&any, port), Verdict::Match(AppProto::AnyDesk));
        }
        // On the DICOM-TLS and MQTT-TLS ports, TLS is that protocol, AnyDesk's
        // hello included (the port is the stronger statement there).
        for (port, proto) in [
            (2761, AppProto::DicomTls),
            (2762, AppProto::DicomTls),
            (8883, AppProto::MqttTls),
        ] {
            assert_eq!(probe_client(&h2, port), Verdict::Match(proto));
            assert_eq!(probe_client(&any, port), Verdict::Match(proto));
        }
        // Every split of the hello: undecided, then the one answer.
        for n in 0..any.len() {
            let v = probe_client(&any[..n], 443);
            assert!(
                v == Verdict::NeedMore || v == Verdict::Match(AppProto::AnyDesk),
                "{n}: {v:?}"
            );
        }
    }

    #[test]
    fn remote_access_from_either_side_on_any_port() {
        let ssh = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
        for port in [22, 2222, 443, 104] {
            assert_eq!(probe_client(ssh, port), Verdict::Match(AppProto::Ssh));
            assert_eq!(probe_server(ssh, port), Verdict::Match(AppProto::Ssh));
        }
        let rfb = b"RFB 003.008\n";
        assert_eq!(probe_server(rfb, 5900), Verdict::Match(AppProto::Vnc));
        assert_eq!(probe_server(rfb, 80), Verdict::Match(AppProto::Vnc));
        assert_eq!(probe_server(&rfb[..5], 5901), Verdict::NeedMore);
        let iac = [255, 253, 1, 255, 253, 31];
        assert_eq!(probe_server(&iac, 2323), Verdict::Match(AppProto::Telnet));
        assert_eq!(probe_client(&iac, 23), Verdict::Match(AppProto::Telnet));
        let tv = [0x17, 0x24, 10, 0, 0];
        assert_eq!(
            probe_client(&tv, 5938),
            Verdict::Match(AppProto::TeamViewer)
        );
        assert_eq!(
            probe_server(&tv, 5938),
            Verdict::Match(AppProto::TeamViewer)
        );
        let cr = b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00";
        assert_eq!(probe_client(cr, 3389), Verdict::Match(AppProto::Rdp));
        assert_eq!(probe_client(cr, 13389), Verdict::Match(AppProto::Rdp));
        // Only the client opens RDP and TLS.
        assert_eq!(probe_server(cr, 3389), Verdict::NoMatch);
        assert_eq!(probe_server(&hello("h2"), 443), Verdict::NoMatch);
        // A server banner that tells nothing.
        assert_eq!(probe_server(b"220 smtp ESMTP\r\n", 25), Verdict::NoMatch);
        assert_eq!(probe_server(b"S", 25), Verdict::NeedMore);
    }

    #[test]
    fn old_protocols_are_found_as_before() {
        // The MQTT port hint is not taken by any new probe's first bytes.
        let m = b"\x0bMSH|^~\\&|LAB|X|||2024||ORU^R01|1|P|2.3\r\x1c\x0d";
        assert_eq!(probe_client(m, 22), Verdict::Match(AppProto::Hl7));
        assert_eq!(probe_client(b"GET / HTTP/1.1\r\n", 22), Verdict::NoMatch);
        assert_eq!(probe_client(b"GET / HTTP/1.1\r\n", 3389), Verdict::NoMatch);
        // Nothing is left undecided past the probe buffer.
        let long = [0x16, 3, 1, 0x40, 0];
        let mut v = long.to_vec();
        v.extend(std::iter::repeat_n(0u8, MAX_PROBE_LEN));
        assert_ne!(probe_client(&v, 443), Verdict::NeedMore);
        assert_ne!(probe_server(&[b'S'; MAX_PROBE_LEN], 22), Verdict::NeedMore);
    }

    use proptest::prelude::*;

    /// First bytes that start like one of the protocols, then anything.
    fn first_bytes() -> impl Strategy<Value = Vec<u8>> {
        let heads: Vec<Vec<u8>> = vec![
            vec![],
            b"SSH-2.0-".to_vec(),
            b"RFB 003.00".to_vec(),
            vec![255, 253],
            vec![0x17, 0x24],
            vec![0x11, 0x30],
            vec![3, 0, 0, 0x13, 0x0e, 0xe0],
            hello("anydesk/6.2.0/linux")[..20].to_vec(),
            vec![0x16, 3],
            vec![0x10],
            vec![0x20],
            vec![0x30],
            vec![0x0b, b'M'],
            vec![0x01, 0x00],
        ];
        (
            proptest::sample::select(heads),
            proptest::collection::vec(any::<u8>(), 0..600),
        )
            .prop_map(|(mut h, t)| {
                h.extend(t);
                h
            })
    }

    proptest! {
        #[test]
        fn a_verdict_on_a_prefix_holds_on_the_whole(
            b in first_bytes(),
            cut in 0usize..700,
            port in prop_oneof![
                Just(22u16), Just(443), Just(1883), Just(2762), Just(8883), Just(104), any::<u16>()
            ],
        ) {
            let cut = cut.min(b.len());
            for probe in [probe_client, probe_server] {
                let short = probe(&b[..cut], port);
                let long = probe(&b, port);
                if short != Verdict::NeedMore {
                    prop_assert_eq!(short, long);
                }
                if b.len() >= MAX_PROBE_LEN {
                    prop_assert_ne!(long, Verdict::NeedMore);
                }
            }
        }
    }
}
