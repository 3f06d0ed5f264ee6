"""The create-VM flow's routes: form, preview, create; every read and the create as the user.

Namespaces offered are those where a SelfSubjectAccessReview allows creating VMs; networks are the
profile's VLAN networks (read as the user: who may not read the profile is offered the pod network
only). The preview and the create rebuild the manifest from the same fields (`newvm.manifest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from vmo_operator.api import profiles
from vmo_operator.dashboard import access, forms, newvm, pages
from vmo_operator.dashboard.actions import Permission
from vmo_operator.dashboard.context import STATE, api_error, call, candidates, html_response, session_of
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError

CREATE_VMS = Permission("create", "virtualmachines")


def _choices(state: Any, session: Any, kube: KubeClient) -> tuple[list[str], dict[str, list[str]]]:
    """The namespaces the user may create VMs in, and each profile network's namespaces."""

    reviews = state.access_of(session)
    scopes = reviews.vm_scopes(kube, candidates(state, session))
    names = set(scopes) - {access.ALL}
    if access.ALL in scopes or reviews.can(kube, Permission("list", "namespaces", ""), access.ALL):
        try:
            names.update(str(n["metadata"]["name"]) for n in kube.list(kinds.NAMESPACE))
        except KubeError as exc:
            if exc.status != 403:
                raise
    allowed = sorted(ns for ns in names if reviews.can(kube, CREATE_VMS, ns))
    try:
        active = profiles.active_profile(kube.list(kinds.PROFILE))
    except KubeError as exc:
        if exc.status != 403:
            raise
        active = None
    networks = {
        name: [ns for ns in allowed if name in newvm.profile_networks(active, ns)]
        for name in newvm.profile_networks(active)
    }
    return allowed, {name: spaces for name, spaces in networks.items() if spaces}


def _fields(form: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    fields = {k: str(form.get(k, "")) for k in (*newvm.FIELDS, "podNetwork")}
    chosen = [str(v) for v in form.getall("network", [])] if hasattr(form, "getall") else []
    return fields, chosen


async def new_vm(request: web.Request) -> web.Response:
    state = request.app[STATE]
    session = session_of(request)

    def build(kube: KubeClient) -> str:
        namespaces, networks = _choices(state, session, kube)
        return forms.new_vm_page(namespaces, networks, {}, [], {}, user=session.user, csrf=session.csrf)

    return html_response(await call(session, request, build))


async def preview(request: web.Request) -> web.Response:
    """POST /vms/new/preview: the form checked, and the manifest it makes; or the form, with why."""
    state = request.app[STATE]
    session = session_of(request)
    fields, chosen = _fields(await request.post())

    def build(kube: KubeClient) -> tuple[str, int]:
        namespaces, networks = _choices(state, session, kube)
        offered = [name for name, spaces in networks.items() if fields["namespace"] in spaces]
        try:
            form = newvm.parse(fields, chosen, offered)
        except newvm.FormError as exc:
            page = forms.new_vm_page(
                namespaces, networks, fields, chosen, exc.problems, user=session.user, csrf=session.csrf
            )
            return page, 400
        return forms.preview_page(form, user=session.user, csrf=session.csrf), 200

    page, status = await call(session, request, build)
    return html_response(page, status)


async def create(request: web.Request) -> web.Response:
    """POST /vms/new/create: the previewed manifest, created with the user's token."""
    state = request.app[STATE]
    session = session_of(request)
    fields, chosen = _fields(await request.post())

    def run(kube: KubeClient) -> tuple[str, int]:
        _, networks = _choices(state, session, kube)
        offered = [name for name, spaces in networks.items() if fields["namespace"] in spaces]
        try:
            form = newvm.parse(fields, chosen, offered)
        except newvm.FormError as exc:
            message = f"The form changed since the preview: {exc}"
            return pages.message_page("Not created", message, user=session.user, csrf=session.csrf), 400
        kube.create(kinds.VIRTUAL_MACHINE, newvm.manifest(form))
        done = pages.message_page(
            "Created",
            f"VirtualMachine {form.namespace}/{form.name} created (halted).",
            user=session.user,
            csrf=session.csrf,
            back=pages.vm_path(form.namespace, form.name),
            kind="done",
        )
        return done, 200

    try:
        page, status = await call(session, request, run)
    except KubeError as exc:
        return api_error(session, exc, back="/vms/new")
    return html_response(page, status)
