"""Fixtures of the fault-injection and bad-input suites: one control plane for the whole package.

See harness.py for why it is not the session's control plane. Sizes come from budget.py
(environment variables), so `make test` and `make chaos` run the same tests at different lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from hack.official_client import official_client
from hack.simulators.operands import OperandSimulator, simulated_operands
from tests.chaos.budget import BUDGET, Budget
from tests.chaos.harness import WORKLOAD_NAMESPACE, ChaosCluster, Workloads, reset, reset_to_base
from tests.support.kube import apply_crd_files
from tests.support.operator import bind_operator_identity
from tests.support.paths import REPO
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import free_port, leftover_processes

# The modules that must start from an empty cluster (`clean`) run first, in this order; the others
# then share one installed base (`based`) instead of each removing and installing it again. The kill
# rounds go first: they start on the fresh, empty cluster, and when their last round was a deletion
# (as with `make test`'s budget and seed) the fuzz module finds the cluster empty too, so no
# `clean` pays for a profile's removal (12 to 20 s on the 2-core machine).
STARTS_EMPTY = ("test_operator_kills.py", "test_fuzz_profiles.py")


def _rank(item: pytest.Item) -> int:
    name = item.path.name
    return STARTS_EMPTY.index(name) if name in STARTS_EMPTY else len(STARTS_EMPTY)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if item.path.parent == here]
    ordered = sorted((items[i] for i in slots), key=_rank)
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


@pytest.fixture(scope="package")
def budget(pytestconfig: pytest.Config) -> Budget:
    """The run's sizes and seed, printed even under output capture so a failure can be replayed."""
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\n[chaos] {BUDGET}")
    return BUDGET


@pytest.fixture(scope="package")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosCluster]:
    plane = ControlPlane().start()
    workdir = plane.workdir
    simulator = None
    cluster = None
    try:
        api = official_client(plane.kubeconfig)
        apply_crd_files(api, sorted((REPO / "crds").glob("*.yaml")))
        simulator = OperandSimulator(api, simulated_operands(plane.kubeconfig)).start()
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=WORKLOAD_NAMESPACE))
        )
        cluster = ChaosCluster(
            plane=plane,
            api=api,
            kubeconfig=bind_operator_identity(plane),
            port=free_port(),
            logs=tmp_path_factory.mktemp("chaos-operators"),
            simulator=simulator,
        )
        cluster.start_operator()
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop_operators()
            print(
                f"\n--- last operator log ({cluster.operator.log_path}) ---\n{cluster.operator.log_tail(30)}"
            )
        if simulator is not None:
            simulator.stop()
        plane.stop()
    assert workdir is not None
    assert not leftover_processes(workdir), "control-plane processes left behind"


@pytest.fixture(scope="module")
def clean(chaos: ChaosCluster) -> ChaosCluster:
    """Each module starts with no profile, no workloads and one live operator (what a module
    leaves behind is cleared by the next one, or goes with the control plane)."""
    reset(chaos)
    return chaos


@pytest.fixture(scope="module")
def based(chaos: ChaosCluster) -> ChaosCluster:
    """Each module starts with the base profile converged, no workloads and one live operator;
    for the modules that need no empty cluster (`reset_to_base`)."""
    reset_to_base(chaos)
    return chaos


@pytest.fixture
def workloads(chaos: ChaosCluster) -> Workloads:
    return Workloads(chaos.api)


@pytest.fixture
def say(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a summary line (a recovery time, a tally) even when pytest captures output."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(f"\n[chaos] {line.strip()}", end="")

    return emit
