# shellcheck shell=bash
# Shared pieces of medtap's capture scripts (scripts/make-*-captures.sh,
# make-sample-capture.sh), one level above the namespaces and tcpdump of
# scripts/lib/netns.sh, which this file sources: the start of a run (its
# namespace prefix, output directory, traps and work dir), and what several
# scenarios hand their real servers and clients alike (busybox udhcpc's
# event script, a dropbear host key, a mosquitto and a dcmqrscp
# configuration, synthetic DICOM studies with worklist entries, a worklist
# query), plus the tshark helpers of the scripts' self-checks.
#
# Source it (it is not executable) instead of netns.sh, then call
# capture_init before anything else here. Everything the scenario itself is
# about (hosts, addresses, MACs, ports, steps, checks) stays in the script.

# shellcheck source=scripts/lib/netns.sh
. "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

# The Python that has python-hl7 (Debian's python3-hl7 installs it for
# /usr/bin/python3; a python3 earlier on PATH, e.g. pyenv's, may lack it);
# MEDTAP_HL7_PYTHON names another.
readonly PY_HL7=${MEDTAP_HL7_PYTHON:-/usr/bin/python3}

# capture_init PREFIX IFACE...: this run's namespaces are PREFIX-<pid>-<role>
# (netns_name), IFACEs are the script's veth (and bridge) names, removed if
# an interrupted run left one in the root namespace (netns_delete_stale); log
# lines are prefixed with the script's name.
capture_init() {
  NETNS_TAG=${NETNS_SCRIPT%.sh}
  NETNS_PREFIX=$1
  shift
  NETNS_IFACES=("$@")
}

# capture_require_hl7: dies unless $PY_HL7 imports python-hl7 (what
# scripts/mllp_client.py and scripts/mllp_listener.py use).
capture_require_hl7() {
  "$PY_HL7" -c 'import hl7, hl7.mllp, hl7.client' 2>/dev/null ||
    die "$PY_HL7 cannot import python-hl7 (install python3-hl7: scripts/install-deps.sh)"
}

# capture_outdir DIR DEFAULT: the output directory, as an absolute path: DIR
# (the script's OUTDIR argument; relative to the current directory) or, when
# DIR is empty, DEFAULT.
capture_outdir() {
  local dir=${1:-$2}
  case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
  printf '%s\n' "$dir"
}

# capture_begin NAME [PIDVAR...]: the start of a capture run, once its tools
# are checked. Installs the EXIT trap (capture_exit) and INT/TERM traps that
# exit through it, removes what an earlier, interrupted run of the script
# left behind (netns_delete_stale), and makes the work dir: sets workdir to a
# new /tmp/NAME.XXXXXX (mode 0755: servers that drop privileges read their
# files there) and start_s to the run's start (epoch seconds). PIDVARs name
# variables that hold, at exit, PIDs of processes to end (the ones started
# outside this run's namespaces, or to be ended first).
capture_begin() {
  local name=$1
  shift
  CAPTURE_PID_VARS=("$@")
  workdir=""
  # shellcheck disable=SC2034 # for the caller (how long the run took)
  start_s=$(date +%s)
  trap capture_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  log "removing stale namespaces (if any)"
  netns_delete_stale
  workdir=$(mktemp -d "/tmp/$name.XXXXXX")
  chmod 0755 "$workdir"
}

# capture_exit: capture_begin's EXIT trap. Whatever happened: the processes
# of capture_begin's PIDVARs ended, then the capture and this run's
# namespaces with everything living in them (by PID), the work dir removed
# (MEDTAP_KEEP_WORKDIR=1 keeps it, for debugging); exits with the script's
# status (netns_exit_cleanup).
capture_exit() {
  local rc=$? var
  local -a pids=()
  for var in "${CAPTURE_PID_VARS[@]}"; do pids+=("${!var:-}"); done
  netns_exit_cleanup "$rc" "$workdir" "${pids[@]}"
}

# capture_wait_line FILE REGEX WHAT SECS: bounded (SECS) wait for a line of
# FILE matching the extended regex REGEX; dies naming WHAT, with the end of
# FILE, if none comes.
capture_wait_line() {
  local _
  for _ in $(seq 1 $(($4 * 10))); do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  [ -f "$1" ] && tail -n 20 "$1" >&2
  die "$3: no line '$2' in $(basename "$1") after $4 s"
}

# capture_wait_gone PID WHAT SECS: bounded (SECS) wait for the background
# process PID (a one-shot server, a client) to exit, whatever its status;
# dies naming WHAT if it is still running.
capture_wait_gone() {
  local _
  for _ in $(seq 1 $(($3 * 10))); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  die "$2 still running after $3 s"
}

# capture_udhcpc_script FILE: writes busybox udhcpc's event script to FILE
# (mode 0755). udhcpc passes the lease in the environment ($interface, $ip,
# $mask, ...); the script sets or removes the address, and appends
# "EVENT IP" to the file $MEDTAP_EVENTS names, so that the capture script
# can wait for it.
capture_udhcpc_script() {
  cat >"$1" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound | renew) ip addr replace "$ip/${mask:-24}" dev "$interface" ;;
esac
echo "$1 ${ip:-}" >>"$MEDTAP_EVENTS"
EOF
  chmod 0755 "$1"
}

# capture_dropbear_key FILE: a new ed25519 host key for dropbear in FILE
# (dropbearkey's output in FILE's directory, dropbearkey.log).
capture_dropbear_key() {
  dropbearkey -t ed25519 -f "$1" >"$(dirname "$1")/dropbearkey.log" 2>&1 ||
    die "dropbearkey failed"
}

# capture_mosquitto_conf WHAT ADDRESS LOG [LINE...]: prints the configuration
# of a test broker (WHAT names it in the first comment line) listening on
# ADDRESS:1883 only, with the access LINEs (allow_anonymous, password_file,
# acl_file ...), no persistence, and every log type with timestamps written
# to the file LOG (the scripts wait for its lines).
capture_mosquitto_conf() {
  local what=$1 addr=$2 logf=$3
  shift 3
  cat <<EOF
# medtap $what (generated by scripts/$NETNS_SCRIPT)
# Stays root inside its private namespace so that it can write its log to
# the script's work dir (mosquitto warns about it).
user root
per_listener_settings false
listener 1883 $addr
EOF
  printf '%s\n' "$@"
  cat <<EOF
persistence false
log_dest file $logf
log_type all
connection_messages true
log_timestamp true
sys_interval 0
EOF
}

# capture_dcmqrscp_cfg WHAT PORT AE DBDIR [HOST...]: prints a dcmqrscp
# configuration (WHAT names it in the comment line): listening on PORT, one
# read-write storage area AE in DBDIR that takes any peer, and the HOST
# lines ("AE = (AE, ADDRESS, PORT)": the C-MOVE destinations) in its host
# table.
capture_dcmqrscp_cfg() {
  local what=$1 port=$2 ae=$3 db=$4
  shift 4
  cat <<EOF
# medtap $what (generated by scripts/$NETNS_SCRIPT)
NetworkTCPPort  = $port
MaxPDUSize      = 16384
MaxAssociations = 4

HostTable BEGIN
EOF
  [ $# -eq 0 ] || printf '%s\n' "$@"
  cat <<EOF
HostTable END

VendorTable BEGIN
VendorTable END

AETable BEGIN
$ae  $db  RW (20, 64mb)  ANY
AETable END
EOF
}

# capture_dicom_studies DIR UID_NAME WLM_AE MODALITY:AE...: synthetic DICOM
# test data in DIR, one study a MODALITY (CT or MR; scripts/lib/dicom_synth.py):
# 3 images DIR/img/<mod>{1,2,3}.dcm, the study's UID in DIR/<mod>.study, and
# its worklist entry, scheduled for the modality's AE title, as
# DIR/wlm/WLM_AE/<mod>.wl (with the lock file wlmscpfs needs). UIDs are
# derived from UID_NAME, so every run makes the same files.
capture_dicom_studies() {
  local dir=$1 uid_name=$2 wlm_ae=$3 f mod
  shift 3
  mkdir -p "$dir/img" "$dir/wlm/$wlm_ae"
  python3 "$(dirname "${BASH_SOURCE[0]}")/dicom_synth.py" "$dir" "$uid_name" "$@" ||
    die "dicom_synth.py failed"
  for f in "$dir"/img/*.dump; do
    dump2dcm -q +te "$f" "${f%.dump}.dcm" || die "dump2dcm failed for $(basename "$f")"
  done
  for mod in "${@%%:*}"; do
    mod=${mod,,}
    dump2dcm -q "$dir/wl-$mod.dump" "$dir/wlm/$wlm_ae/$mod.wl" ||
      die "dump2dcm failed for the $mod worklist entry"
  done
  # wlmscpfs needs a lock file in each AE's directory.
  : >"$dir/wlm/$wlm_ae/lockfile"
}

# capture_worklist_keys MODALITY STATION_AE: sets CAPTURE_WORKLIST_KEYS to
# findscu's -k options of a modality worklist query (PS3.4 K.6) for the
# procedure steps of MODALITY scheduled on STATION_AE: patient name, ID and
# birth date, accession number, study UID, requested procedure, and the
# step's start date and ID.
capture_worklist_keys() {
  # shellcheck disable=SC2034 # for the caller's findscu
  CAPTURE_WORKLIST_KEYS=(
    -k PatientName -k PatientID -k PatientBirthDate -k AccessionNumber -k StudyInstanceUID
    -k RequestedProcedureID -k RequestedProcedureDescription
    -k "ScheduledProcedureStepSequence[0].Modality=$1"
    -k "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=$2"
    -k "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate"
    -k "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID"
  )
}

# capture_findscu_matches LOG WANT WHAT: dies (naming WHAT, the query)
# unless findscu's verbose log LOG shows WANT matches (C-FIND responses
# with status Pending, one per match).
capture_findscu_matches() {
  local n
  n=$(grep -cE 'Find Response: [0-9]+ \(Pending\)' "$1" || true)
  [ "$n" -eq "$2" ] || die "$3 returned $n matches, expected $2"
}

# capture_fields PCAP FILTER FIELD...: tshark -T fields over PCAP (TCP
# segments that arrived out of order reassembled), one line per frame
# matching FILTER, the FIELDs tab-separated, every occurrence of a field
# (space-separated); dies with tshark's error (PCAP.tshark.err) if it fails.
capture_fields() {
  local pcap=$1 filter=$2 f
  shift 2
  local -a args=()
  for f in "$@"; do args+=(-e "$f"); done
  tshark -n -r "$pcap" -o tcp.reassemble_out_of_order:TRUE -Y "$filter" -T fields -E separator=/t \
    -E occurrence=a -E aggregator=' ' "${args[@]}" 2>"$pcap.tshark.err" ||
    { cat "$pcap.tshark.err" >&2; die "tshark failed on '$filter'"; }
}

# capture_dimse PCAP SRC DST: the DIMSE commands from SRC to DST in PCAP,
# "COMMAND AFFECTED-SOP-CLASS" each, counted and sorted, joined with "|"
# ("3x C-STORE-RQ 1.2.840..."). tshark's verbose view of the command set has
# one line per element: "(0000,0002) <len> Affected SOP Class UID <uid>
# (<name>)", "(0000,0100) <len> Command Field <name>".
capture_dimse() {
  tshark -n -r "$1" -o tcp.reassemble_out_of_order:TRUE -o dicom.tag_tree:TRUE \
    -Y "dicom && ip.src == $2 && ip.dst == $3" -O dicom -V 2>/dev/null |
    awk '$1 == "(0000,0002)" {uid = $7} $1 == "(0000,0100)" {print $NF, uid}' |
    sort | uniq -c | awk '{print $1 "x " $2 " " $3}' | paste -sd '|'
}
