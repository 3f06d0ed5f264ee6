// Upstream operand source, pinned for the conformance suite: it reads the operands' own manifests
// (operator RBAC, CRDs, deployments) from the module cache instead of copies in this repository.
// Nothing here is built, and `go mod tidy` would drop every line (no package imports them): edit the
// pins by hand and run hack/upstream/fetch.sh, whose `go mod download` records the new hashes in go.sum.
// A module path takes one version per go.mod, so older KubeVirt tags are listed in fetch.sh instead.
module vmo-operator.invalid/upstream

go 1.26.0

require (
	github.com/kubernetes-csi/external-snapshotter/client/v8 v8.6.0
	github.com/kubernetes-csi/external-snapshotter/v8 v8.6.0
	gopkg.in/k8snetworkplumbingwg/multus-cni.v4 v4.2.4
	kubevirt.io/containerized-data-importer v1.65.0
	kubevirt.io/kubevirt v1.9.0
	sigs.k8s.io/descheduler v0.36.0
)
