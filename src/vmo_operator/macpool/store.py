"""The reservation store and object source backed by the API server (official `kubernetes` client).

Each method is one request. Create is a POST, so the API server's "name already exists" (409) is
the atomic test-and-set the allocator relies on; replace carries the resourceVersion and delete
carries uid + resourceVersion preconditions, so a stale writer is refused (409) instead of
overwriting a newer decision. Blocking: the kopf layer calls these from worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.reservation import GROUP, PLURAL, VERSION, VM_KIND, VMI_KIND, Reservation

# (connect, read) seconds: admission has a 10 s budget for the whole request.
REQUEST_TIMEOUT = (3.0, 5.0)
LIST_TIMEOUT = (3.0, 60.0)
PAGE_SIZE = 500

KUBEVIRT_PLURALS: Mapping[str, str] = {VM_KIND: "virtualmachines", VMI_KIND: "virtualmachineinstances"}


class StoreError(Exception):
    """The API server refused or failed a request for a reason other than a lost race."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status


def _status(exc: Exception) -> int:
    return int(getattr(exc, "status", 0) or 0)


def _error(exc: Exception) -> StoreError:
    return StoreError(_status(exc), str(getattr(exc, "reason", "") or exc))


class KubeReservationStore:
    """`allocator.ReservationStore` over `MACReservation` objects."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self._api = client.CustomObjectsApi(api_client)

    def create(self, reservation: Reservation) -> Reservation | None:
        from kubernetes.client.exceptions import ApiException

        try:
            stored = self._api.create_cluster_custom_object(
                GROUP, VERSION, PLURAL, reservation.to_object(), _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if _status(exc) == 409:
                return None
            raise _error(exc) from None
        return Reservation.from_object(_as_dict(stored))

    def get(self, mac: macs.Mac) -> Reservation | None:
        from kubernetes.client.exceptions import ApiException

        try:
            stored = self._api.get_cluster_custom_object(
                GROUP, VERSION, PLURAL, mac.reservation_name, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if _status(exc) == 404:
                return None
            raise _error(exc) from None
        return Reservation.from_object(_as_dict(stored))

    def replace(self, reservation: Reservation) -> Reservation | None:
        from kubernetes.client.exceptions import ApiException

        if not reservation.resource_version:
            raise ValueError("replace needs the resourceVersion it was read at")
        try:
            stored = self._api.replace_cluster_custom_object(
                GROUP,
                VERSION,
                PLURAL,
                reservation.name,
                reservation.to_object(),
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            if _status(exc) in (404, 409):
                return None
            raise _error(exc) from None
        return Reservation.from_object(_as_dict(stored))

    def delete(self, reservation: Reservation) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        preconditions = client.V1Preconditions(
            uid=reservation.uid or None, resource_version=reservation.resource_version
        )
        try:
            self._api.delete_cluster_custom_object(
                GROUP,
                VERSION,
                PLURAL,
                reservation.name,
                body=client.V1DeleteOptions(preconditions=preconditions),
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            if _status(exc) in (404, 409):
                return False
            raise _error(exc) from None
        return True

    def list(self) -> list[Reservation]:
        found = []
        for obj in _paged(lambda **kw: self._api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kw)):
            try:
                found.append(Reservation.from_object(obj))
            except ValueError:
                continue  # not ours to interpret; never allocate over it either, since create would 409
        return found


class KubeObjectSource:
    """`audit.ObjectSource` over kubevirt.io/v1 VirtualMachines and VirtualMachineInstances."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self._api = client.CustomObjectsApi(api_client)

    def list_objects(self, kind: str) -> Iterator[Mapping[str, Any]]:
        plural = KUBEVIRT_PLURALS[kind]
        yield from _paged(
            lambda **kw: self._api.list_cluster_custom_object("kubevirt.io", "v1", plural, **kw),
            missing_ok=True,
        )


def _as_dict(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise StoreError(0, f"unexpected response type {type(value).__name__}")
    return value


def _paged(call: Any, *, missing_ok: bool = False) -> Iterator[dict[str, Any]]:
    """Every item of a list, one page at a time, so 10,000 objects never sit in memory at once."""
    from kubernetes.client.exceptions import ApiException

    token = ""
    while True:
        kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_request_timeout": LIST_TIMEOUT}
        if token:
            kwargs["_continue"] = token
        try:
            page = call(**kwargs)
        except ApiException as exc:
            if missing_ok and _status(exc) == 404:
                return  # the API is not installed (yet): nothing to list
            raise _error(exc) from None
        body = _as_dict(page)
        yield from body.get("items") or []
        token = (body.get("metadata") or {}).get("continue") or ""
        if not token:
            return
