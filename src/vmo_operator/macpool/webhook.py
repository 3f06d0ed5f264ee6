"""Admission decisions for the interfaces of VirtualMachines and bare VirtualMachineInstances.

Framework-free: the kopf layer hands in the request pieces and turns the returned `Allowed` or
`Denied` into an AdmissionReview response. Two steps, so the rules can be tested without storage:

- `plan()` is pure. It reads the interfaces, rejects malformed or duplicate MACs and names, and
  decides per interface whether its MAC is kept from the old object, restored (an apply dropped
  the field), chosen by the user, or still to be allocated.
- `mutate()` and `validate()` carry the plan out against the allocator. The mutating webhook
  reserves and writes MACs, all of an object's interfaces at once (`Context.fan_out`), and stamps
  a grant (see `grant`) over what it reserved; the validating webhook, which sees the object after
  every other mutating webhook, re-checks the final MACs the grant does not cover and reserves any
  that appeared after us. Both honour dryRun by reserving nothing.

A MAC held by another object, or released by another namespace and still quarantined, is denied
unless the profile's duplicatePolicy is Warn, or the object carries the allow-duplicate annotation
and its requester holds the permission behind it (see `duplicates`). The message names the holder
only when it is in the requester's own namespace, so probing MACs cannot reveal other tenants' VM
names. A VMI is left alone only when the VM its ownerReference names really started it
(`vmshape.started_by_its_vm`); one with a forged owner is admitted like any bare VMI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypedDict

from vmo_operator.macpool import duplicates, limits, vmshape
from vmo_operator.macpool import grant as grants
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import (
    Allocator,
    Claimed,
    ContendedError,
    HeldElsewhere,
    PoolExhaustedError,
    Quarantined,
)
from vmo_operator.macpool.deadline import NO_DEADLINE, Deadline, DeadlineExceededError
from vmo_operator.macpool.fanout import FanOut, Task, in_turn
from vmo_operator.macpool.reservation import CLAIM_ANNOTATION, VMI_KIND, Holder
from vmo_operator.macpool.settings import MacPoolSettings

# A reservation records the interface name (MACReservation spec.interface, maxLength 253).
MAX_INTERFACE_NAME = 253


@dataclass(frozen=True)
class AdmissionRequest:
    operation: str  # CREATE | UPDATE (others are allowed untouched)
    kind: str  # VirtualMachine | VirtualMachineInstance
    obj: Mapping[str, Any]
    old: Mapping[str, Any] | None = None
    dry_run: bool = False
    requester: duplicates.Requester = duplicates.ANONYMOUS

    @property
    def namespace(self) -> str:
        return str((self.obj.get("metadata") or {}).get("namespace", ""))


@dataclass(frozen=True)
class Allowed:
    patch: tuple[vmshape.PatchOp, ...] = ()
    warnings: tuple[str, ...] = ()
    claims: tuple[Claimed, ...] = ()


@dataclass(frozen=True)
class Denied:
    message: str
    code: int = 422


Decision = Allowed | Denied

Origin = Literal["allocate", "user", "kept", "restored", "changed"]


@dataclass(frozen=True)
class Slot:
    """One interface and what admission must do about its MAC."""

    index: int
    name: str
    raw: str | None  # the macAddress as written, None when absent or empty
    mac: macs.Mac | None  # the MAC it will have; None while it still needs allocating
    origin: Origin

    @property
    def needs_check(self) -> bool:
        """Whether the MAC is new to this object and so must be reserved (or found held)."""
        return self.origin in ("user", "changed")

    @property
    def needs_write(self) -> bool:
        return self.mac is not None and self.raw != str(self.mac)


@dataclass(frozen=True)
class Plan:
    slots: tuple[Slot, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    settings: MacPoolSettings
    layout: macs.PoolLayout
    allocator: Allocator
    new_claim: Callable[[], str]
    # Grant keys every replica derives alike; the first signs. None: no grants, always re-check.
    grant_keys: tuple[bytes, ...] = ()
    fan_out: FanOut = field(default=in_turn)
    # API reads, wired in by the operator. The defaults know no VM and grant no duplicates, so a
    # context without them errs towards checking every MAC.
    find_vm: vmshape.FindTemplate = lambda _namespace, _name: None
    may_use_duplicates: duplicates.MayUseDuplicates = duplicates.never
    # When the API server stops waiting (`deadline`), and the namespace quota (`limits`; None: none).
    deadline: Deadline = NO_DEADLINE
    quota: limits.NamespaceQuota | None = None


# ---- reading objects ------------------------------------------------------------------------


def in_scope(request: AdmissionRequest, ctx: Context) -> bool:
    settings = ctx.settings
    if not settings.enabled or request.operation not in ("CREATE", "UPDATE"):
        return False
    if request.kind not in vmshape.INTERFACES_PATH:
        return False
    # Reads the VM the VMI names (one GET), only for VMIs that name one.
    return not (request.kind == VMI_KIND and vmshape.started_by_its_vm(request.obj, ctx.find_vm))


# ---- the pure plan --------------------------------------------------------------------------


def plan(request: AdmissionRequest) -> Plan | Denied:
    """What admission must do for each interface, or why the object is refused."""
    items = vmshape.interface_items(request.obj, request.kind)
    old_items = vmshape.interface_items(request.old, request.kind) if request.old is not None else []
    problem = limits.precheck(request.operation, len(items), len(old_items), request.obj)
    if problem:  # refused before anything is reserved: see `limits`
        return Denied(problem)
    # Patch paths index the raw list, so every item must be an interface we can read.
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            return Denied(f"interface #{position} is not an object")
    interfaces = vmshape.interfaces_of(request.obj, request.kind)
    seen_names: set[str] = set()
    for iface in interfaces:
        name = str(iface.get("name", ""))
        if len(name) > MAX_INTERFACE_NAME:
            return Denied(f'interface name "{name[:32]}..." is longer than {MAX_INTERFACE_NAME} characters')
        if name in seen_names:
            return Denied(f'interface name "{name}" is used by more than one interface')
        seen_names.add(name)

    old = vmshape.old_macs(request.old, request.kind) if request.operation == "UPDATE" else {}
    old_raw = (
        {str(i.get("name", "")): vmshape.raw_mac(i) for i in vmshape.interfaces_of(request.old, request.kind)}
        if request.operation == "UPDATE"
        else {}
    )
    slots: list[Slot] = []
    warnings: list[str] = []
    for index, iface in enumerate(interfaces):
        name = str(iface.get("name", ""))
        raw = vmshape.raw_mac(iface)
        previous = old.get(name)
        if raw is None:
            if previous is not None:
                slots.append(Slot(index, name, None, previous, "restored"))
            elif iface.get("state") != "absent":  # being unplugged: nothing to give it
                slots.append(Slot(index, name, None, None, "allocate"))
            continue
        if previous is None and old_raw.get(name) == raw:
            continue  # an unusable MAC from before our time: not ours to judge on an unrelated update
        checked = macs.check(raw)
        if isinstance(checked, macs.Invalid):
            return Denied(f'interface "{name}": MAC "{raw}" {checked.reason}')
        if previous is not None and checked == previous:
            slots.append(Slot(index, name, raw, checked, "kept"))
            continue
        if checked.value in macs.RESERVED_MAC_VALUES:
            return Denied(
                f'interface "{name}": MAC {checked} is reserved (KubeVirt uses it for its own bridge)'
            )
        if previous is not None:
            warnings.append(f'interface "{name}": MAC changes from {previous} to {checked}')
            slots.append(Slot(index, name, raw, checked, "changed"))
        else:
            slots.append(Slot(index, name, raw, checked, "user"))

    first_use: dict[macs.Mac, str] = {}
    for slot in slots:
        if slot.mac is None:
            continue
        if slot.mac in first_use:
            return Denied(f'interfaces "{first_use[slot.mac]}" and "{slot.name}" both use MAC {slot.mac}')
        first_use[slot.mac] = slot.name
    return Plan(tuple(slots), tuple(warnings))


# ---- carrying the plan out ------------------------------------------------------------------


def mutate(request: AdmissionRequest, ctx: Context) -> Decision:
    """Give every interface a reserved MAC; the patch writes them, the claim and the grant."""
    if not in_scope(request, ctx):
        return Allowed()
    planned = plan(request)
    if isinstance(planned, Denied):
        return planned
    meta = request.obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if not planned.slots:
        return Allowed(_drop_grant(request, annotations))

    claim_token = str(annotations.get(CLAIM_ANNOTATION) or ctx.new_claim())
    holder = Holder.of(request.obj, kind=request.kind)
    old_uid = Holder.of(request.old).uid if request.old is not None else ""
    holder = replace(holder, uid=holder.uid or old_uid, claim=claim_token)

    result = _reserve(request, ctx, holder, planned, allocate=True)
    if isinstance(result, Denied):
        return result
    slots, claims, warnings, confirmed = result

    base = "/" + "/".join(vmshape.INTERFACES_PATH[request.kind])
    patch: list[vmshape.PatchOp] = [
        {"op": "add", "path": f"{base}/{slot.index}/macAddress", "value": str(slot.mac)}
        for slot in slots
        if slot.needs_write
    ]
    added: dict[str, str] = {}
    if claims and CLAIM_ANNOTATION not in annotations:
        added[CLAIM_ANNOTATION] = claim_token
    if confirmed and ctx.grant_keys:
        subject, now, keys = _grant_subject(request, claim_token), _now(ctx), ctx.grant_keys
        current = annotations.get(grants.GRANT_ANNOTATION)
        if not grants.still_valid(keys, current, pairs=confirmed, now=now, **subject):
            added[grants.GRANT_ANNOTATION] = grants.issue(keys[0], pairs=confirmed, now=now, **subject)
    else:
        patch.extend(_drop_grant(request, annotations))
    if added:
        if "annotations" in meta and isinstance(meta["annotations"], Mapping):
            patch.extend(
                {"op": "add", "path": f"/metadata/annotations/{vmshape.escape(key)}", "value": value}
                for key, value in added.items()
            )
        else:
            patch.append({"op": "add", "path": "/metadata/annotations", "value": added})
    return Allowed(tuple(patch), (*planned.warnings, *warnings), tuple(claims))


def _now(ctx: Context) -> int:
    return int(ctx.allocator.clock().timestamp())


class GrantSubject(TypedDict):
    namespace: str
    kind: str
    uid: str
    claim: str


def _grant_subject(request: AdmissionRequest, claim: str) -> GrantSubject:
    """Who a grant is for. The UID only for an UPDATE (both webhooks see it); none for a CREATE."""
    uid = ""
    if request.operation == "UPDATE":
        uid = Holder.of(request.obj).uid or (Holder.of(request.old).uid if request.old is not None else "")
    return {"namespace": request.namespace, "kind": request.kind, "uid": uid, "claim": claim}


def _drop_grant(request: AdmissionRequest, annotations: Mapping[str, Any]) -> tuple[vmshape.PatchOp, ...]:
    """Remove a grant this request did not earn from a CREATE (a copy from another object).

    An UPDATE keeps a stale one, so a metadata-only update stays a no-op: it is bound to the
    object's own UID and expires within minutes anyway.
    """
    if request.operation != "CREATE" or grants.GRANT_ANNOTATION not in annotations:
        return ()
    return ({"op": "remove", "path": f"/metadata/annotations/{vmshape.escape(grants.GRANT_ANNOTATION)}"},)


def validate(request: AdmissionRequest, ctx: Context) -> Decision:
    """Re-check the object as it will be stored, after every mutating webhook has run.

    Interface/MAC pairs a valid grant from our mutating webhook covers were reserved for this
    holder moments ago and are not read again; everything else goes through the allocator.
    """
    if not in_scope(request, ctx):
        return Allowed()
    planned = plan(request)
    if isinstance(planned, Denied):
        return planned
    holder = Holder.of(request.obj, kind=request.kind)
    covered: Mapping[str, macs.Mac] = {}
    if ctx.grant_keys and any(slot.needs_check for slot in planned.slots):
        annotations = (request.obj.get("metadata") or {}).get("annotations") or {}
        covered = grants.verify(
            ctx.grant_keys,
            annotations.get(grants.GRANT_ANNOTATION),
            now=_now(ctx),
            **_grant_subject(request, holder.claim),
        )
    result = _reserve(request, ctx, holder, planned, allocate=False, covered=covered)
    if isinstance(result, Denied):
        return result
    slots, claims, warnings, _confirmed = result
    unassigned = [slot.name for slot in slots if slot.mac is None]
    if unassigned:
        warnings.append(f"interfaces without a MAC after admission: {', '.join(unassigned)}")
    return Allowed((), tuple(warnings), tuple(claims))


def _reserve(
    request: AdmissionRequest,
    ctx: Context,
    holder: Holder,
    planned: Plan,
    *,
    allocate: bool,
    covered: Mapping[str, macs.Mac] | None = None,
) -> tuple[list[Slot], list[Claimed], list[str], dict[str, macs.Mac]] | Denied:
    """Claim every new MAC and (when mutating) allocate the missing ones; all or nothing.

    The claims and allocations of one object run together through `ctx.fan_out`, so an object
    with several interfaces costs one round trip to the API server, not one per interface. Only
    once all have finished is the outcome judged, and every write undone if any was refused.
    Returns the slots (with allocated MACs), the claims, warnings, and the interface/MAC pairs
    now confirmed as the holder's (what a grant may cover).
    """
    allocator = ctx.allocator
    covered = covered or {}
    slots = list(planned.slots)
    planned_macs = frozenset(slot.mac for slot in slots if slot.mac is not None)
    work: list[tuple[int, Task]] = []
    wanted: list[macs.Mac | None] = []  # what the namespace quota counts: a MAC, or one to allocate
    for position, slot in enumerate(slots):
        if slot.mac is not None and slot.needs_check and covered.get(slot.name) != slot.mac:
            work.append((position, _claim_task(ctx, slot.mac, holder, slot.name, request.dry_run)))
            wanted.append(slot.mac)
        elif allocate and slot.origin == "allocate":
            work.append((position, _allocate_task(ctx, holder, slot.name, request.dry_run, planned_macs)))
            wanted.append(None)
    # A dry run writes nothing, so concurrent allocations could pick the same free MAC.
    fan_out = ctx.fan_out if not request.dry_run else in_turn
    quota = ctx.settings.max_reservations_per_namespace
    try:
        with limits.hold(ctx.quota, request.namespace, wanted, quota):
            outcomes = fan_out([task for _, task in work], deadline=ctx.deadline, undo=allocator.revert)
    except limits.QuotaError as exc:
        return Denied(str(exc), code=exc.code)

    claims = [outcome for outcome in outcomes if isinstance(outcome, Claimed)]
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if work and ctx.deadline.passed():  # the answer would come too late to be used: undo now
        failures.append(DeadlineExceededError("MAC allocation ran past the admission deadline; retry"))
    if failures:
        allocator.revert(claims)
        for failure in failures:
            if not isinstance(failure, PoolExhaustedError | ContendedError | DeadlineExceededError):
                raise failure
        return Denied(str(failures[0]), code=500)

    warnings: list[str] = []
    confirmed = {s.name: s.mac for s in slots if s.mac is not None and covered.get(s.name) == s.mac}
    refusal: str | None = None
    if any(isinstance(outcome, HeldElsewhere | Quarantined) for outcome in outcomes):
        # Only now, once a MAC turned out to be taken, may the authorizer be asked (one API call).
        try:
            refusal = duplicates.refusal(
                ctx.settings.duplicate_policy,
                request.obj,
                request.requester,
                request.namespace,
                ctx.may_use_duplicates,
            )
        except BaseException:
            allocator.revert(claims)  # the authorizer did not answer: undo, and let the caller fail
            raise
    for (position, _task), outcome in zip(work, outcomes, strict=True):
        slot = slots[position]
        if isinstance(outcome, HeldElsewhere | Quarantined):
            assert slot.mac is not None
            grace = ctx.settings.release_grace_period_seconds
            message = duplicates.taken_message(slot.name, slot.mac, outcome, request.namespace, grace)
            if refusal is not None:
                allocator.revert(claims)
                return Denied(f"{message}. {refusal}", code=409)
            warnings.append(f"{message}; admitted because duplicates are allowed")
            continue
        assert isinstance(outcome, Claimed)
        mac = outcome.reservation.mac
        if slot.origin == "allocate":
            slots[position] = Slot(slot.index, slot.name, slot.raw, mac, "allocate")
        confirmed[slot.name] = mac
    return slots, claims, warnings, confirmed


def _claim_task(ctx: Context, mac: macs.Mac, holder: Holder, interface: str, dry_run: bool) -> Task:
    quarantine = ctx.settings.release_grace_period_seconds
    return lambda: ctx.allocator.claim(
        mac, holder, interface, dry_run=dry_run, quarantine_seconds=quarantine, deadline=ctx.deadline
    )


def _allocate_task(
    ctx: Context, holder: Holder, interface: str, dry_run: bool, exclude: frozenset[macs.Mac]
) -> Task:
    return lambda: ctx.allocator.allocate(
        ctx.layout, holder, interface, dry_run=dry_run, exclude=exclude, deadline=ctx.deadline
    )
