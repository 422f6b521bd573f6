//! Protocol detection (`proto::detect`, with the remote-access and TLS
//! probes of `proto::remote`): bytes 0-1 are the server port (big endian),
//! byte 2 bit 0 picks the side that spoke first, the rest is its first
//! bytes. Never panics, and a verdict on a prefix holds on the whole input
//! (a match stays the same match, a no-match stays one), and nothing is
//! undecided past `MAX_PROBE_LEN`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medtap::proto::detect::{probe_client, probe_server, Verdict, MAX_PROBE_LEN};

fuzz_target!(|data: &[u8]| {
    let [p0, p1, side, rest @ ..] = data else {
        return;
    };
    let port = u16::from_be_bytes([*p0, *p1]);
    let probe = |b: &[u8]| {
        if side & 1 == 0 {
            probe_client(b, port)
        } else {
            probe_server(b, port)
        }
    };
    let whole = probe(rest);
    if rest.len() >= MAX_PROBE_LEN {
        assert_ne!(whole, Verdict::NeedMore);
    }
    for n in 0..rest.len().min(MAX_PROBE_LEN + 1) {
        let v = probe(&rest[..n]);
        if v != Verdict::NeedMore {
            assert_eq!(whole, v, "prefix of {n}");
        }
    }
});
