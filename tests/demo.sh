#!/usr/bin/env bash
# The demo on a running testbed (make demo starts it): installs kfed's API into
# the host cluster, joins the members with least-privilege identities, starts
# the operator in the background, applies the samples and shows them propagated.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
state="${KFED_TESTBED_DIR:-$repo/.testbed}"
export KUBECONFIG="$state/kubeconfig"
cd "$repo"
kfed="$repo/target/debug/kfed"
cargo build --locked --quiet

echo "==> installing the kfed CRDs and admission policy into the host cluster"
kubectl --context host apply --server-side --force-conflicts -f config/crd/bases >/dev/null
kubectl --context host wait --for=condition=Established --timeout=120s -f config/crd/bases >/dev/null
kubectl --context host apply --server-side --force-conflicts -k config/admission >/dev/null
echo "==> enabling the built-in kinds (a FederatedTypeConfig each)"
kubectl --context host create namespace kube-federation-system --dry-run=client -o yaml | kubectl --context host apply -f - >/dev/null
kubectl --context host apply --server-side --force-conflicts -k config/typeconfigs >/dev/null

echo "==> joining the members"
members=$(kubectl config get-contexts -o name | grep '^member' | sort)
regions=(eu us ap sa af)
i=0
for m in $members; do
  "$kfed" join "$m" --cluster-context "$m" --host-cluster-context host
  # The sample FederatedConfigMap selects clusters by these labels.
  kubectl --context host -n kube-federation-system label kubefedcluster "$m" \
    "region=${regions[$i]}" kfed.io/environment=demo --overwrite >/dev/null
  i=$((i + 1))
done

echo "==> starting the operator (log: $state/kfed-controller.log)"
"$repo/tests/demo-stop.sh" >/dev/null 2>&1 || true
nohup "$kfed" controller --context host --metrics-bind-address 127.0.0.1:9090 >"$state/kfed-controller.log" 2>&1 &
echo $! >"$state/kfed-controller.pid"

echo "==> applying the samples"
kubectl --context host apply --server-side --force-conflicts -k config/samples

echo "==> waiting for propagation"
for _ in $(seq 1 60); do
  if ! kubectl --context host get federated -n kfed-demo \
      -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Propagation")].status}{"\n"}{end}' | grep -qv True; then
    break
  fi
  sleep 1
done
"$kfed" status --context host -n kfed-demo
echo
for m in $members; do
  echo "--- $m"
  kubectl --context "$m" -n kfed-demo get deployments,services,configmaps,secrets -l kubefed.io/managed=true
done
echo
echo "metrics: curl -s 127.0.0.1:9090/metrics | grep ^kfed_"
echo "export KUBECONFIG=$KUBECONFIG   # stop the operator with: make demo-stop"
