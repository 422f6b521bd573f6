#!/usr/bin/env bash
# Makes medtap's DICOM test captures (tests/data/dicom/*.pcap) from REAL DICOM
# traffic: dcmtk's echoscu/storescu/findscu/movescu talk to dcmtk's
# storescp/dcmqrscp, and tcpdump records it. Next to every capture it writes
# the tshark ground truth <name>.pcap.tshark.tsv (same columns as
# shared/corpus/public/dicom/*.tshark.tsv).
#
# Usage (as root, Debian 12):   scripts/make-dicom-captures.sh [OUTDIR]
#         (any user, tshark):   scripts/make-dicom-captures.sh --tsv-only [OUTDIR]
# Default OUTDIR: tests/data/dicom relative to the repository root.
# --tsv-only regenerates only the .tshark.tsv files from the .pcap files there.
#
# Two private network namespaces are joined by a veth pair (MTU 1500, TSO/GSO
# and checksum offload off, so the capture holds real wire-size segments).
# Every packet stays on that wire; nothing leaves the machine.
#
#   mt-dicom-<pid>-scu  mtdicom0  02:00:00:78:00:01  10.78.0.1/24  modality / workstation
#   mt-dicom-<pid>-scp  mtdicom1  02:00:00:78:00:02  10.78.0.2/24  PACS (storescp, dcmqrscp), tcpdump
# (<pid>: this run's; see scripts/lib/netns.sh)
#
# IPv6 is off and the neighbours are static, so the captures hold TCP only.
# Every client connection gets a fixed source port (ip_local_port_range of its
# namespace is narrowed to one port just before it), so the conversations are
# the same on every run; sequence numbers and timestamps are not.
#
# One capture per scenario (SCU AE -> SCP AE, server port):
#   echo.pcap          echoscu  MEDTAP_MOD -> MEDTAP_PACS (storescp) :104, C-ECHO
#   store_ct_mr.pcap   storescu MEDTAP_MOD -> MEDTAP_PACS :104, one association,
#                      C-STORE of a CT and an MR image (64x64, 16 bit)
#   store_large.pcap   storescu MEDTAP_MOD -> MEDTAP_PACS :11112, C-STORE of a
#                      3 MiB DX image (storescu's default: ~120 proposed contexts)
#   find.pcap          findscu  MEDTAP_WS -> MEDTAP_QR (dcmqrscp) :104, Study
#                      Root C-FIND, 2 matches (the CT and the MR study)
#   move.pcap          movescu  MEDTAP_WS -> MEDTAP_QR :104, Study Root C-MOVE
#                      of both studies to MEDTAP_DEST (storescp on 10.78.0.1:104):
#                      the move association and dcmqrscp's C-STORE sub-association
#   reject.pcap        echoscu  MEDTAP_WS -> WRONGAE at dcmqrscp :104 -> A-ASSOCIATE-RJ
#   abort.pcap         echoscu --abort MEDTAP_MOD -> MEDTAP_PACS :104: C-ECHO, then A-ABORT
#   unusual_port.pcap  echoscu + storescu (CT) MEDTAP_MOD -> MEDTAP_PACS on :4711
#
# All image data is synthetic (patient MEDTAP^PHANTOM); no patient data.
#
# Idempotent: stale namespaces from an earlier (failed) run are removed first;
# everything is torn down again on exit, also on failure. Each output file is
# replaced only once its new version is complete.
#
# Needs: dcmtk, tcpdump, tshark, python3, iproute2 (scripts/install-deps.sh).
# The namespace, capture and teardown helpers are in scripts/lib/netns.sh,
# the run's setup and the dcmqrscp configuration in scripts/lib/capture.sh.
set -euo pipefail

readonly IF_SCU=mtdicom0 IF_SCP=mtdicom1
readonly IP_SCU=10.78.0.1 IP_SCP=10.78.0.2
readonly MAC_SCU=02:00:00:78:00:01 MAC_SCP=02:00:00:78:00:02
readonly AE_MOD=MEDTAP_MOD AE_PACS=MEDTAP_PACS AE_WS=MEDTAP_WS AE_QR=MEDTAP_QR
readonly AE_DEST=MEDTAP_DEST AE_WRONG=WRONGAE
readonly PORT_STD=104 PORT_LARGE=11112 PORT_ODD=4711
# Timeouts (seconds) handed to the dcmtk tools and to `timeout`.
readonly T_NET=20 T_TOOL=60

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/capture.sh
. "$repo_root/scripts/lib/capture.sh"
capture_init mt-dicom "$IF_SCU" "$IF_SCP"
NS_SCU=$(netns_name scu)
NS_SCP=$(netns_name scp)
readonly NS_SCU NS_SCP
# shellcheck source=scripts/lib/truth.sh
. "$repo_root/scripts/lib/truth.sh"
tsv_only=0
if [ "${1:-}" = "--tsv-only" ]; then tsv_only=1; shift; fi
outdir=$(capture_outdir "${1:-}" "$repo_root/tests/data/dicom")

# --- ground truth -------------------------------------------------------------
# Columns as in shared/corpus/public/dicom/*.tshark.tsv: tshark -T fields for
# the dicom.* fields, then five dimse.* columns read from the command set
# (tags 0000,0100 / 0110 / 0120 / 0002 / 0900) in `-T json -o dicom.tag_tree:TRUE`.
readonly TSV_FIELDS=(frame.number ip.src ip.dst ipv6.src ipv6.dst tcp.srcport tcp.dstport tcp.len
  dicom.pdu.type dicom.pdu.len dicom.assoc.ae.calling dicom.assoc.ae.called dicom.assoc.item.type
  dicom.actx dicom.pctx.id dicom.pctx.abss.syntax dicom.pctx.xfer.syntax dicom.pctx.result
  dicom.max_pdu_len dicom.userinfo.uid dicom.userinfo.version dicom.assoc.reject.result
  dicom.assoc.reject.source dicom.assoc.reject.reason dicom.assoc.abort.source
  dicom.assoc.abort.reason dicom.pdv.ctx dicom.pdv.flags _ws.col.Info)

# Port of the capture's DICOM server (decides tshark's -d option).
capture_port() {
  case "$1" in
    store_large.pcap) echo "$PORT_LARGE" ;;
    unusual_port.pcap) echo "$PORT_ODD" ;;
    *) echo "$PORT_STD" ;;
  esac
}

# write_tsv PCAP PORT: writes PCAP.tshark.tsv (atomically).
write_tsv() {
  local pcap=$1 port=$2 tmp f
  # tcp.reassemble_out_of_order: the veth pair sometimes hands the receiver a
  # burst's segments out of order (seen under load in store_large: "Previous
  # segment not captured", then the missing ones as "Out-Of-Order" within a
  # few microseconds, the receiver's SACKs showing the same order), most
  # likely because the sending CPU changes mid-burst and each CPU queues what
  # it sends in its own backlog (GRO off: no NAPI on the veth). The capture
  # is then still complete, and the receiving TCP (and medtap) reorder it;
  # tshark 4.0 by default does not: it drops the PDU that spans the gap and
  # the DICOM dissector, still inside that data set's Pixel Data element,
  # takes the next PDV on the context (the C-STORE-RSP command) as more pixel
  # data, or loses the PDU boundaries for the rest of the direction.
  local -a opts=(-n -r "$pcap" -o tcp.reassemble_out_of_order:TRUE -o dicom.tag_tree:TRUE -Y dicom)
  # 104 is tshark's registered DICOM port; others need "decode as".
  [ "$port" = 104 ] || opts+=(-d "tcp.port==$port,dicom")
  local -a fargs=()
  for f in "${TSV_FIELDS[@]}"; do fargs+=(-e "$f"); done
  tmp=$(mktemp "$pcap.tsv.XXXXXX")
  # Fields as JSON arrays (one entry per occurrence), the full tree for dimse.
  tshark "${opts[@]}" -T json "${fargs[@]}" >"$tmp.fields"
  tshark "${opts[@]}" -T json >"$tmp.json"
  python3 - "$tmp.fields" "$tmp.json" "${TSV_FIELDS[@]}" >"$tmp" <<'PY'
import json, re, sys
fields_path, json_path, fields = sys.argv[1], sys.argv[2], sys.argv[3:]
KEY = re.compile(r"^\(([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\) +\d+ (.*)$")
WANT = {"0100": "command_field", "0110": "message_id", "0120": "message_id_responded_to",
        "0002": "affected_sop_class_uid", "0900": "status"}
COLS = ["command_field", "message_id", "message_id_responded_to",
        "affected_sop_class_uid", "status"]

def pairs(obj):
    return obj if isinstance(obj, list) and all(isinstance(p, tuple) for p in obj) else []

def leaf(node, name):
    for k, v in pairs(node):
        if k == name and isinstance(v, str):
            return v
    return None

def frames():
    # Keep duplicate keys (several dicom layers / PDVs in one frame).
    data = json.load(open(json_path), object_pairs_hook=lambda p: p)
    for pkt in data:
        src = dict(pairs(pkt)).get("_source")
        layers = dict(pairs(src)).get("layers")
        num, dicoms = None, []
        for k, v in pairs(layers):
            if k == "frame":
                num = leaf(v, "frame.number")
            elif k == "dicom":
                dicoms.append(v)
        yield num, dicoms

def dimse(dicoms):
    out = {c: [] for c in COLS}
    for d in dicoms:
        for k, pdv in pairs(d):
            if not k.startswith("PDV"):
                continue
            for tk, tv in pairs(pdv):
                m = KEY.match(tk)
                if not m or m.group(1) != "0000" or m.group(2).lower() not in WANT:
                    continue
                col = WANT[m.group(2).lower()]
                # "(gggg,eeee) %10u %-45s %s": the shown value starts at 46.
                shown = m.group(3)[46:].strip()
                if col == "command_field":
                    val = "0x%04x %s" % (int(leaf(tv, "dicom.tag.value.16u")), shown)
                elif col in ("message_id", "message_id_responded_to"):
                    val = leaf(tv, "dicom.tag.value.16u") or shown
                else:
                    val = shown
                out[col].append(val)
    return [" | ".join(out[c]) for c in COLS]

extra = {num: dimse(ds) for num, ds in frames()}
print("\t".join(fields + ["dimse." + c for c in COLS]))
for pkt in json.load(open(fields_path)):
    layers = pkt["_source"]["layers"]
    row = [" | ".join(v.strip() for v in layers.get(f, [])) for f in fields]
    if row[0] not in extra:
        sys.exit("frame %s missing from the JSON tree output" % row[0])
    print("\t".join(row + extra[row[0]]))
PY
  rm -f "$tmp.fields" "$tmp.json"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$pcap.tshark.tsv"
}

if [ "$tsv_only" -eq 1 ]; then
  rewrite_all_tsv "$outdir"
  exit 0
fi

# --- capture mode ----------------------------------------------------------------
netns_require_root_tools tcpdump tshark python3 ip ss timeout echoscu storescu storescp \
  findscu movescu dcmqrscp dcmqridx dump2dcm

server_pid="" dest_pid=""

# start_server NAME NS PORT CMD...: starts a DICOM server in the background and
# waits until it listens. Sets server_pid (or dest_pid for NAME=dest).
start_server() {
  local name=$1 ns=$2 port=$3
  shift 3
  ip netns exec "$ns" "$@" >"$workdir/$name.log" 2>&1 &
  if [ "$name" = dest ]; then dest_pid=$!; else server_pid=$!; fi
  netns_wait_listen "$ns" tcp "$port"
}

stop_servers() {
  stop_pid "$server_pid"; server_pid=""
  stop_pid "$dest_pid"; dest_pid=""
  # dcmqrscp --fork children (tcpdump is already stopped at this point).
  netns_stop_all_in "$NS_SCU"
  netns_stop_all_in "$NS_SCP"
}

# run_tool LOGNAME NS CMD...: a DICOM client, bounded; its log goes to the
# work dir and is shown if it fails.
run_tool() {
  local logname=$1 ns=$2 rc=0
  shift 2
  timeout "$T_TOOL" ip netns exec "$ns" "$@" >"$workdir/$logname.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$workdir/$logname.log" >&2
    return "$rc"
  fi
}

# --- setup ------------------------------------------------------------------
# Traps, stale namespaces gone, $workdir made (capture_begin). Whatever
# happens, these processes, the capture and the namespaces go (by PID).
capture_begin medtap-dicom server_pid dest_pid

log "creating namespaces $NS_SCU <-> $NS_SCP"
netns_ipv4_pair "$NS_SCU" "$IF_SCU" "$MAC_SCU" "$IP_SCU" "$NS_SCP" "$IF_SCP" "$MAC_SCP" "$IP_SCP"

# --- synthetic images ---------------------------------------------------------
# dump2dcm turns a text dump into a DICOM file (file meta information added).
# Pixel data is a deterministic gradient made by python3. UIDs are 2.25.<n>
# (UUID-derived, PS3.5 B.2) from fixed names, so they are the same every run.
log "creating synthetic CT, MR and DX images (patient MEDTAP^PHANTOM)"
python3 - "$workdir" <<'PY'
import os, struct, sys, uuid
wd = sys.argv[1]
def uid(name):
    return "2.25.%d" % uuid.uuid5(uuid.NAMESPACE_URL, "medtap-test:" + name).int

def pixels(path, rows, cols, seed):
    with open(path, "wb") as f:
        for r in range(rows):
            f.write(struct.pack("<%dH" % cols,
                                *(((r * 7 + c * 3 + seed) % 4096) for c in range(cols))))

COMMON = """(0008,0005) CS [ISO_IR 100]
(0008,0008) CS [DERIVED\\SECONDARY]
(0008,0070) LO [MEDTAP SYNTHETIC]
(0008,0080) LO [MEDTAP TEST LAB]
(0008,1010) SH [MEDTAP-SIM]
(0010,0010) PN [MEDTAP^PHANTOM]
(0010,0020) LO [MEDTAP-PHANTOM-001]
(0010,0030) DA []
(0010,0040) CS [O]
(0020,4000) LT [SYNTHETIC PHANTOM - NOT PATIENT DATA]
(0028,0002) US 1
(0028,0004) CS [MONOCHROME2]
(0028,0100) US 16
(0028,0101) US 12
(0028,0102) US 11
(0028,0103) US 0
"""

def image(name, sop_class, modality, study_no, rows, cols, extra, date, time, desc):
    d = "".join([
        "(0008,0016) UI [%s]\n" % sop_class,
        "(0008,0018) UI [%s]\n" % uid(name + ":sop"),
        "(0008,0020) DA [%s]\n(0008,0030) TM [%s]\n" % (date, time),
        "(0008,0050) SH [MEDTAPACC%03d]\n" % study_no,
        "(0008,0060) CS [%s]\n" % modality,
        "(0008,1030) LO [%s]\n" % desc,
        COMMON,
        "(0020,000d) UI [%s]\n" % uid(name + ":study"),
        "(0020,000e) UI [%s]\n" % uid(name + ":series"),
        "(0020,0010) SH [%d]\n(0020,0011) IS [1]\n(0020,0013) IS [1]\n" % study_no,
        extra,
        "(0028,0010) US %d\n(0028,0011) US %d\n" % (rows, cols),
        "(7fe0,0010) OW =%s\n" % os.path.join(wd, name + ".raw"),
    ])
    pixels(os.path.join(wd, name + ".raw"), rows, cols, study_no)
    with open(os.path.join(wd, name + ".dump"), "w") as f:
        f.write(d)
    with open(os.path.join(wd, name + ".study"), "w") as f:
        f.write(uid(name + ":study"))

XYZ = ("(0020,0032) DS [-16\\-16\\0]\n(0020,0037) DS [1\\0\\0\\0\\1\\0]\n"
       "(0020,0052) UI [%s]\n(0028,0030) DS [0.5\\0.5]\n(0018,0050) DS [1]\n")
image("ct", "1.2.840.10008.5.1.4.1.1.2", "CT", 1, 64, 64,
      XYZ % uid("ct:for") + "(0018,0060) DS [120]\n(0028,1052) DS [-1024]\n(0028,1053) DS [1]\n",
      "20240102", "101500", "MEDTAP PHANTOM CT HEAD")
image("mr", "1.2.840.10008.5.1.4.1.1.4", "MR", 2, 64, 64,
      XYZ % uid("mr:for") + "(0018,0020) CS [SE]\n(0018,0021) CS [NONE]\n(0018,0022) CS [NONE]\n"
      "(0018,0023) CS [2D]\n(0018,0080) DS [500]\n(0018,0081) DS [20]\n(0018,0087) DS [1.5]\n",
      "20240103", "143000", "MEDTAP PHANTOM MR HEAD")
# DX For Presentation, 1536 x 1024 x 16 bit = 3 MiB of pixel data.
image("dx", "1.2.840.10008.5.1.4.1.1.1.1", "DX", 3, 1536, 1024,
      "(0008,0068) CS [FOR PRESENTATION]\n(0018,0015) CS [CHEST]\n(0020,0020) CS [L\\F]\n"
      "(0028,0030) DS [0.2\\0.2]\n(0028,1040) CS [LIN]\n(2050,0020) CS [IDENTITY]\n",
      "20240104", "090000", "MEDTAP PHANTOM DX CHEST")
PY
for img in ct mr dx; do
  timeout "$T_TOOL" dump2dcm -q +te "$workdir/$img.dump" "$workdir/$img.dcm" || die "dump2dcm failed for $img"
done
[ "$(stat -c %s "$workdir/dx.raw")" -eq 3145728 ] || die "dx pixel data has the wrong size"
ct_study=$(cat "$workdir/ct.study")
mr_study=$(cat "$workdir/mr.study")

# --- dcmqrscp (Q/R SCP) configuration -------------------------------------------
mkdir -p "$workdir/qrdb" "$workdir/pacs" "$workdir/dest"
capture_dcmqrscp_cfg "test archive" "$PORT_STD" "$AE_QR" "$workdir/qrdb" \
  "$AE_DEST = ($AE_DEST, $IP_SCU, $PORT_STD)" >"$workdir/dcmqrscp.cfg"
log "indexing the CT and MR images into dcmqrscp's database"
timeout "$T_TOOL" dcmqridx -q "$workdir/qrdb" "$workdir/ct.dcm" "$workdir/mr.dcm" || die "dcmqridx failed"

# Clients see the peer's IP literally; no DNS lookups anywhere.
ECHO_OPTS=(-ta "$T_NET" -td "$T_NET" -to "$T_NET")
SCP_OPTS=(-ta "$T_NET" -td "$T_NET" -dhl)
# start_storescp NAME NS AE PORT OUTDIR
start_storescp() {
  start_server "$1" "$2" "$4" storescp --single-process -aet "$3" -od "$5" "${SCP_OPTS[@]}" "$4"
}

# The one source port dcmqrscp uses for the C-MOVE sub-association.
netns_src_port "$NS_SCP" 40502

# --- scenarios ------------------------------------------------------------------
declare -a made=()

start_capture() { netns_capture_start "$NS_SCP" "$IF_SCP" "$workdir/$1"; }

finish() {  # finish NAME: stops capture + servers, records the file
  netns_capture_stop "$workdir/$1"
  stop_servers
  made+=("$1")
  log "  $1: $(stat -c %s "$workdir/$1") bytes"
}

log "echo.pcap: C-ECHO $AE_MOD -> $AE_PACS :$PORT_STD"
start_storescp pacs "$NS_SCP" "$AE_PACS" "$PORT_STD" "$workdir/pacs"
start_capture echo.pcap
netns_src_port "$NS_SCU" 40101
run_tool echo "$NS_SCU" echoscu "${ECHO_OPTS[@]}" -aet "$AE_MOD" -aec "$AE_PACS" "$IP_SCP" "$PORT_STD" ||
  die "echoscu failed"
finish echo.pcap

log "store_ct_mr.pcap: C-STORE CT + MR $AE_MOD -> $AE_PACS :$PORT_STD"
start_storescp pacs "$NS_SCP" "$AE_PACS" "$PORT_STD" "$workdir/pacs"
start_capture store_ct_mr.pcap
netns_src_port "$NS_SCU" 40201
run_tool store_ct_mr "$NS_SCU" storescu "${ECHO_OPTS[@]}" -R -aet "$AE_MOD" -aec "$AE_PACS" \
  "$IP_SCP" "$PORT_STD" "$workdir/ct.dcm" "$workdir/mr.dcm" || die "storescu (CT+MR) failed"
finish store_ct_mr.pcap

log "store_large.pcap: C-STORE 3 MiB DX $AE_MOD -> $AE_PACS :$PORT_LARGE"
start_storescp pacs "$NS_SCP" "$AE_PACS" "$PORT_LARGE" "$workdir/pacs"
start_capture store_large.pcap
netns_src_port "$NS_SCU" 40301
run_tool store_large "$NS_SCU" storescu "${ECHO_OPTS[@]}" -aet "$AE_MOD" -aec "$AE_PACS" \
  "$IP_SCP" "$PORT_LARGE" "$workdir/dx.dcm" || die "storescu (DX) failed"
finish store_large.pcap

# Fork mode (dcmqrscp's default): dcmtk 3.6.7's dcmqrscp --single-process
# segfaults after the first association is released.
QR_CMD=(dcmqrscp --fork -c "$workdir/dcmqrscp.cfg" -ta "$T_NET" -td "$T_NET" -dhl "$PORT_STD")

log "find.pcap: Study Root C-FIND $AE_WS -> $AE_QR :$PORT_STD"
start_server qr "$NS_SCP" "$PORT_STD" "${QR_CMD[@]}"
start_capture find.pcap
netns_src_port "$NS_SCU" 40401
run_tool find "$NS_SCU" findscu "${ECHO_OPTS[@]}" -S -aet "$AE_WS" -aec "$AE_QR" \
  -k QueryRetrieveLevel=STUDY -k "PatientName=MEDTAP*" -k PatientID -k StudyDate \
  -k StudyTime -k AccessionNumber -k StudyID -k StudyInstanceUID \
  "$IP_SCP" "$PORT_STD" || die "findscu failed"
finish find.pcap
n=$(grep -c "Find Response:.*(Pending)" "$workdir/find.log" || true)
[ "$n" -eq 2 ] || die "C-FIND returned $n matches, expected 2"

log "move.pcap: Study Root C-MOVE $AE_WS -> $AE_QR :$PORT_STD, destination $AE_DEST $IP_SCU:$PORT_STD"
start_server qr "$NS_SCP" "$PORT_STD" "${QR_CMD[@]}"
start_storescp dest "$NS_SCU" "$AE_DEST" "$PORT_STD" "$workdir/dest"
start_capture move.pcap
netns_src_port "$NS_SCU" 40501
run_tool move "$NS_SCU" movescu "${ECHO_OPTS[@]}" -S -aet "$AE_WS" -aec "$AE_QR" -aem "$AE_DEST" \
  -k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$ct_study\\$mr_study" \
  "$IP_SCP" "$PORT_STD" || die "movescu failed"
finish move.pcap
n=$(find "$workdir/dest" -type f | wc -l)
[ "$n" -eq 2 ] || die "C-MOVE delivered $n images to $AE_DEST, expected 2"

log "reject.pcap: $AE_WS -> $AE_WRONG (unknown called AE) at dcmqrscp :$PORT_STD"
start_server qr "$NS_SCP" "$PORT_STD" "${QR_CMD[@]}"
start_capture reject.pcap
netns_src_port "$NS_SCU" 40601
if run_tool reject "$NS_SCU" echoscu "${ECHO_OPTS[@]}" -aet "$AE_WS" -aec "$AE_WRONG" "$IP_SCP" "$PORT_STD" \
  2>/dev/null; then
  die "echoscu to $AE_WRONG was not rejected"
fi
grep -qi "rejected" "$workdir/reject.log" || { cat "$workdir/reject.log" >&2; die "no association reject seen"; }
finish reject.pcap

log "abort.pcap: C-ECHO then A-ABORT $AE_MOD -> $AE_PACS :$PORT_STD"
start_storescp pacs "$NS_SCP" "$AE_PACS" "$PORT_STD" "$workdir/pacs"
start_capture abort.pcap
netns_src_port "$NS_SCU" 40701
run_tool abort "$NS_SCU" echoscu "${ECHO_OPTS[@]}" --abort -aet "$AE_MOD" -aec "$AE_PACS" \
  "$IP_SCP" "$PORT_STD" || die "echoscu --abort failed"
finish abort.pcap

log "unusual_port.pcap: C-ECHO + C-STORE (CT) $AE_MOD -> $AE_PACS :$PORT_ODD"
start_storescp pacs "$NS_SCP" "$AE_PACS" "$PORT_ODD" "$workdir/pacs"
start_capture unusual_port.pcap
netns_src_port "$NS_SCU" 40801
run_tool odd_echo "$NS_SCU" echoscu "${ECHO_OPTS[@]}" -aet "$AE_MOD" -aec "$AE_PACS" "$IP_SCP" "$PORT_ODD" ||
  die "echoscu :$PORT_ODD failed"
netns_src_port "$NS_SCU" 40802
run_tool odd_store "$NS_SCU" storescu "${ECHO_OPTS[@]}" -R -aet "$AE_MOD" -aec "$AE_PACS" \
  "$IP_SCP" "$PORT_ODD" "$workdir/ct.dcm" || die "storescu :$PORT_ODD failed"
finish unusual_port.pcap

# --- check and output ------------------------------------------------------------
# What tshark must see in each capture: the count of each PDU type and the
# sorted DIMSE commands (their order varies with timing in move.pcap). P-DATA
# (0x04) counts too: dcmtk splits every message the same way on every run
# (store_large: the command, 193 data PDUs of at most 16 KiB, the response),
# so a PDU tshark failed to reassemble (a stream it lost track of) shows here
# even when the commands around it still come out right.
expected() {
  case "$1" in
    echo.pcap) echo "0x01=1 0x02=1 0x04=2 0x05=1 0x06=1; C-ECHO-RQ C-ECHO-RSP" ;;
    store_ct_mr.pcap) echo "0x01=1 0x02=1 0x04=6 0x05=1 0x06=1; C-STORE-RQ C-STORE-RQ C-STORE-RSP C-STORE-RSP" ;;
    store_large.pcap) echo "0x01=1 0x02=1 0x04=195 0x05=1 0x06=1; C-STORE-RQ C-STORE-RSP" ;;
    find.pcap) echo "0x01=1 0x02=1 0x04=7 0x05=1 0x06=1; C-FIND-RQ C-FIND-RSP C-FIND-RSP C-FIND-RSP" ;;
    move.pcap) echo "0x01=2 0x02=2 0x04=11 0x05=2 0x06=2; C-MOVE-RQ C-MOVE-RSP C-MOVE-RSP C-MOVE-RSP C-STORE-RQ C-STORE-RQ C-STORE-RSP C-STORE-RSP" ;;
    reject.pcap) echo "0x01=1 0x03=1; " ;;
    abort.pcap) echo "0x01=1 0x02=1 0x04=2 0x07=1; C-ECHO-RQ C-ECHO-RSP" ;;
    unusual_port.pcap) echo "0x01=2 0x02=2 0x04=5 0x05=2 0x06=2; C-ECHO-RQ C-ECHO-RSP C-STORE-RQ C-STORE-RSP" ;;
  esac
}
summarise() {  # summarise TSV: the same shape as expected()
  python3 - "$1" <<'PY'
import collections, csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t", quoting=csv.QUOTE_NONE))
pdus = collections.Counter(t for r in rows for t in r["dicom.pdu.type"].split(" | ") if t)
cmds = sorted(c.split(" ", 1)[1] for r in rows for c in r["dimse.command_field"].split(" | ") if c)
print(" ".join("%s=%d" % kv for kv in sorted(pdus.items())) + "; " + " ".join(cmds))
PY
}

mkdir -p "$outdir"
for name in "${made[@]}"; do
  write_tsv "$workdir/$name" "$(capture_port "$name")"
  got=$(summarise "$workdir/$name.tshark.tsv")
  [ "$got" = "$(expected "$name")" ] || die "$name: tshark sees '$got', expected '$(expected "$name")'"
  if [ "$name" = store_large.pcap ]; then
    n=$(tshark -n -r "$workdir/$name" -Y "tcp.dstport==$PORT_LARGE && tcp.len>0" 2>/dev/null | wc -l)
    [ "$n" -ge 1000 ] || die "$name: only $n data segments, expected over 1000"
  fi
  netns_install_output "$workdir/$name" "$outdir/$name"
  netns_install_output "$workdir/$name.tshark.tsv" "$outdir/$name.tshark.tsv"
  log "wrote $outdir/$name ($(stat -c %s "$outdir/$name") bytes) + .tshark.tsv"
done
