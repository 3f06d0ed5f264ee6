"""The cluster's own identity, read in one place for every part that needs it.

The kube-system namespace exists from a cluster's first minute to its last and is never recreated,
so its UID is a stable name for the cluster: the profile reconcile records it among the cluster
facts, and the MAC pool hashes it into every MAC so that two clusters sharing a VLAN do not collide.
"""

from __future__ import annotations

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient

IDENTITY_NAMESPACE = "kube-system"


def cluster_uid(kube: KubeClient) -> str:
    """The kube-system namespace's UID; "" when that namespace cannot be found.

    Errors other than not-found propagate as `KubeError`; the caller's client sets the timeout.
    """
    namespace = kube.get(kinds.NAMESPACE, IDENTITY_NAMESPACE)
    return str((namespace or {}).get("metadata", {}).get("uid", ""))
