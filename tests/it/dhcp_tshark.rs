//! medtap's DHCPv4 messages equal tshark's dissection of the same frames:
//! op, message type, xid, client MAC(s), ciaddr/yiaddr, requested IP,
//! server id, host name, vendor class, FQDN, domain name, the option order,
//! the parameter request list and tshark's "malformed" (ground truth: the
//! `.tshark.tsv` next to each capture, tshark 4.0; columns in the corpus
//! README); and, from tshark run now when it is installed, the lease time,
//! client identifier, user class and relay agent circuit/remote IDs, which
//! the TSVs lack.
//!
//! medtap's side is [`medtap_messages`]: what `medtap analyze` of the
//! capture stored in its database (`dhcp_messages`, and the
//! `dhcp.malformed` anomalies of datagrams that are not messages), one
//! [`Row`] per datagram on UDP 67/68.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use medtap::capture::FileSource;
use medtap::decode::{decode, Network, Transport};
use medtap::net::Mac;
use medtap::proto::dhcp::{self, MessageRecord, Region};
use medtap::proto::text;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One datagram on the DHCP ports, as medtap records it, in tshark's
/// formats (lists joined with " | ", hex in lower case, empty = absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Row {
    /// Capture time (µs): pairs medtap's rows with tshark's frames.
    ts: i64,
    /// The `dhcp.malformed` reason when the datagram was not a message;
    /// every other field is then empty.
    fatal: Option<String>,
    op: String,
    message_type: String,
    xid: String,
    /// `chaddr`'s MAC, then the MAC of an Ethernet client identifier (as
    /// tshark lists `dhcp.hw.mac_addr`).
    macs: String,
    ciaddr: String,
    yiaddr: String,
    requested_ip: String,
    server_id: String,
    hostname: String,
    vendor_class: String,
    fqdn: String,
    domain_name: String,
    option_order: String,
    param_list: String,
    lease: String,
    client_id: String,
    user_class: String,
    circuit_id: String,
    remote_id: String,
    issues: Vec<String>,
}

fn or_empty<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A relay ID as hex bytes: medtap keeps printable ones as text.
fn relay_hex(kept: &str) -> String {
    match kept.strip_prefix("0x") {
        Some(h) => h.to_string(),
        None => hex(&text::unescape(kept)),
    }
}

fn row(r: &MessageRecord) -> Row {
    let s = |v: &Option<Box<str>>| v.as_deref().unwrap_or_default().to_string();
    let mut macs: Vec<String> = r.client_mac.iter().map(|m| m.to_string()).collect();
    // tshark shows a 7-byte client identifier of type 1 or 6 as a MAC.
    if let Some(id) = r.client_id.as_deref() {
        if id.len() == 14 && (id.starts_with("01") || id.starts_with("06")) {
            let m: Vec<&str> = (1..7).map(|i| &id[2 * i..2 * i + 2]).collect();
            macs.push(m.join(":"));
        }
    }
    let list = |v: &Option<Box<str>>| s(v).replace(',', " | ");
    Row {
        ts: r.ts,
        fatal: None,
        op: r.op.to_string(),
        message_type: or_empty(r.message_type.map(|t| t.code())),
        xid: format!("0x{:08x}", r.xid),
        macs: macs.join(" | "),
        ciaddr: r.ciaddr.to_string(),
        yiaddr: r.yiaddr.to_string(),
        requested_ip: or_empty(r.requested_ip),
        server_id: or_empty(r.server_id),
        hostname: s(&r.hostname),
        vendor_class: s(&r.vendor_class),
        fqdn: s(&r.fqdn),
        domain_name: s(&r.domain_name),
        option_order: list(&r.option_order),
        param_list: list(&r.fingerprint),
        lease: or_empty(r.lease_secs),
        client_id: s(&r.client_id),
        user_class: s(&r.user_class),
        circuit_id: r
            .relay_circuit_id
            .as_deref()
            .map(relay_hex)
            .unwrap_or_default(),
        remote_id: r
            .relay_remote_id
            .as_deref()
            .map(relay_hex)
            .unwrap_or_default(),
        issues: r.issues.names().map(str::to_string).collect(),
    }
}

/// The UDP payloads to or from `ports` in a capture, with their frame
/// number and time, read with medtap's own file reader and decoder.
fn udp_payloads(pcap: &Path, ports: [u16; 2]) -> Vec<(usize, i64, Vec<u8>)> {
    let mut src = FileSource::open(pcap.to_str().unwrap()).unwrap();
    let link = src.link();
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(f) = src.next_frame().unwrap() {
        n += 1;
        let Ok(view) = decode(link, f.data) else {
            continue;
        };
        if let Network::Ip(ip) = view.network {
            if let Transport::Udp {
                src_port,
                dst_port,
                payload,
            } = ip.transport
            {
                if ports.contains(&src_port) || ports.contains(&dst_port) {
                    out.push((n, f.ts, payload.to_vec()));
                }
            }
        }
    }
    out
}

/// The DHCPv4 payloads (UDP 67/68).
fn dhcp_payloads(pcap: &Path) -> Vec<(usize, i64, Vec<u8>)> {
    udp_payloads(pcap, [dhcp::SERVER_PORT, dhcp::CLIENT_PORT])
}

/// medtap's DHCP records of a capture, in capture order: what `medtap
/// analyze` stored in `dhcp_messages` (version 4), and the `dhcp.malformed`
/// anomalies of datagrams that were not messages — read back into
/// [`MessageRecord`]s so that [`row`] treats them as the parser's own.
fn medtap_messages(pcap: &Path) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    common::analyze(&db, &[pcap]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let ip = |v: Option<String>| v.map_or(Ipv4Addr::UNSPECIFIED, |a| a.parse().unwrap());
    let text = |v: Option<String>| v.map(String::into_boxed_str);
    let mut st = conn
        .prepare(
            "SELECT ts_us, op, msg_type, xid, client_mac, ciaddr, yiaddr, siaddr, giaddr,
                    requested_ip, server_id, lease_secs, hostname, vendor_class, fingerprint,
                    client_id, fqdn, user_class, relay_circuit_id, relay_remote_id, domain_name,
                    option_order, issues
             FROM dhcp_messages WHERE version = 4 ORDER BY id",
        )
        .unwrap();
    let mut out: Vec<Row> = st
        .query_map([], |r| {
            let issues: Option<String> = r.get(22)?;
            let names: Vec<String> = issues
                .map(|t| serde_json::from_str(&t).unwrap())
                .unwrap_or_default();
            let mut set = dhcp::Issues::empty();
            for (bit, _) in (0u16..16).filter_map(|b| {
                let one = dhcp::Issues::from_bits(1 << b);
                let name = one.names().next()?;
                names.iter().any(|n| n == name).then_some((one, ()))
            }) {
                set.insert(bit);
            }
            let rec = MessageRecord {
                ts: r.get(0)?,
                op: r.get(1)?,
                message_type: r.get::<_, Option<u8>>(2)?.map(dhcp::MessageType::from_code),
                xid: r.get(3)?,
                client_mac: r.get::<_, Option<String>>(4)?.and_then(|m| Mac::parse(&m)),
                ciaddr: ip(r.get(5)?),
                yiaddr: ip(r.get(6)?),
                siaddr: ip(r.get(7)?),
                giaddr: ip(r.get(8)?),
                requested_ip: r.get::<_, Option<String>>(9)?.map(|a| a.parse().unwrap()),
                server_id: r.get::<_, Option<String>>(10)?.map(|a| a.parse().unwrap()),
                lease_secs: r.get(11)?,
                hostname: text(r.get(12)?),
                vendor_class: text(r.get(13)?),
                fingerprint: text(r.get(14)?),
                client_id: text(r.get(15)?),
                fqdn: text(r.get(16)?),
                user_class: text(r.get(17)?),
                relay_circuit_id: text(r.get(18)?),
                relay_remote_id: text(r.get(19)?),
                domain_name: text(r.get(20)?),
                option_order: text(r.get(21)?),
                issues: set,
            };
            Ok(row(&rec))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Datagrams that were not messages, each put before the first message
    // that came after it (rows are in capture order, which a capture's
    // timestamps need not follow).
    let mut st = conn
        .prepare("SELECT ts_us, detail FROM anomalies WHERE name = 'dhcp.malformed' ORDER BY id")
        .unwrap();
    let fatal: Vec<(i64, Option<String>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (ts, detail) in fatal {
        let at = out.iter().position(|r| r.ts > ts).unwrap_or(out.len());
        let row = Row {
            ts,
            fatal: detail,
            ..Row::default()
        };
        out.insert(at, row);
    }
    out
}

/// Frame timestamps (µs) by frame number.
fn frame_times(pcap: &Path) -> BTreeMap<usize, i64> {
    let mut src = FileSource::open(pcap.to_str().unwrap()).unwrap();
    let mut out = BTreeMap::new();
    let mut n = 0;
    while let Some(f) = src.next_frame().unwrap() {
        n += 1;
        out.insert(n, f.ts);
    }
    out
}

/// Fields tshark (run now) shows per frame that the TSVs lack.
type Live = BTreeMap<usize, BTreeMap<&'static str, String>>;

const LIVE_FIELDS: [&str; 7] = [
    "dhcp.option.type",
    "dhcp.option.value",
    "dhcp.option.ip_address_lease_time",
    "dhcp.option.agent_information_option.agent_circuit_id",
    "dhcp.option.agent_information_option.agent_remote_id",
    "dhcp.option.user_class.data",
    "dhcp.option.user_class.text",
];

fn live_tshark(pcap: &Path) -> Live {
    let config = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("tshark");
    cmd.env("LC_ALL", "C")
        .env("WIRESHARK_CONFIG_DIR", config.path())
        .args(["-n", "-Y", "dhcp", "-T", "fields", "-E", "separator=/t"])
        .args([
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
            "-e",
            "frame.number",
        ]);
    for f in LIVE_FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.arg("-r").arg(pcap).output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark on {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut cols = l.split('\t');
            let frame = cols.next().unwrap().parse().unwrap();
            let fields = LIVE_FIELDS
                .iter()
                .zip(cols.chain(std::iter::repeat("")))
                .map(|(k, v)| (*k, v.to_string()))
                .collect();
            (frame, fields)
        })
        .collect()
}

fn items(v: &str, sep: char) -> Vec<&str> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.split(sep).map(str::trim).collect()
    }
}

/// The value tshark shows for the first instance of option `code`: its
/// `dhcp.option.value` items line up with the option codes other than Pad
/// and End (shown as 0).
fn option_value(live: &BTreeMap<&str, String>, code: &str) -> String {
    let codes: Vec<&str> = items(&live["dhcp.option.type"], '|')
        .into_iter()
        .filter(|c| *c != "0")
        .collect();
    let values = items(&live["dhcp.option.value"], '|');
    codes
        .iter()
        .position(|c| *c == code)
        .and_then(|i| values.get(i))
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// The user class as medtap renders it, from tshark's instances (hex) or
/// its text form.
fn user_class_from_tshark(live: &BTreeMap<&str, String>) -> String {
    let data = items(&live["dhcp.option.user_class.data"], '|');
    if data.is_empty() {
        return live["dhcp.option.user_class.text"].clone();
    }
    let bytes = |h: &str| -> Vec<u8> {
        (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    data.iter()
        .map(|h| text::kept(&bytes(h), usize::MAX))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether tshark decoded the fixed header of a TSV row.
fn has_header(r: &BTreeMap<String, String>) -> bool {
    ["dhcp.id", "dhcp.hw.mac_addr"]
        .iter()
        .find(|c| r.contains_key(**c))
        .is_some_and(|c| !r[*c].is_empty())
}

/// Non-empty values compared, by field.
type Tally = BTreeMap<&'static str, usize>;

/// Compares one capture; returns the differences and the number of
/// datagrams compared, and counts the non-empty values compared in `tally`.
fn compare(
    pcap: &Path,
    tsv: &Path,
    live: Option<&Live>,
    tally: &mut Tally,
) -> (Vec<String>, usize) {
    let times = frame_times(pcap);
    let truth: Vec<_> = common::read_tsv(tsv)
        .into_iter()
        .filter(|r| {
            r.get("frame.protocols")
                .is_none_or(|p| p.split(':').any(|x| x == "dhcp"))
        })
        .collect();
    let ours = medtap_messages(pcap);
    let mut problems = Vec::new();
    if ours.len() != truth.len() {
        problems.push(format!(
            "medtap has {} DHCP datagrams, tshark {}",
            ours.len(),
            truth.len()
        ));
    }
    for (t, m) in truth.iter().zip(&ours) {
        let frame: usize = t["frame.number"].parse().unwrap();
        let mut check = |what: &'static str, got: &str, want: &str| {
            if !want.is_empty() {
                *tally.entry(what).or_default() += 1;
            }
            if got != want {
                problems.push(format!(
                    "frame {frame} {what}: medtap {got:?}, tshark {want:?}"
                ));
            }
        };
        check("ts", &m.ts.to_string(), &times[&frame].to_string());
        if !has_header(t) {
            check("fatal", &format!("{:?}", m.fatal), "Some(\"too_short\")");
            continue;
        }
        check("fatal", &format!("{:?}", m.fatal), "None");
        // tshark lists Pad runs and End as option 0; medtap leaves them out.
        let tshark_order: Vec<&str> = items(t.get("dhcp.option.type").map_or("", |v| v), '|')
            .into_iter()
            .filter(|c| *c != "0")
            .collect();
        let mut order: Vec<&str> = items(&m.option_order, '|');
        let mut tshark_order_cmp = tshark_order.clone();
        if tshark_order.contains(&"52") {
            // Overload: tshark shows `sname` and `file` where 52 stands,
            // medtap walks them after the options field (RFC 2131 §4.1);
            // overload_order_matches_tshark checks the placement.
            order.sort_unstable();
            tshark_order_cmp.sort_unstable();
        }
        let columns: [(&str, &'static str, &str); 13] = [
            ("dhcp.type", "op", &m.op),
            ("dhcp.option.dhcp", "message type", &m.message_type),
            ("dhcp.id", "xid", &m.xid),
            ("dhcp.hw.mac_addr", "client MACs", &m.macs),
            ("dhcp.ip.client", "ciaddr", &m.ciaddr),
            ("dhcp.ip.your", "yiaddr", &m.yiaddr),
            (
                "dhcp.option.requested_ip_address",
                "requested IP",
                &m.requested_ip,
            ),
            ("dhcp.option.dhcp_server_id", "server id", &m.server_id),
            ("dhcp.option.hostname", "hostname", &m.hostname),
            (
                "dhcp.option.vendor_class_id",
                "vendor class",
                &m.vendor_class,
            ),
            ("dhcp.fqdn.name", "fqdn", &m.fqdn),
            ("dhcp.option.domain_name", "domain name", &m.domain_name),
            (
                "dhcp.option.request_list_item",
                "parameter request list",
                &m.param_list,
            ),
        ];
        for (col, what, got) in columns {
            if let Some(want) = t.get(col) {
                check(what, got, want);
            }
        }
        if t.contains_key("dhcp.option.type") {
            check(
                "option order",
                &order.join(" | "),
                &tshark_order_cmp.join(" | "),
            );
        }
        if let Some(mal) = t.get("malformed") {
            let cut = m.issues.iter().any(|i| i == "truncated_option");
            let cookie = m.issues.iter().any(|i| i == "bad_cookie");
            let tshark = mal == "yes";
            if tshark != cut && !(tshark && cookie) {
                check("malformed", &format!("{:?}", m.issues), mal);
            }
        }
        if let Some(l) = live.and_then(|l| l.get(&frame)) {
            check("lease", &m.lease, &l["dhcp.option.ip_address_lease_time"]);
            check(
                "circuit id",
                &m.circuit_id,
                &l["dhcp.option.agent_information_option.agent_circuit_id"],
            );
            check(
                "remote id",
                &m.remote_id,
                &l["dhcp.option.agent_information_option.agent_remote_id"],
            );
            check("client id", &m.client_id, &option_value(l, "61"));
            check("user class", &m.user_class, &user_class_from_tshark(l));
        }
    }
    (problems, ours.len())
}

/// The DHCP captures of the corpus and the mixed one, with their TSVs.
fn corpus_pairs(corpus: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut pairs = common::captures_with_truth(&corpus.join("dhcp"));
    let mixed = corpus.join("mixed/tapirxl_synthetic_philips_demo.pcap");
    pairs.push((
        mixed.clone(),
        PathBuf::from(format!("{}.tshark.tsv", mixed.display())),
    ));
    pairs
}

#[test]
fn corpus_dhcp_matches_tshark() {
    let test = "corpus_dhcp_matches_tshark";
    let Some(corpus) = common::require_corpus(test) else {
        return;
    };
    // Without tshark the TSVs are still compared; the live fields are not.
    let live = common::require_tools(
        &format!("{test} (lease, relay, client id, user class)"),
        &["tshark"],
    );
    let pairs = corpus_pairs(&corpus);
    assert_eq!(pairs.len(), 18, "17 DHCP captures and the mixed one");
    let mut failed = Vec::new();
    let mut total = 0;
    let mut tally = Tally::new();
    for (pcap, tsv) in &pairs {
        let l = live.then(|| live_tshark(pcap));
        let (p, n) = compare(pcap, tsv, l.as_ref(), &mut tally);
        eprintln!(
            "{}: {n} DHCP datagrams compared{}",
            pcap.file_name().unwrap().to_string_lossy(),
            if live {
                " (TSV and live tshark)"
            } else {
                " (TSV)"
            }
        );
        total += n;
        if !p.is_empty() {
            failed.push(format!("{}:\n  {}", pcap.display(), p.join("\n  ")));
        }
    }
    eprintln!(
        "compared {total} DHCP datagrams in {} captures",
        pairs.len()
    );
    eprintln!("non-empty values compared: {tally:?}");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(total, 71, "DHCP datagrams in the corpus");
}

/// Where tshark shows the overloaded areas: the options field up to option
/// 52, then `sname`, then `file`, then the rest of the options field. medtap
/// keeps each code's area, so the same list can be rebuilt from it.
#[test]
fn overload_order_matches_tshark() {
    let Some(corpus) = common::require_corpus("overload_order_matches_tshark") else {
        return;
    };
    let mut overloaded = 0;
    for name in ["sv_opt52_overload.pcap", "sv_opt52_overload_both.pcap"] {
        let pcap = corpus.join("dhcp").join(name);
        let tsv = common::read_tsv(&PathBuf::from(format!("{}.tshark.tsv", pcap.display())));
        for ((frame, _, payload), t) in dhcp_payloads(&pcap).iter().zip(&tsv) {
            assert_eq!(frame.to_string(), t["frame.number"]);
            let m = dhcp::parse_v4(payload).unwrap();
            let codes: Vec<(u8, Region)> = m.options.order.iter().collect();
            let main: Vec<u8> = codes
                .iter()
                .filter(|c| c.1 == Region::Options)
                .map(|c| c.0)
                .collect();
            let area = |r: Region| codes.iter().filter(move |c| c.1 == r).map(|c| c.0);
            let split = main
                .iter()
                .position(|&c| c == 52)
                .map_or(main.len(), |i| i + 1);
            let mut inline: Vec<u8> = main[..split].to_vec();
            inline.extend(area(Region::Sname));
            inline.extend(area(Region::File));
            inline.extend(&main[split..]);
            let want: Vec<u8> = items(&t["dhcp.option.type"], '|')
                .into_iter()
                .map(|c| c.parse().unwrap())
                .filter(|&c| c != 0)
                .collect();
            assert_eq!(inline, want, "{name} frame {frame}");
            overloaded += usize::from(m.options.overload.is_some());
        }
    }
    assert_eq!(
        overloaded, 3,
        "frames 4 and 7 of sv_opt52_overload, and _both"
    );
}

/// tests/data/dhcp: dhclient and dnsmasq (scripts/make-dhcp-captures.sh).
#[test]
fn own_dhcp_captures_match_tshark() {
    let dir = common::root().join("tests/data/dhcp");
    let live = common::require_tools(
        "own_dhcp_captures_match_tshark (lease, client id, user class)",
        &["tshark"],
    );
    let (n4, n6) = check_own(&dir, live);
    assert_eq!(
        (n4, n6),
        (5, 6),
        "DHCPv4 and DHCPv6 messages in tests/data/dhcp"
    );
}

/// As root with dnsmasq and dhclient installed (CI): a new exchange, made
/// now by scripts/make-dhcp-captures.sh, matches tshark too.
#[test]
fn fresh_dnsmasq_dhclient_traffic_matches_tshark() {
    let Some(dir) = common::fresh_captures(
        "fresh_dnsmasq_dhclient_traffic_matches_tshark",
        "make-dhcp-captures.sh",
        &["dnsmasq", "dhclient"],
    ) else {
        return;
    };
    let (n4, n6) = check_own(dir.path(), true);
    assert_eq!((n4, n6), (5, 6), "fresh DHCPv4 and DHCPv6 messages");
}

/// Compares v4.pcap and v6.pcap of `dir` with their TSVs; the numbers of
/// DHCPv4 and DHCPv6 messages compared.
fn check_own(dir: &Path, live: bool) -> (usize, usize) {
    let v4 = dir.join("v4.pcap");
    let v6 = dir.join("v6.pcap");
    let tsv = |p: &Path| PathBuf::from(format!("{}.tshark.tsv", p.display()));
    let l = live.then(|| live_tshark(&v4));
    let mut tally = Tally::new();
    let (mut problems, n4) = compare(&v4, &tsv(&v4), l.as_ref(), &mut tally);
    let (p6, n6) = compare_v6(&v6, &tsv(&v6));
    problems.extend(p6);
    eprintln!(
        "{}: {n4} DHCPv4 and {n6} DHCPv6 messages compared; {tally:?}",
        dir.display()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    (n4, n6)
}

/// One DHCPv6 message as medtap records it, in tshark's formats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RowV6 {
    ts: i64,
    fatal: Option<String>,
    msg_type: String,
    xid: String,
    client_duid: String,
    server_duid: String,
    oro: String,
    fqdn: String,
    vendor_enterprise: String,
    vendor_class: String,
    ia_address: String,
    issues: Vec<String>,
}

/// medtap's DHCPv6 records of a capture (UDP 546/547), in capture order.
fn medtap_messages_v6(pcap: &Path) -> Vec<RowV6> {
    let ports = [dhcp::V6_CLIENT_PORT, dhcp::V6_SERVER_PORT];
    udp_payloads(pcap, ports)
        .into_iter()
        .map(|(_, ts, p)| match dhcp::parse_v6(&p) {
            Ok(m) => {
                let r = dhcp::MessageRecordV6::from_message(ts, &m);
                let s = |v: &Option<Box<str>>| v.as_deref().unwrap_or_default().to_string();
                RowV6 {
                    ts,
                    fatal: None,
                    msg_type: r.msg_type.0.to_string(),
                    xid: format!("0x{:06x}", r.xid),
                    client_duid: s(&r.client_duid),
                    server_duid: s(&r.server_duid),
                    oro: s(&r.fingerprint).replace(',', " | "),
                    fqdn: s(&r.fqdn),
                    vendor_enterprise: or_empty(r.vendor_enterprise),
                    vendor_class: s(&r.vendor_class),
                    ia_address: or_empty(r.ia_address),
                    issues: r.issues.names().map(str::to_string).collect(),
                }
            }
            Err(e) => RowV6 {
                ts,
                fatal: Some(e.name().to_string()),
                ..RowV6::default()
            },
        })
        .collect()
}

fn compare_v6(pcap: &Path, tsv: &Path) -> (Vec<String>, usize) {
    let times = frame_times(pcap);
    let truth = common::read_tsv(tsv);
    let ours = medtap_messages_v6(pcap);
    let mut problems = Vec::new();
    if ours.len() != truth.len() {
        problems.push(format!(
            "medtap has {} DHCPv6 datagrams, tshark {}",
            ours.len(),
            truth.len()
        ));
    }
    for (t, m) in truth.iter().zip(&ours) {
        let frame: usize = t["frame.number"].parse().unwrap();
        let mut check = |what: &str, got: &str, want: &str| {
            if got != want {
                problems.push(format!(
                    "v6 frame {frame} {what}: medtap {got:?}, tshark {want:?}"
                ));
            }
        };
        check("ts", &m.ts.to_string(), &times[&frame].to_string());
        check("fatal", &format!("{:?}", m.fatal), "None");
        check("issues", &format!("{:?}", m.issues), "[]");
        check("msg type", &m.msg_type, &t["dhcpv6.msgtype"]);
        check("xid", &m.xid, &t["dhcpv6.xid"]);
        // tshark's DUIDs in the order of options 1 and 2.
        let ids: Vec<&str> = items(&t["dhcpv6.option.type"], '|')
            .into_iter()
            .filter(|c| *c == "1" || *c == "2")
            .collect();
        let duids = items(&t["dhcpv6.duid.bytes"], '|');
        let duid = |code: &str| {
            ids.iter()
                .position(|c| *c == code)
                .and_then(|i| duids.get(i))
                .map(|d| d.to_string())
                .unwrap_or_default()
        };
        check("client DUID", &m.client_duid, &duid("1"));
        check("server DUID", &m.server_duid, &duid("2"));
        check("ORO", &m.oro, &t["dhcpv6.requested_option_code"]);
        // tshark ends a name that has its root label with a dot; medtap
        // writes it without, as tshark does for DHCPv4.
        let name = &t["dhcpv6.client_domain"];
        // RFC 4704 §4 allows the option in SOLICIT, ADVERTISE, REQUEST,
        // RENEW, REBIND and REPLY only: tshark shows no name elsewhere
        // (dhclient sends it in its RELEASE); medtap keeps what was sent.
        let fqdn_allowed = ["1", "2", "3", "5", "6", "7"].contains(&m.msg_type.as_str());
        if fqdn_allowed {
            check("FQDN", &m.fqdn, name.strip_suffix('.').unwrap_or(name));
        }
        check(
            "vendor enterprise",
            &m.vendor_enterprise,
            items(&t["dhcpv6.vendorclass.enterprise"], '|')
                .first()
                .copied()
                .unwrap_or(""),
        );
        check(
            "IA address",
            &m.ia_address,
            items(&t["dhcpv6.iaaddr.ip"], '|')
                .first()
                .copied()
                .unwrap_or(""),
        );
    }
    (problems, ours.len())
}
