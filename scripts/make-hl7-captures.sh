#!/usr/bin/env bash
# Makes medtap's HL7 v2 / MLLP test captures (tests/data/hl7/*.pcap) from REAL
# traffic: python-hl7's MLLP client (hl7.client.MLLPClient, via
# scripts/mllp_client.py) and python-hl7's own `mllp_send` command send the
# message files in tests/data/hl7/messages/ to scripts/mllp_listener.py
# (python-hl7's asyncio MLLP server, which parses every message and answers
# with an ACK made by python-hl7), and tcpdump records it. Next to every
# capture it writes the tshark ground truth <name>.pcap.tshark.tsv (same
# columns as shared/corpus/public/hl7/*.tshark.tsv, by scripts/lib/hl7_tsv.py).
#
# Usage (as root, Debian 12):   scripts/make-hl7-captures.sh [OUTDIR]
#         (any user, tshark):   scripts/make-hl7-captures.sh --tsv-only [OUTDIR]
# Default OUTDIR: tests/data/hl7 relative to the repository root.
# --tsv-only regenerates only the .tshark.tsv files from the .pcap files there.
#
# Two private network namespaces are joined by a veth pair (MTU 1500, TSO/GSO
# and checksum offload off, so the capture holds real wire-size segments).
# Every packet stays on that wire; nothing leaves the machine.
#
#   mt-hl7-<pid>-cli  mthl70  02:00:00:79:00:01  10.79.0.1/24  HL7 senders (monitor gateway, ADT, CPOE)
#   mt-hl7-<pid>-srv  mthl71  02:00:00:79:00:02  10.79.0.2/24  HL7 receiver (mllp_listener.py), tcpdump
# (<pid>: this run's; see scripts/lib/netns.sh)
#
# IPv6 is off and the neighbours are static, so the captures hold TCP only.
# Every client connection gets a fixed source port (ip_local_port_range of the
# client namespace is narrowed to one port just before it), and every message
# waits for its ACK before the next is sent, so the conversations are the same
# on every run; sequence numbers and timestamps are not.
#
# One capture per scenario, one TCP connection each (client port -> server
# port; message files from tests/data/hl7/messages; ACK codes):
#   adt_oru_orm.pcap     41101 -> 2575  adt_a01 (ADT^A01), oru_r01_vitals (ORU^R01,
#                        7 OBX vital signs: HR, SpO2, NIBP sys/dia/mean, RR, temp),
#                        orm_o01 (ORM^O01); each ACKed AA
#   nack.pcap            41201 -> 2575  adt_a08_nack_ae (ADT^A08) -> AE + ERR,
#                        oru_r01_nack_ar (ORU^R01) -> AR + ERR
#   unusual_port.pcap    41301 -> 6789  adt_a04_port (ADT^A04), oru_r01_port
#                        (ORU^R01); AA, AA
#   large_oru.pcap       41401 -> 2575  oru_r01_large: ORU^R01 with 720 OBX,
#                        75938 bytes (> 64 KiB) over ~53 TCP segments; AA
#   no_trailing_cr.pcap  41501 -> 2575  sent by `mllp_send` (python-hl7's CLI):
#                        adt_a03_nocr (ADT^A03), oru_r01_nocr (ORU^R01); mllp_send
#                        strips the CR after the last segment of each message, so
#                        the last segment has no CR before <FS><CR> (tshark 4.0
#                        leaves that segment out of its dissection); AA, AA
#   separators.pcap      41601 -> 2575  adt_a01_sep_hash (field separator '#'),
#                        adt_a01_sep_enc (encoding characters '$%*!'),
#                        oru_r01_sep_both ('#' and '$%*!'); AA x3, the ACKs use
#                        the message's own separators
#   lf_segments.pcap     41701 -> 2575  adt_a01_lf (segments end with LF),
#                        adt_a01_crlf (segments end with CRLF); AA, AA (the ACKs
#                        use CR)
#
# All patient data is synthetic (PID-5 ZZPHANTOM^MEDTAPTEST, written with the
# message's component separator; impossible vital sign values); no patient data.
#
# Idempotent: stale namespaces from an earlier (failed) run are removed first;
# everything is torn down again on exit, also on failure. Each output file is
# replaced only once its new version is complete.
#
# Needs: python3-hl7 (python-hl7 for Debian's /usr/bin/python3, with
# mllp_send), tcpdump, tshark, iproute2 (scripts/install-deps.sh). The
# namespace, capture and teardown helpers are in scripts/lib/netns.sh, the
# run's setup and the python-hl7 check in scripts/lib/capture.sh.
set -euo pipefail

readonly IF_CLI=mthl70 IF_SRV=mthl71
readonly IP_CLI=10.79.0.1 IP_SRV=10.79.0.2
readonly MAC_CLI=02:00:00:79:00:01 MAC_SRV=02:00:00:79:00:02
readonly PORT_STD=2575 PORT_ODD=6789
# Timeout (seconds) for each client run.
readonly T_TOOL=60

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/capture.sh
. "$repo_root/scripts/lib/capture.sh"
capture_init mt-hl7 "$IF_CLI" "$IF_SRV"
NS_CLI=$(netns_name cli)
NS_SRV=$(netns_name srv)
readonly NS_CLI NS_SRV
# shellcheck source=scripts/lib/truth.sh
. "$repo_root/scripts/lib/truth.sh"
tsv_only=0
if [ "${1:-}" = "--tsv-only" ]; then tsv_only=1; shift; fi
outdir=$(capture_outdir "${1:-}" "$repo_root/tests/data/hl7")
msgdir=$repo_root/tests/data/hl7/messages

# Server port of a capture (decides tshark's -d option).
capture_port() { odd_or_standard_port "$1"; }

# write_tsv PCAP PORT: writes PCAP.tshark.tsv (atomically).
write_tsv() { write_tsv_from "$repo_root/scripts/lib/hl7_tsv.py" "$1" "$2"; }

if [ "$tsv_only" -eq 1 ]; then
  rewrite_all_tsv "$outdir"
  exit 0
fi

# --- capture mode ----------------------------------------------------------------
netns_require_root_tools tcpdump tshark python3 ip ss timeout mllp_send
capture_require_hl7
[ -d "$msgdir" ] || die "missing message directory $msgdir"

server_pid=""

# start_listener NAME PORT [--reply ID=CODE ...]: the MLLP receiver in the
# server namespace; its log (one line per message) is $workdir/NAME.listener.log.
start_listener() {
  local name=$1 port=$2
  shift 2
  ip netns exec "$NS_SRV" "$PY_HL7" "$repo_root/scripts/mllp_listener.py" --host "$IP_SRV" \
    --port "$port" "$@" >"$workdir/$name.listener.log" 2>&1 &
  server_pid=$!
  netns_wait_listen "$NS_SRV" tcp "$port"
}

# run_client LOGNAME CMD...: a sender in the client namespace, bounded; its
# output goes to the work dir and is shown if it fails.
run_client() {
  local logname=$1 rc=0
  shift
  timeout "$T_TOOL" ip netns exec "$NS_CLI" "$@" >"$workdir/$logname.client.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$workdir/$logname.client.log" >&2
    return "$rc"
  fi
}

# send NAME SRC_PORT DST_PORT MESSAGE...: python-hl7's MLLPClient, one
# connection from SRC_PORT, the message files sent unchanged.
send() {
  local name=$1 sport=$2 dport=$3 m
  shift 3
  local -a files=()
  for m in "$@"; do files+=("$msgdir/$m.hl7"); done
  netns_src_port "$NS_CLI" "$sport"
  run_client "$name" "$PY_HL7" "$repo_root/scripts/mllp_client.py" "$IP_SRV" "$dport" "${files[@]}" ||
    die "$name: mllp_client.py failed"
}

start_capture() { netns_capture_start "$NS_SRV" "$IF_SRV" "$workdir/$1"; }

declare -a made=()
finish() {  # finish NAME: stops the capture and the listener, records the file
  netns_capture_stop "$workdir/$1"
  stop_pid "$server_pid"; server_pid=""
  made+=("$1")
  log "  $1: $(stat -c %s "$workdir/$1") bytes"
}

# --- setup ------------------------------------------------------------------
# Traps, stale namespaces gone, $workdir made (capture_begin). Whatever
# happens, these processes, the capture and the namespaces go (by PID).
capture_begin medtap-hl7 server_pid

log "creating namespaces $NS_CLI <-> $NS_SRV"
netns_ipv4_pair "$NS_CLI" "$IF_CLI" "$MAC_CLI" "$IP_CLI" "$NS_SRV" "$IF_SRV" "$MAC_SRV" "$IP_SRV"

# --- scenarios ------------------------------------------------------------------
log "adt_oru_orm.pcap: ADT^A01, ORU^R01 (vitals), ORM^O01 -> :$PORT_STD, all AA"
start_listener adt_oru_orm "$PORT_STD"
start_capture adt_oru_orm.pcap
send adt_oru_orm 41101 "$PORT_STD" adt_a01 oru_r01_vitals orm_o01
finish adt_oru_orm.pcap

log "nack.pcap: ADT^A08 -> AE, ORU^R01 -> AR"
start_listener nack "$PORT_STD" --reply MT-NACK-AE=AE --reply MT-NACK-AR=AR
start_capture nack.pcap
send nack 41201 "$PORT_STD" adt_a08_nack_ae oru_r01_nack_ar
finish nack.pcap

log "unusual_port.pcap: ADT^A04, ORU^R01 -> :$PORT_ODD"
start_listener unusual_port "$PORT_ODD"
start_capture unusual_port.pcap
send unusual_port 41301 "$PORT_ODD" adt_a04_port oru_r01_port
finish unusual_port.pcap

log "large_oru.pcap: ORU^R01 with 720 OBX (75938 bytes)"
start_listener large_oru "$PORT_STD"
start_capture large_oru.pcap
send large_oru 41401 "$PORT_STD" oru_r01_large
finish large_oru.pcap

log "no_trailing_cr.pcap: mllp_send ADT^A03 + ORU^R01 (no CR after the last segment)"
# mllp_send reads MLLP-framed messages (<VT>...<FS><CR>) from a file.
python3 - "$workdir/nocr.mllp" "$msgdir/adt_a03_nocr.hl7" "$msgdir/oru_r01_nocr.hl7" <<'PY'
import sys
with open(sys.argv[1], "wb") as out:
    for path in sys.argv[2:]:
        out.write(b"\x0b" + open(path, "rb").read() + b"\x1c\r")
PY
start_listener no_trailing_cr "$PORT_STD"
start_capture no_trailing_cr.pcap
netns_src_port "$NS_CLI" 41501
run_client no_trailing_cr mllp_send --port "$PORT_STD" --file "$workdir/nocr.mllp" "$IP_SRV" ||
  die "no_trailing_cr: mllp_send failed"
finish no_trailing_cr.pcap

log "separators.pcap: MSH#^~\\&, MSH|\$%*!, MSH#\$%*!"
start_listener separators "$PORT_STD"
start_capture separators.pcap
send separators 41601 "$PORT_STD" adt_a01_sep_hash adt_a01_sep_enc oru_r01_sep_both
finish separators.pcap

log "lf_segments.pcap: segments ended by LF, then by CRLF"
start_listener lf_segments "$PORT_STD"
start_capture lf_segments.pcap
send lf_segments 41701 "$PORT_STD" adt_a01_lf adt_a01_crlf
finish lf_segments.pcap

# --- check and output ------------------------------------------------------------
# What tshark must show in each capture, row by row: message type^event,
# MSH-10, MSA-1, MSA-2, segment IDs. The ACK of each message follows it.
expected() {
  local s7="OBX,OBX,OBX,OBX,OBX,OBX,OBX"
  case "$1" in
    adt_oru_orm.pcap) cat <<EOF
ADT^A01 MT-ADT-0001 - - MSH,EVN,PID,PV1
ACK^A01 MT-ADT-0001-ACK AA MT-ADT-0001 MSH,MSA
ORU^R01 MT-ORU-0001 - - MSH,PID,PV1,OBR,NTE,$s7
ACK^R01 MT-ORU-0001-ACK AA MT-ORU-0001 MSH,MSA
ORM^O01 MT-ORM-0001 - - MSH,PID,PV1,ORC,OBR
ACK^O01 MT-ORM-0001-ACK AA MT-ORM-0001 MSH,MSA
EOF
      ;;
    nack.pcap) cat <<EOF
ADT^A08 MT-NACK-AE - - MSH,EVN,PID,PV1
ACK^A08 MT-NACK-AE-ACK AE MT-NACK-AE MSH,MSA,ERR
ORU^R01 MT-NACK-AR - - MSH,PID,OBR,OBX,OBX
ACK^R01 MT-NACK-AR-ACK AR MT-NACK-AR MSH,MSA,ERR
EOF
      ;;
    unusual_port.pcap) cat <<EOF
ADT^A04 MT-PORT-0001 - - MSH,EVN,PID,PV1
ACK^A04 MT-PORT-0001-ACK AA MT-PORT-0001 MSH,MSA
ORU^R01 MT-PORT-0002 - - MSH,PID,OBR,OBX,OBX,OBX
ACK^R01 MT-PORT-0002-ACK AA MT-PORT-0002 MSH,MSA
EOF
      ;;
    large_oru.pcap)
      printf 'ORU^R01 MT-BIG-0001 - - MSH,PID,PV1,OBR,NTE'
      printf ',OBX%.0s' $(seq 1 720)
      printf '\nACK^R01 MT-BIG-0001-ACK AA MT-BIG-0001 MSH,MSA\n'
      ;;
    # The last segment of each message (PV1, the 2nd OBX) is not in tshark's view.
    no_trailing_cr.pcap) cat <<EOF
ADT^A03 MT-NOCR-0001 - - MSH,EVN,PID
ACK^A03 MT-NOCR-0001-ACK AA MT-NOCR-0001 MSH,MSA
ORU^R01 MT-NOCR-0002 - - MSH,PID,OBR,OBX
ACK^R01 MT-NOCR-0002-ACK AA MT-NOCR-0002 MSH,MSA
EOF
      ;;
    separators.pcap) cat <<EOF
ADT^A01 MT-SEP-0001 - - MSH,EVN,PID,PV1
ACK^A01 MT-SEP-0001-ACK AA MT-SEP-0001 MSH,MSA
ADT^A01 MT-SEP-0002 - - MSH,EVN,PID,PV1
ACK^A01 MT-SEP-0002-ACK AA MT-SEP-0002 MSH,MSA
ORU^R01 MT-SEP-0003 - - MSH,PID,OBR,OBX,OBX
ACK^R01 MT-SEP-0003-ACK AA MT-SEP-0003 MSH,MSA
EOF
      ;;
    lf_segments.pcap) cat <<EOF
ADT^A01 MT-LF-0001 - - MSH,EVN,PID,PV1
ACK^A01 MT-LF-0001-ACK AA MT-LF-0001 MSH,MSA
ADT^A01 MT-CRLF-0001 - - MSH,EVN,PID,PV1
ACK^A01 MT-CRLF-0001-ACK AA MT-CRLF-0001 MSH,MSA
EOF
      ;;
  esac
}
summarise() {  # summarise TSV: the same shape as expected()
  python3 - "$1" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1]), delimiter="\t", quoting=csv.QUOTE_NONE):
    print("%s^%s %s %s %s %s" % (r["hl7.message.type"], r["hl7.event.type"], r["MSH-10 control_id"],
          r["MSA-1 ack_code"] or "-", r["MSA-2 acked_control_id"] or "-", r["segment_ids"]))
PY
}

mkdir -p "$outdir"
for name in "${made[@]}"; do
  base=${name%.pcap}
  write_tsv "$workdir/$name" "$(capture_port "$name")"
  got=$(summarise "$workdir/$name.tshark.tsv")
  if [ "$got" != "$(expected "$name")" ]; then
    diff <(expected "$name") <(printf '%s\n' "$got") | head -20 >&2 || true
    die "$name: tshark's view differs from the expected messages (diff above: < expected, > tshark)"
  fi
  # Every message the client sent reached the listener and got an ACK.
  nmsg=$(grep -c ' ack=' "$workdir/$base.listener.log" || true)
  nack=$(grep -c 'MSA' "$workdir/$base.client.log" || true)
  rows=$(($(wc -l <"$workdir/$name.tshark.tsv") - 1))
  if [ "$rows" -ne $((2 * nmsg)) ] || [ "$nack" -ne "$nmsg" ]; then
    die "$name: listener logged $nmsg messages, the client got $nack ACKs, tshark shows $rows HL7 rows"
  fi
  # The synthetic patient is in every message (never a real one).
  n=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().count(b"ZZPHANTOM"))' "$workdir/$name")
  [ "$n" -eq "$nmsg" ] || die "$name: ZZPHANTOM occurs $n times, expected $nmsg (one per message)"
  if [ "$name" = large_oru.pcap ]; then
    grep -q 'MT-BIG-0001 .* obx=720 bytes=75938 ack=AA' "$workdir/$base.listener.log" ||
      die "large_oru: the listener did not get the whole 720-OBX message"
    n=$(tshark -n -r "$workdir/$name" -Y "tcp.dstport==$PORT_STD && tcp.len>0" 2>/dev/null | wc -l)
    [ "$n" -ge 50 ] || die "$name: only $n data segments from the client, expected at least 50"
  fi
  netns_install_output "$workdir/$name" "$outdir/$name"
  netns_install_output "$workdir/$name.tshark.tsv" "$outdir/$name.tshark.tsv"
  log "wrote $outdir/$name ($(stat -c %s "$outdir/$name") bytes, $(($(wc -l <"$outdir/$name.tshark.tsv") - 1)) HL7 rows) + .tshark.tsv"
done
