"""A MAC reservation: the API-server record that one MAC belongs to one VM interface.

One small cluster-scoped `MACReservation` object per MAC, named after the MAC, is the lock: the API
server lets exactly one create of a name succeed, across any number of operator replicas and
restarts. The object's lifecycle is a small state machine:

    (absent) --admission--> Pending --object seen persisted--> Committed
    Pending --grace period over and no object carries the MAC--> Released
    Committed --object deleted or interface removed--> Released (a tombstone)
    Released --an object of the same namespace turns out to carry the MAC--> Committed (adopted)
    Released --grace period over--> (deleted)

    (absent) --a replica fills its spare pool--> Spare (no holder yet; see `macpool.spares`)
    Spare --handed out at admission, object seen persisted--> Committed (adopted on commit)
    Spare --handed out, object not seen within seconds--> Pending (handed over to the holder)
    Spare --its replica's lease expired--> Released (reclaimed; any namespace may inherit it)

A Released tombstone keeps a just-freed MAC out of automatic allocation for the grace period, so
a neighbour's ARP cache or a DHCP lease does not hand the old VM's traffic to a new one. A user
of the same namespace who asks for that MAC explicitly (delete and recreate a VM with the same
manifest) gets it; every other namespace waits out the quarantine. A reservation never moves to
another namespace's object while it exists: not by a claim, not by adoption.

Holder identity is subtle at admission time: a mutating webhook sees no UID for a CREATE, and no
name either when the client used generateName. So each admitted object carries a random *claim*
token in an annotation, stored in its Pending reservations, and UIDs are filled in on commit.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from vmo_operator.kube import kinds
from vmo_operator.macpool import mac as macs

GROUP = kinds.MAC_RESERVATION.group
VERSION = kinds.MAC_RESERVATION.version
API_VERSION = kinds.MAC_RESERVATION.api_version
KIND = kinds.MAC_RESERVATION.kind
PLURAL = kinds.MAC_RESERVATION.plural
SINGULAR = KIND.lower()

CLAIM_ANNOTATION = "macpool.vmo.dev/claim"
STATE_LABEL = "macpool.vmo.dev/state"
HOLDER_NAMESPACE_LABEL = "macpool.vmo.dev/holder-namespace"
HOLDER_UID_LABEL = "macpool.vmo.dev/holder-uid"
# On a spare (and the tombstone a reclaimed spare becomes): the identity of the replica that made it.
SPARE_OF_LABEL = "macpool.vmo.dev/spare-of"

State = Literal["Pending", "Committed", "Released", "Spare"]
STATES: tuple[State, ...] = ("Pending", "Committed", "Released", "Spare")

VM_KIND = "VirtualMachine"
VMI_KIND = "VirtualMachineInstance"


# slots and interned strings: the operator caches a Reservation for every MAC in the cluster.
@dataclass(frozen=True, slots=True)
class Holder:
    """Who a MAC belongs to. `name` is empty for a generateName create, `uid` until commit."""

    kind: str
    namespace: str
    name: str = ""
    uid: str = ""
    claim: str = ""

    def describe(self) -> str:
        return f'{self.kind} "{self.name}"' if self.name else f"a {self.kind} being created"

    @classmethod
    def of(cls, obj: Mapping[str, Any], *, kind: str = "") -> Holder:
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        return cls(
            kind=kind or str(obj.get("kind", "")),
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            claim=str(annotations.get(CLAIM_ANNOTATION, "")),
        )


def same_holder(reserved: Holder, candidate: Holder) -> bool:
    """Whether `candidate` is the object a reservation was made for.

    UIDs decide when both are known. A reservation with a UID belongs to a persisted incarnation,
    so an object without one (a CREATE in flight) is somebody new, even with the same name. Without
    UIDs, the claim token decides, so generateName creates and webhook reinvocations match.
    """
    if (reserved.kind, reserved.namespace) != (candidate.kind, candidate.namespace):
        return False
    if reserved.uid and candidate.uid:
        return reserved.uid == candidate.uid
    if reserved.uid:
        return False
    if reserved.name and candidate.name and reserved.name != candidate.name:
        return False
    if reserved.claim and candidate.claim:
        return reserved.claim == candidate.claim
    return bool(reserved.name) and reserved.name == candidate.name


def previous_incarnation(reserved: Holder, candidate: Holder) -> bool:
    """Whether a CREATE of `candidate` replaces the object a reservation was made for.

    A create under a taken name fails, so if this create succeeds the old object is gone (or is
    going); this lets `kubectl replace --force` keep its MACs even before the delete is processed.
    """
    return (
        not candidate.uid
        and bool(reserved.name)
        and (reserved.kind, reserved.namespace, reserved.name)
        == (candidate.kind, candidate.namespace, candidate.name)
    )


@dataclass(frozen=True, slots=True)
class Reservation:
    mac: macs.Mac
    holder: Holder
    interface: str
    state: State
    reserved_at: datetime
    committed_at: datetime | None = None
    released_at: datetime | None = None
    # Server bookkeeping; empty until the object has been written.
    resource_version: str = ""
    uid: str = ""
    # The replica that made it as a spare ("" for a reservation admission made for its holder).
    replica: str = ""

    @property
    def name(self) -> str:
        return self.mac.reservation_name

    @property
    def held(self) -> bool:
        """Pending, Committed or Spare: the MAC is spoken for."""
        return self.state != "Released"

    @property
    def spare_born(self) -> bool:
        """Made as a spare and never held by a tenant: no namespace has a claim on it."""
        return bool(self.replica) and not self.holder.namespace

    # ---- transitions (values in, values out) --------------------------------------------------

    def committed_to(self, holder: Holder, interface: str, now: datetime) -> Reservation:
        return replace(
            self,
            holder=holder,
            interface=interface,
            state="Committed",
            committed_at=now,
            released_at=None,
            replica="",
        )

    def pending_for(self, holder: Holder, interface: str, now: datetime) -> Reservation:
        return replace(
            self,
            holder=holder,
            interface=interface,
            state="Pending",
            reserved_at=now,
            committed_at=None,
            released_at=None,
            replica="",
        )

    def released(self, now: datetime) -> Reservation:
        return replace(self, state="Released", released_at=now)

    def pending_expired(self, now: datetime, grace_seconds: int) -> bool:
        return self.state == "Pending" and now >= self.reserved_at + timedelta(seconds=grace_seconds)

    def quarantine_over(self, now: datetime, grace_seconds: int) -> bool:
        released_at = self.released_at or self.reserved_at
        return self.state == "Released" and now >= released_at + timedelta(seconds=grace_seconds)

    # ---- wire form ---------------------------------------------------------------------------

    def to_object(self) -> dict[str, Any]:
        labels = {STATE_LABEL: self.state, HOLDER_NAMESPACE_LABEL: self.holder.namespace}
        if self.holder.uid:
            labels[HOLDER_UID_LABEL] = self.holder.uid
        if self.replica:
            labels[SPARE_OF_LABEL] = self.replica
        metadata: dict[str, Any] = {"name": self.name, "labels": labels}
        if self.resource_version:
            metadata["resourceVersion"] = self.resource_version
        if self.uid:
            metadata["uid"] = self.uid
        holder: dict[str, str] = {"kind": self.holder.kind, "namespace": self.holder.namespace}
        for key, value in (
            ("name", self.holder.name),
            ("uid", self.holder.uid),
            ("claim", self.holder.claim),
        ):
            if value:
                holder[key] = value
        spec: dict[str, Any] = {
            "mac": str(self.mac),
            "state": self.state,
            "holder": holder,
            "interface": self.interface,
            "reservedAt": format_time(self.reserved_at),
        }
        if self.committed_at:
            spec["committedAt"] = format_time(self.committed_at)
        if self.released_at:
            spec["releasedAt"] = format_time(self.released_at)
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Reservation:
        """Parse a stored object; raises ValueError for one that is not ours to interpret."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        mac = macs.parse(str(spec.get("mac", "")))
        if mac.reservation_name != meta.get("name"):
            raise ValueError(f"reservation {meta.get('name')!r} records MAC {mac}, which has another name")
        state = spec.get("state")
        if state not in STATES:
            raise ValueError(f"reservation {meta.get('name')!r} has unknown state {state!r}")
        raw_holder = spec.get("holder") or {}
        holder = Holder(
            kind=sys.intern(str(raw_holder.get("kind", ""))),
            namespace=sys.intern(str(raw_holder.get("namespace", ""))),
            name=str(raw_holder.get("name", "")),
            uid=str(raw_holder.get("uid", "")),
            claim=str(raw_holder.get("claim", "")),
        )
        return cls(
            mac=mac,
            holder=holder,
            interface=sys.intern(str(spec.get("interface", ""))),
            state=STATES[STATES.index(state)],  # the shared constant, not a copy per object
            reserved_at=parse_time(spec.get("reservedAt")) or datetime.fromtimestamp(0, UTC),
            committed_at=parse_time(spec.get("committedAt")),
            released_at=parse_time(spec.get("releasedAt")),
            resource_version=str(meta.get("resourceVersion", "")),
            uid=str(meta.get("uid", "")),
            replica=sys.intern(str((meta.get("labels") or {}).get(SPARE_OF_LABEL, ""))),
        )


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: grace periods are seconds, but ordering needs more."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
