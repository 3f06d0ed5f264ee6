"""The MAC pool's API reads and writes, through the Kubernetes floor: the reservation store, the
VM/VMI source, and the authorizer's answer on duplicate MACs.

Each method is one request. Create is a POST, so the API server's "name already exists" (409) is
the atomic test-and-set the allocator relies on; replace carries the resourceVersion and delete
carries uid + resourceVersion preconditions, so a stale writer is refused (409) instead of
overwriting a newer decision. Any other failure is the floor's `KubeError`. Blocking: the kopf
layer calls these from worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError, Timeout
from vmo_operator.macpool import duplicates, vmshape
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.reservation import HOLDER_NAMESPACE_LABEL, VM_KIND, VMI_KIND, Reservation

# (connect, read) seconds: admission has a 10 s budget for the whole request.
REQUEST_TIMEOUT: Timeout = (3.0, 5.0)

KUBEVIRT_KINDS: Mapping[str, kinds.Kind] = {
    VM_KIND: kinds.VIRTUAL_MACHINE,
    VMI_KIND: kinds.VIRTUAL_MACHINE_INSTANCE,
}


def _lost_race(exc: KubeError, *statuses: int) -> bool:
    return exc.status in statuses


class KubeReservationStore:
    """`allocator.ReservationStore` over `MACReservation` objects."""

    def __init__(self, api_client: Any) -> None:
        self._kube = KubeClient(api_client, timeout=REQUEST_TIMEOUT)

    def create(self, reservation: Reservation) -> Reservation | None:
        try:
            stored = self._kube.create(kinds.MAC_RESERVATION, reservation.to_object())
        except KubeError as exc:
            if _lost_race(exc, 409):
                return None
            raise
        return Reservation.from_object(stored)

    def get(self, mac: macs.Mac) -> Reservation | None:
        stored = self._kube.get(kinds.MAC_RESERVATION, mac.reservation_name)
        return Reservation.from_object(stored) if stored is not None else None

    def replace(self, reservation: Reservation) -> Reservation | None:
        if not reservation.resource_version:
            raise ValueError("replace needs the resourceVersion it was read at")
        try:
            stored = self._kube.replace(kinds.MAC_RESERVATION, reservation.to_object())
        except KubeError as exc:
            if _lost_race(exc, 404, 409):
                return None
            raise
        return Reservation.from_object(stored)

    def delete(self, reservation: Reservation) -> bool:
        preconditions = {"uid": reservation.uid, "resourceVersion": reservation.resource_version}
        try:
            return self._kube.delete(kinds.MAC_RESERVATION, reservation.name, preconditions=preconditions)
        except KubeError as exc:
            if _lost_race(exc, 409):
                return False
            raise

    def macs_in_namespace(self, namespace: str) -> set[int]:
        """The MACs (as integers) reserved for objects in `namespace`, any state: one list by the
        holder-namespace label every reservation carries (the quota's count near a limit)."""
        selector = f"{HOLDER_NAMESPACE_LABEL}={namespace}"
        found = set()
        for obj in self._kube.iter_list(kinds.MAC_RESERVATION, label_selector=selector):
            checked = macs.check(str((obj.get("spec") or {}).get("mac", "")))
            if isinstance(checked, macs.Mac):
                found.add(checked.value)
        return found

    def list(self) -> list[Reservation]:
        found = []
        for obj in self._kube.iter_list(kinds.MAC_RESERVATION):
            try:
                found.append(Reservation.from_object(obj))
            except ValueError:
                continue  # not ours to interpret; never allocate over it either, since create would 409
        return found


class KubeObjectSource:
    """`audit.ObjectSource` over kubevirt.io/v1 VirtualMachines and VirtualMachineInstances."""

    def __init__(self, api_client: Any) -> None:
        self._kube = KubeClient(api_client, timeout=REQUEST_TIMEOUT)

    def list_objects(self, kind: str) -> Iterator[Mapping[str, Any]]:
        # A 404 (the VM API is not installed yet) lists nothing.
        yield from self._kube.iter_list(KUBEVIRT_KINDS[kind])

    def vm_template(self, namespace: str, name: str) -> vmshape.VMTemplate | None:
        """The VM a VMI names as its controller, as `vmshape.started_from` compares it; None if absent."""
        vm = self._kube.get(kinds.VIRTUAL_MACHINE, name, namespace)
        return vmshape.VMTemplate.of(vm) if vm is not None else None


class KubeAccessReviews:
    """Whether a requester may use duplicate MACs: a SubjectAccessReview, its answers cached briefly."""

    def __init__(self, api_client: Any, cache: duplicates.AnswerCache) -> None:
        self._kube = KubeClient(api_client, timeout=REQUEST_TIMEOUT)
        self.may_use_duplicates = duplicates.cached(self._ask, cache)

    def _ask(self, requester: duplicates.Requester, namespace: str) -> bool:
        answer = self._kube.create(
            kinds.SUBJECT_ACCESS_REVIEW, duplicates.access_review(requester, namespace)
        )
        return duplicates.review_allows(answer)
