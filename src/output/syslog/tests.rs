#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use super::*;
use crate::alert::{AlertRecord, FlowTuple, Party, Rule};
use crate::event::AnomalyRecord;
use crate::kinds::{Anomaly, AppProto, Severity};
use crate::net::Mac;
use crate::proto::text::{kept, unescape};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;

fn opts() -> SyslogOptions {
    SyslogOptions {
        target: "udp://127.0.0.1:9".parse().unwrap(),
        framing: Framing::OctetCounted,
        enterprise: DEFAULT_ENTERPRISE,
        anomalies: false,
        facility: DEFAULT_FACILITY,
        hostname: "sensor-a.ward3".into(),
        sensor_name: "ward3".into(),
    }
}

/// 2026-11-28T13:39:08.123456Z
const T: i64 = 1_795_873_148_123_456;

fn alert() -> AlertRecord {
    AlertRecord {
        alert_id: 42,
        first_seen: T,
        last_seen: T,
        count: 1,
        rule: Rule::PolicyViolation,
        severity: Severity::High,
        message: "outside the allow-list: CT01 initiates tcp/104 to 10.20.9.9".into(),
        detail: "initiates tcp/104".into(),
        device: Party {
            mac: Some(Mac([0x00, 0x18, 0x65, 0x14, 0x01, 0x21])),
            ip: Some("10.20.1.21".parse().unwrap()),
            class: Some("ct".into()),
            grade: Some(3),
            name: Some("CT01".into()),
        },
        peer: Party {
            ip: Some("10.20.9.9".parse().unwrap()),
            ..Party::default()
        },
        flow: Some(FlowTuple {
            flow_id: 7,
            proto: 6,
            src: ("10.20.1.21".parse().unwrap(), 40000),
            dest: ("10.20.9.9".parse().unwrap(), 104),
            app_proto: Some(AppProto::Dicom),
        }),
        evidence: Default::default(),
        observation: false,
    }
}

fn formatted(a: &AlertRecord, o: &SyslogOptions) -> String {
    let mut s = String::new();
    format_alert(a, o, &mut s);
    s
}

// ---- a strict RFC 5424 reader, for the tests -------------------------------

/// One message as RFC 5424 §6's ABNF reads it, strictly.
#[derive(Debug)]
struct Parsed {
    pri: u16,
    timestamp: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    sd_id: String,
    /// Values after §6.3.3 unescaping, in order.
    params: Vec<(String, String)>,
    bom: bool,
    msg: String,
}

impl Parsed {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// PRINTUSASCII (§6), 1..=max of them, up to the next SP.
fn token<'a>(s: &mut &'a str, what: &str, max: usize) -> Result<&'a str, String> {
    let end = s.find(' ').ok_or(format!("{what}: no SP after it"))?;
    let t = &s[..end];
    if t.is_empty() || t.len() > max || !t.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(format!("{what}: {t:?}"));
    }
    *s = &s[end + 1..];
    Ok(t)
}

/// SD-NAME (§6.3): 1..=32 PRINTUSASCII except `=`, SP, `]`, `"`.
fn sd_name<'a>(s: &mut &'a str) -> Result<&'a str, String> {
    let end = s
        .find(|c: char| !c.is_ascii_graphic() || matches!(c, '=' | ']' | '"'))
        .unwrap_or(s.len());
    let n = &s[..end];
    if n.is_empty() || n.len() > 32 {
        return Err(format!("SD-NAME {n:?}"));
    }
    *s = &s[end..];
    Ok(n)
}

fn strict(m: &str) -> Result<Parsed, String> {
    let mut s = m;
    let rest = s.strip_prefix('<').ok_or("no <")?;
    let close = rest.find('>').ok_or("no >")?;
    let pri_text = &rest[..close];
    if pri_text.is_empty() || pri_text.len() > 3 || !pri_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("PRI {pri_text:?}"));
    }
    let pri: u16 = pri_text.parse().map_err(|_| "PRI")?;
    if pri > 191 || (pri_text.len() > 1 && pri_text.starts_with('0')) {
        return Err(format!("PRI {pri}"));
    }
    s = rest[close + 1..].strip_prefix("1 ").ok_or("VERSION")?;
    let timestamp = token(&mut s, "TIMESTAMP", 32)?.to_string();
    let hostname = token(&mut s, "HOSTNAME", 255)?.to_string();
    let app_name = token(&mut s, "APP-NAME", 48)?.to_string();
    let procid = token(&mut s, "PROCID", 128)?.to_string();
    let msgid = token(&mut s, "MSGID", 32)?.to_string();
    // One SD-ELEMENT: that is all medtap writes.
    s = s.strip_prefix('[').ok_or("no SD-ELEMENT")?;
    let sd_id = sd_name(&mut s)?.to_string();
    let mut params = Vec::new();
    loop {
        if let Some(r) = s.strip_prefix(']') {
            s = r;
            break;
        }
        s = s
            .strip_prefix(' ')
            .ok_or(format!("SP before param: {s:?}"))?;
        let name = sd_name(&mut s)?.to_string();
        s = s.strip_prefix("=\"").ok_or("=\"")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next().ok_or("unterminated PARAM-VALUE")?;
            match c {
                '\\' => match chars.clone().next() {
                    Some((_, e @ ('"' | '\\' | ']'))) => {
                        value.push(e);
                        chars.next();
                    }
                    // §6.3.3: any other backslash is itself; medtap never
                    // writes one.
                    other => return Err(format!("invalid escape \\{other:?} in {name}")),
                },
                '"' => break i,
                ']' => return Err(format!("unescaped ] in {name}")),
                c => value.push(c),
            }
        };
        s = &s[end + 1..];
        params.push((name, value));
    }
    let (bom, msg) = match s.strip_prefix(' ') {
        None if s.is_empty() => (false, ""),
        None => return Err(format!("no SP before MSG: {s:?}")),
        Some(r) => match r.strip_prefix('\u{feff}') {
            Some(r) => (true, r),
            None => (false, r),
        },
    };
    Ok(Parsed {
        pri,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        sd_id,
        params,
        bom,
        msg: msg.to_string(),
    })
}

/// Checks `m` with the strict reader and with syslog_rfc5424 (the two
/// must agree on every value), and that no character that must be
/// escaped is on the wire.
fn check(m: &str) -> Parsed {
    assert!(m.len() <= MAX_MESSAGE, "{} bytes", m.len());
    for c in m.chars() {
        assert!(
            !format::is_unsafe(c) || c == '\u{feff}',
            "{c:?} raw in {m:?}"
        );
    }
    let p = strict(m).unwrap_or_else(|e| panic!("{e}: {m:?}"));
    assert!(m.matches('\u{feff}').count() <= 1);
    let other = syslog_rfc5424::parse_message(m).unwrap_or_else(|e| panic!("{e}: {m:?}"));
    let theirs = other.sd.find_sdid(&p.sd_id).expect("SD-ID");
    let ours: BTreeMap<_, _> = p.params.iter().cloned().collect();
    assert_eq!(&ours, theirs, "{m:?}");
    assert_eq!(other.msgid.as_deref(), Some(p.msgid.as_str()));
    assert_eq!(other.hostname.as_deref().unwrap_or("-"), p.hostname);
    p
}

// ---- the format -------------------------------------------------------------

#[test]
fn a_known_alert_is_formatted_exactly() {
    let m = formatted(&alert(), &opts());
    let pid = std::process::id();
    // local0 (16) * 8 + critical (2) = 130.
    let want = format!(
        "<130>1 2026-11-28T13:39:08.123456Z sensor-a.ward3 medtap {pid} POLICY_VIOLATION \
         [medtap@32473 alert_id=\"42\" rule=\"POLICY_VIOLATION\" severity=\"high\" \
         clause=\"A.3 b)\" device=\"CT01\" device_mac=\"00:18:65:14:01:21\" \
         device_ip=\"10.20.1.21\" class=\"ct\" grade=\"3\" peer=\"10.20.9.9\" \
         peer_ip=\"10.20.9.9\" detail=\"initiates tcp/104\" flow_id=\"7\" app_proto=\"dicom\" \
         community_id=\"1:{}\" sensor=\"ward3\"] \
         outside the allow-list: CT01 initiates tcp/104 to 10.20.9.9",
        community()
    );
    assert_eq!(m, want);
    let p = check(&m);
    assert_eq!((p.pri, p.app_name.as_str()), (130, "medtap"));
    assert_eq!(p.procid, pid.to_string());
    assert!(!p.bom, "ASCII MSG: no BOM");
    let other = syslog_rfc5424::parse_message(&m).unwrap();
    assert_eq!(other.timestamp, Some(T / 1_000_000));
    assert_eq!(other.timestamp_nanos, Some(123_456_000));
}

/// The flow's Community ID as the database computes it.
fn community() -> String {
    let id = community_id::calculate_community_id(
        0,
        "10.20.1.21".parse().unwrap(),
        "10.20.9.9".parse().unwrap(),
        Some(40000),
        Some(104),
        6,
        Default::default(),
    )
    .unwrap();
    id.strip_prefix("1:").unwrap().to_string()
}

#[test]
fn severity_and_facility_make_the_pri() {
    let mut o = opts();
    let mut a = alert();
    for (s, code) in [
        (Severity::High, 2),
        (Severity::Medium, 4),
        (Severity::Low, 5),
        (Severity::Info, 6),
    ] {
        a.severity = s;
        o.facility = 4; // auth
        assert_eq!(check(&formatted(&a, &o)).pri, 32 + code);
        o.facility = 99; // out of range: written as local7's neighbour 23
        assert_eq!(check(&formatted(&a, &o)).pri, 23 * 8 + code);
    }
}

#[test]
fn parties_without_names_fall_back_to_mac_then_address_and_missing_values_are_left_out() {
    let mut a = alert();
    a.device.name = None;
    a.peer = Party::default();
    a.flow = None;
    a.detail.clear();
    let p = check(&formatted(&a, &opts()));
    assert_eq!(p.param("device"), Some("00:18:65:14:01:21"));
    a.device.mac = None;
    let p = check(&formatted(&a, &opts()));
    assert_eq!(p.param("device"), Some("10.20.1.21"));
    for absent in [
        "peer",
        "peer_ip",
        "peer_mac",
        "peer_class",
        "detail",
        "flow_id",
        "community_id",
        "device_mac",
    ] {
        assert_eq!(p.param(absent), None, "{absent}");
    }
    // Never an empty value.
    assert!(p.params.iter().all(|(_, v)| !v.is_empty()), "{p:?}");
}

#[test]
fn sd_escapes_quote_backslash_and_bracket_and_msg_does_not() {
    let mut a = alert();
    a.device.name = Some(r#"a"b\c]d"#.into());
    a.message = r#"x"y\z]w"#.into();
    let m = formatted(&a, &opts());
    assert!(m.contains(r#" device="a\"b\\c\]d" "#), "{m}");
    assert!(m.ends_with(r#"] x"y\z]w"#), "{m}");
    let p = check(&m);
    assert_eq!(p.param("device"), Some(r#"a"b\c]d"#));
    assert_eq!(p.msg, r#"x"y\z]w"#);
}

#[test]
fn control_bidi_and_separator_characters_are_written_as_kept_text_escapes() {
    let hostile = "\u{1b}[31mRED\r\nX\0\u{9b}\u{7f}\u{202e}gpj.exe\u{2028}\u{2029}\t";
    let escaped = "\\x1b[31mRED\\x0d\\x0aX\\x00\\xc2\\x9b\\x7f\\xe2\\x80\\xaegpj.exe\
                   \\xe2\\x80\\xa8\\xe2\\x80\\xa9\\x09";
    let mut a = alert();
    a.device.name = Some(hostile.into());
    a.message = hostile.into();
    a.detail = hostile.into();
    let m = formatted(&a, &opts());
    // In a value, the escape's backslash is escaped too (§6.3.3).
    assert!(
        m.contains(&format!(" device=\"{}\"", escaped.replace('\\', "\\\\"))),
        "{m}"
    );
    assert!(m.ends_with(&format!("] {escaped}")), "{m}");
    let p = check(&m);
    for v in [
        p.param("device").unwrap(),
        p.param("detail").unwrap(),
        &p.msg,
    ] {
        assert_eq!(v, escaped);
        assert_eq!(unescape(v), hostile.as_bytes());
    }
    assert!(!p.bom, "every non-ASCII character was escaped: no BOM");
}

#[test]
fn invalid_bytes_stay_kept_text_and_round_trip() {
    // What medtap stores for an AE title with invalid UTF-8 and a
    // backslash that reads as an escape: `\xff`, `\x5cx41`.
    let raw = b"AE\xff\xfe\\x41\xe2\x80";
    let stored = kept(raw, 64);
    let mut a = alert();
    a.device.name = Some(stored.clone());
    a.message = format!("title {stored}");
    let p = check(&formatted(&a, &opts()));
    assert_eq!(p.param("device"), Some(stored.as_str()));
    assert_eq!(unescape(p.param("device").unwrap()), raw);
    assert_eq!(p.msg, format!("title {stored}"));
}

#[test]
fn non_ascii_text_gets_the_bom_and_stays_itself() {
    let mut a = alert();
    a.device.name = Some("放射科 CT 一号".into());
    a.message = "违反策略：放射科 CT 一号".into();
    let m = formatted(&a, &opts());
    assert!(m.contains("] \u{feff}违反策略"), "{m}");
    let p = check(&m);
    assert!(p.bom);
    assert_eq!(p.msg, "违反策略：放射科 CT 一号");
    assert_eq!(p.param("device"), Some("放射科 CT 一号"));
}

#[test]
fn timestamps_are_utc_microseconds_or_nil_out_of_range() {
    let mut a = alert();
    a.first_seen = 0;
    assert_eq!(
        check(&formatted(&a, &opts())).timestamp,
        "1970-01-01T00:00:00.000000Z"
    );
    a.first_seen = 1;
    assert_eq!(
        check(&formatted(&a, &opts())).timestamp,
        "1970-01-01T00:00:00.000001Z"
    );
    // Before year 0 or after 9999 (a hostile capture header): NILVALUE.
    for t in [
        i64::MIN,
        i64::MAX,
        253_402_300_800_000_000,
        -62_167_219_200_000_001,
    ] {
        a.first_seen = t;
        assert_eq!(check(&formatted(&a, &opts())).timestamp, "-", "{t}");
    }
    a.first_seen = 253_402_300_799_999_999;
    assert_eq!(
        check(&formatted(&a, &opts())).timestamp,
        "9999-12-31T23:59:59.999999Z"
    );
}

#[test]
fn the_hostname_is_printable_ascii_at_most_255_bytes() {
    let mut o = opts();
    o.hostname = "ward 3\u{1b}]ü".into();
    assert_eq!(check(&formatted(&alert(), &o)).hostname, "ward_3_]_");
    o.hostname = "h".repeat(300);
    assert_eq!(check(&formatted(&alert(), &o)).hostname, "h".repeat(255));
    o.hostname.clear();
    assert_eq!(check(&formatted(&alert(), &o)).hostname, "-");
}

#[test]
fn values_and_the_message_are_bounded_and_cut_at_whole_escapes() {
    let mut a = alert();
    a.device.name = Some("n".repeat(5000));
    a.detail = "\u{1b}".repeat(1000); // each 5 bytes on the wire
    a.message = "m".repeat(20_000);
    let m = formatted(&a, &opts());
    assert!(m.len() <= MAX_MESSAGE, "{}", m.len());
    let p = check(&m);
    let device = p.param("device").unwrap();
    assert!(
        device.ends_with("...") && device.len() == MAX_VALUE,
        "{}",
        device.len()
    );
    // On the wire: `\\x1b` (5 bytes) per character, cut before one.
    let detail = p.param("detail").unwrap();
    assert!(detail.ends_with("\\x1b..."), "{detail}");
    assert_eq!(
        unescape(detail.strip_suffix("...").unwrap()),
        vec![0x1b; (MAX_VALUE - 3) / 5]
    );
    assert!(p.msg.ends_with("...") && p.msg.starts_with("mmm"));
    assert_eq!(m.len(), MAX_MESSAGE, "the message fills its bound");
}

#[test]
fn hostile_strings_at_every_bound_still_leave_a_valid_message_with_its_msg() {
    let mut o = opts();
    o.hostname = "h".repeat(1000);
    o.sensor_name = "\u{202e}".repeat(5000);
    let mut a = alert();
    let huge = "]\"\\\n".repeat(3000);
    a.device.name = Some(huge.clone());
    a.device.class = Some(huge.clone());
    a.peer.name = Some(huge.clone());
    a.peer.class = Some(huge.clone());
    a.peer.mac = Some(Mac([2, 0, 0, 0, 0, 1]));
    a.detail = huge.clone();
    a.message = huge;
    let m = formatted(&a, &o);
    let p = check(&m);
    assert!(p.msg.len() >= 200, "MSG keeps its room: {}", p.msg.len());
    assert_eq!(p.param("alert_id"), Some("42"));
}

#[test]
fn anomalies_have_their_own_msgid_and_parameters() {
    let mut o = opts();
    o.anomalies = true;
    let r = AnomalyRecord {
        ts: T,
        flow: crate::alert::FlowTuple::test_tuple(99),
        anomaly: Anomaly::Hl7NegativeAck,
        detail: Some("AE"),
    };
    let mut m = String::new();
    format_anomaly(&r, &o, &mut m);
    let pid = std::process::id();
    assert_eq!(
        m,
        format!(
            "<133>1 2026-11-28T13:39:08.123456Z sensor-a.ward3 medtap {pid} ANOMALY \
             [medtap@32473 anomaly=\"hl7.negative_ack\" detail=\"AE\" flow_id=\"99\" \
             src_ip=\"10.0.0.1\" src_port=\"40000\" dest_ip=\"10.0.0.2\" dest_port=\"104\" \
             proto=\"6\" sensor=\"ward3\"] protocol anomaly hl7.negative_ack (AE) on flow 99 \
             10.0.0.1:40000 -> 10.0.0.2:104"
        )
    );
    check(&m);
    let r = AnomalyRecord { detail: None, ..r };
    m.clear();
    format_anomaly(&r, &o, &mut m);
    let p = check(&m);
    assert_eq!(p.param("detail"), None);
    assert_eq!(
        p.msg,
        "protocol anomaly hl7.negative_ack on flow 99 10.0.0.1:40000 -> 10.0.0.2:104"
    );
}

#[test]
fn the_enterprise_number_is_the_sd_ids() {
    let mut o = opts();
    o.enterprise = 4_294_967_295;
    assert_eq!(check(&formatted(&alert(), &o)).sd_id, "medtap@4294967295");
}

#[test]
fn targets_parse_and_bad_ones_say_why() {
    assert_eq!(
        "udp://10.0.0.5:514".parse::<Target>(),
        Ok(Target::Udp("10.0.0.5:514".into()))
    );
    assert_eq!(
        "tcp://siem.hospital.example:6514".parse::<Target>(),
        Ok(Target::Tcp("siem.hospital.example:6514".into()))
    );
    assert_eq!(
        "udp://[::1]:514".parse::<Target>(),
        Ok(Target::Udp("[::1]:514".into()))
    );
    assert_eq!(
        "unix:/dev/log".parse::<Target>(),
        Ok(Target::Unix("/dev/log".into()))
    );
    for (bad, why) in [
        ("udp://10.0.0.5", "no port"),
        ("udp://10.0.0.5:", "port"),
        ("tcp://10.0.0.5:0", "port"),
        ("tcp://10.0.0.5:65536", "port"),
        ("tcp://:514", "no host"),
        ("udp://::1:514", "brackets"),
        ("udp://[::1:514", "without ']'"),
        ("udp://[10.0.0.1]:514", "IPv6"),
        ("tcp://a b:514", "host name"),
        ("tcp://10.0.0.5:514/", "port"),
        ("unix:", "path"),
        ("syslog://10.0.0.5:514", "scheme"),
        ("10.0.0.5:514", "scheme"),
        ("", "scheme"),
    ] {
        let e = bad.parse::<Target>().unwrap_err();
        assert!(
            e.contains(why) && e.contains("udp://HOST:PORT"),
            "{bad}: {e}"
        );
    }
    for t in ["udp://[::1]:514", "tcp://h:1", "unix:/run/x.sock"] {
        assert_eq!(t.parse::<Target>().unwrap().to_string(), t);
    }
}

#[test]
fn framings_and_facilities_parse() {
    assert_eq!("octet-counted".parse(), Ok(Framing::OctetCounted));
    assert_eq!("newline".parse(), Ok(Framing::Newline));
    assert_eq!(Framing::default(), Framing::OctetCounted);
    for bad in ["", "octet", "lf", "Newline"] {
        let e = bad.parse::<Framing>().unwrap_err();
        assert!(e.contains("octet-counted"), "{e}");
    }
    assert_eq!(parse_facility("local0"), Ok(16));
    assert_eq!(parse_facility("local7"), Ok(23));
    assert_eq!(parse_facility("auth"), Ok(4));
    assert_eq!(parse_facility("23"), Ok(23));
    assert!(parse_facility("24").unwrap_err().contains("0 to 23"));
    assert!(parse_facility("local8").is_err());
    let o = SyslogOptions::new(Target::Unix("/dev/log".into()));
    assert_eq!((o.facility, o.enterprise, o.anomalies), (16, 32473, false));
    assert!(!o.hostname.is_empty() && o.sensor_name == o.hostname);
}

// ---- the sink: first writes only, over a real socket ---------------------------

/// A UDP "server" on loopback and a sink sending to it.
fn udp_pair(anomalies: bool) -> (UdpSocket, SyslogSink, Arc<SinkCounters>) {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut o = opts();
    o.target = Target::Udp(server.local_addr().unwrap().to_string());
    o.anomalies = anomalies;
    let counters = Arc::new(SinkCounters::default());
    let sink = SyslogSink::new(o, counters.clone());
    (server, sink, counters)
}

/// Every datagram waiting on `server`.
fn received(server: &UdpSocket) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = server.recv(&mut buf) {
        out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    out
}

#[test]
fn only_the_first_write_of_an_alert_is_sent_and_observations_never() {
    let (server, mut sink, counters) = udp_pair(false);
    let a = alert();
    sink.event(Event::Alert(Box::new(a.clone())));
    // The same alert grown: written again by the raiser, not sent again.
    let mut grown = a.clone();
    grown.count = 5;
    grown.message.push_str(" (and more)");
    sink.event(Event::Alert(Box::new(grown)));
    sink.event(Event::AlertSeen(crate::alert::AlertSeen {
        alert_id: 42,
        count: 9,
        last_seen: T + 1,
    }));
    let mut learning = a.clone();
    learning.alert_id = 43;
    learning.observation = true;
    sink.event(Event::Alert(Box::new(learning)));
    // Anomalies are off by default.
    sink.event(Event::Anomaly(AnomalyRecord {
        ts: T,
        flow: crate::alert::FlowTuple::test_tuple(1),
        anomaly: Anomaly::MqttInvalidQos,
        detail: None,
    }));
    let mut next = a;
    next.alert_id = 44;
    sink.event(Event::Alert(Box::new(next)));
    sink.finish();
    let got = received(&server);
    let ids: Vec<_> = got
        .iter()
        .map(|m| check(m).param("alert_id").unwrap().to_string())
        .collect();
    assert_eq!(ids, ["42", "44"]);
    assert!(!got[0].contains("and more"), "the first write's text");
    assert_eq!(counters.snapshot(), [2, 0, 0]);
}

#[test]
fn anomalies_are_sent_when_asked() {
    let (server, mut sink, counters) = udp_pair(true);
    sink.event(Event::Anomaly(AnomalyRecord {
        ts: T,
        flow: crate::alert::FlowTuple::test_tuple(3),
        anomaly: Anomaly::MqttWildcardSubscription,
        detail: None,
    }));
    let got = received(&server);
    assert_eq!(got.len(), 1);
    let p = check(&got[0]);
    assert_eq!(p.msgid, "ANOMALY");
    assert_eq!(p.param("anomaly"), Some("mqtt.wildcard_subscription"));
    assert_eq!(counters.snapshot(), [1, 0, 0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes in an alert's strings (kept as medtap keeps them) give a
    /// message that parses strictly, has no raw control character, and
    /// whose values and MSG give back the bytes (or a prefix, cut with
    /// `...`).
    #[test]
    fn any_strings_give_a_valid_message_whose_values_round_trip(
        name in proptest::collection::vec(any::<u8>(), 0..300),
        class in proptest::collection::vec(any::<u8>(), 0..40),
        detail in proptest::collection::vec(any::<u8>(), 0..1500),
        message in proptest::collection::vec(any::<u8>(), 0..9000),
        sensor in ".{0,40}",
        host in ".{0,300}",
        text in "[\\\\\"\\]\n\r\u{1b}\u{202e}\u{2028}a中 ]{0,64}",
        t in any::<i64>(),
    ) {
        let mut o = opts();
        o.sensor_name = sensor.clone();
        o.hostname = host;
        let mut a = alert();
        a.first_seen = t;
        let name = kept(&name, usize::MAX);
        a.device.name = Some(name.clone());
        a.device.class = Some(kept(&class, usize::MAX));
        a.detail = kept(&detail, usize::MAX);
        a.message = format!("{}{text}", kept(&message, usize::MAX));
        a.peer.name = Some(text.clone());
        let m = formatted(&a, &o);
        let p = check(&m);
        let back = |v: &str, original: &str| {
            let whole = unescape(original);
            match v.strip_suffix("...") {
                Some(cut) if unescape(v) != whole => {
                    let got = unescape(cut);
                    prop_assert!(whole.starts_with(&got), "{:?} !< {:?}", got, whole);
                }
                _ => prop_assert_eq!(unescape(v), whole),
            }
            Ok(())
        };
        // An empty value is left out; an empty name shows the MAC or address.
        if !name.is_empty() {
            back(p.param("device").unwrap(), &name)?;
        }
        if !text.is_empty() {
            back(p.param("peer").unwrap(), &text)?;
        }
        back(p.param("sensor").unwrap_or(""), &sensor)?;
        back(p.param("detail").unwrap_or(""), &a.detail)?;
        back(p.param("class").unwrap_or(""), a.device.class.as_deref().unwrap())?;
        back(&p.msg, &a.message)?;
        prop_assert!(p.params.iter().all(|(_, v)| !v.is_empty()));
    }
}

// ---- the link: framing, socket kinds, failures -------------------------------

/// A sink to `target`, counting in the returned counters.
fn sink_to(target: Target, framing: Framing) -> (SyslogSink, Arc<SinkCounters>) {
    let mut o = opts();
    o.target = target;
    o.framing = framing;
    let counters = Arc::new(SinkCounters::default());
    (SyslogSink::new(o, counters.clone()), counters)
}

/// Alert `id`, as the raiser would first write it.
fn alert_id(id: u64) -> Event {
    let mut a = alert();
    a.alert_id = id;
    a.message = format!("alert {id}\nsecond line");
    Event::Alert(Box::new(a))
}

/// The message text of alert `id`.
fn text_of(id: u64) -> String {
    let Event::Alert(a) = alert_id(id) else {
        unreachable!()
    };
    formatted(&a, &opts())
}

#[test]
fn tcp_frames_by_octet_count_or_by_lf() {
    use std::io::Read;
    for framing in [Framing::OctetCounted, Framing::Newline] {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target::Tcp(server.local_addr().unwrap().to_string());
        let (mut sink, counters) = sink_to(target, framing);
        sink.event(alert_id(1));
        sink.event(alert_id(2));
        sink.finish();
        let (mut conn, _) = server.accept().unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        let want = match framing {
            Framing::OctetCounted => [text_of(1), text_of(2)]
                .iter()
                .map(|m| format!("{} {m}", m.len()))
                .collect::<String>(),
            Framing::Newline => format!("{}\n{}\n", text_of(1), text_of(2)),
        };
        assert_eq!(got, want, "{framing}");
        assert_eq!(
            got.matches('\n').count(),
            usize::from(framing == Framing::Newline) * 2
        );
        assert_eq!(counters.snapshot(), [2, 0, 0]);
    }
}

#[test]
fn a_unix_datagram_socket_gets_one_message_per_datagram() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let (mut sink, counters) = sink_to(Target::Unix(path), Framing::OctetCounted);
    sink.event(alert_id(1));
    sink.event(alert_id(2));
    let mut buf = vec![0u8; 65536];
    for id in [1, 2] {
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), text_of(id));
    }
    assert_eq!(counters.snapshot(), [2, 0, 0]);
}

#[test]
fn a_unix_stream_socket_is_used_framed_when_the_path_is_one() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream.sock");
    let server = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (mut sink, counters) = sink_to(Target::Unix(path), Framing::Newline);
    sink.event(alert_id(1));
    sink.finish();
    let (mut conn, _) = server.accept().unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, format!("{}\n", text_of(1)));
    assert_eq!(counters.snapshot(), [1, 0, 0]);
}

#[test]
fn a_missing_server_fails_fast_backs_off_and_is_reached_when_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.sock");
    let (mut sink, counters) = sink_to(Target::Unix(path.clone()), Framing::OctetCounted);
    let start = std::time::Instant::now();
    // The first fails connecting, the next 99 without a try (backing off).
    for id in 1..=100 {
        sink.event(alert_id(id));
    }
    // No wait per message (a timeout each would be 25 s).
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(counters.snapshot(), [0, 0, 100]);
    // The server comes; the backoff (0.5 s) ends; the next message goes.
    let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    std::thread::sleep(link::FIRST_BACKOFF + Duration::from_millis(50));
    sink.event(alert_id(101));
    let mut buf = vec![0u8; 65536];
    let n = server.recv(&mut buf).unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), text_of(101));
    assert_eq!(counters.snapshot(), [1, 0, 100]);
}

#[test]
fn a_tcp_server_that_closed_is_noticed_before_writing_and_reconnected() {
    use std::io::Read;
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let (mut sink, counters) = sink_to(Target::Tcp(addr.to_string()), Framing::OctetCounted);
    sink.event(alert_id(1));
    let (mut first, _) = server.accept().unwrap();
    let mut buf = vec![0u8; 4096];
    let n = first.read(&mut buf).unwrap();
    assert!(n > 0);
    // The server ends this connection (as rsyslog does when stopped).
    drop(first);
    std::thread::sleep(Duration::from_millis(50));
    // Not written into the closed connection (TCP would take it and lose
    // it): counted as failed; the backoff then holds the next ones.
    sink.event(alert_id(2));
    assert_eq!(counters.snapshot(), [1, 0, 1]);
    std::thread::sleep(link::FIRST_BACKOFF + Duration::from_millis(50));
    sink.event(alert_id(3));
    sink.finish();
    let (mut second, _) = server.accept().unwrap();
    let mut got = String::new();
    second.read_to_string(&mut got).unwrap();
    let m = text_of(3);
    assert_eq!(got, format!("{} {m}", m.len()));
    assert_eq!(counters.snapshot(), [2, 0, 1]);
}

#[test]
fn a_unix_socket_nobody_reads_costs_messages_not_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.sock");
    // Bound, never read: its queue (net.unix.max_dgram_qlen) fills.
    let _server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let (mut sink, counters) = sink_to(Target::Unix(path), Framing::OctetCounted);
    let start = std::time::Instant::now();
    for id in 1..=2000 {
        sink.event(alert_id(id));
    }
    let took = start.elapsed();
    let [sent, dropped, failed] = counters.snapshot();
    assert_eq!((sent + failed, dropped), (2000, 0));
    assert!(sent > 0 && failed > 0, "sent {sent}, failed {failed}");
    // One write waits its timeout; the backoff then fails the rest at once.
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn udp_to_a_closed_port_fails_once_the_kernel_reports_it() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut sink, counters) = sink_to(Target::Udp(format!("127.0.0.1:{port}")), Framing::Newline);
    // UDP cannot know the first is lost: the ICMP port unreachable it
    // causes makes the next send fail (ECONNREFUSED).
    sink.event(alert_id(1));
    std::thread::sleep(Duration::from_millis(50));
    sink.event(alert_id(2));
    assert_eq!(counters.snapshot(), [1, 0, 1]);
}

/// A log line buffer for a test's tracing subscriber.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn failures_are_logged_at_powers_of_two_and_the_reconnection_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.sock");
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut link = link::Link::new(Target::Unix(path.clone()), Framing::OctetCounted);
        for _ in 0..100 {
            assert!(!link.send("<134>1 - - - - - -"));
        }
        let _server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        std::thread::sleep(link::FIRST_BACKOFF + Duration::from_millis(50));
        for _ in 0..3 {
            assert!(link.send("<134>1 - - - - - -"));
        }
        assert_eq!(link.totals(), (3, 100));
    });
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warned: Vec<_> = text.lines().filter(|l| l.contains("WARN")).collect();
    // The 1st, 2nd, 4th, ... 64th of 100.
    assert_eq!(warned.len(), 7, "{text}");
    assert!(
        warned[0].contains("failed=1") && warned[6].contains("failed=64"),
        "{text}"
    );
    assert_eq!(text.matches("connected again").count(), 1, "{text}");
}
