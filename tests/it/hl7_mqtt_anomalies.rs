//! HL7 and MQTT anomalies on real traffic (tests/data): negative ACKs from
//! the MLLP listener, refused logins and a brute-force run against
//! mosquitto with a password file, and `#` / `$SYS/#` subscriptions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::common;

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

/// mosquitto_sub subscribes to `#`, `$SYS/#` and `ward3/+/spo2` in one
/// SUBSCRIBE; mosquitto_pub publishes to `$SYS/fake`. The flow's anomaly row
/// names the first wildcard; `status` counts both; the narrow filter is not
/// flagged. The table keeps the 52 `$SYS` deliveries to one readable line.
#[test]
fn wildcard_subscriptions_and_system_topic_publishes_are_flagged() {
    let a = anomalies("mqtt/wildcard.pcap");
    assert!(has(&a, "mqtt.wildcard_subscription", Some("#")), "{a:?}");
    assert!(has(&a, "mqtt.publish_to_system_topic", None), "{a:?}");
    let pcap = common::root().join("tests/data/mqtt/wildcard.pcap");
    let (rows, status) = common::analyze_and_query(&pcap, "mqtt");
    assert_eq!(status["anomalies_by_name"]["mqtt.wildcard_subscription"], 2);
    assert_eq!(
        status["anomalies_by_name"]["mqtt.publish_to_system_topic"],
        1
    );
    let subscriber = rows
        .iter()
        .find(|r| r["client_id"] == "medtap-sub-wild")
        .expect("subscriber session");
    let filters: Vec<&str> = subscriber["subscribed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["filter"].as_str().unwrap())
        .collect();
    assert_eq!(filters, ["#", "$SYS/#", "ward3/+/spo2"]);
    let delivered = subscriber["published"].as_array().unwrap().len();
    assert!(delivered > 50, "{delivered} topics delivered");

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    common::analyze(&db, &[&pcap]);
    let out = common::run_ok(common::medtap().arg("mqtt").arg("--db").arg(&db));
    let table = String::from_utf8(out.stdout).unwrap();
    let line = table
        .lines()
        .find(|l| l.contains("medtap-sub-wild"))
        .expect("subscriber line");
    assert!(
        line.contains(&format!("(+{} more, --json lists all)", delivered - 3)),
        "{line}"
    );
}
