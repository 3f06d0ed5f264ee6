#!/usr/bin/env bash
# Builds the test control-plane binaries, and the real operand controllers, from the Go modules
# beside this script.
#
# Each module's binaries go into a cache directory keyed on its go.mod, go.sum and its build recipe
# (binaries, packages, ldflags, renames and the build function below), so they are rebuilt only when
# a pin or the recipe changes; adding another module here does not rebuild the others. .bin/ in the
# repo then links to the cached builds.
# Usage: hack/testenv/build.sh [module ...]   (default: k8s etcd kwok helm)
# Operands: snapshot-controller descheduler cdi-operator virt-operator (make operands-bin)
# The real bridge CNI plugin, for make netproof: cni-plugins
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache_root="${VMO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmo-operator/testenv}"
bin_dir="$repo/.bin"
mkdir -p "$cache_root" "$bin_dir"

# Version stamp for the Kubernetes binaries, read from the pin so /version reports it.
k8s_version="$(cd "$here/k8s" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"

binaries_of() {
  case "$1" in
    k8s)  echo "kube-apiserver kube-controller-manager kube-scheduler" ;;
    etcd) echo "etcd" ;;
    kwok) echo "kwok" ;;
    helm) echo "helm" ;;
    snapshot-controller) echo "snapshot-controller" ;;
    descheduler) echo "descheduler" ;;
    cdi-operator) echo "cdi-operator cdi-manifest-generator" ;;
    virt-operator) echo "virt-operator" ;;
    cni-plugins) echo "bridge" ;;
    *) echo "unknown module $1" >&2; return 1 ;;
  esac
}

packages_of() {
  case "$1" in
    k8s)  echo "k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler" ;;
    etcd) echo "go.etcd.io/etcd/server/v3" ;;
    kwok) echo "sigs.k8s.io/kwok/cmd/kwok" ;;
    helm) echo "helm.sh/helm/v3/cmd/helm" ;;
    snapshot-controller) echo "github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller" ;;
    descheduler) echo "sigs.k8s.io/descheduler/cmd/descheduler" ;;
    cdi-operator) echo "kubevirt.io/containerized-data-importer/cmd/cdi-operator kubevirt.io/containerized-data-importer/tools/manifest-generator" ;;
    virt-operator) echo "kubevirt.io/kubevirt/cmd/virt-operator" ;;
    cni-plugins) echo "github.com/containernetworking/plugins/plugins/main/bridge" ;;
  esac
}

ldflags_of() {
  case "$1" in
    k8s) echo "-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean" ;;
    # Version stamps where upstream's builds set them: snapshot-controller --version, descheduler
    # version, and the KubeVirt version virt-operator reports in KubeVirt's status.operatorVersion.
    snapshot-controller) echo "-s -w -X main.version=$(pinned_version snapshot-controller github.com/kubernetes-csi/external-snapshotter/v8)" ;;
    descheduler) echo "-s -w -X sigs.k8s.io/descheduler/pkg/version.version=$(pinned_version descheduler sigs.k8s.io/descheduler)" ;;
    virt-operator) echo "-s -w -X kubevirt.io/client-go/version.gitVersion=$(pinned_version virt-operator kubevirt.io/kubevirt) -X kubevirt.io/client-go/version.gitTreeState=clean" ;;
    *) echo "-s -w" ;;
  esac
}

# The version a module's go.mod requires of a dependency, read without loading the module graph.
pinned_version() {
  awk -v m="$2" '$1 == m { print $2 }' "$here/$1/go.mod"
}

# Binaries that go names differently from .bin/, as "built-name name" lines.
renames_of() {
  case "$1" in
    # go names the binary of go.etcd.io/etcd/server/v3 after "server".
    etcd) echo "server etcd" ;;
    # CDI's manifest-generator gets its project's prefix in .bin/.
    cdi-operator) echo "manifest-generator cdi-manifest-generator" ;;
  esac
}

# What decides a module's build besides its go.mod and go.sum.
recipe_of() {
  echo "bins=$(binaries_of "$1")"
  echo "pkgs=$(packages_of "$1")"
  echo "ldflags=$(ldflags_of "$1")"
  echo "renames=$(renames_of "$1")"
  declare -f build_module
}

build_module() {
  local mod="$1" key out tmp bins
  key="$({ cat "$here/$mod/go.mod" "$here/$mod/go.sum"; recipe_of "$mod"; } | sha256sum | cut -c1-16)"
  out="$cache_root/$mod-$key"
  bins="$(binaries_of "$mod")"
  if [ ! -f "$out/.complete" ]; then
    echo "building $mod ($bins) into $out" >&2
    tmp="$(mktemp -d "$cache_root/.$mod-XXXXXX")"
    local start=$SECONDS
    # shellcheck disable=SC2046
    (cd "$here/$mod" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath \
        -ldflags "$(ldflags_of "$mod")" -o "$tmp/" $(packages_of "$mod"))
    renames_of "$mod" | while read -r from to; do mv "$tmp/$from" "$tmp/$to"; done
    touch "$tmp/.complete"
    rm -rf "$out"
    mv "$tmp" "$out"
    echo "built $mod in $((SECONDS - start))s" >&2
  fi
  for b in $bins; do
    ln -sfn "$out/$b" "$bin_dir/$b"
  done
}

modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(k8s etcd kwok helm)
for m in "${modules[@]}"; do
  build_module "$m"
done
