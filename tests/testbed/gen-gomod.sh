#!/usr/bin/env bash
# Regenerates k8s/go.mod and etcd/go.mod for the versions in versions.env.
# k8s.io/kubernetes requires its staging modules at the placeholder v0.0.0 and
# resolves them with replace directives that only apply inside its own repo; we
# derive the same list from its published go.mod and point each at v0.<minor>.<patch>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
staging_version="v0${KUBERNETES_VERSION#v1}"

command -v go >/dev/null || { echo "gen-gomod: no Go toolchain on PATH" >&2; exit 1; }

cd "$here/k8s"
rm -f go.mod go.sum
go mod init kfed.dev/testbed/k8s >/dev/null 2>&1
go mod edit -go=1.26.0
upstream_gomod="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[ -f "$upstream_gomod" ] || { echo "gen-gomod: could not download k8s.io/kubernetes@${KUBERNETES_VERSION}" >&2; exit 1; }
staging=$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$upstream_gomod" | sort -u)
[ -n "$staging" ] || { echo "gen-gomod: no v0.0.0 staging requirements found in $upstream_gomod" >&2; exit 1; }
for m in $staging; do go mod edit "-replace=${m}=${m}@${staging_version}"; done
go mod edit "-require=k8s.io/kubernetes@${KUBERNETES_VERSION}"
go mod tidy
echo "k8s/go.mod: $(echo "$staging" | wc -l) staging modules replaced with ${staging_version}"

cd "$here/etcd"
rm -f go.mod go.sum
go mod init kfed.dev/testbed/etcd >/dev/null 2>&1
go mod edit -go=1.26.0
go mod edit "-require=go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
go mod tidy
echo "etcd/go.mod: go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
