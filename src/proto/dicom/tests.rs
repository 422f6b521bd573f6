//! Association parsing over byte streams built field by field, fed whole,
//! split at every point, with gaps, and as arbitrary bytes.

use super::dimse::tests::{c_store_rq, element};
use super::*;
use crate::proto::Anomaly;
use proptest::prelude::*;

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const ECHO: &str = "1.2.840.10008.1.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

fn item(t: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![t, 0];
    v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    v.extend_from_slice(value);
    v
}

fn pdu(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t, 0];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn ae(s: &str) -> [u8; 16] {
    let mut a = [b' '; 16];
    a[..s.len()].copy_from_slice(s.as_bytes());
    a
}

fn user_info(max_pdu: u32, impl_uid: &str, version: &str, extra: &[u8]) -> Vec<u8> {
    let mut ui = item(0x51, &max_pdu.to_be_bytes()); // Maximum Length
    ui.extend(item(0x52, impl_uid.as_bytes())); // Implementation Class UID
    ui.extend(item(0x55, version.as_bytes())); // Implementation Version Name
    ui.extend_from_slice(extra);
    item(0x50, &ui)
}

/// A-ASSOCIATE-RQ: CT01 → PACS, contexts 1 (Verification) and 3 (CT, two
/// transfer syntaxes), max PDU 16384, user identity type 2, a role selection.
fn associate_rq() -> Vec<u8> {
    associate_rq_from(ae("PACS"), ae("CT01"))
}

/// [`associate_rq`] with these called and calling AE fields (16 bytes each).
fn associate_rq_from(called: [u8; 16], calling: [u8; 16]) -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0]; // protocol version 1, reserved
    b.extend(called);
    b.extend(calling);
    b.extend([0; 32]);
    b.extend(item(0x10, b"1.2.840.10008.3.1.1.1")); // application context
    for (id, abs, ts) in [
        (1u8, ECHO, vec![IMPLICIT_LE]),
        (3, CT, vec![EXPLICIT_LE, IMPLICIT_LE]),
    ] {
        let mut pc = vec![id, 0, 0, 0];
        pc.extend(item(0x30, abs.as_bytes()));
        for t in ts {
            pc.extend(item(0x40, t.as_bytes()));
        }
        b.extend(item(0x20, &pc));
    }
    let mut role = (CT.len() as u16).to_be_bytes().to_vec();
    role.extend_from_slice(CT.as_bytes());
    role.extend([1, 0]);
    let mut extra = item(0x54, &role);
    extra.extend(item(
        0x58,
        &[
            2, 0, 0, 4, b'u', b's', b'e', b'r', 0, 4, b'p', b'a', b's', b's',
        ],
    ));
    b.extend(user_info(
        16384,
        "1.2.276.0.7230010.3.0.3.6.7",
        "OFFIS_DCMTK_367",
        &extra,
    ));
    pdu(0x01, &b)
}

/// A-ASSOCIATE-AC: context 1 accepted (implicit LE), 3 accepted (explicit LE).
fn associate_ac() -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0];
    b.extend(ae("PACS"));
    b.extend(ae("CT01"));
    b.extend([0; 32]);
    b.extend(item(0x10, b"1.2.840.10008.3.1.1.1"));
    for (id, ts) in [(1u8, IMPLICIT_LE), (3, EXPLICIT_LE)] {
        let mut pc = vec![id, 0, 0, 0];
        pc.extend(item(0x40, ts.as_bytes()));
        b.extend(item(0x21, &pc));
    }
    b.extend(user_info(32768, "1.2.3.4", "PACS_1", &[]));
    pdu(0x02, &b)
}

/// P-DATA-TF with one PDV.
fn pdata(ctx: u8, mch: u8, payload: &[u8]) -> Vec<u8> {
    let mut pdv = ((payload.len() + 2) as u32).to_be_bytes().to_vec();
    pdv.extend([ctx, mch]);
    pdv.extend_from_slice(payload);
    pdu(0x04, &pdv)
}

fn c_store_rsp(status: u16) -> Vec<u8> {
    let mut b = Vec::new();
    element(&mut b, 0x0002, CT.as_bytes());
    element(&mut b, 0x0100, &0x8001u16.to_le_bytes());
    element(&mut b, 0x0120, &7u16.to_le_bytes());
    element(&mut b, 0x0800, &0x0101u16.to_le_bytes());
    element(&mut b, 0x0900, &status.to_le_bytes());
    b
}

/// (to_server, bytes) of a whole C-STORE association, released.
fn store_session(image: usize) -> Vec<(bool, Vec<u8>)> {
    let rq = c_store_rq();
    // The command split over two PDVs in two PDUs (not last, then last).
    let (c1, c2) = rq.split_at(20);
    vec![
        (true, associate_rq()),
        (false, associate_ac()),
        (true, [pdata(3, 0b01, c1), pdata(3, 0b11, c2)].concat()),
        (
            true,
            [
                pdata(3, 0b00, &vec![0xAB; image / 2]),
                pdata(3, 0b10, &vec![0xCD; image - image / 2]),
            ]
            .concat(),
        ),
        (false, pdata(3, 0b11, &c_store_rsp(0x0000))),
        (true, pdu(0x05, &[0; 4])),
        (false, pdu(0x06, &[0; 4])),
    ]
}

fn run(session: &[(bool, Vec<u8>)], split: Option<usize>) -> (AssociationRecord, Vec<Anomaly>) {
    let mut a = Association::default();
    let mut seen = Vec::new();
    for (to_server, bytes) in session {
        match split {
            Some(at) if at < bytes.len() => {
                a.data(*to_server, &bytes[..at], &mut |x, _| seen.push(x));
                a.data(*to_server, &bytes[at..], &mut |x, _| seen.push(x));
            }
            _ => a.data(*to_server, bytes, &mut |x, _| seen.push(x)),
        }
    }
    (a.record(), seen)
}

#[test]
fn a_released_c_store_association_is_summarised() {
    let (r, anomalies) = run(&store_session(5000), None);
    assert!(anomalies.is_empty(), "{anomalies:?}");
    assert_eq!(
        (r.calling_ae.as_str(), r.called_ae.as_str(), r.result),
        ("CT01", "PACS", "released")
    );
    assert_eq!(
        r.application_context.as_deref(),
        Some("1.2.840.10008.3.1.1.1")
    );
    assert_eq!(
        r.implementation_class_uid.as_deref(),
        Some("1.2.276.0.7230010.3.0.3.6.7")
    );
    assert_eq!(r.implementation_version.as_deref(), Some("OFFIS_DCMTK_367"));
    assert_eq!(r.acceptor_implementation_version.as_deref(), Some("PACS_1"));
    assert_eq!(
        (r.max_pdu_length, r.acceptor_max_pdu_length),
        (Some(16384), Some(32768))
    );
    assert_eq!(r.user_identity_type, Some(2));
    assert_eq!(r.roles, [(CT.to_string(), 1, 0)]);
    assert_eq!(r.contexts.len(), 2);
    let ct = &r.contexts[1];
    assert_eq!(
        (ct.id, ct.abstract_syntax.as_str(), ct.abstract_syntax_name),
        (3, CT, Some("CT Image Storage"))
    );
    assert_eq!(ct.transfer_syntaxes, [EXPLICIT_LE, IMPLICIT_LE]);
    assert_eq!(
        (ct.result, ct.accepted_transfer_syntax.as_deref()),
        (Some("acceptance"), Some(EXPLICIT_LE))
    );
    assert_eq!(r.operations.len(), 1);
    let op = &r.operations[0];
    assert_eq!(
        (op.command, op.sop_class_uid.as_str(), op.count, op.bytes),
        ("C-STORE", CT, 1, 5000)
    );
    assert_eq!(op.statuses, [0x0000]);
    assert_eq!(r.data_bytes, 5000);
}

#[test]
fn every_split_point_gives_the_same_record() {
    let session = store_session(300);
    let (whole, _) = run(&session, None);
    let longest = session.iter().map(|(_, b)| b.len()).max().unwrap();
    for at in 0..=longest {
        let (r, anomalies) = run(&session, Some(at));
        assert_eq!(r, whole, "split at {at}");
        assert!(anomalies.is_empty(), "split at {at}: {anomalies:?}");
    }
}

#[test]
fn byte_at_a_time_gives_the_same_record() {
    let session = store_session(100);
    let (whole, _) = run(&session, None);
    let mut a = Association::default();
    for (to_server, bytes) in &session {
        for b in bytes {
            a.data(*to_server, std::slice::from_ref(b), &mut |x, _| {
                panic!("{x:?}")
            });
        }
    }
    assert_eq!(a.record(), whole);
}

#[test]
fn a_gap_inside_image_data_is_skipped_but_a_gap_in_framing_stops_parsing() {
    let session = store_session(4000);
    let mut a = Association::default();
    let mut seen = Vec::new();
    for (i, (to_server, bytes)) in session.iter().enumerate() {
        if i == 3 {
            // Lose 1000 bytes in the middle of the first data PDV (PDU header 6 + PDV header 6 + 500).
            a.data(true, &bytes[..512], &mut |x, _| seen.push(x));
            a.gap(true, 1000, &mut |x, _| seen.push(x));
            a.data(true, &bytes[1512..], &mut |x, _| seen.push(x));
        } else {
            a.data(*to_server, bytes, &mut |x, _| seen.push(x));
        }
    }
    let r = a.record();
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(r.result, "released");
    assert_eq!(r.operations[0].bytes, 4000, "lost bytes still counted");

    let mut b = Association::default();
    let mut seen = Vec::new();
    b.data(true, &session[0].1[..3], &mut |x, _| seen.push(x));
    b.gap(true, 10, &mut |x, _| seen.push(x));
    b.data(true, &session[0].1[13..], &mut |x, _| seen.push(x));
    assert_eq!(seen, [Anomaly::DicomLostSync]);
    assert_eq!(b.record().result, "incomplete");
}

#[test]
fn reject_and_abort_are_recorded_with_names() {
    let rj = vec![(true, associate_rq()), (false, pdu(0x03, &[0, 1, 1, 7]))];
    let (r, a) = run(&rj, None);
    assert_eq!(r.result, "rejected");
    assert_eq!(
        r.reject,
        Some((
            "rejected-permanent",
            "service-user",
            "called-AE-title-not-recognized"
        ))
    );
    assert_eq!(a, [Anomaly::DicomAssociationRejected]);
    let ab = vec![
        (true, associate_rq()),
        (false, associate_ac()),
        (false, pdu(0x07, &[0, 0, 2, 2])),
    ];
    let (r, a) = run(&ab, None);
    assert_eq!(r.result, "aborted");
    assert_eq!(r.abort, Some(("service-provider", "unexpected-PDU")));
    assert_eq!(a, [Anomaly::DicomProviderAbort]);
}

#[test]
fn protocol_violations_become_anomalies() {
    let early = vec![
        (true, associate_rq()),
        (true, pdata(1, 0b11, &c_store_rq())),
    ];
    assert!(run(&early, None)
        .1
        .contains(&Anomaly::DicomPdataBeforeAccept));
    let unknown = vec![(true, associate_rq()), (false, pdu(0x09, &[1, 2, 3]))];
    assert_eq!(run(&unknown, None).1, [Anomaly::DicomUnknownPduType]);
    let mut big = vec![(true, associate_rq()), (false, associate_ac())];
    big.push((true, pdata(3, 0b10, &vec![0; 20_000]))); // the acceptor takes 32768
    big.push((false, pdata(3, 0b10, &vec![0; 20_000]))); // the requestor takes 16384
    assert_eq!(run(&big, None).1, [Anomaly::DicomPduOverMaxLength]);
    let lying_pdv = vec![
        (true, associate_rq()),
        (false, associate_ac()),
        (true, pdu(0x04, &[0, 0, 0, 99, 1, 3])),
    ];
    assert_eq!(run(&lying_pdv, None).1, [Anomaly::DicomMalformedPdu]);
    let mut cut_item = associate_rq();
    cut_item[6 + 68 + 3] = 0xff; // application context item length past the end
    let (r, a) = run(&[(true, cut_item)], None);
    assert_eq!(a, [Anomaly::DicomMalformedPdu]);
    assert_eq!(
        r.calling_ae, "CT01",
        "fixed fields before the bad item are kept"
    );
    let huge = [0x04, 0, 0xff, 0xff, 0xff, 0xff];
    let (_, a) = run(
        &[
            (true, associate_rq()),
            (false, associate_ac()),
            (true, huge.to_vec()),
        ],
        None,
    );
    assert_eq!(
        a,
        [Anomaly::DicomPduOverMaxLength, Anomaly::DicomPduOverHardCap]
    );
}

/// An AE field: `raw` then space padding to 16 bytes.
fn ae_raw(raw: &[u8]) -> [u8; 16] {
    let mut a = [b' '; 16];
    a[..raw.len()].copy_from_slice(raw);
    a
}

/// Whether `probe` says the same at every split: `None` before the bytes
/// that decide, then the final verdict (never a different one).
fn probe_at_every_split(b: &[u8]) -> Option<bool> {
    let full = probe(b);
    for n in 0..b.len() {
        match probe(&b[..n]) {
            None => {}
            early => assert_eq!(early, full, "prefix of {n} bytes"),
        }
    }
    full
}

#[test]
fn probe_accepts_real_requests_only() {
    let rq = associate_rq();
    assert_eq!(probe_at_every_split(&rq), Some(true));
    for n in 0..PROBE_LEN {
        assert_eq!(probe(&rq[..n]), None, "{n} bytes");
    }
    assert_eq!(probe(&rq[..PROBE_LEN]), Some(true));
    assert_eq!(probe(b"\x16\x03\x01"), Some(false));
    let mut v2 = rq.clone();
    v2[7] = 0; // protocol version 0
    assert_eq!(probe_at_every_split(&v2), Some(false));
}

/// Issue 8 item 5: an AE title with one byte outside printable ASCII hid
/// the whole association. The probe does not read the titles at all.
#[test]
fn dicom_probe_ignores_ae_title_content() {
    let hostile: [&[u8]; 8] = [
        b"\x1b[2J\nEVIL",
        b"\xff\xfe\x80BAD",
        b"x';DROP--",
        "\u{202e}EVIL\u{2028}X".as_bytes(),
        b"",
        b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        b"A\\B",
        b"\r\n\t\x7f\x9b",
    ];
    for called in hostile {
        for calling in hostile {
            let rq = associate_rq_from(ae_raw(called), ae_raw(calling));
            assert_eq!(
                probe_at_every_split(&rq),
                Some(true),
                "{called:?} {calling:?}"
            );
        }
    }
    // Every byte value in every title position.
    for at in 10..42 {
        for v in 0..=255u8 {
            let mut rq = associate_rq();
            rq[at] = v;
            assert_eq!(probe(&rq), Some(true), "byte {v:#04x} at {at}");
        }
    }
}

#[test]
fn probe_rejects_what_is_not_an_associate_rq() {
    let rq = associate_rq();
    let with = |at: usize, v: &[u8]| {
        let mut b = rq.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    let len = (rq.len() - 6) as u32;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("A-ASSOCIATE-AC", associate_ac()),
        ("P-DATA", pdata(1, 3, &c_store_rq())),
        ("A-RELEASE-RQ", pdu(0x05, &[0; 4])),
        ("reserved byte after the type", with(1, &[1])),
        ("PDU length below fixed fields + item", with(2, &72u32.to_be_bytes())),
        ("PDU length over the cap", with(2, &(stream::MAX_ASSOCIATE_PDU + 1).to_be_bytes())),
        ("protocol version without bit 0", with(6, &[0, 2])),
        ("first item a presentation context", with(74, &[0x20])),
        ("first item user information", with(74, &[0x50])),
        ("application context of length 0", with(76, &[0, 0])),
        ("application context over 64 bytes", with(76, &[0, 65])),
        ("application context past the PDU", {
            let mut b = with(2, &77u32.to_be_bytes()); // fixed + item header + 5
            b.truncate(83);
            b
        }),
        ("HTTP", b"GET / HTTP/1.1\r\nHost: pacs\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n......".to_vec()),
        ("TLS ClientHello", {
            let mut b = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
            b.resize(100, 0x42);
            b
        }),
        ("SSH banner", b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n..........................................".to_vec()),
        ("HL7 over MLLP", b"\x0bMSH|^~\\&|LAB|X|||2024||ORU^R01|1|P|2.3\r\x1c\x0d............................................".to_vec()),
        ("MQTT CONNECT", b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04ab12..............................................................".to_vec()),
    ];
    assert!(len > 72);
    for (what, b) in cases {
        assert_eq!(probe_at_every_split(&b), Some(false), "{what}");
    }
    // Random bytes: none is taken for an A-ASSOCIATE-RQ, even those that
    // start with the right two bytes.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    for i in 0..20_000 {
        let mut b: Vec<u8> = (0..PROBE_LEN).map(|_| rnd()).collect();
        if i % 2 == 0 {
            b[0] = 1;
            b[1] = 0;
        }
        assert_eq!(probe(&b), Some(false), "{b:02x?}");
    }
}

/// A non-conforming AE title is an anomaly on the recognised association,
/// with a static reason, and the record keeps the bytes as sent.
#[test]
fn nonconforming_ae_titles_are_anomalies_and_kept_as_sent() {
    type Case<'a> = (&'a [u8], &'a [u8], &'a str, &'a str, Option<&'a str>);
    let cases: [Case; 7] = [
        // (called, calling, stored called, stored calling, first reason)
        (b"PACS", b"CT01", "PACS", "CT01", None),
        (b"PACS", b"x';DROP--", "PACS", "x';DROP--", None),
        (
            b"PACS\r\x1b[1A",
            b"\x1b[2J\nEVIL",
            "PACS\r\u{1b}[1A",
            "\u{1b}[2J\nEVIL",
            Some("calling AE: control character"),
        ),
        (
            b"PACS",
            b"\xff\xfe\x80BAD",
            "PACS",
            "\\xff\\xfe\\x80BAD",
            Some("calling AE: byte outside the default repertoire"),
        ),
        (
            "\u{202e}EVIL\u{2028}X".as_bytes(),
            b"CT01",
            "\u{202e}EVIL\u{2028}X",
            "CT01",
            Some("called AE: byte outside the default repertoire"),
        ),
        (
            b"A\\B",
            b"CT01",
            "A\\B",
            "CT01",
            Some("called AE: backslash"),
        ),
        (b"", b"CT01", "", "CT01", Some("called AE: only spaces")),
    ];
    for (called, calling, want_called, want_calling, reason) in cases {
        let session = vec![
            (true, associate_rq_from(ae_raw(called), ae_raw(calling))),
            (false, associate_ac()),
            (true, pdu(0x05, &[0; 4])),
            (false, pdu(0x06, &[0; 4])),
        ];
        let mut a = Association::default();
        let mut seen = Vec::new();
        for (to_server, bytes) in &session {
            a.data(*to_server, bytes, &mut |x, d| seen.push((x, d)));
        }
        let r = a.record();
        assert_eq!(
            (r.called_ae.as_str(), r.calling_ae.as_str()),
            (want_called, want_calling)
        );
        assert_eq!(r.result, "released");
        assert_eq!(crate::proto::text::unescape(&r.calling_ae), calling);
        assert_eq!(crate::proto::text::unescape(&r.called_ae), called);
        assert_eq!(
            seen.first().copied(),
            reason.map(|d| (Anomaly::DicomNonconformingAeTitle, Some(d))),
            "{called:?} {calling:?}"
        );
    }
    // Both titles: one anomaly each (the per-flow report keeps the first).
    let both = associate_rq_from(ae_raw(b"\x07"), ae_raw(b"\x07"));
    let (_, seen) = run(&[(true, both.clone())], None);
    assert_eq!(seen, [Anomaly::DicomNonconformingAeTitle; 2]);
    // The same record and anomalies wherever TCP splits the RQ.
    let (whole, whole_seen) = run(&[(true, both.clone())], None);
    for at in 0..both.len() {
        assert_eq!(
            run(&[(true, both.clone())], Some(at)),
            (whole.clone(), whole_seen.clone()),
            "split at {at}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any A-ASSOCIATE-RQ is recognised at every split, whatever its AE
    /// titles and reserved fields hold; its record keeps the titles' bytes.
    #[test]
    fn probe_recognises_any_associate_rq_structure(
        fixed in proptest::collection::vec(any::<u8>(), 66),
        version in any::<u16>(),
        actx in proptest::collection::vec(any::<u8>(), 1..=64),
        item_reserved in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut body = (version | 1).to_be_bytes().to_vec();
        body.extend_from_slice(&fixed); // reserved, called AE, calling AE, reserved
        body.extend([0x10, item_reserved]);
        body.extend((actx.len() as u16).to_be_bytes());
        body.extend_from_slice(&actx);
        body.extend_from_slice(&tail);
        let rq = pdu(0x01, &body);
        prop_assert_eq!(probe_at_every_split(&rq), Some(true));
        let mut a = Association::default();
        a.data(true, &rq, &mut |_, _| {});
        let r = a.record();
        prop_assert_eq!(crate::proto::text::unescape(&r.called_ae), pdu::trim(&fixed[2..18]));
        prop_assert_eq!(crate::proto::text::unescape(&r.calling_ae), pdu::trim(&fixed[18..34]));
    }

    /// On any bytes, a verdict given early never changes with more bytes.
    #[test]
    fn probe_verdicts_do_not_depend_on_the_split(
        head in prop_oneof![Just(vec![1u8, 0]), Just(vec![1u8]), Just(vec![])],
        rest in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let b = [head, rest].concat();
        let _ = probe_at_every_split(&b);
    }

    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20), gaps in proptest::collection::vec(0u32..5000, 0..3)) {
        let mut a = Association::default();
        for (i, (dir, bytes)) in chunks.iter().enumerate() {
            a.data(*dir, bytes, &mut |_, _| {});
            if let Some(g) = gaps.get(i) {
                a.gap(*dir, *g, &mut |_, _| {});
            }
        }
        let _ = a.record();
    }

    #[test]
    fn mutated_sessions_never_panic(pos in 0usize..2000, byte in any::<u8>(), split in 0usize..2000) {
        let mut session = store_session(200);
        let total: usize = session.iter().map(|s| s.1.len()).sum();
        let mut p = pos % total;
        for s in &mut session {
            if p < s.1.len() { s.1[p] = byte; break; }
            p -= s.1.len();
        }
        let _ = run(&session, Some(split));
    }

    #[test]
    fn random_splits_match_whole(cuts in proptest::collection::vec(1usize..64, 1..40)) {
        let session = store_session(700);
        let (whole, _) = run(&session, None);
        let mut a = Association::default();
        for (to_server, bytes) in &session {
            let mut rest = &bytes[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                a.data(*to_server, &rest[..n], &mut |_, _| {});
                rest = &rest[n..];
                i += 1;
            }
        }
        prop_assert_eq!(a.record(), whole);
    }
}
