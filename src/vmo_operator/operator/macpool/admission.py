"""The four MAC admission webhooks: AdmissionReviews in, `macpool.webhook`'s decisions out.

Mutating and validating, each for VirtualMachines (CREATE, UPDATE) and bare
VirtualMachineInstances (CREATE), as `admission_config.ROUTES` lists them, each at its own URL
path. `Dispatcher` answers them without kopf's admission dispatch: kopf builds a cause, a logger,
a diff of old and new, a deep copy of the object to turn patch functions into a JSON patch, and
runs its handler machinery for every request, which cost more than the decision itself (issue
17); the route is known from the path, and `macpool.webhook` already returns a JSON patch. A
denial becomes a refusing review, an allowance its JSON patch and warnings (`macpool.reviews`).

A request from a namespace the configurations' namespaceSelector leaves out is allowed untouched,
as if the API server had not called: it would not have, so the request is forged, or raced a
label change. The namespaces' labels come from kopf's index, read afresh when the index has no
namespace or a negative answer (it may lag the API server's view). Dry runs need no such check:
they reserve nothing, and the readiness check runs one for a namespace that does not exist.

Each request gets a deadline (`admission_config.DECISION_SECONDS` from its arrival): a request
that waited in the thread pool's queue past it is refused without any work, and one that runs
past it undoes its writes. A decision that needs no API request runs on the event loop, the
rest in a worker thread (`_decide_on_loop`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import WouldBlockError, no_requests
from vmo_operator.kube.objects import labels_of
from vmo_operator.macpool import admission_config, cache, duplicates, fanout, reviews, webhook
from vmo_operator.macpool.deadline import Deadline
from vmo_operator.macpool.request import Allowed, Denied
from vmo_operator.operator.macpool.runtime import MacPoolRuntime, Serving

LOGGER = "vmo.macpool"
log = structlog.get_logger(LOGGER)

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
    userinfo: Mapping[str, Any] | None = None,
) -> Allowed | Denied:
    """The decision on one request; `Allowed` carries only the patch and warnings to answer with."""
    serving = runtime.serving
    if serving is None or serving.view is None:
        return Denied("the MAC allocator is still starting; retry", 503)
    if not runtime.reservations.synced:
        # Nothing is answered, not even the readiness check's dry run, before every reservation
        # and every MAC existing VMs carry is loaded: an answer before that could hand out a MAC
        # that is taken, and a replica reported ready before that would be sent requests.
        return Denied(cache.LOADING, 503)
    deadline = Deadline.after(admission_config.DECISION_SECONDS)
    context = runtime.context(serving.view, serving.certificates, deadline)
    request = webhook.AdmissionRequest(
        str(operation or ""),
        kind,
        body,
        old or None,
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
        return Allowed()
    seconds = runtime.metrics.admission_seconds
    started = time.perf_counter()
    try:
        decision = _decide_on_loop(decide, request, context)
        if decision is None:
            decision = await runtime.in_thread(_decide_in_time, decide, request, context)
    except Exception as exc:
        seconds.labels(name, "error").observe(time.perf_counter() - started)
        log.warning("MAC admission failed", webhook=name, namespace=request.namespace, error=str(exc))
        return Denied(f"MAC allocation is unavailable: {exc}", 500)
    if isinstance(decision, webhook.Denied):
        seconds.labels(name, "denied").observe(time.perf_counter() - started)
        log.info("admission denied", webhook=name, object=_where(kind, request), reason=decision.message)
        return decision
    seconds.labels(name, "allowed").observe(time.perf_counter() - started)
    if logging.getLogger(LOGGER).isEnabledFor(logging.DEBUG):  # a routine line, built only when shown
        log.debug("admission allowed", webhook=name, object=_where(kind, request))
    for claim in decision.claims:
        if claim.wrote:
            runtime.metrics.reservations.labels("takeover" if claim.previous else "new").inc()
        elif claim.spare:
            runtime.metrics.reservations.labels("spare").inc()
    return Allowed(decision.patch, decision.warnings)


def _where(kind: str, request: webhook.AdmissionRequest) -> str:
    meta = request.obj.get("metadata") or {}
    return f"{kind}/{request.namespace}/{meta.get('name') or meta.get('generateName', '')}"


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


def _decide_on_loop(
    decide: Decide, request: webhook.AdmissionRequest, ctx: webhook.Context
) -> webhook.Decision | None:
    """`decide` right here on the event loop, or None when it needed the API server.

    Most decisions need no request: a spare from memory, a grant that covers every MAC. A hop to
    a worker thread and back costs more than such a decision, and far more while other threads
    hold the GIL (up to its 5 ms switch interval per hop). So the decision runs here first with
    requests forbidden, one task at a time; the first request it would send aborts it before it is
    sent (`no_requests`), its spares taken so far are given back (`Allocator.revert`), and it runs
    again in a worker thread, where it may block.
    """
    try:
        with no_requests():
            return _decide_in_time(decide, request, replace(ctx, fan_out=fanout.in_turn))
    except WouldBlockError:
        return None


def _decide_in_time(
    decide: Decide, request: webhook.AdmissionRequest, ctx: webhook.Context
) -> webhook.Decision:
    """`decide`, unless the request already waited out its deadline in the pool's queue."""
    if ctx.deadline.passed():
        return webhook.Denied(
            "the MAC allocator is overloaded: the request waited past its deadline; retry", 503
        )
    return decide(request, ctx)


class Dispatcher:
    """Answers the AdmissionReviews of our routes; called as kopf calls its admission function
    (`kopf.WebhookFn`), so the webhook server and the readiness check serve it in kopf's place."""

    def __init__(self, runtime: MacPoolRuntime) -> None:
        self.runtime = runtime
        self._routes: dict[str, tuple[admission_config.Route, Decide, str]] = {
            # "mutate-vm": how metrics and logs name a route
            route.path: (
                route,
                webhook.mutate if route.mutating else webhook.validate,
                route.path.removeprefix("macpool-"),
            )
            for route in admission_config.ROUTES
        }

    async def __call__(
        self,
        review: Any,
        *,
        webhook: str | None = None,
        headers: Any = None,
        sslpeer: Any = None,
        reason: Any = None,
    ) -> dict[str, Any]:
        path = webhook or ""
        # Only what the API server could have sent; the server checked already, the readiness
        # check calls in directly, and it costs microseconds.
        refusal = reviews.refusal(path, review)
        if refusal is not None:
            return reviews.denied(review, refusal)
        route, decide, name = self._routes[path]
        request = review["request"]
        outcome = await admit(
            self.runtime,
            decide,
            name,
            route.kind.kind,
            request["object"],
            request.get("oldObject"),
            request.get("operation"),
            bool(request.get("dryRun")),
            request.get("userInfo"),
        )
        if isinstance(outcome, Denied):
            return reviews.denied(review, reviews.Refusal(outcome.message, outcome.code))
        return reviews.allowed(review, outcome.patch, outcome.warnings)
