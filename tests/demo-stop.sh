#!/usr/bin/env bash
# Stops the operator that `make demo` started (by its recorded pid).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
pidfile="${KFED_TESTBED_DIR:-$repo/.testbed}/kfed-controller.pid"
[ -f "$pidfile" ] || { echo "no demo operator running"; exit 0; }
pid="$(cat "$pidfile")"
if grep -q "kfed" "/proc/$pid/cmdline" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  echo "stopped the demo operator (pid $pid)"
fi
rm -f "$pidfile"
