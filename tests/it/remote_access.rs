//! Remote-access sessions and TLS recognised by content, on their own ports
//! and on others (DB3205/T A.3 d)): every flow of tests/data/remote/remote.pcap
//! (real OpenSSH, dropbear, telnet, busybox telnetd, TigerVNC, vncsnapshot,
//! rdesktop, xrdp, OpenSSL and curl traffic, see its README.md) must carry the
//! `app_proto` that tshark's dissection of the same capture implies; a fresh
//! capture made now by scripts/make-remote-captures.sh too.

use crate::common::{self, tshark};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn remote_pcap() -> PathBuf {
    common::root().join("tests/data/remote/remote.pcap")
}

/// tshark's "decode as" for the ports of the capture that are not their
/// protocol's own (README.md); the standard ones tshark knows by itself.
const DECODE_AS: [&str; 8] = [
    "tcp.port==2222,ssh",
    "tcp.port==2323,telnet",
    "tcp.port==15900,vnc",
    "tcp.port==13389,tpkt",
    "tcp.port==9443,tls",
    "tcp.port==2762,tls",
    "tcp.port==8883,tls",
    "tcp.port==7070,tls",
];

/// The fields that show each protocol's own messages (not just a port).
const FIELDS: [&str; 11] = [
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "ssh.protocol",
    "vnc.server_proto_ver",
    "telnet.cmd",
    "rdp.neg_type",
    "tls.handshake.type",
    "tls.handshake.extensions_alpn_str",
];

/// What tshark saw on one connection.
#[derive(Default, Debug)]
struct Seen {
    /// (client port, server port), from the SYN.
    ports: Option<(u16, u16)>,
    ssh: bool,
    vnc: bool,
    telnet: bool,
    rdp: bool,
    client_hello: bool,
    alpn: Option<String>,
}

/// The app_proto medtap must give a connection tshark saw as `s` (None: no
/// label), by the rules medtap documents: RDP before the TLS it upgrades
/// to; TLS on 2761/2762 is DICOM TLS, on 8883 MQTT TLS, with AnyDesk's ALPN
/// AnyDesk, else TLS.
fn expected(s: &Seen, server_port: u16) -> Option<&'static str> {
    if s.ssh {
        Some("ssh")
    } else if s.vnc {
        Some("vnc")
    } else if s.telnet {
        Some("telnet")
    } else if s.rdp {
        Some("rdp")
    } else if s.client_hello {
        Some(match server_port {
            2761 | 2762 => "dicom-tls",
            8883 => "mqtt-tls",
            _ if s.alpn.as_deref().is_some_and(|a| a.starts_with("anydesk/")) => "anydesk",
            _ => "tls",
        })
    } else {
        None
    }
}

/// tshark's view: (client port, server port) → expected app_proto.
fn tshark_truth(pcap: &Path) -> BTreeMap<(u16, u16), Option<&'static str>> {
    let rows = tshark::fields_decoded(pcap, &DECODE_AS, "tcp", &FIELDS);
    let mut streams: BTreeMap<u64, Seen> = BTreeMap::new();
    for r in rows {
        let one = |i: usize| r[i].first().map(String::as_str).unwrap_or("");
        let s = streams.entry(one(0).parse().unwrap()).or_default();
        if one(3) == "1" && one(4) == "0" {
            s.ports = Some((one(1).parse().unwrap(), one(2).parse().unwrap()));
        }
        s.ssh |= !r[5].is_empty();
        s.vnc |= !r[6].is_empty();
        s.telnet |= !r[7].is_empty();
        s.rdp |= !r[8].is_empty();
        if r[9].iter().any(|t| t == "1") {
            s.client_hello = true;
            s.alpn = r[10].first().cloned();
        }
    }
    streams
        .values()
        .map(|s| {
            let (c, srv) = s.ports.expect("every connection starts with a SYN");
            ((c, srv), expected(s, srv))
        })
        .collect()
}

/// medtap's view: (client port, server port) → app_proto.
fn medtap_labels(pcap: &Path) -> BTreeMap<(u16, u16), Option<String>> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("remote.db");
    common::analyze(&db, &[pcap]);
    common::flows_json(&db, &[])
        .iter()
        .filter(|f| f["proto"] == "tcp")
        .map(|f| {
            let port = |k: &str| f[k].as_u64().unwrap() as u16;
            let label = match &f["app_proto"] {
                Value::String(s) => Some(s.clone()),
                _ => None,
            };
            ((port("src_port"), port("dest_port")), label)
        })
        .collect()
}

/// Compares medtap with tshark on `pcap`, and checks that the capture holds
/// every label on a port that is not its own (what makes the test worth
/// anything).
fn check_remote(pcap: &Path) {
    let truth = tshark_truth(pcap);
    let got = medtap_labels(pcap);
    let mut diffs = Vec::new();
    for (ports, want) in &truth {
        let have = got.get(ports).map(|l| l.as_deref());
        if have != Some(*want) {
            diffs.push(format!(
                "{ports:?}: tshark implies {want:?}, medtap {have:?}"
            ));
        }
    }
    for ports in got.keys().filter(|p| !truth.contains_key(p)) {
        diffs.push(format!("{ports:?}: a flow tshark does not show"));
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    let standard = |name: &str| match name {
        "ssh" => 22,
        "telnet" => 23,
        "vnc" => 5900,
        "rdp" => 3389,
        "tls" => 443,
        _ => 0,
    };
    for name in ["ssh", "telnet", "vnc", "rdp", "tls"] {
        let ports: Vec<u16> = truth
            .iter()
            .filter(|(_, l)| **l == Some(name))
            .map(|((_, s), _)| *s)
            .collect();
        assert!(
            ports.contains(&standard(name)),
            "{name} on its port: {ports:?}"
        );
        assert!(
            ports.iter().any(|&p| p != standard(name)),
            "{name} on another port: {ports:?}"
        );
    }
    for name in ["dicom-tls", "mqtt-tls", "anydesk"] {
        assert!(truth.values().any(|l| *l == Some(name)), "{name} missing");
    }
    // Plain HTTP on TeamViewer's port stays unlabelled.
    assert_eq!(truth.get(&(43601, 5938)), Some(&None), "{truth:?}");
    eprintln!(
        "compared {} flows of {} with tshark",
        truth.len(),
        pcap.display()
    );
}

#[test]
fn remote_access_flows_are_labelled_as_tshark_dissects_them() {
    if !common::require_tools(
        "remote_access_flows_are_labelled_as_tshark_dissects_them",
        &["tshark"],
    ) {
        return;
    }
    check_remote(&remote_pcap());
}

/// As root with the tools (CI): a capture made now labels the same.
#[test]
fn fresh_remote_capture_is_labelled_the_same() {
    let Some(dir) = common::fresh_captures(
        "fresh_remote_capture_is_labelled_the_same",
        "make-remote-captures.sh",
        &[
            "ssh",
            "dropbear",
            "dropbearkey",
            "telnet",
            "busybox",
            "Xvnc",
            "vncsnapshot",
            "rdesktop",
            "xrdp",
            "openssl",
            "curl",
        ],
    ) else {
        return;
    };
    check_remote(&dir.path().join("remote.pcap"));
}
