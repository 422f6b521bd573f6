#!/usr/bin/env python3
"""Seeds fuzz/corpus/{decode,pipeline}/ from classic pcap files.

decode:   one file per frame, `link_selector_byte + frame bytes`.
pipeline: consecutive windows of each capture, `link_selector_byte` then records
          `len u16 LE | delta i32 LE (µs) | bytes`, each window <= --max-len bytes.

pcapng inputs are converted with `editcap -F pcap` when editcap is present.
Usage: seed_corpus.py [--max-len N] PCAP...
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-len", type=int, default=4096)
    ap.add_argument("pcaps", nargs="+")
    a = ap.parse_args()
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
