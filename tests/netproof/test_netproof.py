"""make netproof: the NADs the operator renders, run by the real bridge plugin in a QEMU guest whose
kernel has bridge VLAN filtering and 802.1Q, and the node agent's VLAN filtering on that bridge.

One boot of Debian's kernel under software emulation (hack/netproof/vm.py) serves both tests; the
guest driver (hack/netproof/guest.py) prints one verdict per check and scenario on the serial
console, which fails the test with the guest's reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hack.netproof import vm
from vmo_operator.api import models
from vmo_operator.components import node_network
from vmo_operator.components.base import ClusterFacts
from vmo_operator.components.multus import MULTUS

NETWORKS = [{"name": "vlan-100", "vlan": 100}, {"name": "vlan-200", "vlan": 200}]
CHECKS = 12  # 3 ADD, 3 reachability, 2 agent rounds, 3 DEL, 1 leftovers


def _nads(networks: list[dict[str, Any]]) -> dict[str, str]:
    spec = models.parse_spec({"multus": {"networks": networks}})
    return {
        o["metadata"]["name"]: o["spec"]["config"]
        for o in MULTUS.render(spec, ClusterFacts())
        if o["kind"] == "NetworkAttachmentDefinition"
    }


def _inputs(work: Path, scenarios: dict[str, dict[str, str]]) -> Path:
    settings = []
    for name, networks in (("settings-both.json", NETWORKS), ("settings-one.json", NETWORKS[:1])):
        path = work / name
        # The guest's uplink is a veth, which the agent counts as an uplink only when it is named.
        multus = {"networks": networks, "bridges": [{"name": "br0", "uplink": "up0"}]}
        path.write_text(node_network.agent_config(models.parse_spec({"multus": multus}).multus))
        settings.append(str(path))
    inputs = {
        "cniPath": str(Path(vm.REPO / ".bin" / "bridge").resolve().parent),
        "settings": settings,
        "expectedUplinkVlans": [[100, 200], [100]],
        "scenarios": [{"name": name, "nads": nads} for name, nads in scenarios.items()],
    }
    (work / "inputs.json").write_text(json.dumps(inputs))
    return work


def _untagged(nads: dict[str, str]) -> dict[str, str]:
    """The rendered configs with their VLAN dropped: what the proof must catch."""
    return {
        name: json.dumps({k: v for k, v in json.loads(c).items() if k != "vlan"}) for name, c in nads.items()
    }


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> vm.Outcome:
    """One boot of the guest runs both scenarios: the rendered NADs, and the same without their VLAN."""
    if not (vm.REPO / ".bin" / "bridge").exists():
        pytest.fail(".bin/bridge is missing: make netproof builds it (hack/testenv/build.sh cni-plugins)")
    rendered = _nads(NETWORKS)
    work = _inputs(
        tmp_path_factory.mktemp("netproof"), {"rendered": rendered, "untagged": _untagged(rendered)}
    )
    booted = vm.boot(work)
    assert booted.finished, booted.console[-3000:]
    return booted


def test_rendered_vlans_carry_and_isolate_traffic_and_the_agent_filters(outcome: vm.Outcome) -> None:
    passed, failed = outcome.of("rendered")
    assert failed == [], outcome.console[-3000:]
    assert len(passed) == CHECKS, outcome.console[-3000:]


def test_it_fails_when_the_rendered_config_drops_the_vlan(outcome: vm.Outcome) -> None:
    _, failed = outcome.of("untagged")
    assert "vm3 on vlan-200 does not reach vm1: vlan-200 reached vlan-100" in failed, outcome.console[-3000:]
