#!/usr/bin/env bash
# Makes medtap's MQTT test captures (tests/data/mqtt/*.pcap) from REAL MQTT
# traffic: Eclipse Mosquitto's mosquitto_pub / mosquitto_sub talk to a
# mosquitto broker (its own config file, started inside the server namespace;
# a system mosquitto service, if any, is neither used nor touched), and
# tcpdump records it. Next to every capture it writes the tshark ground truth
# <name>.pcap.tshark.tsv (same columns as shared/corpus/public/mqtt/*.tshark.tsv,
# by scripts/lib/mqtt_tsv.py).
#
# Usage (as root, Debian 12):   scripts/make-mqtt-captures.sh [OUTDIR]
#         (any user, tshark):   scripts/make-mqtt-captures.sh --tsv-only [OUTDIR]
# Default OUTDIR: tests/data/mqtt relative to the repository root.
# --tsv-only regenerates only the .tshark.tsv files from the .pcap files there.
#
# Two private network namespaces are joined by a veth pair (MTU 1500, TSO/GSO
# and checksum offload off, so the capture holds real wire-size segments).
# Every packet stays on that wire; nothing leaves the machine.
#
#   mt-mqtt-<pid>-cli  mtmqtt0  02:00:00:80:00:01  10.80.0.1/24  MQTT clients (mosquitto_pub/_sub)
#   mt-mqtt-<pid>-srv  mtmqtt1  02:00:00:80:00:02  10.80.0.2/24  mosquitto broker, tcpdump
# (<pid>: this run's; see scripts/lib/netns.sh)
#
# IPv6 is off and the neighbours are static, so the captures hold TCP only.
# Every client connection gets a fixed source port (ip_local_port_range of the
# client namespace is narrowed to one port just before it) and a fixed client
# ID, and each client starts only once the one before it is done (or, for a
# subscriber, once the broker has logged its SUBACK), so the conversations are
# the same on every run; sequence numbers, timestamps and the interleaving of
# the broker's deliveries with the next client's handshake are not.
#
# One capture per scenario (broker 10.80.0.2:1883 unless said otherwise;
# client source ports in brackets):
#   v31.pcap / v311.pcap / v5.pcap: the same session with -V mqttv31 /
#       mqttv311 / mqttv5 (client IDs end in -v31 / -v311 / -v5; ports 421xx /
#       422xx / 423xx):
#       [xx01] subscriber medtap-sub-*: user medtap-nurse + password, keep-alive
#              30, SUBSCRIBE ward3/bed12/# QoS 2, stays until it has 5 messages
#       [xx02] medtap-will-*: keep-alive 10, will ward3/bed12/status QoS 1
#              "offline"; SUBSCRIBE ward3/bed12/cmd; then killed (SIGKILL), so
#              the broker publishes its will (no DISCONNECT from it)
#       [xx03] medtap-pub-*: PUBLISH ward3/bed12/hr QoS 0
#       [xx04] medtap-pub-*: PUBLISH ward3/bed12/spo2 QoS 1
#       [xx05] medtap-pub-*: PUBLISH ward3/bed12/alarm QoS 2
#       [xx06] medtap-pub-*: PUBLISH ward3/bed12/nibp QoS 1 RETAIN
#       [xx07] medtap-late-*: SUBSCRIBE ward3/bed12/nibp QoS 1 after the fact:
#              gets the retained message (RETAIN=1), then disconnects
#       The subscriber gets hr, spo2, alarm, nibp and the will.
#       v5 only: CONNECT properties session expiry 3600 (-x), receive maximum,
#       user property; PUBLISH properties user property, message expiry 60,
#       content type, payload format indicator; will properties content type
#       and message expiry.
#   wildcard.pcap (3.1.1): [42401] medtap-sub-wild SUBSCRIBEs to #, $SYS/# and
#       ward3/+/spo2 (one SUBSCRIBE, three filters) and gets the broker's
#       retained $SYS topics (at least $SYS/broker/version and
#       $SYS/broker/uptime; how many more depends on the mosquitto build);
#       [42402] medtap-pub-wild PUBLISHes QoS 1 to $SYS/fake (mosquitto
#       answers PUBACK but drops it: "Denied PUBLISH"), [42403] then QoS 1 to
#       ward3/bed7/spo2 (matches # and ward3/+/spo2); the subscriber leaves
#       once it has that message.
#   large_payload.pcap (3.1.1): [42501] subscriber, [42502] one PUBLISH QoS 1
#       to ward3/bed12/waveform with a 300 KiB (307200 byte) synthetic
#       payload, delivered to the subscriber too (many TCP segments each way).
#   auth.pcap: broker with allow_anonymous false and a password_file (made
#       with mosquitto_passwd): [42601] one good login (3.1.1, medtap-nurse) +
#       PUBLISH QoS 1; then wrong passwords, each its own connection, all
#       within about a second: [42602-42607] 6 x 3.1.1 (the 6th with the
#       unknown user "admin"), [42608-42609] 2 x 3.1, [42610-42611] 2 x 5.0
#       (the 2nd with "admin"). mosquitto 2.0.11 answers every one with
#       CONNACK 5 "not authorized" (3.1/3.1.1) or reason 0x87 (135) "Not
#       authorized" (5.0), never 4 / 0x86.
#   unusual_port.pcap (3.1.1): broker on 10.80.0.2:18830; [42701] subscriber,
#       [42702] PUBLISH QoS 1 ward3/bed12/spo2.
#   phi.pcap (3.1.1): [42801] subscriber on ward3/bed12/note, [42802] PUBLISH
#       QoS 1 whose payload holds the marker ZZPHIMARKER-MEDTAP-42 and the
#       phantom patient ZZPHANTOM^MEDTAPTEST (twice on the wire: to the broker
#       and to the subscriber). medtap must never store it.
#
# All payloads are synthetic (impossible vital sign values); no patient data.
#
# Idempotent: stale namespaces from an earlier (failed) run are removed first;
# everything is torn down again on exit, also on failure. Each output file is
# replaced only once its new version is complete.
#
# Needs: mosquitto, mosquitto-clients, tcpdump, tshark, python3, iproute2
# (scripts/install-deps.sh). The namespace, capture and teardown helpers are
# in scripts/lib/netns.sh, the run's setup in scripts/lib/capture.sh.
set -euo pipefail

readonly IF_CLI=mtmqtt0 IF_SRV=mtmqtt1
readonly IP_CLI=10.80.0.1 IP_SRV=10.80.0.2
readonly MAC_CLI=02:00:00:80:00:01 MAC_SRV=02:00:00:80:00:02
readonly PORT_STD=1883 PORT_ODD=18830
readonly USER=medtap-nurse PASS=phantom-pass-42
readonly PHI_MARKER=ZZPHIMARKER-MEDTAP-42
# Timeout (seconds) for each client run.
readonly T_TOOL=30

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/capture.sh
. "$repo_root/scripts/lib/capture.sh"
capture_init mt-mqtt "$IF_CLI" "$IF_SRV"
NS_CLI=$(netns_name cli)
NS_SRV=$(netns_name srv)
readonly NS_CLI NS_SRV
# shellcheck source=scripts/lib/truth.sh
. "$repo_root/scripts/lib/truth.sh"
tsv_only=0
if [ "${1:-}" = "--tsv-only" ]; then tsv_only=1; shift; fi
outdir=$(capture_outdir "${1:-}" "$repo_root/tests/data/mqtt")

# Broker port of a capture (decides tshark's -d option).
capture_port() { odd_or_standard_port "$1"; }

# write_tsv PCAP PORT: writes PCAP.tshark.tsv (atomically).
write_tsv() { write_tsv_from "$repo_root/scripts/lib/mqtt_tsv.py" "$1" "$2"; }

if [ "$tsv_only" -eq 1 ]; then
  rewrite_all_tsv "$outdir"
  exit 0
fi

# --- capture mode ----------------------------------------------------------------
netns_require_root_tools tcpdump tshark python3 ip ss timeout mosquitto mosquitto_pub \
  mosquitto_sub mosquitto_passwd

broker_pid="" bg_pid="" sub_pid=""

cur=""  # the scenario being recorded (names its logs)

# start_broker NAME PORT open|auth: mosquitto with its own config (no
# persistence, everything logged) in the server namespace, once it listens
# and has logged that it runs. "auth": allow_anonymous false + password_file.
#
# sys_interval: mosquitto 2.0 publishes its periodic $SYS tree (uptime,
# clients, load, ...) on its first loop only if the monotonic clock (time
# since boot) exceeds sys_interval; later every sys_interval seconds. With
# 3600, a machine booted less than an hour ago got only the static
# $SYS/broker/version (issue 8: "sys=1"). 10 s: the tree is there before
# the first client is served on any machine up for 10 s, and (for
# wildcard.pcap) republished at most once during a run of several seconds.
start_broker() {
  local name=$1 port=$2 mode=$3 conf=$workdir/$1.mosquitto.conf
  cat >"$conf" <<EOF
# medtap test broker (generated by scripts/make-mqtt-captures.sh)
# Stays root inside its private namespace so that it can write its log to
# the script's work dir (mosquitto warns about it).
user root
per_listener_settings false
listener $port $IP_SRV
persistence false
log_dest file $workdir/$name.broker.log
log_type all
connection_messages true
log_timestamp true
sys_interval 10
EOF
  if [ "$mode" = auth ]; then
    printf 'allow_anonymous false\npassword_file %s\n' "$workdir/passwd" >>"$conf"
  else
    printf 'allow_anonymous true\n' >>"$conf"
  fi
  ip netns exec "$NS_SRV" mosquitto -c "$conf" >"$workdir/$name.broker.out" 2>&1 &
  broker_pid=$!
  netns_wait_listen "$NS_SRV" tcp "$port"
  wait_broker_log "mosquitto version .* running"
}

# wait_sys_tree SRC_PORT: (before the capture) waits until the broker has
# published its periodic $SYS tree: a probe subscriber gets the retained
# $SYS/broker/uptime (bounded).
wait_sys_tree() {
  netns_src_port "$NS_CLI" "$1"
  timeout "$T_TOOL" ip netns exec "$NS_CLI" mosquitto_sub -V mqttv311 -h "$IP_SRV" -i medtap-sys-probe \
    -t "\$SYS/broker/uptime" -C 1 -W 10 >"$workdir/$cur.sys-probe.out" 2>&1 ||
    die "$cur: the broker published no \$SYS/broker/uptime within 10 s"
}

# wait_broker_log REGEX: bounded (10 s) wait for a line in the broker's log.
wait_broker_log() {
  local _
  for _ in $(seq 1 100); do
    grep -q -- "$1" "$workdir/$cur.broker.log" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$cur: the broker never logged '$1'"
}

# client RC SRC_PORT CMD...: one MQTT client in the client namespace, from
# SRC_PORT, bounded; it must exit with status RC. Output goes to the
# scenario's client log.
client() {
  local want=$1 sport=$2 rc=0
  shift 2
  netns_src_port "$NS_CLI" "$sport"
  printf '+ [%s] %s\n' "$sport" "$*" >>"$workdir/$cur.client.log"
  timeout "$T_TOOL" ip netns exec "$NS_CLI" "$@" >>"$workdir/$cur.client.log" 2>&1 || rc=$?
  [ "$rc" -eq "$want" ] || { cat "$workdir/$cur.client.log" >&2; die "$cur: '$1' from port $sport exited $rc, expected $want"; }
}

# subscriber VAR SRC_PORT CLIENT_ID CMD...: a mosquitto_sub in the background
# (PID in VAR: sub_pid or bg_pid), returns once the broker has sent its SUBACK.
subscriber() {
  local var=$1 sport=$2 id=$3
  shift 3
  netns_src_port "$NS_CLI" "$sport"
  printf '+ [%s] %s &\n' "$sport" "$*" >>"$workdir/$cur.client.log"
  ip netns exec "$NS_CLI" "$@" >"$workdir/$cur.$id.out" 2>&1 &
  printf -v "$var" '%s' "$!"
  wait_broker_log "Sending SUBACK to $id\$"
}

# wait_exit PID WHAT: bounded (T_TOOL) wait for a background client to finish.
wait_exit() {
  local pid=$1 _
  for _ in $(seq 1 $((T_TOOL * 10))); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  die "$cur: $2 still running after $T_TOOL s"
}

start_capture() { netns_capture_start "$NS_SRV" "$IF_SRV" "$workdir/$1.pcap"; }

declare -a made=()
finish() {  # finish: stops the capture and the broker, records the file
  netns_capture_stop "$workdir/$cur.pcap"
  stop_pid "$broker_pid"; broker_pid=""
  made+=("$cur.pcap")
  log "  $cur.pcap: $(stat -c %s "$workdir/$cur.pcap") bytes"
}

# --- setup ------------------------------------------------------------------
# Traps, stale namespaces gone, $workdir made (capture_begin). Whatever
# happens, these processes, the capture and the namespaces go (by PID).
capture_begin medtap-mqtt bg_pid sub_pid broker_pid

log "creating namespaces $NS_CLI <-> $NS_SRV"
netns_ipv4_pair "$NS_CLI" "$IF_CLI" "$MAC_CLI" "$IP_CLI" "$NS_SRV" "$IF_SRV" "$MAC_SRV" "$IP_SRV"

# Password file for auth.pcap (mosquitto_passwd hashes with a random salt).
: >"$workdir/passwd"
chmod 0600 "$workdir/passwd"
mosquitto_passwd -b "$workdir/passwd" "$USER" "$PASS"

# 300 KiB synthetic waveform text for large_payload.pcap.
python3 - "$workdir/waveform.txt" <<'PY'
import math, sys
out = ["MEDTAP SYNTHETIC ECG-LIKE WAVEFORM - NOT PATIENT DATA"]
i = 0
while sum(len(l) + 1 for l in out) < 307200:
    out.append("%06d,%+.4f" % (i, math.sin(i / 25.0)))
    i += 1
data = ("\n".join(out) + "\n").encode()[:307200]
open(sys.argv[1], "wb").write(data)
PY
[ "$(stat -c %s "$workdir/waveform.txt")" -eq 307200 ] || die "waveform payload has the wrong size"

# --- scenarios ------------------------------------------------------------------
# version_session TAG VERSION PORT_BASE: the v31/v311/v5 session described above.
version_session() {
  local tag=$1 ver=$2 base=$3
  local -a common=(-V "$ver" -h "$IP_SRV" -p "$PORT_STD")
  local -a sub_p=() pub_p=() will_p=()
  if [ "$ver" = mqttv5 ]; then
    sub_p=(-x 3600 -D connect receive-maximum 20 -D connect user-property site medtap-test-ward3)
    pub_p=(-D publish user-property unit percent -D publish message-expiry-interval 60
      -D publish content-type text/plain -D publish payload-format-indicator 1)
    will_p=(-D will content-type text/plain -D will message-expiry-interval 300)
  fi
  cur=$tag
  log "$tag.pcap: MQTT $ver session (QoS 0/1/2, retained, will, user+password)"
  start_broker "$tag" "$PORT_STD" open
  start_capture "$tag"
  subscriber sub_pid $((base + 1)) "medtap-sub-$tag" mosquitto_sub "${common[@]}" -i "medtap-sub-$tag" \
    -k 30 -u "$USER" -P "$PASS" "${sub_p[@]}" -q 2 -t 'ward3/bed12/#' -v -C 5 -W "$T_TOOL"
  subscriber bg_pid $((base + 2)) "medtap-will-$tag" mosquitto_sub "${common[@]}" -i "medtap-will-$tag" \
    -k 10 --will-topic ward3/bed12/status --will-payload "offline (synthetic will of medtap-will-$tag)" \
    --will-qos 1 "${will_p[@]}" -q 1 -t ward3/bed12/cmd
  client 0 $((base + 3)) mosquitto_pub "${common[@]}" -i "medtap-pub-$tag" -k 20 -q 0 \
    -t ward3/bed12/hr -m '999'
  client 0 $((base + 4)) mosquitto_pub "${common[@]}" -i "medtap-pub-$tag" -k 20 -q 1 "${pub_p[@]}" \
    -t ward3/bed12/spo2 -m '123'
  client 0 $((base + 5)) mosquitto_pub "${common[@]}" -i "medtap-pub-$tag" -k 20 -q 2 \
    -t ward3/bed12/alarm -m 'SPO2 HIGH 123 (synthetic test alarm)'
  client 0 $((base + 6)) mosquitto_pub "${common[@]}" -i "medtap-pub-$tag" -k 20 -q 1 -r \
    -t ward3/bed12/nibp -m '1/999'
  # Ungraceful end of medtap-will-*: the broker publishes its will.
  kill -KILL "$bg_pid"
  wait "$bg_pid" 2>/dev/null || true
  bg_pid=""
  wait_exit "$sub_pid" "medtap-sub-$tag (5 messages)"
  sub_pid=""
  client 0 $((base + 7)) mosquitto_sub "${common[@]}" -i "medtap-late-$tag" -k 20 -q 1 \
    -t ward3/bed12/nibp -v -C 1 -W 10
  finish
  grep -c "^ward3/bed12/" "$workdir/$tag.medtap-sub-$tag.out" | grep -qx 5 ||
    die "$tag: the subscriber did not print 5 messages"
}

version_session v31 mqttv31 42100
version_session v311 mqttv311 42200
version_session v5 mqttv5 42300

cur=wildcard
log "wildcard.pcap: SUBSCRIBE # + \$SYS/# + ward3/+/spo2, PUBLISH to \$SYS/fake"
start_broker wildcard "$PORT_STD" open
wait_sys_tree 42400
start_capture wildcard
# -T: the $SYS messages are not counted by -C, so the subscriber leaves once
# it has the one ward3 message, however many $SYS topics it got first.
subscriber sub_pid 42401 medtap-sub-wild mosquitto_sub -V mqttv311 -h "$IP_SRV" -i medtap-sub-wild -k 30 \
  -q 1 -t '#' -t "\$SYS/#" -t 'ward3/+/spo2' -T "\$SYS/#" -v -C 1 -W "$T_TOOL"
client 0 42402 mosquitto_pub -V mqttv311 -h "$IP_SRV" -i medtap-pub-wild -q 1 -t "\$SYS/fake" \
  -m 'not a broker statistic (synthetic)'
client 0 42403 mosquitto_pub -V mqttv311 -h "$IP_SRV" -i medtap-pub-wild -q 1 -t ward3/bed7/spo2 -m '123'
wait_exit "$sub_pid" medtap-sub-wild
sub_pid=""
finish
grep -qx "ward3/bed7/spo2 123" "$workdir/wildcard.medtap-sub-wild.out" ||
  die "wildcard: the subscriber did not get ward3/bed7/spo2"
grep -q "Denied PUBLISH from medtap-pub-wild .*'\$SYS/fake'" "$workdir/wildcard.broker.log" ||
  die "wildcard: mosquitto did not deny the PUBLISH to \$SYS/fake (behaviour changed?)"

cur=large_payload
log "large_payload.pcap: one 300 KiB PUBLISH QoS 1"
start_broker large_payload "$PORT_STD" open
start_capture large_payload
subscriber sub_pid 42501 medtap-sub-large mosquitto_sub -V mqttv311 -h "$IP_SRV" -i medtap-sub-large \
  -k 30 -q 1 -t ward3/bed12/waveform -C 1 -W "$T_TOOL"
client 0 42502 mosquitto_pub -V mqttv311 -h "$IP_SRV" -i medtap-pub-large -k 30 -q 1 \
  -t ward3/bed12/waveform -f "$workdir/waveform.txt"
wait_exit "$sub_pid" medtap-sub-large
sub_pid=""
finish

cur=auth
log "auth.pcap: 1 good login, then 6 x 3.1.1, 2 x 3.1, 2 x 5.0 with a wrong password"
start_broker auth "$PORT_STD" auth
start_capture auth
client 0 42601 mosquitto_pub -V mqttv311 -h "$IP_SRV" -i medtap-auth-ok -u "$USER" -P "$PASS" -q 1 \
  -t ward3/bed12/spo2 -m '123'
for i in 1 2 3 4 5 6; do
  u=$USER
  [ "$i" -eq 6 ] && u="admin"
  client 5 $((42601 + i)) mosquitto_pub -V mqttv311 -h "$IP_SRV" -i "medtap-brute-$i" -u "$u" \
    -P "wrong-password-$i" -t ward3/bed12/spo2 -m '0'
done
for i in 1 2; do
  client 5 $((42607 + i)) mosquitto_pub -V mqttv31 -h "$IP_SRV" -i "medtap-brute31-$i" -u "$USER" \
    -P "wrong-password-31-$i" -t ward3/bed12/spo2 -m '0'
done
for i in 1 2; do
  u=$USER
  [ "$i" -eq 2 ] && u="admin"
  # mosquitto_pub exits 135 (the v5 reason code) on a refused v5 connection.
  client 135 $((42609 + i)) mosquitto_pub -V mqttv5 -h "$IP_SRV" -i "medtap-brute5-$i" -u "$u" \
    -P "wrong-password-5-$i" -t ward3/bed12/spo2 -m '0'
done
finish

cur=unusual_port
log "unusual_port.pcap: broker on :$PORT_ODD"
start_broker unusual_port "$PORT_ODD" open
start_capture unusual_port
subscriber sub_pid 42701 medtap-sub-odd mosquitto_sub -V mqttv311 -h "$IP_SRV" -p "$PORT_ODD" \
  -i medtap-sub-odd -k 30 -q 1 -t ward3/bed12/spo2 -v -C 1 -W "$T_TOOL"
client 0 42702 mosquitto_pub -V mqttv311 -h "$IP_SRV" -p "$PORT_ODD" -i medtap-pub-odd -q 1 \
  -t ward3/bed12/spo2 -m '123'
wait_exit "$sub_pid" medtap-sub-odd
sub_pid=""
finish

cur=phi
log "phi.pcap: a PUBLISH carrying $PHI_MARKER"
start_broker phi "$PORT_STD" open
start_capture phi
subscriber sub_pid 42801 medtap-sub-phi mosquitto_sub -V mqttv311 -h "$IP_SRV" -i medtap-sub-phi -k 30 \
  -q 1 -t ward3/bed12/note -v -C 1 -W "$T_TOOL"
client 0 42802 mosquitto_pub -V mqttv311 -h "$IP_SRV" -i medtap-pub-phi -q 1 -t ward3/bed12/note \
  -m "{\"patient\":\"ZZPHANTOM^MEDTAPTEST\",\"note\":\"$PHI_MARKER synthetic nursing note\",\"spo2\":123}"
wait_exit "$sub_pid" medtap-sub-phi
sub_pid=""
finish

# --- check and output ------------------------------------------------------------
# What tshark must see in each capture: the number of MQTT messages of each
# type (mqtt.msgtype; PINGREQ/PINGRESP left out: keep-alive timing), the
# protocol version of each CONNECT, the CONNECTs with a user name, the
# PUBLISHes with RETAIN=1, the CONNACK codes, and "sys": which of the two
# $SYS topics every mosquitto publishes (version: static, at start; uptime:
# the first of its periodic tree) the broker delivered, "none" if it
# delivered no $SYS message. The $SYS deliveries and their PUBACKs are not in
# the type counts: their number depends on the mosquitto build (52 topics
# from 2.0.11) and on whether the tree was republished during the capture.
expected() {
  case "$1" in
    v31.pcap) echo "1=7 2=7 3=10 4=6 5=2 6=2 7=2 8=3 9=3 14=6; ver=3x7; uname=1; retain=2; conack=0x7; sys=none" ;;
    v311.pcap) echo "1=7 2=7 3=10 4=6 5=2 6=2 7=2 8=3 9=3 14=6; ver=4x7; uname=1; retain=2; conack=0x7; sys=none" ;;
    v5.pcap) echo "1=7 2=7 3=10 4=6 5=2 6=2 7=2 8=3 9=3 14=6; ver=5x7; uname=1; retain=2; reason=0x7; sys=none" ;;
    wildcard.pcap) echo "1=3 2=3 3=3 4=3 8=1 9=1 14=3; ver=4x3; uname=0; retain=0; conack=0x3; sys=version,uptime" ;;
    auth.pcap) echo "1=11 2=11 3=1 4=1 14=1; ver=3x2 4x7 5x2; uname=11; retain=0; conack=0x1 5x8; reason=135x2; sys=none" ;;
    large_payload.pcap | unusual_port.pcap | phi.pcap)
      echo "1=2 2=2 3=2 4=2 8=1 9=1 14=2; ver=4x2; uname=0; retain=0; conack=0x2; sys=none" ;;
  esac
}
summarise() {  # summarise TSV PORT: the same shape as expected()
  python3 - "$1" "$2" <<'PY'
import collections, csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t", quoting=csv.QUOTE_NONE))
port = sys.argv[2]
def vals(r, col):
    return [v for v in r[col].split(" | ") if v != ""]
def counts(c):
    return " ".join("%sx%d" % kv for kv in sorted(c.items()))
def messages(r):
    """(type, topic, retain, msgid) of each MQTT message in a row. Assumes that
    only PUBLISH has a topic here (a SUBSCRIBE/UNSUBSCRIBE sharing a frame
    with a PUBLISH would shift them: the check then fails, loudly)."""
    topic, qos, ret, mid = (iter(vals(r, c)) for c in ("mqtt.topic", "mqtt.qos", "mqtt.retain", "mqtt.msgid"))
    for t in map(int, vals(r, "mqtt.msgtype")):
        if t == 3:
            tp, q, rt = next(topic, ""), next(qos, ""), next(ret, "")
            yield t, tp, rt, next(mid, "") if q not in ("", "0") else ""
        else:
            yield t, "", "", next(mid, "") if t in (4, 5, 6, 7, 8, 9, 10, 11) else ""
# $SYS deliveries (broker -> client) and the client's PUBACKs for them.
sys_ids = {(r["tcp.dstport"], m) for r in rows if r["tcp.srcport"] == port
           for t, top, _, m in messages(r) if t == 3 and top.startswith("$SYS/")}
sys_topics = {top for r in rows if r["tcp.srcport"] == port
              for t, top, _, _ in messages(r) if t == 3 and top.startswith("$SYS/")}
types, retain = collections.Counter(), 0
for r in rows:
    for t, top, ret, mid in messages(r):
        if t in (12, 13):
            continue
        if t == 3 and top.startswith("$SYS/") and r["tcp.srcport"] == port:
            continue
        if t == 4 and (r["tcp.srcport"], mid) in sys_ids:
            continue
        types[t] += 1
        retain += ret == "1"
out = [" ".join("%d=%d" % kv for kv in sorted(types.items()))]
out.append("ver=" + counts(collections.Counter(v for r in rows for v in vals(r, "mqtt.ver"))))
out.append("uname=%d" % sum(v == "1" for r in rows for v in vals(r, "mqtt.conflag.uname")))
out.append("retain=%d" % retain)
conack = collections.Counter(v for r in rows for v in vals(r, "mqtt.conack.val"))
reason = collections.Counter(v for r in rows for v in vals(r, "mqtt.connack.reason_code"))
if conack:
    out.append("conack=" + counts(conack))
if reason:
    out.append("reason=" + counts(reason))
known = [k for k in ("version", "uptime") if "$SYS/broker/" + k in sys_topics]
out.append("sys=" + (",".join(known) if known else "none" if not sys_topics else "other"))
print("; ".join(out))
PY
}

mkdir -p "$outdir"
for name in "${made[@]}"; do
  write_tsv "$workdir/$name" "$(capture_port "$name")"
  got=$(summarise "$workdir/$name.tshark.tsv" "$(capture_port "$name")")
  [ "$got" = "$(expected "$name")" ] || die "$name: tshark sees '$got', expected '$(expected "$name")'"
  case "$name" in
    wildcard.pcap)
      grep -qF "Subscribe Request (id=1) [#] [\$SYS/#] [ward3/+/spo2]" "$workdir/$name.tshark.tsv" ||
        die "$name: no SUBSCRIBE to #, \$SYS/# and ward3/+/spo2"
      grep -q "	42402	1883	3	.*	\$SYS/fake	" "$workdir/$name.tshark.tsv" ||
        die "$name: no PUBLISH to \$SYS/fake from the client" ;;
    large_payload.pcap)
      n=$(awk -F'\t' '$8 == 3 && $9 > 307200' "$workdir/$name.tshark.tsv" | wc -l)
      [ "$n" -eq 2 ] || die "$name: $n PUBLISHes over 300 KiB, expected 2 (client -> broker -> client)"
      n=$(tshark -n -r "$workdir/$name" -Y "tcp.dstport==$PORT_STD && tcp.len>0" 2>/dev/null | wc -l)
      [ "$n" -ge 200 ] || die "$name: only $n data segments from the publisher, expected 200 or more" ;;
    phi.pcap)
      n=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().count(sys.argv[2].encode()))' \
        "$workdir/$name" "$PHI_MARKER")
      [ "$n" -eq 2 ] || die "$name: $PHI_MARKER occurs $n times, expected 2" ;;
  esac
  netns_install_output "$workdir/$name" "$outdir/$name"
  netns_install_output "$workdir/$name.tshark.tsv" "$outdir/$name.tshark.tsv"
  log "wrote $outdir/$name ($(stat -c %s "$outdir/$name") bytes, $(($(wc -l <"$outdir/$name.tshark.tsv") - 1)) MQTT rows) + .tshark.tsv"
done
