"""Is our own webhook answering? An HTTPS self-probe, and the rule for restarting kopf's reactor.

The probe posts a harmless dry-run review to this replica's server, trusting only our CA, the
way the API server would call it. kopf answers 404 for a resource it does not know, which is how
a stale view of the VirtualMachine API shows (see `reactor`): two such answers in a row while
discovery serves the API ask for a restart, so a re-scan kopf is about to make anyway does not
cost one.
"""

from __future__ import annotations

import http.client
import json
import ssl
import uuid
from collections.abc import Callable
from typing import Literal

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.macpool import admission_config
from vmo_operator.macpool.reservation import VM_KIND
from vmo_operator.operator.macpool.runtime import AdmissionOptions

ProbeResult = Literal["ok", "unknown-resource", "failed"]
PROBE_PATH = admission_config.VALIDATE_VM
PROBE_SECONDS = 5
STALE_PROBES_BEFORE_RESTART = 2


def probe(options: AdmissionOptions, ca_bundle: bytes) -> ProbeResult:
    """POST a harmless dry-run review to our own server, trusting only our CA."""
    vm = kinds.VIRTUAL_MACHINE
    review = {
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
    context = ssl.create_default_context(cadata=ca_bundle.decode("ascii"))
    context.check_hostname = False  # we dial loopback; the chain is still verified against our CA
    host = "127.0.0.1" if options.listen_host in ("0.0.0.0", "") else options.listen_host
    connection = http.client.HTTPSConnection(host, options.port, context=context, timeout=PROBE_SECONDS)
    try:
        connection.request("POST", f"/{PROBE_PATH}", json.dumps(review), {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = json.loads(response.read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
        return "failed"
    finally:
        connection.close()
    if response.status == 404:
        return "unknown-resource"  # kopf's server does not know the VirtualMachine API
    return "ok" if response.status == 200 and (payload.get("response") or {}).get("allowed") else "failed"


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
