#!/usr/bin/env python3
"""Seeds fuzz/corpus/{decode,pipeline}/ from classic pcap files.

decode:   one file per frame, `link_selector_byte + frame bytes`.
pipeline: consecutive windows of each capture, `link_selector_byte` then records
          `len u16 LE | delta i32 LE (µs) | bytes`, each window <= --max-len bytes.

dicom, hl7, mqtt (with --app TARGET, instead of the two above): one file per
          TCP connection (Ethernet/IPv4), its payloads in capture order as
          chunks `dir u8 | len u16 LE | bytes`; dir 0 = from the side that sent
          the first packet (the client), 1 = the other side; retransmissions
          are not removed (the parsers must cope with repeated bytes anyway).

dhcp (with --app dhcp): one file per UDP payload to or from port 67, 68, 546
          or 547 (Ethernet, IPv4 or IPv6), as the parsers receive it.

pcapng inputs are converted with `editcap -F pcap` when editcap is present.
Usage: seed_corpus.py [--max-len N] [--app dicom|hl7|mqtt|dhcp] PCAP...
"""
import argparse, hashlib, os, struct, subprocess, sys, tempfile

# selector byte (index) -> DLT, must match DLTS in fuzz_targets/*.rs
DLTS = [1, 113, 276, 101, 0]
SEL = {1: 0, 113: 1, 276: 2, 101: 3, 12: 3, 14: 3, 228: 3, 229: 3, 0: 4, 108: 4}
HERE = os.path.dirname(os.path.abspath(__file__))


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None, []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF  # low 16 bits; upper bits carry FCS info
    off, frames = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        frames.append((sec * 1_000_000 + (frac // 1000 if nano else frac), data[off:off + incl]))
        off += incl
    return linktype, frames


def load(path):
    lt, frames = read_pcap(path)
    if lt is None and path.endswith(".pcapng"):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x.pcap")
            if subprocess.run(["editcap", "-F", "pcap", path, out],
                              capture_output=True).returncode == 0:
                lt, frames = read_pcap(out)
    return lt, frames


def put(dirname, blob):
    os.makedirs(dirname, exist_ok=True)
    name = hashlib.sha1(blob).hexdigest()
    p = os.path.join(dirname, name)
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(blob)
        return 1
    return 0


def tcp_payload(frame):
    """(src, sport, dst, dport, payload) of an Ethernet/IPv4/TCP frame, else None."""
    off = 14
    ethertype = struct.unpack(">H", frame[12:14])[0] if len(frame) >= 14 else 0
    while ethertype == 0x8100 and len(frame) >= off + 4:  # VLAN tags
        ethertype = struct.unpack(">H", frame[off + 2:off + 4])[0]
        off += 4
    if ethertype != 0x0800 or len(frame) < off + 20 or frame[off + 9] != 6:
        return None
    ihl = (frame[off] & 15) * 4
    total = struct.unpack(">H", frame[off + 2:off + 4])[0]
    src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
    t = off + ihl
    if len(frame) < t + 20:
        return None
    sport, dport = struct.unpack(">HH", frame[t:t + 4])
    data = frame[t + (frame[t + 12] >> 4) * 4:off + total]
    return src, sport, dst, dport, data


DHCP_PORTS = {67, 68, 546, 547}


def udp_payload(frame):
    """(sport, dport, payload) of an Ethernet/IPv4 or IPv6/UDP frame, else None."""
    off = 14
    ethertype = struct.unpack(">H", frame[12:14])[0] if len(frame) >= 14 else 0
    while ethertype == 0x8100 and len(frame) >= off + 4:  # VLAN tags
        ethertype = struct.unpack(">H", frame[off + 2:off + 4])[0]
        off += 4
    if ethertype == 0x0800 and len(frame) >= off + 20 and frame[off + 9] == 17:
        u = off + (frame[off] & 15) * 4
    elif ethertype == 0x86DD and len(frame) >= off + 40 and frame[off + 6] == 17:
        u = off + 40  # no extension headers
    else:
        return None
    if len(frame) < u + 8:
        return None
    sport, dport, ulen = struct.unpack(">HHH", frame[u:u + 6])
    return sport, dport, frame[u + 8:u + max(8, ulen)]


def dhcp_seeds(frames, max_len):
    n = 0
    for _, fr in frames:
        t = udp_payload(fr)
        if t and (t[0] in DHCP_PORTS or t[1] in DHCP_PORTS):
            n += put(os.path.join(HERE, "corpus", "dhcp"), t[2][:max_len])
    return n


def app_seeds(frames, target, max_len):
    """One chunked seed per TCP connection with payload."""
    conns = {}  # sorted endpoint pair -> (client endpoint, bytearray)
    for _, fr in frames:
        t = tcp_payload(fr)
        if t is None:
            continue
        a, b = (t[0], t[1]), (t[2], t[3])
        key = tuple(sorted([a, b]))
        client, blob = conns.setdefault(key, (a, bytearray()))
        for i in range(0, len(t[4]), 0xFFFF):
            part = t[4][i:i + 0xFFFF]
            if len(blob) + 3 + len(part) > max_len:
                break
            blob += struct.pack("<BH", 0 if a == client else 1, len(part)) + part
    n = 0
    for _, blob in conns.values():
        if blob:
            n += put(os.path.join(HERE, "corpus", target), bytes(blob))
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-len", type=int, default=4096)
    ap.add_argument("--app", choices=["dicom", "hl7", "mqtt", "dhcp"])
    ap.add_argument("pcaps", nargs="+")
    a = ap.parse_args()
    if a.app == "dhcp":
        n = sum(dhcp_seeds(load(p)[1], a.max_len) for p in a.pcaps)
        print(f"dhcp seeds: {n} new")
        return
    if a.app:
        n = sum(app_seeds(load(p)[1], a.app, a.max_len) for p in a.pcaps)
        print(f"{a.app} seeds: {n} new")
        return
    nd = np = 0
    for path in a.pcaps:
        lt, frames = load(path)
        if lt not in SEL or not frames:
            print(f"skip {path} (linktype {lt})", file=sys.stderr)
            continue
        sel = bytes([SEL[lt]])
        for _, fr in frames:
            nd += put(os.path.join(HERE, "corpus", "decode"), sel + fr)
        # consecutive windows of the capture, each at most --max-len bytes
        blob, prev = bytearray(sel), frames[0][0]
        for ts, fr in frames:
            fr = fr[:min(0x7FFF, a.max_len - 7)]
            rec = struct.pack("<Hi", len(fr), max(-2**31, min(2**31 - 1, ts - prev))) + fr
            if len(blob) + len(rec) > a.max_len and len(blob) > 1:
                np += put(os.path.join(HERE, "corpus", "pipeline"), bytes(blob))
                blob = bytearray(sel)
            blob += rec
            prev = ts
        if len(blob) > 1:
            np += put(os.path.join(HERE, "corpus", "pipeline"), bytes(blob))
    print(f"decode seeds: {nd} new, pipeline seeds: {np} new")


if __name__ == "__main__":
    main()
