"""The dashboard's HTTP server (aiohttp): sessions, CSRF, headers, and the routes; thin by design.

Each handler finds the session, makes a floor client with the session's token (`access.user_client`),
runs the blocking API calls in a worker thread, and renders a page from `views`/`pages`. An API
error is shown as the API server worded it, with its status code (a 403 stays a 403).

Every POST but the login must carry the session's CSRF token; every POST whose Origin header names
another origin is refused (that covers the login form too, where no session exists yet).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import yaml
from aiohttp import web

from vmo_operator.api import profiles
from vmo_operator.dashboard import access, actions, creation, health, live, newvm, pages, views
from vmo_operator.dashboard.context import (
    STATE,
    Settings,
    State,
    api_error,
    call,
    candidates,
    guard_posts,
    html_response,
    redirect,
    secure_headers,
    session_of,
)
from vmo_operator.dashboard.sessions import (
    COOKIE,
    Session,
    SessionStore,
    cookie_attributes,
)
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError

MAX_BODY = 64 * 1024  # a token and a few form fields
MAX_TOKEN = 16 * 1024
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


# ------------------------------------------------------------------------------------------- login


async def login_form(request: web.Request) -> web.Response:
    return html_response(pages.login_page())


def _namespaces_field(text: str) -> tuple[str, ...]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    return tuple(dict.fromkeys(n for n in names if newvm.DNS1123_LABEL.match(n)))[:32]


async def login(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    form = await request.post()
    token = str(form.get("token") or "").strip()
    named = str(form.get("namespaces") or "")[:2048]
    if not token or len(token) > MAX_TOKEN or any(c.isspace() for c in token):
        return html_response(pages.login_page("Paste one token, without spaces.", named), 400)

    def identify() -> access.Identity:
        with access.user_client(state.settings.server, token) as kube:
            return access.whoami(kube)

    try:
        identity = await asyncio.to_thread(identify)
    except KubeError as exc:
        message = "The API server did not accept this token." if exc.status == 401 else access.readable(exc)
        return html_response(pages.login_page(message, named), 401 if exc.status == 401 else 502)
    namespaces = _namespaces_field(named)
    sa_namespace = access.service_account_namespace(identity.user)
    if sa_namespace:
        namespaces = (*namespaces, sa_namespace)
    # A fresh id at every login (no fixation); a session this browser had before ends here.
    state.sessions.drop(request.cookies.get(COOKIE))
    session = state.sessions.create(token, identity.user, identity.groups, namespaces)
    response = redirect("/vms")
    response.set_cookie(COOKIE, session.id, **cookie_attributes())  # type: ignore[arg-type]
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    request.app[STATE].sessions.drop(request.cookies.get(COOKIE))
    response = redirect("/login")
    response.del_cookie(COOKIE, path="/")
    return response


# --------------------------------------------------------------------------------------------- VMs


def _offered(
    state: State, session: Session, kube: KubeClient
) -> Callable[[views.VMRow], Sequence[actions.Action]]:
    reviews = state.access_of(session)
    return lambda row: actions.offered(row, reviews.permitted(kube, row.namespace))


async def vm_list(request: web.Request) -> web.Response:
    state = request.app[STATE]
    session = session_of(request)
    current = views.Filter.from_query(request.query)

    def build(kube: KubeClient) -> str:
        reviews = state.access_of(session)
        scopes = reviews.vm_scopes(kube, candidates(state, session))
        vms = access.list_in(kube, kinds.VIRTUAL_MACHINE, scopes)
        vmis = access.list_in(kube, kinds.VIRTUAL_MACHINE_INSTANCE, scopes)
        migrations = access.list_if_allowed(kube, kinds.VIRTUAL_MACHINE_INSTANCE_MIGRATION, scopes)
        rows = views.vm_rows(vms, vmis, migrations)
        namespaces = sorted({r.namespace for r in rows} | {s for s in scopes if s})
        offered = _offered(state, session, kube)
        return pages.vm_list_page(rows, current, namespaces, offered, user=session.user, csrf=session.csrf)

    try:
        return html_response(await call(session, request, build))
    except KubeError as exc:
        return api_error(session, exc, back="/login")


async def vm_detail(request: web.Request) -> web.Response:
    state = request.app[STATE]
    session = session_of(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]

    def build(kube: KubeClient) -> str | None:
        vm = kube.get(kinds.VIRTUAL_MACHINE, name, namespace)
        if vm is None:
            return None
        vmi = kube.get(kinds.VIRTUAL_MACHINE_INSTANCE, name, namespace)
        try:
            events = kube.list(kinds.EVENT, namespace=namespace)
        except KubeError as exc:
            if exc.status != 403:
                raise
            events = []  # may see the VM but not the events: show the rest
        row = views.vm_row(vm, vmi)
        shown = {k: v for k, v in vm.items() if k != "status"} | {"status": vm.get("status") or {}}
        shown.get("metadata", {}).pop("managedFields", None)
        return pages.vm_detail_page(
            row,
            vm,
            vmi,
            views.events_for(events, ("VirtualMachine", "VirtualMachineInstance"), name),
            _offered(state, session, kube)(row),
            yaml_text=yaml.safe_dump(shown, sort_keys=False),
            user=session.user,
            csrf=session.csrf,
        )

    try:
        page = await call(session, request, build)
    except KubeError as exc:
        return api_error(session, exc)
    if page is None:
        not_found = pages.message_page(
            "Not found", f"No VirtualMachine {namespace}/{name}.", user=session.user, csrf=session.csrf
        )
        return html_response(not_found, 404)
    return html_response(page)


async def confirm_delete(request: web.Request) -> web.Response:
    session = session_of(request)
    page = pages.confirm_delete_page(
        request.match_info["namespace"], request.match_info["name"], user=session.user, csrf=session.csrf
    )
    return html_response(page)


async def act(request: web.Request) -> web.Response:
    """POST /vms/{namespace}/{name}/{action}: the request goes out as the user, whatever was shown."""
    session = session_of(request)
    namespace, name, action = (request.match_info[k] for k in ("namespace", "name", "action"))
    if action not in actions.BY_NAME:
        raise web.HTTPNotFound()
    back = pages.vm_path(namespace, name)
    if actions.BY_NAME[action].confirm:
        form = await request.post()
        if form.get("confirm") != name:
            page = pages.message_page(
                "Not deleted",
                f"Type the VM's name, {name}, to confirm.",
                user=session.user,
                csrf=session.csrf,
                back=back,
            )
            return html_response(page, 400)
    op = actions.operation(action, namespace, name)

    def run(kube: KubeClient) -> Any:
        if op.method == "merge_patch":
            return kube.merge_patch(op.kind, op.name, op.body or {}, op.namespace)
        if op.method == "create":
            return kube.create(op.kind, op.body or {})
        if not kube.delete(op.kind, op.name, op.namespace):
            raise KubeError(404, "NotFound", f"{op.kind.kind} {namespace}/{name} does not exist")
        return None

    try:
        result = await call(session, request, run)
    except KubeError as exc:
        return api_error(session, exc, back=back)
    message = actions.done_message(action, name, result)
    if action == "delete":
        done = pages.message_page("Done", message, user=session.user, csrf=session.csrf, kind="done")
        return html_response(done)
    state = request.app[STATE]

    def follow_up(kube: KubeClient) -> str:
        """The page that shows the action's progress: the VM's row as it is now, kept live."""
        found = views.vm_rows(
            [vm] if (vm := kube.get(kinds.VIRTUAL_MACHINE, name, namespace)) else [],
            [vmi] if (vmi := kube.get(kinds.VIRTUAL_MACHINE_INSTANCE, name, namespace)) else [],
            access.list_if_allowed(kube, kinds.VIRTUAL_MACHINE_INSTANCE_MIGRATION, [namespace]),
        )
        row = found[0] if found else None
        offered = _offered(state, session, kube)(row) if row else ()
        return pages.action_done_page(message, row, offered, user=session.user, csrf=session.csrf, back=back)

    try:
        return html_response(await call(session, request, follow_up))
    except KubeError as exc:  # done, but its VM cannot be read back: say so, and what was done
        shown = f"{message} (Its progress cannot be shown: {access.readable(exc)})"
        return html_response(
            pages.message_page("Done", shown, user=session.user, csrf=session.csrf, back=back, kind="done")
        )


# ------------------------------------------------------------------------------------------ health


async def stack_health(request: web.Request) -> web.Response:
    session = session_of(request)

    def build(kube: KubeClient) -> str:
        found = kube.list(kinds.PROFILE)
        active = profiles.active_profile(found)
        drift: list[tuple[str, str, str]] | None = []
        if active is not None:
            try:
                # Events about a cluster-scoped object live in `default` (kube.events).
                events = kube.list(kinds.EVENT_V1, namespace="default")
                drift = health.drift_events(events, str(active["metadata"]["name"]))
            except KubeError as exc:
                if exc.status != 403:
                    raise
                drift = None
        bridges: list[tuple[str, ...]] | None
        try:
            bridges = health.bridge_rows(kube.list(kinds.NODE_BRIDGE_REPORT))
        except KubeError as exc:
            if exc.status != 403:
                raise
            bridges = None
        return health.health_page(
            found, active, user=session.user, csrf=session.csrf, drift=drift, bridges=bridges
        )

    try:
        return html_response(await call(session, request, build))
    except KubeError as exc:
        return api_error(session, exc)


# ------------------------------------------------------------------------------------------ plumbing


async def static(request: web.Request) -> web.Response:
    name = request.match_info["file"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    body = resources.files("vmo_operator.dashboard").joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=STATIC[name])


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def no_icon(_request: web.Request) -> web.Response:
    return web.Response(status=204)  # browsers ask; a 404 would be a console error on every page


async def root(_request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/vms")


def app(settings: Settings) -> web.Application:
    application = web.Application(middlewares=[secure_headers, guard_posts], client_max_size=MAX_BODY)
    application[STATE] = State(settings, SessionStore(time.time))
    application.add_routes(
        [
            web.get("/", root),
            web.get("/healthz", healthz),
            web.get("/favicon.ico", no_icon),
            web.get("/static/{file}", static),
            web.get("/login", login_form),
            web.post("/login", login),
            web.post("/logout", logout),
            web.get("/vms", vm_list),
            web.get("/vms/events", live.stream),
            web.get("/health", stack_health),
            web.get("/vms/new", creation.new_vm),
            web.post("/vms/new/preview", creation.preview),
            web.post("/vms/new/create", creation.create),
            web.get("/vms/{namespace}/{name}", vm_detail),
            web.get("/vms/{namespace}/{name}/delete", confirm_delete),
            web.post("/vms/{namespace}/{name}/{action}", act),
        ]
    )
    return application
