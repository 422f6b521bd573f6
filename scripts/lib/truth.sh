# shellcheck shell=bash
# tshark ground-truth helpers shared by the capture scripts
# (make-dicom-captures.sh, make-hl7-captures.sh, make-mqtt-captures.sh).
# Source it after scripts/lib/netns.sh (for log/die). The caller defines
#   capture_port NAME   the server port tshark decodes capture NAME on
#   write_tsv PCAP PORT writes PCAP.tshark.tsv

# odd_or_standard_port NAME: $PORT_ODD for unusual_port.pcap, else $PORT_STD
# (both set by the caller).
odd_or_standard_port() {
  if [ "$1" = unusual_port.pcap ]; then echo "$PORT_ODD"; else echo "$PORT_STD"; fi
}

# write_tsv_from GENERATOR PCAP PORT: PCAP.tshark.tsv from
# `python3 GENERATOR PCAP PORT`, replaced atomically (a failed run leaves the
# old file).
write_tsv_from() {
  local tmp
  tmp=$(mktemp "$2.tsv.XXXXXX")
  python3 "$1" "$2" "$3" >"$tmp" || { rm -f "$tmp"; die "$(basename "$1") failed on $2"; }
  chmod 0644 "$tmp"
  mv -f "$tmp" "$2.tshark.tsv"
}

# rewrite_all_tsv DIR: (--tsv-only) rewrites the ground truth of every
# DIR/*.pcap with the installed tshark, without capturing anything.
rewrite_all_tsv() {
  command -v tshark >/dev/null 2>&1 || die "missing 'tshark'"
  local p pcaps
  shopt -s nullglob
  pcaps=("$1"/*.pcap)
  [ ${#pcaps[@]} -gt 0 ] || die "no .pcap files in $1"
  for p in "${pcaps[@]}"; do
    write_tsv "$p" "$(capture_port "$(basename "$p")")"
    log "wrote $p.tshark.tsv"
  done
}
