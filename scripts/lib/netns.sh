# shellcheck shell=bash
# Shared helpers for medtap's capture scripts (make-sample-capture.sh,
# make-dicom-captures.sh, make-hl7-captures.sh, make-mqtt-captures.sh): two
# private network namespaces joined by a veth pair, tcpdump in one of them,
# bounded waits and a teardown that leaves nothing behind.
#
# Source it (it is not executable), then set, before calling anything here:
#   NETNS_TAG      log prefix, e.g. "make-hl7-captures"
#   NETNS_PREFIX   every namespace of the calling script starts with this
#                  (e.g. "mthl7"); netns_delete_all removes all of them
#   NETNS_IFACES   array: the script's veth names (removed if one is left in
#                  the root namespace by an interrupted setup)
#
# Every namespace and process here belongs to the calling script: processes
# are ended by PID (the ones it started, and whatever still lives in one of
# its namespaces), never by name.

NETNS_TAG=${NETNS_TAG:-capture}
NETNS_PREFIX=${NETNS_PREFIX:-}
NETNS_CAPTURE_PID=""

log() { printf '[%s] %s\n' "$NETNS_TAG" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# netns_require_root_tools TOOL...: root, `ip netns`, and every TOOL on PATH.
netns_require_root_tools() {
  local tool
  [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tcpdump)"
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "missing '$tool' (run scripts/install-deps.sh)"
  done
  ip netns list >/dev/null 2>&1 || die "'ip netns' unusable (iproute2 too old or no CAP_SYS_ADMIN)"
}

# stop_pid PID [SIGNAL]: SIGTERM (or SIGNAL), bounded wait (5 s), SIGKILL.
stop_pid() {
  local pid=$1 sig=${2:-TERM} _
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIG$sig for 5 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# netns_stop_all_in NS: ends (by PID) every process still living in NS.
netns_stop_all_in() {
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null); do stop_pid "$pid"; done
}

# netns_delete_all: removes every namespace starting with NETNS_PREFIX, ending
# any process still living in one of them (by PID) so the namespace really
# goes, and any of NETNS_IFACES left in the root namespace.
netns_delete_all() {
  local ns pid ifc
  [ -n "$NETNS_PREFIX" ] || die "NETNS_PREFIX is not set"
  for ns in $(ip netns list 2>/dev/null | awk -v p="$NETNS_PREFIX" 'index($1, p) == 1 {print $1}'); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
  done
  for ifc in "${NETNS_IFACES[@]}"; do
    if ip link show "$ifc" >/dev/null 2>&1; then ip link del "$ifc" 2>/dev/null || true; fi
  done
}

# netns_pair NS_A IF_A MAC_A NS_B IF_B MAC_B: two new namespaces joined by a
# veth pair (IF_A in NS_A, IF_B in NS_B) with fixed MAC addresses.
netns_pair() {
  ip netns add "$1"
  ip netns add "$4"
  ip link add "$2" netns "$1" address "$3" type veth peer name "$5" netns "$4" address "$6"
}

# netns_disable_offloads NS IFNAME: TX checksum offload, TSO and GSO off via
# the legacy SIOCETHTOOL ioctl (no ethtool binary needed), so that the capture
# holds wire-size segments with correct checksums, like a real NIC would.
netns_disable_offloads() {
  ip netns exec "$1" python3 - "$2" <<'PY'
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO = 0x17, 0x1f, 0x24
name = sys.argv[1].encode()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for cmd in (ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO):
    val = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
    ifr = struct.pack("16sP", name, ctypes.addressof(val)) + b"\0" * 16
    try:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
    except OSError as e:
        print(f"warning: ethtool cmd {cmd:#x} on {sys.argv[1]}: {e}", file=sys.stderr)
PY
}

# netns_no_ipv6 NS: IPv6 off in NS (the captures then hold IPv4 only).
netns_no_ipv6() {
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
}

# netns_side NS IF IPV4 [IPV6]: lo up, no automatic link-local address, MTU
# 1500, offloads off, IPV4/24 (and IPV6/64 without DAD), link up.
netns_side() {
  local ns=$1 ifc=$2 v4=$3 v6=${4:-}
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "$ifc" addrgenmode none
  ip -n "$ns" link set "$ifc" mtu 1500
  netns_disable_offloads "$ns" "$ifc"
  ip -n "$ns" addr add "$v4/24" dev "$ifc"
  if [ -n "$v6" ]; then ip -n "$ns" addr add "$v6/64" dev "$ifc" nodad; fi
  ip -n "$ns" link set "$ifc" up
}

# netns_static_neigh NS IF PEER_IP PEER_MAC: no ARP in the captures.
netns_static_neigh() {
  ip -n "$1" neigh replace "$3" lladdr "$4" dev "$2" nud permanent
}

# netns_ipv4_pair NS_A IF_A MAC_A IP_A NS_B IF_B MAC_B IP_B: netns_pair, then
# on each side IPv6 off, the IPv4 address, and the peer as a static
# neighbour: IPv4-only captures without ARP, whatever the timing.
netns_ipv4_pair() {
  netns_pair "$1" "$2" "$3" "$5" "$6" "$7"
  netns_no_ipv6 "$1"
  netns_no_ipv6 "$5"
  netns_side "$1" "$2" "$4"
  netns_side "$5" "$6" "$8"
  netns_static_neigh "$1" "$2" "$8" "$7"
  netns_static_neigh "$5" "$6" "$4" "$3"
}

# netns_src_port NS PORT: the next outgoing TCP connection (or unbound UDP
# socket) from NS uses source port PORT.
netns_src_port() {
  ip netns exec "$1" sysctl -qw net.ipv4.ip_local_port_range="$2 $2"
}

# netns_wait_listen NS tcp|udp PORT: bounded (10 s) wait for a listener.
netns_wait_listen() {
  local ns=$1 proto=$2 port=$3 flags=-Hltn _
  [ "$proto" = udp ] && flags=-Hlun
  for _ in $(seq 1 100); do
    ip netns exec "$ns" ss "$flags" "sport = :$port" | grep -q . && return 0
    sleep 0.1
  done
  die "$proto port $port never started listening in $ns"
}

# netns_capture_start NS IF PCAP: tcpdump on IF in NS writing PCAP (stderr to
# PCAP.tcpdump.err); returns once it is capturing. Sets NETNS_CAPTURE_PID.
netns_capture_start() {
  local ns=$1 ifc=$2 pcap=$3 err=$3.tcpdump.err _
  # -Z root: keep writing to our root-owned temp dir after dropping privileges.
  # --immediate-mode: every packet is handed over at once, none is left in
  # the kernel ring buffer when tcpdump is stopped.
  ip netns exec "$ns" tcpdump -i "$ifc" -n -U --immediate-mode -Z root -w "$pcap" 2>"$err" &
  NETNS_CAPTURE_PID=$!
  for _ in $(seq 1 100); do
    grep -q "listening on" "$err" 2>/dev/null && break
    kill -0 "$NETNS_CAPTURE_PID" 2>/dev/null || { cat "$err" >&2; die "tcpdump exited early"; }
    sleep 0.1
  done
  grep -q "listening on" "$err" || { cat "$err" >&2; die "tcpdump not capturing after 10 s"; }
  sleep 0.3
}

# netns_capture_stop PCAP: lets the last FIN/ACKs arrive (1 s), stops tcpdump
# with SIGINT and checks that it wrote every packet it saw, dropping none.
netns_capture_stop() {
  local pcap=$1 err=$1.tcpdump.err got seen _
  sleep 1
  kill -INT "$NETNS_CAPTURE_PID"
  for _ in $(seq 1 100); do
    kill -0 "$NETNS_CAPTURE_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$NETNS_CAPTURE_PID" 2>/dev/null && die "tcpdump did not stop within 10 s of SIGINT"
  wait "$NETNS_CAPTURE_PID" || die "tcpdump exited with status $?"
  NETNS_CAPTURE_PID=""
  grep -q "^0 packets dropped by kernel" "$err" || { cat "$err" >&2; die "tcpdump reported kernel drops"; }
  got=$(awk '/packets captured/ {print $1}' "$err")
  seen=$(awk '/packets received by filter/ {print $1}' "$err")
  [ "$got" = "$seen" ] || { cat "$err" >&2; die "$(basename "$pcap"): tcpdump wrote $got of $seen packets"; }
  [ -s "$pcap" ] || die "capture $(basename "$pcap") is empty"
}

# netns_teardown: for the caller's EXIT trap: stops tcpdump (SIGINT) if still
# running, then removes the namespaces (ending what lives in them).
netns_teardown() {
  if [ -n "$NETNS_CAPTURE_PID" ]; then stop_pid "$NETNS_CAPTURE_PID" INT; NETNS_CAPTURE_PID=""; fi
  netns_delete_all
}

# netns_exit_cleanup RC WORKDIR PID...: the body of a capture script's EXIT
# trap: ends the given processes, the capture and the namespaces, removes
# WORKDIR (kept when MEDTAP_KEEP_WORKDIR=1, for debugging) and exits with RC.
netns_exit_cleanup() {
  local rc=$1 dir=$2 pid
  shift 2
  set +e
  for pid in "$@"; do stop_pid "$pid"; done
  netns_teardown
  if [ -n "$dir" ]; then
    if [ "${MEDTAP_KEEP_WORKDIR:-0}" = 1 ]; then log "kept $dir"; else rm -rf "$dir"; fi
  fi
  if [ "$rc" -ne 0 ]; then log "failed (exit $rc); namespaces removed"; fi
  exit "$rc"
}

# netns_install_output SRC DEST: copies SRC to DEST (mode 0644) atomically:
# DEST is replaced only once its new version is complete.
netns_install_output() {
  install -m 0644 "$1" "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
}
