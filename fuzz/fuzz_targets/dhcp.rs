//! The DHCP parsers on arbitrary bytes (one UDP payload): `parse_v4` and
//! `parse_v6` must never panic; every slice they return lies inside the
//! input; `chaddr` is at most 16 bytes; the records build with every
//! string within its cap; the fingerprints, option order and FQDN render;
//! the issue names match the flags. A DHCPv4 message that parses also
//! parses (to the same header) when anything after the fixed header is cut,
//! and (without duplicate options) a field read from the cut message is
//! never different from the whole's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::dhcp::{self, record, MessageRecord, MessageRecordV6};
use std::hint::black_box;

/// Panics unless `inner` lies within `outer`.
fn assert_within(outer: &[u8], inner: &[u8]) {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    assert!(
        o.start <= i.start && i.end <= o.end,
        "slice {i:?} escapes the input {o:?}"
    );
}

fn check_v4(data: &[u8]) {
    let m = match dhcp::parse_v4(data) {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.name().is_empty() && !e.to_string().is_empty());
            return;
        }
    };
    assert!(m.chaddr.len() <= 16);
    for s in m.borrowed() {
        assert_within(data, s);
    }
    assert!(m.options.order.codes().len() <= dhcp::MAX_ORDER);
    assert_eq!(m.issues.is_empty(), m.issues.names().next().is_none());
    let r = MessageRecord::from_message(0, &m);
    let caps = [
        (&r.hostname, record::MAX_HOSTNAME),
        (&r.vendor_class, record::MAX_VENDOR_CLASS),
        (&r.domain_name, record::MAX_DOMAIN_NAME),
        (&r.fqdn, record::MAX_FQDN),
        (&r.user_class, record::MAX_USER_CLASS),
        (&r.relay_circuit_id, record::MAX_RELAY_ID),
        (&r.relay_remote_id, record::MAX_RELAY_ID),
        (&r.client_id, record::MAX_CLIENT_ID),
        (&r.fingerprint, record::MAX_FINGERPRINT),
        (&r.option_order, record::MAX_OPTION_ORDER),
    ];
    for (s, cap) in caps {
        assert!(s.as_deref().is_none_or(|s| s.len() <= cap));
    }
    // The fingerprint is never cut: every code is in it.
    if let Some(p) = m.options.param_list {
        assert_eq!(
            r.fingerprint.as_deref().unwrap().split(',').count(),
            p.len()
        );
    }
    if let Some(f) = m.options.fqdn {
        let mut s = String::new();
        f.write_name(&mut s).unwrap();
        black_box(s);
    }
    black_box(r);

    // A cut after the header: same header, and no field that differs when
    // every code came once (with duplicates, a cut may drop the first
    // instance and leave a later one in `file` or `sname`).
    let cut = &data[..dhcp::v4::HEADER_LEN + (data.len() - dhcp::v4::HEADER_LEN) / 2];
    let c = dhcp::parse_v4(cut).expect("a longer input parsed");
    assert_eq!(
        (c.op, c.xid, c.client_mac, c.yiaddr),
        (m.op, m.xid, m.client_mac, m.yiaddr)
    );
    if m.issues.contains(dhcp::Issues::DUPLICATE_OPTION) {
        return;
    }
    let (a, b) = (&c.options, &m.options);
    macro_rules! same_or_none {
        ($($f:ident),*) => {$(
            assert!(a.$f.is_none() || a.$f == b.$f, "{} differs after a cut", stringify!($f));
        )*};
    }
    same_or_none!(
        message_type,
        requested_ip,
        server_id,
        lease_secs,
        hostname,
        domain_name,
        max_message_size,
        vendor_class,
        param_list,
        client_id,
        user_class,
        fqdn,
        relay,
        overload
    );
}

fn check_v6(data: &[u8]) {
    let m = match dhcp::parse_v6(data) {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.name().is_empty());
            return;
        }
    };
    assert!(usize::from(m.relay_hops) <= dhcp::v6::MAX_RELAY_DEPTH);
    assert!(m.xid < 1 << 24);
    for s in [
        m.client_duid,
        m.server_duid,
        m.oro,
        m.relay_interface_id,
        m.relay_remote_id,
        m.fqdn.map(|f| f.name),
        m.vendor_class.map(|v| v.data),
    ]
    .into_iter()
    .flatten()
    {
        assert_within(data, s);
    }
    assert!(m.oro.is_none_or(|o| o.len() % 2 == 0));
    let r = MessageRecordV6::from_message(0, &m);
    for (s, cap) in [
        (&r.client_duid, record::MAX_CLIENT_ID),
        (&r.server_duid, record::MAX_CLIENT_ID),
        (&r.fingerprint, record::MAX_FINGERPRINT),
        (&r.vendor_class, record::MAX_VENDOR_CLASS),
        (&r.fqdn, record::MAX_FQDN),
    ] {
        assert!(s.as_deref().is_none_or(|s| s.len() <= cap));
    }
    // Cut between whole codes: never a trailing comma.
    assert!(r.fingerprint.as_deref().is_none_or(|f| !f.ends_with(',')));
    black_box(r);
}

// The same bytes through both parsers: a DHCPv4 payload is a DHCPv6 one
// with message type 1 or 2, and the other way round.
fuzz_target!(|data: &[u8]| {
    check_v4(data);
    check_v6(data);
});
