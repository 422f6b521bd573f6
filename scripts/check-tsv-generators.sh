#!/usr/bin/env bash
# Proves that the ground-truth generators of the HL7 and MQTT capture scripts
# (scripts/lib/hl7_tsv.py, scripts/lib/mqtt_tsv.py) write exactly the corpus'
# format: regenerates the .tshark.tsv of every HL7 and MQTT capture of the
# public corpus and compares it byte for byte with the corpus' own file.
#
# Usage: scripts/check-tsv-generators.sh [CORPUS_DIR]
# Default CORPUS_DIR: $MEDTAP_CORPUS, else ../shared/corpus/public relative to
# the repository root. Needs tshark (the corpus TSVs were made with 4.0.17)
# and python3; no root. Exits non-zero if any file differs (and shows the
# first lines of the diff).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
corpus=${1:-${MEDTAP_CORPUS:-$repo_root/../shared/corpus/public}}
[ -f "$corpus/README.md" ] || { echo "no corpus at $corpus" >&2; exit 2; }
command -v tshark >/dev/null 2>&1 || { echo "missing tshark" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
same=0 differ=0
check() {  # check GENERATOR CAPTURE PORT
  local out
  out=$tmp/$(basename "$2").tsv
  python3 "$repo_root/scripts/lib/$1" "$2" "$3" >"$out"
  if cmp -s "$out" "$2.tshark.tsv"; then
    same=$((same + 1))
  else
    differ=$((differ + 1))
    echo "DIFFERS: $2 (port $3)" >&2
    diff "$2.tshark.tsv" "$out" | head -10 >&2 || true
  fi
}

shopt -s nullglob
# The corpus HL7 captures all use TCP port 6661 (MANIFEST.tsv).
for f in "$corpus"/hl7/*.pcap "$corpus"/hl7/*.pcapng; do check hl7_tsv.py "$f" 6661; done
# MQTT on 1883 (tshark's port), except nDPI's capture on 17501 (MANIFEST.tsv).
for f in "$corpus"/mqtt/*.pcap "$corpus"/mqtt/*.pcapng; do
  port=1883
  case "$(basename "$f")" in ndpi_coap_mqtt_port17501.pcap) port=17501 ;; esac
  check mqtt_tsv.py "$f" "$port"
done
echo "tshark TSV generators vs corpus ($(tshark --version | head -1)): $same identical, $differ different"
[ "$differ" -eq 0 ]
