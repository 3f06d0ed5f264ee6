"""The KubeVirt CRD: versions, printer columns and a typed schema of every field this operator writes.

Upstream's generated schema may not be copied here, so the schema is our own: each field
`kubevirt_cr` writes, typed as KubeVirt types it, and open (`x-kubernetes-preserve-unknown-fields`)
where we do not model a subtree, so a user's additions and virt-operator's status are not pruned.
The conformance suite checks it against upstream's kv-resource.yaml at every supported version.
"""

from __future__ import annotations

import copy
from typing import Any

from vmo_operator.api import featuregates, versions
from vmo_operator.components import _workloads as w
from vmo_operator.kube.objects import Manifest


def _object(properties: dict[str, Any], *, open_: bool = True) -> dict[str, Any]:
    """An object schema; `open_` keeps fields it does not declare (we model only what we write)."""
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if open_:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _label_selector() -> dict[str, Any]:
    """meta/v1 LabelSelector, as KubeVirt types ksmConfiguration.nodeLabelSelector."""
    string: dict[str, Any] = {"type": "string"}
    requirement = _object(
        {"key": string, "operator": string, "values": {"type": "array", "items": string}}, open_=False
    )
    requirement["required"] = ["key", "operator"]
    return _object(
        {
            "matchLabels": {"type": "object", "additionalProperties": string},
            "matchExpressions": {"type": "array", "items": requirement},
        },
        open_=False,
    )


def cr_schema(version: str) -> dict[str, Any]:
    """The KubeVirt CR's schema: every field `kubevirt_cr` writes, typed as KubeVirt types it.

    Fields this component does not write are kept as they are (someone may set them with kubectl,
    and virt-operator writes status), so the schema is never stricter than upstream's; the fields
    it does write are checked by the API server. tests/conformance checks at every proven release
    that each declared field exists in upstream's CRD with the same type, and that the rendered CR
    decodes strictly with upstream's schema (which catches a misspelled field).
    """
    string: dict[str, Any] = {"type": "string"}
    integer: dict[str, Any] = {"type": "integer"}
    boolean: dict[str, Any] = {"type": "boolean"}
    strings: dict[str, Any] = {"type": "array", "items": string}
    developer: dict[str, Any] = {
        "featureGates": strings,
        "memoryOvercommit": integer,
        "cpuAllocationRatio": integer,
        "useEmulation": boolean,
    }
    if versions.parse(version)[:2] >= featuregates.DISABLED_GATES_SINCE:
        developer["disabledFeatureGates"] = strings
    placement = _object(
        {
            "nodePlacement": _object(
                {
                    "nodeSelector": {"type": "object", "additionalProperties": string},
                    "tolerations": {"type": "array", "items": _object({})},
                    "affinity": _object({}),
                }
            )
        }
    )
    spec = _object(
        {
            "imageRegistry": string,
            "imageTag": string,
            "imagePullPolicy": string,
            "uninstallStrategy": string,
            "workloadUpdateStrategy": _object(
                {
                    "workloadUpdateMethods": strings,
                    "batchEvictionSize": integer,
                    "batchEvictionInterval": string,
                }
            ),
            "configuration": _object(
                {
                    "developerConfiguration": _object(developer),
                    "evictionStrategy": string,
                    "vmRolloutStrategy": {"type": "string", "enum": ["Stage", "LiveUpdate"]},
                    "migrations": _object(
                        {
                            "parallelMigrationsPerCluster": integer,
                            "parallelOutboundMigrationsPerNode": integer,
                            "completionTimeoutPerGiB": integer,
                            "progressTimeout": integer,
                            "allowAutoConverge": boolean,
                            "allowPostCopy": boolean,
                            "bandwidthPerMigration": {"x-kubernetes-int-or-string": True},
                        }
                    ),
                    "liveUpdateConfiguration": _object(
                        {"maxHotplugRatio": integer, "maxCpuSockets": integer}
                    ),
                    "vmStateStorageClass": string,
                    "ksmConfiguration": _object({"nodeLabelSelector": _label_selector()}),
                    "commonInstancetypesDeployment": _object({"enabled": boolean}),
                }
            ),
            "infra": placement,
            "workloads": placement,
        }
    )
    return {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": string,
            "kind": string,
            "metadata": {"type": "object"},
            "spec": spec,
            "status": _object({}),
        },
    }


def crd(version: str) -> Manifest:
    columns = [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    ]
    schema = cr_schema(version)
    deprecated = w.crd_version("v1alpha3", schema, storage=False, printer_columns=columns)
    deprecated["deprecated"] = True
    deprecated["deprecationWarning"] = (
        "kubevirt.io/v1alpha3 is now deprecated and will be removed in a future release."
    )
    return w.crd(
        group="kubevirt.io",
        kind="KubeVirt",
        plural="kubevirts",
        singular="kubevirt",
        scope="Namespaced",
        short_names=("kv", "kvs"),
        categories=("all",),
        labels={"operator.kubevirt.io": ""},
        versions=[w.crd_version("v1", copy.deepcopy(schema), printer_columns=columns), deprecated],
    )
