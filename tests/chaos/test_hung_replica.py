"""A hung webhook replica: its readiness fails, it leaves the endpoints, admission goes on.

One of two replicas is SIGSTOPped, as a stuck process or a frozen node would be. The kernel still
completes TCP handshakes for it, so a TCP readiness probe would keep it on the endpoints and the
API server's calls to it would time out. The HTTPS readiness probe (GET /readyz through the
admission path) fails instead, and the Service stand-in (`tests.support.endpoints`) drops it,
as the kubelet and kube-proxy would; the replicas listen on ports of their own for that, since
replicas sharing a port cannot be told apart. VM creates go on through the other replica, with a
client's retries while the stopped one is still listed, and every VM ends up with unique MACs
reserved to it. SIGCONT brings the replica back onto the endpoints.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable

import pytest

from tests.chaos.harness import ChaosCluster, Workloads, install_base, settle, uncommitted_macs
from tests.support.endpoints import ReadinessProxy
from tests.support.waiting import eventually
from tests.support.webhook_calls import WebhookCaller
from vmo_operator.localenv.processes import free_port

pytestmark = pytest.mark.integration

# Well past what the probe settings need (period 1 s, 2 s timeout, 2 failures), for a loaded machine.
ENDPOINTS_SECONDS = 60


def test_a_stopped_replica_fails_readiness_and_admission_goes_on_through_the_other(
    based: ChaosCluster, workloads: Workloads, say: Callable[[str], None]
) -> None:
    chaos = based
    install_base(chaos, workloads)
    chaos.stop_operators()  # from here on, only the two replicas below serve
    stuck_port, healthy_port = free_port(), free_port()
    try:
        with ReadinessProxy([stuck_port, healthy_port]) as service:
            stuck = chaos.start_operator(port=stuck_port, url_port=service.port)
            chaos.start_operator(port=healthy_port, url_port=service.port)
            both = sorted([stuck_port, healthy_port])
            eventually(lambda: service.endpoints() == both, timeout=ENDPOINTS_SECONDS, what="both ready")
            workloads.add_vm()

            os.kill(stuck.pid, signal.SIGSTOP)
            try:
                # What the old TCP probe saw: the stopped process's port still accepts.
                socket.create_connection(("127.0.0.1", stuck_port), timeout=5).close()
                workloads.add_vm()  # with a client's retries, while it may still be listed
                eventually(
                    lambda: service.endpoints() == [healthy_port],
                    timeout=ENDPOINTS_SECONDS,
                    what="the stopped replica off the endpoints",
                )
                with pytest.raises(TimeoutError):  # nothing answers the TLS handshake
                    WebhookCaller(stuck_port, timeout=3).ready()
                assert WebhookCaller(healthy_port).ready() == (200, {"result": "ok"})
                for _ in range(5):
                    workloads.add_vm()
                settle(workloads.problems, timeout=30, what="every VM intact with valid, unique MACs")
                settle(lambda: uncommitted_macs(chaos.api), timeout=30, what="every MAC committed to its VM")
            finally:
                os.kill(stuck.pid, signal.SIGCONT)

            eventually(
                lambda: service.endpoints() == both, timeout=ENDPOINTS_SECONDS, what="back on the endpoints"
            )
            workloads.add_vm()
            settle(workloads.problems, timeout=30, what="every VM intact with valid, unique MACs")
            say(f"hung replica: {len(workloads.vms)} VMs admitted, endpoints {service.endpoints()}")
    finally:
        chaos.stop_operators()  # the next module's reset starts one on the shared port again
