#!/usr/bin/env bash
# medtap's main job on the bundled sample captures: installs what it needs
# (idempotent), builds, analyses samples/sample.pcap (HTTP, ping, UDP) and
# real third-party traffic: two dcmtk DICOM sessions (C-STORE of CT+MR,
# C-MOVE), python-hl7 MLLP messages (ADT^A01, ORU^R01, ORM^O01, and negative
# ACKs) and mosquitto MQTT 3.1.1 sessions, into a database; then prints the
# flows, the devices, the DICOM associations, the HL7 messages, the MQTT
# sessions and the capture statistics (with the anomaly counts).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --locked
db="${MEDTAP_DEMO_DB:-$(mktemp -d)/sample.db}"
./target/release/medtap analyze samples/sample.pcap tests/data/dicom/store_ct_mr.pcap tests/data/dicom/move.pcap \
  tests/data/hl7/adt_oru_orm.pcap tests/data/hl7/nack.pcap tests/data/mqtt/v311.pcap --db "$db"
echo "== flows"
./target/release/medtap flows --db "$db"
echo "== devices"
./target/release/medtap devices --db "$db"
echo "== DICOM associations"
./target/release/medtap dicom --db "$db"
echo "== HL7 messages"
./target/release/medtap hl7 --db "$db"
echo "== MQTT sessions"
./target/release/medtap mqtt --db "$db"
echo "== status"
./target/release/medtap status --db "$db"
echo "(database: $db)"
