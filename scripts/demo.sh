#!/usr/bin/env bash
# medtap's main job on the bundled sample capture: installs what it needs
# (idempotent), builds, analyses samples/sample.pcap into a database, and
# prints the flows, the devices and the capture statistics.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --locked
db="${MEDTAP_DEMO_DB:-$(mktemp -d)/sample.db}"
./target/release/medtap analyze samples/sample.pcap --db "$db"
echo "== flows"
./target/release/medtap flows --db "$db"
echo "== devices"
./target/release/medtap devices --db "$db"
echo "== status"
./target/release/medtap status --db "$db"
echo "(database: $db)"
