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

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypedDict

from vmo_operator.macpool import checked_macs, limits, vmshape
from vmo_operator.macpool import grant as grants
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.request import MAX_INTERFACE_NAME as MAX_INTERFACE_NAME
from vmo_operator.macpool.request import AdmissionRequest as AdmissionRequest
from vmo_operator.macpool.request import Allowed as Allowed
from vmo_operator.macpool.request import Context as Context
from vmo_operator.macpool.request import Decision as Decision
from vmo_operator.macpool.request import Denied as Denied
from vmo_operator.macpool.request import Plan, Slot
from vmo_operator.macpool.reservation import CLAIM_ANNOTATION, VM_KIND, VMI_KIND, Holder
from vmo_operator.macpool.reserve import reserve

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
        return Allowed((*_drop_grant(request, annotations), *_drop_checked(request, annotations)))

    claim_token = str(annotations.get(CLAIM_ANNOTATION) or ctx.new_claim())
    holder = Holder.of(request.obj, kind=request.kind)
    old_uid = Holder.of(request.old).uid if request.old is not None else ""
    holder = replace(holder, uid=holder.uid or old_uid, claim=claim_token)

    result = reserve(request, ctx, holder, planned, allocate=True)
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
    checked = _checked_macs(request, slots, confirmed)
    if checked is not None:
        if annotations.get(checked_macs.ANNOTATION) != checked:
            added[checked_macs.ANNOTATION] = checked
    else:
        patch.extend(_drop_checked(request, annotations))
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


def _checked_macs(
    request: AdmissionRequest, slots: list[Slot], confirmed: Mapping[str, macs.Mac]
) -> str | None:
    """The checked-MACs mark (see `checked_macs`) for a VM create whose every MAC this call
    confirmed as the VM's, each as the object will hold it; None for anything else."""
    if request.operation != "CREATE" or request.dry_run or request.kind != VM_KIND:
        return None
    by_index = {slot.index: slot for slot in slots}
    pairs: list[tuple[str, str]] = []
    for index, iface in enumerate(vmshape.interfaces_of(request.obj, request.kind)):
        slot = by_index.get(index)
        if slot is None or slot.mac is None:
            if vmshape.raw_mac(iface) is not None:
                return None  # a MAC no slot checked
            pairs.append((str(iface.get("name", "")), ""))
            continue
        if confirmed.get(slot.name) != slot.mac:
            return None  # e.g. a permitted duplicate: the validating call has its say
        pairs.append((slot.name, str(slot.mac)))  # as written or as our patch writes it
    return checked_macs.value(pairs)


def _drop_checked(request: AdmissionRequest, annotations: Mapping[str, Any]) -> tuple[vmshape.PatchOp, ...]:
    """Remove from a create a checked-MACs mark this call did not write (the user's, or a copy).

    Only the API server's condition reads the mark, and only on a create; an update leaves a
    stored one alone, so it stays a no-op.
    """
    if request.operation != "CREATE" or checked_macs.ANNOTATION not in annotations:
        return ()
    return ({"op": "remove", "path": f"/metadata/annotations/{vmshape.escape(checked_macs.ANNOTATION)}"},)


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
    result = reserve(request, ctx, holder, planned, allocate=False, covered=covered)
    if isinstance(result, Denied):
        return result
    slots, claims, warnings, _confirmed = result
    unassigned = [slot.name for slot in slots if slot.mac is None]
    if unassigned:
        warnings.append(f"interfaces without a MAC after admission: {', '.join(unassigned)}")
    return Allowed((), tuple(warnings), tuple(claims))
