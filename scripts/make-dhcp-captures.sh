#!/usr/bin/env bash
# Makes medtap's DHCP test captures (tests/data/dhcp/*.pcap) from REAL DHCP
# traffic: ISC dhclient (the client, as Debian ships it) gets a lease from
# dnsmasq (the server, its own command line, started inside the server
# namespace; no system service is used or touched), then releases it, and
# tcpdump records it. Next to every capture it writes the tshark ground
# truth <name>.pcap.tshark.tsv (v4.pcap: the columns of
# shared/corpus/public/dhcp/*.tshark.tsv; v6.pcap: DHCPv6 columns).
#
# Usage (as root, Debian 12):   scripts/make-dhcp-captures.sh [OUTDIR]
#         (any user, tshark):   scripts/make-dhcp-captures.sh --tsv-only [OUTDIR]
# Default OUTDIR: tests/data/dhcp relative to the repository root.
#
# Two private network namespaces joined by a veth pair; nothing leaves the
# machine:
#
#   mt-dhcp-<pid>-cli  mtdhcp0  02:00:00:90:00:07  no IPv4 (dhclient asks), fe80::7   dhclient
#   mt-dhcp-<pid>-srv  mtdhcp1  02:00:00:90:00:01  10.90.0.1/24, fd90::1/64, fe80::1 dnsmasq, tcpdump
#
# v4.pcap: dhclient -4 with a host name (pump-07), vendor class
#   (BBraun SpaceStation), client FQDN (pump-07.ward3.hosp, wire format),
#   user class (ICU) and a parameter request list: DISCOVER, OFFER, REQUEST,
#   ACK (10.90.0.100, lease 3600 s, router, DNS server, domain ward3.hosp),
#   then `dhclient -r`: RELEASE. ARP may appear around them.
# v6.pcap: dhclient -6 with a client FQDN: SOLICIT, ADVERTISE, REQUEST,
#   REPLY (IA_NA fd90::100), then `dhclient -6 -r`: RELEASE, REPLY; MLD
#   reports may appear around them, and an ICMPv6 port unreachable when
#   dhclient has exited before the last REPLY (not in the TSV: the rows are
#   the DHCP datagrams themselves, not copies quoted in ICMP errors).
#
# Each step waits for an observable event (dnsmasq listening, dhclient's
# exit after binding, every DHCP frame of the exchange in the capture),
# bounded by timeouts; tcpdump's own counters say every packet was written.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TSV_ONLY=0
if [ "${1:-}" = --tsv-only ]; then
  TSV_ONLY=1
  shift
fi
OUT=${1:-$ROOT/tests/data/dhcp}

NETNS_TAG=make-dhcp-captures
NETNS_PREFIX=mt-dhcp
NETNS_IFACES=(mtdhcp0 mtdhcp1)
# shellcheck source=scripts/lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"

V4_COLUMNS=(frame.number eth.src ip.src ip.dst udp.srcport udp.dstport dhcp.type
  dhcp.option.dhcp dhcp.id dhcp.hw.mac_addr dhcp.ip.client dhcp.ip.your
  dhcp.option.requested_ip_address dhcp.option.dhcp_server_id dhcp.option.hostname
  dhcp.option.vendor_class_id dhcp.fqdn.name dhcp.option.domain_name
  dhcp.option.dhcp_max_message_size dhcp.option.type dhcp.option.request_list_item
  malformed _ws.col.Info)
V6_COLUMNS=(frame.number eth.src ipv6.src ipv6.dst udp.srcport udp.dstport
  dhcpv6.msgtype dhcpv6.xid dhcpv6.option.type dhcpv6.duid.bytes
  dhcpv6.requested_option_code dhcpv6.client_domain dhcpv6.vendorclass.enterprise
  dhcpv6.vendorclass.data dhcpv6.iaaddr.ip malformed _ws.col.Info)

# write_tsv PCAP: PCAP.tshark.tsv, one row per DHCP (v4.pcap) or DHCPv6
# (v6.pcap) frame, fields repeated in a frame joined with " | ".
write_tsv() {
  local pcap=$1 filter cols tmp
  # Not the copies quoted in ICMP errors: dhclient may exit before the
  # server's last answer arrives, and the kernel's port unreachable quotes it.
  if [ "$(basename "$pcap")" = v6.pcap ]; then
    filter='dhcpv6 && !icmpv6'
    cols=("${V6_COLUMNS[@]}")
  else
    filter='dhcp && !icmp'
    cols=("${V4_COLUMNS[@]}")
  fi
  local args=() c
  for c in "${cols[@]}"; do
    if [ "$c" = malformed ]; then args+=(-e _ws.malformed); else args+=(-e "$c"); fi
  done
  tmp=$(mktemp "$pcap.tsv.XXXXXX")
  # Repeated fields are joined with a unit separator (tshark takes one
  # character), then with " | " as in the corpus TSVs; _ws.malformed is
  # "malformed" in the header and "yes" when set.
  LC_ALL=C tshark -n -r "$pcap" -Y "$filter" -T fields -E header=y -E separator=/t \
    -E occurrence=a -E aggregator=$'\x1f' "${args[@]}" |
    sed -e $'s/\x1f/ | /g' -e '1s/_ws\.malformed/malformed/' \
      -e '2,$s/\t_ws\.malformed\t/\tyes\t/' >"$tmp" || { rm -f "$tmp"; die "tshark failed on $pcap"; }
  chmod 0644 "$tmp"
  mv -f "$tmp" "$pcap.tshark.tsv"
}

if [ "$TSV_ONLY" = 1 ]; then
  command -v tshark >/dev/null 2>&1 || die "missing 'tshark'"
  for p in "$OUT"/v4.pcap "$OUT"/v6.pcap; do
    write_tsv "$p"
    log "wrote $p.tshark.tsv"
  done
  exit 0
fi

netns_require_root_tools ip ss tcpdump tshark dnsmasq dhclient timeout python3
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/make-dhcp-captures.XXXXXX)
DNSMASQ_PID=""
trap 'netns_exit_cleanup $? "$WORK" $DNSMASQ_PID' EXIT
netns_delete_stale

CLI=$(netns_name cli)
SRV=$(netns_name srv)
netns_pair "$CLI" mtdhcp0 02:00:00:90:00:07 "$SRV" mtdhcp1 02:00:00:90:00:01
for ns in "$CLI" "$SRV"; do
  ip -n "$ns" link set lo up
  # No router solicitations or autoconfigured addresses: only what this
  # script sets, so the captures hold DHCP and little else.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.router_solicitations=0
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_ra=0
done
ip -n "$CLI" link set mtdhcp0 addrgenmode none
ip -n "$SRV" link set mtdhcp1 addrgenmode none
netns_disable_offloads "$CLI" mtdhcp0
netns_disable_offloads "$SRV" mtdhcp1
ip -n "$CLI" addr add fe80::7/64 dev mtdhcp0 nodad
ip -n "$SRV" addr add 10.90.0.1/24 dev mtdhcp1
ip -n "$SRV" addr add fd90::1/64 dev mtdhcp1 nodad
ip -n "$SRV" addr add fe80::1/64 dev mtdhcp1 nodad
ip -n "$CLI" link set mtdhcp0 up
ip -n "$SRV" link set mtdhcp1 up

# dnsmasq: DHCP only (port 0: no DNS), one address per family, no ping
# check before an offer (it would add ICMP to the capture).
ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --user=root \
  --interface=mtdhcp1 --bind-interfaces --dhcp-authoritative --no-ping \
  --dhcp-range=10.90.0.100,10.90.0.100,255.255.255.0,1h \
  --dhcp-range=fd90::100,fd90::100,64,1h \
  --dhcp-option=option:router,10.90.0.1 --dhcp-option=option:dns-server,10.90.0.1 \
  --dhcp-option=option:domain-name,ward3.hosp \
  --dhcp-leasefile="$WORK/dnsmasq.leases" --log-dhcp --log-facility="$WORK/dnsmasq.log" \
  2>"$WORK/dnsmasq.err" &
DNSMASQ_PID=$!
netns_wait_listen "$SRV" udp 67
netns_wait_listen "$SRV" udp 547

# The client's script: binds the IPv4 lease to the interface (so that
# `dhclient -r` can unicast its RELEASE), nothing else; DHCPv6 needs no
# address for its multicast RELEASE.
cat >"$WORK/dhclient-script" <<'SH'
#!/bin/sh
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) [ -n "$new_ip_address" ] && ip addr replace "$new_ip_address/24" dev "$interface" ;;
  RELEASE|EXPIRE|STOP) [ -n "$old_ip_address" ] && ip addr del "$old_ip_address/24" dev "$interface" ;;
esac
exit 0
SH
chmod 0755 "$WORK/dhclient-script"

cat >"$WORK/dhclient4.conf" <<'CONF'
send host-name "pump-07";
send vendor-class-identifier "BBraun SpaceStation";
send user-class "ICU";
send fqdn.fqdn "pump-07.ward3.hosp.";
send fqdn.encoded on;
send fqdn.server-update off;
request subnet-mask, broadcast-address, time-offset, routers, domain-name,
  domain-name-servers, host-name, ntp-servers, interface-mtu;
CONF
cat >"$WORK/dhclient6.conf" <<'CONF'
send fqdn.fqdn "pump-07.ward3.hosp.";
send fqdn.server-update off;
also request dhcp6.fqdn;
CONF

# wait_frames PCAP FILTER N: bounded (10 s) wait until tcpdump has written
# N frames matching FILTER (tcpdump -U writes each packet as it comes).
wait_frames() {
  local n=0 _
  for _ in $(seq 1 100); do
    n=$(tshark -n -r "$1" -Y "$2" 2>/dev/null | wc -l)
    [ "$n" -ge "$3" ] && return 0
    sleep 0.1
  done
  cat "$WORK/dnsmasq.log" >&2 || true
  die "$(basename "$1"): $n of $3 '$2' frames after 10 s"
}

# run_client FAMILY: one lease (dhclient -1 exits with an error if none
# comes), then its release.
run_client() {
  local fam=$1 args
  args=(-"$fam" -cf "$WORK/dhclient$fam.conf" -lf "$WORK/dhclient$fam.leases"
    -pf "$WORK/dhclient$fam.pid" -sf "$WORK/dhclient-script")
  timeout 30 ip netns exec "$CLI" dhclient -1 -v "${args[@]}" mtdhcp0 2>>"$WORK/dhclient.log" ||
    { cat "$WORK/dhclient.log" >&2; die "dhclient -$fam got no lease"; }
  timeout 30 ip netns exec "$CLI" dhclient -r -v "${args[@]}" mtdhcp0 2>>"$WORK/dhclient.log" ||
    { cat "$WORK/dhclient.log" >&2; die "dhclient -$fam -r failed"; }
}

netns_capture_start "$SRV" mtdhcp1 "$WORK/v4.pcap"
run_client 4
# DISCOVER, OFFER, REQUEST, ACK, RELEASE.
wait_frames "$WORK/v4.pcap" 'dhcp && !icmp' 5
netns_capture_stop "$WORK/v4.pcap"

netns_capture_start "$SRV" mtdhcp1 "$WORK/v6.pcap"
run_client 6
# SOLICIT, ADVERTISE, REQUEST, REPLY, RELEASE, REPLY.
wait_frames "$WORK/v6.pcap" 'dhcpv6 && !icmpv6' 6
netns_capture_stop "$WORK/v6.pcap"

for p in v4.pcap v6.pcap; do
  netns_install_output "$WORK/$p" "$OUT/$p"
  write_tsv "$OUT/$p"
  log "wrote $OUT/$p and $p.tshark.tsv ($(tshark -r "$OUT/$p" 2>/dev/null | wc -l) frames)"
done
