#!/usr/bin/env bash
# The demo on a running testbed (make demo starts it): installs kfed's API into
# the host cluster, applies the samples with kubectl and lists them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export KUBECONFIG="${KFED_TESTBED_DIR:-$repo/.testbed}/kubeconfig"
cd "$repo"

echo "==> installing the kfed CRDs and admission policy into the host cluster"
kubectl --context host apply --server-side --force-conflicts -f config/crd/bases >/dev/null
kubectl --context host wait --for=condition=Established --timeout=120s -f config/crd/bases >/dev/null
kubectl --context host apply --server-side --force-conflicts -k config/admission

echo "==> applying the samples"
kubectl --context host apply --server-side --force-conflicts -k config/samples

echo "==> federated objects in the host cluster"
kubectl --context host get federated -A
echo
echo "The sync controller (kfed controller) is not built yet, so nothing propagates to the members."
echo "export KUBECONFIG=$KUBECONFIG"
