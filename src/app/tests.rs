//! Detection through the application layer: which side spoke first, first
//! segments split anywhere, and what happens to a labelled-only flow.

use super::*;
use crate::decode::tcp_flags::{ACK, PSH};
use std::net::Ipv4Addr;

/// One flow (slot 0) to `port`, client and server sequence numbers kept.
struct Flow {
    app: AppLayer,
    port: u16,
    seq: [u32; 2],
    events: usize,
}

impl Flow {
    fn new(port: u16) -> Flow {
        Flow {
            app: AppLayer::new(4, 1 << 20),
            port,
            seq: [1000, 90_000],
            events: 0,
        }
    }

    /// Sends `payload` from the client (`to_server`) or the server; returns
    /// what this segment identified.
    fn send(&mut self, to_server: bool, payload: &[u8]) -> Option<AppProto> {
        let d = dir(to_server);
        let s = Segment {
            slot: 0,
            flow_id: 1,
            to_server,
            server_port: self.port,
            client_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            seq: self.seq[d],
            flags: ACK | PSH,
            payload,
            ts: 0,
        };
        self.seq[d] = self.seq[d].wrapping_add(payload.len() as u32);
        let mut n = 0;
        let got = self.app.tcp(&s, &mut EventsOnly(|_| n += 1));
        self.events += n;
        got
    }

    fn is_done(&mut self) -> bool {
        let slot = self.app.slots.take(0);
        let done = matches!(slot, Slot::Done);
        self.app.slots.put(0, slot);
        done
    }
}

const SSH_SERVER: &[u8] = b"SSH-2.0-dropbear_2022.83\r\n";
const SSH_CLIENT: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

#[test]
fn a_server_banner_split_anywhere_is_recognised() {
    for cut in 1..SSH_SERVER.len() {
        let mut f = Flow::new(2222);
        // "SSH-2.0-" (8 bytes) decides.
        if cut >= 8 {
            assert_eq!(f.send(false, &SSH_SERVER[..cut]), Some(AppProto::Ssh));
        } else {
            assert_eq!(f.send(false, &SSH_SERVER[..cut]), None, "cut {cut}");
            assert_eq!(f.send(false, &SSH_SERVER[cut..]), Some(AppProto::Ssh));
        }
        // Labelled only: nothing is parsed, nothing more is reported.
        assert!(f.is_done());
        assert_eq!(f.send(true, SSH_CLIENT), None);
        assert_eq!(f.send(false, b"\x00\x00\x01\x14\x0a\x14"), None);
        assert_eq!(f.events, 0);
    }
}

#[test]
fn a_server_that_tells_nothing_leaves_the_client_to_decide() {
    let mut f = Flow::new(2222);
    assert_eq!(f.send(false, b"Welcome to the NAS\r\n"), None);
    assert!(!f.is_done());
    assert_eq!(f.send(false, b"more text\r\n"), None);
    assert_eq!(f.send(true, SSH_CLIENT), Some(AppProto::Ssh));
    assert!(f.is_done());
    // An SMTP-like exchange stays unlabelled.
    let mut f = Flow::new(25);
    assert_eq!(f.send(false, b"220 mail ESMTP\r\n"), None);
    assert_eq!(f.send(true, b"EHLO x\r\n"), None);
    assert!(f.is_done());
}

#[test]
fn an_undecided_server_prefix_gives_way_to_the_client() {
    // The server's "S" could still become "SSH-"; the client's A-ASSOCIATE-RQ
    // decides, and is parsed from its first byte.
    let mut rq = vec![0x01, 0x00, 0, 0, 0, 93, 0x00, 0x01, 0, 0];
    rq.extend_from_slice(b"PACS            CT01            ");
    rq.extend_from_slice(&[0; 32]);
    rq.extend_from_slice(b"\x10\x00\x00\x15");
    rq.extend_from_slice(b"1.2.840.10008.3.1.1.1");
    let mut f = Flow::new(104);
    assert_eq!(f.send(false, b"S"), None);
    assert_eq!(f.send(true, &rq[..5]), None);
    assert_eq!(f.send(true, &rq[5..]), Some(AppProto::Dicom));
    assert!(!f.is_done(), "DICOM is parsed");
}

#[test]
fn mqtt_after_a_broker_packet_is_still_found() {
    // As before: a broker's PUBLISH opening the capture on 1883 does not
    // stop the client's CONNECT from being recognised.
    let mut f = Flow::new(1883);
    assert_eq!(f.send(false, b"\x32\x00\x00"), None);
    let connect = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04ab12";
    assert_eq!(f.send(true, connect), Some(AppProto::Mqtt));
}

#[test]
fn a_client_hello_in_small_segments_is_held_until_it_tells() {
    // RDP's Connection Request, then a TLS ClientHello, one byte at a time.
    let cr = b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00";
    let mut f = Flow::new(3390);
    for (i, b) in cr.iter().enumerate() {
        // The RDP_NEG_REQ's length field (bytes 13 and 14) decides.
        let want = (i == 14).then_some(AppProto::Rdp);
        assert_eq!(f.send(true, std::slice::from_ref(b)), want, "byte {i}");
    }
    assert!(f.is_done());
    assert_eq!(f.events, 0);
}

#[test]
fn a_client_hello_split_in_two_is_recognised() {
    // A TLS ClientHello cut after every byte: the probe buffer holds the
    // first part, the second part decides.
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0xc0, 0x2f, 1, 0, 0, 0]); // no extensions
    let mut ch = vec![
        0x16,
        3,
        1,
        0,
        (body.len() + 4) as u8,
        1,
        0,
        0,
        body.len() as u8,
    ];
    ch.extend(body);
    for cut in 1..ch.len() {
        let mut f = Flow::new(9443);
        assert_eq!(f.send(true, &ch[..cut]), None, "cut {cut}");
        assert_eq!(f.send(true, &ch[cut..]), Some(AppProto::Tls), "cut {cut}");
    }
}

#[test]
fn rfb_and_telnet_servers_speak_first() {
    let mut f = Flow::new(5901);
    assert_eq!(f.send(false, b"RFB 003.008\n"), Some(AppProto::Vnc));
    let mut f = Flow::new(2323);
    assert_eq!(
        f.send(false, &[255, 253, 1, 255, 253, 31]),
        Some(AppProto::Telnet)
    );
}
