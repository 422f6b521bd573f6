use super::*;
use crate::device::assets::AssetList;
use crate::device::classes::Classes;
use crate::policy::rules::{compile, Context, BUILTIN, BUILTIN_FILE};

const CT: &str = "02:00:00:00:01:21";
const PACS: &str = "02:00:00:00:02:10";

fn policy(extra: &str) -> Policy {
    let assets = AssetList::parse(
        &format!(
            "[[device]]\nname = \"PACS-1\"\nmac = \"{PACS}\"\nip = \"10.20.2.10\"\nclass = \"pacs\"\n\
             [[device]]\nname = \"CT-1\"\nmac = \"{CT}\"\nclass = \"ct_scanner\"\n"
        ),
        "a.toml",
    )
    .unwrap();
    compile(
        &[
            (BUILTIN_FILE.into(), BUILTIN.into()),
            ("h.toml".into(), extra.into()),
        ],
        &Context {
            classes: Classes::builtin(),
            assets: Some(&assets),
            internal: vec![Cidr::parse("10.20.0.0/16").unwrap()],
            now: 0,
        },
    )
    .unwrap()
}

fn end(mac: &str, ip: &str, class: Option<&'static str>) -> End<'static> {
    End {
        mac: Mac::parse(mac),
        ip: Some(ip.parse().unwrap()),
        class,
        grade: class.map(|_| 3),
        medical: class == Some("ct_scanner"),
    }
}

fn dicom(app: Option<AppProto>) -> Transport {
    Transport {
        proto: 6,
        server_port: 104,
        app,
    }
}

#[test]
fn ct_may_store_to_the_registered_pacs_once_dicom_is_seen() {
    let p = policy("");
    let ct = end(CT, "10.20.1.21", Some("ct_scanner"));
    let pacs = end(PACS, "10.20.2.10", Some("pacs"));
    let i = Direction::Initiates;
    assert_eq!(
        p.check(&ct, i, &pacs, &dicom(None), &Op::Flow),
        Verdict::Pending
    );
    let t = dicom(Some(AppProto::Dicom));
    assert_eq!(
        p.check(&ct, i, &pacs, &t, &Op::App(AppProto::Dicom)),
        Verdict::Allowed
    );
    let store = Op::DicomOperation {
        command: "C-STORE",
        called: "PACS",
    };
    assert_eq!(p.check(&ct, i, &pacs, &t, &store), Verdict::Allowed);
    let mv = Op::DicomOperation {
        command: "C-MOVE",
        called: "PACS",
    };
    assert_eq!(p.check(&ct, i, &pacs, &t, &mv), Verdict::Violation);
    // The PACS's class is not enforced by the shipped policy.
    let a = Direction::Accepts;
    assert_eq!(p.check(&pacs, a, &ct, &t, &store), Verdict::NotEnforced);
}

#[test]
fn a_laptop_behaving_like_a_pacs_is_no_pacs() {
    let p = policy("");
    let ct = end(CT, "10.20.1.21", Some("ct_scanner"));
    // Inferred class pacs, not registered: `class:pacs` does not match.
    let rogue = end("02:00:00:00:01:66", "10.20.1.66", Some("pacs"));
    let i = Direction::Initiates;
    assert_eq!(
        p.check(&ct, i, &rogue, &dicom(None), &Op::Flow),
        Verdict::Violation
    );
    assert_eq!(p.registered_class(&rogue), None);
    assert!(!p.is_registered(&rogue));
}

#[test]
fn infrastructure_internet_and_multicast() {
    let p = policy("");
    let ct = end(CT, "10.20.1.21", Some("ct_scanner"));
    let dns = End {
        ip: Some("10.20.2.53".parse().unwrap()),
        ..End::default()
    };
    let udp53 = Transport {
        proto: 17,
        server_port: 53,
        app: None,
    };
    let i = Direction::Initiates;
    assert_eq!(p.check(&ct, i, &dns, &udp53, &Op::Flow), Verdict::Allowed);
    let google = End {
        ip: Some("8.8.8.8".parse().unwrap()),
        ..End::default()
    };
    assert_eq!(
        p.check(&ct, i, &google, &udp53, &Op::Flow),
        Verdict::Violation
    );
    assert!(!p.is_internal("8.8.8.8".parse().unwrap()));
    assert!(p.is_internal("224.0.0.251".parse().unwrap()));
    assert!(p.is_internal("255.255.255.255".parse().unwrap()));
    assert!(p.is_internal("fe80::1".parse().unwrap()));
    assert!(p.is_internal("10.20.9.9".parse().unwrap()));
}

#[test]
fn classes_no_entry_names_are_not_enforced() {
    let p = policy("");
    let ws = end("02:00:00:00:04:01", "10.20.4.1", Some("workstation"));
    let any = end("02:00:00:00:04:02", "10.20.4.2", None);
    let t = Transport {
        proto: 6,
        server_port: 445,
        app: None,
    };
    assert_eq!(
        p.check(&ws, Direction::Initiates, &any, &t, &Op::Flow),
        Verdict::NotEnforced
    );
    assert_eq!(
        p.check(&any, Direction::Accepts, &ws, &t, &Op::Flow),
        Verdict::NotEnforced
    );
    assert!(!p.enforces(&ws));
}

#[test]
fn mqtt_topics_and_hl7_headers() {
    let p = policy(
        r#"
[[allow]]
classes = ["patient_monitor"]
app = "mqtt"
peer = "any"
direction = "initiates"
mqtt = { publish = ["icu/+/vitals"], subscribe = ["icu/bed1/#"] }

[[allow]]
classes = ["infusion_pump"]
app = "hl7"
peer = "any"
direction = "initiates"
hl7 = { receiving_app = ["HIS_ENGINE"], message_types = ["ORU^R01*"] }
"#,
    );
    let mon = end("02:00:00:00:03:51", "10.20.3.51", Some("patient_monitor"));
    let broker = end("02:00:00:00:02:14", "10.20.2.14", None);
    let t = Transport {
        proto: 6,
        server_port: 1883,
        app: Some(AppProto::Mqtt),
    };
    let i = Direction::Initiates;
    let ok = |op: Op<'_>| p.check(&mon, i, &broker, &t, &op);
    assert_eq!(ok(Op::MqttPublish("icu/bed1/vitals")), Verdict::Allowed);
    assert_eq!(ok(Op::MqttPublish("icu/bed1/alarms")), Verdict::Violation);
    assert_eq!(ok(Op::MqttSubscribe("icu/bed1/+")), Verdict::Allowed);
    assert_eq!(ok(Op::MqttSubscribe("#")), Verdict::Violation);
    let pump = end("02:00:00:00:03:41", "10.20.3.41", Some("infusion_pump"));
    let t = Transport {
        proto: 6,
        server_port: 2575,
        app: Some(AppProto::Hl7),
    };
    let hl7 = |receiving, message_type| Op::Hl7 {
        sending: "PUMP_APP",
        receiving,
        message_type,
    };
    assert_eq!(
        p.check(&pump, i, &broker, &t, &hl7("HIS_ENGINE", "ORU^R01^ORU_R01")),
        Verdict::Allowed
    );
    assert_eq!(
        p.check(&pump, i, &broker, &t, &hl7("OTHER", "ORU^R01")),
        Verdict::Violation
    );
}

#[test]
fn severity_by_grade_class_and_rule() {
    let mut p = policy("");
    let ct = end(CT, "10.20.1.21", Some("ct_scanner"));
    assert_eq!(p.violation_severity(&ct), Severity::High);
    let pump = End {
        grade: Some(2),
        ..end("02:00:00:00:03:41", "10.20.3.41", Some("infusion_pump"))
    };
    assert_eq!(p.violation_severity(&pump), Severity::Medium);
    p.classes.get_mut("ct_scanner").unwrap().severity = Some(Severity::Low);
    assert_eq!(p.violation_severity(&ct), Severity::Low);
}
