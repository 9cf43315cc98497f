#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, etcd and helm from Go modules into a cache outside the
# repository, keyed by version, and prints the directory that holds them. Nothing is
# rebuilt when the cached binary is already there. A cold build takes several minutes.
# Usage: hack/build-binaries.sh        (prints the bin directory on stdout, progress on stderr)
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$hack/versions.env"
cache=${WSAUDIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wsaudit}
k8s_bin="$cache/bin/kubernetes-$KUBERNETES_VERSION"
helm_bin="$cache/bin/helm-$HELM_VERSION"
mkdir -p "$k8s_bin" "$helm_bin"

export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local

module_version() { awk -v m="$1" '$1 == m {print $2; exit}' "$2"; }

progress() { printf '[build-binaries] %s\n' "$*" >&2; }

build() { # build NAME OUTPUT_DIR PACKAGE LDFLAGS (run in the current module)
  local name=$1 out=$2 pkg=$3 ldflags=$4
  if [ -x "$out/$name" ]; then return 0; fi
  progress "building $name ($pkg); a cold build takes minutes on 2 cores..."
  local started=$SECONDS
  # Build into a temporary name so an interrupted build never leaves a half-written binary.
  go build -pgo=off -trimpath -ldflags "$ldflags" -o "$out/.$name.partial" "$pkg"
  mv "$out/.$name.partial" "$out/$name"
  progress "built $name in $((SECONDS - started)) s"
}

if ! command -v go >/dev/null; then
  echo "build-binaries: Go is required (go 1.26 or newer on PATH)" >&2
  exit 2
fi

minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
(
  cd "$hack/k8s"
  build kube-apiserver "$k8s_bin" k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
  build kubectl "$k8s_bin" k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
  build etcd "$k8s_bin" ./etcd "-s -w"
)

if [ ! -x "$helm_bin/helm" ]; then
  helm_mod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  client_go=$(module_version k8s.io/client-go "$helm_mod")
  k8s_minor=${client_go#v0.}; k8s_minor=${k8s_minor%%.*}
  helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  progress "building helm $HELM_VERSION..."
  started=$SECONDS
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" GOFLAGS="-buildvcs=false" go install -pgo=off -trimpath -ldflags "$helm_ldflags" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$tmp/helm" "$helm_bin/helm"
  progress "built helm in $((SECONDS - started)) s"
fi

# One directory for PATH: links into the versioned cache directories.
current="$cache/bin/current-$KUBERNETES_VERSION-helm-$HELM_VERSION"
mkdir -p "$current"
for tool in kube-apiserver kubectl etcd; do ln -sfn "$k8s_bin/$tool" "$current/$tool"; done
ln -sfn "$helm_bin/helm" "$current/helm"
echo "$current"
