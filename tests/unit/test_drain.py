"""Drain readiness: each VMI's fate on a drain, per node, bounded (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from vmo_operator.api import models
from vmo_operator.components import drain, kubevirt
from vmo_operator.components.base import ClusterFacts, ComponentHealth
from vmo_operator.kube.objects import ObjectKey


def vmi(
    name: str,
    node: str = "n1",
    strategy: str | None = None,
    migratable: bool | None = True,
    phase: str = "Running",
    namespace: str = "vms",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"domain": {}}
    if strategy is not None:
        spec["evictionStrategy"] = strategy
    conditions = []
    if migratable is not None:
        conditions.append(
            {
                "type": "LiveMigratable",
                "status": "True" if migratable else "False",
                **({} if migratable else {"reason": "DisksNotLiveMigratable"}),
            }
        )
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": {"nodeName": node, "phase": phase, "conditions": conditions},
    }


@pytest.mark.parametrize(
    ("strategy", "migratable", "cluster", "expected"),
    [
        ("LiveMigrate", True, "", drain.MIGRATE),
        ("LiveMigrate", False, "", drain.BLOCK),
        ("LiveMigrateIfPossible", True, "", drain.MIGRATE),
        ("LiveMigrateIfPossible", False, "", drain.SHUT_DOWN),
        ("External", True, "", drain.BLOCK),
        ("None", True, "LiveMigrate", drain.SHUT_DOWN),  # the VMI's own strategy wins
        (None, True, "LiveMigrate", drain.MIGRATE),  # else the cluster's
        (None, False, "LiveMigrate", drain.BLOCK),
        (None, True, "", drain.SHUT_DOWN),  # neither: KubeVirt migrates nothing
        (None, None, "LiveMigrate", drain.BLOCK),  # no LiveMigratable condition: not migratable
    ],
)
def test_fate_follows_kubevirts_rule(
    strategy: str | None, migratable: bool | None, cluster: str, expected: str
) -> None:
    (one,) = drain.on_nodes([vmi("a", strategy=strategy, migratable=migratable)])
    assert drain.fate(one, cluster)[0] == expected


def test_only_placed_unfinished_vmis_count() -> None:
    placed = drain.on_nodes(
        [vmi("run"), vmi("done", phase="Succeeded"), vmi("failed", phase="Failed"), vmi("pending", node="")]
    )
    assert [v.name for v in placed] == ["vms/run"]


def test_readiness_counts_per_node_and_names_why() -> None:
    vmis = drain.on_nodes(
        [
            vmi("m1", strategy="LiveMigrate"),
            vmi("m2", node="n2"),
            vmi("b1", strategy="LiveMigrate", migratable=False),
            vmi("s1", strategy="None"),
        ]
    )
    out = drain.readiness(vmis, "LiveMigrate")
    assert out["clusterEvictionStrategy"] == "LiveMigrate"
    n1 = out["nodes"]["n1"]
    assert (n1["liveMigrate"], n1["blockedBy"], n1["shutDown"]) == (1, 1, 1)
    assert n1["blocking"]["names"] == ["vms/b1: LiveMigrate but not live-migratable: DisksNotLiveMigratable"]
    assert n1["shuttingDown"]["names"] == ["vms/s1: evictionStrategy None"]
    assert out["nodes"]["n2"] == {"liveMigrate": 1, "blockedBy": 0, "shutDown": 0}
    assert out["moreNodes"] == 0


def test_names_and_nodes_are_bounded_and_the_hurtful_nodes_kept() -> None:
    many = [vmi(f"s{i:02}", node="busy", strategy="None") for i in range(12)]
    calm = [vmi(f"c{i:03}", node=f"calm-{i:03}") for i in range(drain.MAX_NODES + 5)]
    out = drain.readiness(drain.on_nodes([*many, *calm]), "LiveMigrate")
    busy = out["nodes"]["busy"]
    assert busy["shutDown"] == 12
    assert len(busy["shuttingDown"]["names"]) == drain.MAX_NAMES
    assert busy["shuttingDown"]["more"] == 12 - drain.MAX_NAMES
    assert len(out["nodes"]) == drain.MAX_NODES
    assert out["moreNodes"] == 6


def test_a_long_name_and_reason_is_cut() -> None:
    long = vmi("v" * 253, namespace="n" * 63, strategy="LiveMigrate", migratable=False)
    out = drain.readiness(drain.on_nodes([long]), "")
    (entry,) = out["nodes"]["n1"]["blocking"]["names"]
    assert len(entry) == drain.MAX_ENTRY
    assert entry.endswith("...")


def test_the_kubevirt_component_reports_it_with_the_crs_cluster_strategy() -> None:
    spec = models.parse_spec({})
    facts = ClusterFacts(
        by_component={"kubevirt": kubevirt.KUBEVIRT.facts_from([[], [vmi("a", migratable=True)]])}
    )
    cr = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "KubeVirt",
        "metadata": {"name": "kubevirt", "namespace": "kubevirt"},
        "spec": {"configuration": {"evictionStrategy": "None"}},
    }
    observed = {ObjectKey.of(cr): cr}
    judged = kubevirt.KUBEVIRT.assess(spec, facts, [], observed)
    health = ComponentHealth("kubevirt", True, False, details=judged.details)
    fields = kubevirt.KUBEVIRT.status_fields(spec, health)
    assert fields["drainReadiness"]["clusterEvictionStrategy"] == "None"
    assert fields["drainReadiness"]["nodes"]["n1"]["shutDown"] == 1


def test_vmo_status_prints_drain_readiness_and_vm_namespaces() -> None:
    from vmo_operator.operator.statusview import render_status

    vmis = drain.on_nodes([vmi("b1", strategy="LiveMigrate", migratable=False), vmi("m1", node="n2")])
    profile = {
        "metadata": {"name": "vmo", "generation": 1},
        "status": {
            "drainReadiness": drain.readiness(vmis, "LiveMigrate"),
            "vmNamespaces": {"old": {"state": "Released", "message": "kept"}},
        },
    }
    text = render_status(profile)
    assert "drain readiness (cluster eviction strategy LiveMigrate)" in text
    assert "n1: vms/b1: LiveMigrate but not live-migratable" in text
    assert "old           Released  kept" in text
