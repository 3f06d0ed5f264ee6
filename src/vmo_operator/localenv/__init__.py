"""The local control plane the product ships for development, demos and tests.

`controlplane` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on
127.0.0.1; `processes` starts and finds their processes; `pki` makes the certificates and
kubeconfigs. It sits beside the CLI, above everything else: nothing in the operator imports it,
and it reaches the API server only through `vmo_operator.kube.client`.
"""
