#!/usr/bin/env bash
# bench-pinned.sh PCAP... : `medtap analyze` free vs pinned to one core
# (taskset -c 0), 5 interleaved rounds per capture, fresh database per run;
# prints the medians and the paired median of pinned/free wall time.
# MEDTAP selects the binary (default target/release/medtap), ROUNDS the rounds.
set -euo pipefail
bin=${MEDTAP:-target/release/medtap}
rounds=${ROUNDS:-5}
[ $# -ge 1 ] || { echo "usage: $0 PCAP..." >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pcap in "$@"; do
  for ((i = 1; i <= rounds; i++)); do
    for mode in free pinned; do
      rm -rf "$tmp/db" && mkdir "$tmp/db"
      pre=()
      [ "$mode" = pinned ] && pre=(taskset -c 0)
      start=$(date +%s.%N)
      "${pre[@]}" "$bin" analyze "$pcap" --db "$tmp/db/m.db" >/dev/null 2>&1
      end=$(date +%s.%N)
      echo "$pcap $i $mode $start $end"
    done
  done
done | python3 -c '
import collections, statistics, sys
t = collections.defaultdict(dict)
for line in sys.stdin:
    pcap, i, mode, s, e = line.split()
    t[(pcap, i)][mode] = float(e) - float(s)
for pcap in dict.fromkeys(k[0] for k in t):
    runs = [v for k, v in t.items() if k[0] == pcap]
    free = [r["free"] for r in runs]
    pinned = [r["pinned"] for r in runs]
    ratio = [r["pinned"] / r["free"] for r in runs]
    print(f"{pcap}: free {statistics.median(free):.2f} s, pinned {statistics.median(pinned):.2f} s, "
          f"pinned/free paired median {statistics.median(ratio):.2f} (min {min(ratio):.2f} max {max(ratio):.2f})")
'
