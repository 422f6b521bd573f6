#!/usr/bin/env bash
# Makes medtap's remote-access test capture (tests/data/remote/remote.pcap):
# real remote-maintenance and TLS sessions between two network namespaces,
# each on its standard port AND on a port that is not its own, so that a
# detector which trusts ports fails. Every byte comes from real third-party
# software:
#   - OpenSSH's ssh client -> dropbear (22 and 2222): banners, key exchange,
#     login refused;
#   - inetutils telnet -> busybox telnetd (23 and 2323): option negotiation,
#     a one-line "login" program, close;
#   - vncsnapshot (TightVNC based) -> TigerVNC's Xvnc (5900 and 15900): RFB
#     handshake, security type None, one framebuffer update;
#   - rdesktop -> xrdp (3389 and 13389): X.224 Connection Request with
#     cookie and RDP_NEG_REQ, TLS, MCS connect; rdesktop 1.9 and xrdp 0.9
#     then disagree on the channel join and rdesktop gives up (status 76),
#     after the part of RDP medtap reads;
#   - openssl s_client -> openssl s_server: TLS on 9443 and 443 (generic
#     TLS), on 2762 (DICOM TLS) and 8883 (MQTT TLS), and on 7070 with the
#     ALPN "anydesk/6.2.0/linux" (an OpenSSL ClientHello carrying AnyDesk's
#     ALPN: AnyDesk itself is proprietary and not installable here);
#   - curl -> python3 http.server on 5938 (TeamViewer's port): plain HTTP,
#     which must stay unlabelled. TeamViewer and real AnyDesk sessions are
#     not in the capture (neither is installable); their probes are tested
#     on byte arrays only (src/proto/remote/tests.rs).
# Next to the capture it writes README.md (what each connection is, the
# software versions).
#
# Usage (as root, Debian 12):   scripts/make-remote-captures.sh [OUTDIR]
# Default OUTDIR: tests/data/remote relative to the repository root.
#
# Topology: namespaces mt-remote-<pid>-srv (10.84.0.1, every server) and
# mt-remote-<pid>-cli (10.84.0.2, every client) joined by a veth pair
# (mtrs0/mtrc0: MTU 1500, offloads off, IPv6 off, static neighbours).
# tcpdump captures on the server's end. Nothing leaves the machine: both
# addresses are these namespaces'. rdesktop's X display is an Xvnc of its
# own in the client namespace, bound to that namespace's loopback (its
# traffic never crosses the veth). Every client connection has a fixed
# source port (PORTS), so the capture's conversations are the same on
# every run.
#
# Idempotent: stale namespaces from an earlier (failed) run are removed
# first; everything is torn down again on exit, also on failure (processes
# by PID, see scripts/lib/netns.sh). The capture is replaced only once its
# new version is complete. Before keeping it, the script checks with tshark
# that each connection shows its protocol. The namespace, capture and
# teardown helpers are in scripts/lib/netns.sh, the run's setup in
# scripts/lib/capture.sh.
#
# Needs: openssh-client, dropbear-bin, inetutils-telnet, busybox-static,
# tigervnc-standalone-server, vncsnapshot, rdesktop, xrdp, openssl, curl,
# python3, tcpdump, tshark, iproute2 (scripts/install-deps.sh).
set -euo pipefail

readonly SRV=10.84.0.1 CLI=10.84.0.2
readonly IF_SRV=mtrs0 IF_CLI=mtrc0
readonly MAC_SRV=02:00:00:84:00:01 MAC_CLI=02:00:00:84:00:02
# Bound (seconds) on every client run and every wait.
readonly T_TOOL=30

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/capture.sh
. "$repo_root/scripts/lib/capture.sh"
capture_init mt-remote "$IF_SRV" "$IF_CLI"
outdir=$(capture_outdir "${1:-}" "$repo_root/tests/data/remote")

# Connections: name|client source port|server port|what.
readonly CONNS=(
  "ssh|43101|22|OpenSSH ssh -> dropbear: banners, key exchange, login refused"
  "ssh-odd|43102|2222|OpenSSH ssh -> dropbear on 2222: the same"
  "telnet|43201|23|inetutils telnet -> busybox telnetd: negotiation, one line, close"
  "telnet-odd|43202|2323|inetutils telnet -> busybox telnetd on 2323: the same"
  "vnc|43301|5900|vncsnapshot -> TigerVNC Xvnc: RFB 3.x handshake, security None, one update"
  "vnc-odd|43302|15900|vncsnapshot -> a second Xvnc on 15900: the same"
  "rdp|43401|3389|rdesktop -> xrdp: X.224 CR (cookie, RDP_NEG_REQ), TLS, MCS; channel join fails"
  "rdp-odd|43402|13389|rdesktop -> xrdp on 13389: the same"
  "tls-odd|43501|9443|openssl s_client -> s_server on 9443: TLS handshake, close"
  "tls|43502|443|openssl s_client -> s_server on 443: the same"
  "dicom-tls|43503|2762|openssl s_client -> s_server on 2762 (DICOM TLS port)"
  "mqtt-tls|43504|8883|openssl s_client -> s_server on 8883 (MQTT TLS port)"
  "anydesk-alpn|43505|7070|openssl s_client -alpn anydesk/6.2.0/linux -> s_server on 7070"
  "http|43601|5938|curl -> python3 http.server on 5938 (TeamViewer's port): plain HTTP"
)
declare -A SPORT=() DPORT=()
for c in "${CONNS[@]}"; do
  IFS='|' read -r name sport dport _ <<<"$c"
  SPORT[$name]=$sport DPORT[$name]=$dport
done
readonly SPORT DPORT

netns_require_root_tools tcpdump tshark python3 ip ss timeout ssh dropbear dropbearkey telnet \
  busybox Xvnc vncsnapshot rdesktop xrdp openssl curl dpkg-query
busybox telnetd --help >/dev/null 2>&1 ||
  die "this busybox has no telnetd applet (install busybox-static: scripts/install-deps.sh)"

# X displays: private numbers per run (lock files and sockets in /tmp are
# shared by every namespace).
disp_base=$((200 + ($$ % 600) * 3))

# --- setup ----------------------------------------------------------------------
# Traps, stale namespaces gone, $workdir made (capture_begin); everything is
# torn down at exit.
capture_begin medtap-remote
mkdir -p "$workdir/home"

NS_SRV=$(netns_name srv)
NS_CLI=$(netns_name cli)
readonly NS_SRV NS_CLI
log "creating namespaces $NS_SRV ($SRV) and $NS_CLI ($CLI)"
netns_ipv4_pair "$NS_SRV" "$IF_SRV" "$MAC_SRV" "$SRV" "$NS_CLI" "$IF_CLI" "$MAC_CLI" "$CLI"

# bg NS NAME CMD...: a server in NS, in the background, output to
# $workdir/NAME.log. Ended (by PID, with everything in the namespace) at
# teardown.
bg() {
  local ns=$1 name=$2
  shift 2
  printf '+ [%s] %s &\n' "$ns" "$*" >>"$workdir/commands.log"
  ip netns exec "$ns" "$@" >"$workdir/$name.log" 2>&1 &
  bg_pid=$!
}

# client NAME RC_OK CMD...: a client in the client namespace, its next
# connection from SPORT[NAME], bounded (T_TOOL), standard input passed on,
# output to $workdir/NAME.log; dies unless it exits with one of RC_OK
# (comma-separated).
client() {
  local name=$1 ok=$2 rc=0
  shift 2
  netns_src_port "$NS_CLI" "${SPORT[$name]}"
  printf '+ [cli] %s\n' "$*" >>"$workdir/commands.log"
  timeout "$T_TOOL" ip netns exec "$NS_CLI" env HOME="$workdir/home" "$@" \
    >"$workdir/$name.log" 2>&1 || rc=$?
  case ",$ok," in
    *",$rc,"*) ;;
    *)
      tail -n 30 "$workdir/$name.log" >&2
      die "$name: '$1' exited with status $rc (expected $ok)"
      ;;
  esac
}

# expect_log NAME REGEX: the client's log says what it should.
expect_log() {
  grep -qE -- "$2" "$workdir/$1.log" || {
    tail -n 30 "$workdir/$1.log" >&2
    die "$1: no line '$2' in its log"
  }
}

# wait_gone PID WHAT: bounded wait for a one-shot server to exit.
wait_gone() { capture_wait_gone "$1" "$2" "$T_TOOL"; }

# --- servers ----------------------------------------------------------------------
log "starting dropbear (22, 2222), busybox telnetd (23, 2323), Xvnc (5900, 15900), http.server (5938)"
capture_dropbear_key "$workdir/host_ed25519"
for p in 22 2222; do
  # -s: no password logins, so a client without keys is refused after the
  # key exchange.
  bg "$NS_SRV" "dropbear-$p" dropbear -F -E -s -j -k -p "$SRV:$p" -r "$workdir/host_ed25519" \
    -P "$workdir/dropbear-$p.pid"
done
printf 'medtap remote-access test capture\n' >"$workdir/issue"
printf '#!/bin/sh\necho "no login here"\n' >"$workdir/login.sh"
chmod 0755 "$workdir/login.sh"
for p in 23 2323; do
  bg "$NS_SRV" "telnetd-$p" busybox telnetd -F -b "$SRV:$p" -f "$workdir/issue" -l "$workdir/login.sh"
done
d=$disp_base
for p in 5900 15900; do
  rm -f "/tmp/.X$d-lock" "/tmp/.X11-unix/X$d"
  bg "$NS_SRV" "xvnc-$p" Xvnc ":$d" -rfbport "$p" -interface "$SRV" -SecurityTypes None \
    -geometry 64x48 -depth 16 -nolisten tcp -desktop medtap-test
  d=$((d + 1))
done
mkdir -p "$workdir/www"
printf 'medtap test page\n' >"$workdir/www/index.html"
bg "$NS_SRV" http python3 -m http.server 5938 --bind "$SRV" --directory "$workdir/www"
for p in 22 2222 23 2323 5900 15900 5938; do netns_wait_listen "$NS_SRV" tcp "$p"; done

# rdesktop's display: an Xvnc in the client namespace, on its loopback only.
rdesktop_display=:$d
rm -f "/tmp/.X$d-lock" "/tmp/.X11-unix/X$d"
bg "$NS_CLI" xvnc-display Xvnc "$rdesktop_display" -rfbport 5999 -localhost -SecurityTypes None \
  -geometry 1024x768 -depth 16 -nolisten tcp
netns_wait_listen "$NS_CLI" tcp 5999

# A self-signed certificate for s_server and xrdp (EC P-256: quick to make).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=medtap-remote-test" -keyout "$workdir/key.pem" -out "$workdir/cert.pem" \
  >"$workdir/openssl-req.log" 2>&1 || die "openssl req failed"
# xrdp: its own configuration (no fork, no syslog, this run's certificate
# and log), one instance per port, one after the other.
cat >"$workdir/xrdp.ini" <<EOF
[Globals]
ini_version=1
fork=false
port=3389
security_layer=negotiate
crypt_level=high
certificate=$workdir/cert.pem
key_file=$workdir/key.pem
ssl_protocols=TLSv1.2, TLSv1.3
max_bpp=16
allow_channels=false
[Logging]
LogFile=$workdir/xrdp.log
LogLevel=INFO
EnableSyslog=false
[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
ip=127.0.0.1
port=-1
code=20
EOF

# --- capture and clients ---------------------------------------------------------
pcap=$workdir/remote.pcap
log "capturing on $IF_SRV"
netns_capture_start "$NS_SRV" "$IF_SRV" "$pcap"

log "ssh to dropbear on 22 and 2222 (login refused)"
for name in ssh ssh-odd; do
  client "$name" 255 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no -o GSSAPIAuthentication=no \
    -o ConnectTimeout=10 -p "${DPORT[$name]}" "admin@$SRV" true
  expect_log "$name" "Permission denied"
done

log "telnet to busybox telnetd on 23 and 2323"
for name in telnet telnet-odd; do
  # Standard input stays open 2 s: telnet would quit at its end.
  sleep 2 | client "$name" 0,1 telnet "$SRV" "${DPORT[$name]}"
  expect_log "$name" "no login here"
done

log "vncsnapshot of Xvnc on 5900 and 15900"
for name in vnc vnc-odd; do
  client "$name" 0 vncsnapshot -allowblank -encodings raw -nojpeg -quiet \
    "$SRV::${DPORT[$name]}" "$workdir/$name.jpg"
  [ -s "$workdir/$name.jpg" ] || die "$name: no snapshot"
done

log "rdesktop to xrdp on 3389 and 13389"
for name in rdp rdp-odd; do
  p=${DPORT[$name]}
  bg "$NS_SRV" "xrdp-$p" xrdp -n -c "$workdir/xrdp.ini" -p "$p"
  xrdp_pid=$bg_pid
  netns_wait_listen "$NS_SRV" tcp "$p"
  # "yes": trust xrdp's self-signed certificate. rdesktop 1.9 then stops
  # at the MCS channel join (status 76), after TLS is up.
  echo yes | client "$name" 0,76 env DISPLAY="$rdesktop_display" rdesktop -u test -p x \
    -g 640x480 "$SRV:$p"
  expect_log "$name" "Connection established using SSL"
  netns_capture_settle "$pcap"
  stop_pid "$xrdp_pid"
done

log "openssl s_client to s_server on 9443, 443, 2762, 8883 and 7070 (AnyDesk's ALPN)"
for name in tls-odd tls dicom-tls mqtt-tls anydesk-alpn; do
  p=${DPORT[$name]}
  bg "$NS_SRV" "s_server-$p" openssl s_server -accept "$SRV:$p" -naccept 1 \
    -cert "$workdir/cert.pem" -key "$workdir/key.pem" -quiet
  server_pid=$bg_pid
  netns_wait_listen "$NS_SRV" tcp "$p"
  alpn=()
  [ "$name" = anydesk-alpn ] && alpn=(-alpn anydesk/6.2.0/linux)
  client "$name" 0 openssl s_client -connect "$SRV:$p" -noservername "${alpn[@]}" </dev/null
  expect_log "$name" "^(New|Protocol).*TLS"
  wait_gone "$server_pid" "s_server on $p"
done

log "curl to http.server on 5938"
client http 0 curl -sS -f -o /dev/null -w '%{http_code}\n' "http://$SRV:5938/"
expect_log http '^200$'

log "waiting for every TCP connection to close, then stopping the capture"
netns_capture_stop "$pcap"

# --- check with tshark ------------------------------------------------------------
# Each connection (by client port) must show its protocol's own fields.
log "checking the capture with tshark"
tshark_fields() {
  LC_ALL=C tshark -n -r "$pcap" -d tcp.port==2222,ssh -d tcp.port==2323,telnet \
    -d tcp.port==15900,vnc -d tcp.port==13389,tpkt -d tcp.port==9443,tls -d tcp.port==2762,tls \
    -d tcp.port==8883,tls -d tcp.port==7070,tls -d tcp.port==5938,http -Y "$1" -T fields \
    -e tcp.srcport -e tcp.dstport 2>/dev/null | sort -u
}
# check NAME FILTER...: each FILTER matches some frame of NAME's connection.
check() {
  local name=$1 filter got
  shift
  for filter in "$@"; do
    got=$(tshark_fields "tcp.port==${SPORT[$name]} && ($filter)")
    [ -n "$got" ] || die "$name: tshark finds no frame with $filter on client port ${SPORT[$name]}"
  done
}
for name in ssh ssh-odd; do check "$name" ssh.protocol; done
for name in telnet telnet-odd; do check "$name" telnet.cmd; done
for name in vnc vnc-odd; do check "$name" vnc.server_proto_ver vnc.client_proto_ver; done
for name in rdp rdp-odd; do check "$name" "rdp.rt_cookie && rdp.neg_type"; done
for name in tls-odd tls dicom-tls mqtt-tls; do check "$name" "tls.handshake.type == 1"; done
check anydesk-alpn 'tls.handshake.extensions_alpn_str == "anydesk/6.2.0/linux"'
check http 'http.request.method == "GET"'
streams=$(LC_ALL=C tshark -n -r "$pcap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0" -T fields \
  -e tcp.stream 2>/dev/null | sort -u | wc -l)
[ "$streams" -eq ${#CONNS[@]} ] || die "the capture holds $streams TCP connections, expected ${#CONNS[@]}"

# --- output -----------------------------------------------------------------------
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
mkdir -p "$outdir"
{
  cat <<EOF
# Remote-access test capture

\`remote.pcap\` is made by \`scripts/make-remote-captures.sh\` (as root): two
network namespaces, servers on 10.84.0.1, clients on 10.84.0.2, every
connection from a fixed client port. Each protocol runs on its standard
port and on one that is not its own: medtap must recognise it by content.
tshark is the ground truth (tests/it/remote_access.rs decodes the odd ports
with \`-d\` and checks each connection's own fields).

| connection | client port | server port | what |
|---|---|---|---|
EOF
  for c in "${CONNS[@]}"; do
    IFS='|' read -r name sport dport what <<<"$c"
    printf '| %s | %s | %s | %s |\n' "$name" "$sport" "$dport" "$what"
  done
  cat <<EOF

Software (Debian 12): OpenSSH client $(ver openssh-client), dropbear
$(ver dropbear-bin), inetutils telnet $(ver inetutils-telnet), busybox telnetd
$(ver busybox-static), TigerVNC Xvnc $(ver tigervnc-standalone-server),
vncsnapshot $(ver vncsnapshot), rdesktop $(ver rdesktop), xrdp $(ver xrdp),
OpenSSL $(ver openssl), curl $(ver curl), tcpdump $(ver tcpdump).

Not in the capture: TeamViewer and AnyDesk themselves (proprietary, not
installable here). The \`anydesk-alpn\` connection is OpenSSL sending the
ALPN AnyDesk sends ("anydesk/6.2.0/linux"), which is what medtap's AnyDesk
probe reads; it is not an AnyDesk session.
EOF
} >"$workdir/README.md"
netns_install_output "$pcap" "$outdir/remote.pcap"
netns_install_output "$workdir/README.md" "$outdir/README.md"
log "wrote $outdir/remote.pcap ($(stat -c %s "$outdir/remote.pcap") bytes, ${#CONNS[@]} connections) in $(($(date +%s) - start_s)) s"
