#!/usr/bin/env bash
# Live-rate benchmark: replays a pcap at stepped rates over a veth pair
# between two network namespaces this script creates, with `medtap run`
# capturing on the far end, and reports what was lost at each rate.
#
#   scripts/bench-live.sh PCAP [RATE...]
#
# RATE is Mbit/s as tcpreplay --mbps takes it, or `top` for --topspeed.
# Default rates: 100 200 400 700 1000 1500 2000 top.
#
# Loss at a rate is any of: kernel drops (the ring was full), interface
# drops, packets tcpreplay sent that medtap never counted (sent - received),
# records medtap dropped before its database (writer behind) or failed to
# write. The highest zero-loss rate is the highest rate below which every
# step was loss-free.
#
# Needs root (network namespaces, a veth pair, a packet socket). Touches no
# existing interface: traffic goes only over the veth pair it creates, and
# the namespaces (and so the pair) are deleted on exit, as are the processes
# it started (by PID).
#
# Environment:
#   MEDTAP        medtap binary [target/release/medtap beside this script]
#   CAPTURE_TOML  extra lines for the run's [capture] section, e.g.
#                 'immediate_mode = true' to measure another setting
#   LIMIT         replay only the first N packets (tcpreplay --limit)
#   PRELOAD       1 (default): tcpreplay --preload-pcap (reads the file into
#                 RAM first, so the disk never sets the rate); 0: stream it
#   PIN           1 (default, with 2+ CPUs): tcpreplay on CPU 0, medtap on
#                 CPU 1 (capture and writer threads share it); 0: no pinning
#   MTU           veth MTU [9000]; must carry the pcap's largest frame
#   KEEP          1: keep the temporary directory (databases, logs)
#
# On the 2-core development VM tcpreplay takes one core and medtap the
# other, so these figures are what one core of medtap sustains while the
# generator runs beside it (the kernel's veth delivery into the capture
# ring runs on the sender's core).
set -euo pipefail

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
case $1 in -h | --help) usage ;; esac
if [[ $(id -u) -ne 0 ]]; then
    echo "bench-live.sh: needs root: it creates network namespaces and a veth pair and captures on it" >&2
    exit 2
fi
pcap=$1
shift
[[ -r $pcap ]] || {
    echo "bench-live.sh: cannot read $pcap" >&2
    exit 2
}
rates=("$@")
[[ ${#rates[@]} -gt 0 ]] || rates=(100 200 400 700 1000 1500 2000 top)
for r in "${rates[@]}"; do
    [[ $r == top || $r =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
        echo "bench-live.sh: rate '$r' is not Mbit/s or 'top'" >&2
        exit 2
    }
done

here=$(cd "$(dirname "$0")" && pwd)
medtap=${MEDTAP:-$here/../target/release/medtap}
[[ -x $medtap ]] || {
    echo "bench-live.sh: no medtap binary at $medtap (cargo build --release, or set MEDTAP)" >&2
    exit 2
}
for tool in ip tcpreplay python3; do
    command -v "$tool" >/dev/null || {
        echo "bench-live.sh: needs $tool" >&2
        exit 2
    }
done
mtu=${MTU:-9000}
preload=${PRELOAD:-1}
pin=${PIN:-1}
[[ $(nproc) -ge 2 ]] || pin=0

# Unique names from our PID: interface names must stay under 16 bytes.
tag=mtb$$
ns_tx=${tag}tx
ns_rx=${tag}rx
if_tx=${tag}t
if_rx=${tag}r
tmp=$(mktemp -d /tmp/bench-live.XXXXXX)
medtap_pid=
replay_pid=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in $replay_pid $medtap_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    # Deleting a namespace deletes the veth end inside it, and its peer.
    ip netns del "$ns_tx" 2>/dev/null || true
    ip netns del "$ns_rx" 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two fresh namespaces, IPv6 off before the veth exists (so the kernel sends
# no router solicitations or MLD reports: medtap must count exactly what
# tcpreplay sent), and no addresses (nothing answers the replayed ARP, and
# the receiving stack drops the replayed IP packets: forwarding is off).
for ns in "$ns_tx" "$ns_rx"; do
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add "$if_tx" netns "$ns_tx" mtu "$mtu" type veth peer name "$if_rx" netns "$ns_rx" mtu "$mtu"
ip -n "$ns_tx" link set "$if_tx" up
ip -n "$ns_rx" link set "$if_rx" up

cat >"$tmp/medtap.toml" <<EOF
[capture]
interface = "$if_rx"
stats_interval_secs = 1
${CAPTURE_TOML:-}
[log]
level = "info"
EOF

pin_tx=()
pin_rx=()
if [[ $pin == 1 ]] && command -v taskset >/dev/null; then
    pin_tx=(taskset -c 0)
    pin_rx=(taskset -c 1)
else
    pin=0
fi
replay_opts=()
[[ $preload == 1 ]] && replay_opts+=(--preload-pcap)
[[ -n ${LIMIT:-} ]] && replay_opts+=("--limit=$LIMIT")

# One field of `medtap status --json` on a database.
status_field() {
    "$medtap" status --db "$1" --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$2" 2>/dev/null ||
        echo 0
}

echo "medtap live benchmark: $pcap${LIMIT:+ (first $LIMIT packets)}"
echo "medtap: $medtap ($("$medtap" --version 2>/dev/null || echo '?'))"
echo "veth $if_tx ($ns_tx) -> $if_rx ($ns_rx), mtu $mtu; $(nproc) CPUs," \
    "$([[ $pin == 1 ]] && echo 'tcpreplay pinned to CPU 0, medtap to CPU 1' || echo 'not pinned');" \
    "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
overrides=${CAPTURE_TOML:-(none: the built-in defaults)}
echo "[capture] overrides: ${overrides//$'\n'/; }"
echo

results=$tmp/results.tsv
: >"$results"
for rate in "${rates[@]}"; do
    db=$tmp/run-$rate.db
    log=$tmp/medtap-$rate.log
    ip netns exec "$ns_rx" "${pin_rx[@]}" "$medtap" run --config "$tmp/medtap.toml" \
        -i "$if_rx" --db "$db" 2>"$log" &
    medtap_pid=$!
    for _ in $(seq 100); do
        grep -q capturing "$log" && break
        kill -0 "$medtap_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q capturing "$log"; then
        echo "bench-live.sh: medtap did not start capturing:" >&2
        cat "$log" >&2
        exit 1
    fi

    if [[ $rate == top ]]; then speed=(--topspeed); else speed=("--mbps=$rate"); fi
    ip netns exec "$ns_tx" "${pin_tx[@]}" tcpreplay -i "$if_tx" "${speed[@]}" \
        "${replay_opts[@]}" "$pcap" >"$tmp/replay-$rate.out" 2>&1 &
    replay_pid=$!
    wait "$replay_pid" || {
        echo "bench-live.sh: tcpreplay failed:" >&2
        cat "$tmp/replay-$rate.out" >&2
        exit 1
    }
    replay_pid=
    out=$tmp/replay-$rate.out
    sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$out")
    mbps=$(sed -n 's/.*Rated: [0-9.]* Bps, \([0-9.]*\) Mbps.*/\1/p' "$out")
    pps=$(sed -n 's/.*Mbps, \([0-9.]*\) pps.*/\1/p' "$out")
    failed=$(sed -n 's/.*Failed packets: *\([0-9]*\).*/\1/p' "$out")

    # Let medtap drain what is still in the ring before stopping it (a stop
    # ends the loop at once; what is left in the ring is neither counted nor
    # dropped): wait until its per-second statistics stop growing.
    prev=-1
    for _ in $(seq 60); do
        sleep 1.5
        now=$(status_field "$db" packets)
        [[ $now == "$prev" ]] && break
        prev=$now
    done
    kill -TERM "$medtap_pid"
    rc=0
    wait "$medtap_pid" || rc=$?
    medtap_pid=

    fields=(packets kernel_received kernel_drops if_drops records_dropped records_failed flows)
    vals=()
    for f in "${fields[@]}"; do vals+=("$(status_field "$db" "$f")"); done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$rate" "${mbps:-?}" "${pps:-?}" "${sent:-0}" "${failed:-0}" "${vals[@]}" "$rc" >>"$results"
    printf '  %s: sent %s at %s Mbit/s, medtap counted %s, kernel drops %s, records dropped %s (exit %s)\n' \
        "$rate" "${sent:-0}" "${mbps:-?}" "${vals[0]}" "${vals[2]}" "${vals[4]}" "$rc"
done

echo
python3 - "$results" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
head = ("rate", "actual Mbit/s", "pps", "sent", "send failed", "received",
        "missing", "kernel drops", "if drops", "records dropped", "records failed",
        "flows", "exit")
table = []
best = None          # the highest step such that it and every step before it lost nothing
best_mbps = 0.0      # the highest rate tcpreplay reached among those steps
clean_so_far = True
short = False        # tcpreplay fell well short of a requested rate
for r in rows:
    rate, mbps, pps, sent, sfail, got, krecv, kdrop, ifdrop, rdrop, rfail, flows, rc = r
    missing = int(sent) - int(got)
    lost = missing != 0 or int(kdrop) or int(ifdrop) or int(rdrop) or int(rfail)
    if lost:
        clean_so_far = False
    elif clean_so_far:
        best = rate
        best_mbps = max(best_mbps, float(mbps))
    if rate != "top" and float(mbps) < 0.95 * float(rate):
        short = True
    table.append((rate, mbps, pps.split(".")[0], sent, sfail, got, str(missing),
                  kdrop, ifdrop, rdrop, rfail, flows, rc))
w = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
fmt = " | ".join("{:>%d}" % x for x in w)
print(fmt.format(*head))
print("-+-".join("-" * x for x in w))
for t in table:
    print(fmt.format(*t))
print()
if best:
    print(f"highest zero-loss step: {best}; highest rate reached without loss: {best_mbps:.0f} Mbit/s")
    if clean_so_far and short:
        print("no step lost anything, and tcpreplay fell short of some requested rates:"
              " the generator, not medtap, set the ceiling")
else:
    print("highest zero-loss rate: none (the first step already lost packets or records)")
print("missing = sent - received: packets medtap never counted (a loss even without a drop counter)")
EOF
