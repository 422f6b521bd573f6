#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The problems of an invalid list, one string each.
fn problems(text: &str) -> Vec<String> {
    match AssetList::parse(text, "assets.toml") {
        Err(AssetError::Invalid(ps)) => ps.iter().map(|p| p.to_string()).collect(),
        Err(e) => panic!("{e}"),
        Ok(l) => panic!("accepted: {:?}", l.iter().collect::<Vec<_>>()),
    }
}

const GOOD: &str = r#"# ICU
[[device]]
mac = "00:09:FB:BD:75:6D"
ip = "10.20.1.15"
name = "ICU bed 4 monitor"
class = "patient-monitor"
department = "ICU"
location = "Building B, room 4.12"
owner = "Biomed team"
asset_id = "INV-00417"
udi = "(01)00884838038725(21)SN1234"
notes = """
Replaced 2026-03;
firmware "J.10.52"."""

[[device]]
# MAC only, Cisco notation
mac = "0003.b1b5.b648"
name = "Infusion pump 12"
department = ""

[[device]]
ip = "fd00:20::15"
name = "PACS"
"#;

#[test]
fn good_file_is_indexed_by_mac_and_ip() {
    let list = AssetList::parse(GOOD, "assets.toml").unwrap();
    assert_eq!(list.len(), 3);
    assert!(!list.is_empty());
    let a = list.by_mac(&mac("00:09:fb:bd:75:6d")).unwrap();
    assert_eq!(list.by_ip(&ip("10.20.1.15")), Some(a));
    assert_eq!(a.name.as_deref(), Some("ICU bed 4 monitor"));
    assert_eq!(a.class.as_deref(), Some("patient-monitor"));
    assert_eq!(a.department.as_deref(), Some("ICU"));
    assert_eq!(a.location.as_deref(), Some("Building B, room 4.12"));
    assert_eq!(a.owner.as_deref(), Some("Biomed team"));
    assert_eq!(a.asset_id.as_deref(), Some("INV-00417"));
    assert_eq!(a.udi.as_deref(), Some("(01)00884838038725(21)SN1234"));
    assert_eq!(
        a.notes.as_deref(),
        Some("Replaced 2026-03;\nfirmware \"J.10.52\".")
    );
    assert_eq!(a.line, 2, "the [[device]] header");
    let pump = list.by_mac(&mac("00:03:b1:b5:b6:48")).unwrap();
    assert_eq!(pump.ip, None);
    assert_eq!(pump.department, None, "empty means absent");
    assert_eq!(pump.line, 16);
    let pacs = list.by_ip(&ip("fd00:20::15")).unwrap();
    assert_eq!(pacs.mac, None);
    assert_eq!(pacs.name.as_deref(), Some("PACS"));
    assert_eq!(list.by_ip(&ip("10.20.1.16")), None);
    let names: Vec<_> = list.iter().filter_map(|a| a.name.as_deref()).collect();
    assert_eq!(names, ["ICU bed 4 monitor", "Infusion pump 12", "PACS"]);
}

#[test]
fn empty_and_device_free_files_are_empty_lists() {
    assert!(AssetList::parse("", "a").unwrap().is_empty());
    assert!(AssetList::parse("# nothing yet\n", "a").unwrap().is_empty());
    assert!(AssetList::parse("device = []\n", "a").unwrap().is_empty());
}

#[test]
fn mac_notations() {
    for s in [
        "00:1b:63:84:45:e6",
        "00-1B-63-84-45-E6",
        "001b.6384.45e6",
        "001B638445E6",
        "  00:1b:63:84:45:e6 ",
    ] {
        assert_eq!(parse_mac(s), Ok(mac("00:1b:63:84:45:e6")), "{s:?}");
    }
    // Locally administered MACs are devices too (VMs, some monitors).
    assert!(parse_mac("02:00:00:78:00:01").is_ok());
    for s in [
        "",
        "00:1b:63:84:45",
        "001b63.8445e6",
        "001b638445e",
        "0x001b638445e6",
        "zz:1b:63:84:45:e6",
    ] {
        let e = parse_mac(s).unwrap_err();
        assert!(e.contains("is not a MAC address"), "{s:?}: {e}");
    }
    assert!(parse_mac("ff:ff:ff:ff:ff:ff")
        .unwrap_err()
        .contains("group"));
    assert!(parse_mac("01:00:5e:00:00:fb")
        .unwrap_err()
        .contains("group"));
    assert!(parse_mac("00:00:00:00:00:00")
        .unwrap_err()
        .contains("all-zero"));
}

#[test]
fn ip_checks() {
    assert_eq!(parse_ip(" 10.1.2.3 "), Ok(ip("10.1.2.3")));
    assert_eq!(parse_ip("fe80::1"), Ok(ip("fe80::1")));
    assert_eq!(parse_ip("::ffff:10.1.2.3"), Ok(ip("10.1.2.3")));
    assert!(parse_ip("10.1.2")
        .unwrap_err()
        .contains("not an IP address"));
    assert!(parse_ip("10.1.2.3/24")
        .unwrap_err()
        .contains("not an IP address"));
    assert!(parse_ip("0.0.0.0").unwrap_err().contains("unspecified"));
    assert!(parse_ip("::").unwrap_err().contains("unspecified"));
    assert!(parse_ip("224.0.0.251").unwrap_err().contains("multicast"));
    assert!(parse_ip("ff02::1").unwrap_err().contains("multicast"));
    assert!(parse_ip("255.255.255.255")
        .unwrap_err()
        .contains("broadcast"));
}

#[test]
fn errors_name_file_line_and_key() {
    let cases = [
        (
            "[[device]]\nmac = \"00:1b:63:84:45:e6\"\n\n[[device]]\nname = \"x\"\nmac = \"00:1b:63:84:45\"\n",
            "assets.toml:6: `device[1].mac`: \"00:1b:63:84:45\" is not a MAC address",
        ),
        (
            "[[device]]\nip = \"10.1.2.300\"\n",
            "assets.toml:2: `device[0].ip`: \"10.1.2.300\" is not an IP address",
        ),
        (
            "[[device]]\nmac = \"00:1b:63:84:45:e6\"\n[[device]]\nname = \"no address\"\n",
            "assets.toml:3: `device[1]`: needs `mac` or `ip` (or both)",
        ),
        (
            "[[device]]\nip = \"10.1.2.3\"\n\ncolour = \"red\"\n",
            "assets.toml:4: `device[0].colour`: unknown field `colour`, expected one of",
        ),
        (
            "[[device]]\nip = \"10.1.2.3\"\nname = 7\n",
            "assets.toml:3: `device[0].name`: invalid type: integer `7`, expected a string",
        ),
        (
            "[[devices]]\nip = \"10.1.2.3\"\n",
            "assets.toml:1: `devices[0]`: unknown field `devices`, expected `device`",
        ),
        ("[[device]\nip = \"10.1.2.3\"\n", "assets.toml:1: "),
        (
            "device = [{ ip = \"10.1.2.3\" },\n  { ip = \"10.1.2.4\", mac = \"ff:ff:ff:ff:ff:ff\" }]\n",
            "assets.toml:2: `device[1].mac`: \"ff:ff:ff:ff:ff:ff\" is a group",
        ),
    ];
    for (text, expected) in cases {
        let ps = problems(text);
        assert_eq!(ps.len(), 1, "{text:?}: {ps:?}");
        assert!(ps[0].starts_with(expected), "{text:?}:\n{}", ps[0]);
        assert!(!ps[0].contains('\n'), "one line: {}", ps[0]);
    }
}

#[test]
fn every_bad_device_is_reported_not_only_the_first() {
    let text = "[[device]]\nmac = \"nope\"\nip = \"nope\"\n[[device]]\nip = \"10.0.0.1\"\n\
                [[device]]\nname = \"x\"\n";
    let ps = problems(text);
    assert_eq!(
        ps,
        [
            "assets.toml:2: `device[0].mac`: \"nope\" is not a MAC address (like 00:09:fb:bd:75:6d)",
            "assets.toml:3: `device[0].ip`: \"nope\" is not an IP address (like 10.20.1.15 or fd00::15)",
            "assets.toml:6: `device[2]`: needs `mac` or `ip` (or both)",
        ]
    );
    let err = AssetList::parse(text, "assets.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(err.lines().count(), 3, "{err}");
}

#[test]
fn duplicate_mac_or_ip_names_both_lines() {
    let text = "[[device]]\nmac = \"00:1b:63:84:45:e6\"\nip = \"10.0.0.1\"\n\n\
                [[device]]\nname = \"other\"\nmac = \"00-1B-63-84-45-E6\"\n\n\
                [[device]]\nip = \"10.0.0.1\"\n\n\
                [[device]]\nmac = \"001b.6384.45e6\"\nip = \"10.0.0.1\"\n";
    let ps = problems(text);
    assert_eq!(
        ps,
        [
            "assets.toml:7: `device[1].mac`: 00:1b:63:84:45:e6 is already the mac of the device on line 1",
            "assets.toml:10: `device[2].ip`: 10.0.0.1 is already the ip of the device on line 1",
            "assets.toml:13: `device[3].mac`: 00:1b:63:84:45:e6 is already the mac of the device on line 1",
            "assets.toml:14: `device[3].ip`: 10.0.0.1 is already the ip of the device on line 1",
        ]
    );
    // An IPv4-mapped IPv6 address is the IPv4 address.
    let text = "[[device]]\nip = \"10.0.0.1\"\n[[device]]\nip = \"::ffff:10.0.0.1\"\n";
    assert_eq!(
        problems(text),
        ["assets.toml:4: `device[1].ip`: 10.0.0.1 is already the ip of the device on line 1"]
    );
}

#[test]
fn many_problems_are_capped_in_the_message() {
    let text: String = (0..60)
        .map(|i| format!("[[device]]\nname = \"d{i}\"\n"))
        .collect();
    let err = AssetList::parse(&text, "a.toml").unwrap_err().to_string();
    assert_eq!(err.lines().count(), 51, "{err}");
    assert!(err.ends_with("... and 10 more problems"), "{err}");
}

#[test]
fn field_names_are_the_toml_keys() {
    let mut f = AssetFields::default();
    let mut text = String::from("[[device]]\nip = \"10.0.0.1\"\n");
    // Values each field accepts (the attributes are checked).
    let value = |name: &str| match name {
        "contact" => "true".to_string(),
        "usage_form" => "implant".to_string(),
        "level" => "slight".to_string(),
        _ => format!("v-{name}"),
    };
    for name in AssetFields::NAMES {
        *f.field_mut(name).unwrap() = Some(value(name));
        if name != "mac" && name != "ip" {
            text.push_str(&format!("{name} = \"{}\"\n", value(name)));
        }
    }
    assert!(f.field_mut("colour").is_none());
    let a = AssetList::parse(&text, "a").unwrap();
    let back = AssetFields::from(a.iter().next().unwrap());
    assert_eq!(back.ip.as_deref(), Some("10.0.0.1"));
    for name in AssetFields::NAMES
        .into_iter()
        .filter(|n| *n != "mac" && *n != "ip")
    {
        let mut b = back.clone();
        assert_eq!(
            b.field_mut(name).unwrap().as_deref(),
            Some(value(name).as_str())
        );
    }
}

#[test]
fn a_device_may_carry_its_own_attributes_all_three_and_graded() {
    let ok = AssetList::parse(
        "[[device]]\nip = \"10.0.0.1\"\nclass = \"ultrasound\"\ncontact = \"yes\"\nusage_form = \"diagnosis_monitoring\"\nlevel = \"serious\"\n",
        "a.toml",
    )
    .unwrap();
    let a = ok.iter().next().unwrap().attributes.unwrap();
    assert_eq!(a.grade().map(|g| g.get()), Ok(3));
    let bad = |body: &str| {
        AssetList::parse(&format!("[[device]]\nip = \"10.0.0.1\"\n{body}"), "a.toml")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad("contact = \"true\"\nlevel = \"slight\"\n"),
        "a.toml:3: `device[0].contact`: `contact`, `usage_form` and `level` go together: give all three or none"
    );
    assert!(
        bad("contact = \"false\"\nusage_form = \"disinfection\"\nlevel = \"none\"\n")
            .starts_with("a.toml:5: `device[0].level`: Table B.1 has no grade")
    );
    assert!(
        bad("contact = \"true\"\nusage_form = \"lab_instrument\"\nlevel = \"slight\"\n")
            .starts_with(
            "a.toml:4: `device[0].usage_form`: \"lab_instrument\" is not one of the contact forms"
        )
    );
    assert!(
        bad("contact = \"maybe\"\nusage_form = \"implant\"\nlevel = \"slight\"\n")
            .starts_with("a.toml:3: `device[0].contact`: \"maybe\" is not true or false")
    );
}

#[test]
fn load_and_load_configured() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("assets.toml");
    std::fs::write(&path, GOOD).unwrap();
    let list = AssetList::load(&path).unwrap();
    assert_eq!(list.len(), 3);
    let mut id = IdentityConfig {
        assets: path.clone(),
        ..IdentityConfig::default()
    };
    assert_eq!(AssetList::load_configured(&id).unwrap().unwrap().len(), 3);
    // Bad content names the file as given.
    std::fs::write(&path, "[[device]]\nmac = \"x\"\n").unwrap();
    let err = AssetList::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:2: `device[0].mac`: ", path.display())),
        "{err}"
    );
    // A path the user set must exist.
    id.assets = dir.path().join("missing.toml");
    let err = AssetList::load_configured(&id).unwrap_err();
    assert!(matches!(err, AssetError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.toml"), "{err}");
    // "" turns the list off.
    id.assets = PathBuf::new();
    assert!(AssetList::load_configured(&id).unwrap().is_none());
    // The default path may be absent (it is on a build machine).
    id.assets = PathBuf::from(crate::config::DEFAULT_ASSETS_PATH);
    if !id.assets.exists() {
        assert!(AssetList::load_configured(&id).unwrap().is_none());
    }
}
