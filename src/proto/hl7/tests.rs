//! HL7/MLLP conversation tests: every session is also fed split at every
//! byte and one byte at a time, and must give the same result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::mllp::MAX_MESSAGE;
use super::*;
use crate::proto::Anomaly;
use proptest::prelude::*;

const PATIENT: &str = "ZZPHANTOM^MEDTAPTEST";

fn frame(segments: &[&str], end: &str) -> Vec<u8> {
    let mut v = vec![0x0b];
    v.extend_from_slice(segments.join(end).as_bytes());
    v.extend_from_slice(end.as_bytes());
    v.extend_from_slice(b"\x1c\x0d");
    v
}

fn adt() -> Vec<u8> {
    frame(
        &[
            "MSH|^~\\&|MONITOR|ICU3|ADT|HOSP|20241101120000||ADT^A01^ADT_A01|MSG0001|P|2.5.1",
            "EVN|A01|20241101120000",
            &format!("PID|1||123456^^^HOSP^MR||{PATIENT}||19700101|M"),
            "PV1|1|I|ICU3^12^1",
        ],
        "\r",
    )
}

fn oru() -> Vec<u8> {
    frame(
        &[
            "MSH|^~\\&|MONITOR|ICU3|LIS|HOSP|20241101120100||ORU^R01|MSG0002|P|2.5.1",
            &format!("PID|1||123456||{PATIENT}"),
            "OBR|1|||VITALS",
            "OBX|1|NM|8867-4^HR||72|/min",
            "OBX|2|NM|59408-5^SpO2||98|%",
            "OBX|3|NM|8480-6^NIBPs||121|mm[Hg]",
        ],
        "\r",
    )
}

fn ack(code: &str, control: &str, id: &str) -> Vec<u8> {
    frame(
        &[
            &format!("MSH|^~\\&|ADT|HOSP|MONITOR|ICU3|20241101120001||ACK^A01|{id}|P|2.5.1"),
            &format!("MSA|{code}|{control}"),
        ],
        "\r",
    )
}

/// (to_server, bytes, time) steps of a session.
type Session = Vec<(bool, Vec<u8>, i64)>;

fn session() -> Session {
    vec![
        (true, adt(), 1_000),
        (false, ack("AA", "MSG0001", "A1"), 4_000),
        (true, oru(), 10_000),
        (false, ack("AE", "MSG0002", "A2"), 12_500),
    ]
}

/// Feeds a session (each step split at `split`, or byte by byte with
/// `usize::MAX`), finishes, and returns messages and anomalies.
fn run(
    session: &Session,
    split: Option<usize>,
) -> (Vec<MessageRecord>, Vec<(Anomaly, Option<&'static str>)>) {
    let mut c = Conversation::default();
    let mut seen = Vec::new();
    let mut msgs = Vec::new();
    for (to_server, bytes, ts) in session {
        let mut emit = |a, d| seen.push((a, d));
        match split {
            Some(usize::MAX) => {
                for b in bytes {
                    c.data(*to_server, std::slice::from_ref(b), *ts, &mut emit);
                }
            }
            Some(at) if at < bytes.len() => {
                c.data(*to_server, &bytes[..at], *ts, &mut emit);
                c.data(*to_server, &bytes[at..], *ts, &mut emit);
            }
            _ => c.data(*to_server, bytes, *ts, &mut emit),
        }
        msgs.extend(c.take_messages());
    }
    c.finish(99_000, &mut |a, d| seen.push((a, d)));
    msgs.extend(c.take_messages());
    (msgs, seen)
}

fn ids(m: &MessageRecord) -> Vec<(String, u32)> {
    m.segments.iter().map(|s| (s.id(), s.count)).collect()
}

#[test]
fn messages_and_acks_are_matched() {
    let (msgs, seen) = run(&session(), None);
    assert_eq!(msgs.len(), 4);
    let adt = &msgs[0];
    assert_eq!(adt.message_type.as_deref(), Some("ADT^A01^ADT_A01"));
    assert_eq!(adt.sending_app.as_deref(), Some("MONITOR"));
    assert_eq!(adt.sending_facility.as_deref(), Some("ICU3"));
    assert_eq!(adt.receiving_app.as_deref(), Some("ADT"));
    assert_eq!(adt.receiving_facility.as_deref(), Some("HOSP"));
    assert_eq!(adt.message_time.as_deref(), Some("20241101120000"));
    assert_eq!(adt.control_id.as_deref(), Some("MSG0001"));
    assert_eq!(adt.processing_id.as_deref(), Some("P"));
    assert_eq!(adt.version.as_deref(), Some("2.5.1"));
    assert_eq!(adt.ack_code.as_deref(), Some("AA"));
    assert_eq!(adt.ack_latency_us, Some(3_000));
    assert!(adt.to_server);
    assert_eq!(
        ids(adt),
        [
            ("MSH".into(), 1),
            ("EVN".into(), 1),
            ("PID".into(), 1),
            ("PV1".into(), 1)
        ]
    );
    let ack1 = &msgs[1];
    assert!(!ack1.to_server);
    assert_eq!(ack1.message_type.as_deref(), Some("ACK^A01"));
    assert_eq!(ack1.msa_code.as_deref(), Some("AA"));
    assert_eq!(ack1.msa_control_id.as_deref(), Some("MSG0001"));
    assert_eq!(ack1.ack_code, None);
    let oru = &msgs[2];
    assert_eq!(oru.ack_code.as_deref(), Some("AE"));
    assert_eq!(oru.ack_latency_us, Some(2_500));
    assert_eq!(ids(oru)[3], ("OBX".into(), 3));
    assert_eq!(oru.bytes as usize, oru_len());
    assert_eq!(seen, [(Anomaly::Hl7NegativeAck, Some("AE"))]);
}

fn oru_len() -> usize {
    oru().len() - 3
}

#[test]
fn every_split_point_and_byte_by_byte_agree() {
    let whole = run(&session(), None);
    let longest = session().iter().map(|s| s.1.len()).max().unwrap();
    for at in 0..=longest {
        assert_eq!(run(&session(), Some(at)), whole, "split at {at}");
    }
    assert_eq!(run(&session(), Some(usize::MAX)), whole);
}

#[test]
fn patient_data_is_never_kept() {
    let (msgs, _) = run(&session(), Some(usize::MAX));
    let all = format!("{msgs:?}");
    assert!(!all.contains("ZZPHANTOM"), "{all}");
    assert!(!all.contains("123456"));
    assert!(!all.contains("NIBP"));
}

#[test]
fn several_frames_in_one_chunk_and_garbage_between() {
    let mut one = adt();
    one.extend_from_slice(b"\r\n");
    one.extend_from_slice(&oru());
    one.extend_from_slice(b"GET / HTTP/1.0\r\n");
    one.extend_from_slice(&adt());
    let (msgs, seen) = run(&vec![(true, one, 5)], None);
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[2].message_type.as_deref(), Some("ADT^A01^ADT_A01"));
    assert_eq!(seen, [(Anomaly::Hl7BytesOutsideFrame, None)]);
}

#[test]
fn missing_trailer_is_flagged_and_the_next_frame_parsed() {
    let mut a = adt();
    a.truncate(a.len() - 2); // no 0x1C 0x0D
    a.extend_from_slice(&oru());
    for split in [None, Some(usize::MAX)] {
        let (msgs, seen) = run(&vec![(true, a.clone(), 5)], split);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].framing, Framing::NoTrailer);
        assert_eq!(msgs[1].framing, Framing::Complete);
        assert_eq!(msgs[1].control_id.as_deref(), Some("MSG0002"));
        assert_eq!(seen, [(Anomaly::Hl7FrameWithoutTrailer, None)]);
    }
}

#[test]
fn unfinished_frame_is_written_at_the_end() {
    let mut a = adt();
    a.truncate(40);
    let (msgs, seen) = run(&vec![(true, a, 5)], None);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].framing, Framing::Unfinished);
    assert_eq!(msgs[0].control_id, None, "MSH itself was cut");
    assert!(seen.is_empty());
}

#[test]
fn oversized_message_is_skipped_by_count() {
    let mut c = Conversation::default();
    let mut seen = Vec::new();
    let mut emit = |a, d| seen.push((a, d));
    c.data(
        true,
        b"\x0bMSH|^~\\&|LAB|X|||2024||ORU^R01|BIG1|P|2.3\rOBX|1|ED|PDF||",
        1,
        &mut emit,
    );
    let chunk = vec![b'A'; 1 << 16];
    for _ in 0..=(MAX_MESSAGE >> 16) {
        c.data(true, &chunk, 2, &mut emit);
    }
    c.data(true, b"\r\x1c\x0d", 3, &mut emit);
    c.data(true, &oru(), 4, &mut emit);
    c.finish(5, &mut emit);
    let msgs: Vec<_> = c.take_messages().collect();
    assert_eq!(seen, [(Anomaly::Hl7OversizedMessage, None)]);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].framing, Framing::Oversized);
    assert_eq!(msgs[0].control_id.as_deref(), Some("BIG1"));
    assert!(msgs[0].bytes > MAX_MESSAGE);
    assert_eq!(msgs[1].framing, Framing::Complete);
    assert_eq!(msgs[1].control_id.as_deref(), Some("MSG0002"));
}

#[test]
fn separators_lf_crlf_and_last_segment_without_cr() {
    let custom =
        b"\x0bMSH#$%*!#LAB#MAIN#LIS#HOSP#2024##ORU$R01#X1#P#2.3\rPID#1\rOBX#1\x1c\x0d".to_vec();
    let lf = frame(
        &["MSH|^~\\&|A|B|C|D|2024||ADT^A08|L1|P|2.4", "PID|1", "PV1|1"],
        "\n",
    );
    let crlf = frame(
        &["MSH|^~\\&|A|B|C|D|2024||ADT^A08|L2|P|2.4", "PID|1", "PV1|1"],
        "\r\n",
    );
    let (msgs, seen) = run(
        &vec![(true, custom, 1), (true, lf, 2), (true, crlf, 3)],
        None,
    );
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(msgs[0].message_type.as_deref(), Some("ORU^R01"));
    assert_eq!(msgs[0].version.as_deref(), Some("2.3"));
    // The last segment (OBX) has no CR before the end block: still counted.
    assert_eq!(
        ids(&msgs[0]),
        [("MSH".into(), 1), ("PID".into(), 1), ("OBX".into(), 1)]
    );
    for m in &msgs[1..] {
        assert_eq!(
            ids(m),
            [("MSH".into(), 1), ("PID".into(), 1), ("PV1".into(), 1)]
        );
    }
}

/// Reports are often sent with raw line feeds inside OBX-5 or NTE-3. In a
/// message whose segments end in CR those are part of the field; where the
/// sender ends segments in LF too, a line is counted by id only when it has
/// the shape of one. Either way no text ("Smi", "MRN", "SYN") becomes an id,
/// and an "MSA" line inside a message is not read as its acknowledgement.
/// Byte by byte agrees.
#[test]
fn free_text_lines_are_not_segment_ids() {
    let fields = [
        "MSH|^~\\&|RIS|HOSP|EMR|HOSP|2024||ORU^R01|T1|P|2.5",
        "PID|1||MRN12345||ZZPHANTOM^MEDTAPTEST",
        "OBX|1|TX|R^Report||Report line one\nSmith has diabetes\nMRN12345 follows\nSYNTHETIC TEXT\nhb 9.1",
        "NTE|1||note\nZ99",
        "ZPD|custom",
        "MSA|AA|secret note",
        "PV1",
    ];
    let cr = frame(&fields, "\r");
    let lf = frame(&fields, "\n");
    let steps = vec![(true, cr, 1), (true, lf, 2)];
    for split in [None, Some(usize::MAX)] {
        let (msgs, seen) = run(&steps, split);
        assert!(seen.is_empty(), "{seen:?}");
        let (cr, lf) = (&msgs[0], &msgs[1]);
        let fields: Vec<(String, u32)> = ["MSH", "PID", "OBX", "NTE", "ZPD", "MSA", "PV1"]
            .map(|id| (id.to_string(), 1))
            .into();
        assert_eq!(ids(cr), fields);
        assert_eq!(cr.other_segments, 0);
        // LF ends segments here: "Smith…", "MRN12345…", "SYNTHETIC…" (no
        // field separator after the id-shaped "SYN") and "hb 9.1" are
        // counted as other; a line of exactly three capitals or digits
        // ("Z99") cannot be told from a segment without fields.
        let mut with_z99 = fields.clone();
        with_z99.insert(4, ("Z99".into(), 1));
        assert_eq!(ids(lf), with_z99);
        assert_eq!(lf.other_segments, 4);
        for m in [cr, lf] {
            assert_eq!(
                (m.msa_code.as_deref(), m.msa_control_id.as_deref()),
                (None, None)
            );
        }
        let all = format!("{msgs:?}");
        for needle in ["Smi", "MRN", "SYN", "hb ", "secret"] {
            assert!(!all.contains(needle), "{needle} in {all}");
        }
    }
}

#[test]
fn gap_cuts_the_frame_and_framing_resumes() {
    let mut c = Conversation::default();
    let mut seen = Vec::new();
    let mut emit = |a, d| seen.push((a, d));
    let a = adt();
    c.data(true, &a[..100], 1, &mut emit);
    c.gap(true, 2, &mut emit);
    c.data(true, &a[120..], 3, &mut emit);
    c.data(true, &oru(), 4, &mut emit);
    c.finish(5, &mut emit);
    let msgs: Vec<_> = c.take_messages().collect();
    assert!(
        seen.is_empty(),
        "the lost frame's tail is not 'outside' bytes: {seen:?}"
    );
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].framing, Framing::Gap);
    assert_eq!(msgs[1].control_id.as_deref(), Some("MSG0002"));
}

/// A gap between frames may swallow the next frame's start block: the rest
/// of that frame is a lost frame's tail, not bytes outside any frame.
#[test]
fn gap_between_frames_is_not_bytes_outside_a_frame() {
    let mut c = Conversation::default();
    let mut seen = Vec::new();
    let mut emit = |a, d| seen.push((a, d));
    c.data(true, &adt(), 1, &mut emit);
    c.gap(true, 2, &mut emit);
    c.data(true, &oru()[20..], 3, &mut emit);
    c.data(true, &adt(), 4, &mut emit);
    c.finish(5, &mut emit);
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(
        c.take_messages().count(),
        2,
        "the ORU is lost, both ADTs kept"
    );
}

#[test]
fn batch_frame_holds_several_messages() {
    let batch = frame(
        &[
            "FHS|^~\\&|LAB",
            "BHS|^~\\&|LAB",
            "MSH|^~\\&|LAB|X|||2024||ORU^R01|B1|P|2.3",
            "OBX|1",
            "MSH|^~\\&|LAB|X|||2024||ORU^R01|B2|P|2.3",
            "OBX|1",
            "OBX|2",
            "BTS|2",
            "FTS|1",
        ],
        "\r",
    );
    let (msgs, seen) = run(&vec![(true, batch, 1)], None);
    assert!(seen.is_empty());
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].control_id.as_deref(), Some("B1"));
    assert_eq!(ids(&msgs[1])[1], ("OBX".into(), 2));
}

#[test]
fn malformed_headers_are_flagged() {
    let no_msh = frame(&["PID|1||X", "OBX|1"], "\r");
    let bad_seps = frame(&["MSH|^^\\&|A|B", "PID|1"], "\r");
    let (msgs, seen) = run(&vec![(true, no_msh, 1), (true, bad_seps, 2)], None);
    assert!(msgs.is_empty());
    assert_eq!(
        seen,
        [
            (Anomaly::Hl7MalformedMsh, None),
            (Anomaly::Hl7MalformedMsh, None)
        ]
    );
    // An empty frame (some senders' keep-alive) is not malformed.
    let (msgs, seen) = run(&vec![(true, b"\x0b\x1c\x0d".to_vec(), 1)], None);
    assert!(msgs.is_empty() && seen.is_empty());
}

#[test]
fn unacknowledged_messages_are_bounded_and_all_written() {
    let mut s = Session::new();
    for i in 0..(conversation::MAX_PENDING + 8) {
        let m = frame(
            &[
                &format!("MSH|^~\\&|A|B|C|D|2024||ADT^A08|N{i}|P|2.4"),
                "PID|1",
            ],
            "\r",
        );
        s.push((true, m, i as i64));
    }
    let mut c = Conversation::default();
    let mut out = Vec::new();
    for (d, b, ts) in &s {
        c.data(*d, b, *ts, &mut |_, _| {});
        out.extend(c.take_messages());
    }
    assert_eq!(out.len(), 8, "the oldest leave when the queue is full");
    c.finish(1_000, &mut |_, _| {});
    out.extend(c.take_messages());
    assert_eq!(out.len(), s.len());
    assert!(out.iter().all(|m| m.ack_code.is_none()));
}

#[test]
fn hostile_header_values_are_clipped_and_kept_as_sent() {
    let long = "X".repeat(300);
    let m = frame(
        &[
            &format!("MSH|^~\\&|{long}|\x07\u{1b}[31m|C|D|2024||ADT^A01|Z|P|2.5"),
            "PID|1",
        ],
        "\r",
    );
    let huge = "Y".repeat(10_000);
    let h = frame(
        &[
            &format!("MSH|^~\\&|A|{huge}|C|D|2024||ADT^A01|Z|P|2.5"),
            "PID|1",
        ],
        "\r",
    );
    let bells = "\x07".repeat(message::MAX_FIELD);
    let b = frame(
        &[&format!("MSH|^~\\&|{bells}|B|C|D|2024||ADT^A01|Z|P|2.5")],
        "\r",
    );
    let (msgs, _) = run(&vec![(true, m, 1), (true, h, 2), (true, b, 3)], None);
    assert_eq!(
        msgs[0].sending_app.as_ref().unwrap().len(),
        message::MAX_FIELD
    );
    // Stored as sent: escaping is for output only.
    assert_eq!(msgs[0].sending_facility.as_deref(), Some("\x07\u{1b}[31m"));
    assert_eq!(msgs[0].message_type.as_deref(), Some("ADT^A01"));
    assert_eq!(msgs[2].sending_app.as_deref(), Some(bells.as_str()));
    // An MSH over the kept 4 KiB: its early fields are still read.
    assert_eq!(msgs[1].sending_app.as_deref(), Some("A"));
    assert_eq!(msgs[1].message_type, None, "MSH-9 lies past the kept 4 KiB");
}

/// Issue 8 item 6: control characters and valid U+009B used to be stored as
/// U+FFFD, unlike DICOM and MQTT. What was sent is stored (bounded); invalid
/// UTF-8 is kept reversibly as `\xhh`.
#[test]
fn hl7_control_characters_are_stored_verbatim() {
    let mut m = b"\x0bMSH|^~\\&|\x1b[2J\x07MON|\xc2\x9b31mICU|".to_vec();
    m.extend_from_slice("\u{202e}SIH|\u{2028}HOSP|2024||ORU^R01|\x7f1|P|2.5\r".as_bytes());
    m.extend_from_slice(b"PID|1||\xff\xfeX\r\x1c\x0d");
    let (msgs, anomalies) = run(&vec![(true, m, 1)], None);
    assert!(anomalies.is_empty(), "{anomalies:?}");
    let r = &msgs[0];
    assert_eq!(r.sending_app.as_deref(), Some("\u{1b}[2J\u{7}MON"));
    assert_eq!(r.sending_facility.as_deref(), Some("\u{9b}31mICU"));
    assert_eq!(r.receiving_app.as_deref(), Some("\u{202e}SIH"));
    assert_eq!(r.receiving_facility.as_deref(), Some("\u{2028}HOSP"));
    assert_eq!(r.control_id.as_deref(), Some("\u{7f}1"));
    // Invalid UTF-8: kept as `\xhh`, the bytes recoverable.
    let mut raw = b"\x0bMSH|^~\\&|A\xff|B|C|D|2024||ADT^A01|Z|P|2.5\r".to_vec();
    raw.extend_from_slice(b"\x1c\x0d");
    let (msgs, _) = run(&vec![(true, raw, 2)], None);
    let app = msgs[0].sending_app.as_deref().unwrap();
    assert_eq!(app, "A\\xff");
    assert_eq!(crate::proto::text::unescape(app), b"A\xff");
}

#[test]
fn probe_finds_mllp_hl7_only() {
    let a = adt();
    assert_eq!(probe(&a), Some(true));
    assert_eq!(probe(&a[..6]), None);
    assert_eq!(probe(b""), None);
    assert_eq!(probe(b"\x0bMSH#$%*!#LAB"), Some(true));
    assert_eq!(probe(b"\x0bBHS|^~\\&|"), Some(true));
    assert_eq!(probe(b"MSH|^~\\&|A"), Some(false), "no start block");
    assert_eq!(probe(b"\x0bPID|1"), Some(false));
    assert_eq!(probe(b"\x0bMSH a"), Some(false));
    assert_eq!(probe(b"\x16\x03\x01\x00"), Some(false));
    assert_eq!(
        probe(b"\x0bMSH|^~\\&#@"),
        Some(false),
        "six encoding characters"
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(chunks in proptest::collection::vec(
        (any::<bool>(), any::<bool>(), proptest::collection::vec(
            prop_oneof![Just(0x0bu8), Just(0x1c), Just(b'\r'), Just(b'|'), Just(b'M'), Just(b'S'), Just(b'H'), any::<u8>()], 0..200)),
        0..20)) {
        let mut c = Conversation::default();
        for (i, (to_server, gap, bytes)) in chunks.iter().enumerate() {
            if *gap {
                c.gap(*to_server, i as i64, &mut |_, _| {});
            } else {
                c.data(*to_server, bytes, i as i64, &mut |_, _| {});
            }
            prop_assert!(c.take_messages().count() <= bytes.len());
        }
        c.finish(0, &mut |_, _| {});
        for m in c.take_messages() {
            prop_assert!(m.segments.len() <= conversation::MAX_SEGMENT_IDS);
        }
    }

    #[test]
    fn any_split_of_a_real_session_gives_the_same_result(
        cuts in proptest::collection::vec(0usize..400, 4)
    ) {
        let whole = run(&session(), None);
        let s = session();
        let mut c = Conversation::default();
        let mut seen = Vec::new();
        let mut msgs = Vec::new();
        for ((to_server, bytes, ts), cut) in s.iter().zip(&cuts) {
            let cut = (*cut).min(bytes.len());
            c.data(*to_server, &bytes[..cut], *ts, &mut |a, d| seen.push((a, d)));
            c.data(*to_server, &bytes[cut..], *ts, &mut |a, d| seen.push((a, d)));
            msgs.extend(c.take_messages());
        }
        c.finish(99_000, &mut |a, d| seen.push((a, d)));
        msgs.extend(c.take_messages());
        prop_assert_eq!((msgs, seen), whole);
    }
}
