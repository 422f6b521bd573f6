//! HL7 and MQTT anomalies on real traffic (tests/data): negative ACKs from
//! the MLLP listener, refused logins and a brute-force run against
//! mosquitto with a password file, and `#` / `$SYS/#` subscriptions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeSet;

/// (name, detail) of every anomaly row medtap stored for `capture`.
fn anomalies(capture: &str) -> BTreeSet<(String, Option<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    common::analyze(&db, &[&common::root().join("tests/data").join(capture)]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut st = conn.prepare("SELECT name, detail FROM anomalies").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn has(set: &BTreeSet<(String, Option<String>)>, name: &str, detail: Option<&str>) -> bool {
    set.contains(&(name.to_string(), detail.map(str::to_string)))
}

/// One connection gets an AE, then an AR: the flow's anomaly row names the
/// first; `status` counts both; each message row shows its own ACK code.
#[test]
fn negative_acks_name_their_code() {
    let a = anomalies("hl7/nack.pcap");
    assert!(has(&a, "hl7.negative_ack", Some("AE")), "{a:?}");
    let (rows, status) =
        common::analyze_and_query(&common::root().join("tests/data/hl7/nack.pcap"), "hl7");
    assert_eq!(status["anomalies_by_name"]["hl7.negative_ack"], 2);
    let codes: Vec<&str> = rows.iter().filter_map(|r| r["ack_code"].as_str()).collect();
    assert_eq!(codes, ["AE", "AR"]);
    let clean = anomalies("hl7/adt_oru_orm.pcap");
    assert!(clean.is_empty(), "{clean:?}");
}

#[test]
fn refused_logins_and_brute_force_are_flagged() {
    let a = anomalies("mqtt/auth.pcap");
    // mosquitto answers a wrong password with 3.x code 5 and 5.0 code 0x87.
    assert!(
        has(&a, "mqtt.connack_refused", Some("not authorized")),
        "{a:?}"
    );
    assert!(has(&a, "mqtt.auth_brute_force", None), "{a:?}");
    let one_client = anomalies("mqtt/v311.pcap");
    assert!(
        !one_client.iter().any(|(n, _)| n == "mqtt.auth_brute_force"),
        "{one_client:?}"
    );
}
