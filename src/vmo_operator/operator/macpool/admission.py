"""The four MAC admission webhooks: kopf's requests in, `macpool.webhook`'s decisions out.

Mutating and validating, each for VirtualMachines (CREATE, UPDATE) and bare
VirtualMachineInstances (CREATE). Each has its own id, and so its own URL path, matching the
configurations in `admission_config`. The decision runs in a worker thread; a denial becomes
kopf's AdmissionError, an allowance its JSON patch and warnings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, cast

import kopf
import structlog

from vmo_operator.kube import kinds
from vmo_operator.macpool import admission_config, webhook
from vmo_operator.macpool.reservation import VM_KIND, VMI_KIND
from vmo_operator.operator.macpool.runtime import MacPoolRuntime

log = structlog.get_logger("vmo.macpool")

Decide = Callable[[webhook.AdmissionRequest, webhook.Context], webhook.Decision]


async def admit(
    runtime: MacPoolRuntime,
    decide: Decide,
    name: str,
    kind: str,
    body: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    operation: str | None,
    dryrun: bool,
    patch: kopf.Patch,
    warnings: list[str],
) -> None:
    serving = runtime.serving
    if serving is None or serving.view is None:
        raise kopf.AdmissionError("the MAC allocator is still starting; retry", code=503)
    context = runtime.context(serving.view, serving.certificates)
    request = webhook.AdmissionRequest(
        str(operation or ""), kind, dict(body), dict(old) if old else None, bool(dryrun)
    )
    seconds = runtime.metrics.admission_seconds
    started = time.perf_counter()
    try:
        decision = await runtime.in_thread(decide, request, context)
    except Exception as exc:
        seconds.labels(name, "error").observe(time.perf_counter() - started)
        log.warning("MAC admission failed", webhook=name, namespace=request.namespace, error=str(exc))
        raise kopf.AdmissionError(f"MAC allocation is unavailable: {exc}", code=500) from exc
    if isinstance(decision, webhook.Denied):
        seconds.labels(name, "denied").observe(time.perf_counter() - started)
        raise kopf.AdmissionError(decision.message, code=decision.code)
    seconds.labels(name, "allowed").observe(time.perf_counter() - started)
    warnings.extend(decision.warnings)
    for claim in decision.claims:
        if claim.wrote:
            runtime.metrics.reservations.labels("takeover" if claim.previous else "new").inc()
    if decision.patch:
        operations = list(decision.patch)
        patch.fns.append(lambda raw: webhook.apply_patch_in_place(cast(dict[str, Any], raw), operations))


def _handler(
    runtime: MacPoolRuntime, decide: Decide, name: str, kind: str
) -> Callable[..., Coroutine[Any, Any, None]]:
    async def handler(
        *,
        body: kopf.Body,
        dryrun: bool,
        patch: kopf.Patch,
        warnings: list[str],
        old: Any = None,
        operation: str | None = None,
        **_: Any,
    ) -> None:
        await admit(runtime, decide, name, kind, body, old, operation, dryrun, patch, warnings)

    return handler


def register(registry: kopf.OperatorRegistry, runtime: MacPoolRuntime) -> None:
    vm, vmi = kinds.VIRTUAL_MACHINE, kinds.VIRTUAL_MACHINE_INSTANCE
    kopf.on.mutate(
        vm.group,
        vm.version,
        vm.plural,
        id=admission_config.MUTATE_VM,
        operations=["CREATE", "UPDATE"],
        side_effects=True,
        registry=registry,
    )(_handler(runtime, webhook.mutate, "mutate-vm", VM_KIND))
    kopf.on.mutate(
        vmi.group,
        vmi.version,
        vmi.plural,
        id=admission_config.MUTATE_VMI,
        operations=["CREATE"],
        side_effects=True,
        registry=registry,
    )(_handler(runtime, webhook.mutate, "mutate-vmi", VMI_KIND))
    kopf.on.validate(
        vm.group,
        vm.version,
        vm.plural,
        id=admission_config.VALIDATE_VM,
        operations=["CREATE", "UPDATE"],
        side_effects=True,
        registry=registry,
    )(_handler(runtime, webhook.validate, "validate-vm", VM_KIND))
    kopf.on.validate(
        vmi.group,
        vmi.version,
        vmi.plural,
        id=admission_config.VALIDATE_VMI,
        operations=["CREATE"],
        side_effects=True,
        registry=registry,
    )(_handler(runtime, webhook.validate, "validate-vmi", VMI_KIND))
