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

# Device identity: real DHCP clients (udhcpc, dhclient) against dnsmasq, an
# address taken over by gratuitous ARP, with the example asset list and one
# statically planned range.
id_db="$(dirname "$db")/identity.db"
id_cfg="$(dirname "$db")/identity.toml"
printf '[identity]\nassets = "%s"\nstatic_networks = ["10.82.0.0/26"]\n' \
  "$PWD/config/examples/assets.toml" >"$id_cfg"
./target/release/medtap analyze tests/data/identity/dhcp_udhcpc.pcap tests/data/identity/dhcp_dhclient.pcap \
  tests/data/identity/arp_takeover.pcap --config "$id_cfg" --db "$id_db"
echo "== devices (identity captures, example asset list)"
./target/release/medtap devices --db "$id_db"
echo "== DHCP transactions"
./target/release/medtap dhcp --db "$id_db"
echo "== one device: the monitor whose address a laptop took"
./target/release/medtap device 10.82.0.104 --db "$id_db"
echo "== the laptop"
./target/release/medtap device 98:e7:43:82:00:0b --db "$id_db"
echo "== the asset register (DB3205/T 6.3 a)"
./target/release/medtap devices export --db "$id_db"
echo "(database: $id_db)"

# Classification: a small hospital between network namespaces (dcmtk CT, MR,
# PACS, worklist and workstation; python-hl7 IHE PCD-01 gateways and an
# interface engine; mosquitto with two monitors; dnsmasq and udhcpc), each
# device classed from its own traffic and graded by DB3205/T Table B.1.
cls_db="$(dirname "$db")/classify.db"
rm -f "$cls_db"
./target/release/medtap analyze tests/data/classify/hospital.pcap --db "$cls_db" --assets= --rules=
echo "== devices (a small hospital): class, grade, confidence"
./target/release/medtap devices --db "$cls_db"
echo "== the CT: its class, grade and the evidence behind them"
./target/release/medtap device 10.83.0.21 --db "$cls_db" | head -12
echo "== the grade-3 devices"
./target/release/medtap devices --grade 3 --db "$cls_db"
echo "== the class table (DB3205/T Appendix B, Table B.1)"
./target/release/medtap rules classes --rules=
echo "(database: $cls_db)"

# Policy and alerts: a hospital between network namespaces (dcmtk, python-hl7,
# mosquitto, dnsmasq/udhcpc, OpenSSH/dropbear, arping) where a CT stores to an
# unregistered host, a vendor logs into a pump over SSH, a laptop brute-forces
# the MQTT broker, reuses a monitor's credentials, subscribes to `#` and takes
# over the pump's address.
pol_db="$(dirname "$db")/policy.db"
rm -f "$pol_db"
eve="$(dirname "$db")/eve.json"
rm -f "$eve"
archive="$(dirname "$db")/archive"
rm -rf "$archive"
./target/release/medtap analyze tests/data/policy/violations.pcap --db "$pol_db" \
  --assets tests/data/policy/assets.toml --rules= --eve "$eve" --archive "$archive"
echo "== alerts (DB3205/T Appendix A)"
./target/release/medtap alerts --db "$pol_db"
echo "== the CT's policy violation"
./target/release/medtap alert "$(./target/release/medtap alerts --db "$pol_db" --rule POLICY_VIOLATION --device 10.20.1.21 --json | head -1 | sed 's/^{"alert_id":\([0-9]*\).*/\1/')" --db "$pol_db"
echo "== its packets back from the archive, and detection run again on them"
ct_alert="$(./target/release/medtap alerts --db "$pol_db" --rule POLICY_VIOLATION --device 10.20.1.21 --json | head -1 | sed 's/^{"alert_id":\([0-9]*\).*/\1/')"
./target/release/medtap extract --db "$pol_db" --alert "$ct_alert" -w "$(dirname "$db")/alert-$ct_alert.pcap"
./target/release/medtap replay --db "$pol_db" --alert "$ct_alert" --assets tests/data/policy/assets.toml --rules=
echo "== a baseline proposed from the benign traffic"
base_db="$(dirname "$db")/learn.db"
rm -f "$base_db"
./target/release/medtap analyze tests/data/policy/benign.pcap --db "$base_db" \
  --assets tests/data/policy/assets.toml --rules= --learn
./target/release/medtap baseline propose --db "$base_db" --rules= | head -40
echo "== the same scenario as EVE JSON for the SIEM: lines by type, then the first alert"
python3 -c 'import collections, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
print(dict(collections.Counter(l["event_type"] for l in lines)))
print(json.dumps(next(l for l in lines if l["event_type"] == "alert"), indent=1)[:1500])' "$eve"
echo "(databases: $pol_db, $base_db; EVE: $eve)"
