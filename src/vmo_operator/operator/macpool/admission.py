"""The four MAC admission webhooks: kopf's requests in, `macpool.webhook`'s decisions out.

Mutating and validating, each for VirtualMachines (CREATE, UPDATE) and bare
VirtualMachineInstances (CREATE). Each has its own id, and so its own URL path, matching the
configurations in `admission_config`. The decision runs in a worker thread; a denial becomes
kopf's AdmissionError, an allowance its JSON patch and warnings.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Literal, cast

import kopf
import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.macpool import admission_config, duplicates, vmshape, webhook
from vmo_operator.operator.macpool.runtime import MacPoolRuntime

log = structlog.get_logger("vmo.macpool")

Operation = Literal["CREATE", "UPDATE"]
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
    userinfo: Mapping[str, Any] | None = None,
) -> None:
    serving = runtime.serving
    if serving is None or serving.view is None:
        raise kopf.AdmissionError("the MAC allocator is still starting; retry", code=503)
    context = runtime.context(serving.view, serving.certificates)
    request = webhook.AdmissionRequest(
        str(operation or ""),
        kind,
        dict(body),
        dict(old) if old else None,
        bool(dryrun),
        # Who asked, as the API server authenticated them: the allow-duplicate annotation counts
        # only if this requester may use duplicate MACs.
        duplicates.Requester.of(userinfo),
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
        patch.fns.append(lambda raw: vmshape.apply_patch_in_place(cast(dict[str, Any], raw), operations))


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
        userinfo: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> None:
        await admit(runtime, decide, name, kind, body, old, operation, dryrun, patch, warnings, userinfo)

    return handler


def _webhook(
    registry: kopf.OperatorRegistry,
    runtime: MacPoolRuntime,
    on: Callable[..., Callable[[Any], Any]],
    decide: Decide,
    kind: Kind,
    path: str,
    *operations: Operation,
) -> None:
    """One webhook. `path` is its kopf id, and so its URL, as `admission_config` configures it."""
    label = path.removeprefix("macpool-")  # "mutate-vm": how metrics and logs name it
    handler = _handler(runtime, decide, label, kind.kind)
    on(
        kind.group,
        kind.version,
        kind.plural,
        id=path,
        operations=list(operations),
        side_effects=True,
        registry=registry,
    )(handler)


def register(registry: kopf.OperatorRegistry, runtime: MacPoolRuntime) -> None:
    vm, vmi = kinds.VIRTUAL_MACHINE, kinds.VIRTUAL_MACHINE_INSTANCE
    add = functools.partial(_webhook, registry, runtime)
    add(kopf.on.mutate, webhook.mutate, vm, admission_config.MUTATE_VM, "CREATE", "UPDATE")
    add(kopf.on.mutate, webhook.mutate, vmi, admission_config.MUTATE_VMI, "CREATE")
    add(kopf.on.validate, webhook.validate, vm, admission_config.VALIDATE_VM, "CREATE", "UPDATE")
    add(kopf.on.validate, webhook.validate, vmi, admission_config.VALIDATE_VMI, "CREATE")
