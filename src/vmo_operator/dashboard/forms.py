"""The create-VM pages: the form, and the preview of the manifest it makes (pure, escaped)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import yaml

from vmo_operator.dashboard.newvm import VMForm, manifest
from vmo_operator.dashboard.pages import Html, csrf_input, el, join, layout


def _field(label: str, name: str, value: str, problems: Mapping[str, str], **attrs: object) -> Html:
    problem = problems.get(name)
    return el(
        "div",
        {"class": "field"},
        el("label", {"for": f"f-{name}"}, label),
        el(
            "input",
            {
                "id": f"f-{name}",
                "name": name,
                "value": value,
                "aria-invalid": "true" if problem else None,
                **attrs,
            },
        ),
        _problem(problems, name),
    )


def _problem(problems: Mapping[str, str], name: str) -> Html | None:
    if name not in problems:
        return None
    return el("span", {"class": "problem", "role": "alert"}, f"{name}: {problems[name]}")


def _choice(kind: str, name: str, value: str, checked: bool, label: str) -> Html:
    box = el("input", {"type": kind, "name": name, "value": value, "checked": checked})
    return el("label", {"class": "check"}, box, f" {label}")


def new_vm_page(
    namespaces: Sequence[str],
    networks: Mapping[str, Sequence[str]],
    values: Mapping[str, str],
    chosen: Sequence[str],
    problems: Mapping[str, str],
    *,
    user: str,
    csrf: str,
) -> Html:
    """The form; `networks` maps each VLAN network to the namespaces it is offered in."""
    source = values.get("source") or "containerDisk"
    ns_options = [
        el("option", {"value": ns, "selected": ns == values.get("namespace")}, ns) for ns in namespaces
    ]
    network_boxes = [
        _choice("checkbox", "network", name, name in chosen, f"{name} (in {', '.join(spaces)})")
        for name, spaces in networks.items()
    ]
    pod_checked = values.get("podNetwork", "on") == "on"
    fields = [
        csrf_input(csrf),
        _field("Name", "name", values.get("name", ""), problems, required=True),
        el(
            "div",
            {"class": "field"},
            el("label", {"for": "f-namespace"}, "Namespace"),
            el("select", {"id": "f-namespace", "name": "namespace"}, *ns_options),
            _problem(problems, "namespace"),
        ),
        _field("CPU cores", "cpus", values.get("cpus", "1"), problems, inputmode="numeric"),
        _field("Memory", "memory", values.get("memory", "1Gi"), problems),
        el(
            "fieldset",
            None,
            el("legend", None, "Boot disk"),
            _choice("radio", "source", "containerDisk", source == "containerDisk", "a container disk image"),
            _field("Image", "image", values.get("image", ""), problems),
            _choice("radio", "source", "pvcClone", source == "pvcClone", "a clone of a PVC"),
            _field("PVC namespace", "pvcNamespace", values.get("pvcNamespace", ""), problems),
            _field("PVC name", "pvcName", values.get("pvcName", ""), problems),
            _field("Disk size", "diskSize", values.get("diskSize", ""), problems),
            _problem(problems, "source"),
        ),
        el(
            "fieldset",
            None,
            el("legend", None, "Networks"),
            _choice("checkbox", "podNetwork", "on", pod_checked, "the pod network"),
            *network_boxes,
            _problem(problems, "network"),
        ),
        el("button", {"type": "submit"}, "Preview"),
    ]
    form = el("form", {"method": "post", "action": "/vms/new/preview", "class": "newvm"}, *fields)
    body = join([el("h1", None, "Create a virtual machine"), form])
    return layout("Create a VM", body, user=user, csrf=csrf, active="vms")


def preview_page(form: VMForm, *, user: str, csrf: str) -> Html:
    hidden = [el("input", {"type": "hidden", "name": k, "value": v}) for k, v in form.hidden_fields()]
    text = yaml.safe_dump(manifest(form), sort_keys=False)
    body = join(
        [
            el("h1", None, f"Create {form.namespace}/{form.name}?"),
            el(
                "p",
                None,
                "This is the manifest that will be created, as you; the MAC allocator then "
                "gives each interface its MAC.",
            ),
            el("pre", {"id": "manifest", "class": "yaml"}, text),
            el(
                "form",
                {"method": "post", "action": "/vms/new/create"},
                csrf_input(csrf),
                *hidden,
                el("button", {"type": "submit"}, "Create"),
                el("a", {"href": "/vms/new"}, "Start over"),
            ),
        ]
    )
    return layout("Preview", body, user=user, csrf=csrf, active="vms")
