#!/usr/bin/env bash
# Makes medtap's device-classification test capture
# (tests/data/classify/hospital.pcap): one "small hospital" network of 18
# hosts, each a network namespace of its own with its own MAC (real IEEE OUIs
# of the kind of vendor that makes such a device), and every packet produced
# by the real third-party tools: dcmtk (modalities, PACS, worklist,
# workstation), python-hl7 (infusion pumps, ADT, interface engine), Eclipse
# Mosquitto (monitors, dashboard, broker), dnsmasq + busybox udhcpc (DHCP),
# OpenSSH's ssh client + dropbear, curl + python3 http.server (an office
# laptop and a NAS). tcpdump records every host at once on the bridge they all
# hang on. Next to the capture it writes README.md (topology, software, what
# each host does) and hosts.tsv (role, mac, ip, what_it_did).
#
# Usage (as root, Debian 12):   scripts/make-class-captures.sh [OUTDIR]
# Default OUTDIR: tests/data/classify relative to the repository root. The HL7
# message files are read from tests/data/classify/messages/ in the repository.
#
# Topology: a "switch" namespace holds a bridge (mtclbr0, STP and multicast
# snooping off, no address, no uplink); every host is a namespace of its own,
# joined to the bridge by a veth pair (host side mtcl0: MTU 1500, checksum
# offload, TSO, GSO and GRO off on both ends, IPv6 off, no link-local
# address). tcpdump captures on the bridge in promiscuous mode, so one capture
# holds every frame any host sends, ARP included (neighbours are learnt, not
# static). Nothing leaves the machine: every address is one of these
# namespaces'. Namespaces: mt-class-<pid>-<role> and mt-class-<pid>-sw (<pid>:
# this run's; see scripts/lib/netns.sh). The host table (MAC, registry
# organisation, address, what it does) is HOSTS below; README.md and hosts.tsv
# are written from it.
#
# Scenario, in this order, each step checked before the next one starts:
#   1. pmdhcp, laptop, rpi: udhcpc -q gets a lease from dnsmasq (fixed
#      addresses in the 10.83.0.150-199 pool via --dhcp-host) and keeps it.
#   2. dash: mosquitto_sub -t 'icu/#' subscribes (waits for the SUBACK).
#   3. ct: findscu -W (modality worklist) to ris, then storescu of 3 CT
#      images to pacs (storescu's default proposal: 128 contexts).
#   4. mr: storescu of 3 MR images to pacs (the same default proposal, which
#      holds CT Image Storage too).
#   5. ws: findscu -S (study root) to pacs, then movescu -S of the CT study to
#      ws's own AE: pacs opens a C-STORE sub-association to ws's storescp.
#   6. pcd1, pcd2: 2 IHE PCD-01 ORU^R01 each to engine; adt: 1 ADT^A01.
#   7. mon1, mon2: 2 QoS 1 PUBLISHes each (dash gets all 4 and leaves);
#      rpi: 1 QoS 1 PUBLISH to lab/temperature.
#   8. laptop: ssh to nas (key exchange, authentication refused), HTTP GET
#      nas:80; ws: HTTP GET nas:5000.
# Every client connection has a fixed source port (see PORTS), so the
# conversations are the same on every run; sequence numbers, timestamps, DHCP
# xids and the ARP exchanges' timing are not.
#
# All data is synthetic: patients TEST^PATIENT^ONE/TWO/THREE, fake vital signs
# and pump values; no patient data.
#
# Idempotent: stale namespaces from an earlier (failed) run are removed first;
# everything is torn down again on exit, also on failure. Output files are
# replaced only once their new versions are complete. Before keeping the
# capture the script checks with tshark that it holds what the scenario must
# produce (DICOM SOP classes per direction, HL7 MSH fields, MQTT client IDs and
# topics, DHCP options 12/60, SSH and HTTP).
#
# Needs: dcmtk, python3-hl7, mosquitto, mosquitto-clients, dnsmasq-base,
# udhcpc, openssh-client, dropbear-bin, curl, tcpdump, tshark, python3,
# iproute2 (scripts/install-deps.sh). The namespace, capture and teardown
# helpers are in scripts/lib/netns.sh; the run's setup, the synthetic DICOM
# studies, the broker, archive and udhcpc configuration shared with
# make-policy-captures.sh in scripts/lib/capture.sh.
set -euo pipefail

readonly NET=10.83.0
readonly IF_HOST=mtcl0 BRIDGE=mtclbr0
# Bound (seconds) on every client run and every wait for an event; dcmtk's
# network timeouts.
readonly T_TOOL=30 T_NET=20

# --- hosts ------------------------------------------------------------------------
# role|MAC|IEEE registry organisation (oui.csv, verbatim)|address|what it does
# Address "dhcp:IP": leased from dnsmasq (pinned to IP with --dhcp-host).
readonly HOSTS=(
  "dhcp|f4:bd:9e:83:00:01|Cisco Systems, Inc|10.83.0.1|dnsmasq: DHCP server (DNS off) for 10.83.0.150-199, leases to pmdhcp, laptop and rpi"
  "pacs|98:e7:43:83:00:10|Dell Inc.|10.83.0.10|dcmtk dcmqrscp (AE ARCHIVE, port 104): stores the 3 CT and 3 MR images from ct and mr, answers ws's study-root C-FIND and C-MOVE, sends the 3 CT images to ws (C-STORE sub-association)"
  "ris|9c:7b:ef:83:00:11|Hewlett Packard|10.83.0.11|dcmtk wlmscpfs (AE RIS01, port 104): modality worklist SCP with 2 worklist entries (CT, MR), answers ct's C-FIND"
  "engine|00:50:56:83:00:12|VMware, Inc.|10.83.0.12|scripts/mllp_listener.py (python-hl7 MLLP server, port 2575): receives 5 HL7 messages from pcd1, pcd2 and adt, answers each with ACK AA"
  "broker|0c:c4:7a:83:00:14|Super Micro Computer, Inc.|10.83.0.14|mosquitto broker on 10.83.0.14:1883 (anonymous): relays mon1's and mon2's vitals to dash, takes rpi's reading"
  "nas|00:11:32:83:00:15|Synology Incorporated|10.83.0.15|dropbear SSH server on 22 (refuses laptop's login), python3 http.server on 80 and 5000 (answers laptop and ws)"
  "ct|00:18:65:83:00:21|Siemens Healthcare Diagnostics Manufacturing Ltd|10.83.0.21|dcmtk findscu -W (AE MOD01): modality worklist query to ris (1 match); then dcmtk storescu (default proposal): sends 3 CT images (CT Image Storage) to pacs"
  "mr|44:4b:5d:83:00:22|GE Healthcare|10.83.0.22|dcmtk storescu (AE MOD02, default proposal incl. CT Image Storage): sends 3 MR images (MR Image Storage) to pacs"
  "ws|10:c5:95:83:00:30|Lenovo|10.83.0.30|dcmtk storescp (AE WS01, port 104) receives; dcmtk findscu -S: study-root C-FIND to pacs (2 studies); dcmtk movescu -S: moves the CT study to WS01 (3 images arrive); curl: HTTP GET nas:5000"
  "dash|c8:f7:50:83:00:31|Dell Inc.|10.83.0.31|mosquitto_sub (client id nurse-station-dashboard): subscribes to icu/# QoS 1, gets mon1's and mon2's 4 messages, disconnects"
  "adt|34:f6:4b:83:00:32|Intel Corporate|10.83.0.32|python-hl7 MLLP client (scripts/mllp_client.py): sends 1 ADT^A01 to engine"
  "pcd1|00:12:21:83:00:41|B.Braun Melsungen AG|10.83.0.41|python-hl7 MLLP client (scripts/mllp_client.py): sends 2 IHE PCD-01 ORU^R01 (infusion pump, MSH-3 PUMPGW^0012210000000001^EUI-64) to engine"
  "pcd2|f8:c6:78:83:00:42|Carefusion|10.83.0.42|python-hl7 MLLP client (scripts/mllp_client.py): sends 2 IHE PCD-01 ORU^R01 (infusion pump, MSH-3 PUMPGW^F8C6780000000002^EUI-64) to engine"
  "mon1|00:09:fb:83:00:51|Philips Patient Monitoring|10.83.0.51|mosquitto_pub (client id intellivue-mx450-bed04): publishes 2 heart-rate messages to icu/bed04/vitals/hr, QoS 1"
  "mon2|00:0f:14:83:00:52|Mindray Co., Ltd.|10.83.0.52|mosquitto_pub (client id mindray-bed05): publishes 2 SpO2 messages to icu/bed05/vitals/spo2, QoS 1"
  "pmdhcp|00:09:5c:83:00:57|Philips Medical Systems - Cardiac and Monitoring Systems (CM|dhcp:10.83.0.157|busybox udhcpc: DHCP lease with host name intellivue-mx800-icu7, vendor class 'Philips IntelliVue MX800'; nothing else"
  "laptop|da:83:7e:21:4c:09|(locally administered, not in the registry)|dhcp:10.83.0.163|busybox udhcpc: DHCP lease with host name LAPTOP-7QX2D, vendor class 'MSFT 5.0'; OpenSSH ssh to nas:22 (login refused); curl: HTTP GET nas:80"
  "rpi|b8:27:eb:83:00:71|Raspberry Pi Foundation|dhcp:10.83.0.171|busybox udhcpc: DHCP lease with host name raspberrypi; mosquitto_pub (client id rpi-sensor-1): 1 message to lab/temperature, QoS 1"
)
declare -a ROLES=()
declare -A MAC=() ORG=() IP=() WHAT=() DYN=()
for h in "${HOSTS[@]}"; do
  IFS='|' read -r role mac org addr what <<<"$h"
  ROLES+=("$role")
  MAC[$role]=$mac ORG[$role]=$org WHAT[$role]=$what
  case $addr in dhcp:*) DYN[$role]=1 IP[$role]=${addr#dhcp:} ;; *) DYN[$role]=0 IP[$role]=$addr ;; esac
done
readonly ROLES MAC ORG IP WHAT DYN

# Fixed client source ports (one per connection).
declare -A PORTS=(
  [ct_find]=41101 [ct_store]=41102 [mr_store]=41201 [ws_find]=41301 [ws_move]=41302
  [ws_http]=41303 [pacs_sub]=41401 [pcd1]=41501 [pcd2]=41601 [adt]=41701 [dash]=41801
  [mon1]=41901 [mon2]=42001 [rpi]=42101 [laptop_ssh]=42201 [laptop_http]=42202
)
readonly PORTS
readonly AE_CT=MOD01 AE_MR=MOD02 AE_PACS=ARCHIVE AE_RIS=RIS01 AE_WS=WS01

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/capture.sh
. "$repo_root/scripts/lib/capture.sh"
capture_init mt-class "$IF_HOST" "$BRIDGE"
NS_SW=$(netns_name sw)
readonly NS_SW
ns() { netns_name "$1"; }
outdir=$(capture_outdir "${1:-}" "$repo_root/tests/data/classify")
msgdir=$repo_root/tests/data/classify/messages

netns_require_root_tools tcpdump tshark python3 ip ss timeout dnsmasq udhcpc findscu storescu \
  storescp movescu dcmqrscp wlmscpfs dump2dcm mosquitto mosquitto_pub mosquitto_sub ssh dropbear \
  dropbearkey curl dpkg-query
capture_require_hl7
[ -d "$msgdir" ] || die "missing message directory $msgdir"

# --- setup ------------------------------------------------------------------------
# Traps, stale namespaces gone, $workdir made (capture_begin). Whatever
# happens, processes, capture and namespaces go (every process started here
# lives in one of this run's namespaces, and netns_teardown ends them by PID).
capture_begin medtap-classify

# add_host ROLE: the host's namespace, its veth pair to the bridge (switch side
# mtsw-ROLE), its MAC; IPv6 off, offloads off on both ends, link up; its static
# address unless it leases one.
add_host() {
  local role=$1
  netns_bridge_host "$(ns "$role")" "${MAC[$role]}" "$NS_SW" "$BRIDGE" "$IF_HOST" "mtsw-$role"
  [ "${DYN[$role]}" = 1 ] || ip -n "$(ns "$role")" addr add "${IP[$role]}/24" dev "$IF_HOST"
}

log "creating the switch namespace $NS_SW and ${#ROLES[@]} hosts"
netns_switch "$NS_SW" "$BRIDGE" 02:00:00:83:00:fe
for role in "${ROLES[@]}"; do add_host "$role"; done

# --- helpers ------------------------------------------------------------------------
# wait_for FILE REGEX WHAT: bounded (T_TOOL) wait for a line matching REGEX.
wait_for() { capture_wait_line "$1" "$2" "$3" "$T_TOOL"; }

# wait_exit PID WHAT: bounded (T_TOOL) wait for a background client to end;
# dies unless it exited with status 0.
wait_exit() {
  local pid=$1 rc=0 _
  for _ in $(seq 1 $((T_TOOL * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" || rc=$?
      [ "$rc" -eq 0 ] || die "$2 exited with status $rc"
      return 0
    fi
    sleep 0.1
  done
  die "$2 still running after $T_TOOL s"
}

# bg ROLE NAME CMD...: a server (or long-lived client) in ROLE's namespace, in
# the background, output to $workdir/NAME.log; sets bg_pid. Ended at teardown.
bg() {
  local role=$1 name=$2
  shift 2
  printf '+ [%s] %s &\n' "$role" "$*" >>"$workdir/commands.log"
  ip netns exec "$(ns "$role")" "$@" >"$workdir/$name.log" 2>&1 &
  bg_pid=$!
}

# run ROLE NAME PORT_KEY CMD...: a client in ROLE's namespace, its next
# connection from PORTS[PORT_KEY] ("-": no fixed port), bounded (T_TOOL),
# output to $workdir/NAME.log; dies, showing the log, unless it exits 0.
# Standard input is passed on.
run() {
  local role=$1 name=$2 key=$3 rc=0
  shift 3
  [ "$key" = - ] || netns_src_port "$(ns "$role")" "${PORTS[$key]}"
  printf '+ [%s] %s\n' "$role" "$*" >>"$workdir/commands.log"
  timeout "$T_TOOL" ip netns exec "$(ns "$role")" "$@" >"$workdir/$name.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$workdir/$name.log" >&2
    die "$name: '$1' in $role exited with status $rc"
  fi
}

# count PATTERN FILE: lines of FILE matching the extended regex PATTERN.
count() { grep -cE -- "$1" "$2" || true; }

# --- synthetic DICOM images and worklist entries --------------------------------
# 3 CT and 3 MR images, 64 x 64 x 16 bit, one study each, and their worklist
# entries (scheduled for MOD01 / MOD02, the same patients and study UIDs):
# capture_dicom_studies, the same every run.
log "creating 3 CT + 3 MR images and 2 worklist entries (patients TEST^PATIENT^ONE/TWO)"
mkdir -p "$workdir/qrdb" "$workdir/ws-in" "$workdir/www"
capture_dicom_studies "$workdir" medtap-classify "$AE_RIS" "CT:$AE_CT" "MR:$AE_MR"
ct_study=$(cat "$workdir/ct.study")

# --- server configuration -----------------------------------------------------------
# dcmqrscp: one RW archive AE that takes any peer; ws's storescp as the only
# move destination.
capture_dcmqrscp_cfg "classification test archive" 104 "$AE_PACS" "$workdir/qrdb" \
  "$AE_WS = ($AE_WS, ${IP[ws]}, 104)" >"$workdir/dcmqrscp.cfg"

# mosquitto: anonymous clients, logging to the work dir.
capture_mosquitto_conf "classification test broker" "${IP[broker]}" "$workdir/broker.log" \
  "allow_anonymous true" >"$workdir/mosquitto.conf"

# udhcpc's event script: sets the leased address, appends "EVENT IP" to
# $MEDTAP_EVENTS.
capture_udhcpc_script "$workdir/udhcpc.script"

printf '<html><head><title>DiskStation</title></head><body>Synthetic test NAS page</body></html>\n' \
  >"$workdir/www/index.html"
capture_dropbear_key "$workdir/nas_host_ed25519"

# --- servers ------------------------------------------------------------------------
log "starting the servers"
DCM_NET=(-ta "$T_NET" -td "$T_NET")
DCM_SCU=(-ta "$T_NET" -td "$T_NET" -to "$T_NET")
bg dhcp dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --no-hosts --no-resolv \
  --interface="$IF_HOST" --bind-interfaces --no-ping --log-dhcp --log-facility="$workdir/dnsmasq.events" \
  --pid-file="$workdir/dnsmasq.pid" --dhcp-leasefile="$workdir/dnsmasq.leases" \
  --dhcp-range="$NET.150,$NET.199,255.255.255.0,1h" \
  --dhcp-host="${MAC[pmdhcp]},${IP[pmdhcp]}" --dhcp-host="${MAC[laptop]},${IP[laptop]}" \
  --dhcp-host="${MAC[rpi]},${IP[rpi]}" \
  --dhcp-option=option:router,"${IP[dhcp]}" --dhcp-option=option:domain-name,hospital.test
netns_wait_listen "$(ns dhcp)" udp 67
# The one source port pacs uses for the C-MOVE sub-association. Fork mode
# (dcmqrscp's default): dcmtk 3.6.7's dcmqrscp --single-process segfaults
# after the first association is released (see make-dicom-captures.sh).
netns_src_port "$(ns pacs)" "${PORTS[pacs_sub]}"
bg pacs dcmqrscp dcmqrscp --fork -v -c "$workdir/dcmqrscp.cfg" "${DCM_NET[@]}" -dhl 104
netns_wait_listen "$(ns pacs)" tcp 104
bg ris wlmscpfs wlmscpfs -v -dfp "$workdir/wlm" "${DCM_NET[@]}" -dhl 104
netns_wait_listen "$(ns ris)" tcp 104
bg ws storescp storescp --single-process -v -aet "$AE_WS" -od "$workdir/ws-in" "${DCM_NET[@]}" -dhl 104
netns_wait_listen "$(ns ws)" tcp 104
bg engine engine "$PY_HL7" "$repo_root/scripts/mllp_listener.py" --host "${IP[engine]}" --port 2575
netns_wait_listen "$(ns engine)" tcp 2575
bg broker broker.out mosquitto -c "$workdir/mosquitto.conf"
netns_wait_listen "$(ns broker)" tcp 1883
wait_for "$workdir/broker.log" "mosquitto version .* running" "broker"
bg nas dropbear dropbear -F -E -s -j -k -p "${IP[nas]}:22" -r "$workdir/nas_host_ed25519" \
  -P "$workdir/dropbear.pid"
netns_wait_listen "$(ns nas)" tcp 22
bg nas http80 python3 -m http.server --bind "${IP[nas]}" --directory "$workdir/www" 80
netns_wait_listen "$(ns nas)" tcp 80
bg nas http5000 python3 -m http.server --bind "${IP[nas]}" --directory "$workdir/www" 5000
netns_wait_listen "$(ns nas)" tcp 5000

netns_capture_start "$NS_SW" "$BRIDGE" "$workdir/hospital.pcap"

# --- 1. DHCP ----------------------------------------------------------------------
# lease ROLE ARGS...: udhcpc in ROLE (foreground -f, fail if no lease -n, quit
# once bound and keep the address -q, DISCOVER every 2 s, at most 3), bounded;
# checks that it is bound to its pinned address.
lease() {
  local role=$1
  shift
  : >"$workdir/$role.events"
  log "DHCP: $role udhcpc $*"
  run "$role" "$role.udhcpc" - env MEDTAP_EVENTS="$workdir/$role.events" udhcpc -i "$IF_HOST" -f -n -q \
    -t 3 -T 2 -s "$workdir/udhcpc.script" "$@"
  grep -qx "bound ${IP[$role]}" "$workdir/$role.events" || die "$role: udhcpc is not bound to ${IP[$role]}"
}
lease pmdhcp -x hostname:intellivue-mx800-icu7 -V "Philips IntelliVue MX800"
lease laptop -x hostname:LAPTOP-7QX2D -V "MSFT 5.0"
lease rpi -x hostname:raspberrypi

# --- 2. dashboard subscribes ----------------------------------------------------------
log "MQTT: dash subscribes to icu/#"
netns_src_port "$(ns dash)" "${PORTS[dash]}"
bg dash dash mosquitto_sub -V mqttv311 -h "${IP[broker]}" -i nurse-station-dashboard -k 60 -q 1 \
  -t 'icu/#' -v -C 4 -W $((T_TOOL * 3))
dash_pid=$bg_pid
wait_for "$workdir/broker.log" "Sending SUBACK to nurse-station-dashboard\$" "dash"

# --- 3.-5. DICOM ----------------------------------------------------------------------
log "DICOM: ct queries the worklist on ris ($AE_CT -> $AE_RIS)"
capture_worklist_keys CT "$AE_CT"
run ct ct_find ct_find findscu -v "${DCM_SCU[@]}" -W -aet "$AE_CT" -aec "$AE_RIS" \
  "${CAPTURE_WORKLIST_KEYS[@]}" "${IP[ris]}" 104
capture_findscu_matches "$workdir/ct_find.log" 1 "ct's worklist query"

log "DICOM: ct stores 3 CT images on pacs ($AE_CT -> $AE_PACS)"
run ct ct_store ct_store storescu -v "${DCM_SCU[@]}" -aet "$AE_CT" -aec "$AE_PACS" "${IP[pacs]}" 104 \
  "$workdir"/img/ct{1,2,3}.dcm
n=$(count "Received Store Response \(Success\)" "$workdir/ct_store.log")
[ "$n" -eq 3 ] || die "ct: $n of 3 C-STOREs succeeded"

log "DICOM: mr stores 3 MR images on pacs ($AE_MR -> $AE_PACS)"
run mr mr_store mr_store storescu -v "${DCM_SCU[@]}" -aet "$AE_MR" -aec "$AE_PACS" "${IP[pacs]}" 104 \
  "$workdir"/img/mr{1,2,3}.dcm
n=$(count "Received Store Response \(Success\)" "$workdir/mr_store.log")
[ "$n" -eq 3 ] || die "mr: $n of 3 C-STOREs succeeded"

log "DICOM: ws queries pacs (study root) ($AE_WS -> $AE_PACS)"
run ws ws_find ws_find findscu -v "${DCM_SCU[@]}" -S -aet "$AE_WS" -aec "$AE_PACS" \
  -k QueryRetrieveLevel=STUDY -k "PatientName=TEST*" -k PatientID -k StudyDate -k StudyTime \
  -k AccessionNumber -k StudyInstanceUID "${IP[pacs]}" 104
capture_findscu_matches "$workdir/ws_find.log" 2 "ws's study query"

log "DICOM: ws moves the CT study from pacs to itself ($AE_WS)"
run ws ws_move ws_move movescu -v "${DCM_SCU[@]}" -S -aet "$AE_WS" -aec "$AE_PACS" -aem "$AE_WS" \
  -k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$ct_study" "${IP[pacs]}" 104
n=$(find "$workdir/ws-in" -type f | wc -l)
[ "$n" -eq 3 ] || die "the C-MOVE delivered $n images to ws, expected 3"

# --- 6. HL7 -------------------------------------------------------------------------
# hl7 ROLE MESSAGE...: python-hl7's MLLPClient, one connection, every message
# ACKed AA.
hl7_send() {
  local role=$1 m
  shift
  local -a files=()
  for m in "$@"; do files+=("$msgdir/$m.hl7"); done
  log "HL7: $role sends $*"
  run "$role" "$role.hl7" "$role" "$PY_HL7" "$repo_root/scripts/mllp_client.py" "${IP[engine]}" 2575 "${files[@]}"
  n=$(grep -c ': MSA|AA|' "$workdir/$role.hl7.log" || true)
  [ "$n" -eq "$#" ] || die "$role: $n of $# messages ACKed AA"
}
hl7_send pcd1 pcd1_oru_r01_1 pcd1_oru_r01_2
hl7_send pcd2 pcd2_oru_r01_1 pcd2_oru_r01_2
hl7_send adt adt_a01
n=$(count ' ack=AA$' "$workdir/engine.log")
[ "$n" -eq 5 ] || die "engine logged $n messages, expected 5"

# --- 7. MQTT ------------------------------------------------------------------------
# publish ROLE CLIENT_ID TOPIC LINES: mosquitto_pub -l (one message per line
# of LINES, one connection), QoS 1, MQTT 3.1.1.
publish() {
  local role=$1 id=$2 topic=$3 lines=$4
  log "MQTT: $role ($id) publishes to $topic"
  printf '%s' "$lines" | run "$role" "$role.mqtt" "$role" mosquitto_pub -V mqttv311 -h "${IP[broker]}" \
    -i "$id" -k 60 -q 1 -t "$topic" -l
}
publish mon1 intellivue-mx450-bed04 icu/bed04/vitals/hr \
  $'{"bed":"04","hr":72,"unit":"/min","synthetic":true}\n{"bed":"04","hr":74,"unit":"/min","synthetic":true}\n'
publish mon2 mindray-bed05 icu/bed05/vitals/spo2 \
  $'{"bed":"05","spo2":97,"unit":"%","synthetic":true}\n{"bed":"05","spo2":96,"unit":"%","synthetic":true}\n'
publish rpi rpi-sensor-1 lab/temperature $'21.5\n'
wait_exit "$dash_pid" "mosquitto_sub in dash"
n=$(count '^icu/' "$workdir/dash.log")
[ "$n" -eq 4 ] || die "dash received $n messages, expected 4"
n=$(count 'Received PUBLISH from (intellivue-mx450-bed04|mindray-bed05|rpi-sensor-1) ' "$workdir/broker.log")
[ "$n" -eq 5 ] || die "the broker got $n PUBLISHes, expected 5"

# --- 8. office traffic --------------------------------------------------------------
log "office: laptop ssh to nas (login refused), HTTP GETs from laptop and ws"
# BatchMode, no public keys, no passwords: the server offers publickey only
# (dropbear -s), so the login fails after the key exchange, with status 255.
rc=0
netns_src_port "$(ns laptop)" "${PORTS[laptop_ssh]}"
timeout "$T_TOOL" ip netns exec "$(ns laptop)" ssh -F /dev/null -o BatchMode=yes \
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no \
  -o GSSAPIAuthentication=no -o ConnectTimeout=10 "admin@${IP[nas]}" true >"$workdir/laptop.ssh.log" 2>&1 || rc=$?
if [ "$rc" -ne 255 ] || ! grep -q "Permission denied" "$workdir/laptop.ssh.log"; then
  cat "$workdir/laptop.ssh.log" >&2
  die "laptop: ssh exited $rc, expected 255 with 'Permission denied'"
fi
run laptop laptop.http laptop_http curl -sS -f -o /dev/null -w '%{http_code}\n' "http://${IP[nas]}/"
grep -qx 200 "$workdir/laptop.http.log" || die "laptop: HTTP GET nas:80 did not return 200"
run ws ws.http ws_http curl -sS -f -o /dev/null -w '%{http_code}\n' "http://${IP[nas]}:5000/"
grep -qx 200 "$workdir/ws.http.log" || die "ws: HTTP GET nas:5000 did not return 200"

# --- stop ---------------------------------------------------------------------------
log "waiting for every TCP connection to close, then stopping the capture"
netns_capture_stop "$workdir/hospital.pcap"
pcap=$workdir/hospital.pcap

# --- check ----------------------------------------------------------------------------
log "checking the capture with tshark"
# fields FILTER FIELD...: tshark -T fields, one line per frame, every occurrence.
fields() { capture_fields "$pcap" "$@"; }
# expect WHAT WANT GOT: dies unless GOT equals WANT.
expect() {
  [ "$3" = "$2" ] || die "capture check '$1': got '$3', expected '$2'"
}
nframes() { fields "$1" frame.number | wc -l; }

# Every host sent frames; every frame comes from one of the hosts.
for role in "${ROLES[@]}"; do
  n=$(nframes "eth.src == ${MAC[$role]}")
  [ "$n" -gt 0 ] || die "capture check: no frame from $role (${MAC[$role]})"
done
macs=$(for role in "${ROLES[@]}"; do printf '%s\n' "${MAC[$role]}"; done | paste -sd ,)
n=$(nframes "!(eth.src in {$macs})")
expect "frames from unknown MACs" 0 "$n"
# Resets only: tcpdump dropped nothing (netns_capture_stop checks it), but a
# loaded machine's veth pairs may reorder a burst, which tshark flags as
# "previous segment not captured" and the peer may answer with a (spurious)
# retransmission: real TCP, complete in the capture (see
# tests/data/dicom/README.md), and medtap reassembles it as the receiver does.
n=$(nframes "tcp.flags.reset == 1")
expect "TCP resets" 0 "$n"

# DICOM: dimse SRC DST: the DIMSE commands from SRC to DST,
# "COMMAND AFFECTED-SOP-CLASS" each, counted ("3x C-STORE-RQ 1.2.840...";
# sorted).
dimse() { capture_dimse "$pcap" "$@"; }
readonly CT_SOP=1.2.840.10008.5.1.4.1.1.2 MR_SOP=1.2.840.10008.5.1.4.1.1.4
readonly MWL_FIND=1.2.840.10008.5.1.4.31 SR_FIND=1.2.840.10008.5.1.4.1.2.2.1 SR_MOVE=1.2.840.10008.5.1.4.1.2.2.2
expect "DIMSE ct -> ris" "1x C-FIND-RQ $MWL_FIND" "$(dimse "${IP[ct]}" "${IP[ris]}")"
expect "DIMSE ris -> ct" "2x C-FIND-RSP $MWL_FIND" "$(dimse "${IP[ris]}" "${IP[ct]}")"
expect "DIMSE ct -> pacs" "3x C-STORE-RQ $CT_SOP" "$(dimse "${IP[ct]}" "${IP[pacs]}")"
expect "DIMSE pacs -> ct" "3x C-STORE-RSP $CT_SOP" "$(dimse "${IP[pacs]}" "${IP[ct]}")"
expect "DIMSE mr -> pacs" "3x C-STORE-RQ $MR_SOP" "$(dimse "${IP[mr]}" "${IP[pacs]}")"
expect "DIMSE pacs -> mr" "3x C-STORE-RSP $MR_SOP" "$(dimse "${IP[pacs]}" "${IP[mr]}")"
expect "DIMSE ws -> pacs" "1x C-FIND-RQ $SR_FIND|1x C-MOVE-RQ $SR_MOVE|3x C-STORE-RSP $CT_SOP" \
  "$(dimse "${IP[ws]}" "${IP[pacs]}")"
expect "DIMSE pacs -> ws" "3x C-FIND-RSP $SR_FIND|4x C-MOVE-RSP $SR_MOVE|3x C-STORE-RQ $CT_SOP" \
  "$(dimse "${IP[pacs]}" "${IP[ws]}")"
# mr's A-ASSOCIATE-RQ (storescu's default proposal) proposes CT Image Storage
# as well as MR (tshark shows an abstract syntax as "<name> (<uid>)").
for sop in "$CT_SOP" "$MR_SOP"; do
  n=$(nframes "dicom.pdu.type == 1 && ip.src == ${IP[mr]} && dicom.pctx.abss.syntax contains \"($sop)\"")
  expect "mr's A-ASSOCIATE-RQ proposes $sop" 1 "$n"
done
# The number of presentation contexts storescu's default proposal holds.
ctx_ct=$(fields "dicom.pdu.type == 1 && ip.src == ${IP[ct]} && ip.dst == ${IP[pacs]}" dicom.pctx.id | wc -w)
ctx_mr=$(fields "dicom.pdu.type == 1 && ip.src == ${IP[mr]}" dicom.pctx.id | wc -w)
for n in "$ctx_ct" "$ctx_mr"; do
  [ "$n" -ge 100 ] || die "capture check: a storescu A-ASSOCIATE-RQ proposes $n presentation contexts, expected storescu's default (over 100)"
done

# HL7: source, MSH-3, MSH-9, MSH-10 and MSH-21 of every message and ACK, in
# order (tshark's first hl7.segment of a frame is its MSH; the ACKs python-hl7
# makes carry no MSH-21).
hl7_msh() {
  tshark -n -r "$pcap" -o tcp.reassemble_out_of_order:TRUE -Y hl7 -T fields -E separator=/t -E occurrence=f -e ip.src -e hl7.segment 2>/dev/null |
    awk -F'\t' '{n = split($2, f, "|"); sub(/\\r$/, "", f[n]); print $1, f[3], f[9], f[10], (n >= 21 ? f[21] : "-")}'
}
PCD21="IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
expect "HL7 MSH-3/9/10/21" "$(cat <<EOF
${IP[pcd1]} PUMPGW^0012210000000001^EUI-64 ORU^R01^ORU_R01 PCD1-0001 $PCD21
${IP[engine]} ENGINE ACK^R01^ACK PCD1-0001-ACK -
${IP[pcd1]} PUMPGW^0012210000000001^EUI-64 ORU^R01^ORU_R01 PCD1-0002 $PCD21
${IP[engine]} ENGINE ACK^R01^ACK PCD1-0002-ACK -
${IP[pcd2]} PUMPGW^F8C6780000000002^EUI-64 ORU^R01^ORU_R01 PCD2-0001 $PCD21
${IP[engine]} ENGINE ACK^R01^ACK PCD2-0001-ACK -
${IP[pcd2]} PUMPGW^F8C6780000000002^EUI-64 ORU^R01^ORU_R01 PCD2-0002 $PCD21
${IP[engine]} ENGINE ACK^R01^ACK PCD2-0002-ACK -
${IP[adt]} HIS ADT^A01^ADT_A01 ADT-0001 -
${IP[engine]} ENGINE ACK^A01^ACK ADT-0001-ACK -
EOF
)" "$(hl7_msh)"
for m in pcd1_oru_r01_1 pcd1_oru_r01_2 pcd2_oru_r01_1 pcd2_oru_r01_2 adt_a01; do
  python3 - "$pcap" "$msgdir/$m.hl7" <<'PY' || die "capture check: $m.hl7 is not on the wire unchanged"
import sys
raw, msg = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
# Each message is well under one segment (MSS 1448), so it is contiguous in the file.
sys.exit(0 if raw.count(b"\x0b" + msg + b"\x1c\r") == 1 else 1)
PY
done

# MQTT: CONNECT client IDs and PUBLISH topics per source.
expect "MQTT CONNECT client ids" \
  "intellivue-mx450-bed04 mindray-bed05 nurse-station-dashboard rpi-sensor-1" \
  "$(fields "mqtt.msgtype == 1" mqtt.clientid | sort | tr '\n' ' ' | sed 's/ $//')"
expect "MQTT PUBLISH topics to the broker" \
  "icu/bed04/vitals/hr icu/bed04/vitals/hr icu/bed05/vitals/spo2 icu/bed05/vitals/spo2 lab/temperature" \
  "$(fields "mqtt.msgtype == 3 && ip.dst == ${IP[broker]}" mqtt.topic | sort | tr '\n' ' ' | sed 's/ $//')"
n=$(nframes "mqtt.msgtype == 3 && ip.src == ${IP[broker]} && ip.dst == ${IP[dash]}")
expect "MQTT PUBLISH frames broker -> dash" 4 "$n"

# DHCP: host name and vendor class of each client's DISCOVER and REQUEST.
dhcp_id() {
  fields "dhcp.option.dhcp == 1 && eth.src == ${MAC[$1]}" dhcp.option.hostname dhcp.option.vendor_class_id |
    sort -u | tr '\t' '|'
}
expect "DHCP pmdhcp" "intellivue-mx800-icu7|Philips IntelliVue MX800" "$(dhcp_id pmdhcp)"
expect "DHCP laptop" "LAPTOP-7QX2D|MSFT 5.0" "$(dhcp_id laptop)"
rpi_dhcp=$(dhcp_id rpi)
case $rpi_dhcp in "raspberrypi|udhcp "*) ;; *) die "capture check 'DHCP rpi': got '$rpi_dhcp'" ;; esac
n=$(nframes "dhcp.option.dhcp == 5")
expect "DHCPACKs" 3 "$n"

# SSH and HTTP.
n=$(nframes "ssh.protocol && ip.src == ${IP[laptop]} && ip.dst == ${IP[nas]}")
expect "SSH identification from laptop" 1 "$n"
expect "HTTP requests" "${IP[laptop]} 80 GET|${IP[ws]} 5000 GET" \
  "$(fields "http.request" ip.src tcp.dstport http.request.method | tr '\t' ' ' | sort | paste -sd '|')"

# --- output ---------------------------------------------------------------------------
mkdir -p "$outdir"
netns_install_output "$pcap" "$outdir/hospital.pcap"

{
  printf 'role\tmac\tip\twhat_it_did\n'
  for role in "${ROLES[@]}"; do
    printf '%s\t%s\t%s\t%s\n' "$role" "${MAC[$role]}" "${IP[$role]}" "${WHAT[$role]}"
  done
} >"$workdir/hosts.tsv"
netns_install_output "$workdir/hosts.tsv" "$outdir/hosts.tsv"

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
{
  cat <<EOF
# Device-classification test capture (a small hospital, real traffic)

\`hospital.pcap\`: one capture of a small hospital network with 18 hosts,
for testing how medtap classifies devices: imaging modalities, PACS,
worklist server, workstation, infusion pumps, patient monitors, an HL7
interface engine, an MQTT broker and dashboard, a patient monitor that only
asks for a DHCP lease, and ordinary office devices (laptop, Raspberry Pi, NAS)
that must never be classified as medical.

**Synthetic test traffic, no patient data.** Patients are
\`TEST^PATIENT^ONE\` / \`TWO\` / \`THREE\`; images, pump values and vital
signs are made up. The MACs carry real IEEE OUIs of the vendors named below
(so that vendor lookups can be tested) with made-up NIC parts; no real device
is involved. Modality AE titles are neutral (\`$AE_CT\`, \`$AE_MR\`): what a
modality is must come from the SOP classes it sends, not from its name.

## How it was made

- Script: \`scripts/make-class-captures.sh tests/data/classify\` (root,
  Debian 12, about $(( $(date +%s) - start_s )) s). A "switch" namespace holds a Linux bridge
  (STP and multicast snooping off, no address, no uplink); each host is a
  namespace of its own on a veth pair to the bridge (MTU 1500, checksum
  offload/TSO/GSO/GRO off on both ends, IPv6 off, no link-local address).
  tcpdump captures on the bridge in promiscuous mode, so the capture holds
  every frame of every host, ARP included. No packet leaves the machine.
  Every client connection uses a fixed source port; each step waits for the
  one before to finish, and the capture stops only once every TCP connection
  has closed. The script checks the capture with tshark before keeping it.
- Software: dcmtk $(ver dcmtk); python-hl7 (Debian python3-hl7 $(ver python3-hl7)) with
  \`scripts/mllp_client.py\` / \`scripts/mllp_listener.py\`; mosquitto and
  mosquitto-clients $(ver mosquitto); dnsmasq (dnsmasq-base $(ver dnsmasq-base)); busybox udhcpc
  ($(ver udhcpc)); OpenSSH client $(ver openssh-client); dropbear $(ver dropbear-bin); curl
  $(ver curl); Python http.server (python3 $(ver python3)); tcpdump $(ver tcpdump);
  TShark $(ver tshark). OUI registry: Debian ieee-data $(ver ieee-data).
  Made $(date -u +%Y-%m-%d).
- Wire: Ethernet (DLT_EN10MB) pcap, IPv4 only, real wire-size segments
  (at most 1514 bytes) with valid checksums. Frames from the kernel are not
  padded (ARP is 42 bytes).
- Varies between runs: timestamps, TCP sequence numbers, DHCP xids, and the
  number and position of ARP frames. Tests should read tshark's view (or
  medtap's) rather than hard-code frame numbers or counts of ARP frames.

## Hosts

Network $NET.0/24. Addresses marked DHCP are leased from dnsmasq (pinned to
that address with \`--dhcp-host\`, inside the 10.83.0.150-199 pool); all
others are static. The registry organisation is the IEEE MA-L entry of the
MAC's first three bytes in \`/usr/share/ieee-data/oui.csv\`, verbatim (the
Philips CM entry is cut off at 60 characters in the registry itself). The
same table, without the organisation, is in \`hosts.tsv\`.

| role | MAC | registry organisation | address | what it did |
| --- | --- | --- | --- | --- |
EOF
  for role in "${ROLES[@]}"; do
    a=${IP[$role]}
    [ "${DYN[$role]}" = 1 ] && a="$a (DHCP)"
    printf '| %s | %s | %s | %s | %s |\n' "$role" "${MAC[$role]}" "${ORG[$role]}" "$a" "${WHAT[$role]}"
  done
  cat <<EOF

Notes on the MACs:
- ct: the registry has no "Siemens Healthineers" entry and no Siemens
  imaging unit; "Siemens Healthcare Diagnostics Manufacturing Ltd" (00:18:65)
  is the Siemens Healthcare entry it has (rules/medical_vendors.toml lists it
  under Siemens Healthineers).
- laptop: \`da:83:7e:21:4c:09\` has the locally administered bit (0x02 of the
  first byte) set, as a randomised ("private") Wi-Fi MAC does; it is in no
  registry.
- mon1 (00:09:FB "Philips Patient Monitoring") and pmdhcp (00:09:5C
  "Philips Medical Systems - Cardiac and Monitoring Systems (CM") are both
  Philips patient-monitoring blocks.

## What happens, in order

1. DHCP (dnsmasq on dhcp, \`--no-ping\`, 1 h leases, router option
   ${IP[dhcp]}, domain \`hospital.test\`): busybox udhcpc on pmdhcp
   (\`-x hostname:intellivue-mx800-icu7 -V "Philips IntelliVue MX800"\`),
   laptop (\`-x hostname:LAPTOP-7QX2D -V "MSFT 5.0"\`) and rpi
   (\`-x hostname:raspberrypi\`; udhcpc's default vendor class
   \`udhcp 1.35.0\`); DISCOVER, OFFER, REQUEST, ACK each; the leases are kept.
2. MQTT: dash (\`mosquitto_sub -i nurse-station-dashboard -t 'icu/#' -q 1
   -C 4\`) subscribes to the broker.
3. DICOM, all on port 104: ct runs \`findscu -W\` (Modality Worklist
   Information Model - FIND, 1.2.840.10008.5.1.4.31) against ris
   (\`wlmscpfs\`, AE \`$AE_RIS\`) asking for CT steps scheduled for \`$AE_CT\`:
   1 match. Then \`storescu\` with its default proposal ($ctx_ct
   presentation contexts: dcmtk's storage SOP classes, each twice) sends 3 CT
   Image Storage (1.2.840.10008.5.1.4.1.1.2) instances to pacs (\`dcmqrscp\`,
   AE \`$AE_PACS\`) in one association.
4. mr: \`storescu\` (AE \`$AE_MR\`), the same default proposal ($ctx_mr
   contexts, CT Image Storage among them), sends 3 MR Image Storage (1.2.840.10008.5.1.4.1.1.4)
   instances to pacs.
5. ws (\`storescp\`, AE \`$AE_WS\`, port 104, listening throughout):
   \`findscu -S\` (Study Root Q/R FIND, 1.2.840.10008.5.1.4.1.2.2.1) to pacs:
   2 studies; \`movescu -S -aem $AE_WS\` (Study Root Q/R MOVE,
   1.2.840.10008.5.1.4.1.2.2.2) of the CT study: pacs opens a second
   association to ws (from port ${PORTS[pacs_sub]}) and sends it the 3 CT
   images.
6. HL7 v2 over MLLP to engine:2575, one connection per sender, each message
   answered with an ACK (AA) by python-hl7: pcd1 and pcd2 send 2 IHE PCD-01
   ORU^R01^ORU_R01 each (HL7 2.6; MSH-3 \`PUMPGW^0012210000000001^EUI-64\` /
   \`PUMPGW^F8C6780000000002^EUI-64\`, MSH-4 \`ICU_EAST\` / \`ICU_WEST\`,
   MSH-21 \`IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\`; OBX with
   MDC codes 69985 MDC_DEV_PUMP_INFUS_MDS, 69986 MDC_DEV_PUMP_INFUS_VMD,
   126978 MDC_DEV_PUMP_INFUS_CHAN_DELIVERY, 184508 MDC_PUMP_STAT, 157784
   MDC_FLOW_FLUID_PUMP, 157884 MDC_VOL_FLUID_TBI, 157872
   MDC_VOL_FLUID_TBI_REMAIN); adt sends 1 ADT^A01 (HL7 2.5.1, MSH-3 \`HIS\`).
   The message files are in \`messages/\`, sent byte for byte.
7. MQTT 3.1.1 to broker:1883, QoS 1, one connection each (\`mosquitto_pub
   -l\`): mon1 (\`intellivue-mx450-bed04\`) 2 messages to
   \`icu/bed04/vitals/hr\`, mon2 (\`mindray-bed05\`) 2 to
   \`icu/bed05/vitals/spo2\`, both relayed to dash, which then disconnects;
   rpi (\`rpi-sensor-1\`) 1 message to \`lab/temperature\` (no subscriber).
8. laptop: OpenSSH \`ssh admin@${IP[nas]}\` (BatchMode, no keys): banner and
   key exchange with dropbear, then "Permission denied" (the server offers
   publickey only); \`curl http://${IP[nas]}/\`. ws: \`curl
   http://${IP[nas]}:5000/\`. Both answered 200 by python3 http.server.

## Checks made by the script (tshark)

- Frames from every host and from no other MAC; no TCP reset (tcpdump
  dropped nothing; a reordered burst and its retransmission are real TCP).
- DICOM, DIMSE command and affected SOP class per direction: ct->ris 1
  C-FIND-RQ (worklist), ris->ct 2 C-FIND-RSP; ct->pacs 3 C-STORE-RQ CT
  Image Storage, pacs->ct 3 C-STORE-RSP; mr->pacs 3 C-STORE-RQ MR Image
  Storage, pacs->mr 3 C-STORE-RSP; ws->pacs 1 C-FIND-RQ and 1 C-MOVE-RQ
  (study root) and 3 C-STORE-RSP; pacs->ws 3 C-FIND-RSP, 4 C-MOVE-RSP and 3
  C-STORE-RQ CT Image Storage. mr's A-ASSOCIATE-RQ proposes both CT and MR
  Image Storage; both storescu proposals hold over 100 contexts.
- HL7: sender, MSH-3, MSH-9, MSH-10 and MSH-21 of all 10 messages (5 + 5
  ACKs; python-hl7's ACKs carry no MSH-21); every message file on the wire
  byte for byte.
- MQTT: CONNECT client IDs, PUBLISH topics to the broker, 4 PUBLISHes to
  dash.
- DHCP: options 12 and 60 of each client's DISCOVER; 3 DHCPACKs.
- An SSH identification string from laptop; the two HTTP GETs.
EOF
} >"$workdir/README.md"
netns_install_output "$workdir/README.md" "$outdir/README.md"

n=$(nframes "")
log "wrote $outdir/hospital.pcap ($(stat -c %s "$outdir/hospital.pcap") bytes, $n frames), hosts.tsv, README.md in $(( $(date +%s) - start_s )) s"
