#!/usr/bin/env bash
# `make demo` / `make demo-down`: the whole product on a local control plane.
#
# The control plane is the product's own (`python -m vmo_operator.localenv`). virt-operator and
# cdi-operator cannot run here (no container runtime), so the demo runs the simulators of
# hack/simulators in their place: they mark the KubeVirt and CDI resources Deployed once the
# operator Deployments rendered by vmo-operator are Ready on the kwok nodes.
#
# Everything runs in the network namespace vmo-demo, which holds only loopback: the API server
# calls Service-backed webhooks of the operands by ClusterIP, and on these machines such a dial
# would leave the machine. Inside, it fails locally. Reach the demo with `ip netns exec vmo-demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
NETNS_NAME=vmo-demo
in_ns() { VMO_NETNS="$NETNS_NAME" hack/netns-run "$@"; }
DEMO=.demo
PY=.venv/bin/python
VMO=.venv/bin/vmo
export KUBECONFIG="$PWD/$DEMO/cluster/kubeconfig"

stop_pidfile() {
  local file="$1"
  if [ -f "$file" ]; then
    local pid; pid="$(cat "$file")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$file"
  fi
}

case "${1:-up}" in
  up)
    if [ -f "$DEMO/cluster/state.json" ]; then
      echo "a demo is already running; 'make demo-down' first" >&2; exit 1
    fi
    mkdir -p "$DEMO"
    echo "==> starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
    in_ns $PY -m vmo_operator.localenv up --dir "$DEMO/cluster"
    echo "==> installing the vmo-operator CRDs"
    in_ns kubectl apply --server-side -f crds/ >/dev/null
    in_ns kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
    echo "==> starting SIMULATED virt-operator and cdi-operator (hack/simulators, not part of the product)"
    in_ns setsid $PY -m hack.simulators.operands --kubeconfig "$KUBECONFIG" >"$DEMO/simulator.log" 2>&1 &
    echo $! >"$DEMO/simulator.pid"
    echo "==> starting vmo-operator in the background, MAC webhook on 127.0.0.1 (log: $DEMO/operator.log)"
    webhook_port="$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    in_ns setsid $VMO run --log-format=console --resync-seconds=30 --metrics-port=0 \
      --webhook-mode=url --webhook-host=127.0.0.1 --webhook-port="$webhook_port" >"$DEMO/operator.log" 2>&1 &
    echo $! >"$DEMO/operator.pid"
    echo "==> applying examples/vmoprofile.yaml"
    in_ns kubectl apply -f examples/vmoprofile.yaml
    echo "==> waiting for the profile to become Available"
    in_ns kubectl wait --for=condition=Available vmoprofile/vmo --timeout=180s
    echo
    in_ns kubectl get vmoprofiles
    echo
    in_ns $VMO status vmo
    cat <<MSG

The demo is running in network namespace $NETNS_NAME (only loopback). Open a shell in it:
  sudo ip netns exec $NETNS_NAME bash
then try:
  export KUBECONFIG=$KUBECONFIG
  kubectl get vmoprofiles
  .venv/bin/vmo status vmo
  kubectl get kubevirt -A; kubectl get network-attachment-definitions -A
  kubectl apply -f examples/vm.yaml && kubectl get vm demo-vm -o jsonpath='{..macAddress}'   # MACs assigned
  kubectl delete deployment -n kubevirt virt-operator   # watch it come back
Stop everything with: make demo-down
MSG
    ;;
  down)
    stop_pidfile "$DEMO/operator.pid"
    stop_pidfile "$DEMO/simulator.pid"
    if [ -d "$DEMO/cluster" ]; then in_ns $PY -m vmo_operator.localenv down --dir "$DEMO/cluster"; fi
    ip netns delete "$NETNS_NAME" 2>/dev/null || true
    rm -rf "$DEMO"
    echo "demo stopped"
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
