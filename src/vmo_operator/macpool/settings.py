"""The MAC pool's settings as one frozen value, decoupled from the profile's pydantic model.

The admission path reads settings on every request from several threads; a frozen dataclass can be
swapped atomically when the profile changes and never changes under a request's feet. The
conversion from the profile's `spec.macPool` lives here so the rest of macpool never sees pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vmo_operator.api.models import MacPoolSpec
from vmo_operator.macpool import mac as macs

DuplicatePolicy = Literal["Deny", "Warn"]

# A namespace carrying this label (any value but "enabled") is left alone by the webhooks.
NAMESPACE_OPT_OUT_LABEL = "macpool.vmo.dev/allocation"
NAMESPACE_OPT_OUT_VALUE = "disabled"
# A VM or VMI carrying this annotation with value "true" may reuse a MAC another VM holds.
ALLOW_DUPLICATE_ANNOTATION = "macpool.vmo.dev/allow-duplicate"

# The profile's model holds the defaults (they are also the CRD's); the settings derive theirs from it.
_DEFAULTS = MacPoolSpec()


def _selector_of(spec: MacPoolSpec) -> dict[str, Any]:
    """The namespaceSelector as the API server spells it (camelCase, no empty terms)."""
    return spec.namespace_selector.model_dump(by_alias=True, exclude_defaults=True)


@dataclass(frozen=True)
class MacPoolSettings:
    enabled: bool = _DEFAULTS.enabled
    prefixes: tuple[int, ...] = tuple(macs.parse_prefix(p) for p in _DEFAULTS.prefixes)
    # Empty: use the kube-system namespace UID, resolved by the operator at startup.
    cluster_id: str = ""
    duplicate_policy: DuplicatePolicy = _DEFAULTS.duplicate_policy
    # A Kubernetes LabelSelector (camelCase dict) that picks the namespaces whose VMs get MACs.
    namespace_selector: Mapping[str, Any] = field(default_factory=lambda: _selector_of(_DEFAULTS))
    # How long a Pending reservation may wait for its object before it is reclaimed, and how long a
    # freed MAC stays quarantined before automatic allocation may hand it out again.
    release_grace_period_seconds: int = _DEFAULTS.release_grace_period_seconds
    # Reservations (any state) attributed to one holder namespace before admission refuses more.
    max_reservations_per_namespace: int = _DEFAULTS.max_reservations_per_namespace
    # The spare pool each replica keeps (`macpool.spares`).
    spares_per_replica: int = _DEFAULTS.spares_per_replica

    def layout(self, cluster_identity: str) -> macs.PoolLayout:
        """The pool for this cluster: `cluster_id` wins over the discovered identity."""
        return macs.PoolLayout(self.prefixes, macs.cluster_octets(self.cluster_id or cluster_identity))


def from_profile_spec(mac_pool: Mapping[str, Any] | None) -> MacPoolSettings:
    """Settings from a VMOProfile's raw `spec.macPool`, validated by the profile's own model.

    Raises pydantic's ValidationError (a ValueError) for a spec the CRD schema should have refused.
    """
    spec = MacPoolSpec.model_validate(dict(mac_pool or {}))
    selector = _selector_of(spec)
    return MacPoolSettings(
        enabled=spec.enabled,
        prefixes=tuple(macs.parse_prefix(p) for p in spec.prefixes),
        cluster_id=spec.cluster_id or "",
        duplicate_policy=spec.duplicate_policy,
        namespace_selector=selector,
        release_grace_period_seconds=spec.release_grace_period_seconds,
        max_reservations_per_namespace=spec.max_reservations_per_namespace,
        spares_per_replica=spec.spares_per_replica,
    )
