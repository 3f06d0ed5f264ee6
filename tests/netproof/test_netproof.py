"""make netproof: the NADs the operator renders, run by the real bridge plugin in a QEMU guest whose
kernel has bridge VLAN filtering and 802.1Q, and the node agent's VLAN filtering on that bridge.

Each test boots Debian's kernel under software emulation (hack/netproof/vm.py); the guest driver
(hack/netproof/guest.py) prints one verdict per check on the serial console, which fails the test
with the guest's reason.
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


def _inputs(work: Path, nads: dict[str, str]) -> Path:
    settings = []
    for name, networks in (("settings-both.json", NETWORKS), ("settings-one.json", NETWORKS[:1])):
        path = work / name
        # The guest's uplink is a veth, which the agent counts as an uplink only when it is named.
        multus = {"networks": networks, "bridges": [{"name": "br0", "uplink": "up0"}]}
        path.write_text(node_network.agent_config(models.parse_spec({"multus": multus}).multus))
        settings.append(str(path))
    inputs = {
        "cniPath": str(Path(vm.REPO / ".bin" / "bridge").resolve().parent),
        "nads": nads,
        "settings": settings,
        "expectedUplinkVlans": [[100, 200], [100]],
    }
    (work / "inputs.json").write_text(json.dumps(inputs))
    return work


@pytest.fixture
def work(tmp_path: Path) -> Path:
    if not (vm.REPO / ".bin" / "bridge").exists():
        pytest.fail(".bin/bridge is missing: make netproof builds it (hack/testenv/build.sh cni-plugins)")
    return tmp_path


def test_rendered_vlans_carry_and_isolate_traffic_and_the_agent_filters(work: Path) -> None:
    outcome = vm.boot(_inputs(work, _nads(NETWORKS)))
    assert outcome.finished, outcome.console[-3000:]
    assert outcome.failed == [], outcome.console[-3000:]
    assert len(outcome.passed) == CHECKS, outcome.console[-3000:]


def test_it_fails_when_the_rendered_config_drops_the_vlan(work: Path) -> None:
    untagged = {
        name: json.dumps({k: v for k, v in json.loads(c).items() if k != "vlan"})
        for name, c in _nads(NETWORKS).items()
    }
    outcome = vm.boot(_inputs(work, untagged))
    assert outcome.finished, outcome.console[-3000:]
    assert "vm3 on vlan-200 does not reach vm1: vlan-200 reached vlan-100" in outcome.failed, outcome.console[
        -3000:
    ]
