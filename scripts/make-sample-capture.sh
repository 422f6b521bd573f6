#!/usr/bin/env bash
# Regenerates medtap's bundled sample capture (samples/sample.pcap) from REAL
# traffic made by real third-party software (Linux kernel, curl, Python's
# http.server, iputils ping) and recorded by tcpdump.
#
# Usage (as root, Debian 12):   scripts/make-sample-capture.sh [OUTPUT.pcap]
# Default output: samples/sample.pcap relative to the repository root.
#
# Two private network namespaces are joined by a veth pair; every packet stays
# on that wire. Nothing leaves the machine and no real host is ever contacted.
#
#   mt-sample-<pid>-cli  mtsample0  02:00:00:77:00:01  10.77.0.1/24  fd77::1/64  (clients)
#   mt-sample-<pid>-srv  mtsample1  02:00:00:77:00:02  10.77.0.2/24  fd77::2/64  (servers, tcpdump)
# (<pid>: this run's; see scripts/lib/netns.sh)
#
# Traffic generated (all bounded in time):
#   - ARP / IPv6 neighbour discovery (natural)
#   - ping -c 3 over IPv4 and over IPv6
#   - HTTP (python3 -m http.server on :8080, dual stack) fetched by curl:
#     4 separate TCP connections (3 x IPv4 incl. a ~200 KB file and a 404,
#     1 x IPv6)
#   - UDP echo (port 7): 3 datagrams each way
#   - 1 UDP datagram to closed port 9 -> ICMP port unreachable
#   - 1 TCP connection attempt to closed port 8081 -> SYN + RST
#
# Idempotent: stale namespaces from an earlier (failed) run are removed first;
# everything is torn down again on exit, also on failure. The output is only
# replaced once the new capture is complete.
#
# Needs: tcpdump, curl, python3, iproute2 (scripts/install-deps.sh installs
# them). ping (iputils-ping) is used when present; without it an equivalent
# ICMP echo is sent with python3 raw sockets. The namespace, capture and
# teardown helpers are in scripts/lib/netns.sh, the run's setup in
# scripts/lib/capture.sh.
set -euo pipefail

readonly IF_CLI=mtsample0
readonly IF_SRV=mtsample1
readonly V4_CLI=10.77.0.1 V4_SRV=10.77.0.2
readonly V6_CLI=fd77::1 V6_SRV=fd77::2
readonly MAC_CLI=02:00:00:77:00:01 MAC_SRV=02:00:00:77:00:02
readonly HTTP_PORT=8080 UDP_ECHO_PORT=7 UDP_CLOSED_PORT=9 TCP_CLOSED_PORT=8081
# Fixed client source ports keep the conversation table stable across runs
# (the namespaces are new each run, so no TIME_WAIT clash).
readonly CPORT_HTTP1=40001 CPORT_HTTP2=40002 CPORT_HTTP3=40003 CPORT_HTTP4=40004
readonly CPORT_TCP_CLOSED=40005 CPORT_UDP_ECHO=40006 CPORT_UDP_CLOSED=40007

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Default is relative to the repository root; a given path to the current dir.
out=${1:-$repo_root/samples/sample.pcap}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

# shellcheck source=scripts/lib/capture.sh
. "$repo_root/scripts/lib/capture.sh"
capture_init mt-sample "$IF_CLI" "$IF_SRV"
NS_CLI=$(netns_name cli)
NS_SRV=$(netns_name srv)
readonly NS_CLI NS_SRV

netns_require_root_tools tcpdump curl python3 ip ss timeout
have_ping=0
command -v ping >/dev/null 2>&1 && have_ping=1
# MTSAMPLE_PY_PING=1 forces the python3 fallback (used to test it).
[ "${MTSAMPLE_PY_PING:-0}" = 1 ] && have_ping=0

http_pid="" udp_pid=""

# Foreground helper. Background jobs call `ip netns exec` directly so that
# $! is the PID of the program itself (ip netns exec execs, it does not fork).
in_cli() { ip netns exec "$NS_CLI" "$@"; }

# ICMP echo x3 with python3 raw sockets; used only when ping is missing.
py_ping() {
  local family=$1 dst=$2
  in_cli timeout 15 python3 - "$family" "$dst" <<'PY'
import os, socket, struct, sys, time
fam, dst = sys.argv[1], sys.argv[2]
v6 = fam == "6"
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    etype, rtype = 128, 129
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    etype, rtype = 8, 0
s.settimeout(2)
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack(f"!{len(b)//2}H", b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
ident = os.getpid() & 0xffff
got = 0
for seq in range(1, 4):
    payload = b"medtap sample ping %d" % seq
    hdr = struct.pack("!BBHHH", etype, 0, 0, ident, seq)
    if not v6:  # kernel fills the ICMPv6 checksum itself
        hdr = struct.pack("!BBHHH", etype, 0, csum(hdr + payload), ident, seq)
    s.sendto(hdr + payload, (dst, 0))
    deadline = time.time() + 2
    while time.time() < deadline:
        try:
            data = s.recv(2048)
        except socket.timeout:
            break
        icmp = data if v6 else data[(data[0] & 0x0f) * 4:]
        if icmp[0] == rtype and struct.unpack("!H", icmp[4:6])[0] == ident:
            got += 1
            break
    time.sleep(0.2)
print(f"py_ping {dst}: {got}/3 replies")
sys.exit(0 if got == 3 else 1)
PY
}

do_ping() {
  local family=$1 dst=$2
  if [ "$have_ping" -eq 1 ]; then
    in_cli timeout 15 ping "-$family" -n -c 3 -i 0.2 -W 2 "$dst" >&2
  else
    py_ping "$family" "$dst" >&2
  fi
}

# --- setup ------------------------------------------------------------------
# Traps, stale namespaces gone, $workdir made (capture_begin). Whatever
# happens, these processes, the capture and the namespaces go (by PID).
capture_begin medtap-sample http_pid udp_pid
mkdir -p "$workdir/www"

log "creating namespaces $NS_CLI <-> $NS_SRV"
netns_pair "$NS_CLI" "$IF_CLI" "$MAC_CLI" "$NS_SRV" "$IF_SRV" "$MAC_SRV"
# No automatic fe80:: address (netns_side): keeps the sample free of router
# solicitations; IPv6 uses only the fd77::/64 addresses. ARP and neighbour
# discovery stay dynamic: they are part of the sample.
netns_side "$NS_CLI" "$IF_CLI" "$V4_CLI" "$V6_CLI"
netns_side "$NS_SRV" "$IF_SRV" "$V4_SRV" "$V6_SRV"

# Content served over HTTP: synthetic, contains no patient data.
cat >"$workdir/www/index.html" <<'EOF'
<!DOCTYPE html>
<html><head><title>medtap sample</title></head>
<body><h1>medtap sample capture</h1>
<p>Synthetic test content. Contains no patient data.</p></body></html>
EOF
cat >"$workdir/www/status.json" <<'EOF'
{"device":"sample-infusion-pump","firmware":"0.0.0-test","state":"idle","note":"synthetic test data, no patient data"}
EOF
python3 - "$workdir/www/device-log.txt" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(3200):  # 3200 * 64 bytes = 204800 bytes (200 KiB)
        f.write(f"{i:06d} medtap synthetic device log line, no patient data".ljust(63, ".") + "\n")
PY
[ "$(stat -c %s "$workdir/www/device-log.txt")" -eq 204800 ] || die "device-log.txt has wrong size"

# Servers start before the capture, so no "not yet listening" noise is recorded.
log "starting HTTP server (dual stack, [::]:$HTTP_PORT) and UDP echo server (:$UDP_ECHO_PORT)"
ip netns exec "$NS_SRV" python3 -m http.server "$HTTP_PORT" --bind :: --directory "$workdir/www" \
  >"$workdir/http.log" 2>&1 &
# shellcheck disable=SC2034 # ended at exit (capture_begin)
http_pid=$!
ip netns exec "$NS_SRV" python3 - "$UDP_ECHO_PORT" >"$workdir/udp.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
PY
# shellcheck disable=SC2034 # ended at exit (capture_begin)
udp_pid=$!
netns_wait_listen "$NS_SRV" tcp "$HTTP_PORT"
netns_wait_listen "$NS_SRV" udp "$UDP_ECHO_PORT"

# Link-up chatter: each namespace reports its new IPv6 multicast groups
# (MLD) net.ipv6.mld_qrv times, within a second or two. Waiting for those
# reports (the kernel's own counters) lets the sample start with the traffic
# below. Bounded; if a kernel sends fewer, the sample is still valid (it may
# then begin with an MLD report), so that is a warning, not a failure.
wait_mld_reports() {
  local ns want n=0 _
  want=$(sysctl -n net.ipv6.mld_qrv 2>/dev/null || echo 2)
  for ns in "$NS_CLI" "$NS_SRV"; do
    for _ in $(seq 1 50); do
      # shellcheck disable=SC2016 # an awk program, for awk to expand
      n=$(ip netns exec "$ns" awk '$1 == "Icmp6OutMLDv2Reports" || $1 == "Icmp6OutGroupMembReports" \
        {s += $2} END {print s + 0}' /proc/net/snmp6)
      [ "$n" -ge "$want" ] && break
      sleep 0.1
    done
    [ "$n" -ge "$want" ] || log "warning: $ns sent $n of $want MLD reports within 5 s"
  done
}
wait_mld_reports

# --- capture ----------------------------------------------------------------
cap="$workdir/capture.pcap"
log "starting tcpdump on $IF_SRV in $NS_SRV"
netns_capture_start "$NS_SRV" "$IF_SRV" "$cap"

log "ping IPv4 / IPv6"
do_ping 4 "$V4_SRV"
do_ping 6 "$V6_SRV"

log "HTTP over TCP (4 connections)"
fetch() {  # fetch LOCAL_PORT URL EXPECTED_STATUS
  local lport=$1 url=$2 want=$3 code
  code=$(in_cli curl --noproxy '*' -sS --max-time 10 --local-port "$lport" \
    -o /dev/null -w '%{http_code}' "$url") || true
  [ "$code" = "$want" ] || die "curl $url: got HTTP '$code', expected $want"
  log "  $url -> $code"
}
fetch "$CPORT_HTTP1" "http://$V4_SRV:$HTTP_PORT/" 200
fetch "$CPORT_HTTP2" "http://$V4_SRV:$HTTP_PORT/device-log.txt" 200
fetch "$CPORT_HTTP3" "http://[$V6_SRV]:$HTTP_PORT/status.json" 200
fetch "$CPORT_HTTP4" "http://$V4_SRV:$HTTP_PORT/no-such-file" 404

log "UDP echo (3 datagrams each way) and one datagram to closed port $UDP_CLOSED_PORT"
in_cli timeout 15 python3 - "$V4_SRV" "$UDP_ECHO_PORT" "$UDP_CLOSED_PORT" \
  "$CPORT_UDP_ECHO" "$CPORT_UDP_CLOSED" >&2 <<'PY'
import socket, sys, time
dst, port, closed, lport1, lport2 = sys.argv[1], *map(int, sys.argv[2:6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", lport1))
s.settimeout(2)
for i in range(1, 4):
    msg = b"medtap sample udp datagram %d" % i
    s.sendto(msg, (dst, port))
    data, _ = s.recvfrom(2048)
    assert data == msg, (data, msg)
    time.sleep(0.1)
print("  udp echo: 3/3 echoed")
# Closed port: the kernel answers with ICMP port unreachable.
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.bind(("", lport2))
c.settimeout(2)
c.connect((dst, closed))
c.send(b"medtap sample datagram to a closed port")
try:
    c.recv(2048)
    sys.exit("unexpected answer from closed UDP port")
except ConnectionRefusedError:
    print("  udp closed port: ICMP port unreachable received")
PY

log "TCP connection attempt to closed port $TCP_CLOSED_PORT"
rc=0
in_cli curl --noproxy '*' -sS --max-time 5 --local-port "$CPORT_TCP_CLOSED" -o /dev/null \
  "http://$V4_SRV:$TCP_CLOSED_PORT/" 2>/dev/null || rc=$?
[ "$rc" -eq 7 ] || die "expected curl 'connection refused' (exit 7), got exit $rc"

log "stopping tcpdump"
netns_capture_stop "$cap"
cat "$cap.tcpdump.err" >&2

mkdir -p "$(dirname "$out")"
netns_install_output "$cap" "$out"
log "wrote $out ($(stat -c %s "$out") bytes)"
