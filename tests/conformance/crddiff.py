"""Structural comparison of two CRDs (or two OpenAPI v3 schemas), descriptions aside.

Every schema keyword is a fact the API server enforces (types, formats, enums, required fields,
patterns, CEL rules in `x-kubernetes-validations`, list and map types); descriptions are prose and
ours are our own, so they are the one thing left out. Differences are reported as readable paths.
"""

from __future__ import annotations

from typing import Any

IGNORED = frozenset({"description"})


def differences(ours: Any, upstream: Any, path: str = "") -> list[str]:
    """Every place where `ours` and `upstream` disagree, one readable line each."""
    here = path or "."
    if isinstance(ours, dict) and isinstance(upstream, dict):
        out = []
        for key in sorted((set(ours) | set(upstream)) - IGNORED):
            child = f"{path}.{key}" if key not in ("properties",) else path
            if key not in ours:
                out.append(f"{here}: lacks {key} (upstream: {_short(upstream[key])})")
            elif key not in upstream:
                out.append(f"{here}: has {key} that upstream has not ({_short(ours[key])})")
            elif key == "properties":
                out.extend(_properties(ours[key], upstream[key], path))
            else:
                out.extend(differences(ours[key], upstream[key], child))
        return out
    if isinstance(ours, list) and isinstance(upstream, list):
        strip = [_without_descriptions(x) for x in ours], [_without_descriptions(x) for x in upstream]
        if strip[0] != strip[1]:
            return [f"{here}: ours {_short(strip[0])}, upstream {_short(strip[1])}"]
        return []
    if ours != upstream:
        return [f"{here}: ours {_short(ours)}, upstream {_short(upstream)}"]
    return []


def _properties(ours: dict[str, Any], upstream: dict[str, Any], path: str) -> list[str]:
    out = []
    for name in sorted(set(ours) | set(upstream)):
        where = f"{path}.{name}"
        if name not in ours:
            out.append(f"{where}: missing")
        elif name not in upstream:
            out.append(f"{where}: not in upstream")
        else:
            out.extend(differences(ours[name], upstream[name], where))
    return out


def _without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_descriptions(v) for k, v in value.items() if k not in IGNORED}
    if isinstance(value, list):
        return [_without_descriptions(v) for v in value]
    return value


def _short(value: Any, limit: int = 160) -> str:
    text = repr(_without_descriptions(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def crd_differences(ours: dict[str, Any], upstream: dict[str, Any]) -> list[str]:
    """Names, scope and every served version (schema, printer columns, subresources) of two CRDs."""
    out = differences(
        {k: ours["spec"].get(k) for k in ("group", "scope")},
        {k: upstream["spec"].get(k) for k in ("group", "scope")},
        ".spec",
    )
    names = {k: v for k, v in upstream["spec"]["names"].items() if k != "listKind"}  # listKind is defaulted
    out.extend(
        differences({k: v for k, v in ours["spec"]["names"].items() if k != "listKind"}, names, ".names")
    )
    our_versions = {v["name"]: v for v in ours["spec"]["versions"]}
    for version in upstream["spec"]["versions"]:
        name = version["name"]
        if name not in our_versions:
            served = "served" if version.get("served") else "not served"
            out.append(f"version {name} ({served}): missing")
            continue
        mine = our_versions.pop(name)
        for key in ("served", "storage", "deprecated", "deprecationWarning"):
            if bool(mine.get(key)) != bool(version.get(key)) or (
                key == "deprecationWarning" and mine.get(key) != version.get(key)
            ):
                out.append(f"version {name}: {key} ours {mine.get(key)!r}, upstream {version.get(key)!r}")
        out.extend(
            f"version {name} schema {d}"
            for d in differences(mine["schema"]["openAPIV3Schema"], version["schema"]["openAPIV3Schema"])
        )
        if (mine.get("subresources") or {}) != (version.get("subresources") or {}):
            out.append(
                f"version {name}: subresources ours {mine.get('subresources') or {}}, "
                f"upstream {version.get('subresources') or {}}"
            )
        columns = [_without_descriptions(c) for c in mine.get("additionalPrinterColumns") or []]
        theirs = [_without_descriptions(c) for c in version.get("additionalPrinterColumns") or []]
        if columns != theirs:
            out.append(f"version {name}: printer columns ours {columns}, upstream {theirs}")
    out.extend(f"version {name}: not in upstream" for name in our_versions)
    return out
