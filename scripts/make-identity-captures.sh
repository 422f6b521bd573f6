#!/usr/bin/env bash
# Makes medtap's device-identity test captures (tests/data/identity/*.pcap)
# from REAL DHCP and ARP traffic: dnsmasq serves DHCP, busybox udhcpc and ISC
# dhclient ask for leases with the host names and vendor classes medical
# devices send, iputils arping takes over an address and probes a free one,
# and tcpdump records every host at once on the bridge they all hang on.
#
# Usage (as root, Debian 12):   scripts/make-identity-captures.sh [OUTDIR]
# Default OUTDIR: tests/data/identity relative to the repository root.
#
# Topology: a "switch" namespace holds a bridge (mtidbr0, STP and multicast
# snooping off, no address); every host is a namespace of its own, joined to
# the bridge by a veth pair (host side mtid0: MTU 1500, checksum offload, TSO,
# GSO and GRO off, IPv6 off, no link-local address). tcpdump captures on the
# bridge, which it puts in promiscuous mode, so one capture holds every frame
# any host sends. Nothing leaves the machine: the bridge has no uplink and
# every address is one of these namespaces'.
#
#   role   MAC (IEEE registry organisation)                  address
#   srv    f4:bd:9e:82:00:01 (Cisco Systems, Inc)            10.82.0.1/24, dnsmasq
#   pump   00:12:21:82:00:07 (B.Braun Melsungen AG)          DHCP (udhcpc), 10.82.0.107
#   pump2  00:12:21:82:00:08 (B.Braun Melsungen AG)          DHCP (udhcpc -a), declines 10.82.0.108
#   mon    00:09:5c:82:00:03 (Philips Medical Systems - CM)  DHCP (dhclient), 10.82.0.103
#   ge     44:4b:5d:82:00:04 (GE Healthcare)                 DHCP (udhcpc), 10.82.0.104
#   dell   98:e7:43:82:00:0b (Dell Inc.)                     static: 10.82.0.108, later 10.82.0.104
#   rpi    b8:27:eb:82:00:0c (Raspberry Pi Foundation)       probes, then takes 10.82.0.60
#   evil   dc:a6:32:82:00:66 (Raspberry Pi Trading Ltd)      DHCP (udhcpc) with hostile strings
#   evil2  dc:a6:32:82:00:67 (Raspberry Pi Trading Ltd)      DHCP (udhcpc) with 255-byte strings
# Namespaces: mt-ident-<pid>-<role> and mt-ident-<pid>-sw (<pid>: this run's;
# see scripts/lib/netns.sh).
#
# dnsmasq (DNS off: --port=0; --no-ping, so it offers at once) hands out
# 10.82.0.150-199 for 1 h, with fixed addresses (--dhcp-host) for pump, pump2,
# mon and ge. It is started afresh, with an empty lease file, for every
# capture, and every host's addresses and ARP cache are flushed in between.
#
# One capture per scenario (DHCP message types in brackets, in order):
#   dhcp_udhcpc.pcap    pump: udhcpc -x hostname:infusion-pump-07
#                       -V "B.Braun Space" -O ntpsrv -O timezone -O 43; bound,
#                       renews (SIGUSR1: unicast REQUEST with ciaddr), then
#                       SIGTERM with -R: RELEASE [1 2 3 5 3 5 7; the renew
#                       may take a second round, see expected_types]
#   dhcp_dhclient.pcap  mon: dhclient -1 with host-name "monitor-icu-3",
#                       vendor-class-identifier "Philips IntelliVue" and a
#                       client identifier; then dhclient -r [1 2 3 5 7]
#   dhcp_decline_inform.pcap  dell holds 10.82.0.108 (static) and asks for
#                       options with DHCPINFORM (hostname LAPTOP-7QX2D, vendor
#                       class "MSFT 5.0", as Windows does); then pump2
#                       (udhcpc -a: ARP-checks the offered address) is offered
#                       10.82.0.108, gets an ARP reply from dell, DECLINEs,
#                       gets a free address, releases it
#                       [8 5 1 2 3 5 4 1 2 3 5 7]
#   arp_takeover.pcap   ge (host A) leases 10.82.0.104 and pings srv every
#                       0.2 s; rpi (host C) probes 10.82.0.60 (arping -D:
#                       sender 0.0.0.0) and takes it; dell (host B) adds
#                       10.82.0.104 and announces it with arping -U (gratuitous
#                       requests) and arping -A (gratuitous replies) and pings
#                       srv from it; rpi then asks who has 10.82.0.104
#                       (arping): both ge and dell answer [1 2 3 5]
#   dhcp_hostile.pcap   evil: udhcpc sends a host name, vendor class and
#                       client identifier full of terminal escapes, a newline,
#                       quotes, SQL, a NUL, a bidi override and invalid UTF-8
#                       (raw bytes: -x 0xNN:HEX); evil2: a 255-byte host name
#                       that ends inside a UTF-8 sequence, and printf format
#                       directives as vendor class; each is bound, then
#                       releases [1 2 3 5 7 1 2 3 5 7]
# The exact bytes sent are in tests/data/identity/README.md.
#
# Idempotent: stale namespaces from an earlier (failed) run are removed first;
# everything is torn down again on exit, also on failure. Each output file is
# replaced only once its new version is complete. Before keeping a capture,
# the script checks with tshark that it holds what the scenario must produce.
#
# Needs: dnsmasq-base, udhcpc, isc-dhcp-client, iputils-arping, iputils-ping,
# tcpdump, tshark, python3, iproute2 (scripts/install-deps.sh). The namespace,
# capture and teardown helpers are in scripts/lib/netns.sh, the run's setup
# and udhcpc's event script in scripts/lib/capture.sh.
set -euo pipefail

readonly NET=10.82.0
readonly IP_SRV=$NET.1 IP_PUMP=$NET.107 IP_PUMP2=$NET.108 IP_MON=$NET.103 IP_GE=$NET.104
readonly IP_RPI=$NET.60
readonly IF_HOST=mtid0 BRIDGE=mtidbr0
readonly ROLES=(srv pump pump2 mon ge dell rpi evil evil2)
declare -A MAC=(
  [srv]=f4:bd:9e:82:00:01   # Cisco Systems, Inc
  [pump]=00:12:21:82:00:07  # B.Braun Melsungen AG
  [pump2]=00:12:21:82:00:08 # B.Braun Melsungen AG
  [mon]=00:09:5c:82:00:03   # Philips Medical Systems - Cardiac and Monitoring Systems
  [ge]=44:4b:5d:82:00:04    # GE Healthcare
  [dell]=98:e7:43:82:00:0b  # Dell Inc.
  [rpi]=b8:27:eb:82:00:0c   # Raspberry Pi Foundation
  [evil]=dc:a6:32:82:00:66  # Raspberry Pi Trading Ltd
  [evil2]=dc:a6:32:82:00:67 # Raspberry Pi Trading Ltd
)
readonly MAC
# The hostile strings of dhcp_hostile.pcap, as hex (sent as raw bytes).
#  evil hostname: "pump-07" ESC[31m "RED" ESC[0m LF "\"quoted\" 'single'" NUL
#    "'; DROP TABLE devices;--" 0xff 0xfe
#  evil vendor class: ESC]0;owned BEL "B.Braun" CR LF "Space" U+202E "'; DROP
#    TABLE devices;--" 0xff 0xfe 0xc0 0xaf (overlong '/')
#  evil client id: type 0x00, ESC[2J "'; DROP TABLE devices;--" LF 0xfe 0xff
#  evil2 hostname: "long-" + 124 x U+00E9 + "x" + 0xc3 (a cut-off sequence), 255 bytes
#  evil2 vendor class: "%s%n%x%p" (printf directives; with a 255-byte host
#    name, udhcpc's 308-byte option area has room for no more)
tohex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
SQL="'; DROP TABLE devices;--"
HOSTILE_HOST=$(tohex pump-07)1b5b33316d5245441b5b306d0a$(tohex "\"quoted\" 'single'")00$(tohex "$SQL")fffe
HOSTILE_VENDOR=1b5d303b6f776e656407$(tohex B.Braun)0d0a$(tohex Space)e280ae$(tohex "$SQL")fffec0af
HOSTILE_CLIENTID=001b5b324a$(tohex "$SQL")0afeff
LONG_HOST=$(tohex long-)$(printf 'c3a9%.0s' $(seq 1 124))78c3
FMT_VENDOR='%s%n%x%p'
readonly SQL HOSTILE_HOST HOSTILE_VENDOR HOSTILE_CLIENTID LONG_HOST FMT_VENDOR
# Bound (seconds) on every client run and on every wait for an event.
readonly T_TOOL=30

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/capture.sh
. "$repo_root/scripts/lib/capture.sh"
capture_init mt-ident "$IF_HOST" "$BRIDGE"
NS_SW=$(netns_name sw)
readonly NS_SW
ns() { netns_name "$1"; }
outdir=$(capture_outdir "${1:-}" "$repo_root/tests/data/identity")

netns_require_root_tools tcpdump tshark python3 ip ss timeout dnsmasq udhcpc dhclient arping ping \
  stdbuf od

dnsmasq_pid="" client_pid="" ping_pid=""
cur="" # the capture being recorded (names its logs)

# --- setup ------------------------------------------------------------------
# Traps, stale namespaces gone, $workdir made (capture_begin). Whatever
# happens, these processes (started in the background, by PID), the capture
# and the namespaces go.
capture_begin medtap-identity client_pid ping_pid dnsmasq_pid

# add_host ROLE: the host's namespace, its veth pair to the bridge (switch
# side mtsw-ROLE), its MAC; IPv6 off, offloads off on both ends, link up, no
# address.
add_host() {
  local role=$1
  netns_bridge_host "$(ns "$role")" "${MAC[$role]}" "$NS_SW" "$BRIDGE" "$IF_HOST" "mtsw-$role"
}

log "creating the switch namespace $NS_SW and ${#ROLES[@]} hosts"
ip netns add "$NS_SW"
netns_no_ipv6 "$NS_SW"
ip -n "$NS_SW" link set lo up
ip -n "$NS_SW" link add "$BRIDGE" address 02:00:00:82:00:fe type bridge stp_state 0 mcast_snooping 0
ip -n "$NS_SW" link set "$BRIDGE" addrgenmode none
ip -n "$NS_SW" link set "$BRIDGE" up
for role in "${ROLES[@]}"; do add_host "$role"; done
NS_SRV=$(ns srv)
readonly NS_SRV
ip -n "$NS_SRV" addr add "$IP_SRV/24" dev "$IF_HOST"

# udhcpc's event script: sets or removes the address, and appends
# "EVENT IP" to $MEDTAP_EVENTS so that the script here can wait for it.
capture_udhcpc_script "$workdir/udhcpc.script"

# dhclient's script (it runs it with its own environment only, so the events
# file is written into it): $reason, $new_ip_address, $new_subnet_mask.
cat >"$workdir/dhclient.script" <<EOF
#!/bin/sh
case "\$reason" in
  PREINIT) ip link set "\$interface" up ;;
  BOUND | RENEW | REBIND | REBOOT) ip addr replace "\$new_ip_address/\$new_subnet_mask" dev "\$interface" ;;
  EXPIRE | FAIL | RELEASE | STOP) ip -4 addr flush dev "\$interface" ;;
esac
echo "\$reason \${new_ip_address:-}" >>"$workdir/dhclient.events"
EOF
chmod 0755 "$workdir/dhclient.script"

cat >"$workdir/dhclient.conf" <<EOF
# medtap test monitor (generated by scripts/make-identity-captures.sh)
send host-name "monitor-icu-3";
send vendor-class-identifier "Philips IntelliVue";
send dhcp-client-identifier 1:${MAC[mon]};
send dhcp-lease-time 86400;
request subnet-mask, broadcast-address, time-offset, routers, domain-name,
        domain-name-servers, host-name, ntp-servers, interface-mtu;
timeout 20;
initial-interval 2;
EOF

# --- helpers ----------------------------------------------------------------
# wait_for FILE REGEX: bounded (T_TOOL) wait for a line matching REGEX in FILE.
wait_for() {
  local _
  for _ in $(seq 1 $((T_TOOL * 10))); do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  [ -f "$1" ] && cat "$1" >&2
  die "$cur: no line '$2' in $(basename "$1") after $T_TOOL s"
}

# wait_exit PID WHAT: bounded (T_TOOL) wait for a background client to end.
wait_exit() { capture_wait_gone "$1" "$cur: $2" "$T_TOOL"; }

# reset_hosts: no client address, no ARP entry anywhere (srv keeps its address).
reset_hosts() {
  local role
  for role in "${ROLES[@]}"; do
    [ "$role" = srv ] || ip -n "$(ns "$role")" -4 addr flush dev "$IF_HOST"
    ip -n "$(ns "$role")" neigh flush dev "$IF_HOST"
  done
}

# start_dnsmasq: a fresh dnsmasq in srv (empty lease file), listening.
start_dnsmasq() {
  local d=$workdir/$cur.dnsmasq
  mkdir -p "$d"
  : >"$d/leases"
  ip netns exec "$NS_SRV" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
    --no-hosts --no-resolv --interface="$IF_HOST" --no-ping --log-dhcp \
    --log-facility="$d/log" --pid-file="$d/pid" --dhcp-leasefile="$d/leases" \
    --dhcp-range="$NET.150,$NET.199,255.255.255.0,1h" \
    --dhcp-host="${MAC[pump]},$IP_PUMP" --dhcp-host="${MAC[pump2]},$IP_PUMP2" \
    --dhcp-host="${MAC[mon]},$IP_MON" --dhcp-host="${MAC[ge]},$IP_GE" \
    --dhcp-option=option:router,"$IP_SRV" --dhcp-option=option:ntp-server,"$IP_SRV" \
    --dhcp-option=option:domain-name,icu.hospital.test \
    >"$d/stderr" 2>&1 &
  dnsmasq_pid=$!
  netns_wait_listen "$NS_SRV" udp 67
}

# dnsmasq_saw REGEX: bounded wait for a line in dnsmasq's log (it logs a
# packet once it has received it, so the packet has passed the bridge).
dnsmasq_saw() { wait_for "$workdir/$cur.dnsmasq/log" "$1"; }

# begin NAME: a clean network, dnsmasq, tcpdump on the bridge.
begin() {
  cur=$1
  log "$cur.pcap"
  reset_hosts
  start_dnsmasq
  netns_capture_start "$NS_SW" "$BRIDGE" "$workdir/$cur.pcap"
}

declare -a made=()
# finish: stops the capture (once complete) and dnsmasq, records the file.
finish() {
  netns_capture_stop "$workdir/$cur.pcap"
  stop_pid "$dnsmasq_pid"
  dnsmasq_pid=""
  made+=("$cur.pcap")
}

# udhcpc_start ROLE ARGS...: udhcpc in the background on ROLE's interface
# (foreground mode -f, exit when no lease -n, release on exit -R, DISCOVER
# every 2 s, at most 3); sets client_pid. Its events go to
# $workdir/$cur.ROLE.events. It runs until it is sent SIGTERM (-q would make
# it quit before it enters the BOUND state, so -R would release nothing:
# busybox 1.35 udhcpc.c, "goto ret0" before "state = BOUND").
udhcpc_start() {
  local role=$1
  shift
  : >"$workdir/$cur.$role.events"
  MEDTAP_EVENTS="$workdir/$cur.$role.events" ip netns exec "$(ns "$role")" \
    udhcpc -i "$IF_HOST" -f -n -R -t 3 -T 2 -s "$workdir/udhcpc.script" "$@" \
    >>"$workdir/$cur.$role.log" 2>&1 &
  client_pid=$!
}

# udhcpc_release ROLE: SIGTERM to the running udhcpc: it unicasts a RELEASE
# and exits; waits until dnsmasq has logged the RELEASE.
udhcpc_release() {
  stop_pid "$client_pid"
  client_pid=""
  wait_for "$workdir/$cur.$1.events" '^deconfig'
  dnsmasq_saw "DHCPRELEASE\\($IF_HOST\\) [0-9.]+ ${MAC[$1]}"
}

# run_in ROLE CMD...: CMD in ROLE's namespace, bounded, output to the capture's log.
run_in() {
  local role=$1 rc=0
  shift
  printf '+ [%s] %s\n' "$role" "$*" >>"$workdir/$cur.log"
  timeout "$T_TOOL" ip netns exec "$(ns "$role")" "$@" >>"$workdir/$cur.log" 2>&1 || rc=$?
  return "$rc"
}

# --- scenarios ------------------------------------------------------------------
begin dhcp_udhcpc
udhcpc_start pump -x hostname:infusion-pump-07 -V "B.Braun Space" -O ntpsrv -O timezone -O 43
wait_for "$workdir/$cur.pump.events" "^bound $IP_PUMP\$"
kill -USR1 "$client_pid" # renew: unicast REQUEST from 10.82.0.107
wait_for "$workdir/$cur.pump.events" "^renew $IP_PUMP\$"
udhcpc_release pump
finish

begin dhcp_dhclient
: >"$workdir/dhclient.events"
DHCLIENT=(dhclient -v -cf "$workdir/dhclient.conf" -lf "$workdir/dhclient.leases"
  -pf "$workdir/dhclient.pid" -sf "$workdir/dhclient.script")
rm -f "$workdir/dhclient.leases" "$workdir/dhclient.pid"
# -d: stay in the foreground (our child, stopped by PID); -1: one try.
ip netns exec "$(ns mon)" "${DHCLIENT[@]}" -d -1 "$IF_HOST" >>"$workdir/$cur.mon.log" 2>&1 &
client_pid=$!
wait_for "$workdir/dhclient.events" "^BOUND $IP_MON\$"
# dhclient -r: sends SIGTERM to the PID in the pid file (the client above),
# then RELEASEs the lease in the lease file.
run_in mon "${DHCLIENT[@]}" -r "$IF_HOST" || die "$cur: dhclient -r failed"
wait_exit "$client_pid" "dhclient -d"
client_pid=""
dnsmasq_saw "DHCPRELEASE\\($IF_HOST\\) $IP_MON ${MAC[mon]}"
finish

begin dhcp_decline_inform
ip -n "$(ns dell)" addr add "$IP_PUMP2/24" dev "$IF_HOST"
# DHCPINFORM from dell's static address, as a Windows laptop sends it. (First:
# once dnsmasq has offered 10.82.0.108 to pump2, it has set its own ARP entry
# for it to pump2's MAC, and would send this ACK there.)
run_in dell python3 - "$IP_PUMP2" "${MAC[dell]}" <<'PY' || die "$cur: no DHCPACK for the DHCPINFORM"
import socket, struct, sys
ip, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
opts = bytes([53, 1, 8])                                    # DHCPINFORM
opts += bytes([61, 7, 1]) + mac                             # client id: type 1 + MAC
opts += bytes([12, 12]) + b"LAPTOP-7QX2D"                   # host name
opts += bytes([60, 8]) + b"MSFT 5.0"                        # vendor class
prl = [1, 15, 3, 6, 44, 46, 47, 31, 33, 121, 249, 252, 43]
opts += bytes([55, len(prl)]) + bytes(prl) + bytes([255])   # parameter list, end
msg = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, 0x4d544150, 0, 0,
                  socket.inet_aton(ip), bytes(4), bytes(4), bytes(4),
                  mac + bytes(10), bytes(64), bytes(128))
msg += b"\x63\x82\x53\x63" + opts
msg += bytes(max(0, 300 - len(msg)))                        # BOOTP minimum (RFC 1542)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind((ip, 68))
s.settimeout(10)
s.sendto(msg, ("255.255.255.255", 67))
while True:
    reply = s.recv(2048)
    if reply[4:8] == msg[4:8] and b"\x35\x01\x05" in reply[240:]:
        print("DHCPACK for the DHCPINFORM")
        break
PY
# -a500: ARP-check the address for 500 ms before taking it; -A 1: DISCOVER
# again 1 s after a DECLINE.
udhcpc_start pump2 -a500 -A 1 -x hostname:infusion-pump-08 -V "B.Braun Space"
wait_for "$workdir/$cur.pump2.events" "^bound $NET\\.1[5-9][0-9]\$"
grep -q "offered address is in use" "$workdir/$cur.pump2.log" || die "$cur: udhcpc did not decline $IP_PUMP2"
udhcpc_release pump2
finish

begin arp_takeover
# Host A: ge leases 10.82.0.104 and keeps it (-q: quit once bound, no release).
: >"$workdir/$cur.ge.events"
run_in ge env MEDTAP_EVENTS="$workdir/$cur.ge.events" udhcpc -i "$IF_HOST" -f -n -q -t 3 -T 2 \
  -s "$workdir/udhcpc.script" -x hostname:carescape-b450 -V "GE Healthcare" ||
  die "$cur: ge got no lease"
grep -q "^bound $IP_GE\$" "$workdir/$cur.ge.events" || die "$cur: ge is not bound to $IP_GE"
# -O: a line for every request left unanswered too, -s 16: small frames;
# line-buffered so that the script can follow it.
ip netns exec "$(ns ge)" stdbuf -oL ping -n -O -s 16 -i 0.2 -c 150 "$IP_SRV" >"$workdir/$cur.ping.log" 2>&1 &
ping_pid=$!
wait_for "$workdir/$cur.ping.log" "icmp_seq=5 "
# Host C: rpi probes 10.82.0.60 (RFC 5227 probe: sender 0.0.0.0); no answer,
# so it takes the address. (arping's exit status is not used: iputils
# 20221126 also fails when the number of replies differs from the number of
# requests; its report is read instead.)
run_in rpi arping -D -I "$IF_HOST" -c 2 "$IP_RPI" || true
grep -q "^Received 0 response" "$workdir/$cur.log" || die "$cur: arping -D found $IP_RPI in use"
ip -n "$(ns rpi)" addr add "$IP_RPI/24" dev "$IF_HOST"
# Host B: dell takes A's address and announces it.
ip -n "$(ns dell)" addr add "$IP_GE/24" dev "$IF_HOST"
run_in dell arping -U -I "$IF_HOST" -c 2 "$IP_GE" || true # gratuitous requests
run_in dell arping -A -I "$IF_HOST" -c 2 "$IP_GE" || true # gratuitous replies
run_in dell ping -n -s 16 -i 0.2 -c 3 -W 1 "$IP_SRV" || true
# Who has 10.82.0.104? Both A and B answer (-w: wait for 2 replies).
run_in rpi arping -I "$IF_HOST" -c 2 -w 3 "$IP_GE" || true
grep -qi "reply from $IP_GE \\[${MAC[ge]}\\]" "$workdir/$cur.log" || die "$cur: ge did not answer for $IP_GE"
grep -qi "reply from $IP_GE \\[${MAC[dell]}\\]" "$workdir/$cur.log" || die "$cur: dell did not answer for $IP_GE"
# A goes on pinging (unanswered now: srv sends its replies to B) for 5 more requests.
last=$(grep -o 'icmp_seq=[0-9]*' "$workdir/$cur.ping.log" | tail -n 1 | cut -d= -f2)
wait_for "$workdir/$cur.ping.log" "icmp_seq=$((last + 5))( |\$)"
stop_pid "$ping_pid" INT
ping_pid=""
finish

begin dhcp_hostile
udhcpc_start evil -x "0x0c:$HOSTILE_HOST" -V "" -x "0x3c:$HOSTILE_VENDOR" -x "0x3d:$HOSTILE_CLIENTID"
wait_for "$workdir/$cur.evil.events" "^bound $NET\\.1[5-9][0-9]\$"
udhcpc_release evil
udhcpc_start evil2 -x "0x0c:$LONG_HOST" -V "$FMT_VENDOR"
wait_for "$workdir/$cur.evil2.events" "^bound $NET\\.1[5-9][0-9]\$"
udhcpc_release evil2
finish

# --- check and output ------------------------------------------------------------
# The DHCP message types (option 53) of each capture, in frame order (an
# extended regular expression). The renew of dhcp_udhcpc.pcap may take more
# than one round: busybox sends its unicast renew from a socket bound to
# 10.82.0.107:68 and closes it afterwards; an ACK that arrives before the
# close is delivered to that socket and lost, and udhcpc then broadcasts the
# renew again (its own comment in dhcpc.c: "Sometimes observed to fail").
expected_types() {
  case "$1" in
    dhcp_udhcpc.pcap) echo "1 2 3 5( 3 5)+ 7" ;;
    dhcp_dhclient.pcap) echo "1 2 3 5 7" ;;
    dhcp_decline_inform.pcap) echo "8 5 1 2 3 5 4 1 2 3 5 7" ;;
    arp_takeover.pcap) echo "1 2 3 5" ;;
    dhcp_hostile.pcap) echo "1 2 3 5 7 1 2 3 5 7" ;;
  esac
}
# fields PCAP FILTER FIELD...: tshark -T fields, one line per frame.
fields() {
  local pcap=$1 filter=$2 f
  shift 2
  local -a args=()
  for f in "$@"; do args+=(-e "$f"); done
  tshark -n -r "$pcap" -Y "$filter" -T fields -E separator=/t -E occurrence=a "${args[@]}" 2>/dev/null
}
# has PCAP FILTER WHAT: at least one frame matches FILTER.
has() {
  [ -n "$(fields "$1" "$2" frame.number)" ] || die "$(basename "$1"): no frame with $3 ($2)"
}

mkdir -p "$outdir"
for name in "${made[@]}"; do
  p=$workdir/$name
  # Not the DHCP messages quoted in ICMP errors (port unreachable: an ACK
  # that reached the client after its socket was gone).
  got=$(fields "$p" "dhcp && !icmp" dhcp.option.dhcp | tr '\n' ' ' | sed 's/ $//')
  [[ $got =~ ^$(expected_types "$name")$ ]] ||
    die "$name: DHCP message types '$got', expected '$(expected_types "$name")'"
  case "$name" in
    dhcp_udhcpc.pcap)
      has "$p" 'dhcp.option.hostname == "infusion-pump-07" && dhcp.option.vendor_class_id == "B.Braun Space"' "pump's name and vendor class"
      has "$p" "dhcp.option.dhcp == 3 && dhcp.ip.client == $IP_PUMP" "the renewing REQUEST" ;;
    dhcp_dhclient.pcap)
      has "$p" 'dhcp.option.hostname == "monitor-icu-3" && dhcp.option.vendor_class_id == "Philips IntelliVue"' "mon's name and vendor class" ;;
    dhcp_decline_inform.pcap)
      has "$p" "dhcp.option.dhcp == 4 && dhcp.option.requested_ip_address == $IP_PUMP2" "the DECLINE of $IP_PUMP2"
      has "$p" "arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == $IP_PUMP2" "pump2's ARP probe"
      has "$p" "arp.opcode == 2 && arp.src.hw_mac == ${MAC[dell]} && arp.src.proto_ipv4 == $IP_PUMP2" "dell's ARP reply"
      has "$p" 'dhcp.option.dhcp == 8 && dhcp.option.vendor_class_id == "MSFT 5.0"' "the INFORM" ;;
    arp_takeover.pcap)
      has "$p" "arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == $IP_RPI && arp.src.hw_mac == ${MAC[rpi]}" "rpi's probe"
      has "$p" "arp.opcode == 1 && arp.src.hw_mac == ${MAC[dell]} && arp.src.proto_ipv4 == $IP_GE && arp.dst.proto_ipv4 == $IP_GE" "dell's gratuitous request"
      has "$p" "arp.opcode == 2 && arp.src.hw_mac == ${MAC[dell]} && arp.src.proto_ipv4 == $IP_GE && arp.dst.proto_ipv4 == $IP_GE" "dell's gratuitous reply"
      has "$p" "arp.opcode == 2 && arp.src.hw_mac == ${MAC[ge]} && arp.src.proto_ipv4 == $IP_GE && arp.dst.proto_ipv4 == $IP_RPI" "ge's answer to rpi"
      has "$p" "arp.opcode == 2 && arp.src.hw_mac == ${MAC[dell]} && arp.src.proto_ipv4 == $IP_GE && arp.dst.proto_ipv4 == $IP_RPI" "dell's answer to rpi"
      has "$p" "icmp.type == 8 && eth.src == ${MAC[ge]} && ip.src == $IP_GE" "ge's pings" ;;
    dhcp_hostile.pcap)
      python3 - "$p" "$HOSTILE_HOST" "$HOSTILE_VENDOR" "$HOSTILE_CLIENTID" "$LONG_HOST" "$(tohex "$FMT_VENDOR")" <<'PY' ||
import sys
raw = open(sys.argv[1], "rb").read()
for h in sys.argv[2:]:
    if raw.count(bytes.fromhex(h)) < 1:
        sys.exit("%s: hostile string %s... not on the wire" % (sys.argv[1], h[:24]))
PY
        die "$name: hostile strings missing" ;;
  esac
  netns_install_output "$p" "$outdir/$name"
  n=$(fields "$p" "" frame.number | wc -l)
  log "wrote $outdir/$name ($(stat -c %s "$p") bytes, $n frames)"
  printf '%-26s %4d frames %6d bytes\n' "$name" "$n" "$(stat -c %s "$p")"
done
