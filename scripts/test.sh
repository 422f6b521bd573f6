#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
# Installs what it needs first (idempotent), then: formatting, lints, every
# unit/property/integration test, and compiles the benchmarks.
#
# Some tests need more than the repository: root (network namespaces: the
# live-capture test and the fresh dcmtk/python-hl7/mosquitto captures), the
# public corpus (../shared/corpus/public or $MEDTAP_CORPUS) and the tools
# scripts/install-deps.sh installs. This script first lists what is missing.
# Each test that lacks something prints "SKIPPED: <test>: <what is missing>"
# and passes; with CI=true or MEDTAP_REQUIRE_ALL=1 (.ci/run sets it) it fails
# instead, naming what is missing (tests/common/mod.rs, skip_or_fail).
# `--no-fail-fast`: a failing test binary does not hide the others.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }
require_all=0
case "$(lower "${CI:-}")" in 1 | true) require_all=1 ;; esac
case "$(lower "${MEDTAP_REQUIRE_ALL:-}")" in 1 | true) require_all=1 ;; esac

missing=()
corpus="${MEDTAP_CORPUS:-../shared/corpus/public}"
[ -f "$corpus/README.md" ] ||
  missing+=("the public corpus at $corpus (copy shared/corpus/public there, or set MEDTAP_CORPUS): the tshark comparisons over its 71 captures")
[ "$(id -u)" -eq 0 ] ||
  missing+=("root: the live-capture test and the fresh dcmtk, python-hl7, mosquitto, DHCP/ARP and remote-access captures")
for tool in tshark tcpdump ip ss timeout python3 curl ping mosquitto mosquitto_pub mosquitto_sub \
  mosquitto_passwd echoscu storescu storescp findscu movescu dcmqrscp dcmqridx dump2dcm mllp_send \
  dnsmasq udhcpc dhclient arping stdbuf ssh dropbear telnet Xvnc vncsnapshot rdesktop xrdp openssl \
  rsyslogd fever prometheus promtool tcpreplay sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool (scripts/install-deps.sh installs it)")
done
python3 -c 'import jsonschema' >/dev/null 2>&1 ||
  missing+=("python3's jsonschema module (scripts/install-deps.sh installs it): the EVE schema tests")
eve_schema="${MEDTAP_EVE_SCHEMA:-../shared/eve/schema.json}"
[ -f "$eve_schema" ] ||
  missing+=("Suricata's EVE schema at $eve_schema (or set MEDTAP_EVE_SCHEMA): EVE lines of Suricata's types against it")
if [ ${#missing[@]} -eq 0 ]; then
  echo "medtap tests: every prerequisite is here (public corpus at $corpus, root, tools): no test is skipped"
else
  if [ "$require_all" -eq 1 ]; then
    echo "medtap tests: missing prerequisites; CI=true or MEDTAP_REQUIRE_ALL=1 is set, so the tests that need them FAIL:"
  else
    echo "medtap tests: missing prerequisites; the tests that need them print SKIPPED and pass (MEDTAP_REQUIRE_ALL=1 makes that a failure):"
  fi
  printf '  - %s\n' "${missing[@]}"
fi

cargo fmt --all -- --check
# Modules depend along the data flow: no cycles, nothing on the hot path
# imports the far side of the event channel (docs/ARCHITECTURE.md).
python3 scripts/check-layering.py >/dev/null || python3 scripts/check-layering.py
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --no-fail-fast
cargo bench --locked --no-run
# The fuzz targets must keep compiling as the library changes (running them
# needs nightly and cargo-fuzz: fuzz/README.md); checking them needs neither.
cargo check --locked --manifest-path fuzz/Cargo.toml --bins
