"""Who may reuse a MAC another object holds: the permission behind `allow-duplicate`.

The annotation `macpool.vmo.dev/allow-duplicate: "true"` is an object's own say-so, which anybody
who may write the object can add. Honoured for everyone, it let a tenant take over a MAC another
namespace uses on a shared VLAN. So it counts only when the API server's authorizer says the
requester (the AdmissionReview's userInfo) may `use-duplicate-macs` on `macreservations` in group
`macpool.vmo.dev`, in the object's namespace: a verb and resource of their own, granted by the
`vmo-macpool-duplicates` ClusterRole the chart ships. No built-in role aggregates it, so an
admin grants it on purpose, per namespace with a RoleBinding or everywhere with a
ClusterRoleBinding. The profile's `duplicatePolicy: Warn` still admits duplicates for everyone:
that is the cluster admin's own choice.

Pure: when a taken MAC is refused and what the refusal says, the review to send, how to read the
answer, and a short cache of answers keyed by the whole requester (name, UID, groups, extra) and
namespace, so one user's answer never serves another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import HeldElsewhere, Taken, Unadopted
from vmo_operator.macpool.reservation import Holder
from vmo_operator.macpool.settings import ALLOW_DUPLICATE_ANNOTATION, DuplicatePolicy

GROUP = "macpool.vmo.dev"
RESOURCE = "macreservations"
VERB = "use-duplicate-macs"
CLUSTER_ROLE = "vmo-macpool-duplicates"
CACHE_SECONDS = 5.0  # the mutating and validating webhook of one request ask the same question
CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class Requester:
    """Who sent an admission request, as the API server authenticated them (hashable, for the cache)."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, user_info: Mapping[str, Any] | None) -> Requester:
        """From an AdmissionReview's `request.userInfo`."""
        info = user_info or {}
        extra = info.get("extra") or {}
        return cls(
            username=str(info.get("username", "")),
            uid=str(info.get("uid", "")),
            groups=tuple(str(g) for g in info.get("groups") or ()),
            extra=tuple(sorted((str(k), tuple(str(v) for v in values or ())) for k, values in extra.items())),
        )


ANONYMOUS = Requester("")  # a request that names nobody: never permitted anything
MayUseDuplicates = Callable[[Requester, str], bool]  # (requester, namespace) -> allowed


def never(_requester: Requester, _namespace: str) -> bool:
    """The default when no authorizer is wired in: the annotation alone grants nothing."""
    return False


def requests_duplicates(obj: Mapping[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(ALLOW_DUPLICATE_ANNOTATION) == "true"


def access_review(requester: Requester, namespace: str) -> dict[str, Any]:
    """The SubjectAccessReview asking whether `requester` may use duplicate MACs in `namespace`."""
    spec: dict[str, Any] = {
        "user": requester.username,
        "groups": list(requester.groups),
        "resourceAttributes": {"namespace": namespace, "verb": VERB, "group": GROUP, "resource": RESOURCE},
    }
    if requester.uid:
        spec["uid"] = requester.uid
    if requester.extra:
        spec["extra"] = {key: list(values) for key, values in requester.extra}
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "metadata": {},
        "spec": spec,
    }


def review_allows(answer: Mapping[str, Any] | None) -> bool:
    """Whether an answered SubjectAccessReview allows (an explicit deny or no answer does not)."""
    status = (answer or {}).get("status") or {}
    return status.get("allowed") is True and status.get("denied") is not True


CHOOSE_ANOTHER = "Choose another MAC, or leave macAddress empty to get one assigned"


def refusal(
    policy: DuplicatePolicy,
    obj: Mapping[str, Any],
    requester: Requester,
    namespace: str,
    may_use_duplicates: MayUseDuplicates,
) -> str | None:
    """None when the request may reuse a taken MAC; else the advice its denial ends with.

    The authorizer is asked only for an annotated object under the Deny policy.
    """
    if policy == "Warn":
        return None
    if not requests_duplicates(obj):
        return CHOOSE_ANOTHER
    if may_use_duplicates(requester, namespace):
        return None
    return f"{CHOOSE_ANOTHER}; {not_permitted(requester, namespace)}"


def held_message(interface: str, mac: macs.Mac, holder: Holder, namespace: str) -> str:
    """Who holds a MAC, told only to requesters in the holder's own namespace."""
    if holder.namespace == namespace:
        who = f'{holder.kind} "{holder.name}"' if holder.name else f"another {holder.kind} being created"
        return f'interface "{interface}": MAC {mac} is already used by {who} in this namespace'
    return f'interface "{interface}": MAC {mac} is already in use elsewhere in the cluster'


def taken_message(interface: str, mac: macs.Mac, taken: Taken, namespace: str, grace_seconds: int) -> str:
    """Why a MAC is not the requester's to take, naming nothing of another namespace."""
    if isinstance(taken, HeldElsewhere):
        return held_message(interface, mac, taken.reservation.holder, namespace)
    if isinstance(taken, Unadopted):
        return (
            f'interface "{interface}": MAC {mac} is in use by a VM or VMI of another namespace that '
            "existed before the MAC allocator started and is not registered yet; it cannot be claimed"
        )
    released = taken.reservation.released_at or taken.reservation.reserved_at
    until = released + timedelta(seconds=grace_seconds)
    return (
        f'interface "{interface}": MAC {mac} was released elsewhere in the cluster and stays '
        f"quarantined for other namespaces until {until.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def not_permitted(requester: Requester, namespace: str) -> str:
    """What to tell a requester whose annotation did not count, so they know what to ask for."""
    return (
        f'the annotation {ALLOW_DUPLICATE_ANNOTATION}: "true" needs permission to "{VERB}" on '
        f'"{RESOURCE}" (API group {GROUP}) in namespace "{namespace}", which {requester.username or "you"} '
        f"lack; a cluster admin can grant it with a RoleBinding to the ClusterRole {CLUSTER_ROLE}"
    )


class AnswerCache:
    """Answers per (requester, namespace) for `seconds`; thread-safe, bounded."""

    def __init__(self, clock: Callable[[], float], seconds: float = CACHE_SECONDS) -> None:
        self._clock = clock
        self._seconds = seconds
        self._answers: dict[tuple[Requester, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def get(self, requester: Requester, namespace: str) -> bool | None:
        with self._lock:
            found = self._answers.get((requester, namespace))
            if found is None or self._clock() >= found[0]:
                return None
            return found[1]

    def put(self, requester: Requester, namespace: str, allowed: bool) -> None:
        now = self._clock()
        with self._lock:
            if len(self._answers) >= CACHE_ENTRIES:
                self._answers = {k: v for k, v in self._answers.items() if now < v[0]}
                if len(self._answers) >= CACHE_ENTRIES:
                    self._answers.clear()
            self._answers[(requester, namespace)] = (now + self._seconds, allowed)


def cached(ask: MayUseDuplicates, cache: AnswerCache) -> MayUseDuplicates:
    """`ask` behind `cache`: the API server is asked at most once per requester and namespace a while."""

    def may_use_duplicates(requester: Requester, namespace: str) -> bool:
        answer = cache.get(requester, namespace)
        if answer is None:
            answer = ask(requester, namespace)
            cache.put(requester, namespace, answer)
        return answer

    return may_use_duplicates
