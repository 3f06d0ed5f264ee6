"""The dashboard's HTML, rendered on the server from view values (pure).

Every value from the API server or the user is escaped on its way in: pages are built with `el`,
which escapes each child and attribute unless it is already `Html` (markup built here). There is
no inline script or style anywhere (the Content-Security-Policy forbids both); behaviour lives in
/static/app.js and looks only at `data-` attributes.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from vmo_operator.dashboard import views
from vmo_operator.dashboard.actions import Action
from vmo_operator.dashboard.sessions import CSRF_FIELD
from vmo_operator.dashboard.views import Filter, VMRow


class Html(str):
    """Markup that is already safe to emit (built by this module, or escaped)."""

    __slots__ = ()


def esc(value: object) -> Html:
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=True))


def el(tag: str, attrs: Mapping[str, object | None] | None = None, *children: object) -> Html:
    """`<tag attrs>children</tag>`; None and False attributes are left out, True ones are bare."""
    parts = [tag]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        parts.append(esc(name) if value is True else f'{esc(name)}="{esc(value)}"')
    inner = "".join(esc(child) for child in children if child is not None)
    if tag in ("input", "meta", "link", "br"):
        return Html(f"<{' '.join(parts)}>")
    return Html(f"<{' '.join(parts)}>{inner}</{tag}>")


def join(parts: Iterable[object]) -> Html:
    return Html("".join(esc(part) for part in parts))


def vm_path(namespace: str, name: str, suffix: str = "") -> str:
    return f"/vms/{quote(namespace, safe='')}/{quote(name, safe='')}" + (f"/{suffix}" if suffix else "")


def row_id(namespace: str, name: str) -> str:
    return f"vm/{namespace}/{name}"


# ------------------------------------------------------------------------------------------------ layout


def layout(title: str, body: Html, *, user: str = "", csrf: str = "", active: str = "") -> Html:
    nav = Html("")
    if user:
        links = [
            el("a", {"href": "/vms", "aria-current": "page" if active == "vms" else None}, "VMs"),
            el(
                "a",
                {"href": "/health", "aria-current": "page" if active == "health" else None},
                "Stack health",
            ),
        ]
        logout = el(
            "form",
            {"method": "post", "action": "/logout", "class": "logout"},
            csrf_input(csrf),
            el("span", {"class": "user"}, user),
            el("button", {"type": "submit"}, "Log out"),
        )
        nav = el("nav", {"aria-label": "main"}, *links, logout)
    head = join(
        [
            Html('<meta charset="utf-8">'),
            Html('<meta name="viewport" content="width=device-width, initial-scale=1">'),
            el("title", None, f"{title} · vmo dashboard"),
            el("link", {"rel": "stylesheet", "href": "/static/app.css"}),
            el("script", {"src": "/static/app.js", "defer": True}),
        ]
    )
    header = el("header", None, el("a", {"href": "/vms", "class": "brand"}, "vmo"), nav)
    page = el(
        "html", {"lang": "en"}, el("head", None, head), el("body", None, header, el("main", None, body))
    )
    return Html("<!doctype html>\n" + page)


def csrf_input(csrf: str) -> Html:
    return el("input", {"type": "hidden", "name": CSRF_FIELD, "value": csrf})


def message_page(
    title: str, message: str, *, user: str = "", csrf: str = "", back: str = "/vms", kind: str = "error"
) -> Html:
    """An error (the API server's own words, shown plainly) or a done message, with a way back."""
    body = join(
        [
            el("h1", None, title),
            el("p", {"class": f"notice {kind}", "role": "alert" if kind == "error" else "status"}, message),
            el("p", None, el("a", {"href": back}, "Back")),
        ]
    )
    return layout(title, body, user=user, csrf=csrf)


def login_page(error: str = "", namespaces: str = "") -> Html:
    fields = [
        el("h1", None, "Log in"),
        el(
            "p",
            None,
            "Paste a bearer token the API server accepts (a ServiceAccount token from "
            "`kubectl create token`, or an OIDC ID token). Every request is made with it, as you.",
        ),
        el("p", {"class": "notice error", "role": "alert"}, error) if error else None,
        el("label", {"for": "token"}, "Token"),
        el(
            "textarea", {"id": "token", "name": "token", "rows": "4", "required": True, "autocomplete": "off"}
        ),
        el("label", {"for": "namespaces"}, "Namespaces (optional, comma-separated)"),
        el("input", {"id": "namespaces", "name": "namespaces", "value": namespaces, "autocomplete": "off"}),
        el("button", {"type": "submit"}, "Log in"),
    ]
    form = el("form", {"method": "post", "action": "/login", "class": "login"}, *fields)
    return layout("Log in", form)


# -------------------------------------------------------------------------------------------------- VMs


def action_buttons(row: VMRow, actions: Sequence[Action], csrf: str) -> Html:
    parts = []
    for action in actions:
        if action.confirm:
            parts.append(
                el(
                    "a",
                    {"href": vm_path(row.namespace, row.name, action.name), "class": "button danger"},
                    action.label,
                )
            )
            continue
        parts.append(
            el(
                "form",
                {
                    "method": "post",
                    "action": vm_path(row.namespace, row.name, action.name),
                    "class": "inline",
                },
                csrf_input(csrf),
                el(
                    "button",
                    {
                        "type": "submit",
                        "data-action": action.name,
                        "class": "danger" if action.danger else None,
                    },
                    action.label,
                ),
            )
        )
    return el("div", {"class": "actions"}, *parts)


def _list(values: Iterable[str]) -> Html:
    return join(el("span", {"class": "chip"}, value) for value in values)


def vm_row_html(row: VMRow, actions: Sequence[Action], csrf: str) -> Html:
    networks = [f"{n.name} → {n.target}" for n in row.networks]
    migratable = el(
        "span",
        {"title": row.why_not_migratable or None},
        "yes" if row.migratable else ("no" if row.has_instance else "—"),
    )
    cells = [
        el("td", None, el("a", {"href": vm_path(row.namespace, row.name)}, row.name)),
        el("td", None, row.namespace),
        el(
            "td",
            None,
            el("span", {"class": f"status s-{row.status.lower()}", "data-status": row.status}, row.status),
            el("span", {"class": "migration", "data-migration": row.migration}, f"migration {row.migration}")
            if row.migration
            else None,
        ),
        el("td", None, row.node or "—"),
        el("td", None, _list(row.ips)),
        el("td", None, _list(row.macs)),
        el("td", None, _list(networks)),
        el("td", None, migratable),
        el("td", None, row.eviction_strategy or "cluster default"),
        el("td", None, action_buttons(row, actions, csrf)),
    ]
    return el("tr", {"id": row_id(row.namespace, row.name), "data-key": row.key}, *cells)


COLUMNS = (
    "Name",
    "Namespace",
    "Status",
    "Node",
    "IPs",
    "MACs",
    "Networks",
    "Live-migratable",
    "Eviction",
    "",
)


def filter_form(current: Filter, namespaces: Sequence[str]) -> Html:
    ns_options = [el("option", {"value": ""}, "all namespaces")] + [
        el("option", {"value": ns, "selected": ns == current.namespace}, ns) for ns in namespaces
    ]
    status_options = [el("option", {"value": ""}, "any status")] + [
        el("option", {"value": s, "selected": s == current.status}, s) for s in views.STATUS_FILTERS
    ]
    return el(
        "form",
        {"method": "get", "action": "/vms", "class": "filters", "role": "search"},
        el("label", {"for": "f-namespace"}, "Namespace"),
        el("select", {"id": "f-namespace", "name": "namespace"}, *ns_options),
        el("label", {"for": "f-status"}, "Status"),
        el("select", {"id": "f-status", "name": "status"}, *status_options),
        el("label", {"for": "f-q"}, "Search"),
        el("input", {"id": "f-q", "name": "q", "value": current.text, "placeholder": "name, node, IP, MAC"}),
        el("button", {"type": "submit"}, "Filter"),
    )


def vm_table(
    shown: Sequence[VMRow], current: Filter, offered: Callable[[VMRow], Sequence[Action]], csrf: str
) -> Html:
    """The VM table, kept live by /static/app.js from the events of `current`'s rows."""
    head = el("thead", None, el("tr", None, *(el("th", {"scope": "col"}, c) for c in COLUMNS)))
    body = el("tbody", None, *(vm_row_html(row, offered(row), csrf) for row in shown))
    events = "/vms/events" + ("?" + urlencode(current.query()) if current.query() else "")
    return el("table", {"id": "vms", "data-events": events}, head, body)


def action_done_page(
    message: str, row: VMRow | None, actions: Sequence[Action], *, user: str, csrf: str, back: str
) -> Html:
    """What an accepted action says, above its VM's live row: the status (and a migration's phase)
    moves there as the API server reports it, so the action's progress is seen, not guessed."""
    parts: list[object] = [
        el("h1", None, "Done"),
        el("p", {"class": "notice done", "role": "status"}, message),
    ]
    if row is not None:
        live = Filter(namespace=row.namespace, name=row.name)
        parts += [
            el("p", {"class": "scope"}, "Its progress, live: ", el("span", {"id": "live"}, "")),
            vm_table([row], live, lambda _: actions, csrf),
        ]
    parts.append(el("p", None, el("a", {"href": back}, "Back")))
    return layout("Done", join(parts), user=user, csrf=csrf)


def vm_list_page(
    rows: Sequence[VMRow],
    current: Filter,
    namespaces: Sequence[str],
    offered: Callable[[VMRow], Sequence[Action]],
    *,
    user: str,
    csrf: str,
    problems: Sequence[str] = (),
) -> Html:
    shown = [row for row in rows if current.matches(row)]
    table = vm_table(shown, current, offered, csrf)
    scope = ", ".join(namespaces) if namespaces else "no namespace"
    parts: list[object] = [
        el("h1", None, "Virtual machines"),
        el("p", None, el("a", {"href": "/vms/new", "class": "button"}, "Create a VM")),
        el(
            "p",
            {"class": "scope"},
            f"Namespaces you can list VMs in: {scope}. ",
            el("span", {"id": "live"}, ""),
        ),
        *(el("p", {"class": "notice error", "role": "alert"}, p) for p in problems),
        filter_form(current, namespaces),
        table,
        el("p", {"class": "empty", "id": "empty", "hidden": bool(shown)}, "No virtual machines match."),
    ]
    return layout("Virtual machines", join(parts), user=user, csrf=csrf, active="vms")


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> Html:
    body = [el("tr", None, *(el("td", None, cell) for cell in row)) for row in rows]
    if not body:
        return el("p", {"class": "empty"}, empty)
    head = el("thead", None, el("tr", None, *(el("th", {"scope": "col"}, c) for c in columns)))
    return el("table", None, head, el("tbody", None, *body))


def vm_detail_page(
    row: VMRow,
    vm: Mapping[str, Any],
    vmi: Mapping[str, Any] | None,
    events: Sequence[Mapping[str, str]],
    actions: Sequence[Action],
    *,
    yaml_text: str,
    user: str,
    csrf: str,
) -> Html:
    conds = views.conditions(vm) + views.conditions(vmi)
    interfaces = [
        (
            i.get("name", ""),
            i.get("mac", ""),
            ", ".join(i.get("ipAddresses") or []),
            i.get("interfaceName", ""),
        )
        for i in ((vmi or {}).get("status") or {}).get("interfaces") or []
    ]
    parts = [
        el("h1", None, f"{row.namespace}/{row.name}"),
        el(
            "p",
            None,
            el("span", {"class": f"status s-{row.status.lower()}", "data-status": row.status}, row.status),
            f" · run strategy {row.run_strategy} · node {row.node or '—'}",
        ),
        action_buttons(row, actions, csrf),
        el("h2", None, "Conditions"),
        table(
            ("Type", "Status", "Reason", "Message"),
            ((c["type"], c["status"], c["reason"], c["message"]) for c in conds),
            "No conditions reported.",
        ),
        el("h2", None, "Interfaces"),
        table(("Name", "MAC", "IPs", "Guest name"), interfaces, "Not running: no interfaces reported."),
        el("h2", None, "Networks"),
        table(("Name", "Network"), ((n.name, n.target) for n in row.networks), "No networks."),
        el("h2", None, "Disks"),
        table(("Name", "Bus", "Source"), ((d.name, d.bus, d.source) for d in views.disks(vm)), "No disks."),
        el("h2", None, "Events"),
        table(
            ("When", "Type", "Reason", "Object", "Message"),
            ((e["when"], e["type"], e["reason"], e["kind"], e["message"]) for e in events),
            "No events.",
        ),
        el("h2", None, "YAML"),
        el("button", {"type": "button", "data-copy": "vm-yaml"}, "Copy"),
        el("pre", {"id": "vm-yaml", "class": "yaml"}, yaml_text),
    ]
    return layout(row.name, join(parts), user=user, csrf=csrf, active="vms")


def confirm_delete_page(namespace: str, name: str, *, user: str, csrf: str) -> Html:
    form = el(
        "form",
        {"method": "post", "action": vm_path(namespace, name, "delete")},
        csrf_input(csrf),
        el("label", {"for": "confirm"}, f"Type {name} to delete it"),
        el("input", {"id": "confirm", "name": "confirm", "autocomplete": "off", "required": True}),
        el("button", {"type": "submit", "class": "danger"}, "Delete"),
        el("a", {"href": vm_path(namespace, name)}, "Cancel"),
    )
    body = join(
        [el("h1", None, f"Delete {namespace}/{name}?"), el("p", None, "This cannot be undone."), form]
    )
    return layout("Delete", body, user=user, csrf=csrf, active="vms")
