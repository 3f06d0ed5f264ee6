"""What MAC admission reads and answers: the request, the plan for each interface, the decision,
and the context (settings, allocator and API reads) the operator wires in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vmo_operator.macpool import duplicates, limits, vmshape
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator, Claimed
from vmo_operator.macpool.deadline import NO_DEADLINE, Deadline
from vmo_operator.macpool.fanout import FanOut, in_turn
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
