#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use medtap::device::assets::Asset;
use medtap::net::Mac;

fn problems(imported: &Imported) -> Vec<String> {
    imported.problems.iter().map(|p| p.to_string()).collect()
}

/// CSV → TOML → `AssetList::parse`: the list the service would load.
fn reparse(list: &AssetList) -> AssetList {
    let text = to_toml(list, "in.csv");
    AssetList::parse(&text, "out.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn same(a: &Asset, b: &Asset) -> bool {
    AssetFields::from(a) == AssetFields::from(b)
}

#[test]
fn good_csv_with_bom_crlf_quoted_lines_and_blank_rows() {
    let csv = "\u{feff} MAC ,IP,Name, Department ,notes,Asset_ID\r\n\
               00:09:fb:bd:75:6d,10.20.1.15,ICU bed 4,ICU,\"two\r\nlines, a comma\",INV-1\r\n\
               ,10.20.1.16,\"PACS \"\"main\"\"\",Radiology,,\r\n\
               0003.b1b5.b648,,Pump 12,,,\r\n\
               ,,,,,\r\n\
               \r\n";
    let imported = import(csv.as_bytes(), "in.csv").unwrap();
    assert_eq!(problems(&imported), Vec::<String>::new());
    let list = &imported.list;
    assert_eq!(list.len(), 3);
    let a = list
        .by_mac(&Mac::parse("00:09:fb:bd:75:6d").unwrap())
        .unwrap();
    assert_eq!(a.name.as_deref(), Some("ICU bed 4"));
    assert_eq!(a.department.as_deref(), Some("ICU"));
    assert_eq!(a.notes.as_deref(), Some("two\r\nlines, a comma"));
    assert_eq!(a.asset_id.as_deref(), Some("INV-1"));
    assert_eq!(a.line, 2);
    let pacs = list.by_ip(&"10.20.1.16".parse().unwrap()).unwrap();
    assert_eq!(pacs.name.as_deref(), Some("PACS \"main\""));
    assert_eq!(pacs.line, 4, "after a cell spanning lines 2-3");
    assert_eq!(pacs.notes, None);
    let back = reparse(list);
    assert_eq!(back.len(), 3);
    for (x, y) in list.iter().zip(back.iter()) {
        assert!(same(x, y), "{x:?} != {y:?}");
    }
}

#[test]
fn a_bad_row_is_reported_by_its_physical_line() {
    let csv = "mac,ip,notes\n\
               00:09:fb:bd:75:6d,,\"first\nsecond\nthird\"\n\
               00:09:fb:bd:75:zz,,bad mac\n\
               ,10.0.0.300,bad ip\n\
               ,,no address\n\
               00:03:b1:b5:b6:48,10.0.0.2,fine\n\
               00:09:FB:BD:75:6D,10.0.0.3,same MAC as line 2\n\
               a,b,c,d\n";
    let imported = import(csv.as_bytes(), "devices.csv").unwrap();
    assert_eq!(
        problems(&imported),
        [
            "devices.csv:5: `mac`: \"00:09:fb:bd:75:zz\" is not a MAC address (like 00:09:fb:bd:75:6d)",
            "devices.csv:6: `ip`: \"10.0.0.300\" is not an IP address (like 10.20.1.15 or fd00::15)",
            "devices.csv:7: needs `mac` or `ip` (or both)",
            "devices.csv:9: `mac`: 00:09:fb:bd:75:6d is already the mac of the device on line 2",
            "devices.csv:10: 4 cells, but the header names 3 columns",
        ]
    );
    // The good rows were read (the command writes none of them).
    assert_eq!(imported.list.len(), 2);
}

#[test]
fn hostile_strings_round_trip_and_stay_terminal_safe() {
    let hostile = [
        "say \"hi\"",
        "three \"\"\" quotes",
        "'''literal'''",
        "back\\slash\\",
        "line\nbreak\r\nand CR\r",
        "tab\there",
        "nul\0bell\x07esc\x1b[31mred",
        "del\x7f c1\u{9b}",
        "rtl \u{202e}txt.exe",
        "sep\u{2028}here, zw\u{200b}sp, tag\u{e0041}",
        "Dräger, 杭州",
        "ends with quote\"",
        "\\u0041 is not an escape here",
    ];
    let mut csv = String::from("ip,name,notes,udi\n");
    for (i, s) in hostile.iter().enumerate() {
        let q = s.replace('"', "\"\"");
        csv.push_str(&format!("10.0.0.{},\"{q}\",\"{q}{q}\",\"{q}\"\n", i + 1));
    }
    let imported = import(csv.as_bytes(), "h.csv").unwrap();
    assert_eq!(problems(&imported), Vec::<String>::new());
    let list = imported.list;
    assert_eq!(list.len(), hostile.len());
    for (a, s) in list.iter().zip(hostile) {
        assert_eq!(a.name.as_deref(), Some(s));
        assert_eq!(a.notes.as_deref(), Some(format!("{s}{s}").as_str()));
    }
    let text = to_toml(&list, "h\n[[device]]\nip = \"1.2.3.4\".csv");
    assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text}");
    let back = reparse(&list);
    assert_eq!(
        back.len(),
        list.len(),
        "the file name cannot inject a device"
    );
    for (x, y) in list.iter().zip(back.iter()) {
        assert!(same(x, y), "{x:?} != {y:?}\n{text}");
    }
}

#[test]
fn physical_lines_with_crlf_lone_cr_blank_lines_and_quoted_breaks() {
    for (csv, expected) in [
        ("ip\r\n10.0.0.1\r\n10.0.0.2\r\n", vec![2, 3]),
        ("ip\n\n\n10.0.0.1\n\r\n10.0.0.2\n", vec![4, 6]),
        ("ip\r10.0.0.1\r10.0.0.2\r", vec![2, 3]),
        (
            "ip,notes\r\n10.0.0.1,\"a\r\nb\nc\rd\"\r\n10.0.0.2,x\r\n",
            vec![2, 6],
        ),
    ] {
        let imported = import(csv.as_bytes(), "l.csv").unwrap();
        let lines: Vec<usize> = imported.list.iter().map(|a| a.line).collect();
        assert_eq!(lines, expected, "{csv:?}");
    }
}

#[test]
fn toml_string_escapes() {
    assert_eq!(toml_string("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(toml_string("x\ny\tz\r"), r#""x\ny\tz\r""#);
    assert_eq!(toml_string("\0\x1b\x7f"), r#""\u0000\u001B\u007F""#);
    assert_eq!(toml_string("\u{202e}\u{2028}"), r#""\u202E\u2028""#);
    assert_eq!(toml_string("\u{e0041}"), r#""\U000E0041""#);
    assert_eq!(toml_string("Dräger 杭州"), "\"Dräger 杭州\"");
}

#[test]
fn header_errors_name_the_columns() {
    let err = |csv: &str| import(csv.as_bytes(), "h.csv").err().unwrap().to_string();
    let e = err("mac,Colour,ip,,Room\n");
    assert!(
        e.starts_with("h.csv:1: unknown column(s): \"colour\", column 4 has no name, \"room\"; the columns are mac, ip, name"),
        "{e}"
    );
    assert_eq!(err("mac,MAC\n"), "h.csv:1: column `mac` appears twice");
    assert_eq!(
        err("name,department\nx,y\n"),
        "h.csv:1: needs a `mac` or an `ip` column (or both)"
    );
    assert!(err("").contains("empty file"));
}

#[test]
fn semicolon_and_tab_separated_exports() {
    for (csv, d) in [
        ("mac;name;notes\n00:09:fb:bd:75:6d;Monitor, ICU;a,b\n", b';'),
        ("ip\tname\n10.0.0.1\tPACS, main\n", b'\t'),
        ("ip,name\n10.0.0.1,\"x;y;z\"\n", b','),
    ] {
        assert_eq!(delimiter(csv.as_bytes()), d, "{csv:?}");
        let imported = import(csv.as_bytes(), "s.csv").unwrap();
        assert_eq!(problems(&imported), Vec::<String>::new(), "{csv:?}");
        assert_eq!(imported.list.len(), 1);
    }
}

#[test]
fn cells_that_are_not_utf8_are_named() {
    let csv = b"ip,name\n10.0.0.1,Dr\xe4ger\n10.0.0.2,ok\n";
    let imported = import(csv, "w.csv").unwrap();
    assert_eq!(
        problems(&imported),
        ["w.csv:2: `name`: not UTF-8 text (export the sheet as \"CSV UTF-8\")"]
    );
    assert_eq!(imported.list.len(), 1);
}

#[test]
fn write_atomically_replaces_the_file_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assets.toml");
    std::fs::write(&out, "old").unwrap();
    write_atomically(&out, b"new").unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "new");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(write_atomically(&dir.path().join("no/such/dir.toml"), b"x").is_err());
}
