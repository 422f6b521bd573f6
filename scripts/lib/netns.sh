# shellcheck shell=bash
# Shared helpers for medtap's capture scripts (make-sample-capture.sh,
# make-dicom-captures.sh, make-hl7-captures.sh, make-mqtt-captures.sh): two
# private network namespaces joined by a veth pair, tcpdump in one of them,
# waits for observable events (a port listening, a packet count, every TCP
# connection closed), each bounded, and a teardown that leaves nothing behind.
#
# Source it (it is not executable), then set, before calling anything here
# (the capture scripts source it through scripts/lib/capture.sh, whose
# capture_init sets them):
#   NETNS_TAG      log prefix, e.g. "make-hl7-captures"
#   NETNS_PREFIX   the script's namespace prefix (e.g. "mt-hl7"); this run's
#                  namespaces are "$NETNS_PREFIX-<pid>-<role>" (netns_name)
#   NETNS_IFACES   array: the script's veth names (removed if one is left in
#                  the root namespace by an interrupted setup)
#
# Namespaces carry the PID of the run that made them, so two runs of one
# script (two worktrees, two CI jobs on one machine) never share or delete
# each other's namespaces: a run deletes its own on exit, and at start only
# those whose run is gone (netns_delete_stale). Every process here belongs to
# the calling script: processes are ended by PID (the ones it started, and
# whatever still lives in one of its namespaces), never by name.

NETNS_TAG=${NETNS_TAG:-capture}
NETNS_PREFIX=${NETNS_PREFIX:-}
NETNS_CAPTURE_PID=""
# The script that sourced this file (recognises a live run by its command line).
NETNS_SCRIPT=$(basename "$0")

log() { printf '[%s] %s\n' "$NETNS_TAG" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# netns_name ROLE: this run's namespace for ROLE, e.g. mt-hl7-4242-cli.
netns_name() {
  [ -n "$NETNS_PREFIX" ] || die "NETNS_PREFIX is not set"
  printf '%s-%s-%s\n' "$NETNS_PREFIX" "$$" "$1"
}

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

# netns_list PREFIX: the namespaces whose name starts with PREFIX.
netns_list() {
  ip netns list 2>/dev/null | awk -v p="$1" 'index($1, p) == 1 {print $1}'
}

# netns_delete NS: ends every process living in NS (SIGTERM, a bounded wait
# (5 s) for them to go, then SIGKILL) and removes NS.
netns_delete() {
  local ns=$1 pid _
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
    sleep 0.1
  done
  for pid in $(ip netns pids "$ns" 2>/dev/null); do
    log "pid $pid in $ns ignored SIGTERM for 5 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
  ip netns del "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
}

# netns_run_alive PID: PID is a live run of this same script.
netns_run_alive() {
  [ "$1" = "$$" ] && return 0
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$NETNS_SCRIPT"
}

# netns_delete_stale: removes the namespaces an earlier, interrupted run of
# this script left behind (its PID no longer runs this script), and any of
# NETNS_IFACES left in the root namespace. A concurrent run's are kept.
netns_delete_stale() {
  local ns pid ifc
  [ -n "$NETNS_PREFIX" ] || die "NETNS_PREFIX is not set"
  for ns in $(netns_list "$NETNS_PREFIX-"); do
    pid=${ns#"$NETNS_PREFIX-"}
    pid=${pid%%-*}
    case $pid in '' | *[!0-9]*) continue ;; esac
    netns_run_alive "$pid" && continue
    log "removing stale namespace $ns (its run, pid $pid, is gone)"
    netns_delete "$ns"
  done
  # netns_pair creates each veth end inside its namespace; one in the root
  # namespace is a leftover (of an older version of these scripts).
  for ifc in "${NETNS_IFACES[@]}"; do
    if ip link show "$ifc" >/dev/null 2>&1; then ip link del "$ifc" 2>/dev/null || true; fi
  done
}

# netns_delete_all: removes this run's namespaces, ending (by PID) any
# process still living in one of them so the namespace really goes.
netns_delete_all() {
  local ns
  [ -n "$NETNS_PREFIX" ] || die "NETNS_PREFIX is not set"
  for ns in $(netns_list "$NETNS_PREFIX-$$-"); do netns_delete "$ns"; done
}

# netns_pair NS_A IF_A MAC_A NS_B IF_B MAC_B: two new namespaces joined by a
# veth pair (IF_A in NS_A, IF_B in NS_B) with fixed MAC addresses.
netns_pair() {
  ip netns add "$1"
  ip netns add "$4"
  ip link add "$2" netns "$1" address "$3" type veth peer name "$5" netns "$4" address "$6"
}

# netns_switch NS BRIDGE MAC: creates namespace NS (IPv6 off, lo up) holding
# the bridge BRIDGE with MAC address MAC: STP and multicast snooping off (it
# forwards every frame at once, to every port), no address and no link-local
# one, offloads off, up. Hosts join it with netns_bridge_host; tcpdump on
# BRIDGE sees every frame of every host.
netns_switch() {
  local sw=$1 br=$2 mac=$3
  ip netns add "$sw"
  netns_no_ipv6 "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add "$br" address "$mac" type bridge stp_state 0 mcast_snooping 0
  ip -n "$sw" link set "$br" addrgenmode none
  netns_disable_offloads "$sw" "$br"
  ip -n "$sw" link set "$br" up
}

# netns_bridge_host NS MAC SWITCH_NS BRIDGE HOST_IF SWITCH_IF: creates namespace
# NS with one veth end HOST_IF (MAC, MTU 1500, IPv6 off, offloads off, no
# link-local address, up) whose peer SWITCH_IF in SWITCH_NS (offloads off, no
# address) is a port of BRIDGE. For the scripts that hang many hosts on one
# bridge (make-identity-captures.sh, make-class-captures.sh).
netns_bridge_host() {
  local hns=$1 mac=$2 sw=$3 br=$4 ifh=$5 ifs=$6
  ip netns add "$hns"
  netns_no_ipv6 "$hns"
  ip link add "$ifh" netns "$hns" address "$mac" type veth peer name "$ifs" netns "$sw"
  ip -n "$hns" link set lo up
  ip -n "$hns" link set "$ifh" addrgenmode none
  ip -n "$hns" link set "$ifh" mtu 1500
  netns_disable_offloads "$hns" "$ifh"
  ip -n "$hns" link set "$ifh" up
  ip -n "$sw" link set "$ifs" addrgenmode none
  netns_disable_offloads "$sw" "$ifs"
  ip -n "$sw" link set "$ifs" master "$br"
  ip -n "$sw" link set "$ifs" up
}

# netns_disable_offloads NS IFNAME: TX checksum offload, TSO, GSO and GRO off
# via the legacy SIOCETHTOOL ioctl (no ethtool binary needed), so that the
# capture holds wire-size segments with correct checksums, like a real NIC
# would. With every offload off, libpcap also sizes its ring slots by the MTU
# instead of 64 KiB (see netns_capture_start).
netns_disable_offloads() {
  ip netns exec "$1" python3 - "$2" <<'PY'
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO = 0x17, 0x1f, 0x24, 0x2c
name = sys.argv[1].encode()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for cmd in (ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO):
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
  # --immediate-mode: every packet is handed over at once, none waits in the
  # kernel ring buffer for a block to fill (libpcap then uses one fixed-size
  # ring slot per packet). -B 32768: a 32 MiB ring instead of 2 MiB: on a
  # loaded 2-core machine tcpdump fell behind a 3 MiB C-STORE burst and the
  # kernel dropped packets (up to 580 of 3367 in the DICOM capture).
  ip netns exec "$ns" tcpdump -i "$ifc" -n -U --immediate-mode -B 32768 -Z root -w "$pcap" 2>"$err" &
  NETNS_CAPTURE_PID=$!
  # tcpdump prints "listening on" once the capture handle is activated: the
  # packet socket is bound to IF and its ring set up (no filter is set, so
  # libpcap flushes nothing afterwards). Every packet from then on is caught.
  for _ in $(seq 1 100); do
    grep -q "listening on" "$err" 2>/dev/null && return 0
    kill -0 "$NETNS_CAPTURE_PID" 2>/dev/null || { cat "$err" >&2; die "tcpdump exited early"; }
    sleep 0.1
  done
  cat "$err" >&2
  die "tcpdump not capturing after 10 s"
}

# netns_tcp_busy: every TCP socket of this run's namespaces that is still in
# the middle of an exchange (any state but LISTEN and TIME-WAIT), one per line
# with its namespace; nothing once every connection has finished its closing
# handshake on both ends.
netns_tcp_busy() {
  local ns
  for ns in $(netns_list "$NETNS_PREFIX-$$-"); do
    ip netns exec "$ns" ss -Htan 2>/dev/null |
      awk -v ns="$ns" '$1 != "LISTEN" && $1 != "TIME-WAIT" {print ns ": " $0}'
  done
}

# netns_capture_counts PCAP: asks tcpdump (SIGUSR1) for its counters and
# prints "CAPTURED RECEIVED DROPPED" from its answer: packets written to PCAP,
# packets the kernel handed to its socket, packets the kernel dropped.
netns_capture_counts() {
  local err=$1.tcpdump.err before _
  # Its SIGUSR1 report is one line "tcpdump: N packets captured, N packets
  # received by filter, N packets dropped by kernel"; the report at exit is
  # three lines without the "tcpdump:" prefix.
  before=$(grep -c '^tcpdump: .* dropped by kernel' "$err" || true)
  kill -USR1 "$NETNS_CAPTURE_PID" 2>/dev/null || die "tcpdump (pid $NETNS_CAPTURE_PID) is gone"
  for _ in $(seq 1 50); do
    [ "$(grep -c '^tcpdump: .* dropped by kernel' "$err" || true)" -gt "$before" ] && break
    sleep 0.1
  done
  grep '^tcpdump: .* dropped by kernel' "$err" | tail -n 1 |
    sed -E 's/^tcpdump: ([0-9]+) packets? captured, ([0-9]+) packets? received by filter, ([0-9]+) packets? dropped by kernel.*/\1 \2 \3/'
}

# netns_capture_settle PCAP: waits (bounded, 20 s) until the capture is
# complete: no TCP connection in this run's namespaces is still exchanging
# packets (every segment and FIN was acknowledged, every close handshake
# done, as each end's socket state shows), and then tcpdump has written
# every packet the kernel handed it. A packet is handed to tcpdump's socket
# before the receiving end's TCP sees it, and when the sending end transmits
# it, so the first condition means every packet of those connections has
# reached the socket.
netns_capture_settle() {
  local pcap=$1 busy="" counts="" got seen dropped _
  for _ in $(seq 1 200); do
    busy=$(netns_tcp_busy)
    if [ -z "$busy" ]; then
      counts=$(netns_capture_counts "$pcap")
      read -r got seen dropped <<<"$counts"
      # Drops: the capture is lost anyway; netns_capture_stop says so.
      if [ -n "$got" ] && { [ "$got" = "$seen" ] || [ "${dropped:-0}" -gt 0 ]; }; then
        return 0
      fi
    fi
    sleep 0.1
  done
  [ -z "$busy" ] || die "$(basename "$pcap"): TCP connections still open after 20 s:"$'\n'"$busy"
  die "$(basename "$pcap"): tcpdump still behind after 20 s (captured, received, dropped: ${counts:-no answer})"
}

# netns_capture_stop PCAP: waits for the capture to be complete
# (netns_capture_settle), stops tcpdump with SIGINT and checks that it wrote
# every packet it saw, dropping none.
netns_capture_stop() {
  local pcap=$1 err=$1.tcpdump.err got seen _
  netns_capture_settle "$pcap"
  kill -INT "$NETNS_CAPTURE_PID"
  for _ in $(seq 1 100); do
    kill -0 "$NETNS_CAPTURE_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$NETNS_CAPTURE_PID" 2>/dev/null && die "tcpdump did not stop within 10 s of SIGINT"
  wait "$NETNS_CAPTURE_PID" || die "tcpdump exited with status $?"
  NETNS_CAPTURE_PID=""
  grep -q "^0 packets dropped by kernel" "$err" || { cat "$err" >&2; die "tcpdump reported kernel drops"; }
  got=$(awk '/^[0-9]+ packets? captured$/ {print $1}' "$err")
  seen=$(awk '/^[0-9]+ packets? received by filter$/ {print $1}' "$err")
  if [ -z "$got" ] || [ "$got" != "$seen" ]; then
    cat "$err" >&2
    die "$(basename "$pcap"): tcpdump wrote $got of $seen packets"
  fi
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
