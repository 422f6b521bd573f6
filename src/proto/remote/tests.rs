//! The remote-access and TLS probes over real first bytes built field by
//! field, at every split point, against each other's and other protocols'
//! first bytes, and as arbitrary bytes.

use super::*;
use crate::kinds::AppProto;
use proptest::prelude::*;

type P = fn(&[u8]) -> Option<bool>;

/// Every probe here, by name.
const ALL: [(&str, P); 7] = [
    ("ssh", ssh),
    ("vnc", vnc),
    ("telnet", telnet),
    ("teamviewer", teamviewer),
    ("rdp", rdp),
    ("tls", tls),
    ("anydesk", anydesk),
];

/// Feeds every prefix of `b` to `probe`: `None` below some length `k`, the
/// whole input's verdict from `k` on (the verdict does not depend on where
/// TCP splits the bytes). Returns (`k`, verdict).
fn split_points(probe: P, b: &[u8]) -> (usize, Option<bool>) {
    let full = probe(b);
    let k = (0..=b.len())
        .find(|&n| probe(&b[..n]).is_some())
        .unwrap_or(b.len() + 1);
    for n in 0..=b.len() {
        let want = if n < k { None } else { full };
        assert_eq!(probe(&b[..n]), want, "prefix of {n} of {} bytes", b.len());
    }
    (k, full)
}

/// `b` matches `probe` once `k` bytes are in, and no other probe here.
fn only(name: &str, b: &[u8], k: usize) {
    for (other, probe) in ALL {
        let (at, verdict) = split_points(probe, b);
        if other == name {
            assert_eq!((at, verdict), (k, Some(true)), "{name}");
        } else {
            assert_eq!(verdict, Some(false), "{other} took {name}'s bytes");
        }
    }
}

// --- SSH (RFC 4253 4.2) ------------------------------------------------------

#[test]
fn ssh_identification_strings_of_real_software() {
    only("ssh", b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", 8);
    only("ssh", b"SSH-2.0-dropbear_2022.83\r\n", 8);
    // Compatibility version (RFC 4253 5.1): one more digit.
    only("ssh", b"SSH-1.99-Cisco-1.25\r\n", 9);
    only("ssh", b"SSH-1.5-OldServer\r\n", 8);
}

#[test]
fn ssh_needs_the_version_shape() {
    assert_eq!(ssh(b"SSH-2.0"), None);
    assert_eq!(ssh(b"SSH-2.0 OpenSSH"), Some(false), "space, not dash");
    assert_eq!(ssh(b"SSH-20-x"), Some(false));
    assert_eq!(ssh(b"SSH-1.999-x"), Some(false), "three minor digits");
    assert_eq!(ssh(b"SSH-x.0-"), Some(false));
    assert_eq!(ssh(b"ssh-2.0-lower"), Some(false));
    assert_eq!(ssh(b"SSH2.0-"), Some(false));
    // A banner line before the identification string (allowed to servers,
    // RFC 4253 4.2) is not taken: the documented limit.
    assert_eq!(ssh(b"Welcome\r\nSSH-2.0-x\r\n"), Some(false));
}

// --- RFB (RFC 6143 7.1.1) ----------------------------------------------------

#[test]
fn rfb_protocol_versions() {
    only("vnc", b"RFB 003.008\n", 12);
    only("vnc", b"RFB 003.003\n", 12);
    only("vnc", b"RFB 003.889\n", 12); // Apple Remote Desktop
                                       // The server's version followed at once by nothing else is the rule; a
                                       // longer input (the client's security type) does not change it.
    assert_eq!(vnc(b"RFB 003.008\n\x01\x02"), Some(true));
}

#[test]
fn rfb_needs_exact_format() {
    assert_eq!(vnc(b"RFB 003.008\r"), Some(false));
    assert_eq!(vnc(b"RFB 3.8\n"), Some(false));
    assert_eq!(vnc(b"RFB 003,008\n"), Some(false));
    assert_eq!(vnc(b"RFB 0a3.008\n"), Some(false));
    assert_eq!(vnc(b"RFC 003.008\n"), Some(false));
    assert_eq!(vnc(b"RFB 003.00"), None);
}

// --- Telnet (RFC 854, 855) ---------------------------------------------------

#[test]
fn telnet_negotiation_from_either_side() {
    // busybox telnetd opens with IAC DO ECHO, IAC DO NAWS, IAC WILL ECHO,
    // IAC WILL SGA.
    only(
        "telnet",
        &[255, 253, 1, 255, 253, 31, 255, 251, 1, 255, 251, 3],
        3,
    );
    // inetutils telnetd: IAC DO TERMINAL-TYPE (24).
    only("telnet", &[255, 253, 24], 3);
    // A client: IAC WILL NAWS, IAC WONT LINEMODE (34), IAC DONT ECHO.
    only("telnet", &[255, 251, 31, 255, 252, 34, 255, 254, 1], 3);
    only("telnet", &[255, 251, 255], 3); // EXOPL (RFC 861)
}

#[test]
fn telnet_needs_a_negotiation_command_and_a_registered_option() {
    assert_eq!(telnet(&[255, 250, 24]), Some(false), "SB first");
    assert_eq!(telnet(&[255, 255, 1]), Some(false), "escaped 0xFF data");
    assert_eq!(telnet(&[255, 244]), Some(false), "IP, not a negotiation");
    assert_eq!(telnet(&[255, 253, 50]), Some(false), "unassigned option");
    assert_eq!(telnet(&[255, 253, 137]), Some(false), "unassigned option");
    assert_eq!(telnet(&[255, 253, 138]), Some(true));
    assert_eq!(telnet(&[255, 253]), None);
    assert_eq!(telnet(b"login: "), Some(false), "a bare prompt: the limit");
}

// --- TeamViewer --------------------------------------------------------------

#[test]
fn teamviewer_headers() {
    // Protocol 2 magic, CMD_IDENTIFY (10), then a body.
    only(
        "teamviewer",
        &[0x17, 0x24, 10, 0x4e, 0x00, 0x00, 0x00, 0x01],
        3,
    );
    // Protocol 1 magic, CMD_PING (16).
    only("teamviewer", &[0x11, 0x30, 16, 0, 0, 0, 0], 3);
    only("teamviewer", &[0x17, 0x24, 113], 3); // CMD_FLUSHSENDBUFFER
}

#[test]
fn teamviewer_needs_magic_and_a_known_command() {
    assert_eq!(teamviewer(&[0x17, 0x24, 0]), Some(false));
    assert_eq!(teamviewer(&[0x17, 0x24, 12]), Some(false), "no command 12");
    assert_eq!(teamviewer(&[0x17, 0x24, 114]), Some(false));
    assert_eq!(teamviewer(&[0x17, 0x30, 10]), Some(false), "mixed magic");
    assert_eq!(teamviewer(&[0x11, 0x24, 10]), Some(false), "mixed magic");
    // TLS application data (0x17 0x03 0x03) is not TeamViewer.
    assert_eq!(teamviewer(&[0x17, 0x03, 0x03, 0x00, 0x20]), Some(false));
    assert_eq!(teamviewer(&[0x17, 0x24]), None);
}

// --- RDP ([MS-RDPBCGR] 2.2.1.1) ----------------------------------------------

/// A Client X.224 Connection Request around `var` (cookie, RDP_NEG_REQ).
fn x224_cr(var: &[u8]) -> Vec<u8> {
    let total = 11 + var.len();
    let mut v = vec![3, 0]; // TPKT version 3, reserved
    v.extend_from_slice(&(total as u16).to_be_bytes()); // TPKT length
    v.push((total - 5) as u8); // X.224 length indicator
    v.push(0xe0); // CR, CDT 0
    v.extend_from_slice(&[0, 0]); // DST-REF
    v.extend_from_slice(&[0x12, 0x34]); // SRC-REF
    v.push(0); // class 0
    v.extend_from_slice(var);
    v
}

/// RDP_NEG_REQ: type 1, flags 0, length 8 (LE), requestedProtocols (LE).
fn neg_req(protocols: u32) -> Vec<u8> {
    let mut v = vec![1, 0, 8, 0];
    v.extend_from_slice(&protocols.to_le_bytes());
    v
}

#[test]
fn rdp_connection_requests() {
    // mstsc / xfreerdp: cookie, then RDP_NEG_REQ (TLS | CredSSP | early
    // user auth).
    let mut var = b"Cookie: mstshash=admin\r\n".to_vec();
    var.extend(neg_req(0x0b));
    only("rdp", &x224_cr(&var), 19);
    // Routing token of a load balancer: also "Cookie: ".
    only(
        "rdp",
        &x224_cr(b"Cookie: msts=3640205228.15629.0000\r\n"),
        19,
    );
    // RDP_NEG_REQ only (nmap, rdesktop with -4 off).
    only("rdp", &x224_cr(&neg_req(0x03)), 15);
    // A bare request (old clients): decided by its length.
    only("rdp", &x224_cr(&[]), 11);
}

#[test]
fn rdp_is_not_other_iso_on_tcp() {
    // S7comm's COTP Connection Request on port 102: TSAP parameters after
    // the fixed part.
    let s7 = x224_cr(&[
        0xc1, 0x02, 0x01, 0x00, 0xc2, 0x02, 0x01, 0x02, 0xc0, 0x01, 0x0a,
    ]);
    assert_eq!(split_points(rdp, &s7).1, Some(false));
    // An X.224 Connection Confirm (0xD0) is the server's, never the opener.
    let mut cc = x224_cr(&neg_req(0));
    cc[5] = 0xd0;
    assert_eq!(rdp(&cc), Some(false));
    let mut v = x224_cr(&neg_req(3));
    v[4] += 1; // length indicator does not fit the TPKT length
    assert_eq!(rdp(&v), Some(false));
    let mut v = x224_cr(&neg_req(3));
    v[0] = 2; // TPKT version
    assert_eq!(rdp(&v), Some(false));
    let mut v = x224_cr(&neg_req(3));
    v[6] = 1; // DST-REF
    assert_eq!(rdp(&v), Some(false));
    let mut v = x224_cr(&neg_req(3));
    v[10] = 0x20; // class 2
    assert_eq!(rdp(&v), Some(false));
    let mut v = x224_cr(&neg_req(3));
    v[13] = 9; // RDP_NEG_REQ length
    assert_eq!(rdp(&v), Some(false));
    assert_eq!(rdp(&x224_cr(b"Cookie; x\r\n")), Some(false));
    // A cookie cut by the PDU's own length, followed by other bytes.
    let mut v = x224_cr(b"Cook");
    v.extend_from_slice(b"ie: and more");
    assert_eq!(rdp(&v), Some(false));
    assert_eq!(rdp(&[3, 0, 0, 5]), Some(false), "TPKT shorter than a CR");
}

// --- TLS and AnyDesk (RFC 8446 4.1.2, RFC 7301) ------------------------------

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn alpn(names: &[&str]) -> Vec<u8> {
    let mut list = Vec::new();
    for n in names {
        list.push(n.len() as u8);
        list.extend_from_slice(n.as_bytes());
    }
    let mut data = (list.len() as u16).to_be_bytes().to_vec();
    data.extend(list);
    ext(16, &data)
}

/// A ClientHello record: legacy version 0x0303, a 32-byte session id, four
/// cipher suites, null compression, and `exts` (None: no extensions block).
fn client_hello(exts: Option<&[u8]>) -> Vec<u8> {
    let mut body = vec![3, 3]; // legacy_version TLS 1.2
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(32); // session id
    body.extend_from_slice(&[0xa5; 32]);
    body.extend_from_slice(&[0, 8, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 0xc0, 0x30]);
    body.extend_from_slice(&[1, 0]); // compression: null
    if let Some(e) = exts {
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(e);
    }
    let mut hs = vec![1]; // client_hello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 3, 1]; // handshake, record version TLS 1.0
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend(hs);
    rec
}

fn sni(host: &str) -> Vec<u8> {
    let mut d = ((host.len() + 3) as u16).to_be_bytes().to_vec();
    d.push(0);
    d.extend_from_slice(&(host.len() as u16).to_be_bytes());
    d.extend_from_slice(host.as_bytes());
    ext(0, &d)
}

#[test]
fn tls_client_hellos() {
    let mut e = sni("pacs.example");
    e.extend(ext(10, &[0, 4, 0, 0x1d, 0, 0x17])); // supported_groups
    let a = alpn(&["h2", "http/1.1"]);
    e.extend_from_slice(&a);
    let ch = client_hello(Some(&e));
    // Decided once the first protocol name ("h2") is read.
    only("tls", &ch, ch.len() - a.len() + 4 + 2 + 1 + 2);
    // Without extensions (SSL 3 style): decided at the record's end.
    let bare = client_hello(None);
    only("tls", &bare, bare.len());
    // No ALPN at all.
    let e = sni("x");
    let ch = client_hello(Some(&e));
    only("tls", &ch, ch.len());
}

#[test]
fn anydesk_by_its_alpn() {
    let mut e = ext(11, &[1, 0]); // ec_point_formats
    e.extend(ext(10, &[0, 2, 0, 0x1d]));
    e.extend(ext(35, &[])); // session_ticket
    let alpn_at = client_hello(Some(&e)).len() + 4 + 2 + 1 + b"anydesk/".len();
    e.extend(alpn(&["anydesk/6.2.0/linux"]));
    e.extend(ext(13, &[0, 2, 4, 1])); // signature_algorithms
    let ch = client_hello(Some(&e));
    only("anydesk", &ch, alpn_at);
    // Only the first protocol counts, and it must be longer than the prefix.
    let other_first = client_hello(Some(&alpn(&["h2", "anydesk/6.2.0/linux"])));
    assert_eq!(split_points(anydesk, &other_first).1, Some(false));
    assert_eq!(tls(&other_first), Some(true));
    let short = client_hello(Some(&alpn(&["anydesk"])));
    assert_eq!(tls(&short), Some(true));
}

#[test]
fn tls_decides_at_the_window_when_the_hello_is_longer() {
    // A padding extension (RFC 7685) pushes ALPN past the window: TLS,
    // decided after exactly TLS_WINDOW bytes.
    let mut e = ext(21, &[0; 600]);
    e.extend(alpn(&["anydesk/6.2.0/linux"]));
    let ch = client_hello(Some(&e));
    only("tls", &ch, TLS_WINDOW);
    // A record shorter than its handshake message (fragmented hello):
    // decided at the record's end.
    let mut frag = client_hello(Some(&sni("x")));
    let cut = 60;
    frag.truncate(5 + cut);
    frag[3..5].copy_from_slice(&(cut as u16).to_be_bytes());
    only("tls", &frag, frag.len());
}

#[test]
fn tls_needs_a_client_hello() {
    let ch = client_hello(Some(&sni("x")));
    let mut v = ch.clone();
    v[5] = 2; // ServerHello
    assert_eq!(tls(&v), Some(false));
    let mut v = ch.clone();
    v[2] = 5; // record version 3.5
    assert_eq!(tls(&v), Some(false));
    let mut v = ch.clone();
    v[3..5].copy_from_slice(&[0x40, 0x01]); // 2^14 + 1
    assert_eq!(tls(&v), Some(false));
    let mut v = ch.clone();
    v[6..9].copy_from_slice(&[0, 0, 40]); // shorter than any hello
    assert_eq!(tls(&v), Some(false));
    let mut v = ch.clone();
    v[9] = 2; // client version 2.x
    assert_eq!(tls(&v), Some(false));
    assert_eq!(tls(&[0x17, 3, 3, 0, 32]), Some(false), "application data");
    assert_eq!(tls(&[0x15, 3, 3, 0, 2, 2, 40]), Some(false), "alert");
    assert_eq!(tls(&[0x16, 3, 1, 0]), None);
    // A session id longer than 32 bytes: still a ClientHello record, but
    // not read further.
    let mut v = ch.clone();
    v[43] = 33;
    assert_eq!(tls(&v), Some(true));
    assert_eq!(anydesk(&v), Some(false));
}

// --- Against other protocols' first bytes -------------------------------------

fn hostile_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut rq = vec![0x01, 0x00, 0, 0, 0, 93, 0x00, 0x01, 0, 0]; // A-ASSOCIATE-RQ
    rq.extend_from_slice(b"PACS            CT01            ");
    rq.extend_from_slice(&[0; 32]);
    rq.extend_from_slice(b"\x10\x00\x00\x15");
    rq.extend_from_slice(b"1.2.840.10008.3.1.1.1");
    vec![
        ("http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            "hl7",
            b"\x0bMSH|^~\\&|LAB|X|||2024||ORU^R01|1|P|2.3\r\x1c\x0d".to_vec(),
        ),
        ("dicom", rq),
        (
            "mqtt",
            b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04ab12".to_vec(),
        ),
        ("smtp", b"220 mail.example ESMTP Postfix\r\n".to_vec()),
        ("ftp", b"220 (vsFTPd 3.0.3)\r\n".to_vec()),
        ("empty-ish", vec![0; 64]),
        ("ones", vec![0xff; 64]),
        ("tls-app-data", vec![0x17, 3, 3, 0, 64, 1, 2, 3]),
        (
            "server-hello",
            vec![0x16, 3, 3, 0, 0x5a, 2, 0, 0, 0x56, 3, 3],
        ),
        ("rsync", b"@RSYNCD: 31.0\n".to_vec()),
        ("mysql", b"\x4a\x00\x00\x00\x0a8.0.36\x00".to_vec()),
    ]
}

#[test]
fn other_protocols_are_not_taken() {
    for (what, b) in hostile_inputs() {
        for (name, probe) in ALL {
            assert_eq!(split_points(probe, &b).1, Some(false), "{name} took {what}");
        }
    }
}

#[test]
fn random_bytes_are_rarely_taken() {
    // 200k pseudo-random 32-byte inputs (xorshift, fixed seed): any match
    // must be one of the weak 3-byte signatures, and rare.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut hits = 0;
    for _ in 0..200_000 {
        let b: Vec<u8> = (0..4).flat_map(|_| rnd().to_le_bytes()).collect();
        for (name, probe) in ALL {
            if probe(&b) == Some(true) {
                assert!(matches!(name, "telnet" | "teamviewer"), "{name}: {b:02x?}");
                hits += 1;
            }
        }
    }
    // Expected about 200k * (4*54 + 2*80) / 2^24 ≈ 4.5 (telnet: 4 commands
    // times 54 options; teamviewer: 2 magics times 80 commands).
    eprintln!("{hits} of 200000 random 32-byte inputs matched a probe");
    assert!(hits < 30, "{hits} random inputs matched");
}

// --- Names (kinds::AppProto) --------------------------------------------------

#[test]
fn app_proto_names_are_stable_and_round_trip() {
    // Stored in flows.app_proto and named in policy files: a rename is a
    // schema change.
    let names = [
        "dicom",
        "dicom-tls",
        "hl7",
        "mqtt",
        "mqtt-tls",
        "ssh",
        "rdp",
        "vnc",
        "telnet",
        "teamviewer",
        "anydesk",
        "tls",
    ];
    // An exhaustive match: a new variant fails to compile here until it is
    // added to ALL (and to this test).
    fn index(p: AppProto) -> usize {
        match p {
            AppProto::Dicom => 0,
            AppProto::DicomTls => 1,
            AppProto::Hl7 => 2,
            AppProto::Mqtt => 3,
            AppProto::MqttTls => 4,
            AppProto::Ssh => 5,
            AppProto::Rdp => 6,
            AppProto::Vnc => 7,
            AppProto::Telnet => 8,
            AppProto::TeamViewer => 9,
            AppProto::AnyDesk => 10,
            AppProto::Tls => 11,
        }
    }
    assert_eq!(AppProto::ALL.len(), names.len());
    for (i, p) in AppProto::ALL.into_iter().enumerate() {
        assert_eq!(index(p), i);
        assert_eq!(p.name(), names[i]);
        assert_eq!(AppProto::from_name(names[i]), Some(p));
    }
    assert_eq!(AppProto::from_name("SSH"), None);
    assert_eq!(AppProto::from_name(""), None);
    assert_eq!(AppProto::from_name("http"), None);
}

#[test]
fn remote_access_and_encryption_classes() {
    let remote: Vec<_> = AppProto::ALL
        .into_iter()
        .filter(|p| p.is_remote_access())
        .collect();
    use AppProto::*;
    assert_eq!(remote, [Ssh, Rdp, Vnc, Telnet, TeamViewer, AnyDesk]);
    let encrypted: Vec<_> = AppProto::ALL
        .into_iter()
        .filter(|p| p.is_encrypted())
        .collect();
    assert_eq!(
        encrypted,
        [DicomTls, MqttTls, Ssh, TeamViewer, AnyDesk, Tls]
    );
}

// --- Properties ---------------------------------------------------------------

/// Inputs that start like one of the protocols, then anything.
fn near_miss() -> impl Strategy<Value = Vec<u8>> {
    let heads: Vec<Vec<u8>> = vec![
        b"SSH-2.0-".to_vec(),
        b"SSH-1.9".to_vec(),
        b"RFB 003.00".to_vec(),
        vec![255, 253],
        vec![0x17, 0x24],
        vec![0x11, 0x30],
        x224_cr(&neg_req(3))[..9].to_vec(),
        client_hello(Some(&alpn(&["anydesk/6.2.0/linux"])))[..60].to_vec(),
        vec![],
    ];
    (
        proptest::sample::select(heads),
        proptest::collection::vec(any::<u8>(), 0..700),
    )
        .prop_map(|(mut h, t)| {
            h.extend(t);
            h
        })
}

proptest! {
    #[test]
    fn probes_never_panic_and_a_match_stays_a_match(b in near_miss(), cut in 0usize..700) {
        let cut = cut.min(b.len());
        for (name, probe) in ALL {
            let short = probe(&b[..cut]);
            let long = probe(&b);
            // Decided on a prefix: the same on the longer input.
            if short.is_some() {
                prop_assert_eq!(short, long, "{} at {}", name, cut);
            }
            // Never undecided past the window.
            if b.len() >= PROBE_LEN {
                prop_assert!(long.is_some(), "{} undecided after {} bytes", name, b.len());
            }
        }
    }

    #[test]
    fn at_most_one_probe_matches(b in near_miss()) {
        let n = ALL.iter().filter(|(_, p)| p(&b) == Some(true)).count();
        prop_assert!(n <= 1);
    }
}
