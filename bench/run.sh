#!/usr/bin/env bash
# `make bench`: the propagation benchmark (benches/propagation/main.rs) on a dedicated
# testbed. Builds the release operator, starts host + 2 members in
# .testbed-bench (ports from 18440, apart from the default testbed's 16440),
# runs the bench and always stops that testbed again. Arguments go to the bench:
#   bench/run.sh --objects 10000          make bench ARGS="--objects 10000"
# Results: bench/results.md and bench/results.json; operator logs: target/bench/.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export KFED_TESTBED_DIR="$repo/.testbed-bench"
export KFED_TESTBED_BASE_PORT=18440

cargo build --release --locked
bin="$(tests/testbed/build.sh)"
testbed="$bin/testbed"

mkdir -p target/bench
# The bench records the pid of the operator it runs here, so that the operator is
# stopped even when the bench itself is killed.
export KFED_BENCH_PIDFILE="$repo/target/bench/operator.pid"
rm -f "$KFED_BENCH_PIDFILE"

cleanup() {
  local status=$?
  if [ -s "$KFED_BENCH_PIDFILE" ]; then
    pid="$(cat "$KFED_BENCH_PIDFILE")"
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kfed controller"; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$KFED_BENCH_PIDFILE"
  fi
  "$testbed" down || echo "bench: stopping the testbed in $KFED_TESTBED_DIR failed" >&2
  exit "$status"
}
trap cleanup EXIT

"$testbed" up --members 2
started=$SECONDS
cargo bench --locked --bench propagation -- \
  --kubeconfig "$KFED_TESTBED_DIR/kubeconfig" \
  --kfed "$repo/target/release/kfed" \
  --out-dir "$repo/bench" \
  "$@"
echo "bench: finished in $((SECONDS - started)) s" >&2
