//! Device classification on real traffic: a small hospital laid out in
//! network namespaces (tests/data/classify/hospital.pcap, made by
//! scripts/make-class-captures.sh: dcmtk storescu/storescp/dcmqrscp/
//! findscu/movescu/wlmscpfs, python-hl7 IHE PCD-01 senders and listener,
//! mosquitto and its clients, dnsmasq and udhcpc), the crafted Philips
//! capture of the public corpus, the asset list's classes and attributes,
//! a hospital's rules directory, and `medtap rules check|classes`.

use crate::common;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn hospital() -> PathBuf {
    common::root().join("tests/data/classify/hospital.pcap")
}

/// role → MAC, from the capture script's host table.
fn hosts(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("hosts.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect()
}

/// `medtap analyze` of `pcap` with extra arguments; the database path
/// (kept alive by the directory).
fn analyzed(pcap: &Path, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    // No asset list or rules directory unless the test gives one (the
    // machine's /etc/medtap must not change the result).
    common::analyzed(pcap, &["--assets=", "--rules="], extra)
}

/// `medtap devices --json` (plus `args`), by MAC.
fn devices(db: &Path, args: &[&str]) -> BTreeMap<String, Value> {
    let out = common::run_success(
        common::medtap()
            .args(["devices", "--json", "--db"])
            .arg(db)
            .args(args),
    );
    common::json_lines(&out)
        .into_iter()
        .map(|d| (d["mac"].as_str().unwrap().to_string(), d))
        .collect()
}

fn evidence(d: &Value) -> Vec<String> {
    d["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

/// One host's expected class: (role, class, grade, a piece of its evidence).
const EXPECTED: [(&str, &str, Option<u64>, &str); 15] = [
    (
        "ct",
        "ct_scanner",
        Some(3),
        "CT Image Storage (1.2.840.10008.5.1.4.1.1.2)",
    ),
    (
        "mr",
        "mr_scanner",
        Some(2),
        "MR Image Storage (1.2.840.10008.5.1.4.1.1.4)",
    ),
    (
        "pacs",
        "pacs",
        None,
        "answers DICOM queries and retrievals (C-FIND and C-MOVE SCP)",
    ),
    (
        "ris",
        "modality_worklist",
        None,
        "modality worklist queries",
    ),
    (
        "ws",
        "imaging_workstation",
        None,
        "queries an archive and receives images",
    ),
    ("pcd1", "medical_gateway", Some(2), "IHE PCD-01"),
    ("pcd2", "medical_gateway", Some(2), "IHE PCD-01"),
    (
        "engine",
        "interface_engine",
        None,
        "MLLP server that several HL7 senders deliver to: 3 peers",
    ),
    ("adt", "his", None, "ADT^A01"),
    ("broker", "mqtt_broker", None, "MQTT broker"),
    ("mon1", "patient_monitor", Some(3), "intellivue-mx450-bed04"),
    ("mon2", "patient_monitor", Some(3), "mindray-bed05"),
    (
        "pmdhcp",
        "patient_monitor",
        Some(3),
        "Philips IntelliVue MX800",
    ),
    ("dhcp", "dhcp_server", None, "answers as a DHCP server"),
    ("laptop", "workstation", None, "MSFT 5.0"),
];

/// Hosts with nothing medical about them.
const NOT_MEDICAL: [&str; 4] = ["laptop", "rpi", "nas", "dash"];

/// Checks every host of a hospital capture in `dir` (its pcap and host
/// table); returns the database for more checks.
fn check_hospital(
    pcap: &Path,
    dir: &Path,
) -> (tempfile::TempDir, PathBuf, BTreeMap<String, String>) {
    let hosts = hosts(dir);
    let (tmp, db) = analyzed(pcap, &[]);
    let devs = devices(&db, &[]);
    let mut wrong = Vec::new();
    for (role, class, grade, why) in EXPECTED {
        let mac = &hosts[role];
        let d = &devs[mac];
        let ev = evidence(d);
        if d["class"] != class
            || d["grade"].as_u64() != grade
            || d["class_source"] != "fingerprint"
            || !ev.iter().any(|e| e.contains(why))
            || d["confidence"].as_f64().unwrap() < 0.5
        {
            wrong.push(format!(
                "{role} {mac}: class {} grade {} confidence {} evidence {ev:?}",
                d["class"], d["grade"], d["confidence"]
            ));
        }
        // The grade's attributes come from the class table.
        if grade.is_some() {
            assert_eq!(d["grade_basis"]["source"], "class", "{role}");
        } else {
            assert!(d["grade_basis"].is_null(), "{role}");
        }
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
    for role in NOT_MEDICAL {
        let d = &devs[&hosts[role]];
        assert!(d["grade"].is_null(), "{role}: {d}");
        let class = d["class"].as_str().unwrap();
        assert!(
            ["unknown", "workstation"].contains(&class),
            "{role} is {class}: {d}"
        );
    }
    // The MR proposed CT Image Storage among dcmtk's 128 contexts but
    // sent MR only: CT is no runner-up and no evidence.
    let mr = &devs[&hosts["mr"]];
    assert!(mr["runner_up"].is_null(), "{mr}");
    assert!(!evidence(mr).iter().any(|e| e.contains("CT")), "{mr}");
    // The archive forwarded the CT study to the workstation (C-MOVE
    // sub-operations): not a CT scanner, not even as runner-up.
    let pacs = &devs[&hosts["pacs"]];
    assert!(pacs["runner_up"].is_null(), "{pacs}");
    (tmp, db, hosts)
}

#[test]
fn a_small_hospital_is_classified_from_its_traffic() {
    check_hospital(&hospital(), &common::root().join("tests/data/classify"));
}

/// As root with the tools (CI): a capture made now by
/// scripts/make-class-captures.sh classifies the same.
#[test]
fn fresh_hospital_capture_is_classified_the_same() {
    let Some(dir) = common::fresh_captures(
        "fresh_hospital_capture_is_classified_the_same",
        "make-class-captures.sh",
        &[
            "storescu",
            "storescp",
            "dcmqrscp",
            "findscu",
            "movescu",
            "wlmscpfs",
            "dump2dcm",
            "mosquitto",
            "mosquitto_pub",
            "mosquitto_sub",
            "dnsmasq",
            "udhcpc",
            "dropbear",
        ],
    ) else {
        return;
    };
    check_hospital(&dir.path().join("hospital.pcap"), dir.path());
}

#[test]
fn class_changes_are_device_events_with_their_evidence() {
    let (_t, db, hosts) = check_hospital(&hospital(), &common::root().join("tests/data/classify"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let changes = |mac: &str| -> Vec<String> {
        let mut st = conn
            .prepare("SELECT detail FROM device_events WHERE device = ?1 AND kind = 'class_change' ORDER BY id")
            .unwrap();
        st.query_map([mac], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        changes(&hosts["ct"]),
        ["unknown → ct_scanner: sends CT images of its own (C-STORE SCU): CT Image Storage (1.2.840.10008.5.1.4.1.1.2)"]
    );
    // The archive becomes a PACS once, and never flips to what it forwards.
    let pacs = changes(&hosts["pacs"]);
    assert_eq!(pacs.len(), 1, "{pacs:?}");
    assert!(pacs[0].starts_with("unknown → pacs: "), "{pacs:?}");
    // A device nothing identifies has no class event.
    assert!(changes(&hosts["nas"]).is_empty());
    // `medtap device` shows the class, the grade's basis and the evidence.
    let out = common::run_ok(
        common::medtap()
            .args(["device", "--db"])
            .arg(&db)
            .arg(&hosts["ct"]),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "class       ct_scanner — CT scanner / X射线计算机体层摄影设备（CT） (confidence 0.90)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "grade       3 (Table B.1: contact, ionizing_radiation, serious; from the class table)"
        ),
        "{text}"
    );
    assert!(
        text.contains("evidence    sends CT images of its own (C-STORE SCU)"),
        "{text}"
    );
}

#[test]
fn devices_filter_by_class_and_grade_and_the_register_carries_them() {
    let (_t, db, hosts) = check_hospital(&hospital(), &common::root().join("tests/data/classify"));
    let pacs = devices(&db, &["--class", "pacs"]);
    assert_eq!(pacs.keys().collect::<Vec<_>>(), [&hosts["pacs"]]);
    let grade3: Vec<String> = devices(&db, &["--grade", "3"]).into_keys().collect();
    let mut want: Vec<String> = ["ct", "mon1", "mon2", "pmdhcp"]
        .iter()
        .map(|r| hosts[*r].clone())
        .collect();
    want.sort();
    assert_eq!(grade3, want);
    let bad = common::run_ok(
        common::medtap()
            .args(["devices", "--grade", "4", "--db"])
            .arg(&db),
    );
    assert!(!bad.status.success());
    // The register (CSV) has the class and grade of every device.
    let out = common::run_ok(
        common::medtap()
            .args(["devices", "export", "--db"])
            .arg(&db),
    );
    assert!(out.status.success());
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let head: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&head[..3], ["type", "class", "grade"]);
    let mac_col = head.iter().position(|h| h == "mac").unwrap();
    let ct = r
        .records()
        .map(Result::unwrap)
        .find(|rec| rec[mac_col] == hosts["ct"])
        .unwrap();
    assert_eq!((&ct[0], &ct[1], &ct[2]), ("CT scanner", "ct_scanner", "3"));
}

#[test]
fn the_asset_list_class_wins_and_its_attributes_regrade() {
    let dir = tempfile::tempdir().unwrap();
    let h = hosts(&common::root().join("tests/data/classify"));
    let assets = dir.path().join("assets.toml");
    std::fs::write(
        &assets,
        format!(
            "[[device]]\nmac = \"{}\"\nname = \"Ventilator bed 4\"\nclass = \"ventilator\"\n\n\
             [[device]]\nmac = \"{}\"\nclass = \"mr_scanner\"\ncontact = \"true\"\n\
             usage_form = \"diagnosis_monitoring\"\nlevel = \"serious\"\n",
            h["mon1"], h["mr"]
        ),
    )
    .unwrap();
    let (_t, db) = analyzed(&hospital(), &["--assets", assets.to_str().unwrap()]);
    let devs = devices(&db, &[]);
    // Registered as a ventilator: the asset list wins, what the traffic
    // says is the runner-up, with its evidence.
    let mon = &devs[&h["mon1"]];
    assert_eq!(mon["class"], "ventilator");
    assert_eq!(mon["class_source"], "asset");
    assert_eq!(mon["confidence"], 1.0);
    assert_eq!(mon["runner_up"], "patient_monitor");
    assert_eq!(mon["grade"], 3);
    assert!(
        evidence(mon)
            .iter()
            .any(|e| e.starts_with("[patient_monitor] MQTT client id")),
        "{mon}"
    );
    // The MR's own attributes (serious) give grade 3 instead of 2.
    let mr = &devs[&h["mr"]];
    assert_eq!(
        (mr["class"].as_str(), mr["grade"].as_u64()),
        (Some("mr_scanner"), Some(3))
    );
    assert_eq!(
        mr["grade_basis"],
        serde_json::json!({"contact": true, "usage_form": "diagnosis_monitoring", "level": "serious", "source": "asset"})
    );
    // An unknown class in the asset list stops the run, naming the line.
    std::fs::write(
        &assets,
        "[[device]]\nip = \"10.83.0.9\"\nclass = \"patient-monitor\"\n",
    )
    .unwrap();
    let out = common::run_ok(
        common::medtap()
            .arg("analyze")
            .arg(hospital())
            .arg("--db")
            .arg(dir.path().join("x.db"))
            .arg("--assets")
            .arg(&assets)
            .arg("--rules="),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("assets.toml:1: `device[0].class`: unknown class \"patient-monitor\""),
        "{err}"
    );
}

#[test]
fn a_hospital_rules_directory_overrides_a_class_and_adds_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.d");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("device_classes.toml"),
        "# This hospital's MR runs cardiac protocols on ventilated patients.\n\
         [[class]]\nid = \"mr_scanner\"\ncontact = true\nusage_form = \"diagnosis_monitoring\"\n\
         level = \"serious\"\nreason = \"cardiac MR under anaesthesia\"\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("fingerprints.toml"),
        "[[rule]]\nid = \"nas-synology\"\nclass = \"workstation\"\nweight = 0.6\n\
         evidence = \"a Synology NAS serving SSH\"\nvendor = \"^Synology\"\nserves = [22]\n",
    )
    .unwrap();
    let (_t, db) = analyzed(&hospital(), &["--rules", rules.to_str().unwrap()]);
    let h = hosts(&common::root().join("tests/data/classify"));
    let devs = devices(&db, &[]);
    let mr = &devs[&h["mr"]];
    assert_eq!(mr["grade"], 3);
    assert_eq!(mr["grade_basis"]["source"], "override");
    let nas = &devs[&h["nas"]];
    assert_eq!(nas["class"], "workstation");
    assert_eq!(
        evidence(nas),
        ["a Synology NAS serving SSH: \"Synology Incorporated\", TCP 22"]
    );
    // `rules classes` shows the override and its file.
    let out = common::run_ok(
        common::medtap()
            .args(["rules", "classes", "--rules"])
            .arg(&rules),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("mr_scanner"))
        .unwrap();
    assert!(
        line.contains("serious")
            && line.contains(" 3 ")
            && line.contains("rules.d/device_classes.toml:2"),
        "{line}"
    );
}

#[test]
fn rules_check_names_every_problem_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("device_classes.toml"),
        "[[class]]\nid = \"autoclave\"\nname = \"Autoclave\"\nname_zh = \"高压灭菌器\"\nmedical = true\n\
         contact = false\nusage_form = \"disinfection\"\nlevel = \"none\"\nreason = \"r\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("fingerprints.toml"),
        "[[rule]]\nid = \"x\"\nclass = \"ct-scanner\"\nweight = 0.5\nevidence = \"e\"\nhostname = \"ct\"\n\n\
         [[rule]]\nid = \"dicom-sends-ct\"\nclass = \"ct_scanner\"\nweight = 0.5\nevidence = \"e\"\nhostname = \"[\"\n",
    )
    .unwrap();
    std::fs::write(d.join("assets.toml"), "[[device]]\nmac = \"00:09:fb:00:00:01\"\n\n[[device]]\nip = \"10.0.0.2\"\nclass = \"pump\"\n").unwrap();
    let out = common::run_ok(
        common::medtap()
            .args(["rules", "check"])
            .arg(d)
            .arg("--assets")
            .arg(d.join("assets.toml")),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = |n: &str| d.join(n).display().to_string();
    for want in [
        format!("{}:8: `class[0].level`: class \"autoclave\": Table B.1 has no grade for disinfection with level none", f("device_classes.toml")),
        format!("{}:3: `rule[0].class`: rule \"x\": unknown class \"ct-scanner\"", f("fingerprints.toml")),
        format!("{}:13: `rule[1].hostname`: rule \"dicom-sends-ct\": bad pattern \"[\"", f("fingerprints.toml")),
        format!("{}:4: `device[1].class`: unknown class \"pump\"", f("assets.toml")),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    // The shipped rules directory itself is clean.
    let out = common::run_success(
        common::medtap()
            .args(["rules", "check"])
            .arg(common::root().join("rules")),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rules/fingerprints.toml: ok"), "{text}");
    // A rule id that clashes with a shipped one is named once the file is
    // otherwise valid.
    std::fs::remove_file(d.join("device_classes.toml")).unwrap();
    std::fs::write(
        d.join("fingerprints.toml"),
        "[[rule]]\nid = \"dicom-sends-ct\"\nclass = \"ct_scanner\"\nweight = 0.5\nevidence = \"e\"\nhostname = \"ct\"\n",
    )
    .unwrap();
    let out = common::run_ok(common::medtap().args(["rules", "check"]).arg(d));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "`rule[0].id`: rule id \"dicom-sends-ct\" is a shipped rule (rules/fingerprints.toml:"
        ),
        "{err}"
    );
}

#[test]
fn rules_classes_prints_the_table_in_english_and_chinese() {
    let out = common::run_ok(common::medtap().args(["rules", "classes", "--rules="]));
    let en = String::from_utf8_lossy(&out.stdout);
    let ct = en
        .lines()
        .find(|l| l.trim_start().starts_with("ct_scanner"))
        .unwrap();
    assert!(
        ct.contains("ionizing_radiation") && ct.contains("serious") && ct.contains(" 3 "),
        "{ct}"
    );
    let pacs = en
        .lines()
        .find(|l| l.trim_start().starts_with("pacs "))
        .unwrap();
    assert!(pacs.contains(" no ") && pacs.contains(" - "), "{pacs}");
    let out =
        common::run_ok(common::medtap().args(["rules", "classes", "--lang", "zh", "--rules="]));
    let zh = String::from_utf8_lossy(&out.stdout);
    let pump = zh
        .lines()
        .find(|l| l.trim_start().starts_with("infusion_pump"))
        .unwrap();
    assert!(
        pump.contains("输送体液") && pump.contains("严重损伤") && pump.contains(" 3 "),
        "{pump}"
    );
}

/// The crafted Philips capture of the public corpus: the IntelliVue
/// monitor and the Brilliance CT come out with evidence.
#[test]
fn philips_corpus_capture_monitor_and_ct() {
    let Some(corpus) = common::corpus_dir() else {
        common::skip_or_fail(
            "philips_corpus_capture_monitor_and_ct",
            "the public corpus (../shared/corpus/public or $MEDTAP_CORPUS)",
        );
        return;
    };
    let pcap = corpus.join("mixed/tapirxl_synthetic_philips_demo.pcap");
    let (_t, db) = analyzed(&pcap, &[]);
    let devs = devices(&db, &[]);
    let mon = &devs["00:09:fb:bd:75:6d"];
    assert_eq!(mon["class"], "patient_monitor", "{mon}");
    assert_eq!(mon["grade"], 3);
    assert!(
        evidence(mon)
            .iter()
            .any(|e| e == "DHCP vendor class names a patient monitor: \"Philips IntelliVue\""),
        "{mon}"
    );
    let ct = &devs["00:90:20:aa:bb:01"];
    assert_eq!(ct["class"], "ct_scanner", "{ct}");
    assert_eq!(ct["grade"], 3);
    let ev = evidence(ct);
    assert!(ev.iter().any(|e| e.contains("CT Image Storage")), "{ev:?}");
    assert!(
        ev.iter().any(|e| e.contains("Philips Brilliance iCT")),
        "{ev:?}"
    );
    // The Windows laptop and the archive server get no medical class.
    for mac in [
        "e8:d8:d1:aa:bb:02",
        "00:50:56:8b:ca:fe",
        "60:a5:e2:ae:32:1a",
    ] {
        assert!(devs[mac]["grade"].is_null(), "{}", devs[mac]);
    }
}
