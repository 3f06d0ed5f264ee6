"""`vmo run` ends by itself on SIGTERM, as the kubelet sends it when a pod is deleted or rolled.

kopf used to wait for its stop flag in a worker thread that nothing woke on a signal, and
asyncio joined that thread on the way out: the process never exited and was always killed at the
end of its grace period, so every rollout and drain took the whole grace period.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.operator import OperatorProcess, bind_operator_identity
from tests.support.vms import webhook_operator
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.macpool.admission_config import CONFIGURATION_NAME

pytestmark = pytest.mark.integration

# Far longer than a clean stop needs; the process used to live until it was killed.
EXIT_TIMEOUT_SECONDS = 60


def _terminated(process: OperatorProcess) -> int:
    """The exit code after a SIGTERM to the process alone (not its group), as a container's PID 1."""
    assert process.popen is not None
    process.popen.send_signal(signal.SIGTERM)
    try:
        return process.popen.wait(timeout=EXIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"still running {EXIT_TIMEOUT_SECONDS} s after SIGTERM:\n{process.log_tail()}")


@pytest.fixture
def no_webhooks_left(api_client: Any) -> Iterator[None]:
    """A stopped replica leaves its webhook configurations (other replicas may still serve them);
    with none left, later tests' VM creates would fail calling it."""
    yield
    admission = client.AdmissionregistrationV1Api(api_client)
    with contextlib.suppress(ApiException):
        admission.delete_mutating_webhook_configuration(CONFIGURATION_NAME)
    with contextlib.suppress(ApiException):
        admission.delete_validating_webhook_configuration(CONFIGURATION_NAME)


@pytest.mark.usefixtures("no_webhooks_left")
@pytest.mark.parametrize("webhooks", [False, True], ids=["reconciler", "with-mac-webhooks"])
def test_sigterm_ends_the_operator_cleanly(
    control_plane: ControlPlane, project_crds: list[str], tmp_path: Path, webhooks: bool
) -> None:
    kubeconfig = bind_operator_identity(control_plane)
    log = tmp_path / "operator.log"
    if webhooks:
        process = webhook_operator(kubeconfig, log, client_ca=control_plane.webhook_client_ca).start()
    else:
        process = OperatorProcess(kubeconfig=kubeconfig, log_path=log).start()
    assert _terminated(process) == 0, process.log_tail()
    text = log.read_text()
    # kopf says it when the signal came while it ran; `vmo run` when it came before (still starting).
    assert "Signal SIGTERM is received" in text or "signal=SIGTERM" in text, process.log_tail()
    assert "Traceback" not in text, process.log_tail()
