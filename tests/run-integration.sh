#!/usr/bin/env bash
# Runs the Rust integration tests (tests/*.rs) against the testbed. Reuses a
# running testbed; otherwise starts one and stops it again afterwards.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$("$repo/tests/testbed/build.sh")"
export KFED_TESTBED_DIR="${KFED_TESTBED_DIR:-$repo/.testbed}"
testbed="$bin/testbed"

if "$testbed" status >/dev/null 2>&1; then
  echo "integration: using the running testbed in $KFED_TESTBED_DIR"
else
  echo "integration: starting a testbed in $KFED_TESTBED_DIR"
  trap '"$testbed" down' EXIT
  "$testbed" up --members "${MEMBERS:-2}"
fi
export KFED_TESTBED_KUBECONFIG="$KFED_TESTBED_DIR/kubeconfig"
export KFED_TESTBED_BIN="$bin"
cd "$repo"
cargo test --locked --no-fail-fast --test '*' -- --test-threads=1
