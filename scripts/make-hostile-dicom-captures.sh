#!/usr/bin/env bash
# Makes medtap's hostile-string test captures from REAL traffic: dcmtk's
# echoscu/storescu open associations to dcmtk's storescp with calling and
# called AE titles that hold terminal escape sequences, newlines, high bytes,
# a quote/SQL-ish string and bidirectional/line-separator characters; and
# python-hl7's MLLP client sends an HL7 message whose header fields hold
# control characters, U+009B (C1 CSI), U+202E and U+2028; and mosquitto_pub
# connects to a mosquitto broker with U+202E and U+2028 in its client id and
# topic. tcpdump records it.
# Next to every capture it writes tshark's view of it: <name>.pcap.tshark.json
# for DICOM (tshark's -T json fields; a TSV row cannot hold a title with a CR
# or LF), <name>.pcap.tshark.tsv for HL7 and MQTT (scripts/lib/hl7_tsv.py and
# mqtt_tsv.py, as in tests/data/hl7 and tests/data/mqtt).
#
# Usage (as root, Debian 12):
#   scripts/make-hostile-dicom-captures.sh [DICOM_OUTDIR [HL7_OUTDIR [MQTT_OUTDIR]]]
# Defaults: tests/data/{dicom,hl7,mqtt}/hostile relative to the repository
# root; an output dir not given is the one before it.
#
# Two private network namespaces are joined by a veth pair (MTU 1500, TSO/GSO
# and checksum offload off). Every packet stays on that wire; nothing leaves
# the machine.
#
#   mt-hostile-PID-scu  mthost0  02:00:00:83:00:01  10.83.0.1/24  SCU / HL7 sender
#   mt-hostile-PID-scp  mthost1  02:00:00:83:00:02  10.83.0.2/24  storescp (MEDTAP_PACS; it
#                                                            answers any called AE),
#                                                            mllp_listener.py, mosquitto,
#                                                            tcpdump
#
# One capture per scenario (client port -> server port; calling -> called):
#   echo_escape.pcap      42101 -> 104  echoscu C-ECHO: $'\e[2J\nEVIL' -> $'PACS\r\e[1A'
#   echo_high_bytes.pcap  42201 -> 104  echoscu C-ECHO: $'\xff\xfe\x80BAD' ->
#                                       $'\xc2\x9b2J\\SCP' (U+009B in UTF-8, a backslash)
#   store_sql_bidi.pcap   42301 -> 104  storescu -R (only the CT contexts) C-STORE of one 8x8 CT:
#                                       "x';DROP--" -> $'\u202eEVIL\u2028X' (UTF-8)
#   control_chars.pcap    42401 -> 2575 (HL7) one ORU^R01, MSH-3..6 =
#                                       $'\e[2J\aMON', $'\u009b31mICU', $'\u202eSIH',
#                                       $'\u2028HOSP'; python-hl7's ACK swaps them back
#   client_id_bidi.pcap   42501 -> 1883 (MQTT 3.1.1) mosquitto_pub QoS 1: client id
#                                       $'\u202eEVIL\u2028X', topic $'ward/\u202ebed\u2029'
#
# dcmtk 3.6.7 sends every title as given (space-padded to 16 bytes) and
# storescp accepts the association: the script checks that each SCU succeeded
# and that the A-ASSOCIATE-RQ on the wire holds exactly those bytes.
# All data is synthetic (patient MEDTAP^PHANTOM / ZZPHANTOM^MEDTAPTEST).
#
# Idempotent: stale namespaces from an earlier (failed) run are removed first;
# everything is torn down again on exit, also on failure. Each output file is
# replaced only once its new version is complete.
#
# Needs: dcmtk, python3-hl7, mosquitto, mosquitto-clients, tcpdump, tshark, python3, iproute2
# (scripts/install-deps.sh). Helpers: scripts/lib/netns.sh, scripts/lib/truth.sh.
set -euo pipefail

readonly IF_SCU=mthost0 IF_SCP=mthost1
readonly IP_SCU=10.83.0.1 IP_SCP=10.83.0.2
readonly MAC_SCU=02:00:00:83:00:01 MAC_SCP=02:00:00:83:00:02
readonly AE_PACS=MEDTAP_PACS PORT_DICOM=104 PORT_HL7=2575 PORT_MQTT=1883
readonly T_NET=20 T_TOOL=60
readonly PY_HL7=${MEDTAP_HL7_PYTHON:-/usr/bin/python3}

# The hostile titles (bytes as dcmtk puts them on the wire, before padding).
readonly AET_ESCAPE=$'\e[2J\nEVIL' AEC_ESCAPE=$'PACS\r\e[1A'
readonly AET_HIGH=$'\xff\xfe\x80BAD' AEC_HIGH=$'\xc2\x9b2J\\SCP'
readonly AET_SQL="x';DROP--" AEC_BIDI=$'\xe2\x80\xaeEVIL\xe2\x80\xa8X'
readonly MQTT_ID=$'\xe2\x80\xaeEVIL\xe2\x80\xa8X' MQTT_TOPIC=$'ward/\xe2\x80\xaebed\xe2\x80\xa9'

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NETNS_TAG=make-hostile-dicom-captures
NETNS_PREFIX=mt-hostile
NETNS_IFACES=("$IF_SCU" "$IF_SCP")
# shellcheck source=scripts/lib/netns.sh
. "$repo_root/scripts/lib/netns.sh"
# Named after this process, like the other capture scripts' namespaces, so
# that a run never collides with another one and its teardown finds them.
NS_SCU=$(netns_name scu)
NS_SCP=$(netns_name scp)
readonly NS_SCU NS_SCP
# shellcheck source=scripts/lib/truth.sh
. "$repo_root/scripts/lib/truth.sh"

abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ $# -ge 1 ]; then
  dicom_out=$(abs "$1")
  hl7_out=$(abs "${2:-$1}")
  mqtt_out=$(abs "${3:-${2:-$1}}")
else
  dicom_out=$repo_root/tests/data/dicom/hostile
  hl7_out=$repo_root/tests/data/hl7/hostile
  mqtt_out=$repo_root/tests/data/mqtt/hostile
fi

netns_require_root_tools tcpdump tshark python3 ip ss timeout echoscu storescu storescp dump2dcm \
  mosquitto mosquitto_pub
"$PY_HL7" -c 'import hl7, hl7.mllp, hl7.client' 2>/dev/null ||
  die "$PY_HL7 cannot import python-hl7 (install python3-hl7: scripts/install-deps.sh)"

workdir=""
server_pid=""
cleanup() { netns_exit_cleanup "$?" "$workdir" "$server_pid"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_tool LOGNAME CMD...: a client in the SCU namespace, bounded; its log
# goes to the work dir and is shown if it fails.
run_tool() {
  local logname=$1 rc=0
  shift
  timeout "$T_TOOL" ip netns exec "$NS_SCU" "$@" >"$workdir/$logname.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$workdir/$logname.log" >&2
    return "$rc"
  fi
}

start_storescp() {
  ip netns exec "$NS_SCP" storescp --single-process -aet "$AE_PACS" -od "$workdir/pacs" \
    -ta "$T_NET" -td "$T_NET" -dhl "$PORT_DICOM" >"$workdir/storescp.log" 2>&1 &
  server_pid=$!
  netns_wait_listen "$NS_SCP" tcp "$PORT_DICOM"
}

start_listener() {
  ip netns exec "$NS_SCP" "$PY_HL7" "$repo_root/scripts/mllp_listener.py" --host "$IP_SCP" \
    --port "$PORT_HL7" >"$workdir/listener.log" 2>&1 &
  server_pid=$!
  netns_wait_listen "$NS_SCP" tcp "$PORT_HL7"
}

# A broker of our own (no persistence, anonymous, logging to the work dir;
# a system mosquitto service, if any, is neither used nor touched).
start_broker() {
  printf '%s\n' "user root" "listener $PORT_MQTT $IP_SCP" "persistence false" \
    "allow_anonymous true" "log_dest file $workdir/broker.log" "log_type all" \
    "sys_interval 3600" >"$workdir/mosquitto.conf"
  ip netns exec "$NS_SCP" mosquitto -c "$workdir/mosquitto.conf" >"$workdir/broker.out" 2>&1 &
  server_pid=$!
  netns_wait_listen "$NS_SCP" tcp "$PORT_MQTT"
}

# capture NAME DIR: starts tcpdump writing $workdir/DIR/NAME.
capture() { netns_capture_start "$NS_SCP" "$IF_SCP" "$workdir/$2/$1"; }
finish() {  # finish NAME DIR
  netns_capture_stop "$workdir/$2/$1"
  stop_pid "$server_pid"; server_pid=""
  rm -f "$workdir/$2/$1.tcpdump.err"
  log "  $1: $(stat -c %s "$workdir/$2/$1") bytes"
}

# --- setup ------------------------------------------------------------------
log "removing stale namespaces (if any)"
netns_delete_all
workdir=$(mktemp -d /tmp/medtap-hostile.XXXXXX)
chmod 0755 "$workdir"
mkdir -p "$workdir/dicom" "$workdir/hl7" "$workdir/mqtt" "$workdir/pacs"
log "creating namespaces $NS_SCU <-> $NS_SCP"
netns_ipv4_pair "$NS_SCU" "$IF_SCU" "$MAC_SCU" "$IP_SCU" "$NS_SCP" "$IF_SCP" "$MAC_SCP" "$IP_SCP"

# One tiny synthetic CT (8x8, 16 bit gradient), made by dump2dcm.
python3 - "$workdir" <<'PY'
import os, struct, sys
wd = sys.argv[1]
with open(os.path.join(wd, "ct.raw"), "wb") as f:
    f.write(struct.pack("<64H", *range(64)))
with open(os.path.join(wd, "ct.dump"), "w") as f:
    f.write("""(0008,0016) UI [1.2.840.10008.5.1.4.1.1.2]
(0008,0018) UI [2.25.1234567890123456789012345678901]
(0008,0060) CS [CT]
(0010,0010) PN [MEDTAP^PHANTOM]
(0010,0020) LO [MEDTAP-PHANTOM-001]
(0020,000d) UI [2.25.1234567890123456789012345678902]
(0020,000e) UI [2.25.1234567890123456789012345678903]
(0028,0002) US 1
(0028,0004) CS [MONOCHROME2]
(0028,0010) US 8
(0028,0011) US 8
(0028,0100) US 16
(0028,0101) US 12
(0028,0102) US 11
(0028,0103) US 0
(7fe0,0010) OW =%s
""" % os.path.join(wd, "ct.raw"))
PY
timeout "$T_TOOL" dump2dcm -q +te "$workdir/ct.dump" "$workdir/ct.dcm" || die "dump2dcm failed"

# HL7: one ORU^R01 whose header fields are hostile (valid UTF-8: python-hl7's
# listener decodes UTF-8 strictly). Segments end with CR.
printf 'MSH|^~\\&|\e[2J\aMON|\xc2\x9b31mICU|\xe2\x80\xaeSIH|\xe2\x80\xa8HOSP|20240105120000||ORU^R01|MT-HOSTILE-1|P|2.5\rPID|1||MTP000001||ZZPHANTOM^MEDTAPTEST\rOBX|1|NM|8867-4^Heart rate^LN||999|/min\r' \
  >"$workdir/hostile.hl7"

ECHO_OPTS=(-ta "$T_NET" -td "$T_NET" -to "$T_NET")

# --- scenarios ------------------------------------------------------------------
log "echo_escape.pcap: C-ECHO with escape sequences and CR/LF in both AE titles"
start_storescp
capture echo_escape.pcap dicom
netns_src_port "$NS_SCU" 42101
run_tool echo_escape echoscu "${ECHO_OPTS[@]}" -aet "$AET_ESCAPE" -aec "$AEC_ESCAPE" \
  "$IP_SCP" "$PORT_DICOM" || die "echoscu (escape titles) failed"
finish echo_escape.pcap dicom

log "echo_high_bytes.pcap: C-ECHO with high bytes, U+009B and a backslash in the AE titles"
start_storescp
capture echo_high_bytes.pcap dicom
netns_src_port "$NS_SCU" 42201
run_tool echo_high echoscu "${ECHO_OPTS[@]}" -aet "$AET_HIGH" -aec "$AEC_HIGH" \
  "$IP_SCP" "$PORT_DICOM" || die "echoscu (high-byte titles) failed"
finish echo_high_bytes.pcap dicom

log "store_sql_bidi.pcap: C-STORE with a quote/SQL-ish calling AE and U+202E/U+2028 in the called AE"
start_storescp
capture store_sql_bidi.pcap dicom
netns_src_port "$NS_SCU" 42301
run_tool store_sql storescu "${ECHO_OPTS[@]}" -R -aet "$AET_SQL" -aec "$AEC_BIDI" \
  "$IP_SCP" "$PORT_DICOM" "$workdir/ct.dcm" || die "storescu (SQL/bidi titles) failed"
finish store_sql_bidi.pcap dicom
n=$(find "$workdir/pacs" -type f | wc -l)
[ "$n" -eq 1 ] || die "storescp stored $n images, expected 1"

log "control_chars.pcap: HL7 ORU^R01 with control, C1, bidi and line-separator characters in MSH-3..6"
start_listener
capture control_chars.pcap hl7
netns_src_port "$NS_SCU" 42401
run_tool hl7 "$PY_HL7" "$repo_root/scripts/mllp_client.py" "$IP_SCP" "$PORT_HL7" \
  "$workdir/hostile.hl7" || die "mllp_client.py failed"
grep -q "MSA|AA|MT-HOSTILE-1" "$workdir/hl7.log" || { cat "$workdir/hl7.log" >&2; die "no AA for the hostile HL7 message"; }
finish control_chars.pcap hl7

log "client_id_bidi.pcap: MQTT client id and topic with U+202E, U+2028 and U+2029"
start_broker
capture client_id_bidi.pcap mqtt
netns_src_port "$NS_SCU" 42501
run_tool mqtt mosquitto_pub -V mqttv311 -h "$IP_SCP" -p "$PORT_MQTT" -i "$MQTT_ID" -q 1 \
  -t "$MQTT_TOPIC" -m 999 || die "mosquitto_pub failed"
finish client_id_bidi.pcap mqtt
grep -q "New client connected" "$workdir/broker.log" || { cat "$workdir/broker.log" >&2; die "the broker saw no client"; }

# --- check: the RQ on the wire holds the titles as given --------------------------
# ae_on_wire PCAP: "calling<TAB>called" of the first A-ASSOCIATE-RQ, hex, padding
# trimmed (read from the TCP payload tshark reports, not from its DICOM fields).
ae_on_wire() {
  tshark -n -r "$1" -Y "tcp.len > 0 && tcp.dstport == $PORT_DICOM" -T fields -e tcp.payload 2>/dev/null |
    python3 -c '
import sys
data = bytes.fromhex("".join(l.strip().replace(":", "") for l in sys.stdin))
assert data[0] == 1, "the client did not start with an A-ASSOCIATE-RQ"
called, calling = data[10:26].rstrip(b" "), data[26:42].rstrip(b" ")
print(calling.hex() + "\t" + called.hex())'
}
hex() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
check_titles() {  # check_titles PCAP CALLING CALLED
  local want got
  want="$(hex "$2")	$(hex "$3")"
  got=$(ae_on_wire "$workdir/dicom/$1")
  [ "$got" = "$want" ] || die "$1: AE titles on the wire are '$got', expected '$want'"
}
check_titles echo_escape.pcap "$AET_ESCAPE" "$AEC_ESCAPE"
check_titles echo_high_bytes.pcap "$AET_HIGH" "$AEC_HIGH"
check_titles store_sql_bidi.pcap "$AET_SQL" "$AEC_BIDI"

# --- ground truth and output -----------------------------------------------------
# DICOM: tshark's own JSON (`-T json -e ...`), not the TSV of tests/data/dicom:
# a CR or LF inside an AE title would split a TSV row. tshark shows the titles
# through its ASCII decoding (each byte >= 0x80 and the byte after an ESC
# become U+FFFD); the test knows that mapping.
readonly DICOM_FIELDS=(frame.number ip.src ip.dst tcp.srcport tcp.dstport dicom.pdu.type
  dicom.assoc.ae.calling dicom.assoc.ae.called dicom.actx dicom.pctx.id dicom.pctx.abss.syntax
  dicom.pctx.xfer.syntax dicom.pctx.result dicom.max_pdu_len dicom.userinfo.uid
  dicom.userinfo.version _ws.col.Info)
write_dicom_truth() {  # write_dicom_truth PCAP: PCAP.tshark.json (atomically)
  local tmp f
  local -a fargs=()
  for f in "${DICOM_FIELDS[@]}"; do fargs+=(-e "$f"); done
  tmp=$(mktemp "$1.json.XXXXXX")
  tshark -n -r "$1" -Y dicom -T json "${fargs[@]}" >"$tmp" 2>/dev/null || { rm -f "$tmp"; die "tshark failed on $1"; }
  chmod 0644 "$tmp"
  mv -f "$tmp" "$1.tshark.json"
}
# pdus JSON: the non-P-DATA PDU types tshark sees, counted ("0x01=1 0x02=1 ...").
pdus() {
  python3 - "$1" <<'PY'
import collections, json, sys
c = collections.Counter(t for p in json.load(open(sys.argv[1]))
                        for t in p["_source"]["layers"].get("dicom.pdu.type", []) if t != "0x04")
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))
PY
}
for name in echo_escape.pcap echo_high_bytes.pcap store_sql_bidi.pcap; do
  write_dicom_truth "$workdir/dicom/$name"
  got=$(pdus "$workdir/dicom/$name.tshark.json")
  [ "$got" = "0x01=1 0x02=1 0x05=1 0x06=1" ] || die "$name: tshark sees PDUs '$got'"
done
# HL7: the TSV of tests/data/hl7 (no CR or LF can sit inside an HL7 field).
write_tsv_from "$repo_root/scripts/lib/hl7_tsv.py" "$workdir/hl7/control_chars.pcap" "$PORT_HL7"
grep -q "MT-HOSTILE-1-ACK" "$workdir/hl7/control_chars.pcap.tshark.tsv" ||
  die "control_chars.pcap: tshark sees no ACK"
write_tsv_from "$repo_root/scripts/lib/mqtt_tsv.py" "$workdir/mqtt/client_id_bidi.pcap" "$PORT_MQTT"
grep -q "$MQTT_ID" "$workdir/mqtt/client_id_bidi.pcap.tshark.tsv" ||
  die "client_id_bidi.pcap: tshark does not show the client id"

mkdir -p "$dicom_out" "$hl7_out" "$mqtt_out"
for f in "$workdir"/dicom/*.pcap "$workdir"/dicom/*.tshark.json; do
  netns_install_output "$f" "$dicom_out/$(basename "$f")"
done
for f in "$workdir"/hl7/*.pcap "$workdir"/hl7/*.tshark.tsv; do
  netns_install_output "$f" "$hl7_out/$(basename "$f")"
done
for f in "$workdir"/mqtt/*.pcap "$workdir"/mqtt/*.tshark.tsv; do
  netns_install_output "$f" "$mqtt_out/$(basename "$f")"
done
log "wrote $(cd "$workdir/dicom" && echo *.pcap) to $dicom_out, control_chars.pcap to $hl7_out, client_id_bidi.pcap to $mqtt_out"
