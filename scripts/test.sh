#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
# Installs what it needs first (idempotent), then: formatting, lints, every
# unit/property/integration test (the tshark comparison over the public
# corpus runs when ../shared/corpus/public exists, and says so when it does
# not; the live-capture test runs when root), and compiles the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
corpus="${MEDTAP_CORPUS:-../shared/corpus/public}"
if [ -f "$corpus/README.md" ]; then
  echo "medtap tests: public corpus found at $corpus: tshark comparisons include it"
else
  echo "medtap tests: public corpus NOT found ($corpus): its comparisons will NOT run; only the project's own captures are checked"
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "medtap tests: not root: the live-capture and fresh dcmtk tests will NOT run"
fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
cargo bench --locked --no-run
