//! Tests of the vendor table. Expected organisations are the registry's
//! own lines (Debian ieee-data 20220827.1, /usr/share/ieee-data/*.csv),
//! quoted in the comments as `file:line: registry line`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use std::collections::HashSet;

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn builtin() -> &'static Vendors {
    let v = Vendors::builtin();
    assert!(!v.is_empty(), "the built-in table failed to parse");
    v
}

/// The organisation and block size the table gives `m`.
fn org(m: &str) -> Option<(&'static str, Block)> {
    builtin().lookup(mac(m)).map(|v| (v.organization, v.block))
}

fn is_medical(m: &str) -> bool {
    builtin().lookup(mac(m)).unwrap().medical
}

#[test]
fn builtin_files_parse_and_hold_every_data_line() {
    let v = Vendors::parse(BUILTIN_OUI, BUILTIN_MEDICAL).unwrap();
    let data_lines = BUILTIN_OUI
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    assert_eq!(v.len(), data_lines);
    // MA-L, MA-M, MA-S + IAB lines of the 2022 registry, less the three
    // MA-L lines listed twice (see the header of rules/oui.tsv).
    assert_eq!(v.len(), 32_530 - 3 + 4_390 + 5_029 + 4_575);
    assert_eq!(Vendors::builtin().len(), v.len());
}

#[test]
fn every_medical_org_is_a_registry_name_in_oui_tsv() {
    let orgs: HashSet<&str> = BUILTIN_OUI
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').nth(2))
        .collect();
    let list: toml::Value = toml::from_str(BUILTIN_MEDICAL).unwrap();
    let vendors = list["vendor"].as_array().unwrap();
    assert!(vendors.len() > 50, "{}", vendors.len());
    let mut n = 0;
    for v in vendors {
        let name = v["name"].as_str().unwrap();
        for o in v["orgs"].as_array().unwrap() {
            let o = o.as_str().unwrap();
            assert!(orgs.contains(o), "{name}: {o:?} is not in rules/oui.tsv");
            n += 1;
        }
    }
    assert!(n > 100, "{n}");
}

// The registry table against a naive reading of itself: for the first,
// a middle and the last address of every block, the answer is the longest
// prefix listed, found here by trying 36, 28 then 24 bits in a map.
#[test]
fn every_block_resolves_to_its_longest_listed_prefix() {
    let mut by_prefix: HashMap<(u32, u64), &str> = HashMap::new();
    for l in BUILTIN_OUI.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        let bits: u32 = f[1].parse().unwrap();
        by_prefix.insert((bits, u64::from_str_radix(f[0], 16).unwrap()), f[2]);
    }
    let v = builtin();
    let mut checked = 0;
    for (&(bits, prefix), _) in by_prefix.iter() {
        let host_bits = 48 - bits;
        for host in [0, 1u64 << (host_bits - 1), (1u64 << host_bits) - 1] {
            let m = (prefix << host_bits) | host;
            let mut b = [0u8; 6];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = (m >> (40 - 8 * i)) as u8;
            }
            let mac = Mac(b);
            let expected = [36u32, 28, 24]
                .into_iter()
                .find_map(|n| by_prefix.get(&(n, m >> (48 - n))).map(|o| (n, *o)));
            let got = v.lookup(mac).map(|x| (x.block.bits(), x.organization));
            if mac.is_group() || mac.is_locally_administered() {
                assert_eq!(got, None, "{mac}");
            } else {
                assert_eq!(got, expected, "{mac}");
                checked += 1;
            }
        }
    }
    assert!(checked > 130_000, "{checked}");
}

// MACs from the public corpus (shared/corpus/public), as
// `tshark -T fields -e eth.src -e eth.src_resolved` shows them; the
// expected name is the registry's line, not tshark's abbreviation.
#[test]
fn macs_from_the_corpus_captures_resolve_to_their_registry_lines() {
    let cases = [
        // hl7/tapirx_adt_a01_udi_obx.pcap (tshark: ICUMedic_b5:b6:48)
        // oui.csv:12918: MA-L,0003B1,"ICU Medical, Inc.",951 Calle Amanecer San Clemente CA
        ("00:03:b1:b5:b6:48", "ICU Medical, Inc."),
        // mixed/tapirxl_synthetic_philips_demo.pcap (PhilipsM_bb:cc:02)
        // oui.csv:17176: MA-L,00095C,Philips Medical Systems - Cardiac and Monitoring Systems (CM,3000 Minuteman Road Andover
        (
            "00:09:5c:bb:cc:02",
            "Philips Medical Systems - Cardiac and Monitoring Systems (CM",
        ),
        // same capture (PhilipsP_bd:75:6d)
        // oui.csv:17156: MA-L,0009FB,Philips Patient Monitoring,Hewlett-Packard-Str.2 Boeblingen
        ("00:09:fb:bd:75:6d", "Philips Patient Monitoring"),
        // same capture (PhilipsA_aa:bb:01)
        // oui.csv:11226: MA-L,009020,PHILIPS ANALYTICAL X-RAY B.V.,LELYWEG 1 7602 EA ALMELO
        ("00:90:20:aa:bb:01", "PHILIPS ANALYTICAL X-RAY B.V."),
        // same capture (HP_aa:bb:02)
        // oui.csv:18298: MA-L,E8D8D1,HP Inc.,10300 Energy Dr Spring TX
        ("e8:d8:d1:aa:bb:02", "HP Inc."),
        // dhcp/arkime_wireshark_dhcp.pcap (Dell_ad:f1:9b)
        // oui.csv:20980: MA-L,000874,Dell Inc.,One Dell Way Round Rock TX
        ("00:08:74:ad:f1:9b", "Dell Inc."),
        // dhcp/zeek_dhcp.pcap (Dell_99:49:29)
        // oui.csv:8884: MA-L,90B11C,Dell Inc.,One Dell Way Round Rock TX
        ("90:b1:1c:99:49:29", "Dell Inc."),
        // dhcp/ndpi_dhcp_fuzz.pcapng (HewlettP_da:2d:79)
        // oui.csv:14655: MA-L,001F29,Hewlett Packard,20555 State Highway 249 Houston TX
        ("00:1f:29:da:2d:79", "Hewlett Packard"),
        // mqtt/ndpi_coap_mqtt_port17501.pcap (Raspberr_a6:b2:2f)
        // oui.csv:28616: MA-L,B827EB,Raspberry Pi Foundation,Mitchell Wood House Caldecote
        ("b8:27:eb:a6:b2:2f", "Raspberry Pi Foundation"),
        // same capture (Dell_a7:49:a1)
        // oui.csv:20966: MA-L,0024E8,Dell Inc.,"One Dell Way, MS RR5-45 Round Rock  US 78682 "
        ("00:24:e8:a7:49:a1", "Dell Inc."),
    ];
    for (m, expected) in cases {
        assert_eq!(org(m), Some((expected, Block::MaL)), "{m}");
    }
    // mqtt/ndpi_coap_mqtt_port17501.pcap: tshark (a newer manuf file) says
    // JuniperN_13:25:40; the 2022 registry has no 98:49:25 block yet.
    assert_eq!(org("98:49:25:13:25:40"), None);
}

#[test]
fn ma_m_and_ma_s_blocks_win_over_the_ma_l_block_that_holds_them() {
    // oui.csv:928: MA-L,144FD7,IEEE Registration Authority,445 Hoes Lane Piscataway
    // mam.csv:2003: MA-M,144FD7E,"Edan Instruments, Inc.",No.15, Jinhui Rd. ... Shenzhen
    assert_eq!(
        org("14:4f:d7:e1:23:45"),
        Some(("Edan Instruments, Inc.", Block::MaM))
    );
    // 144FD7F is not assigned in the 2022 data: the MA-L answers.
    assert_eq!(
        org("14:4f:d7:f1:23:45"),
        Some(("IEEE Registration Authority", Block::MaL))
    );
    // mam.csv:3374: MA-M,8411C23,<TAB> FUJIFILM Healthcare Corporation,...
    // (the registry's leading tab and space are trimmed)
    assert_eq!(
        org("84:11:c2:3f:ff:ff"),
        Some(("FUJIFILM Healthcare Corporation", Block::MaM))
    );
    // oui.csv:1684: MA-L,70B3D5,IEEE Registration Authority,445 Hoes Lane Piscataway
    // oui36.csv:1505: MA-S,70B3D5B34,Medtronic,7 Hamarpe Street Jerusalem
    assert_eq!(org("70:b3:d5:b3:40:00"), Some(("Medtronic", Block::MaS)));
    assert_eq!(org("70:b3:d5:b3:4f:ff"), Some(("Medtronic", Block::MaS)));
    assert_eq!(
        org("70:b3:d5:b3:50:00").map(|o| o.1),
        Some(Block::MaS),
        "the next MA-S block"
    );
    // oui.csv:8045: MA-L,0050C2,IEEE Registration Authority,...
    // iab.csv:2123: IAB,0050C2C1C,Becton Dickinson,7 Loveton Circle Sparks MD
    assert_eq!(
        org("00:50:c2:c1:c0:01"),
        Some(("Becton Dickinson", Block::MaS))
    );
    assert!(is_medical("00:50:c2:c1:c0:01"));
    assert!(is_medical("70:b3:d5:b3:40:00"));
    assert!(is_medical("14:4f:d7:e1:23:45"));
    assert!(!is_medical("14:4f:d7:f1:23:45"));
}

#[test]
fn locally_administered_and_group_macs_have_no_vendor() {
    for m in [
        // tests/data captures (scripts/make-*-captures.sh) use 02:00:00:...
        "02:00:00:78:00:01",
        "06:00:00:00:00:01",
        "0a:00:27:00:00:01",
        // Apple's 00:1b:63 block with the U/L bit set
        "02:1b:63:84:45:e6",
        "0e:ff:ff:ff:ff:ff",
        // corpus: VM and container interfaces
        "3e:be:bd:cc:a6:d6",
        "42:b4:44:b4:f0:ee",
        "92:dd:a4:8d:5f:de",
        // The U/L bit wins even where the registry lists the block
        // (oui.csv: MA-L,02608C,3COM, an assignment from before the bit).
        "02:60:8c:00:00:01",
        // group addresses
        "01:00:5e:00:00:fc",
        "33:33:ff:00:00:02",
        "ff:ff:ff:ff:ff:ff",
    ] {
        assert_eq!(builtin().lookup(mac(m)), None, "{m}");
    }
    // Without the bit it is Apple's:
    // oui.csv:8276: MA-L,001B63,"Apple, Inc.",1 Infinite Loop Cupertino CA
    assert_eq!(org("00:1b:63:84:45:e6").map(|o| o.0), Some("Apple, Inc."));
}

#[test]
fn medical_flag_for_medical_units_and_not_for_it_or_conglomerates() {
    let v = builtin();
    for (m, name) in [
        // oui.csv:452: MA-L,444B5D,GE Healthcare,Kuortaneenkatu 2 Helsinki
        ("44:4b:5d:00:00:01", "GE Healthcare"),
        // mam.csv:1627: MA-M,50A0308,GE Medical System China Co. Ltd.,No. 19 ChangJiang Road ... Wuxi
        ("50:a0:30:80:00:01", "GE Healthcare"),
        // oui.csv:17176 / 17156 (above): Philips CM and Patient Monitoring
        ("00:09:5c:bb:cc:02", "Philips Healthcare"),
        ("00:09:fb:bd:75:6d", "Philips Healthcare"),
        // oui.csv:29001: MA-L,884B39,"Siemens AG, Healthcare Sector",Henkestrasse 127 Erlangen
        ("88:4b:39:00:00:01", "Siemens Healthineers"),
        // oui.csv:15236: MA-L,20E791,"Siemens Healthcare Diagnostics, Inc",2 Edgewater Drive Norwood MA
        ("20:e7:91:00:00:01", "Siemens Healthineers"),
        // oui.csv:16832: MA-L,001221,B.Braun Melsungen AG,Schwarzenberger Weg 73-79 Melsungen
        ("00:12:21:00:00:01", "B. Braun"),
        // oui.csv:12918 (above): ICU Medical
        ("00:03:b1:b5:b6:48", "ICU Medical"),
    ] {
        let got = v.lookup(mac(m)).unwrap();
        assert!(got.medical, "{m} {got:?}");
        assert_eq!(got.medical_name, Some(name), "{m}");
    }
    for m in [
        // Dell (oui.csv:20980), HP Inc. (18298), Hewlett Packard (14655),
        // Raspberry Pi Foundation (28616): lines quoted above.
        "00:08:74:ad:f1:9b",
        "e8:d8:d1:aa:bb:02",
        "00:1f:29:da:2d:79",
        "b8:27:eb:a6:b2:2f",
        // A conglomerate's generic entries are not medical:
        // oui.csv:6698: MA-L,000E8C,Siemens AG,Siemensstraße 10 Regensburg
        "00:0e:8c:00:00:01",
        // oui.csv:11226 (above): PHILIPS ANALYTICAL X-RAY B.V. (industrial X-ray)
        "00:90:20:aa:bb:01",
        // The MA-L holding GE's MA-M is IEEE's; its other MA-M are not GE's:
        // mam.csv:1628: MA-M,50A0300,Gopod Group Limited,...
        "50:a0:30:00:00:01",
    ] {
        let got = v.lookup(mac(m)).unwrap();
        assert!(!got.medical, "{m} {got:?}");
        assert_eq!(got.medical_name, None, "{m}");
    }
}

#[test]
fn vendors_is_send_and_sync_and_small() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Vendors>();
    let bytes = builtin().heap_bytes();
    assert!(bytes < 4 << 20, "{bytes} bytes");
}

const TSV: &str = "# test\n001122\t24\tAcme Medical\n0011223\t28\tAcme Sub\n\n\
                   001122334\t36\tTiny\n00AABB\t24\tOther Co\n";

#[test]
fn parse_small_table() {
    let v = Vendors::parse(
        TSV,
        "[[vendor]]\nname = \"Acme\"\norgs = [\"Acme Medical\"]\n",
    )
    .unwrap();
    assert_eq!(v.len(), 4);
    let a = v.lookup(mac("00:11:22:00:00:00")).unwrap();
    assert_eq!(
        a,
        Vendor {
            organization: "Acme Medical",
            medical: true,
            block: Block::MaL,
            medical_name: Some("Acme"),
        }
    );
    assert_eq!(
        v.lookup(mac("00:11:22:3f:00:00")).unwrap().organization,
        "Acme Sub"
    );
    assert_eq!(
        v.lookup(mac("00:11:22:33:40:00")).unwrap().organization,
        "Tiny"
    );
    assert_eq!(
        v.lookup(mac("00:11:22:33:50:00")).unwrap().organization,
        "Acme Sub"
    );
    assert!(!v.lookup(mac("00:aa:bb:00:00:00")).unwrap().medical);
    assert_eq!(v.lookup(mac("00:aa:bc:00:00:00")), None);
    let empty = Vendors::parse("", "").unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.lookup(mac("00:11:22:00:00:00")), None);
}

#[test]
fn table_errors_name_the_line() {
    let cases = [
        (
            "# c\n001122\t24\n",
            "oui.tsv:2: expected PREFIX<TAB>BITS<TAB>ORGANIZATION",
        ),
        ("001122\t24\tA\tB\n", "oui.tsv:1: expected PREFIX"),
        (
            "001122\t32\tA\n",
            "oui.tsv:1: \"32\" bits: expected 24, 28 or 36",
        ),
        (
            "0011223\t24\tA\n",
            "oui.tsv:1: \"0011223\" is not a 24-bit hex prefix",
        ),
        (
            "00112G\t24\tA\n",
            "oui.tsv:1: \"00112G\" is not a 24-bit hex prefix",
        ),
        (
            "+01122\t24\tA\n",
            "oui.tsv:1: \"+01122\" is not a 24-bit hex prefix",
        ),
        ("001122\t24\t  \n", "oui.tsv:1: empty organisation"),
        (
            "001122\t24\tA\n\n001122\t24\tB\n",
            "oui.tsv:3: prefix listed again (first on line 1)",
        ),
    ];
    for (tsv, expected) in cases {
        let err = Vendors::parse(tsv, "").unwrap_err().to_string();
        assert!(err.starts_with(expected), "{tsv:?}: {err}");
    }
    // The same prefix in different sizes is not a duplicate.
    assert!(Vendors::parse("001122\t24\tA\n0011220\t28\tB\n", "").is_ok());
}

#[test]
fn medical_list_errors_name_line_and_key() {
    let cases = [
        (
            "[[vendor]]\nname = \"A\"\norgs = [\"Acme Medical\"]\n\n[[vendor]]\nname = \"B\"\n\
             orgs = [\"Other Co\",\n  \"Acme Medica\"]\n",
            "medical_vendors.toml:8: `vendor[1].orgs[1]`: \"Acme Medica\" is no organisation",
        ),
        (
            "[[vendor]]\nname = \"A\"\norgs = [\"Acme Medical\"]\n[[vendor]]\nname = \"B\"\n\
             orgs = [\"Acme Medical\"]\n",
            "medical_vendors.toml:6: `vendor[1].orgs[0]`: \"Acme Medical\" is already listed on line 3",
        ),
        (
            "[[vendor]]\nname = \" \"\norgs = []\n",
            "medical_vendors.toml:2: `vendor[0].name`: empty name",
        ),
        (
            "[[vendor]]\nname = \"A\"\norgs = [\"Acme Medical\"]\nprefix = \"001122\"\n",
            "medical_vendors.toml:4: `vendor[0].prefix`: unknown field `prefix`",
        ),
        (
            "[[vendor]]\nname = \"A\"\norgs = \"Acme Medical\"\n",
            "medical_vendors.toml:3: `vendor[0].orgs`: invalid type",
        ),
        ("[[vendor]]\norgs = []\n", "medical_vendors.toml:1: "),
        ("[[vendor]\n", "medical_vendors.toml:1: "),
    ];
    for (toml, expected) in cases {
        let err = Vendors::parse(TSV, toml).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{toml:?}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

// Load time and memory of the real table; `cargo test --release` gives
// the figures quoted in rules/README.md (a debug build is some 10x slower).
#[test]
fn builtin_table_loads_fast_and_small() {
    let started = std::time::Instant::now();
    let v = Vendors::parse(BUILTIN_OUI, BUILTIN_MEDICAL).unwrap();
    let took = started.elapsed();
    eprintln!(
        "vendor table: {} blocks, {} organisations, {} medical names, parsed in {:?}, {} heap bytes",
        v.len(),
        v.name_spans.len(),
        v.medical_names.len(),
        took,
        v.heap_bytes()
    );
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    // Lookups: a spread of universally administered unicast MACs.
    let started = std::time::Instant::now();
    let mut found = 0u32;
    let n = 1_000_000u64;
    for i in 0..n {
        let b = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes();
        let m = Mac([b[0] & 0xfc, b[1], b[2], b[3], b[4], b[5]]);
        found += u32::from(std::hint::black_box(v.lookup(m)).is_some());
    }
    eprintln!(
        "{n} lookups in {:?} ({:.0} ns each), {found} found",
        started.elapsed(),
        started.elapsed().as_nanos() as f64 / n as f64
    );
}
