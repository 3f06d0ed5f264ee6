"""The MACReservation CRD, generated from code so the schema and the reservation model move together.

`crds/vmo.dev_macreservations.yaml` is this function's output; a unit test keeps them equal.
"""

from __future__ import annotations

from typing import Any

from vmo_operator.macpool import reservation as res

_NAME_PATTERN = r"^mac-[0-9a-f]{12}$"
_MAC_PATTERN = r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"


def macreservation_crd() -> dict[str, Any]:
    holder = {
        "type": "object",
        "description": "The VM or VMI interface the MAC belongs to.",
        "required": ["kind", "namespace"],
        "properties": {
            "kind": {"type": "string", "enum": [res.VM_KIND, res.VMI_KIND]},
            "namespace": {
                "type": "string",
                "maxLength": 63,
                "description": "Empty on a spare, which no object holds yet.",
            },
            "name": {
                "type": "string",
                "maxLength": 253,
                "description": "Empty while a generateName create is pending.",
            },
            "uid": {
                "type": "string",
                "maxLength": 64,
                "description": "Filled in once the object is seen persisted.",
            },
            "claim": {
                "type": "string",
                "maxLength": 64,
                "description": f"Token from the object's {res.CLAIM_ANNOTATION} annotation.",
            },
        },
    }
    spec = {
        "type": "object",
        "required": ["mac", "state", "holder", "reservedAt"],
        "properties": {
            "mac": {
                "type": "string",
                "pattern": _MAC_PATTERN,
                "description": "The MAC, lowercase and colon-separated.",
                "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "mac is immutable"}],
            },
            "state": {
                "type": "string",
                "enum": list(res.STATES),
                "description": (
                    "Pending: reserved at admission, object not yet seen. Committed: the object is persisted "
                    "with this MAC. Released: freed, quarantined until the grace period ends. Spare: made "
                    "ahead of demand by one operator replica, not yet handed to any object."
                ),
            },
            "holder": holder,
            "interface": {"type": "string", "maxLength": 253, "description": "Interface name in the holder."},
            "reservedAt": {"type": "string", "format": "date-time"},
            "committedAt": {"type": "string", "format": "date-time"},
            "releasedAt": {"type": "string", "format": "date-time"},
        },
    }
    schema = {
        "type": "object",
        "description": (
            "One MAC address held by one VM interface. The object's name is derived from the MAC, so "
            "creating it is the atomic reservation. Managed by vmo-operator; do not edit."
        ),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string", "pattern": _NAME_PATTERN}},
            },
            "spec": spec,
        },
        "x-kubernetes-validations": [
            {
                "rule": "self.metadata.name == 'mac-' + self.spec.mac.replace(':', '')",
                "message": "metadata.name must be 'mac-' followed by the MAC's twelve hex digits",
            }
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{res.PLURAL}.{res.GROUP}",
            # Not the engine's managed-by label: the chart installs this CRD, the profile never prunes it.
            "labels": {"app.kubernetes.io/part-of": "vmo-operator", "app.kubernetes.io/component": "macpool"},
        },
        "spec": {
            "group": res.GROUP,
            "scope": "Cluster",
            "names": {
                "kind": res.KIND,
                "listKind": f"{res.KIND}List",
                "plural": res.PLURAL,
                "singular": res.SINGULAR,
                "shortNames": ["macres"],
                "categories": ["vmo"],
            },
            "versions": [
                {
                    "name": res.VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "additionalPrinterColumns": [
                        {"name": "MAC", "type": "string", "jsonPath": ".spec.mac"},
                        {"name": "State", "type": "string", "jsonPath": ".spec.state"},
                        {"name": "Kind", "type": "string", "jsonPath": ".spec.holder.kind", "priority": 1},
                        {"name": "Namespace", "type": "string", "jsonPath": ".spec.holder.namespace"},
                        {"name": "Holder", "type": "string", "jsonPath": ".spec.holder.name"},
                        {"name": "Interface", "type": "string", "jsonPath": ".spec.interface"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }


CRD_FILE = "crds/vmo.dev_macreservations.yaml"
HEADER = "# Generated from src/vmo_operator/macpool/crd.py by `python -m vmo_operator.macpool.crd --write`.\n"


def crd_yaml() -> str:
    from vmo_operator.api.crd import dump_yaml

    return HEADER + "---\n" + dump_yaml(macreservation_crd())


def main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    from vmo_operator.api import generated

    return generated.main(
        module="vmo_operator.macpool.crd",
        description="Print, write or check the MACReservation CRD.",
        files=lambda: {Path(CRD_FILE): crd_yaml()},
        printed=crd_yaml,
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
