"""Shape of a Deployment or DaemonSet compared with upstream's: what each pod runs and with what.

Compared: the controller spec (replicas, strategies, minReadySeconds, selector), the pod spec's
placement and identity (host namespaces, tolerations, priority class, service account, grace
period), its volumes, and per container (init containers too) the command, args, env, ports,
probes, mounts, security context, resources and termination message policy. Images are not
compared (the project renders its own tag per version). Args are compared as flags, so
`--flag value` and `--flag=value` are the same fact.
"""

from __future__ import annotations

from typing import Any

CONTROLLER_FIELDS = ("replicas", "minReadySeconds", "strategy", "updateStrategy", "selector")
POD_FIELDS = (
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "tolerations",
    "nodeSelector",
    "affinity",
    "priorityClassName",
    "serviceAccountName",
    "terminationGracePeriodSeconds",
    "securityContext",
)
CONTAINER_FIELDS = (
    "command",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "securityContext",
    "resources",
    "terminationMessagePolicy",
    "imagePullPolicy",
)
# Defaults the API server fills in; a field left out here equals this value there.
DEFAULTS: dict[str, Any] = {
    "protocol": "TCP",
    "imagePullPolicy": "IfNotPresent",
    "terminationMessagePolicy": "File",
}


def flags(args: list[str]) -> dict[str, str]:
    """`["--a", "1", "--b=2", "--c"]` -> `{"--a": "1", "--b": "2", "--c": ""}`."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if not eq and i + 1 < len(args) and not args[i + 1].startswith("-"):
            value = args[i + 1]
            i += 1
        out[name] = value
        i += 1
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if not (k in DEFAULTS and v == DEFAULTS[k])}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return value


def _keyed(items: list[dict[str, Any]] | None, key: str) -> dict[str, Any]:
    return {str(item.get(key)): _norm(item) for item in items or []}


def _compare_keyed(what: str, ours: dict[str, Any], upstream: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(ours) | set(upstream)):
        if key not in ours:
            out.append(f"{what} {key}: missing (upstream {upstream[key]})")
        elif key not in upstream:
            out.append(f"{what} {key}: not in upstream ({ours[key]})")
        elif ours[key] != upstream[key]:
            out.append(f"{what} {key}: ours {ours[key]}, upstream {upstream[key]}")
    return out


def _fields(what: str, fields: tuple[str, ...], ours: dict[str, Any], upstream: dict[str, Any]) -> list[str]:
    out = []
    for field in fields:
        mine, theirs = _norm(ours.get(field)), _norm(upstream.get(field))
        if field in DEFAULTS:
            mine, theirs = mine or DEFAULTS[field], theirs or DEFAULTS[field]
        if mine != theirs:
            out.append(f"{what}{field}: ours {mine}, upstream {theirs}")
    return out


def container_differences(ours: dict[str, Any], upstream: dict[str, Any]) -> list[str]:
    what = f"container {upstream['name']}: "
    out = _fields(what, CONTAINER_FIELDS, ours, upstream)
    out.extend(
        _compare_keyed(f"{what}args", flags(ours.get("args") or []), flags(upstream.get("args") or []))
    )
    out.extend(
        _compare_keyed(f"{what}env", _keyed(ours.get("env"), "name"), _keyed(upstream.get("env"), "name"))
    )
    out.extend(
        _compare_keyed(
            f"{what}port",
            _keyed(ours.get("ports"), "containerPort"),
            _keyed(upstream.get("ports"), "containerPort"),
        )
    )
    out.extend(
        _compare_keyed(
            f"{what}mount",
            _keyed(ours.get("volumeMounts"), "mountPath"),
            _keyed(upstream.get("volumeMounts"), "mountPath"),
        )
    )
    return out


def workload_differences(ours: dict[str, Any], upstream: dict[str, Any]) -> list[str]:
    """Everything that differs between two Deployments or two DaemonSets, one line each."""
    out = _fields("", CONTROLLER_FIELDS, ours["spec"], upstream["spec"])
    pod, their_pod = ours["spec"]["template"]["spec"], upstream["spec"]["template"]["spec"]
    out.extend(_fields("pod ", POD_FIELDS, pod, their_pod))
    out.extend(
        _compare_keyed("volume", _keyed(pod.get("volumes"), "name"), _keyed(their_pod.get("volumes"), "name"))
    )
    for kind in ("initContainers", "containers"):
        mine = {c["name"]: c for c in pod.get(kind) or []}
        theirs = {c["name"]: c for c in their_pod.get(kind) or []}
        for name in sorted(set(mine) | set(theirs)):
            if name not in mine:
                out.append(f"{kind} {name}: missing")
            elif name not in theirs:
                out.append(f"{kind} {name}: not in upstream")
            else:
                out.extend(container_differences(mine[name], theirs[name]))
    return out
