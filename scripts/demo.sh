#!/usr/bin/env bash
# medtap's main job on the bundled sample captures: installs what it needs
# (idempotent), builds, analyses samples/sample.pcap (HTTP, ping, UDP) and
# two real dcmtk DICOM sessions (C-STORE of CT+MR, C-MOVE) into a database,
# and prints the flows, the devices, the DICOM associations and the capture
# statistics.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --locked
db="${MEDTAP_DEMO_DB:-$(mktemp -d)/sample.db}"
./target/release/medtap analyze samples/sample.pcap tests/data/dicom/store_ct_mr.pcap tests/data/dicom/move.pcap --db "$db"
echo "== flows"
./target/release/medtap flows --db "$db"
echo "== devices"
./target/release/medtap devices --db "$db"
echo "== DICOM associations"
./target/release/medtap dicom --db "$db"
echo "== status"
./target/release/medtap status --db "$db"
echo "(database: $db)"
