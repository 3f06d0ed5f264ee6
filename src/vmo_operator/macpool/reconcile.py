"""Bring reservations in line with the MACs that persisted objects actually carry.

Admission reserves (Pending); only the persisted object proves the reservation was used. This
module compares the two and plans the writes that close the gap:

- commit a Pending reservation once its object is seen carrying the MAC;
- adopt MACs that objects carry without a live reservation (VMs created while the webhook was
  absent, duplicates admitted under the Warn policy whose first holder has gone). Adoption never
  crosses namespaces: a reservation another namespace's object made or released is only ever
  handed to an object of that same namespace. Otherwise a permitted duplicate in namespace B would
  inherit A's MAC the moment A's VM is deleted, and A could not re-create its VM from its own
  manifest. B's object gets the MAC only once A's tombstone is gone (quarantine over);
- release (tombstone) a Committed MAC that its holder no longer carries;
- release a Pending reservation whose object never appeared within the grace period (a later
  admission step rejected it, or the create failed), and delete a tombstone whose quarantine is
  over. An expired Pending becomes a tombstone rather than vanishing, because a create can take
  longer than a short grace period under load: if its object does appear, the tombstone is
  adopted, and meanwhile automatic allocation cannot hand the MAC to anybody else.

Planning is pure; `execute()` applies a plan with create-if-absent and resourceVersion-guarded
writes, so replicas that plan from slightly different snapshots cannot undo each other: the
loser's write fails and the next round replans from fresh data. A round can hold tens of thousands
of writes (a flood of orphaned reservations expiring together), so `execute()` runs them a bounded
number at a time in parallel: one write is one API round trip, and in turn 20,000 of them would
take minutes, during which every other orphan waits past its grace period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import ReservationStore
from vmo_operator.macpool.reservation import Holder, Reservation, same_holder
from vmo_operator.macpool.vmshape import interfaces_of


@dataclass(frozen=True)
class Carrier:
    """A persisted object's interface that carries a MAC."""

    holder: Holder
    interface: str
    mac: macs.Mac
    created: str = ""  # creationTimestamp, to prefer the oldest carrier deterministically

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.created, self.holder.namespace, self.holder.name, self.interface)


def carriers_of(kind: str, obj: Mapping[str, Any]) -> list[Carrier]:
    """The MACs one VM or VMI carries (unparseable MACs are none).

    Callers leave out the VMIs their VMs started (`vmshape.started_by_its_vm`): the VM holds those.
    """
    holder = Holder.of(obj, kind=kind)
    created = str((obj.get("metadata") or {}).get("creationTimestamp", ""))
    found: list[Carrier] = []
    for iface in interfaces_of(obj, kind):
        raw = iface.get("macAddress")
        checked = macs.check(str(raw)) if raw else None
        if isinstance(checked, macs.Mac):
            found.append(Carrier(holder, str(iface.get("name", "")), checked, created))
    return found


def carriers_of_all(objects: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Carrier]:
    return [carrier for kind, obj in objects for carrier in carriers_of(kind, obj)]


# ---- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    reservation: Reservation
    carrier: Carrier


@dataclass(frozen=True)
class Adopt:
    """Record `carrier` as the holder, over `existing` if there is one."""

    carrier: Carrier
    existing: Reservation | None


@dataclass(frozen=True)
class Release:
    reservation: Reservation


@dataclass(frozen=True)
class Delete:
    reservation: Reservation


Action = Commit | Adopt | Release | Delete


@dataclass(frozen=True)
class Collision:
    """Several distinct objects carry the same MAC."""

    mac: macs.Mac
    carriers: tuple[Carrier, ...]


def _identity(holder: Holder) -> tuple[str, str, str, str]:
    return (holder.kind, holder.namespace, holder.name, holder.uid)


def find_collisions(carriers: Iterable[Carrier]) -> list[Collision]:
    by_mac: dict[macs.Mac, dict[tuple[str, str, str, str], Carrier]] = defaultdict(dict)
    for carrier in carriers:
        by_mac[carrier.mac].setdefault(_identity(carrier.holder), carrier)
    return [
        Collision(mac, tuple(sorted(owners.values(), key=lambda c: c.sort_key)))
        for mac, owners in sorted(by_mac.items(), key=_by_value)
        if len(owners) > 1
    ]


def _value(mac: macs.Mac) -> int:
    return mac.value


def _by_value(item: tuple[macs.Mac, object]) -> int:
    return item[0].value


def plan_reconcile(
    reservations: Iterable[Reservation], carriers: Iterable[Carrier], *, now: datetime, grace_seconds: int
) -> list[Action]:
    """Every write that brings the reservations in line with the carriers.

    Take the reservation snapshot *before* listing objects: then anything committed or released
    before the snapshot is reflected in the object list, and a Pending reservation made after the
    object list is simply not in the snapshot.
    """
    by_mac: dict[macs.Mac, list[Carrier]] = defaultdict(list)
    for carrier in carriers:
        by_mac[carrier.mac].append(carrier)
    for found in by_mac.values():
        found.sort(key=lambda c: c.sort_key)
    reserved = {r.mac: r for r in reservations}

    actions: list[Action] = []
    # Sorted by the MAC's integer: comparing Mac dataclasses is ten times slower at 50,000.
    for mac in sorted(set(reserved) | set(by_mac), key=_value):
        found = by_mac.get(mac, [])
        current = reserved.get(mac)
        if current is None:
            actions.append(Adopt(found[0], None))
            continue
        if current.state == "Spare":
            continue  # its replica commits or hands it over; if it dies, `plan_reclaim` releases it
        holders = [c for c in found if same_holder(current.holder, c.holder)]
        heir = next((c for c in found if may_inherit(current, c)), None)
        if current.state == "Pending":
            if holders:
                actions.append(Commit(current, holders[0]))
            elif current.pending_expired(now, grace_seconds):
                actions.append(Adopt(heir, current) if heir else Release(current))
        elif current.state == "Committed":
            if holders:
                if _needs_refresh(current, holders[0]):
                    actions.append(Commit(current, holders[0]))
            elif heir:
                actions.append(Adopt(heir, current))
            else:
                actions.append(Release(current))
        elif heir:
            actions.append(Adopt(heir, current))
        elif current.quarantine_over(now, grace_seconds):
            actions.append(Delete(current))
    return actions


def may_inherit(reservation: Reservation, carrier: Carrier) -> bool:
    """Whether `carrier` may take over a reservation another object made: same namespace only,
    or any namespace for a spare's tombstone (no tenant ever held it; see `macpool.spares`)."""
    return carrier.holder.namespace == reservation.holder.namespace or reservation.spare_born


def plan_reclaim(reservations: Iterable[Reservation], dead: Callable[[str], bool]) -> list[Release]:
    """Release every spare of a replica that is gone (`dead(replica)`): tombstones, never deletes.

    A tombstone keeps the MAC out of automatic allocation for the grace period. If the dead
    replica had handed the spare out, the object that carries it inherits the tombstone whatever
    its namespace (`may_inherit`), so the MAC is never given to a second object.
    """
    return [Release(r) for r in reservations if r.state == "Spare" and r.replica and dead(r.replica)]


def plan_for_object(
    carriers: Sequence[Carrier],
    holder: Holder,
    *,
    reserved: Mapping[macs.Mac, Reservation],
    held_by_holder: Iterable[Reservation],
    deleted: bool,
) -> list[Action]:
    """The fast path for one object's watch event, from a (possibly stale) reservation cache.

    Unlike `plan_reconcile` it sees no other objects, so it never releases or adopts away from
    somebody else and never deletes: it commits what this object carries, adopts what nobody
    holds (or a tombstone of its own namespace), and releases what this object has let go of.
    Pending reservations of this object that it does not carry are left alone: they may belong to
    an update still in flight.
    """
    actions: list[Action] = []
    if deleted:
        seen: set[macs.Mac] = set()
        candidates = [reserved.get(c.mac) for c in carriers] + list(held_by_holder)
        for current in candidates:
            if current is None or current.mac in seen or not current.held:
                continue
            if same_holder(current.holder, holder):
                seen.add(current.mac)
                actions.append(Release(current))
        return actions

    carried = {c.mac for c in carriers}
    for carrier in carriers:
        current = reserved.get(carrier.mac)
        if current is None or (current.state == "Released" and may_inherit(current, carrier)):
            actions.append(Adopt(carrier, current))
        elif same_holder(current.holder, carrier.holder) and (
            current.state == "Pending" or _needs_refresh(current, carrier)
        ):
            actions.append(Commit(current, carrier))
    for current in held_by_holder:
        if (
            current.state == "Committed"
            and current.mac not in carried
            and same_holder(current.holder, holder)
        ):
            actions.append(Release(current))
    return actions


def _needs_refresh(current: Reservation, carrier: Carrier) -> bool:
    """A committed record that lacks what the persisted object now tells us (uid, name, interface)."""
    return (current.holder.uid, current.holder.name, current.interface) != (
        carrier.holder.uid,
        carrier.holder.name,
        carrier.interface,
    )


# ---- execution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionReport:
    applied: Mapping[str, int] = field(default_factory=dict)  # action kind -> successful writes
    conflicts: int = 0  # writes refused because somebody else changed the object first
    errors: tuple[str, ...] = ()
    deferred: int = 0  # planned writes left for the next round (over `execute`'s limit)


# Actions handed to the worker threads at once: enough to keep them busy, few enough that a
# backlog of 20,000 never sits in memory as 20,000 futures.
_BATCH = 512


def execute(
    actions: Iterable[Action],
    store: ReservationStore,
    *,
    now: datetime,
    workers: int = 1,
    limit: int | None = None,
) -> ExecutionReport:
    """Apply the `limit` most urgent of `actions` (`urgency`), at most `workers` writes at a time;
    each write is independent of the others.

    A limit keeps one round short under a backlog, so what comes due meanwhile (an unrelated
    orphan) is planned again within seconds instead of waiting behind tens of thousands of writes.
    """
    ordered = sorted(actions, key=urgency)
    actions, deferred = ordered[:limit], max(len(ordered) - (limit or len(ordered)), 0)
    if workers <= 1:
        outcomes = [_attempt(action, store, now) for action in actions]
    else:
        outcomes = []
        pending = iter(actions)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="macpool-gc") as pool:
            while batch := list(islice(pending, _BATCH)):
                outcomes.extend(pool.map(lambda action: _attempt(action, store, now), batch))
    applied: dict[str, int] = defaultdict(int)
    conflicts = 0
    errors: list[str] = []
    for kind, outcome in outcomes:
        if isinstance(outcome, str):
            errors.append(outcome)
        elif outcome:
            applied[kind] += 1
        else:
            conflicts += 1
    return ExecutionReport(dict(applied), conflicts, tuple(errors), deferred)


def urgency(action: Action) -> tuple[int, float]:
    """Most urgent first: the MACs objects carry (Commit, Adopt: a live VM's MAC must be held), then
    what nobody carries (Release, the oldest reservation first: orphans of failed creates and MACs
    let go), then tombstones whose quarantine is over (Delete: that only makes a MAC allocatable)."""
    if isinstance(action, Commit | Adopt):
        return (0, 0.0)
    if isinstance(action, Release):
        return (1, action.reservation.reserved_at.timestamp())
    released = action.reservation.released_at or action.reservation.reserved_at
    return (2, released.timestamp())


def _attempt(action: Action, store: ReservationStore, now: datetime) -> tuple[str, bool | str]:
    """(action kind, whether it was written); an error message instead when the write failed."""
    kind = type(action).__name__
    try:
        return kind, _apply(action, store, now)
    except Exception as exc:  # one bad object must not stop the rest of the round
        return kind, f"{kind} {_mac_of(action)}: {exc}"


def _apply(action: Action, store: ReservationStore, now: datetime) -> bool:
    if isinstance(action, Commit):
        committed = action.reservation.committed_to(action.carrier.holder, action.carrier.interface, now)
        return store.replace(committed) is not None
    if isinstance(action, Adopt):
        carrier = action.carrier
        if action.existing is None:
            fresh = Reservation(
                carrier.mac, carrier.holder, carrier.interface, "Committed", now, committed_at=now
            )
            return store.create(fresh) is not None
        return store.replace(action.existing.committed_to(carrier.holder, carrier.interface, now)) is not None
    if isinstance(action, Release):
        return store.replace(action.reservation.released(now)) is not None
    return store.delete(action.reservation)


def _mac_of(action: Action) -> macs.Mac:
    return action.carrier.mac if isinstance(action, Adopt) else action.reservation.mac
