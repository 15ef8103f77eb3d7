#!/usr/bin/env bash
# Builds the testbed binaries (kube multi-call binary, etcd, testbed launcher,
# and KubeFed's kubefedctl for the compatibility tests)
# into a cache outside the checkout, keyed by version and by the sources that
# produce them, so a second run does not rebuild. Prints the bin directory.
# `build.sh launcher` builds only the launcher (seconds), for commands such as
# down and status that do not need the control-plane binaries rebuilt.
set -euo pipefail
only="${1:-}"
case "$only" in
  ""|launcher) ;;
  *) echo "usage: build.sh [launcher]" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

if ! command -v go >/dev/null 2>&1; then
  echo "testbed build: no Go toolchain on PATH (Go 1.26 or newer is needed to build the testbed)" >&2
  exit 1
fi

key() { cat "$@" | sha256sum | cut -c1-12; }
cache_root="${KFED_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kfed/testbed}"
bin="$cache_root/bin"
mkdir -p "$bin"

export CGO_ENABLED=0
minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"

build() { # name, source dir, cache key, package, extra go build args...
  local name="$1" dir="$2" k="$3" pkg="$4"; shift 4
  local out="$bin/$name-$k"
  if [ ! -x "$out" ]; then
    echo "testbed build: building $name (this takes a while on a cold cache)" >&2
    local start=$SECONDS
    (cd "$dir" && go build -trimpath -o "$out.tmp" "$@" "$pkg") || { rm -f "$out.tmp"; echo "testbed build: building $name failed" >&2; exit 1; }
    mv "$out.tmp" "$out"
    echo "testbed build: $name built in $((SECONDS - start))s" >&2
  fi
  ln -sfn "$(basename "$out")" "$bin/$name"
}

# The launcher is small and standard-library only; it finds kube and etcd next
# to itself in this bin dir.
build testbed "$here/launcher" "$(key "$here/launcher/go.mod" "$here"/launcher/*.go)" . -ldflags "-s -w"
if [ "$only" = launcher ]; then echo "$bin"; exit 0; fi

build kube "$here/k8s" "$KUBERNETES_VERSION-$(key "$here/k8s/go.mod" "$here/k8s/go.sum" "$here/k8s/main.go")" . \
  -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"
build etcd "$here/etcd" "$ETCD_VERSION-$(key "$here/etcd/go.mod" "$here/etcd/go.sum" "$here/etcd/main.go")" . -ldflags "-s -w"
# KubeFed's own CLI (v0.10.0, from its Go module), for the compatibility tests.
build kubefedctl "$here/kubefedctl" "$(key "$here/kubefedctl/go.mod" "$here/kubefedctl/go.sum")" \
  sigs.k8s.io/kubefed/cmd/kubefedctl -ldflags "-s -w"
echo "$bin"
