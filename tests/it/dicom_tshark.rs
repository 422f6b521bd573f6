//! medtap's DICOM associations equal tshark's dissection of the same
//! bytes: AE titles, presentation contexts (ids, abstract and transfer
//! syntaxes, results), maximum PDU lengths, implementation UIDs and
//! versions, reject/abort fields, and DIMSE commands with SOP classes and
//! statuses. Ground truth is the `.tshark.tsv` next to each capture
//! (tshark 4.0 fields; see the corpus README and tests/data/dicom/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The first dotted UID in a tshark value like "CT Image Storage (1.2.840...)".
fn uid(v: &str) -> String {
    v.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|t| t.contains('.') && t.starts_with(|c: char| c.is_ascii_digit()))
        .max_by_key(|t| t.len())
        .unwrap_or("")
        .trim_end_matches('.')
        .to_string()
}

fn hex_or_dec(v: &str) -> u64 {
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => v.parse().unwrap(),
    }
}

fn list(v: &str) -> Vec<&str> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.split(" | ").collect()
    }
}

/// What tshark shows for one association (one TCP connection).
#[derive(Debug, Default)]
struct Truth {
    client: Option<SocketAddr>,
    calling: String,
    called: String,
    ctx_ids: Vec<u64>,
    abstract_syntaxes: Vec<String>,
    proposed_ts: Vec<String>,
    max_pdu: Option<u64>,
    impl_uid: Option<String>,
    impl_version: Option<String>,
    /// From the A-ASSOCIATE-AC: (context id, result, transfer syntax).
    accepted: Vec<(u64, u64, String)>,
    ac_max_pdu: Option<u64>,
    ac_impl_uid: Option<String>,
    ac_impl_version: Option<String>,
    reject: Option<(u64, u64, u64)>,
    abort: Option<(u64, u64)>,
    /// (operation, SOP class) → (requests, statuses).
    ops: BTreeMap<(String, String), (u64, BTreeSet<u16>)>,
    /// Columns the TSV has (the `mixed/` one has fewer): only those are compared.
    cols: BTreeSet<String>,
}

fn truth(tsv: &Path) -> HashMap<(SocketAddr, SocketAddr), Truth> {
    let text = std::fs::read_to_string(tsv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let mut out: HashMap<(SocketAddr, SocketAddr), Truth> = HashMap::new();
    let mut pending: HashMap<(SocketAddr, SocketAddr, u64), (String, String)> = HashMap::new();
    for line in lines {
        let cols: Vec<&str> = line.split('\t').collect();
        let f = |name: &str| -> &str {
            header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| cols.get(i))
                .copied()
                .unwrap_or("")
        };
        let ip_src = if f("ip.src").is_empty() {
            f("ipv6.src")
        } else {
            f("ip.src")
        };
        let ip_dst = if f("ip.dst").is_empty() {
            f("ipv6.dst")
        } else {
            f("ip.dst")
        };
        // `mixed/` lists every frame: only TCP ones can carry DICOM.
        let (Ok(sip), Ok(dip), Ok(sport), Ok(dport)) = (
            ip_src.parse(),
            ip_dst.parse(),
            f("tcp.srcport").parse(),
            f("tcp.dstport").parse(),
        ) else {
            continue;
        };
        let src = SocketAddr::new(sip, sport);
        let dst = SocketAddr::new(dip, dport);
        let key = (src.min(dst), src.max(dst));
        let t = out.entry(key).or_default();
        t.cols = header.iter().map(|h| h.to_string()).collect();
        for pdu_type in list(f("dicom.pdu.type")) {
            match hex_or_dec(pdu_type) {
                1 => {
                    t.client = Some(src);
                    t.calling = f("dicom.assoc.ae.calling").trim().to_string();
                    t.called = f("dicom.assoc.ae.called").trim().to_string();
                    t.ctx_ids = list(f("dicom.pctx.id"))
                        .into_iter()
                        .map(hex_or_dec)
                        .collect();
                    t.abstract_syntaxes = list(f("dicom.pctx.abss.syntax"))
                        .into_iter()
                        .map(uid)
                        .collect();
                    t.proposed_ts = list(f("dicom.pctx.xfer.syntax"))
                        .into_iter()
                        .map(uid)
                        .collect();
                    t.max_pdu = list(f("dicom.max_pdu_len")).first().map(|v| hex_or_dec(v));
                    t.impl_uid = list(f("dicom.userinfo.uid")).first().map(|v| v.to_string());
                    t.impl_version = list(f("dicom.userinfo.version"))
                        .first()
                        .map(|v| v.to_string());
                }
                2 => {
                    let ids = list(f("dicom.pctx.id"));
                    let results = list(f("dicom.pctx.result"));
                    let ts = list(f("dicom.pctx.xfer.syntax"));
                    for (i, id) in ids.iter().enumerate() {
                        t.accepted.push((
                            hex_or_dec(id),
                            hex_or_dec(results[i]),
                            ts.get(i).map(|v| uid(v)).unwrap_or_default(),
                        ));
                    }
                    t.ac_max_pdu = list(f("dicom.max_pdu_len")).first().map(|v| hex_or_dec(v));
                    t.ac_impl_uid = list(f("dicom.userinfo.uid")).first().map(|v| v.to_string());
                    t.ac_impl_version = list(f("dicom.userinfo.version"))
                        .first()
                        .map(|v| v.to_string());
                }
                3 => {
                    let n = |k: &str| hex_or_dec(f(k));
                    t.reject = Some((
                        n("dicom.assoc.reject.result"),
                        n("dicom.assoc.reject.source"),
                        n("dicom.assoc.reject.reason"),
                    ));
                }
                7 => {
                    let n = |k: &str| hex_or_dec(f(k));
                    t.abort = Some((n("dicom.assoc.abort.source"), n("dicom.assoc.abort.reason")));
                }
                _ => {}
            }
        }
        let fields = list(f("dimse.command_field"));
        let ids = list(f("dimse.message_id"));
        let responded = list(f("dimse.message_id_responded_to"));
        let sops = list(f("dimse.affected_sop_class_uid"));
        let statuses = list(f("dimse.status"));
        let (mut rq_i, mut rsp_i) = (0, 0);
        for (i, field) in fields.iter().enumerate() {
            let name = field.split_whitespace().nth(1).unwrap_or("").to_string();
            let sop = sops.get(i).map(|s| uid(s)).unwrap_or_default();
            if let Some(op) = name.strip_suffix("-RQ") {
                let e = t.ops.entry((op.to_string(), sop.clone())).or_default();
                e.0 += 1;
                if let Some(id) = ids.get(rq_i) {
                    pending.insert((key.0, key.1, hex_or_dec(id)), (op.to_string(), sop));
                }
                rq_i += 1;
            } else if name.ends_with("-RSP") {
                let status = statuses
                    .get(rsp_i)
                    .and_then(|s| s.rsplit("(0x").next())
                    .map(|h| u16::from_str_radix(h.trim_end_matches(')'), 16).unwrap());
                let target = responded
                    .get(rsp_i)
                    .and_then(|id| pending.get(&(key.0, key.1, hex_or_dec(id))))
                    .cloned();
                if let (Some(k), Some(s)) = (target, status) {
                    t.ops.entry(k).or_default().1.insert(s);
                }
                rsp_i += 1;
            }
        }
    }
    out.retain(|_, t| t.client.is_some());
    out
}

fn reject_names(r: (u64, u64, u64)) -> (String, String, String) {
    // PS3.8 Table 9-21, restated independently of medtap's table.
    let result = ["", "rejected-permanent", "rejected-transient"][r.0 as usize];
    let (source, reason) = match r {
        (_, 1, 7) => ("service-user", "called-AE-title-not-recognized"),
        (_, 1, 3) => ("service-user", "calling-AE-title-not-recognized"),
        (_, 1, 1) => ("service-user", "no-reason-given"),
        (_, 1, 2) => ("service-user", "application-context-name-not-supported"),
        (_, 2, 2) => ("service-provider-acse", "protocol-version-not-supported"),
        (_, 3, 1) => ("service-provider-presentation", "temporary-congestion"),
        (_, 3, 2) => ("service-provider-presentation", "local-limit-exceeded"),
        other => panic!("add {other:?} to the test's table"),
    };
    (result.into(), source.into(), reason.into())
}

fn compare(pcap: &Path, tsv: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    common::run_ok(
        common::medtap()
            .arg("analyze")
            .arg(pcap)
            .arg("--db")
            .arg(&db),
    );
    let out = common::run_ok(common::medtap().args(["dicom", "--json", "--db"]).arg(&db));
    let rows = common::json_lines(&out);
    let want = truth(tsv);
    let mut problems = Vec::new();
    if rows.len() != want.len() {
        problems.push(format!(
            "medtap has {} associations, tshark {}",
            rows.len(),
            want.len()
        ));
    }
    for (key, t) in &want {
        let row = rows.iter().find(|r| {
            let s = SocketAddr::new(
                r["src_ip"].as_str().unwrap().parse().unwrap(),
                r["src_port"].as_u64().unwrap() as u16,
            );
            let d = SocketAddr::new(
                r["dest_ip"].as_str().unwrap().parse().unwrap(),
                r["dest_port"].as_u64().unwrap() as u16,
            );
            (s.min(d), s.max(d)) == *key
        });
        let Some(r) = row else {
            problems.push(format!("{key:?}: no medtap association"));
            continue;
        };
        let mut check = |column: &str, what: &str, got: Value, want: Value| {
            if t.cols.contains(column) && got != want {
                problems.push(format!("{key:?} {what}: medtap {got}, tshark {want}"));
            }
        };
        check(
            "tcp.srcport",
            "requestor",
            r["src_port"].clone(),
            t.client.unwrap().port().into(),
        );
        check(
            "dicom.assoc.ae.calling",
            "calling_ae",
            r["calling_ae"].clone(),
            t.calling.clone().into(),
        );
        check(
            "dicom.assoc.ae.called",
            "called_ae",
            r["called_ae"].clone(),
            t.called.clone().into(),
        );
        let ctxs = r["contexts"].as_array().unwrap();
        check(
            "dicom.pctx.id",
            "context ids",
            ctxs.iter().map(|c| c["id"].clone()).collect(),
            t.ctx_ids.clone().into(),
        );
        check(
            "dicom.pctx.abss.syntax",
            "abstract syntaxes",
            ctxs.iter().map(|c| c["abstract_syntax"].clone()).collect(),
            t.abstract_syntaxes.clone().into(),
        );
        let proposed: Vec<Value> = ctxs
            .iter()
            .flat_map(|c| c["transfer_syntaxes"].as_array().unwrap().clone())
            .collect();
        check(
            "dicom.pctx.xfer.syntax",
            "proposed transfer syntaxes",
            proposed.into(),
            t.proposed_ts.clone().into(),
        );
        check(
            "dicom.max_pdu_len",
            "max_pdu_length",
            r["max_pdu_length"].clone(),
            t.max_pdu.into(),
        );
        check(
            "dicom.userinfo.uid",
            "implementation_class_uid",
            r["implementation_class_uid"].clone(),
            t.impl_uid.clone().into(),
        );
        check(
            "dicom.userinfo.version",
            "implementation_version",
            r["implementation_version"].clone(),
            t.impl_version.clone().into(),
        );
        check(
            "dicom.max_pdu_len",
            "acceptor_max_pdu_length",
            r["acceptor_max_pdu_length"].clone(),
            t.ac_max_pdu.into(),
        );
        check(
            "dicom.userinfo.uid",
            "acceptor_implementation_class_uid",
            r["acceptor_implementation_class_uid"].clone(),
            t.ac_impl_uid.clone().into(),
        );
        for (id, result, ts) in &t.accepted {
            let c = ctxs
                .iter()
                .find(|c| c["id"] == *id)
                .cloned()
                .unwrap_or(Value::Null);
            let names = [
                "acceptance",
                "user-rejection",
                "no-reason",
                "abstract-syntax-not-supported",
                "transfer-syntaxes-not-supported",
            ];
            check(
                "dicom.pctx.result",
                &format!("context {id} result"),
                c["result"].clone(),
                names[*result as usize].into(),
            );
            if *result == 0 {
                check(
                    "dicom.pctx.xfer.syntax",
                    &format!("context {id} accepted ts"),
                    c["accepted_transfer_syntax"].clone(),
                    ts.clone().into(),
                );
            }
        }
        let want_result = match (t.reject, t.abort, t.accepted.is_empty()) {
            (Some(_), _, _) => None,
            (_, Some(_), _) => Some("aborted"),
            _ => None,
        };
        if let Some(w) = want_result {
            check("dicom.pdu.type", "result", r["result"].clone(), w.into());
        }
        if let Some(rj) = t.reject {
            let (a, b, c) = reject_names(rj);
            check(
                "dicom.pdu.type",
                "result",
                r["result"].clone(),
                "rejected".into(),
            );
            check(
                "dicom.assoc.reject.result",
                "reject",
                r["reject"].clone(),
                serde_json::json!({"result": a, "source": b, "reason": c}),
            );
        }
        if let Some((source, _)) = t.abort {
            let s = ["service-user", "reserved", "service-provider"][source as usize];
            check(
                "dicom.assoc.abort.source",
                "abort source",
                r["abort"]["source"].clone(),
                s.into(),
            );
        }
        let got_ops: BTreeMap<(String, String), (u64, BTreeSet<u16>)> = r["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let statuses = o["statuses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_u64().unwrap() as u16)
                    .collect();
                (
                    (
                        o["command"].as_str().unwrap().to_string(),
                        o["sop_class_uid"].as_str().unwrap().to_string(),
                    ),
                    (o["count"].as_u64().unwrap(), statuses),
                )
            })
            .collect();
        if t.cols.contains("dimse.command_field") && got_ops != t.ops {
            problems.push(format!(
                "{key:?} operations: medtap {got_ops:?}, tshark {:?}",
                t.ops
            ));
        }
    }
    problems
}

fn check_all(pairs: &[(PathBuf, PathBuf)]) {
    common::compare_all("DICOM", pairs, compare);
}

#[test]
fn own_dcmtk_captures_match_tshark() {
    let pairs = common::captures_with_truth(&common::root().join("tests/data/dicom"));
    assert!(
        pairs.len() >= 8,
        "expected the dcmtk captures, found {}",
        pairs.len()
    );
    check_all(&pairs);
}

#[test]
fn public_dicom_captures_match_tshark() {
    let Some(dir) = common::require_corpus("public_dicom_captures_match_tshark") else {
        return;
    };
    let mut pairs = common::captures_with_truth(&dir.join("dicom"));
    pairs.extend(common::captures_with_truth(&dir.join("mixed")));
    assert_eq!(pairs.len(), 6);
    check_all(&pairs);
}

/// Runs dcmtk afresh between network namespaces (root only) and compares
/// the new captures, so the test does not rest on files made once.
#[test]
fn fresh_dcmtk_traffic_matches_tshark() {
    let Some(dir) = common::fresh_captures(
        "fresh_dcmtk_traffic_matches_tshark",
        "make-dicom-captures.sh",
        &[
            "echoscu", "storescu", "storescp", "findscu", "movescu", "dcmqrscp", "dcmqridx",
            "dump2dcm",
        ],
    ) else {
        return;
    };
    let pairs = common::captures_with_truth(dir.path());
    assert_eq!(pairs.len(), 8);
    check_all(&pairs);
}

/// No data set content reaches the database: the phantom's patient name
/// and study description are in the captured bytes, never in medtap.db.
#[test]
fn no_patient_data_in_the_database_or_logs() {
    let data = common::root().join("tests/data/dicom");
    let captures = ["store_ct_mr.pcap", "find.pcap", "move.pcap"].map(|f| data.join(f));
    common::assert_no_phi(&captures, &[b"MEDTAP^PHANTOM", b"PHANTOM"], "dicom", 4);
}
