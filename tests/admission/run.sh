#!/usr/bin/env bash
# Applies every manifest in tests/admission/invalid/ to the cluster of the
# current KUBECONFIG (kfed CRDs and config/admission installed) and checks that
# the API server refuses it with the message named on the file's first line
# ("# expect: <substring>"). Prints one line per file; exits 1 on any failure.
#   KUBECTL   kubectl to use (default: kubectl)
#   NAMESPACE namespace for the attempts (default: kfed-admission; created if missing)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kubectl="${KUBECTL:-kubectl}"
ns="${NAMESPACE:-kfed-admission}"
"$kubectl" create namespace "$ns" --dry-run=client -o yaml | "$kubectl" apply --server-side -f - >/dev/null || exit 1
failed=0
for file in "$here"/invalid/*.yaml; do
  name="$(basename "$file")"
  expect="$(head -n1 "$file" | sed -n 's/^# expect: //p')"
  if [ -z "$expect" ]; then
    echo "BAD    $name: first line is not '# expect: <substring>'"; failed=1; continue
  fi
  if out="$("$kubectl" apply --server-side -f "$file" -n "$ns" 2>&1)"; then
    echo "ACCEPTED $name: $out"; failed=1
    "$kubectl" delete -f "$file" -n "$ns" --ignore-not-found --wait=false >/dev/null 2>&1
  elif grep -qF -- "$expect" <<<"$out"; then
    echo "ok     $name"
  else
    echo "WRONG  $name: expected '$expect' in: $out"; failed=1
  fi
done
exit "$failed"
