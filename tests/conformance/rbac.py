"""RBAC rules as sets of atomic permissions, so two rule lists can be compared both ways.

An atom is one (apiGroup, resource, verb, resourceName) or one (nonResourceURL, verb); a name of
"" means every object. `missing(granted, needed)` is what a subject with `granted` could not do of
`needed` (the escalation rule and the operator's own work both fail on it); `broader(granted,
upstream)` is what `granted` allows beyond upstream, each of which needs a reviewed reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Atom:
    group: str
    resource: str
    verb: str
    name: str = ""  # "" = any object
    url: str = ""  # a non-resource URL; group/resource are "" then

    def __str__(self) -> str:
        if self.url:
            return f"{self.verb} {self.url}"
        where = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {where}" + (f"/{self.name}" if self.name else "")


def atoms(rules: Iterable[Mapping[str, Any]]) -> set[Atom]:
    found: set[Atom] = set()
    for rule in rules:
        verbs = rule.get("verbs") or []
        for url in rule.get("nonResourceURLs") or []:
            found.update(Atom("", "", verb, url=url) for verb in verbs)
        names = rule.get("resourceNames") or [""]
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                found.update(Atom(group, resource, verb, name) for verb in verbs for name in names)
    return found


def _matches(pattern: str, value: str) -> bool:
    return pattern in ("*", value)


def _resource_matches(pattern: str, value: str) -> bool:
    if pattern in ("*", value):
        return True
    # "*/scale" covers every resource's scale subresource, "pods/*" every subresource of pods.
    head, _, tail = pattern.partition("/")
    v_head, _, v_tail = value.partition("/")
    return bool(tail) and bool(v_tail) and _matches(head, v_head) and _matches(tail, v_tail)


def covers(grant: Atom, need: Atom) -> bool:
    """Whether `grant` allows everything `need` asks for."""
    if grant.url or need.url:
        if not (grant.url and need.url):
            return False
        url_ok = grant.url == need.url or (grant.url.endswith("*") and need.url.startswith(grant.url[:-1]))
        return url_ok and _matches(grant.verb, need.verb)
    return (
        _matches(grant.group, need.group)
        and _resource_matches(grant.resource, need.resource)
        and _matches(grant.verb, need.verb)
        and (grant.name == "" or grant.name == need.name)
    )


def missing(granted: Iterable[Mapping[str, Any]], needed: Iterable[Mapping[str, Any]]) -> list[Atom]:
    """Atoms of `needed` that no rule of `granted` covers."""
    have = atoms(granted)
    return sorted(need for need in atoms(needed) if not any(covers(g, need) for g in have))


def broader(granted: Iterable[Mapping[str, Any]], upstream: Iterable[Mapping[str, Any]]) -> list[Atom]:
    """Atoms of `granted` that upstream's rules do not cover: power beyond upstream's."""
    return missing(upstream, granted)


def rules_of(documents: Iterable[Mapping[str, Any]], kind: str, name: str) -> list[Mapping[str, Any]]:
    for doc in documents:
        if doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name:
            return list(doc.get("rules") or [])
    raise LookupError(f"no {kind} {name}")


def role_differences(
    upstream_docs: Iterable[Mapping[str, Any]], ours: Iterable[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """For every ClusterRole and Role upstream ships: ("Kind/name", "missing: atom" or "broader: atom").

    A role we do not render at all counts as granting nothing, so each of its rules is missing.
    """
    ours = list(ours)
    found: list[tuple[str, str]] = []
    for doc in upstream_docs:
        if doc.get("kind") not in ("ClusterRole", "Role"):
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            granted = rules_of(ours, str(doc["kind"]), str(doc["metadata"]["name"]))
        except LookupError:
            granted = []
        found += [(name, f"missing: {atom}") for atom in missing(granted, doc["rules"])]
        found += [(name, f"broader: {atom}") for atom in broader(granted, doc["rules"])]
    return found
