"""The operator's log carries the signal (issue 13, problem 6).

MAC webhook replicas run at the default level beside one at `--log-level=debug`: the self-probe and
every routine line appear only in the debug one, a user's duplicate MAC is an info line with the
reason, not an error, and kopf's lines name the object they are about.
"""

from __future__ import annotations

import re

import pytest
from kubernetes.client.exceptions import ApiException

from tests.support.macpool import MacPool
from tests.support.operator import OperatorProcess
from tests.support.profiles import LogMark
from tests.support.vms import create_vm, vm_macs, webhook_operator
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ACCESS_LINE = re.compile(r"\[(\w+)\s*\] .*\[aiohttp\.access\]")
# The maintenance loop's self-probe: GET /readyz, which runs a dry-run review through admission.
PROBE_ACCESS = re.compile(r'\[debug\s*\] .*"GET /readyz HTTP/1\.1" 200 .*\[aiohttp\.access\]')


@pytest.fixture(scope="module")
def debug_replica(macpool: MacPool, tmp_path_factory: pytest.TempPathFactory) -> OperatorProcess:
    kubeconfig = macpool.replicas[0].kubeconfig
    log = tmp_path_factory.mktemp("debug") / "debug-replica.log"
    replica = webhook_operator(kubeconfig, log, port=macpool.port, client_ca=macpool.client_ca)
    replica.extra_args.append("--log-level=debug")
    macpool.extra.append(replica.start())
    return replica


def test_the_self_probe_and_routine_lines_are_debug_only(
    macpool: MacPool, debug_replica: OperatorProcess
) -> None:
    marks = [LogMark(replica.log_path) for replica in macpool.replicas]
    probed = eventually(
        lambda: PROBE_ACCESS.search(debug_replica.log_path.read_text()),
        timeout=90,
        what="a self-probe logged at debug",
    )
    assert probed
    debug_log = debug_replica.log_path.read_text()
    probe_admitted = [
        line
        for line in debug_log.splitlines()
        if re.search(r"\[debug\s*\] admission allowed ", line)
        and "object=VirtualMachine/vmo-probe/probe" in line
    ]
    assert any("webhook=validate-vm" in line for line in probe_admitted), debug_log[-2000:]

    # Meanwhile, at info: no access log, no "succeeded", whichever replica answered the probes.
    eventually(
        lambda: PROBE_ACCESS.search(debug_replica.log_path.read_text()[len(debug_log) :]),
        timeout=90,
        what="another probe",
    )
    for mark in marks:
        text = mark.text()
        assert not ACCESS_LINE.search(text), text[-2000:]
        assert not re.search(r"\[info\s*\] .*succeeded\.", text), text[-2000:]
        assert "admission allowed" not in text, text[-2000:]


def test_a_duplicate_mac_is_an_info_line_with_the_reason_not_an_error(
    macpool: MacPool, debug_replica: OperatorProcess, namespace: str
) -> None:
    replicas = [*macpool.replicas, debug_replica]
    marks = [LogMark(replica.log_path) for replica in replicas]
    first = create_vm(macpool.api, namespace, "first", {"nic": None})
    mac = vm_macs(first)["nic"]
    with pytest.raises(ApiException) as denied:
        create_vm(macpool.api, namespace, "second", {"nic": mac})
    assert denied.value.status in (400, 403, 409, 422)

    def denial_logged() -> str:
        return (
            "".join(mark.text() for mark in marks)
            if "admission denied" in "".join(m.text() for m in marks)
            else ""
        )

    text = eventually(denial_logged, timeout=30, what="the denial logged")
    line = next(line for line in text.splitlines() if "admission denied" in line)
    assert re.search(r"\[info\s*\]", line), line
    assert f"VirtualMachine/{namespace}/second" in line
    assert mac.lower() in line.lower(), "the reason names the MAC"
    assert not re.search(r"\[error\s*\].*failed permanently", text), text
