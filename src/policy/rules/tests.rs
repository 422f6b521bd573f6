use super::*;
use crate::device::assets::AssetList;

fn cx<'a>(classes: &'a Classes, assets: Option<&'a AssetList>) -> Context<'a> {
    Context {
        classes,
        assets,
        internal: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        now: 0,
    }
}

fn compile_one(text: &str) -> Result<Policy, Vec<Located>> {
    let classes = Classes::builtin();
    compile(
        &[
            (BUILTIN_FILE.into(), BUILTIN.into()),
            ("h.toml".into(), text.into()),
        ],
        &cx(classes, None),
    )
}

#[test]
fn shipped_policy_compiles_and_enforces_medical_classes_only() {
    let p = compile_one("").unwrap();
    for c in [
        "ct_scanner",
        "mr_scanner",
        "infusion_pump",
        "patient_monitor",
        "lab_analyzer",
    ] {
        assert!(p.classes.contains_key(c), "{c} enforced");
    }
    for c in ["pacs", "workstation", "unknown", "his"] {
        assert!(!p.classes.contains_key(c), "{c} not enforced");
    }
    assert!(
        p.common.len() >= 5,
        "infrastructure entries for every class"
    );
    assert_eq!(p.files, [BUILTIN_FILE, "h.toml"]);
}

#[test]
fn hospital_groups_reach_shipped_entries() {
    let p = compile_one("[groups]\npacs = [\"10.20.2.10\", \"10.20.3.0/24\"]\n").unwrap();
    let e = p.classes["ct_scanner"]
        .entries
        .iter()
        .map(|&i| &p.entries[i as usize])
        .find(|e| e.app == [AppProto::Dicom] && e.direction == Direction::Initiates)
        .unwrap();
    let group = e
        .peers
        .iter()
        .find_map(|p| match p {
            Peer::Group(n, nets) if n == "pacs" => Some(nets.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(group.len(), 2);
    assert!(group[1].contains("10.20.3.7".parse().unwrap()));
}

#[test]
fn replace_drops_the_shipped_entries_of_a_class() {
    let text = r#"
[class.ct_scanner]
replace = true
severity = "medium"

[[allow]]
classes = ["ct_scanner"]
app = "dicom"
peer = "device:10.20.2.10"
direction = "initiates"
dicom = { called_ae = ["PACS"], operations = ["c-store"] }
"#;
    let p = compile_one(text).unwrap();
    let c = &p.classes["ct_scanner"];
    assert_eq!(c.entries.len(), 1);
    assert_eq!(c.severity, Some(Severity::Medium));
    let e = &p.entries[c.entries[0] as usize];
    assert_eq!(e.peers, [Peer::Ip("10.20.2.10".parse().unwrap())]);
    assert!(e.dicom_operation_ok("C-STORE", "PACS"));
    assert!(!e.dicom_operation_ok("C-STORE", "ROGUE"));
    assert!(!e.dicom_operation_ok("C-MOVE", "PACS"));
    assert!(e.at.starts_with("h.toml:"));
}

#[test]
fn problems_name_file_line_and_key() {
    let text = r#"
[[allow]]
classes = ["ct_scaner"]
app = "dicom"
peer = "pacz"

[[allow]]
classes = ["mr_scanner"]
proto = "tcp"
ports = ["9000-8000"]
direction = "outwards"
hl7 = { message_types = ["ORU^R01"] }

[severity]
NEW_DEVIC = "high"

[[suppress]]
rule = "SCAN"
until = "31.12.2026"
reason = " "
"#;
    let e: Vec<String> = compile_one(text)
        .unwrap_err()
        .iter()
        .map(|l| l.to_string())
        .collect();
    let has = |needle: &str| e.iter().any(|l| l.contains(needle));
    assert!(
        has("h.toml:2: `allow[0].peer[0]`: \"pacz\" is not a group"),
        "{e:#?}"
    );
    assert!(
        has("h.toml:3: `allow[0].classes[0]`: \"ct_scaner\" is not a device class id"),
        "{e:#?}"
    );
    assert!(has("`allow[1].ports[0]`: not a port or a range"), "{e:#?}");
    assert!(
        has("`allow[1].direction`: \"outwards\" is not initiates, accepts or both"),
        "{e:#?}"
    );
    assert!(
        has("`allow[1].hl7`: `hl7` conditions need app = \"hl7\""),
        "{e:#?}"
    );
    assert!(
        has("`severity.NEW_DEVIC`: \"NEW_DEVIC\" is not a rule id"),
        "{e:#?}"
    );
    assert!(
        has("`suppress[0].until`: \"31.12.2026\" is not a date"),
        "{e:#?}"
    );
    assert!(
        has("`suppress[0].reason`: a suppression needs a reason"),
        "{e:#?}"
    );
    assert!(e.iter().all(|l| l.starts_with("h.toml:")), "{e:#?}");
}

#[test]
fn unknown_keys_are_refused() {
    let e = compile_one("[[allow]]\nclasses = [\"ct_scanner\"]\nport = 104\n").unwrap_err();
    assert!(
        e[0].to_string().contains("unknown field `port`"),
        "{}",
        e[0]
    );
}

#[test]
fn devices_by_asset_name_mac_and_address() {
    let assets = AssetList::parse(
        "[[device]]\nname = \"CT-1\"\nmac = \"02:00:00:00:00:01\"\nclass = \"ct_scanner\"\n",
        "a.toml",
    )
    .unwrap();
    let classes = Classes::builtin();
    let text = r#"
[[allow]]
devices = ["CT-1", "10.1.2.3"]
proto = "tcp"
ports = [22]
peer = "device:02:00:00:00:00:09"
"#;
    let p = compile(
        &[("h.toml".into(), text.into())],
        &cx(classes, Some(&assets)),
    )
    .unwrap();
    let mac = Mac::parse("02:00:00:00:00:01").unwrap();
    assert_eq!(p.by_mac[&mac], [0]);
    assert_eq!(p.by_ip[&"10.1.2.3".parse::<IpAddr>().unwrap()], [0]);
    assert_eq!(p.assets_by_mac[&mac].class.as_deref(), Some("ct_scanner"));
    assert_eq!(p.assets_by_mac[&mac].name.as_deref(), Some("CT-1"));
    let e = compile(
        &[("h.toml".into(), "[[allow]]\ndevices = [\"CT-2\"]\n".into())],
        &cx(classes, Some(&assets)),
    )
    .unwrap_err();
    assert!(
        e[0].to_string().contains("\"CT-2\" is neither a MAC"),
        "{}",
        e[0]
    );
}

#[test]
fn globs_and_port_ranges() {
    assert!(Pattern("ADT^*".into()).matches("ADT^A01"));
    assert!(!Pattern("ADT^*".into()).matches("ORU^R01"));
    assert!(Pattern("*PACS*".into()).matches("MAIN_PACS_1"));
    assert!(Pattern("PACS".into()).matches("PACS"));
    assert!(!Pattern("PACS".into()).matches("PACS2"));
    assert!(Pattern("*".into()).matches(""));
    assert_eq!(
        port_range(&PortSpec::Range("8000-8100".into())),
        Some((8000, 8100))
    );
    assert_eq!(port_range(&PortSpec::Range("9-8".into())), None);
    assert_eq!(port_range(&PortSpec::One(104)), Some((104, 104)));
}
