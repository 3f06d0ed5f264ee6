"""Is our own webhook answering? The readiness check, its HTTPS self-probe, and the reactor-restart rule.

Readiness runs a harmless dry-run review through the admission path in process: the function the
server dispatches to (`admission.Dispatcher` in `vmo run`) and the decision, under a deadline
below the webhook's timeoutSeconds. The webhook server answers it at GET /readyz on the webhook
port (see `server`), so a probe proves that this replica's TLS listener, event loop and admission
path all answer in time: a replica that is stopped or hung fails it, while a TCP connect would
still succeed (the kernel accepts connections for a stopped process).

The maintenance loop probes /readyz over HTTPS, trusting only our CA. Where kopf's own admission
function serves (a server given no dispatch), kopf answers a resource it does not know as
unknown, which is how a stale view of the VirtualMachine API shows (see `reactor`): two such
answers in a row while discovery serves the API ask for a restart, so a re-scan kopf is about to
make anyway does not cost one. Before KubeVirt is installed the answer is unknown too, and the
replica is ready: no VM can be created, so none waits for admission. The Dispatcher routes by
path and never answers unknown: kopf's view of the API does not matter to it.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import ssl
import uuid
from collections.abc import Callable
from typing import Any, Literal, cast

import kopf

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.macpool import admission_config
from vmo_operator.macpool.reservation import VM_KIND
from vmo_operator.operator.macpool.runtime import AdmissionOptions

ProbeResult = Literal["ok", "unknown-resource", "failed"]
PROBE_PATH = admission_config.VALIDATE_VM
READINESS_PATH = "readyz"
# The in-process check's deadline: well below the webhook's timeoutSeconds, so a replica too slow
# to admit in time is not ready; the kubelet's probe timeout (chart) sits between the two.
READINESS_SECONDS = 3.0
PROBE_SECONDS = 5
STALE_PROBES_BEFORE_RESTART = 2


def dry_run_review() -> dict[str, Any]:
    """A review the API server could send, for a VM without interfaces, in dry-run: no side effect."""
    vm = kinds.VIRTUAL_MACHINE
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": vm.group, "version": vm.version, "kind": VM_KIND},
            "resource": {"group": vm.group, "version": vm.version, "resource": vm.plural},
            "operation": "CREATE",
            "namespace": "vmo-probe",
            "userInfo": {"username": "vmo-macpool-probe"},
            "dryRun": True,
            "object": {
                "apiVersion": vm.api_version,
                "kind": VM_KIND,
                "metadata": {"name": "probe", "namespace": "vmo-probe"},
                "spec": {},
            },
        },
    }


async def admission_path(admit: kopf.WebhookFn) -> ProbeResult:
    """Run `dry_run_review` through kopf's admission function `admit`, under READINESS_SECONDS."""
    try:
        review = cast(Any, dry_run_review())  # kopf's Request is a TypedDict of the same JSON
        answer = await asyncio.wait_for(admit(review, webhook=PROBE_PATH), READINESS_SECONDS)
    except TimeoutError:
        return "failed"
    except Exception as exc:
        # kopf's UnknownResourceError is not public; its name is what tells it apart.
        return "unknown-resource" if type(exc).__name__ == "UnknownResourceError" else "failed"
    return "ok" if (answer.get("response") or {}).get("allowed") else "failed"


@functools.lru_cache(maxsize=2)  # the CA changes on rotation only; building a context parses it
def _trusting(ca_bundle: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_bundle.decode("ascii"))
    context.check_hostname = False  # we dial loopback; the chain is still verified against our CA
    return context


def probe(options: AdmissionOptions, ca_bundle: bytes) -> ProbeResult:
    """GET /readyz of our own server, trusting only our CA."""
    context = _trusting(ca_bundle)
    host = "127.0.0.1" if options.listen_host in ("0.0.0.0", "") else options.listen_host
    connection = http.client.HTTPSConnection(host, options.port, context=context, timeout=PROBE_SECONDS)
    try:
        connection.request("GET", f"/{READINESS_PATH}")
        answer = json.loads(connection.getresponse().read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
        return "failed"
    finally:
        connection.close()
    result = answer.get("result") if isinstance(answer, dict) else None
    return result if result in ("ok", "unknown-resource") else "failed"


def vm_api_served(kube: KubeClient) -> bool:
    """Whether API discovery serves kubevirt.io/v1 virtualmachines right now."""
    try:
        return kube.served(kinds.VIRTUAL_MACHINE)
    except KubeError:
        return False


class Readiness:
    """Probes our webhook; asks for a reactor restart when kopf missed the VirtualMachine API."""

    def __init__(
        self,
        probe: Callable[[], ProbeResult],
        vm_api_served: Callable[[], bool],
        request_restart: Callable[[str], None],
    ) -> None:
        self._probe = probe
        self._vm_api_served = vm_api_served
        self._request_restart = request_restart
        self.stale_probes = 0

    def check(self) -> ProbeResult:
        """One probe (blocking: run it in a worker thread)."""
        result = self._probe()
        stale = result == "unknown-resource" and self._vm_api_served()
        self.stale_probes = self.stale_probes + 1 if stale else 0
        if self.stale_probes >= STALE_PROBES_BEFORE_RESTART:
            self.stale_probes = 0
            self._request_restart("the webhook answers 404 for VirtualMachines that discovery serves")
        return result
