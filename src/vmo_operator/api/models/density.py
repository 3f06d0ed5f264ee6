"""`spec.kubevirt.density`: how many VMs a node takes, through memory and CPU overcommit and KSM.

Each field maps to one KubeVirt CR field (see `api.kubevirtfields` for the release each appeared
in); unset fields are not written, so KubeVirt's own defaults (no memory overcommit, 10 vCPUs per
physical CPU, KSM off) hold.
"""

from __future__ import annotations

from pydantic import Field

from vmo_operator.api.models.affinity import PodLabelSelector
from vmo_operator.api.models.base import Model

# Upper bounds: far beyond any sensible setting, so a typo (1000 for 100) is refused at admission
# instead of letting every VM on a node see ten times the memory its pod holds.
MAX_MEMORY_OVERCOMMIT_PERCENT = 400
MAX_CPU_ALLOCATION_RATIO = 100


class KSM(Model):
    """Kernel samepage merging on the nodes: identical guest memory pages are shared, at a CPU cost."""

    enabled: bool = Field(
        default=False,
        description=(
            "Let KubeVirt turn KSM on (KubeVirt spec.configuration.ksmConfiguration). virt-handler "
            "starts merging on a selected node only under memory pressure, and stops when it ends."
        ),
    )
    node_label_selector: PodLabelSelector | None = Field(
        default=None,
        description=(
            "Nodes on which KSM may run. Unset or empty selects every node. Only used while enabled."
        ),
    )


class Density(Model):
    """Overcommit and memory deduplication, to run more VMs per node. Unset fields keep KubeVirt's
    defaults. Each is written only where the configured KubeVirt version has the field; otherwise
    the KubeVirtConfigurationSupported condition names it."""

    memory_overcommit_percent: int | None = Field(
        default=None,
        ge=100,
        le=MAX_MEMORY_OVERCOMMIT_PERCENT,
        description=(
            "Memory a VM sees, as a percentage of the memory its virt-launcher pod requests (KubeVirt "
            "developerConfiguration.memoryOvercommit). 150 lets a VM see 1.5 times what its pod reserves "
            "on the node; the node may then run out of memory when guests use it all. Unset: 100."
        ),
    )
    cpu_allocation_ratio: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CPU_ALLOCATION_RATIO,
        description=(
            "vCPUs per physical CPU requested from the node (KubeVirt developerConfiguration."
            "cpuAllocationRatio): a VM's pod requests 1/ratio of a CPU per vCPU. 1 reserves a whole "
            "CPU per vCPU. Does not apply to VMs with dedicated CPUs. Unset: KubeVirt's default, 10."
        ),
    )
    ksm: KSM = Field(default_factory=KSM, description="Kernel samepage merging on the nodes.")
