#!/usr/bin/env bash
# `make chaos`: the reliability suite (tests/chaos.rs) at the issue's full scale
# (KFED_CHAOS=full) on a dedicated testbed: host + 2 members in .testbed-chaos,
# ports from 19440 (apart from the default testbed's 16440 and the bench's 18440).
# The testbed is always stopped and purged again on exit.
#   make chaos                          a run with a fresh seed (printed per scenario)
#   make chaos KFED_CHAOS_SEED=12345    replay the random moments of an earlier run
# Summary: target/chaos/summary.txt (printed at the end); operator logs: target/tmp/chaos-*-controller.log.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export KFED_TESTBED_DIR="$repo/.testbed-chaos"
export KFED_TESTBED_BASE_PORT=19440
export KFED_CHAOS=full

bin="$(tests/testbed/build.sh)"
testbed="$bin/testbed"
export KFED_TESTBED_BIN="$bin"
export KFED_TESTBED_KUBECONFIG="$KFED_TESTBED_DIR/kubeconfig"
mkdir -p target/chaos
export KFED_CHAOS_SUMMARY="$repo/target/chaos/summary.txt"
: >"$KFED_CHAOS_SUMMARY"

# Compile first, so the testbed does not idle through a build.
cargo test --locked --test chaos --no-run

started=$SECONDS
cleanup() {
  local status=$?
  "$testbed" down --purge || echo "chaos: stopping the testbed in $KFED_TESTBED_DIR failed" >&2
  echo
  echo "chaos summary (KFED_CHAOS=full, $((SECONDS - started)) s):"
  if [ -s "$KFED_CHAOS_SUMMARY" ]; then cat "$KFED_CHAOS_SUMMARY"; else echo "(no scenario finished)"; fi
  if [ "$status" -eq 0 ]; then echo "chaos: PASSED"; else echo "chaos: FAILED (exit status $status)"; fi
  exit "$status"
}
trap cleanup EXIT

"$testbed" up --members 2
cargo test --locked --test chaos -- --test-threads=1 --nocapture
