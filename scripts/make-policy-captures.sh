#!/usr/bin/env bash
# Makes the test captures of medtap's policy/alert engine
# (tests/data/policy/{benign,violations,extra-peer}.pcap): one hospital LAN
# (10.20.0.0/16, subnets by third octet) of 15 hosts, each a network
# namespace of its own with a real-vendor MAC, and every packet produced by
# real third-party software: dcmtk (CT modality, PACS, worklist, a second
# archive, a rogue storescp), python-hl7 (infusion pump, interface engine),
# Eclipse Mosquitto with password file and ACL (patient monitors, broker, an
# attacker's laptop), dnsmasq + busybox udhcpc (DHCP), OpenSSH's ssh client +
# dropbear (a vendor's remote-service login into the pump) and iputils arping
# (the laptop takes over the pump's address). tcpdump records every host at
# once on the bridge they all hang on. Next to the captures it writes
# assets.toml (the registered hosts, medtap's asset list format), hosts.tsv
# (role, mac, ip, registered, what_it_did) and README.md (topology, software,
# steps, the alerts each capture is meant to cause).
#
# Usage (as root, Debian 12):   scripts/make-policy-captures.sh [OUTDIR]
# Default OUTDIR: tests/data/policy relative to the repository root.
#
# Topology: a "switch" namespace holds a bridge (mtpobr0, STP and multicast
# snooping off, no address, no uplink); every host is a namespace of its own,
# joined to the bridge by a veth pair (host side mtpo0: MTU 1500, checksum
# offload, TSO, GSO and GRO off on both ends, IPv6 off, no link-local
# address). Every host has a /16 address in 10.20.0.0/16 (one L2 segment, no
# router); the third octet is the "subnet": 1 modalities, 2 servers, 3
# bedside, 4 offices, 9 vendor remote service. tcpdump captures on the bridge
# in promiscuous mode (full snaplen), so a capture holds every frame any host
# sends, ARP included (neighbours are learnt, not static). Nothing leaves the
# machine: every address is one of these namespaces'. Namespaces:
# mt-policy-<pid>-<role> and mt-policy-<pid>-sw (<pid>: this run's; see
# scripts/lib/netns.sh). Each capture gets a freshly built network (new
# namespaces, empty ARP caches, fresh servers), so each stands on its own.
#
# Captures (each step checked before the next one starts):
#   benign.pcap      B1 pump: udhcpc lease from dnsmasq (pinned address)
#                    B2 ct: findscu -W to ris, storescu of 3 CT images to pacs
#                    B3 pump: 2 ORU^R01 to hl7srv (MLLP, each ACKed AA)
#                    B4 mon1, mon2: CONNECT with their own user and password,
#                       2 QoS 1 PUBLISHes each to icu/bedN/vitals
#   extra-peer.pcap  B1-B4, then E1 ct: storescu of 1 CT image to pacs2
#   violations.pcap  B1-B4, then
#                    V1 ct: storescu of 1 CT image to rogue (AE ROGUE)
#                    V2 vendor: ssh with a key into the pump (dropbear), runs
#                       `sleep 3`: a real login with a measurable duration
#                    V3 laptop: 5 MQTT CONNECTs as mon1's user with wrong
#                       passwords (each refused, CONNACK 5), then one with
#                       mon1's real password subscribing to `#` for 3 s
#                    V4 laptop: adds the pump's address and announces it with
#                       3 gratuitous ARP requests (arping -U)
# Every client connection has a fixed source port (see PORTS), so the
# conversations are the same on every run; sequence numbers, timestamps, DHCP
# xids and the ARP exchanges' timing are not.
#
# All data is synthetic: patient TEST^PATIENT^ONE / THREE, fake vital signs
# and pump values; no patient data. The keys and passwords are made for the
# test (the SSH keys in the work dir, removed at exit).
#
# Idempotent: stale namespaces from an earlier (failed) run are removed first;
# everything is torn down again on exit, also on failure. Output files are
# replaced only once all three captures are made and checked. Before keeping a
# capture the script checks with tshark that it holds what the scenario must
# produce and nothing else (see "check" below).
#
# Needs: dcmtk, python3-hl7, mosquitto, mosquitto-clients, dnsmasq-base,
# udhcpc, openssh-client, dropbear-bin, iputils-arping, util-linux (unshare),
# mount, tcpdump, tshark, python3, iproute2 (scripts/install-deps.sh). The
# namespace, capture and teardown helpers are in scripts/lib/netns.sh; the
# run's setup, the synthetic DICOM studies, the broker, archive and udhcpc
# configuration shared with make-class-captures.sh in scripts/lib/capture.sh.
set -euo pipefail

readonly NET=10.20 PLEN=16
readonly IF_HOST=mtpo0 BRIDGE=mtpobr0
# Bound (seconds) on every client run and every wait for an event; dcmtk's
# network timeouts.
readonly T_TOOL=30 T_NET=20

# --- hosts ------------------------------------------------------------------------
# role|MAC|IEEE registry organisation (oui.csv, verbatim)|address|registered
#   (asset class, or "no")|asset name|what it does
# Address "dhcp:IP": leased from dnsmasq (pinned to IP with --dhcp-host).
readonly HOSTS=(
  "ct|00:18:65:14:01:21|Siemens Healthcare Diagnostics Manufacturing Ltd|$NET.1.21|ct_scanner|CT scanner CT01|dcmtk findscu -W (AE CT01): worklist query to ris; dcmtk storescu (AE CT01): 3 CT images to pacs; extra-peer: 1 to pacs2; violations: 1 to rogue"
  "rogue|dc:a6:32:14:01:66|Raspberry Pi Trading Ltd|$NET.1.66|no||UNREGISTERED box in the modality subnet: dcmtk storescp (AE ROGUE, port 104); violations: accepts 1 CT image from ct"
  "dhcp|f4:bd:9e:14:02:01|Cisco Systems, Inc|$NET.2.1|dhcp_server|DHCP server|dnsmasq: DHCP server (DNS off), pool $NET.3.100-199, leases $NET.3.41 to pump"
  "pacs|98:e7:43:14:02:10|Dell Inc.|$NET.2.10|pacs|PACS archive|dcmtk dcmqrscp (AE PACS, port 104): stores ct's 3 CT images"
  "pacs2|9c:b6:54:14:02:11|Hewlett Packard|$NET.2.11|pacs|Second PACS archive|dcmtk storescp (AE PACS2, port 104); extra-peer: accepts 1 CT image from ct (silent in the others)"
  "ris|9c:7b:ef:14:02:12|Hewlett Packard|$NET.2.12|modality_worklist|RIS worklist server|dcmtk wlmscpfs (AE RIS, port 104): modality worklist SCP, answers ct's C-FIND with 1 entry"
  "hl7srv|00:50:56:14:02:13|VMware, Inc.|$NET.2.13|interface_engine|HL7 interface engine|scripts/mllp_listener.py (python-hl7 MLLP server, port 2575, application HIS_ENGINE): ACKs (AA) the pump's 2 ORU^R01"
  "broker|0c:c4:7a:14:02:14|Super Micro Computer, Inc.|$NET.2.14|mqtt_broker|ICU MQTT broker|mosquitto (port 1883, allow_anonymous false, password_file, acl_file): takes mon1's and mon2's PUBLISHes; violations: refuses laptop's 5 wrong passwords, accepts its login as mon1's user and its subscription to #"
  "pump|00:12:21:14:03:41|B.Braun Melsungen AG|dhcp:$NET.3.41|infusion_pump|ICU bed 1 infusion pump|busybox udhcpc: lease $NET.3.41 from dhcp; python-hl7 MLLP client (scripts/mllp_client.py): 2 ORU^R01 (MSH-3 PUMP_APP, MSH-5 HIS_ENGINE) to hl7srv; violations: dropbear SSH server on 22, lets vendor log in with a key (as root) and run sleep 3"
  "mon1|00:09:fb:14:03:51|Philips Patient Monitoring|$NET.3.51|patient_monitor|ICU bed 1 monitor|mosquitto_pub (client id intellivue-bed1, user mon_bed1): 2 QoS 1 messages to icu/bed1/vitals"
  "mon2|00:0f:14:14:03:52|Mindray Co., Ltd.|$NET.3.52|patient_monitor|ICU bed 2 monitor|mosquitto_pub (client id mindray-bed2, user mon_bed2): 2 QoS 1 messages to icu/bed2/vitals"
  "laptop|10:c5:95:14:04:77|Lenovo|$NET.4.77|no||UNREGISTERED office laptop; violations: mosquitto_pub as mon_bed1 with 5 wrong passwords (all refused), mosquitto_sub as mon_bed1 with the right password to # for 3 s, then adds $NET.3.41 (the pump's) and sends 3 gratuitous ARP requests for it (arping -U)"
  "vendor|54:bf:64:14:09:05|Dell Inc.|$NET.9.5|no||UNREGISTERED vendor remote-service host; violations: OpenSSH ssh with a key into pump:22 as root, runs sleep 3 (login succeeds)"
)
declare -a ROLES=()
declare -A MAC=() ORG=() IP=() REG=() ANAME=() WHAT=() DYN=()
for h in "${HOSTS[@]}"; do
  IFS='|' read -r role mac org addr reg aname what <<<"$h"
  ROLES+=("$role")
  MAC[$role]=$mac ORG[$role]=$org REG[$role]=$reg ANAME[$role]=$aname WHAT[$role]=$what
  case $addr in dhcp:*) DYN[$role]=1 IP[$role]=${addr#dhcp:} ;; *) DYN[$role]=0 IP[$role]=$addr ;; esac
done
readonly ROLES MAC ORG IP REG ANAME WHAT DYN

# Fixed client source ports (one per connection).
declare -A PORTS=(
  [ct_find]=40101 [ct_store]=40102 [ct_pacs2]=40103 [ct_rogue]=40104
  [pump_hl7]=40301 [mon1]=40501 [mon2]=40601
  [brute1]=40401 [brute2]=40402 [brute3]=40403 [brute4]=40404 [brute5]=40405 [laptop_sub]=40406
  [vendor_ssh]=40901
)
readonly PORTS
readonly AE_CT=CT01 AE_PACS=PACS AE_PACS2=PACS2 AE_RIS=RIS AE_ROGUE=ROGUE
readonly HL7_APP=PUMP_APP HL7_ENGINE=HIS_ENGINE
# MQTT accounts (mosquitto password file) and topics.
readonly MON1_ID=intellivue-bed1 MON1_USER=mon_bed1 MON1_PASS=Bed1-Vitals-2024 MON1_TOPIC=icu/bed1/vitals
readonly MON2_ID=mindray-bed2 MON2_USER=mon_bed2 MON2_PASS=Bed2-Vitals-2024 MON2_TOPIC=icu/bed2/vitals
# The laptop's guesses for mon_bed1's password, one connection each.
readonly BRUTE_PASS=(123456 password admin mon_bed1 philips)
readonly LAPTOP_SUB_ID=laptop-sub
readonly PUMP_HOSTNAME=bbraun-space-bed1 PUMP_VCLASS="B.Braun Space"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/capture.sh
. "$repo_root/scripts/lib/capture.sh"
capture_init mt-policy "$IF_HOST" "$BRIDGE"
outdir=$(capture_outdir "${1:-}" "$repo_root/tests/data/policy")

netns_require_root_tools tcpdump tshark python3 ip ss timeout unshare mount dnsmasq udhcpc findscu \
  storescu storescp dcmqrscp wlmscpfs dump2dcm mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd \
  ssh ssh-keygen dropbear dropbearkey arping dpkg-query
capture_require_hl7

# Traps, stale namespaces gone, $workdir made (capture_begin). Whatever
# happens, processes, capture and namespaces go (every process started here
# lives in one of this run's namespaces, and netns_teardown ends them by PID).
capture_begin medtap-policy
mkdir -p "$workdir/out"

# --- helpers ------------------------------------------------------------------------
# ns ROLE: ROLE's namespace in this run (the switch's is NS_SW).
ns() { netns_name "$1"; }

# wait_for FILE REGEX WHAT: bounded (T_TOOL) wait for a line matching REGEX.
wait_for() { capture_wait_line "$1" "$2" "$3" "$T_TOOL"; }

# cur: the capture being made (log file prefix).
cur=""

# bg ROLE NAME CMD...: a server in ROLE's namespace, in the background, output
# to $workdir/CUR.NAME.log. Ended at teardown (netns_teardown: every process
# in the run's namespaces, by PID).
bg() {
  local role=$1 name=$2
  shift 2
  printf '+ [%s %s] %s &\n' "$cur" "$role" "$*" >>"$workdir/commands.log"
  ip netns exec "$(ns "$role")" "$@" >"$workdir/$cur.$name.log" 2>&1 &
}

# client WANT_RC ROLE NAME PORT_KEY CMD...: a client in ROLE's namespace, its
# next connection from PORTS[PORT_KEY] ("-": no fixed port), bounded (T_TOOL),
# output to $workdir/CUR.NAME.log; dies, showing the log, unless it exits
# with WANT_RC ("any": whatever it exits with). Standard input is passed on.
# Sets LOGF to the log file.
client() {
  local want=$1 role=$2 name=$3 key=$4 rc=0
  shift 4
  LOGF=$workdir/$cur.$name.log
  [ "$key" = - ] || netns_src_port "$(ns "$role")" "${PORTS[$key]}"
  printf '+ [%s %s] %s\n' "$cur" "$role" "$*" >>"$workdir/commands.log"
  timeout "$T_TOOL" ip netns exec "$(ns "$role")" "$@" >"$LOGF" 2>&1 || rc=$?
  if [ "$want" != any ] && [ "$rc" -ne "$want" ]; then
    tail -n 30 "$LOGF" >&2
    die "$cur: $name: '$1' in $role exited with status $rc, expected $want"
  fi
}
run() { client 0 "$@"; }

# count PATTERN FILE: lines of FILE matching the extended regex PATTERN.
count() { grep -cE -- "$1" "$2" || true; }

# --- synthetic data (the same for every capture) -----------------------------------
# 3 CT images, 64 x 64 x 16 bit, one study, and 1 worklist entry for CT01
# (capture_dicom_studies, as in make-class-captures.sh; the same every run).
log "creating 3 CT images, 1 worklist entry, 2 HL7 messages, MQTT accounts, SSH keys"
capture_dicom_studies "$workdir" medtap-policy "$AE_RIS" "CT:$AE_CT"

# HL7 v2.6 ORU^R01 from the pump (MSH-3 PUMP_APP, MSH-5 HIS_ENGINE), every
# segment ended by CR; pump values with their MDC codes (IEEE 11073-10101).
hl7_msg() {  # hl7_msg N TIME RATE VOLUME
  printf '%s\r' \
    "MSH|^~\\&|$HL7_APP|ICU|$HL7_ENGINE|HOSPITAL|2024010510$2||ORU^R01^ORU_R01|PUMP-000$1|P|2.6|||AL|NE" \
    "PID|||TEST0003^^^HOSPITAL^MR||TEST^PATIENT^THREE||19700101|O" \
    "PV1||I|ICU^BED1" \
    "OBR|1|PUMP-000$1^$HL7_APP||69986^MDC_DEV_PUMP_INFUS_VMD^MDC|||2024010510$2" \
    "OBX|1|NM|157784^MDC_FLOW_FLUID_PUMP^MDC|1.1.1.1|$3|265266^MDC_DIM_MILLI_L_PER_HR^MDC|||||R|||2024010510$2" \
    "OBX|2|NM|157884^MDC_VOL_FLUID_TBI^MDC|1.1.1.2|$4|263762^MDC_DIM_MILLI_L^MDC|||||R|||2024010510$2"
}
hl7_msg 1 0000 12.5 250 >"$workdir/pump_oru_1.hl7"
hl7_msg 2 1500 12.5 247 >"$workdir/pump_oru_2.hl7"

# dcmqrscp: one RW archive AE that takes any peer.
mkdir -p "$workdir/qrdb"
capture_dcmqrscp_cfg "policy test archive" 104 "$AE_PACS" "$workdir/qrdb" >"$workdir/dcmqrscp.cfg"

# mosquitto: no anonymous clients, one account per monitor (password file
# made with mosquitto_passwd), an ACL: each monitor writes its own bed's
# topic and reads icu/#.
: >"$workdir/passwd"
chmod 0600 "$workdir/passwd"
mosquitto_passwd -b "$workdir/passwd" "$MON1_USER" "$MON1_PASS"
mosquitto_passwd -b "$workdir/passwd" "$MON2_USER" "$MON2_PASS"
cat >"$workdir/acl" <<EOF
user $MON1_USER
topic write $MON1_TOPIC
topic read icu/#

user $MON2_USER
topic write $MON2_TOPIC
topic read icu/#
EOF
mosquitto_conf() {  # mosquitto_conf LOG
  capture_mosquitto_conf "policy test broker" "${IP[broker]}" "$1" \
    "allow_anonymous false" "password_file $workdir/passwd" "acl_file $workdir/acl"
}

# udhcpc's event script: sets the leased address, appends "EVENT IP" to
# $MEDTAP_EVENTS.
capture_udhcpc_script "$workdir/udhcpc.script"

# SSH: the pump's host key (dropbear) and the vendor's login key (OpenSSH),
# both made here, removed with the work dir. The pump's dropbear finds the
# key in root's ~/.ssh/authorized_keys; it runs in a private mount namespace
# where /root is this work dir's pump-root (start_servers), so the machine's
# own /root is neither read nor written.
mkdir -p "$workdir/pump-root/.ssh" "$workdir/vendor-ssh"
chmod 0700 "$workdir/pump-root" "$workdir/pump-root/.ssh" "$workdir/vendor-ssh"
capture_dropbear_key "$workdir/pump_host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C vendor-remote-service -f "$workdir/vendor-ssh/id_ed25519" ||
  die "ssh-keygen failed"
install -m 0600 "$workdir/vendor-ssh/id_ed25519.pub" "$workdir/pump-root/.ssh/authorized_keys"

# --- network ------------------------------------------------------------------------
NS_SW=$(netns_name sw)
readonly NS_SW

# build_network: the switch namespace with its bridge, and every host on it
# (its MAC, IPv6 off, offloads off, link up; its static /16 address unless it
# leases one).
build_network() {
  local role
  netns_switch "$NS_SW" "$BRIDGE" 02:00:00:14:00:fe
  for role in "${ROLES[@]}"; do
    netns_bridge_host "$(ns "$role")" "${MAC[$role]}" "$NS_SW" "$BRIDGE" "$IF_HOST" "mtsw-$role"
    [ "${DYN[$role]}" = 1 ] || ip -n "$(ns "$role")" addr add "${IP[$role]}/$PLEN" dev "$IF_HOST"
  done
}

# start_servers EXTRA...: the servers every capture has (dnsmasq, dcmqrscp,
# wlmscpfs, the MLLP listener, mosquitto), then the EXTRA ones (pacs2,
# rogue, pump_ssh), each checked to be listening.
DCM_NET=(-ta "$T_NET" -td "$T_NET")
DCM_SCU=(-ta "$T_NET" -td "$T_NET" -to "$T_NET")
start_servers() {
  local extra
  bg dhcp dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --no-hosts --no-resolv \
    --interface="$IF_HOST" --bind-interfaces --no-ping --log-dhcp --log-facility="$workdir/$cur.dnsmasq.events" \
    --pid-file="$workdir/$cur.dnsmasq.pid" --dhcp-leasefile="$workdir/$cur.dnsmasq.leases" \
    --dhcp-range="$NET.3.100,$NET.3.199,255.255.0.0,1h" \
    --dhcp-host="${MAC[pump]},${IP[pump]}" \
    --dhcp-option=option:router --dhcp-option=option:domain-name,hospital.test
  netns_wait_listen "$(ns dhcp)" udp 67
  # Fork mode (dcmqrscp's default): dcmtk 3.6.7's dcmqrscp --single-process
  # segfaults after the first association is released (make-dicom-captures.sh).
  bg pacs dcmqrscp dcmqrscp --fork -v -c "$workdir/dcmqrscp.cfg" "${DCM_NET[@]}" -dhl 104
  netns_wait_listen "$(ns pacs)" tcp 104
  bg ris wlmscpfs wlmscpfs -v -dfp "$workdir/wlm" "${DCM_NET[@]}" -dhl 104
  netns_wait_listen "$(ns ris)" tcp 104
  bg hl7srv hl7srv "$PY_HL7" "$repo_root/scripts/mllp_listener.py" --host "${IP[hl7srv]}" --port 2575
  netns_wait_listen "$(ns hl7srv)" tcp 2575
  mosquitto_conf "$workdir/$cur.broker.events" >"$workdir/$cur.mosquitto.conf"
  bg broker broker mosquitto -c "$workdir/$cur.mosquitto.conf"
  netns_wait_listen "$(ns broker)" tcp 1883
  wait_for "$workdir/$cur.broker.events" "mosquitto version .* running" "broker"
  for extra in "$@"; do
    case $extra in
      pacs2 | rogue)
        local ae=$AE_PACS2
        [ "$extra" = rogue ] && ae=$AE_ROGUE
        mkdir -p "$workdir/$cur-$extra-in"
        bg "$extra" storescp storescp --single-process -v -aet "$ae" -od "$workdir/$cur-$extra-in" \
          "${DCM_NET[@]}" -dhl 104
        netns_wait_listen "$(ns "$extra")" tcp 104
        ;;
      pump_ssh)
        # dropbear in a private mount namespace whose /root is pump-root
        # (authorized_keys); -s: keys only, -j -k: no forwarding.
        # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
        bg pump dropbear unshare --mount --propagation private sh -c \
          'mount --bind "$1" /root && shift && exec "$@"' sh "$workdir/pump-root" \
          dropbear -F -E -s -j -k -p 22 -r "$workdir/pump_host_ed25519" -P "$workdir/$cur.dropbear.pid"
        netns_wait_listen "$(ns pump)" tcp 22
        ;;
      *) die "unknown server $extra" ;;
    esac
  done
}

# --- scenario steps -----------------------------------------------------------------
# B1: the pump's lease (udhcpc: foreground, fail if no lease, quit once bound
# and keep the address, DISCOVER every 2 s, at most 3).
step_dhcp() {
  : >"$workdir/$cur.pump.events"
  log "$cur: DHCP: pump udhcpc"
  run pump udhcpc - env MEDTAP_EVENTS="$workdir/$cur.pump.events" udhcpc -i "$IF_HOST" -f -n -q \
    -t 3 -T 2 -s "$workdir/udhcpc.script" -x "hostname:$PUMP_HOSTNAME" -V "$PUMP_VCLASS"
  grep -qx "bound ${IP[pump]}" "$workdir/$cur.pump.events" || die "$cur: pump is not bound to ${IP[pump]}"
}

# store ROLE_DST AE PORT_KEY FILE...: ct (AE CT01) stores FILEs on ROLE_DST.
store() {
  local dst=$1 ae=$2 key=$3
  shift 3
  log "$cur: DICOM: ct stores $# CT image(s) on $dst ($AE_CT -> $ae)"
  run ct "store-$dst" "$key" storescu -v "${DCM_SCU[@]}" -aet "$AE_CT" -aec "$ae" "${IP[$dst]}" 104 "$@"
  n=$(count "Received Store Response \(Success\)" "$LOGF")
  [ "$n" -eq "$#" ] || die "$cur: ct: $n of $# C-STOREs to $dst succeeded"
}

# B2: worklist query, then the 3 images to pacs.
step_dicom() {
  log "$cur: DICOM: ct queries the worklist on ris ($AE_CT -> $AE_RIS)"
  capture_worklist_keys CT "$AE_CT"
  run ct find ct_find findscu -v "${DCM_SCU[@]}" -W -aet "$AE_CT" -aec "$AE_RIS" \
    "${CAPTURE_WORKLIST_KEYS[@]}" "${IP[ris]}" 104
  capture_findscu_matches "$LOGF" 1 "$cur: ct's worklist query"
  store pacs "$AE_PACS" ct_store "$workdir"/img/ct{1,2,3}.dcm
}

# B3: the pump's 2 ORU^R01 over one MLLP connection, each ACKed AA.
step_hl7() {
  log "$cur: HL7: pump sends 2 ORU^R01 to hl7srv"
  run pump hl7 pump_hl7 "$PY_HL7" "$repo_root/scripts/mllp_client.py" "${IP[hl7srv]}" 2575 \
    "$workdir/pump_oru_1.hl7" "$workdir/pump_oru_2.hl7"
  n=$(grep -c ': MSA|AA|' "$LOGF" || true)
  [ "$n" -eq 2 ] || die "$cur: pump: $n of 2 messages ACKed AA"
}

# B4: each monitor, one connection (mosquitto_pub -l, one message a line),
# MQTT 3.1.1, QoS 1, its own account.
step_mqtt() {
  log "$cur: MQTT: mon1 and mon2 publish with their own accounts"
  printf '%s\n' '{"bed":"1","hr":72,"spo2":97,"synthetic":true}' '{"bed":"1","hr":74,"spo2":96,"synthetic":true}' |
    run mon1 mqtt mon1 mosquitto_pub -V mqttv311 -h "${IP[broker]}" -i "$MON1_ID" -u "$MON1_USER" \
      -P "$MON1_PASS" -k 60 -q 1 -t "$MON1_TOPIC" -l
  printf '%s\n' '{"bed":"2","hr":88,"spo2":95,"synthetic":true}' '{"bed":"2","hr":86,"spo2":95,"synthetic":true}' |
    run mon2 mqtt mon2 mosquitto_pub -V mqttv311 -h "${IP[broker]}" -i "$MON2_ID" -u "$MON2_USER" \
      -P "$MON2_PASS" -k 60 -q 1 -t "$MON2_TOPIC" -l
  n=$(count "Received PUBLISH from ($MON1_ID|$MON2_ID) " "$workdir/$cur.broker.events")
  [ "$n" -eq 4 ] || die "$cur: the broker got $n PUBLISHes, expected 4"
}

benign_steps() { step_dhcp; step_dicom; step_hl7; step_mqtt; }

# V2: the vendor's SSH login into the pump: key only, no agent, no config,
# no known_hosts written; the remote command keeps the session open 3 s.
step_ssh() {
  log "$cur: SSH: vendor logs into pump with a key and runs sleep 3"
  run vendor ssh vendor_ssh ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
    -o IdentityFile="$workdir/vendor-ssh/id_ed25519" -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no \
    -o GSSAPIAuthentication=no -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
    -o ConnectTimeout=10 -o LogLevel=ERROR "root@${IP[pump]}" 'sleep 3; echo session-ok'
  grep -qx session-ok "$LOGF" || die "$cur: the vendor's ssh session did not run its command"
}

# V3: 5 refused logins as mon1's user, then mon1's real password and `#`.
step_brute() {
  local i
  log "$cur: MQTT: laptop tries ${#BRUTE_PASS[@]} wrong passwords for $MON1_USER"
  for i in 1 2 3 4 5; do
    # mosquitto_pub exits 5 (the 3.1.1 CONNACK code) when refused.
    client 5 laptop "brute$i" "brute$i" mosquitto_pub -V mqttv311 -h "${IP[broker]}" -i "laptop-probe-$i" \
      -u "$MON1_USER" -P "${BRUTE_PASS[$((i - 1))]}" -q 1 -t "$MON1_TOPIC" -m '{}'
  done
  n=$(count "Sending CONNACK to ${IP[laptop]//./\\.} \\(0, 5\\)" "$workdir/$cur.broker.events")
  [ "$n" -eq 5 ] || die "$cur: the broker refused $n of the laptop's 5 logins"
  log "$cur: MQTT: laptop logs in as $MON1_USER (right password), subscribes to # for 3 s"
  # -W 3: mosquitto_sub gives up after 3 s (exit 27, MOSQ_ERR_TIMEOUT) and
  # closes the connection.
  client 27 laptop sub laptop_sub mosquitto_sub -V mqttv311 -h "${IP[broker]}" -i "$LAPTOP_SUB_ID" \
    -u "$MON1_USER" -P "$MON1_PASS" -k 60 -q 1 -t '#' -v -W 3
  wait_for "$workdir/$cur.broker.events" "Sending SUBACK to $LAPTOP_SUB_ID\$" "broker (laptop's subscription)"
}

# V4: the laptop takes the pump's address: adds it, then 3 unsolicited ARP
# requests (iputils arping -U: sender and target address the pump's, sender
# MAC the laptop's), one a second. (iputils arping 20221126: -U implies the
# target as source; -s names it explicitly. Its exit status is not used
# (iputils' rules for it changed between releases); its report is read.)
step_arp() {
  log "$cur: ARP: laptop claims ${IP[pump]} (arping -U x3)"
  ip -n "$(ns laptop)" addr add "${IP[pump]}/$PLEN" dev "$IF_HOST"
  client any laptop arping - arping -U -I "$IF_HOST" -s "${IP[pump]}" -c 3 "${IP[pump]}"
  grep -q "^Sent 3 probes" "$LOGF" || { cat "$LOGF" >&2; die "$cur: arping did not send 3 probes"; }
}

# --- check ----------------------------------------------------------------------------
# fields FILTER FIELD...: tshark -T fields, one line per frame, every occurrence.
fields() { capture_fields "$pcap" "$@"; }
# expect WHAT WANT GOT: dies unless GOT equals WANT.
expect() {
  [ "$3" = "$2" ] || die "$cur: capture check '$1': got '$3', expected '$2'"
}
nframes() { fields "$1" frame.number | wc -l; }
# dimse SRC DST: DIMSE commands from SRC to DST, "COMMAND AFFECTED-SOP-CLASS"
# each, counted.
dimse() { capture_dimse "$pcap" "$@"; }
# aes DST: "CALLING>CALLED" of every A-ASSOCIATE-RQ to DST (trailing spaces cut).
aes() {
  fields "dicom.pdu.type == 1 && ip.dst == $1" dicom.assoc.ae.calling dicom.assoc.ae.called |
    sed -E 's/ +\t/\t/; s/ +$//' | tr '\t' '>' | paste -sd '|'
}
readonly CT_SOP=1.2.840.10008.5.1.4.1.1.2 MWL_FIND=1.2.840.10008.5.1.4.31

# check_capture SENDERS...: the checks every capture gets (the benign part),
# with SENDERS the roles whose MACs must send frames (and no other MAC).
check_capture() {
  local role want got
  # Exactly these hosts sent frames.
  want=$(printf '%s\n' "$@" | while read -r role; do printf '%s\n' "${MAC[$role]}"; done | sort | paste -sd ' ')
  got=$(fields "" eth.src | sort -u | paste -sd ' ')
  expect "MACs that sent frames" "$want" "$got"
  # Resets only (see make-class-captures.sh: a reordered burst and its
  # retransmission are real TCP on a loaded machine).
  expect "TCP resets" 0 "$(nframes "tcp.flags.reset == 1")"
  # IPv4 and ARP only.
  expect "frames neither IPv4 nor ARP" 0 "$(nframes "!ip && !arp")"
  # DHCP: the pump's 4-message exchange, its host name and vendor class, the
  # pinned address.
  expect "DHCP message types" "1 2 3 5" \
    "$(fields "dhcp" dhcp.option.dhcp | paste -sd ' ')"
  expect "DHCP pump options 12/60" "$PUMP_HOSTNAME|$PUMP_VCLASS" \
    "$(fields "dhcp.option.dhcp == 1 && eth.src == ${MAC[pump]}" dhcp.option.hostname dhcp.option.vendor_class_id | tr '\t' '|')"
  expect "DHCPACK yiaddr" "${IP[pump]}" "$(fields "dhcp.option.dhcp == 5" dhcp.ip.your)"
  # DICOM.
  expect "DIMSE ct -> ris" "1x C-FIND-RQ $MWL_FIND" "$(dimse "${IP[ct]}" "${IP[ris]}")"
  expect "DIMSE ris -> ct" "2x C-FIND-RSP $MWL_FIND" "$(dimse "${IP[ris]}" "${IP[ct]}")"
  expect "DIMSE ct -> pacs" "3x C-STORE-RQ $CT_SOP" "$(dimse "${IP[ct]}" "${IP[pacs]}")"
  expect "DIMSE pacs -> ct" "3x C-STORE-RSP $CT_SOP" "$(dimse "${IP[pacs]}" "${IP[ct]}")"
  expect "A-ASSOCIATE-RQ to ris" "$AE_CT>$AE_RIS" "$(aes "${IP[ris]}")"
  expect "A-ASSOCIATE-RQ to pacs" "$AE_CT>$AE_PACS" "$(aes "${IP[pacs]}")"
  # HL7: sender, MSH-3, MSH-5, MSH-9, MSH-10 of the messages and ACKs.
  got=$(tshark -n -r "$pcap" -o tcp.reassemble_out_of_order:TRUE -Y hl7 -T fields -E separator=/t \
    -E occurrence=f -e ip.src -e hl7.segment 2>/dev/null |
    awk -F'\t' '{split($2, f, "|"); print $1, f[3], f[5], f[9], f[10]}' | paste -sd '|')
  expect "HL7 MSH-3/5/9/10" "$(printf '%s|' \
    "${IP[pump]} $HL7_APP $HL7_ENGINE ORU^R01^ORU_R01 PUMP-0001" \
    "${IP[hl7srv]} $HL7_ENGINE $HL7_APP ACK^R01^ACK PUMP-0001-ACK" \
    "${IP[pump]} $HL7_APP $HL7_ENGINE ORU^R01^ORU_R01 PUMP-0002" \
    "${IP[hl7srv]} $HL7_ENGINE $HL7_APP ACK^R01^ACK PUMP-0002-ACK" | sed 's/|$//')" "$got"
  for m in pump_oru_1 pump_oru_2; do
    python3 - "$pcap" "$workdir/$m.hl7" <<'PY' || die "$cur: capture check: $m.hl7 is not on the wire unchanged"
import sys
raw, msg = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
sys.exit(0 if raw.count(b"\x0b" + msg + b"\x1c\r") == 1 else 1)
PY
  done
  # MQTT from the monitors: client id, user name, topics, CONNACK 0, PUBACKs.
  for role in mon1 mon2; do
    local id=$MON1_ID user=$MON1_USER topic=$MON1_TOPIC
    [ "$role" = mon2 ] && id=$MON2_ID user=$MON2_USER topic=$MON2_TOPIC
    expect "MQTT CONNECT from $role" "$id $user" \
      "$(fields "mqtt.msgtype == 1 && ip.src == ${IP[$role]}" mqtt.clientid mqtt.username | tr '\t' ' ')"
    expect "MQTT CONNACK to $role" 0 "$(fields "mqtt.msgtype == 2 && ip.dst == ${IP[$role]}" mqtt.conack.val)"
    expect "MQTT PUBLISH from $role" "1 $topic|1 $topic" \
      "$(fields "mqtt.msgtype == 3 && ip.src == ${IP[$role]}" mqtt.qos mqtt.topic | tr '\t' ' ' | paste -sd '|')"
    expect "MQTT PUBACK to $role" 2 "$(nframes "mqtt.msgtype == 4 && ip.dst == ${IP[$role]}")"
  done
}

check_violations() {
  local got t0 t1
  # V1: one association CT01 -> ROGUE, one C-STORE.
  expect "A-ASSOCIATE-RQ to rogue" "$AE_CT>$AE_ROGUE" "$(aes "${IP[rogue]}")"
  expect "DIMSE ct -> rogue" "1x C-STORE-RQ $CT_SOP" "$(dimse "${IP[ct]}" "${IP[rogue]}")"
  expect "DIMSE rogue -> ct" "1x C-STORE-RSP $CT_SOP" "$(dimse "${IP[rogue]}" "${IP[ct]}")"
  # V2: both SSH identification strings, one TCP connection vendor -> pump:22
  # lasting over 3 s (first SYN to last frame).
  expect "SSH banners" "${IP[pump]} SSH-2.0-dropbear|${IP[vendor]} SSH-2.0-OpenSSH" \
    "$(fields "ssh.protocol" ip.src ssh.protocol | sed -E 's/\t(SSH-2\.0-[A-Za-z]+).*/ \1/' | sort | paste -sd '|')"
  expect "SSH connections" "${IP[vendor]}:${PORTS[vendor_ssh]}>${IP[pump]}:22" \
    "$(fields "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.port == 22" ip.src tcp.srcport ip.dst tcp.dstport |
      awk '{print $1 ":" $2 ">" $3 ":" $4}')"
  read -r t0 t1 < <(fields "tcp.port == 22" frame.time_epoch | awk 'NR == 1 {a = $1} {b = $1} END {print a, b}')
  SSH_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  awk -v d="$SSH_SECS" 'BEGIN {exit !(d >= 3)}' || die "$cur: the SSH session lasted $SSH_SECS s, expected >= 3"
  # V3: 6 CONNECTs from the laptop, all as mon1's user; 5 refused (3.1.1
  # return code 5, not authorised), the last accepted; its SUBSCRIBE to #.
  expect "MQTT CONNECTs from laptop" \
    "laptop-probe-1 $MON1_USER|laptop-probe-2 $MON1_USER|laptop-probe-3 $MON1_USER|laptop-probe-4 $MON1_USER|laptop-probe-5 $MON1_USER|$LAPTOP_SUB_ID $MON1_USER" \
    "$(fields "mqtt.msgtype == 1 && ip.src == ${IP[laptop]}" mqtt.clientid mqtt.username | tr '\t' ' ' | paste -sd '|')"
  expect "MQTT CONNACKs to laptop" "5 5 5 5 5 0" \
    "$(fields "mqtt.msgtype == 2 && ip.dst == ${IP[laptop]}" mqtt.conack.val | paste -sd ' ')"
  expect "MQTT SUBSCRIBE from laptop" "#" "$(fields "mqtt.msgtype == 8 && ip.src == ${IP[laptop]}" mqtt.topic)"
  SUBACK=$(fields "mqtt.msgtype == 9 && ip.dst == ${IP[laptop]}" mqtt.suback.qos)
  [ -n "$SUBACK" ] || die "$cur: no SUBACK to the laptop"
  expect "MQTT PUBLISH from laptop" 0 "$(nframes "mqtt.msgtype == 3 && ip.src == ${IP[laptop]}")"
  # V4: 3 gratuitous ARP requests from the laptop's MAC for the pump's address.
  expect "gratuitous ARP from laptop for the pump's address" 3 \
    "$(nframes "arp.opcode == 1 && eth.src == ${MAC[laptop]} && arp.src.hw_mac == ${MAC[laptop]} && arp.src.proto_ipv4 == ${IP[pump]} && arp.dst.proto_ipv4 == ${IP[pump]}")"
  # The pump's own ARP claims to its address (learnt by its peers before).
  got=$(nframes "eth.src == ${MAC[pump]} && arp.src.proto_ipv4 == ${IP[pump]}")
  [ "$got" -ge 1 ] || die "$cur: the pump never announced ${IP[pump]} over ARP"
}

check_extra_peer() {
  expect "A-ASSOCIATE-RQ to pacs2" "$AE_CT>$AE_PACS2" "$(aes "${IP[pacs2]}")"
  expect "DIMSE ct -> pacs2" "1x C-STORE-RQ $CT_SOP" "$(dimse "${IP[ct]}" "${IP[pacs2]}")"
  expect "DIMSE pacs2 -> ct" "1x C-STORE-RSP $CT_SOP" "$(dimse "${IP[pacs2]}" "${IP[ct]}")"
}

# --- the captures ---------------------------------------------------------------------
readonly BENIGN_SENDERS=(dhcp pacs ris hl7srv broker ct pump mon1 mon2)
SSH_SECS="" SUBACK=""

# make_capture CAPTURE: a fresh network, the capture's servers, its steps, its checks;
# the checked capture is left in $workdir/out, the network removed.
make_capture() {
  cur=$1
  pcap=$workdir/$cur.pcap
  log "$cur: building the network (${#ROLES[@]} hosts)"
  build_network
  case $cur in
    benign) start_servers ;;
    extra-peer) start_servers pacs2 ;;
    violations) start_servers rogue pump_ssh ;;
  esac
  netns_capture_start "$NS_SW" "$BRIDGE" "$pcap"
  benign_steps
  case $cur in
    extra-peer) store pacs2 "$AE_PACS2" ct_pacs2 "$workdir/img/ct1.dcm" ;;
    violations)
      store rogue "$AE_ROGUE" ct_rogue "$workdir/img/ct1.dcm"
      step_ssh
      step_brute
      step_arp
      ;;
  esac
  log "$cur: waiting for every TCP connection to close, then stopping the capture"
  netns_capture_stop "$pcap"
  log "$cur: checking the capture with tshark"
  case $cur in
    benign) check_capture "${BENIGN_SENDERS[@]}" ;;
    extra-peer) check_capture "${BENIGN_SENDERS[@]}" pacs2 && check_extra_peer ;;
    violations) check_capture "${BENIGN_SENDERS[@]}" rogue vendor laptop && check_violations ;;
  esac
  FRAMES[$cur]=$(nframes "")
  cp "$pcap" "$workdir/out/$cur.pcap"
  netns_teardown
}
declare -A FRAMES=()
make_capture benign
make_capture extra-peer
make_capture violations

# --- output ---------------------------------------------------------------------------
# assets.toml: the registered hosts (medtap's asset list, src/device/assets.rs).
{
  cat <<EOF
# The asset list of the policy test network (tests/data/policy/*.pcap):
# every REGISTERED host, by MAC and IP, with its class (ids from
# \`medtap rules classes\`). Generated by scripts/make-policy-captures.sh.
#
# Not listed, on purpose (they must show up as new, unregistered devices):
EOF
  for role in "${ROLES[@]}"; do
    [ "${REG[$role]}" = no ] || continue
    printf '#   %-7s %s  %s\n' "$role" "${MAC[$role]}" "${IP[$role]}"
  done
  for role in "${ROLES[@]}"; do
    [ "${REG[$role]}" = no ] && continue
    dept=Radiology
    case $role in pump | mon1 | mon2) dept=ICU ;; dhcp | hl7srv | broker) dept=IT ;; esac
    printf '\n[[device]]\nmac = "%s"\nip = "%s"\nname = "%s"\nclass = "%s"\ndepartment = "%s"\n' \
      "${MAC[$role]}" "${IP[$role]}" "${ANAME[$role]}" "${REG[$role]}" "$dept"
    [ "${DYN[$role]}" = 1 ] && printf 'notes = "address leased by DHCP (dnsmasq pins it to this MAC)"\n'
  done
} >"$workdir/out/assets.toml"

{
  printf 'role\tmac\tip\tregistered\twhat_it_did\n'
  for role in "${ROLES[@]}"; do
    r=yes
    [ "${REG[$role]}" = no ] && r=no
    printf '%s\t%s\t%s\t%s\t%s\n' "$role" "${MAC[$role]}" "${IP[$role]}" "$r" "${WHAT[$role]}"
  done
} >"$workdir/out/hosts.tsv"

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
{
  cat <<EOF
# Policy/alert engine test captures (a hospital LAN, real traffic)

Three captures of one small hospital network, for testing medtap's policy and
alert engine: \`benign.pcap\` (normal operation, nothing to alert on),
\`violations.pcap\` (the same, then a series of policy violations and
attacks) and \`extra-peer.pcap\` (the same as benign, plus exactly one new
DICOM peer: for learning a baseline on benign.pcap and then detecting the
new peer). \`assets.toml\` is the asset list of the registered hosts
(\`medtap analyze FILE --assets assets.toml\`); \`hosts.tsv\` the host table.

**Synthetic test traffic, no patient data.** Patients are
\`TEST^PATIENT^ONE\` (the CT study) and \`TEST^PATIENT^THREE\` (the pump's
messages); images, pump values and vital signs are made up. The MACs carry
real IEEE OUIs of the vendors named below with made-up NIC parts; no real
device is involved. Passwords and keys were made for the test.

## How it was made

- Script: \`scripts/make-policy-captures.sh tests/data/policy\` (root,
  Debian 12, about $(( $(date +%s) - start_s )) s for all three). For each capture a fresh
  network: a "switch" namespace holds a Linux bridge (STP and multicast
  snooping off, no address, no uplink); each host is a namespace of its own
  on a veth pair to the bridge (MTU 1500, checksum offload/TSO/GSO/GRO off on
  both ends, IPv6 off, no link-local address). tcpdump captures on the
  bridge in promiscuous mode (full snaplen), so each capture holds every
  frame of every host, ARP included (neighbour caches start empty). No packet
  leaves the machine. Every client connection uses a fixed source port; each
  step waits for the one before to finish, and the capture stops only once
  every TCP connection has closed. The script checks each capture with
  tshark before keeping it (see the end of this file).
- Software: dcmtk $(ver dcmtk); python-hl7 (Debian python3-hl7 $(ver python3-hl7)) with
  \`scripts/mllp_client.py\` / \`scripts/mllp_listener.py\`; mosquitto and
  mosquitto-clients $(ver mosquitto); dnsmasq (dnsmasq-base $(ver dnsmasq-base)); busybox
  udhcpc ($(ver udhcpc)); OpenSSH client $(ver openssh-client); dropbear $(ver dropbear-bin);
  iputils arping $(ver iputils-arping); tcpdump $(ver tcpdump); TShark $(ver tshark).
  Made $(date -u +%Y-%m-%d).
- Wire: Ethernet (DLT_EN10MB) pcap, IPv4 and ARP only, real wire-size
  segments (at most 1514 bytes) with valid checksums.
- The captures were made one after the other in the order benign,
  extra-peer, violations, each a few seconds long, so their timestamps
  follow each other (a baseline learnt on benign.pcap ends before
  extra-peer.pcap starts).
- Varies between runs: timestamps, TCP sequence numbers, DHCP xids, SSH key
  material, and the number and position of ARP frames. Tests should read
  tshark's view (or medtap's) rather than hard-code frame numbers or counts of
  ARP frames.

## Network and hosts

One L2 segment, every host a /16 in $NET.0.0/16, no router; the third octet
is the "subnet": $NET.1.x modalities, $NET.2.x servers, $NET.3.x bedside,
$NET.4.x offices, $NET.9.x the vendor's remote-service host. The pump's
address is leased from dnsmasq (pinned to its MAC with \`--dhcp-host\`; the
dynamic pool is $NET.3.100-199, no router option); all others are static.
"Registered" hosts are in \`assets.toml\` with the class shown; the others
are not (rogue, laptop and vendor must show up as new devices). pacs2 is
registered but only talks in extra-peer.pcap; rogue, laptop and vendor only
talk in violations.pcap. The registry organisation is the IEEE MA-L entry
of the MAC's first three bytes in \`/usr/share/ieee-data/oui.csv\`.

| role | MAC | organisation | address | registered (class) | what it did |
| --- | --- | --- | --- | --- | --- |
EOF
  for role in "${ROLES[@]}"; do
    a=${IP[$role]}
    [ "${DYN[$role]}" = 1 ] && a="$a (DHCP)"
    r="no"
    [ "${REG[$role]}" = no ] || r="yes (${REG[$role]})"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$role" "${MAC[$role]}" "${ORG[$role]}" "$a" "$r" "${WHAT[$role]}"
  done
  cat <<EOF

Names used on the wire:

- DICOM AE titles (all on port 104): ct \`$AE_CT\`, pacs \`$AE_PACS\`
  (dcmqrscp), ris \`$AE_RIS\` (wlmscpfs), pacs2 \`$AE_PACS2\` (storescp),
  rogue \`$AE_ROGUE\` (storescp).
- HL7 (MLLP, hl7srv:2575): pump MSH-3 \`$HL7_APP\`, MSH-4 \`ICU\`, MSH-5
  \`$HL7_ENGINE\`, MSH-6 \`HOSPITAL\`, ORU^R01^ORU_R01, HL7 2.6, control IDs
  PUMP-0001 and PUMP-0002; the ACKs (python-hl7, AA) swap sender and
  receiver and carry control IDs PUMP-0001-ACK / PUMP-0002-ACK.
- MQTT 3.1.1 (broker:1883, allow_anonymous false, password_file made with
  mosquitto_passwd, acl_file: each monitor user may write its own topic and
  read icu/#; mosquitto $(ver mosquitto) grants a subscription to \`#\` all the
  same, and would deliver only what the ACL lets the user read):

  | client | client id | user | password | topic |
  | --- | --- | --- | --- | --- |
  | mon1 | \`$MON1_ID\` | \`$MON1_USER\` | \`$MON1_PASS\` | \`$MON1_TOPIC\` (write) |
  | mon2 | \`$MON2_ID\` | \`$MON2_USER\` | \`$MON2_PASS\` | \`$MON2_TOPIC\` (write) |
  | laptop (refused x5) | \`laptop-probe-1\` .. \`-5\` | \`$MON1_USER\` | \`${BRUTE_PASS[*]}\` (one each) | \`$MON1_TOPIC\` (never sent) |
  | laptop (accepted) | \`$LAPTOP_SUB_ID\` | \`$MON1_USER\` | \`$MON1_PASS\` | SUBSCRIBE \`#\` QoS 1 (SUBACK granted QoS: $SUBACK) |

- DHCP: the pump's udhcpc sends host name (option 12)
  \`$PUMP_HOSTNAME\` and vendor class (option 60) \`$PUMP_VCLASS\`.
- SSH: vendor (OpenSSH, ed25519 key made for the run) logs into the pump's
  dropbear (ed25519 host key made for the run, public-key logins only) as
  \`root\` and runs \`sleep 3; echo session-ok\`.

## What happens, in order

Client source ports: ct ${PORTS[ct_find]} (worklist), ${PORTS[ct_store]} (pacs), ${PORTS[ct_pacs2]} (pacs2),
${PORTS[ct_rogue]} (rogue); pump ${PORTS[pump_hl7]} (HL7), 68 (DHCP); mon1 ${PORTS[mon1]}; mon2 ${PORTS[mon2]};
laptop ${PORTS[brute1]}-${PORTS[brute5]} (refused logins), ${PORTS[laptop_sub]} (subscription); vendor ${PORTS[vendor_ssh]} (SSH).

All three captures begin with the benign part:

1. DHCP: the pump's busybox udhcpc (\`-x hostname:$PUMP_HOSTNAME -V
   "$PUMP_VCLASS"\`): DISCOVER, OFFER, REQUEST, ACK of ${IP[pump]}/16 from dnsmasq
   on dhcp (${IP[dhcp]}); the lease is kept.
2. DICOM: ct runs \`findscu -W\` (Modality Worklist Information Model -
   FIND, 1.2.840.10008.5.1.4.31) against ris: 1 match. Then \`storescu\`
   (its default proposal of over 100 presentation contexts) sends 3 CT Image
   Storage (1.2.840.10008.5.1.4.1.1.2) instances to pacs in one association.
3. HL7: the pump sends 2 ORU^R01 over one MLLP connection to hl7srv, each
   answered ACK AA.
4. MQTT: mon1 and mon2, one connection each (\`mosquitto_pub -l -q 1\`), log
   in with their own accounts (CONNACK 0) and publish 2 QoS 1 messages each
   to their own topic (PUBACKed); then DISCONNECT.

Nothing else is in \`benign.pcap\` (plus the ARP the hosts need).

\`extra-peer.pcap\`, after the benign part:

5. ct \`storescu -aec $AE_PACS2\` sends 1 CT image (the first of the 3) to
   pacs2 (${IP[pacs2]}): a DICOM peer ct never talked to in benign.pcap.

\`violations.pcap\`, after the benign part:

5. (a) ct \`storescu -aec $AE_ROGUE\` sends 1 CT image (the first of the 3)
   to rogue (${IP[rogue]}, unregistered, in the modality subnet); rogue's
   storescp accepts it.
6. (b) vendor (${IP[vendor]}) \`ssh root@${IP[pump]} 'sleep 3; echo session-ok'\` with
   its key: key exchange, public-key login accepted, the command runs, the
   session closes; the TCP connection lasted $SSH_SECS s (first SYN to last
   frame in this capture).
7. (c) laptop (${IP[laptop]}, unregistered): 5 \`mosquitto_pub\` connections as
   \`$MON1_USER\` with wrong passwords, each refused by the broker (CONNACK
   return code 5, not authorised; the broker closes the connection); then
   \`mosquitto_sub -u $MON1_USER -P <mon1's password> -t '#' -W 3\`: logged in
   (CONNACK 0), subscribed to \`#\`, receives nothing (no one publishes),
   gives up after 3 s and closes the connection (no DISCONNECT packet).
8. (e) laptop adds ${IP[pump]} (the pump's address) to its interface and
   runs \`arping -U -I mtpo0 -s ${IP[pump]} -c 3 ${IP[pump]}\` (iputils arping, the
   one Debian 12 ships: -U = unsolicited ARP): 3 broadcast ARP requests, one a
   second, with sender and target IP ${IP[pump]} and sender MAC
   ${MAC[laptop]}. The pump's earlier ARP traffic ties ${IP[pump]} to
   ${MAC[pump]}.

## Alerts the scenario is meant to cause

benign.pcap: none (every host is registered, every conversation is the
expected one). extra-peer.pcap, with a baseline learnt on benign.pcap:
exactly one new conversation/peer, ct (\`$AE_CT\`) -> pacs2 (\`$AE_PACS2\`),
DICOM C-STORE; pacs2 is a registered PACS, so no new device. violations.pcap:

| alert | what in the capture |
| --- | --- |
| POLICY_VIOLATION | ct (${IP[ct]}, \`$AE_CT\`) -> rogue (${IP[rogue]}, \`$AE_ROGUE\`): DICOM association and C-STORE of a CT image to an unregistered destination |
| REMOTE_ACCESS | vendor (${IP[vendor]}) -> pump (${IP[pump]}):22, SSH (OpenSSH -> dropbear), a successful login, session about $SSH_SECS s |
| PROTOCOL_ANOMALY (brute force) | laptop: 5 MQTT CONNECTs refused (CONNACK 5) from one client address within seconds |
| PROTOCOL_ANOMALY (credential reuse) | laptop logs in as \`$MON1_USER\`, the user name of mon1 (${IP[mon1]}), from another device |
| PROTOCOL_ANOMALY (wildcard subscription) | laptop, unregistered, subscribes to \`#\` |
| NEW_DEVICE | laptop ${MAC[laptop]}, rogue ${MAC[rogue]}, vendor ${MAC[vendor]}: not in assets.toml |
| IP_MAC_CONFLICT | ${IP[pump]} claimed by ${MAC[pump]} (DHCP, ARP, HL7, SSH) and then by ${MAC[laptop]} (3 gratuitous ARP requests) |

## Checks made by the script (tshark)

Every capture: exactly the expected hosts sent frames (benign: dhcp, pacs,
ris, hl7srv, broker, ct, pump, mon1, mon2; extra-peer: those and pacs2;
violations: those and rogue, vendor, laptop); no TCP reset; IPv4 and ARP
only; DHCP DISCOVER/OFFER/REQUEST/ACK with the pump's options 12/60 and
yiaddr ${IP[pump]}; DIMSE command and affected SOP class per direction (ct->ris 1
C-FIND-RQ worklist, ris->ct 2 C-FIND-RSP, ct->pacs 3 C-STORE-RQ CT, pacs->ct
3 C-STORE-RSP) and the calling/called AE titles of each A-ASSOCIATE-RQ; HL7
sender, MSH-3, MSH-5, MSH-9, MSH-10 of the 2 messages and 2 ACKs and both
message files on the wire byte for byte; MQTT client id and user name of
mon1's and mon2's CONNECTs, CONNACK 0, 2 QoS 1 PUBLISHes to their topic and
2 PUBACKs each. extra-peer: A-ASSOCIATE-RQ $AE_CT>$AE_PACS2, 1 C-STORE-RQ/RSP.
violations: A-ASSOCIATE-RQ $AE_CT>$AE_ROGUE, 1 C-STORE-RQ/RSP; the OpenSSH and
dropbear identification strings, one TCP connection vendor:${PORTS[vendor_ssh]} -> pump:22 lasting
at least 3 s; the laptop's 6 CONNECTs (client ids, user \`$MON1_USER\`),
CONNACK codes 5 5 5 5 5 0, a SUBSCRIBE to \`#\`, a SUBACK, no PUBLISH from the
laptop; 3 gratuitous ARP requests from the laptop's MAC for ${IP[pump]}; the
pump's own ARP for ${IP[pump]}.

Frames: benign.pcap ${FRAMES[benign]}, extra-peer.pcap ${FRAMES[extra-peer]}, violations.pcap ${FRAMES[violations]}.
EOF
} >"$workdir/out/README.md"

# Everything is made and checked: replace the outputs.
mkdir -p "$outdir"
for f in benign.pcap extra-peer.pcap violations.pcap assets.toml hosts.tsv README.md; do
  netns_install_output "$workdir/out/$f" "$outdir/$f"
done
log "wrote $outdir: benign.pcap (${FRAMES[benign]} frames), extra-peer.pcap (${FRAMES[extra-peer]}), violations.pcap (${FRAMES[violations]}), assets.toml, hosts.tsv, README.md in $(( $(date +%s) - start_s )) s"
