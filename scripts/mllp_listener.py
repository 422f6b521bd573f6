#!/usr/bin/python3
"""Minimal HL7 v2 receiver for medtap's test captures, built on python-hl7.

Usage: mllp_listener.py [--host ADDR] [--port N] [--reply CONTROL_ID=CODE ...]

Listens with python-hl7's asyncio MLLP server (hl7.mllp.start_hl7_server),
parses each received message with the `hl7` library and answers over MLLP
with an original-mode ACK made by python-hl7 (hl7.Message.create_ack):
MSH (sender/receiver swapped, ACK^<event>^ACK, the message's own MSH-11,
MSH-12 and separators) and MSA|<code>|<control id of the message>.

  * The ACK code is AA, or the CODE given with --reply for the message's
    control ID (MSH-10), e.g. --reply MT-NACK-AE=AE --reply MT-NACK-AR=AR.
  * An AE/AR ACK also carries an ERR segment (ERR-3 from HL7 table 0357,
    ERR-4 severity E, ERR-8 a text saying it is a deliberate test reject).
  * ACK MSH-10 is "<control id>-ACK" and MSH-7 the message's own MSH-7, so
    that the conversation is the same on every run.
  * Every ACK segment ends with CR: python-hl7 serialises a message with CR
    between segments but none after the last (str(hl7.Message)), so the
    listener appends it (HL7 v2: every segment ends with CR), and writes the
    block with python-hl7's HL7StreamWriter.writeblock (<VT> ... <FS><CR>).
  * Segments ended by LF or CRLF are turned into CR for python-hl7's parser
    only (it splits on CR alone); the ACK is always CR-terminated.

For each message it prints one line to stdout:
  <control id> <MSH-9> segments=<n> obx=<n> bytes=<n> ack=<code>
Runs until it is killed (SIGTERM). Synthetic test data only.
"""
import argparse
import asyncio
import sys

import hl7
import hl7.mllp

ERR_CODES = {
    "AE": "207^Application internal error^HL70357",
    "AR": "200^Unsupported message type^HL70357",
}


def build_ack(msg, code):
    """The ACK as wire bytes (without the MLLP envelope)."""
    msh = msg.segment("MSH")
    control_id = str(msh(10))
    ack = msg.create_ack(ack_code=code, message_id=control_id + "-ACK")
    ack.segment("MSH").assign_field(str(msh(7)), 7)
    text = str(ack)
    if code in ERR_CODES:
        fs, cs = str(msh(1)), str(msh(2))[0]
        err = ["ERR", "", "", ERR_CODES[code].replace("^", cs), "E", "", "", "",
               "MEDTAP TEST: deliberate %s for control ID %s" % (code, control_id)]
        text += "\r" + fs.join(err)
    return (text + "\r").encode()


async def handle(reader, writer, replies):
    peer = writer.get_extra_info("peername")
    try:
        while True:
            try:
                block = await reader.readblock()
            except asyncio.IncompleteReadError:
                break
            raw = block.decode(reader.encoding, reader.encoding_errors)
            text = raw.replace("\r\n", "\r").replace("\n", "\r")
            msg = hl7.parse(text)
            msh = msg.segment("MSH")
            control_id = str(msh(10))
            code = replies.get(control_id, "AA")
            segments = [str(s(0)) for s in msg]
            print("%s %s segments=%d obx=%d bytes=%d ack=%s" % (
                control_id, str(msh(9)), len(segments), segments.count("OBX"), len(block), code),
                flush=True)
            writer.writeblock(build_ack(msg, code))
            await writer.drain()
    except Exception as exc:  # report, close this connection, keep serving
        print("error from %s: %r" % (peer, exc), file=sys.stderr, flush=True)
    finally:
        writer.close()


async def serve(host, port, replies):
    server = await hl7.mllp.start_hl7_server(
        lambda r, w: handle(r, w, replies), host=host, port=port, encoding="utf-8",
        limit=1024 * 1024)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=2575)
    ap.add_argument("--reply", action="append", default=[], metavar="CONTROL_ID=CODE")
    args = ap.parse_args()
    replies = {}
    for r in args.reply:
        cid, _, code = r.partition("=")
        if code not in ("AA", "AE", "AR"):
            ap.error("--reply %s: code must be AA, AE or AR" % r)
        replies[cid] = code
    asyncio.run(serve(args.host, args.port, replies))


if __name__ == "__main__":
    main()
