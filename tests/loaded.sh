#!/usr/bin/env bash
# `make test-loaded`: the integration suite on a saturated machine. A CPU hog
# (stress-ng, from Debian) keeps every core busy while tests/run-integration.sh
# runs RUNS times (default 2); the hog is started here and stopped by its pid on
# exit. Time bounds in the tests follow measured progress, so a slower machine
# slows them down without failing them; a stall still fails them.
#   make test-loaded [RUNS=2] [HOG_WORKERS=4]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-2}"
workers="${HOG_WORKERS:-4}"
command -v stress-ng >/dev/null || {
  echo "test-loaded: stress-ng is missing (apt-get install stress-ng)" >&2
  exit 1
}
stress-ng --cpu "$workers" --quiet &
hog=$!
trap 'kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null || true' EXIT
echo "test-loaded: stress-ng --cpu $workers running (pid $hog); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$runs"); do
  started=$SECONDS
  echo "test-loaded: run $run of $runs"
  "$repo/tests/run-integration.sh"
  echo "test-loaded: run $run passed in $((SECONDS - started)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
