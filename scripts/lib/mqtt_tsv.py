#!/usr/bin/env python3
"""tshark ground truth for MQTT captures: writes <pcap>.tshark.tsv rows.

Usage: mqtt_tsv.py PCAP [PORT] > OUT.tsv

Same columns and formatting as shared/corpus/public/mqtt/*.tshark.tsv: one
row per frame that tshark decodes as MQTT (-Y mqtt), the mqtt.* fields of
`tshark -T json -e ...` (each value stripped; several values in one frame,
e.g. two MQTT messages in one TCP segment, joined with " | "), then
`username_present` ("yes" when the frame carries mqtt.username; the name
itself is not copied), `malformed` ("yes" when tshark flags the frame
_ws.malformed) and the Info column. PORT other than 1883 (tshark's MQTT port)
is decoded with -d tcp.port==PORT,mqtt. Needs only tshark and python3.
"""
import json
import subprocess
import sys

FIELDS = ["frame.number", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport",
          "tcp.dstport", "mqtt.msgtype", "mqtt.len", "mqtt.protoname", "mqtt.ver",
          "mqtt.clientid", "mqtt.conflag.uname", "mqtt.conflag.passwd", "mqtt.kalive",
          "mqtt.conack.val", "mqtt.connack.reason_code", "mqtt.topic", "mqtt.qos",
          "mqtt.dupflag", "mqtt.retain", "mqtt.msgid", "mqtt.sub.qos", "mqtt.suback.qos"]
HIDDEN = ["mqtt.username", "_ws.malformed", "_ws.col.Info"]
HEADER = FIELDS + ["username_present", "malformed", "_ws.col.Info"]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    pcap = sys.argv[1]
    port = sys.argv[2] if len(sys.argv) == 3 else "1883"
    # Out-of-order segments (a veth pair under load reorders bursts, see
    # tests/data/dicom/README.md) are reassembled as the receiver does.
    cmd = ["tshark", "-n", "-r", pcap, "-o", "tcp.reassemble_out_of_order:TRUE"]
    if port != "1883":
        cmd += ["-d", "tcp.port==%s,mqtt" % port]
    cmd += ["-Y", "mqtt", "-T", "json"]
    for f in FIELDS + HIDDEN:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    rows = ["\t".join(HEADER)]
    for pkt in json.loads(out or b"[]"):
        layers = pkt["_source"]["layers"]
        row = [" | ".join(v.strip() for v in layers.get(f, [])) for f in FIELDS]
        row.append("yes" if layers.get("mqtt.username") else "")
        row.append("yes" if "_ws.malformed" in layers else "")
        row.append(" | ".join(v.strip() for v in layers.get("_ws.col.Info", [])))
        rows.append("\t".join(row))
    sys.stdout.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
