#!/usr/bin/python3
"""Sends HL7 v2 message files over one MLLP connection with python-hl7's client.

Usage: mllp_client.py HOST PORT FILE [FILE ...]

Uses hl7.client.MLLPClient, the blocking client that python-hl7's own
`mllp_send` command is built on: one TCP connection, and for each FILE
<VT> + the file's bytes, unchanged + <FS><CR>, then it waits for the reply
(one recv) before the next message.

Why not `mllp_send` itself: mllp_send reads its input with
hl7.client.read_stream, which strips CR from both ends of every message
(`m.strip(SB + CR)`), so the last segment of every message it sends has no
CR before the MLLP trailer; tshark 4.0 then leaves that segment out of its
dissection. This wrapper keeps the bytes as they are (every segment ends with
CR, as HL7 v2 requires). mllp_send itself is used for no_trailing_cr.pcap.

Prints each reply's MSA segment (or the whole reply) to stdout; exits
non-zero if a reply is not an MLLP block with an MSA segment.
"""
import sys

from hl7.client import MLLPClient


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    host, port, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with MLLPClient(host, port) as client:
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            reply = client.send_message(data)
            if not (reply.startswith(b"\x0b") and reply.endswith(b"\x1c\r")):
                sys.exit("%s: reply is not one MLLP block: %r" % (path, reply))
            segs = reply[1:-2].replace(b"\r\n", b"\r").split(b"\r")
            msa = [s for s in segs if s[:3] == b"MSA"]
            if not msa:
                sys.exit("%s: reply has no MSA segment: %r" % (path, reply))
            print("%s: %s" % (path.rsplit("/", 1)[-1], msa[0].decode()), flush=True)


if __name__ == "__main__":
    main()
