"""The four MAC admission webhooks: kopf's requests in, `macpool.webhook`'s decisions out.

Mutating and validating, each for VirtualMachines (CREATE, UPDATE) and bare
VirtualMachineInstances (CREATE), as `admission_config.ROUTES` lists them. Each has its own id,
and so its own URL path, matching the configurations. The decision runs in a worker thread; a
denial becomes kopf's AdmissionError, an allowance its JSON patch and warnings.

A request from a namespace the configurations' namespaceSelector leaves out is allowed untouched,
as if the API server had not called: it would not have, so the request is forged, or raced a
label change. The namespaces' labels come from kopf's index, read afresh when the index has no
namespace or a negative answer (it may lag the API server's view). Dry runs need no such check:
they reserve nothing, and the readiness check runs one for a namespace that does not exist.

Each request gets a deadline (`admission_config.DECISION_SECONDS` from its arrival): a request
that waited in the thread pool's queue past it is refused without any work, and one that runs
past it undoes its writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, cast

import kopf
import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.objects import labels_of
from vmo_operator.macpool import admission_config, duplicates, vmshape, webhook
from vmo_operator.macpool.deadline import Deadline
from vmo_operator.operator.macpool.runtime import MacPoolRuntime, Serving

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
    userinfo: Mapping[str, Any] | None = None,
) -> None:
    serving = runtime.serving
    if serving is None or serving.view is None:
        raise kopf.AdmissionError("the MAC allocator is still starting; retry", code=503)
    deadline = Deadline.after(admission_config.DECISION_SECONDS)
    context = runtime.context(serving.view, serving.certificates, deadline)
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
    if not request.dry_run and not await namespace_selected(runtime, serving, request.namespace):
        log.warning(
            "admission for a namespace the webhooks do not select: allowed untouched",
            webhook=name,
            namespace=request.namespace,
        )
        return
    seconds = runtime.metrics.admission_seconds
    started = time.perf_counter()
    try:
        decision = await runtime.in_thread(_decide_in_time, decide, request, context)
    except Exception as exc:
        seconds.labels(name, "error").observe(time.perf_counter() - started)
        log.warning("MAC admission failed", webhook=name, namespace=request.namespace, error=str(exc))
        raise kopf.AdmissionError(f"MAC allocation is unavailable: {exc}", code=500) from exc
    if isinstance(decision, webhook.Denied):
        seconds.labels(name, "denied").observe(time.perf_counter() - started)
        meta = body.get("metadata") or {}
        where = f"{kind}/{request.namespace}/{meta.get('name') or meta.get('generateName', '')}"
        log.info("admission denied", webhook=name, object=where, reason=decision.message)
        raise kopf.AdmissionError(decision.message, code=decision.code)
    seconds.labels(name, "allowed").observe(time.perf_counter() - started)
    warnings.extend(decision.warnings)
    for claim in decision.claims:
        if claim.wrote:
            runtime.metrics.reservations.labels("takeover" if claim.previous else "new").inc()
        elif claim.spare:
            runtime.metrics.reservations.labels("spare").inc()
    if decision.patch:
        operations = list(decision.patch)
        patch.fns.append(lambda raw: vmshape.apply_patch_in_place(cast(dict[str, Any], raw), operations))


async def namespace_selected(runtime: MacPoolRuntime, serving: Serving, namespace: str) -> bool:
    """Whether the webhooks' namespaceSelector picks `namespace` (see the module docstring)."""

    def selected(labels: dict[str, str]) -> bool:
        selector = serving.settings.namespace_selector
        return admission_config.namespace_in_scope(
            namespace, labels, selector, runtime.options.excluded_namespaces
        )

    cached = next(iter(serving.namespace_labels.get(namespace, [])), None)
    if cached is not None and selected(cached):
        return True
    live = await runtime.in_thread(runtime.kube.get, kinds.NAMESPACE, namespace)
    return live is not None and selected(dict(labels_of(live)))


def _decide_in_time(
    decide: Decide, request: webhook.AdmissionRequest, ctx: webhook.Context
) -> webhook.Decision:
    """`decide`, unless the request already waited out its deadline in the pool's queue."""
    if ctx.deadline.passed():
        return webhook.Denied(
            "the MAC allocator is overloaded: the request waited past its deadline; retry", 503
        )
    return decide(request, ctx)


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


def _webhook(registry: kopf.OperatorRegistry, runtime: MacPoolRuntime, route: admission_config.Route) -> None:
    """One webhook, registered under its path as its kopf id, and so its URL."""
    label = route.path.removeprefix("macpool-")  # "mutate-vm": how metrics and logs name it
    decide = webhook.mutate if route.mutating else webhook.validate
    on = kopf.on.mutate if route.mutating else kopf.on.validate
    kind = route.kind
    on(
        kind.group,
        kind.version,
        kind.plural,
        id=route.path,
        operations=list(route.operations),
        side_effects=True,
        registry=registry,
    )(_handler(runtime, decide, label, kind.kind))


def register(registry: kopf.OperatorRegistry, runtime: MacPoolRuntime) -> None:
    for route in admission_config.ROUTES:
        _webhook(registry, runtime, route)
