#!/usr/bin/env python3
"""tshark ground truth for HL7 v2 / MLLP captures: writes <pcap>.tshark.tsv rows.

Usage: hl7_tsv.py PCAP PORT > OUT.tsv

Same columns and formatting as shared/corpus/public/hl7/*.tshark.tsv: one
row per frame that tshark decodes as HL7, read with

  tshark -n -r PCAP -d tcp.port==PORT,hl7 -o hl7.display_raw:TRUE -Y hl7 -T json \
         -e frame.number ... -e hl7.message.type -e hl7.event.type -e hl7.raw.segment

hl7.message.type / hl7.event.type are tshark's own fields. MSH-3..MSH-12,
MSA-1, MSA-2 and segment_ids are split out of tshark's `hl7.raw.segment`
values (one per segment, the segment terminator removed) with HL7 numbering:
the MSH segment is split at its field separator (MSH-1, the 4th character),
so piece n-1 is MSH-n (MSH-2 is the encoding characters, MSH-10 the control
ID); MSA-n is piece n of the MSA segment. segment_ids is the comma-separated
list of segment IDs in wire order. A frame with several messages (each
starting with an MSH segment) gets each message's values joined with " | ".
Only segments that tshark shows are used: tshark 4.0 leaves out a last
segment that has no CR before the MLLP trailer, so it is missing here too.
Needs only tshark and python3.
"""
import json
import subprocess
import sys

ADDR = ["frame.number", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
        "hl7.message.type", "hl7.event.type"]
MSH = [(3, "sending_app"), (4, "sending_fac"), (5, "receiving_app"), (6, "receiving_fac"),
       (7, "datetime"), (9, "message_type"), (10, "control_id"), (11, "processing_id"),
       (12, "version")]
MSA = [(1, "ack_code"), (2, "acked_control_id")]
HEADER = (ADDR + ["MSH-%d %s" % f for f in MSH] + ["MSA-%d %s" % f for f in MSA]
          + ["segment_ids"])


def messages(segments):
    """Groups tshark's raw segments into messages (a new one at each MSH)."""
    msgs = []
    for seg in segments:
        seg = seg.rstrip("\r\n")
        if seg.startswith("MSH") or not msgs:
            msgs.append([])
        msgs[-1].append(seg)
    return msgs


def columns(msg):
    sep = msg[0][3] if msg[0].startswith("MSH") and len(msg[0]) > 3 else "|"
    msh = msg[0].split(sep) if msg[0].startswith("MSH") else []
    msa = next((s.split(sep) for s in msg if s.split(sep)[0] == "MSA"), [])
    pick = lambda parts, i: parts[i] if 0 <= i < len(parts) else ""
    return ([pick(msh, n - 1) for n, _ in MSH] + [pick(msa, n) for n, _ in MSA]
            + [",".join(s.split(sep)[0] for s in msg)])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    pcap, port = sys.argv[1], sys.argv[2]
    # Out-of-order segments (a veth pair under load reorders bursts, see
    # tests/data/dicom/README.md) are reassembled as the receiver does.
    cmd = ["tshark", "-n", "-r", pcap, "-o", "tcp.reassemble_out_of_order:TRUE",
           "-d", "tcp.port==%s,hl7" % port,
           "-o", "hl7.display_raw:TRUE", "-Y", "hl7", "-T", "json"]
    for f in ADDR + ["hl7.raw.segment"]:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    rows = ["\t".join(HEADER)]
    for pkt in json.loads(out or b"[]"):
        layers = pkt["_source"]["layers"]
        row = [" | ".join(v.strip() for v in layers.get(f, [])) for f in ADDR]
        per_msg = [columns(m) for m in messages(layers.get("hl7.raw.segment", []))]
        n = len(HEADER) - len(ADDR)
        row += [" | ".join(c[i] for c in per_msg) for i in range(n)] if per_msg else [""] * n
        rows.append("\t".join(row))
    sys.stdout.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
