#!/usr/bin/env bash
# `make demo` / `make demo-down`: the whole product on a local control plane.
#
# The control plane is the product's own (`python -m vmo_operator.localenv`). The operands run for
# real wherever the tests run them (tests/operands/): snapshot-controller, descheduler and
# cdi-operator, built by `make operands-bin`, run as processes (hack/operands.py) with the args and
# env of the Deployments vmo-operator rendered, each with a kubeconfig of its own ServiceAccount, so
# they hold only the rendered RBAC; their logs must show no 403. virt-operator for the default
# KubeVirt cannot be built here, and virt-api cannot run without a container runtime, so KubeVirt
# alone stays SIMULATED (hack/simulators): it is marked Deployed once the virt-operator Deployment
# rendered by vmo-operator is Ready on the kwok nodes.
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

# The real operands hack/operands.py starts; each leaves $DEMO/<name>.pid and $DEMO/<name>.log.
REAL_OPERANDS="snapshot-controller descheduler cdi-operator"
# How long the real cdi-operator gets to install CDI (a few reconciles on a loaded 2-core machine).
CDI_TIMEOUT=300s

# Start "$@" in the background, inside the namespace and in a session of its own; the process
# writes its own pid to PIDFILE just before it execs, so the pid is the session leader's and
# stop_pidfile can signal its whole process group. ($! would be the pid of a wrapper subshell.)
start_bg() {
  local pidfile="$1" log="$2"; shift 2
  in_ns setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >"$log" 2>&1 &
}

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
    echo "==> starting SIMULATED virt-operator (hack/simulators, not part of the product; KubeVirt only)"
    start_bg "$DEMO/simulator.pid" "$DEMO/simulator.log" \
      $PY -m hack.simulators.operands --kubeconfig "$KUBECONFIG" --only kubevirt
    echo "==> starting vmo-operator in the background, MAC webhook on 127.0.0.1 (log: $DEMO/operator.log)"
    webhook_port="$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    start_bg "$DEMO/operator.pid" "$DEMO/operator.log" $VMO run --log-format=console --resync-seconds=30 \
      --metrics-port=0 --webhook-mode=url --webhook-host=127.0.0.1 --webhook-port="$webhook_port" \
      --webhook-client-ca="$DEMO/cluster/pki/webhook-client-ca.crt"
    # Server-side apply under a named field manager, as a GitOps tool applies it: a later
    # `--server-side` apply never has to migrate client-side fields (README: Moving a profile to GitOps).
    echo "==> applying examples/vmoprofile.yaml (server-side, field manager vmo-demo)"
    in_ns kubectl apply --server-side --field-manager=vmo-demo -f examples/vmoprofile.yaml
    echo "==> starting the REAL snapshot-controller, descheduler and cdi-operator from the Deployments"
    echo "    vmo-operator rendered, each as its own ServiceAccount (hack/operands.py, binaries in .bin/)"
    in_ns $PY -m hack.operands start --kubeconfig "$KUBECONFIG" --dir "$DEMO"
    echo "==> waiting for the real cdi-operator to install CDI (CDI cdi to phase Deployed)"
    if ! in_ns kubectl wait --for=jsonpath='{.status.phase}'=Deployed cdi/cdi --timeout="$CDI_TIMEOUT"; then
      echo "CDI did not reach Deployed; phase: $(in_ns kubectl get cdi cdi -o jsonpath='{.status.phase}')" >&2
      tail -n 20 "$DEMO/cdi-operator.log" >&2
      exit 1
    fi
    echo "    CDI phase: $(in_ns kubectl get cdi cdi -o jsonpath='{.status.phase}'); what cdi-operator deployed in namespace cdi:"
    in_ns kubectl get deployments -n cdi
    echo "==> waiting for the profile to become Available"
    in_ns kubectl wait --for=condition=Available vmoprofile/vmo --timeout=180s
    echo
    in_ns kubectl get vmoprofiles
    echo
    in_ns $VMO status vmo
    echo
    echo "==> the real operands: still running, and not one forbidden (403) in their logs"
    in_ns $PY -m hack.operands check --dir "$DEMO"
    cat <<MSG

Running for real: vmo-operator, and snapshot-controller, descheduler and cdi-operator (processes
  built from upstream's source, each as its rendered ServiceAccount; logs $DEMO/<name>.log).
Simulated: virt-operator (hack/simulators; KubeVirt's own operator cannot run here), so KubeVirt is
  marked Deployed without virt-api, virt-controller or virt-handler really running.

The demo is running in network namespace $NETNS_NAME (only loopback). Open a shell in it:
  sudo ip netns exec $NETNS_NAME bash
then try:
  export KUBECONFIG=$KUBECONFIG
  kubectl get vmoprofiles
  .venv/bin/vmo status vmo
  kubectl get kubevirt -A; kubectl get network-attachment-definitions -A
  kubectl get cdi; kubectl get deployments -n cdi   # installed by the real cdi-operator
  $PY -m hack.operands check --dir $DEMO   # real operands alive, no forbidden/403 in their logs
  kubectl apply -f examples/vm.yaml && kubectl get vm demo-vm -o jsonpath='{..macAddress}'   # MACs assigned
  kubectl delete deployment -n kubevirt virt-operator   # watch it come back
Stop everything with: make demo-down
MSG
    ;;
  down)
    stop_pidfile "$DEMO/operator.pid"
    for name in $REAL_OPERANDS; do stop_pidfile "$DEMO/$name.pid"; done
    stop_pidfile "$DEMO/simulator.pid"
    if [ -d "$DEMO/cluster" ]; then in_ns $PY -m vmo_operator.localenv down --dir "$DEMO/cluster"; fi
    # Deleting the namespace's name does not end what still runs in it: say so instead of leaking.
    left="$(ip netns pids "$NETNS_NAME" 2>/dev/null || true)"
    if [ -n "$left" ]; then
      echo "still running in network namespace $NETNS_NAME (not stopped):" >&2
      for pid in $left; do echo "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2; done
    fi
    ip netns delete "$NETNS_NAME" 2>/dev/null || true
    rm -rf "$DEMO"
    echo "demo stopped"
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
