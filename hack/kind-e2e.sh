#!/usr/bin/env bash
# End-to-end install on a throwaway kind cluster, the way a cluster admin installs the operator:
# build the image, load it into kind, `helm install` the chart, apply examples/vmoprofile.yaml and
# wait for the profile to become Available.
#
# Needs Docker (a running daemon), kind, kubectl and helm (PATH, or .bin/helm from
# `hack/testenv/build.sh helm`). It cannot run on machines without Docker; keep it correct by review.
#
# Usage: hack/kind-e2e.sh            create (or reuse) the cluster, install, wait
#        hack/kind-e2e.sh down       delete the cluster
# Environment: KIND_CLUSTER (vmo-e2e), IMAGE (vmo-operator:e2e), TIMEOUT (15m), KEEP=1 keeps the
# cluster after a successful run (it is always kept after a failure, for inspection).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${KIND_CLUSTER:-vmo-e2e}"
image="${IMAGE:-vmo-operator:e2e}"
timeout="${TIMEOUT:-15m}"
namespace=vmo-system
context="kind-$cluster"

helm_bin="$(command -v helm || true)"
[ -n "$helm_bin" ] || helm_bin="$repo/.bin/helm"

die() { echo "kind-e2e: $*" >&2; exit 1; }
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
[ -x "$helm_bin" ] || die "helm is not on PATH and .bin/helm is missing (hack/testenv/build.sh helm)"
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable"

if [ "${1:-}" = down ]; then
  kind delete cluster --name "$cluster"
  exit 0
fi

k() { kubectl --context "$context" "$@"; }

diagnose() {
  echo "--- kind-e2e failed; cluster $cluster is kept for inspection (hack/kind-e2e.sh down) ---" >&2
  k get vmoprofile -o yaml >&2 || true
  k -n "$namespace" get pods -o wide >&2 || true
  k -n "$namespace" logs deployment/vmo-operator --tail=100 >&2 || true
  k get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -40 >&2 || true
}
trap diagnose ERR

if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --wait 180s
fi

docker build -t "$image" "$repo"
kind load docker-image "$image" --name "$cluster"

repository="${image%:*}"
tag="${image##*:}"
# The namespace enforces the restricted Pod Security level, as docs/install.md tells users to create it.
k create namespace "$namespace" --dry-run=client -o yaml | k apply -f -
k label namespace "$namespace" --overwrite pod-security.kubernetes.io/enforce=restricted
"$helm_bin" upgrade --install vmo-operator "$repo/charts/vmo-operator" \
  --kube-context "$context" --namespace "$namespace" \
  --set image.repository="$repository" --set image.tag="$tag" --set image.pullPolicy=Never \
  --wait --timeout 5m

k apply -f "$repo/examples/vmoprofile.yaml"
k wait --for=condition=Available vmoprofile/vmo --timeout="$timeout"
k get vmoprofile vmo
echo "kind-e2e: vmoprofile/vmo is Available"

trap - ERR
if [ "${KEEP:-0}" != 1 ]; then
  kind delete cluster --name "$cluster"
fi
