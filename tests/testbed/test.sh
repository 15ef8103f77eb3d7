#!/usr/bin/env bash
# End-to-end test of the testbed launcher. It uses its own state dir and base
# port 17440, so it never touches a developer's testbed. It brings a testbed
# up, exercises every cluster with kubectl, checks the failure modes, and
# measures start time and memory (printed as a Markdown table at the end).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
KUBECTL="${KUBECTL:-kubectl}"
for tool in "$KUBECTL" python3; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool is needed" >&2; exit 1; }
done

bin="$("$here/build.sh")"
tb="$bin/testbed"
work="$(mktemp -d "${TMPDIR:-/tmp}/kfed-testbed-test.XXXXXX")"
export KFED_TESTBED_DIR="$work/main" KFED_TESTBED_BASE_PORT=17440
export KUBECONFIG="$KFED_TESTBED_DIR/kubeconfig"
ns=kfed-testbed-test
http_pid="" bystander=""

cleanup() {
  for pid in $http_pid $bystander; do kill "$pid" 2>/dev/null || true; done
  for d in main ports crash; do "$tb" --state-dir "$work/$d" down --purge >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fails=0
# check NAME CMD...: runs CMD, prints PASS/FAIL, and on failure its output.
check() {
  local name="$1"; shift
  if "$@" >"$work/out" 2>&1; then
    echo "PASS $name"
  else
    echo "FAIL $name"; sed 's/^/     | /' "$work/out" | tail -25
    fails=$((fails + 1))
  fi
}
# must CMD...: like check, but the rest of the test makes no sense without it.
must() { local before=$fails; check "$@"; [ "$fails" -eq "$before" ] || { echo "FAIL (stopping here)"; exit 1; }; }
# expect_fail REGEX CMD...: CMD must fail, with output matching REGEX.
expect_fail() {
  local want="$1"; shift
  if "$@" >"$work/bad.out" 2>&1; then echo "unexpectedly succeeded:"; cat "$work/bad.out"; return 1; fi
  cat "$work/bad.out"; grep -qE -- "$want" "$work/bad.out"
}
# grep_out REGEX CMD...: CMD must succeed, with output matching REGEX.
grep_out() {
  local want="$1"; shift
  local rc=0
  "$@" >"$work/cmd.out" 2>&1 || rc=$?
  cat "$work/cmd.out"; [ "$rc" -eq 0 ] && grep -qE -- "$want" "$work/cmd.out"
}

k() { "$KUBECTL" --context "$1" "${@:2}"; }
clusters() { local i; echo host; for i in $(seq 1 "$1"); do echo "member$i"; done; }

# py CODE ARGS...: small JSON and /proc helpers (python3 is on every machine).
py() { python3 -c "$@"; }
# "component cluster pid" for every process recorded in state.json.
recorded() {
  py 'import json,sys
for p in json.load(open(sys.argv[1]))["processes"]:
    print(p["component"], p.get("cluster") or "-", p["pid"])' "$1/state.json"
}
# pids of processes whose command line contains $1 (not counting this scan).
procs_with() {
  NEEDLE="$1" py 'import os
me = os.getpid()
for d in os.listdir("/proc"):
    if d.isdigit() and int(d) != me:
        try: cmd = open("/proc/%s/cmdline" % d, "rb").read().decode(errors="replace")
        except OSError: continue
        if os.environ["NEEDLE"] in cmd: print(d)'
}
# "component cluster rss-in-KiB" for every recorded process.
measure_rss() {
  recorded "$KFED_TESTBED_DIR" | while read -r comp cluster pid; do
    echo "$comp $cluster $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
  done
}
timed_up() { # members; sets up_seconds
  local t0; t0=$(date +%s.%N)
  "$tb" up --members "$1" >"$work/up.out" 2>"$work/up.err" || { cat "$work/up.out" "$work/up.err"; return 1; }
  up_seconds=$(py "print(f'{$(date +%s.%N) - $t0:.1f}')")
}

# --- up from scratch -------------------------------------------------------
echo "test.sh: state dir $KFED_TESTBED_DIR, base port $KFED_TESTBED_BASE_PORT, binaries in $bin"
unit_tests() { (cd "$here/launcher" && go vet ./... && go test ./...); }
must "launcher unit tests (go vet, go test)" unit_tests
must "up --members 2 from scratch" timed_up 2
up2=$up_seconds
check "up prints the export line last" test "$(tail -n1 "$work/up.out")" = "export KUBECONFIG=$KUBECONFIG"
sleep 10 # let the start-up spikes settle before measuring memory
measure_rss >"$work/rss2"
check "status exits 0 on a healthy testbed" "$tb" status
kubeconfig_contexts() {
  [ "$("$KUBECTL" config get-contexts -o name | sort | tr '\n' ' ')" = "host member1 member2 " ] &&
    ! grep -q insecure-skip-tls-verify "$KUBECONFIG" && grep -q certificate-authority-data "$KUBECONFIG"
}
private_keys() {
  local f
  for f in "$KFED_TESTBED_DIR"/pki/*.key "$KFED_TESTBED_DIR"/*kubeconfig; do
    [ "$(stat -c %a "$f")" = 600 ] || { echo "$f is not 0600"; return 1; }
  done
}
check "kubeconfig has contexts host, member1, member2 and verifies TLS" kubeconfig_contexts
check "key files and kubeconfigs are private (0600)" private_keys
ca_sum="$(cksum <"$KFED_TESTBED_DIR/pki/ca.crt")"

server_version() { # cluster
  k "$1" version -o json 2>/dev/null | py 'import json,sys; v=json.load(sys.stdin)["serverVersion"]["gitVersion"]; print(v); sys.exit(not v.startswith("v1.37."))'
}
apply_workload() { # cluster
  k "$1" create namespace "$ns" &&
  k "$1" apply -n "$ns" -f - <<EOF &&
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: marker}
data: {cluster: "$1"}
EOF
  k "$1" get -n "$ns" deployment/web configmap/marker
}
# The serviceaccount controller must create "default" in a new namespace,
# and a token for it must authenticate as that service account.
service_account_token() { # cluster
  local c="$1" i tok server
  for i in $(seq 60); do k "$c" get -n "$ns" serviceaccount default >/dev/null 2>&1 && break; sleep 1; done
  tok="$(k "$c" create token default -n "$ns")" &&
  server="$(k "$c" config view --minify -o jsonpath='{.clusters[0].cluster.server}')" &&
  "$KUBECTL" --kubeconfig=/dev/null --server="$server" --certificate-authority="$KFED_TESTBED_DIR/pki/ca.crt" \
    --token="$tok" auth whoami -o jsonpath='{.status.userInfo.username}' | tee /dev/stderr |
    grep -qx "system:serviceaccount:$ns:default"
}
# The serviceaccount-token controller fills in legacy token Secrets, which
# federation join flows create.
legacy_token_secret() { # cluster
  local i
  k "$1" apply -n "$ns" -f - <<EOF || return 1
apiVersion: v1
kind: Secret
metadata:
  name: default-token
  annotations: {kubernetes.io/service-account.name: default}
type: kubernetes.io/service-account-token
EOF
  for i in $(seq 60); do
    [ -n "$(k "$1" get secret -n "$ns" default-token -o jsonpath='{.data.token}')" ] && return 0
    sleep 1
  done
  return 1
}
# The namespace controller must empty and remove a deleted namespace.
namespace_deletion() { # cluster
  k "$1" create namespace kfed-testbed-gone &&
  k "$1" create configmap -n kfed-testbed-gone x --from-literal=a=b &&
  k "$1" delete namespace kfed-testbed-gone --wait=true --timeout=120s &&
  ! k "$1" get namespace kfed-testbed-gone 2>/dev/null
}
for c in $(clusters 2); do
  check "$c: kubectl version reports v1.37.x" server_version "$c"
  check "$c: Deployment and ConfigMap applied" apply_workload "$c"
  check "$c: default ServiceAccount created and its token works" service_account_token "$c"
  check "$c: legacy service-account token Secret is filled in" legacy_token_secret "$c"
  check "$c: deleted namespace is finalized and gone" namespace_deletion "$c"
done

# --- idempotent up ---------------------------------------------------------
recorded "$KFED_TESTBED_DIR" >"$work/pids.before"
same_pids() { diff "$work/pids.before" <(recorded "$KFED_TESTBED_DIR") && "$tb" status; }
check "second up says already up" grep_out '^testbed already up$' "$tb" up --members 2
check "second up started nothing new (pids unchanged, all alive)" same_pids

# --- stop and start one cluster --------------------------------------------
check "stop member2" "$tb" stop member2
check "member2 /readyz fails while stopped" expect_fail 'refused' k member2 --request-timeout=5s get --raw /readyz
both_ready() { k host get --raw /readyz && k member1 get --raw /readyz; }
check "host and member1 still ready" both_ready
check "status shows member2 stopped" grep_out '^kube-apiserver +member2 .*stopped' "$tb" status
check "start member2" "$tb" start member2
check "member2's ConfigMap survived the restart" k member2 get -n "$ns" configmap marker

# --- bad input --------------------------------------------------------------
mkdir -p "$work/empty"
(cd "$work/empty" && exec python3 -m http.server --bind 127.0.0.1 17640 >/dev/null 2>&1) &
http_pid=$!
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/17640) 2>/dev/null && break; sleep 0.1; done
check "up fails naming the port in use" \
  expect_fail 'port 17640.*etcd.*already in use' "$tb" --state-dir "$work/ports" --base-port 17640 up --members 1
nothing_left() { # state-dir etcd-port: no process and no state remain
  local left; left="$(procs_with "$1")$(procs_with "127.0.0.1:$2")"
  if [ -n "$left" ] || [ -e "$1/state.json" ]; then echo "left behind: pids $left"; return 1; fi
}
check "... and leaves no process behind" nothing_left "$work/ports" 17640
kill "$http_pid" 2>/dev/null || true; http_pid=""

mkdir -p "$work/fakebin"
ln -s "$(readlink -f "$bin/etcd")" "$work/fakebin/etcd"
printf '#!/bin/sh\necho "fake kube: refusing to start" >&2\nexit 3\n' >"$work/fakebin/kube"
chmod +x "$work/fakebin/kube"
check "up fails when a binary exits during start" \
  expect_fail 'kube-apiserver of host exited during start' \
  "$tb" --state-dir "$work/crash" --base-port 17740 --bin-dir "$work/fakebin" up --members 1
check "... and shows the end of its log" grep -q 'fake kube: refusing to start' "$work/bad.out"
check "... and stops the etcd it had started" nothing_left "$work/crash" 17740

check "stop of an unknown cluster fails" expect_fail 'unknown cluster "member7"' "$tb" stop member7
check "start of an unknown cluster fails" expect_fail 'unknown cluster "nope"' "$tb" start nope
check "members out of range fails" expect_fail 'between 1 and 5' "$tb" --state-dir "$work/crash" up --members 6
check "unknown command fails" expect_fail 'unknown command' "$tb" frobnicate
check "unknown flag fails" expect_fail 'not defined: -frob' "$tb" up --frob
check "missing binaries point at make testbed-build" \
  expect_fail 'kube not found.*make testbed-build' "$tb" --state-dir "$work/crash" --bin-dir "$work/empty" up
check "building without a Go toolchain fails clearly" \
  expect_fail 'no Go toolchain on PATH' env PATH=/usr/bin:/bin "$here/build.sh"

# --- down -------------------------------------------------------------------
recorded "$KFED_TESTBED_DIR" >"$work/pids.down"
data_dir="$(py 'import json,sys; print(json.load(open(sys.argv[1]))["dataDir"])' "$KFED_TESTBED_DIR/state.json")"
check "down" "$tb" down
# An exited server may stay a zombie until PID 1 reaps it; that counts as gone.
none_alive() {
  local comp cluster pid stat
  while read -r comp cluster pid; do
    stat="$(ps -o stat= -p "$pid" || true)"
    case "$stat" in ""|Z*) ;; *) echo "$comp $cluster $pid is alive ($stat)"; return 1 ;; esac
  done <"$work/pids.down"
}
check "no recorded process survives down" none_alive
check "no process mentions the state dir or the etcd port" nothing_left "$KFED_TESTBED_DIR" 17440
check "down removed the tmpfs data dir, kept the certificates" \
  test ! -e "$data_dir" -a -f "$KFED_TESTBED_DIR/pki/ca.crt"
check "status exits 1 when down" expect_fail 'not running' "$tb" status
check "down again says not running" grep_out '^testbed is not running$' "$tb" down

# --- 1 host + 4 members, for the measurements ---------------------------------
must "up --members 4" timed_up 4
up4=$up_seconds
check "the second up reused the CA" test "$(cksum <"$KFED_TESTBED_DIR/pki/ca.crt")" = "$ca_sum"
sleep 10
measure_rss >"$work/rss4"
check "status exits 0 with 4 members" "$tb" status

# A stale state: one server died, and its pid now belongs to an unrelated
# process (a sleep of ours). up must restart everything and not touch it.
sleep 600 &
bystander=$!
make_stale() {
  py 'import json,os,signal,sys
path = sys.argv[1] + "/state.json"
st = json.load(open(path))
for p in st["processes"]:
    if p["component"] == "kube-controller-manager" and p["cluster"] == "member4":
        os.kill(p["pid"], signal.SIGKILL)
        p["pid"] = int(sys.argv[2])
json.dump(st, open(path, "w"))' "$KFED_TESTBED_DIR" "$bystander"
}
stale_up_restarts() {
  grep_out 'stale' "$tb" up &&
    [ "$(py 'import json,sys; print(json.load(open(sys.argv[1]))["members"])' "$KFED_TESTBED_DIR/state.json")" = 4 ] &&
    "$tb" status
}
check "make the state stale" make_stale
check "up on a stale state restarts it with the same members" stale_up_restarts
check "... and leaves the process that reused a recorded pid alone" kill -0 "$bystander"
kill "$bystander" 2>/dev/null || true; bystander=""
check "down after 4 members" "$tb" down

echo
echo "Measured on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM; RSS 10 s after up returned (VmRSS, MiB)."
echo
# shellcheck disable=SC2016 # the backticks are Markdown
py 'import sys
def load(p):
    return {(c, cl): int(k) for c, cl, k in (l.split() for l in open(p))}
r2, r4 = load(sys.argv[1]), load(sys.argv[2])
print("| process | 1 host + 2 members | 1 host + 4 members |")
print("|---|---:|---:|")
for key in r4:
    name = key[0] if key[1] == "-" else "%s (%s)" % key
    a = "%.0f" % (r2[key] / 1024) if key in r2 else ""
    print("| %s | %s | %.0f |" % (name, a, r4[key] / 1024))
print("| **total** | **%.0f** | **%.0f** |" % (sum(r2.values()) / 1024, sum(r4.values()) / 1024))
print("| wall time of `up` (s) | %s | %s |" % (sys.argv[3], sys.argv[4]))' "$work/rss2" "$work/rss4" "$up2" "$up4"
echo
if [ "$fails" -ne 0 ]; then echo "FAIL: $fails check(s) failed"; exit 1; fi
echo "PASS: all checks passed"
