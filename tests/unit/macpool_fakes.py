"""An in-memory ReservationStore with the API server's semantics that matter to the allocator:
create-if-absent, resourceVersion-guarded replace, uid+resourceVersion-guarded delete."""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections import Counter
from dataclasses import replace
from typing import Any

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeError
from vmo_operator.kube.kinds import Kind
from vmo_operator.macpool.mac import Mac
from vmo_operator.macpool.reservation import Reservation


class MemoryReservationStore:
    def __init__(self) -> None:
        self._objects: dict[Mac, Reservation] = {}
        self._versions = itertools.count(1)
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def _stamp(self, reservation: Reservation, uid: str) -> Reservation:
        return replace(reservation, resource_version=str(next(self._versions)), uid=uid)

    def create(self, reservation: Reservation) -> Reservation | None:
        with self._lock:
            self.calls["create"] += 1
            if reservation.mac in self._objects:
                return None
            stored = self._stamp(reservation, uuid.uuid4().hex)
            self._objects[reservation.mac] = stored
            return stored

    def get(self, mac: Mac) -> Reservation | None:
        with self._lock:
            self.calls["get"] += 1
            return self._objects.get(mac)

    def stored(self, mac: Mac) -> Reservation:
        """The reservation a test expects to exist; counted as a `get`."""
        found = self.get(mac)
        assert found is not None, f"no reservation for {mac}"
        return found

    def replace(self, reservation: Reservation) -> Reservation | None:
        with self._lock:
            self.calls["replace"] += 1
            current = self._objects.get(reservation.mac)
            if current is None or current.resource_version != reservation.resource_version:
                return None
            stored = self._stamp(reservation, current.uid)
            self._objects[reservation.mac] = stored
            return stored

    def delete(self, reservation: Reservation) -> bool:
        with self._lock:
            self.calls["delete"] += 1
            current = self._objects.get(reservation.mac)
            if current is None or (current.uid, current.resource_version) != (
                reservation.uid,
                reservation.resource_version,
            ):
                return False
            del self._objects[reservation.mac]
            return True

    def list(self) -> list[Reservation]:
        with self._lock:
            self.calls["list"] += 1
            return sorted(self._objects.values(), key=lambda r: r.mac)

    # Test helpers, not part of the Protocol.
    def put(self, reservation: Reservation) -> Reservation:
        with self._lock:
            stored = self._stamp(reservation, uuid.uuid4().hex)
            self._objects[reservation.mac] = stored
            return stored

    def writes(self) -> int:
        return sum(self.calls[verb] for verb in ("create", "replace", "delete"))


class Leases:
    """The API server's semantics that matter: create-if-absent, replace at the current resourceVersion."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.versions = itertools.count(1)

    def get(self, kind: Kind, name: str, namespace: str = "") -> dict[str, Any] | None:
        assert kind == kinds.LEASE
        found = self.objects.get((namespace, name))
        return copy.deepcopy(found) if found else None

    def create(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if key in self.objects:
            raise KubeError(409, "AlreadyExists", "exists")
        return self._store(key, obj)

    def replace(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        current = self.objects.get(key)
        if current is None:
            raise KubeError(404, "NotFound", "gone")
        if current["metadata"]["resourceVersion"] != obj["metadata"].get("resourceVersion"):
            raise KubeError(409, "Conflict", "changed")
        return self._store(key, obj)

    def delete(self, kind: Kind, name: str, namespace: str = "", **_: Any) -> bool:
        return self.objects.pop((namespace, name), None) is not None

    def _store(self, key: tuple[str, str], obj: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(next(self.versions))
        self.objects[key] = stored
        return copy.deepcopy(stored)

    def holder(self) -> str:
        return str(self.objects[("vmo-system", "gc")]["spec"]["holderIdentity"])
